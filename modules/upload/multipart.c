/*
 * Streaming multipart/form-data parser; see multipart.h.
 *
 * The delimiter is "\r\n--" boundary. The boundary holds no CR, so no proper
 * prefix of the delimiter is also a suffix of a longer prefix: when a partial
 * match fails, the matched bytes are plain data (they equal the delimiter's
 * prefix, so they are re-emitted from it) and matching restarts at the byte
 * that failed. That keeps the parser free of any lookahead buffer. The body
 * is treated as if it began with a CRLF, so a delimiter on the first line is
 * found too.
 */
#include "multipart.h"

#include <string.h>
#include <strings.h>

enum {
    S_PREAMBLE,    /* before the first delimiter */
    S_AFTER_DELIM, /* just after a delimiter: "--", blanks or CRLF */
    S_BLANKS,      /* blanks after a delimiter, before its CRLF */
    S_CR,          /* after the CR of a delimiter line */
    S_DASH,        /* after the first '-' of a closing delimiter */
    S_HEADERS,     /* in a part's header block */
    S_DATA,        /* in a part's content */
    S_EPILOGUE,    /* after the closing delimiter */
    S_FAILED,
};

const char *mp_strerror(int status)
{
    switch (status) {
    case MP_OK: return "ok";
    case MP_ERR_SYNTAX: return "malformed multipart body";
    case MP_ERR_HEADER_SIZE: return "part header block too large";
    case MP_ERR_TRUNCATED: return "multipart body ends before its final boundary";
    case MP_ERR_CALLBACK: return "stopped by the handler";
    case MP_ERR_BOUNDARY: return "invalid boundary";
    default: return "unknown multipart error";
    }
}

static int mp_fail(mp_parser *p, int err)
{
    if (p->error == MP_OK)
        p->error = err;
    p->state = S_FAILED;
    return p->error;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_tchar(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return 1;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int valid_boundary(const char *b, size_t len)
{
    if (len == 0 || len > MP_BOUNDARY_MAX || b[len - 1] == ' ')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c < 0x20 || c > 0x7e)
            return 0;
    }
    return 1;
}

/* ---- header parameters ---- */

static size_t skip_blanks(const char *s, size_t i, size_t n)
{
    while (i < n && is_blank(s[i]))
        i++;
    return i;
}

/* A quoted string starting at s[i] == '"'. Writes the decoded value to out
 * (if out is not NULL). Returns the index after the closing quote, or 0. */
static size_t quoted(const char *s, size_t i, size_t n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    for (i++; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            if (out)
                out[o] = '\0';
            *len = o;
            return i + 1;
        }
        if (c == '\\' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\'))
            c = s[++i];
        if (out) {
            if (o + 1 >= cap)
                return 0;
            out[o] = c;
        }
        o++;
    }
    return 0;
}

int mp_param(const char *value, size_t vlen, const char *name, char *out, size_t cap, size_t *out_len)
{
    size_t nlen = strlen(name), i = 0;
    int found = 0;

    while (i < vlen && value[i] != ';')
        i++;
    while (i < vlen) {
        i = skip_blanks(value, i + 1, vlen); /* past ';' */
        size_t k = i;
        while (i < vlen && is_tchar((unsigned char)value[i]))
            i++;
        size_t klen = i - k;
        i = skip_blanks(value, i, vlen);
        if (klen == 0) {
            if (i >= vlen)
                break; /* a trailing ';' */
            return -1;
        }
        if (i >= vlen || value[i] != '=') {
            if (i < vlen && value[i] != ';')
                return -1;
            continue; /* a parameter without a value: ignored */
        }
        i = skip_blanks(value, i + 1, vlen);
        int want = !found && klen == nlen && strncasecmp(value + k, name, nlen) == 0;
        size_t len = 0;
        if (i < vlen && value[i] == '"') {
            i = quoted(value, i, vlen, want ? out : NULL, cap, &len);
            if (i == 0)
                return -1;
            i = skip_blanks(value, i, vlen);
            if (i < vlen && value[i] != ';')
                return -1;
        } else {
            size_t v = i;
            while (i < vlen && value[i] != ';')
                i++;
            size_t e = i;
            while (e > v && is_blank(value[e - 1]))
                e--;
            len = e - v;
            if (want) {
                if (len + 1 > cap)
                    return -1;
                memcpy(out, value + v, len);
                out[len] = '\0';
            }
        }
        if (want) {
            found = 1;
            *out_len = len;
        }
    }
    return found;
}

/* Compare the media type (before ';', blanks trimmed) with `type`. */
static int type_is(const char *value, const char *type)
{
    size_t n = strlen(value), i = skip_blanks(value, 0, n), e = i;
    while (e < n && value[e] != ';')
        e++;
    while (e > i && is_blank(value[e - 1]))
        e--;
    return e - i == strlen(type) && strncasecmp(value + i, type, e - i) == 0;
}

int mp_is_form_data(const char *content_type)
{
    return content_type != NULL && type_is(content_type, "multipart/form-data");
}

int mp_boundary_of(const char *content_type, char *out)
{
    size_t len = 0;
    if (!mp_is_form_data(content_type))
        return -1;
    if (mp_param(content_type, strlen(content_type), "boundary", out, MP_BOUNDARY_MAX + 1, &len) != 1)
        return -1;
    return valid_boundary(out, len) ? (int)len : -1;
}

/* ---- part headers ---- */

/* Copy a header value into p->vals at *used; returns it, or NULL if full. */
static const char *keep_value(mp_parser *p, size_t *used, const char *v, size_t len)
{
    if (*used + len + 1 > sizeof p->vals)
        return NULL;
    char *dst = p->vals + *used;
    memcpy(dst, v, len);
    dst[len] = '\0';
    *used += len + 1;
    return dst;
}

static int disposition(mp_parser *p, size_t *used, const char *v, size_t vlen)
{
    size_t len = 0;
    char *dst = p->vals + *used;
    int rc = mp_param(v, vlen, "name", dst, sizeof p->vals - *used, &len);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        p->part.name = dst;
        p->part.name_len = len;
        *used += len + 1;
    }
    dst = p->vals + *used;
    rc = mp_param(v, vlen, "filename", dst, sizeof p->vals - *used, &len);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        p->part.filename = dst;
        p->part.filename_len = len;
        *used += len + 1;
    }
    return 0;
}

/* One header line [s, s+n) without its CRLF. */
static int header_line(mp_parser *p, size_t *used, const char *s, size_t n, int *seen_cd)
{
    size_t colon = 0;
    while (colon < n && is_tchar((unsigned char)s[colon]))
        colon++;
    if (colon == 0 || colon >= n || s[colon] != ':')
        return -1; /* no name, a bad name character, folding, or a blank before ':' */
    for (size_t i = colon; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n')
            return -1;
    size_t v = skip_blanks(s, colon + 1, n), e = n;
    while (e > v && is_blank(s[e - 1]))
        e--;
    if (colon == 19 && strncasecmp(s, "Content-Disposition", 19) == 0) {
        if ((*seen_cd)++)
            return -1;
        return disposition(p, used, s + v, e - v);
    }
    if (colon == 12 && strncasecmp(s, "Content-Type", 12) == 0 && !p->part.content_type) {
        p->part.content_type = keep_value(p, used, s + v, e - v);
        return p->part.content_type ? 0 : -1;
    }
    return 0;
}

/* The block head[0, head_len) ends with an empty line. */
static int parse_headers(mp_parser *p)
{
    size_t used = 0, i = 0, end = p->head_len - 2; /* the final empty line */
    int seen_cd = 0;
    memset(&p->part, 0, sizeof p->part);
    while (i < end) {
        const char *s = p->head + i;
        const char *nl = memmem(s, end - i, "\r\n", 2);
        size_t n = (size_t)(nl - s);
        if (header_line(p, &used, s, n, &seen_cd) < 0)
            return -1;
        i += n + 2;
    }
    return 0;
}

/* ---- the byte stream ---- */

int mp_init(mp_parser *p, const char *boundary, size_t len, const mp_callbacks *cb, void *arg)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->arg = arg;
    if (!valid_boundary(boundary, len)) {
        p->state = S_FAILED;
        p->error = MP_ERR_BOUNDARY;
        return p->error;
    }
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary, len);
    p->delim_len = len + 4;
    p->state = S_PREAMBLE;
    p->matched = 2; /* the virtual CRLF before the first line */
    return MP_OK;
}

static int emit(mp_parser *p, const char *d, size_t n)
{
    if (n == 0 || p->state != S_DATA || !p->cb->part_data)
        return 0;
    return p->cb->part_data(p->arg, d, n);
}

/* Scan for the delimiter, emitting content in S_DATA. Returns bytes used;
 * *found is set when a whole delimiter ended at the returned offset. */
static size_t scan(mp_parser *p, const char *d, size_t len, int *found, int *err)
{
    size_t i = 0, run = 0, dl = p->delim_len;
    *found = 0;
    if (p->matched > 0) {
        while (i < len && p->matched < dl && d[i] == p->delim[p->matched]) {
            i++;
            p->matched++;
        }
        if (p->matched == dl) {
            p->matched = 0;
            *found = 1;
            return i;
        }
        if (i == len)
            return len;
        /* The held prefix was content after all. */
        if (emit(p, p->delim, p->matched)) {
            *err = 1;
            return i;
        }
        p->matched = 0;
        run = i;
    }
    while (i < len) {
        const char *cr = memchr(d + i, '\r', len - i);
        if (!cr)
            break;
        size_t j = (size_t)(cr - d), k = 0;
        while (j + k < len && k < dl && d[j + k] == p->delim[k])
            k++;
        if (k == dl || j + k == len) {
            if (emit(p, d + run, j - run)) {
                *err = 1;
                return j;
            }
            if (k == dl) {
                *found = 1;
                return j + dl;
            }
            p->matched = k;
            return len;
        }
        i = j + 1;
    }
    if (emit(p, d + run, len - run))
        *err = 1;
    return len;
}

static int headers_byte(mp_parser *p, char c)
{
    if (p->head_len >= sizeof p->head)
        return mp_fail(p, MP_ERR_HEADER_SIZE);
    p->head[p->head_len++] = c;
    size_t n = p->head_len;
    if (c != '\n' || !(n == 2 || (n >= 4 && memcmp(p->head + n - 4, "\r\n\r\n", 4) == 0)))
        return MP_OK;
    if (n == 2 && p->head[0] != '\r')
        return MP_OK;
    if (parse_headers(p) < 0)
        return mp_fail(p, MP_ERR_SYNTAX);
    p->state = S_DATA;
    p->matched = 0;
    if (p->cb->part_begin && p->cb->part_begin(p->arg, &p->part))
        return mp_fail(p, MP_ERR_CALLBACK);
    return MP_OK;
}

/* One byte of a delimiter line's tail. */
static int delim_byte(mp_parser *p, char c)
{
    switch (p->state) {
    case S_AFTER_DELIM:
        if (c == '-') {
            p->state = S_DASH;
            return MP_OK;
        }
        /* fall through */
    case S_BLANKS:
        if (is_blank(c))
            p->state = S_BLANKS;
        else if (c == '\r')
            p->state = S_CR;
        else
            return mp_fail(p, MP_ERR_SYNTAX);
        return MP_OK;
    case S_CR:
        if (c != '\n')
            return mp_fail(p, MP_ERR_SYNTAX);
        p->state = S_HEADERS;
        p->head_len = 0;
        return MP_OK;
    case S_DASH:
        if (c != '-')
            return mp_fail(p, MP_ERR_SYNTAX);
        p->state = S_EPILOGUE;
        return MP_OK;
    default:
        return mp_fail(p, MP_ERR_SYNTAX);
    }
}

int mp_feed(mp_parser *p, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int found = 0, err = 0;
        switch (p->state) {
        case S_FAILED:
            return p->error;
        case S_EPILOGUE:
            return MP_OK;
        case S_PREAMBLE:
        case S_DATA:
            i += scan(p, data + i, len - i, &found, &err);
            if (err)
                return mp_fail(p, MP_ERR_CALLBACK);
            if (found) {
                if (p->state == S_DATA && p->cb->part_end && p->cb->part_end(p->arg))
                    return mp_fail(p, MP_ERR_CALLBACK);
                p->state = S_AFTER_DELIM;
            }
            break;
        case S_HEADERS:
            if (headers_byte(p, data[i++]) != MP_OK)
                return p->error;
            break;
        default:
            if (delim_byte(p, data[i++]) != MP_OK)
                return p->error;
            break;
        }
    }
    return p->state == S_FAILED ? p->error : MP_OK;
}

int mp_finish(mp_parser *p)
{
    if (p->state == S_FAILED)
        return p->error;
    if (p->state != S_EPILOGUE)
        return mp_fail(p, MP_ERR_TRUNCATED);
    return MP_OK;
}

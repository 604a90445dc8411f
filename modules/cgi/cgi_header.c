/*
 * Parsing a CGI script's header block (RFC 3875 §6.2 response types, §6.3
 * response header fields). Strict: anything we cannot pass on faithfully makes
 * the whole block invalid, and the module answers 502.
 */
#include "cgi_header.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2: tchar. */
static int is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* RFC 9110 §5.5: field-vchar, SP and HTAB; obs-text is let through. */
static int is_value_char(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int name_is(cgi_slice name, const char *want)
{
    return name.n == strlen(want) && strncasecmp(name.p, want, name.n) == 0;
}

/* RFC 3875 §6.3.3: Status = "Status:" status-code SP reason-phrase, with a
 * 3-digit code; the server's range of valid codes is 100..599. */
static int parse_status(cgi_slice v, cgi_head *h)
{
    if (v.n < 3)
        return -1;
    int code = 0;
    for (size_t i = 0; i < 3; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        code = code * 10 + (v.p[i] - '0');
    }
    if (code < 100 || code > 599)
        return -1;
    if (v.n > 3 && !is_blank(v.p[3]))
        return -1;
    size_t r = 3;
    while (r < v.n && is_blank(v.p[r]))
        r++;
    h->status = code;
    h->reason.p = v.p + r;
    h->reason.n = v.n - r;
    return 0;
}

/* Digits only, no sign, no overflow. */
static int parse_length(cgi_slice v, int64_t *out)
{
    if (v.n == 0)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        int d = v.p[i] - '0';
        if (n > (INT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/* One "name: value" line without its line end. */
static int parse_field(const char *line, size_t n, cgi_head *h)
{
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return -1;
    cgi_slice name = { line, (size_t)(colon - line) };
    for (size_t i = 0; i < name.n; i++)
        if (!is_tchar((unsigned char)name.p[i]))
            return -1; /* also refuses a folded line and a blank before the colon */
    const char *v = colon + 1, *end = line + n;
    for (const char *q = v; q < end; q++)
        if (!is_value_char((unsigned char)*q))
            return -1; /* CR, NUL, other controls */
    while (v < end && is_blank(*v))
        v++;
    while (end > v && is_blank(end[-1]))
        end--;
    cgi_slice value = { v, (size_t)(end - v) };

    if (name_is(name, "Status")) {
        if (h->status)
            return -1;
        return parse_status(value, h);
    }
    if (name_is(name, "Content-Type")) {
        if (h->content_type.p || value.n == 0)
            return -1;
        h->content_type = value;
        return 0;
    }
    if (name_is(name, "Location")) {
        if (h->location.p || value.n == 0)
            return -1;
        h->location = value;
        return 0;
    }
    if (name_is(name, "Content-Length")) {
        if (h->content_length >= 0)
            return -1;
        return parse_length(value, &h->content_length);
    }
    if (h->n_fields == CGI_HEADER_FIELDS)
        return -1;
    h->name[h->n_fields] = name;
    h->value[h->n_fields] = value;
    h->n_fields++;
    return 0;
}

ssize_t cgi_header_parse(const char *buf, size_t len, cgi_head *h)
{
    memset(h, 0, sizeof *h);
    h->content_length = -1;
    size_t limit = len < CGI_HEADER_MAX ? len : CGI_HEADER_MAX;
    size_t pos = 0;
    for (;;) {
        const char *lf = memchr(buf + pos, '\n', limit - pos);
        if (!lf)
            return len >= CGI_HEADER_MAX ? CGI_HEAD_INVALID : CGI_HEAD_INCOMPLETE;
        size_t end = (size_t)(lf - buf), next = end + 1;
        if (end > pos && buf[end - 1] == '\r')
            end--; /* CRLF; a CR anywhere else is refused by parse_field */
        if (end == pos) {
            /* §6.2: a response has at least one CGI field. */
            if (!h->status && !h->content_type.p && !h->location.p)
                return CGI_HEAD_INVALID;
            return (ssize_t)next;
        }
        if (parse_field(buf + pos, end - pos, h) < 0)
            return CGI_HEAD_INVALID;
        pos = next;
    }
}

int cgi_location_kind(cgi_slice loc)
{
    if (loc.n >= 1 && loc.p[0] == '/')
        return loc.n >= 2 && loc.p[1] == '/' ? CGI_LOCATION_OTHER : CGI_LOCATION_LOCAL;
    /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    size_t i = 0;
    if (loc.n == 0 || !((loc.p[0] | 0x20) >= 'a' && (loc.p[0] | 0x20) <= 'z'))
        return CGI_LOCATION_OTHER;
    for (i = 1; i < loc.n; i++) {
        char ch = loc.p[i];
        if (ch == ':')
            return CGI_LOCATION_ABSOLUTE;
        if (!((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') && !(ch >= '0' && ch <= '9') && ch != '+' && ch != '-' &&
            ch != '.')
            return CGI_LOCATION_OTHER;
    }
    return CGI_LOCATION_OTHER;
}

int cgi_header_dropped(cgi_slice name)
{
    static const char *const dropped[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer", "Upgrade",
        "Content-Length", "Date", "Server", "Status",
    };
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        if (name_is(name, dropped[i]))
            return 1;
    return 0;
}

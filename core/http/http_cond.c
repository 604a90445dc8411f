/*
 * Conditional requests (RFC 9110 §13) and single byte ranges (§14).
 *
 * Pure functions over header values: the core calls them on any handler's
 * 200 response, so every module gets 304/412/206/416 for free. All parsing
 * walks NUL-terminated values with bounded look-ahead; a malformed value is
 * never fatal, it only decides which way a condition goes (see each caller).
 */
#include "http_cond.h"

#include "fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "httpdate.h"

/* ---- entity-tags (§8.8.3) ---- */

/* An entity-tag inside a header value: opaque points at the opening DQUOTE
 * and len covers both quotes, so two tags compare with one memcmp. */
typedef struct etag_ref {
    const char *opaque;
    size_t len;
    int weak;
} etag_ref;

enum { CMP_STRONG = 0, CMP_WEAK = 1 };

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static const char *skip_ows(const char *p)
{
    while (is_ows(*p))
        p++;
    return p;
}

/* etagc = %x21 / %x23-7E / obs-text */
static int is_etagc(char c)
{
    unsigned char u = (unsigned char)c;
    return u == 0x21 || (u >= 0x23 && u <= 0x7e) || u >= 0x80;
}

/* entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; "W/" is case-sensitive.
 * Advances *pp past the tag. */
static int parse_etag(const char **pp, etag_ref *t)
{
    const char *p = *pp;
    t->weak = 0;
    if (p[0] == 'W' && p[1] == '/') {
        t->weak = 1;
        p += 2;
    }
    if (*p != '"')
        return -1;
    const char *open = p++;
    while (is_etagc(*p))
        p++;
    if (*p != '"')
        return -1;
    p++;
    t->opaque = open;
    t->len = (size_t)(p - open);
    *pp = p;
    return 0;
}

/* A whole value that must be exactly one entity-tag (ETag, If-Range). */
static int parse_single_etag(const char *s, etag_ref *t)
{
    const char *p = skip_ows(s);
    if (parse_etag(&p, t) < 0)
        return -1;
    return *skip_ows(p) == '\0' ? 0 : -1;
}

/* §8.8.3.2: strong comparison needs both tags strong; weak ignores W/. */
static int etag_equal(const etag_ref *a, const etag_ref *b, int how)
{
    if (how == CMP_STRONG && (a->weak || b->weak))
        return 0;
    return a->len == b->len && memcmp(a->opaque, b->opaque, a->len) == 0;
}

/* §5.6.1 #list: step to the next member, past OWS and empty elements. 0 at the end. */
static int list_next(const char **p)
{
    for (;;) {
        *p = skip_ows(*p);
        if (**p != ',')
            return **p != '\0';
        (*p)++;
    }
}

/* After a member: OWS, then a comma or the end; 0 when anything else follows. */
static int list_member_ends(const char **p)
{
    *p = skip_ows(*p);
    return **p == ',' || **p == '\0';
}

/*
 * Match `cur` against a #entity-tag list (§5.6.1: OWS around commas, empty
 * elements allowed). Returns 1 on a match, 0 for none, -1 when the list is
 * malformed or empty. cur may be NULL (no ETag): only the syntax is checked.
 */
static int list_match(const char *list, const etag_ref *cur, int how)
{
    const char *p = list;
    int found = 0, members = 0;
    while (list_next(&p)) {
        etag_ref t;
        if (parse_etag(&p, &t) < 0)
            return -1;
        members++;
        if (cur && etag_equal(&t, cur, how))
            found = 1;
        if (!list_member_ends(&p))
            return -1;
    }
    return members ? found : -1;
}

static int is_star(const char *s)
{
    const char *p = skip_ows(s);
    return *p == '*' && *skip_ows(p + 1) == '\0';
}

/* The representation's own tag; NULL when it has none or it is unusable. */
static const etag_ref *current_etag(const cond_validators *v, etag_ref *buf)
{
    if (!v->etag || parse_single_etag(v->etag, buf) < 0)
        return NULL;
    return buf;
}

static int parse_date(const char *s, time_t *t) { return httpdate_parse(s, strlen(s), t); }

/* ---- preconditions (§13.1, evaluated in the order of §13.2.2) ---- */

/* §13.1.1: "*" is true when a current representation exists, which it does
 * (the handler produced one); otherwise a strong match is needed, so weak
 * tags never satisfy If-Match. A malformed list matches nothing. */
static int if_match_true(const char *h, const etag_ref *cur)
{
    return is_star(h) || list_match(h, cur, CMP_STRONG) == 1;
}

/* §13.1.4: ignored when the date is invalid or the resource has no
 * modification date; true when not modified since the date. */
static int if_unmodified_since_true(const char *h, time_t last_modified)
{
    time_t d;
    if (last_modified == 0 || parse_date(h, &d) < 0)
        return 1;
    return last_modified <= d;
}

/* §13.1.2: false when "*" or when any member matches weakly. A malformed
 * list matches nothing, so the full response is sent: the safe outcome. */
static int if_none_match_true(const char *h, const etag_ref *cur)
{
    return !is_star(h) && list_match(h, cur, CMP_WEAK) != 1;
}

/* §13.1.3: ignored for an invalid date or no modification date. A date in
 * the future is ignored too (RFC 2616 §14.25 called it invalid): a client
 * with a fast clock must not pin a stale copy. */
static int if_modified_since_true(const char *h, time_t last_modified)
{
    time_t d;
    if (last_modified == 0 || parse_date(h, &d) < 0 || d > time(NULL))
        return 1;
    return last_modified > d;
}

int cond_check(const cond_request *rq, const cond_validators *v)
{
    etag_ref buf;
    const etag_ref *cur = current_etag(v, &buf);

    /* Steps 1 and 2: If-Unmodified-Since only counts without If-Match. */
    if (rq->if_match) {
        if (!if_match_true(rq->if_match, cur))
            return 412;
    } else if (rq->if_unmodified_since) {
        if (!if_unmodified_since_true(rq->if_unmodified_since, v->last_modified))
            return 412;
    }
    /* Step 3: 304 only for GET/HEAD; other methods must not proceed. */
    if (rq->if_none_match) {
        if (!if_none_match_true(rq->if_none_match, cur))
            return rq->is_get_or_head ? 304 : 412;
    } else if (rq->is_get_or_head && rq->if_modified_since) {
        /* Step 4: If-Modified-Since is ignored with If-None-Match present. */
        if (!if_modified_since_true(rq->if_modified_since, v->last_modified))
            return 304;
    }
    return 0;
}

/* ---- If-Range (§13.1.5) ---- */

/* §13.1.5: an entity-tag must match strongly (a weak tag on either side
 * never matches); a date must equal Last-Modified exactly. A value that is
 * neither is a false condition: the whole representation is sent. */
static int if_range_true(const char *h, const cond_validators *v)
{
    const char *p = skip_ows(h);
    if (p[0] == '"' || (p[0] == 'W' && p[1] == '/')) {
        etag_ref want, buf;
        const etag_ref *cur = current_etag(v, &buf);
        return parse_single_etag(p, &want) == 0 && cur && etag_equal(&want, cur, CMP_STRONG);
    }
    time_t d;
    return v->last_modified != 0 && parse_date(p, &d) == 0 && d == v->last_modified;
}

/* ---- Range (§14.1.2, §14.2) ---- */

/* One byte-range-spec as received. Numbers saturate at INT64_MAX: a huge
 * first-pos is then unsatisfiable (416) and a huge last-pos or suffix is
 * clamped to the representation, exactly as with unbounded integers. */
typedef struct byte_spec {
    int suffix; /* "-N" */
    int has_last;
    int64_t first, last; /* for suffix: last = N */
} byte_spec;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* 1*DIGIT at *pp, saturating; *digits and *ndigits give the significant digits
 * (leading zeros skipped) for an exact comparison of huge values. */
static int64_t parse_pos(const char **pp, const char **digits, size_t *ndigits)
{
    const char *p = *pp;
    while (*p == '0' && is_digit(p[1]))
        p++;
    *digits = p;
    int64_t v = 0;
    for (; is_digit(*p); p++) {
        int d = *p - '0';
        v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
    }
    *ndigits = (size_t)(p - *digits);
    *pp = p;
    return v;
}

/* a < b for two decimal digit strings without leading zeros. */
static int decimal_less(const char *a, size_t na, const char *b, size_t nb)
{
    return na != nb ? na < nb : memcmp(a, b, na) < 0;
}

/* int-range = first-pos "-" [ last-pos ] / suffix-range = "-" suffix-length.
 * §14.1.1: an int-range with last-pos < first-pos is invalid; compared on
 * the digits so that saturation cannot turn an invalid range valid. */
static int parse_spec(const char **pp, byte_spec *s)
{
    const char *p = *pp, *fd, *ld;
    size_t fn, ln;
    s->suffix = s->has_last = 0;
    s->first = s->last = 0;
    if (*p == '-') {
        p++;
        if (!is_digit(*p))
            return -1;
        s->suffix = 1;
        s->last = parse_pos(&p, &ld, &ln);
    } else {
        if (!is_digit(*p))
            return -1;
        s->first = parse_pos(&p, &fd, &fn);
        if (*p++ != '-')
            return -1;
        if (is_digit(*p)) {
            s->has_last = 1;
            s->last = parse_pos(&p, &ld, &ln);
            if (decimal_less(ld, ln, fd, fn))
                return -1;
        }
    }
    *pp = p;
    return 0;
}

/*
 * ranges-specifier = range-unit "=" range-set, range-set = 1#range-spec.
 * Returns the number of range-specs (first one in *first), or 0 when the
 * value is not a valid bytes ranges-specifier. Units compare
 * case-insensitively (§14.1); no whitespace around "=" in the grammar.
 */
static int parse_range_header(const char *h, byte_spec *first)
{
    const char *p = skip_ows(h);
    if (strncasecmp(p, "bytes=", 6) != 0)
        return 0;
    p += 6;
    int count = 0;
    while (list_next(&p)) {
        byte_spec s;
        if (parse_spec(&p, &s) < 0)
            return 0;
        if (count++ == 0)
            *first = s;
        if (!list_member_ends(&p))
            return 0;
    }
    return count;
}

/* §14.1.1 satisfiability for one spec against `length` bytes. */
static int resolve_spec(const byte_spec *s, int64_t length, int64_t *start, int64_t *len)
{
    if (s->suffix) {
        if (s->last == 0)
            return 416;
        /* A zero-length representation has no byte to put in a
         * Content-Range, so the Range is ignored rather than answered. */
        if (length == 0)
            return 200;
        *start = s->last >= length ? 0 : length - s->last;
        *len = length - *start;
        return 206;
    }
    if (s->first >= length)
        return 416;
    int64_t last = s->has_last && s->last < length - 1 ? s->last : length - 1;
    *start = s->first;
    *len = last - s->first + 1;
    return 206;
}

int range_check(const cond_request *rq, const cond_validators *v, int64_t length, int64_t *start, int64_t *len)
{
    if (!rq->range || length < 0)
        return 200;
    byte_spec spec = {0};
    int count = parse_range_header(rq->range, &spec);
    /* §14.2: an invalid or unknown-unit Range is ignored; we also choose to
     * ignore several ranges (a server MAY) rather than build multipart. */
    if (count != 1)
        return 200;
    /* §13.1.5: a false If-Range means "send everything", never a 416. */
    if (rq->if_range && !if_range_true(rq->if_range, v))
        return 200;
    return resolve_spec(&spec, length, start, len);
}

/* ---- ETag for files ---- */

void etag_from_stat(int64_t mtime, int64_t mtime_nsec, int64_t size, uint64_t inode, char *out, size_t outcap)
{
    /* The documented format uses whole seconds; the nanoseconds are accepted
     * so the format can grow without changing callers. */
    (void)mtime_nsec;
    /* Hand-formatted: this runs for every file response. */
    char tmp[3 * 16 + 5];
    size_t n = 0;
    tmp[n++] = '"';
    n += fmt_hex(tmp + n, (uint64_t)mtime);
    tmp[n++] = '-';
    n += fmt_hex(tmp + n, (uint64_t)size);
    tmp[n++] = '-';
    n += fmt_hex(tmp + n, inode);
    tmp[n++] = '"';
    if (!out || outcap == 0)
        return;
    if (n >= outcap)
        n = outcap - 1;
    memcpy(out, tmp, n);
    out[n] = '\0';
}

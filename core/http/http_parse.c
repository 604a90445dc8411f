/*
 * Strict HTTP/1.x request-head parser (RFC 9112 §2-§3, §5-§6), request-target
 * path normaliser (RFC 3986 §5.2.4) and chunked decoder (RFC 9112 §7.1).
 *
 * Everything works on byte slices: no I/O, no allocation. Where RFC 9112 lets
 * a recipient be lenient (bare LF, obs-fold, whitespace before the colon) we
 * reject, because every leniency is a place where two parsers on the path of
 * a request may disagree about its framing (request smuggling).
 */
#include "http_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Character classes                                                        */
/* ------------------------------------------------------------------------ */

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* tchar, RFC 9110 §5.6.2: a table, since every byte of every method and
 * field name of every request is looked up here. */
static const unsigned char tchar_table[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,
    ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static int is_tchar(unsigned char c) { return tchar_table[c]; }

/* A byte that may appear in a field value: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5). */
static int is_field_vchar(unsigned char c) { return (c >= 0x21 && c != 0x7f) || is_ows(c); }

/* CTL in the RFC 5234 sense: what must never appear outside a field value's HTAB. */
static int is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

int http_is_token(const char *s, size_t n)
{
    if (s == NULL || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

size_t http_token_prefix(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (tchar_table[*p]) /* NUL is not a tchar: the loop stops at the end */
        p++;
    return (size_t)(p - (const unsigned char *)s);
}

/* ------------------------------------------------------------------------ */
/* Slice helpers                                                            */
/* ------------------------------------------------------------------------ */

static http_slice mk_slice(const char *p, size_t n)
{
    http_slice s = {p, n};
    return s;
}

/* ASCII case-insensitive equality; field names and these tokens are
 * case-insensitive (RFC 9110 §5.1, §7.6.1, §10.1.1; RFC 9112 §7). */
static int slice_ieq(http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s.p[i], b = (unsigned char)lit[i];
        if (is_alpha(a))
            a |= 0x20;
        if (is_alpha(b))
            b |= 0x20;
        if (a != b)
            return 0;
    }
    return 1;
}

static http_slice trim_ows(const char *p, size_t n)
{
    while (n > 0 && is_ows((unsigned char)p[0])) {
        p++;
        n--;
    }
    while (n > 0 && is_ows((unsigned char)p[n - 1]))
        n--;
    return mk_slice(p, n);
}

/* Iterates the elements of a comma-separated list (RFC 9110 §5.6.1). Quoted
 * strings are not special-cased: none of the fields we read allows a comma
 * inside one, and a split there only makes the element invalid. */
typedef struct list_iter {
    const char *p;
    size_t n, i;
    int done;
} list_iter;

static list_iter list_begin(http_slice v)
{
    list_iter it = {v.p, v.n, 0, 0};
    return it;
}

/* Returns 1 with the next OWS-trimmed element (possibly empty), 0 at the end. */
static int list_next(list_iter *it, http_slice *elem)
{
    if (it->done)
        return 0;
    size_t start = it->i;
    while (it->i < it->n && it->p[it->i] != ',')
        it->i++;
    *elem = trim_ows(it->p + start, it->i - start);
    if (it->i < it->n)
        it->i++; /* past the comma */
    else
        it->done = 1;
    return 1;
}

http_slice http_head_get(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (slice_ieq(h->headers[i].name, name))
            return h->headers[i].value;
    return mk_slice(NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Request head: byte cursor                                                */
/* ------------------------------------------------------------------------ */

/*
 * The validator reads buf[0..avail) strictly in order. Every decision depends
 * only on bytes already read, so the result for a prefix is either AGAIN or the
 * result for the whole input: feeding the same bytes in any pieces gives the
 * same answer.
 */
typedef struct head_cursor {
    const char *buf;
    size_t avail;    /* bytes that may be examined (<= max_head) */
    size_t max_head; /* the head, leading empty lines included, may not exceed it */
    size_t pos;
    int in_request_line; /* the limit answers 414 there, 431 after (RFC 9112 §3, RFC 6585 §5) */
} head_cursor;

/* 0 with *ch = the byte at pos; or AGAIN, 414 or 431 when there is none. */
static int cur_peek(const head_cursor *c, unsigned char *ch)
{
    if (c->pos < c->avail) {
        *ch = (unsigned char)c->buf[c->pos];
        return 0;
    }
    if (c->pos >= c->max_head)
        return c->in_request_line ? 414 : 431;
    return HTTP_PARSE_AGAIN;
}

/* Consumes the expected byte or answers 400. */
static int cur_expect(head_cursor *c, unsigned char want)
{
    unsigned char ch;
    int rc = cur_peek(c, &ch);
    if (rc)
        return rc;
    if (ch != want)
        return 400;
    c->pos++;
    return 0;
}

/* RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
 * received before the request-line. A bare LF is still an error. */
static int skip_leading_empty_lines(head_cursor *c)
{
    for (;;) {
        unsigned char ch;
        int rc = cur_peek(c, &ch);
        if (rc)
            return rc;
        if (ch == '\n')
            return 400;
        if (ch != '\r')
            return 0;
        c->pos++;
        if ((rc = cur_expect(c, '\n')) != 0)
            return rc;
    }
}

/* ------------------------------------------------------------------------ */
/* Request line (RFC 9112 §3)                                               */
/* ------------------------------------------------------------------------ */

/* A non-empty run of bytes that `ok` accepts, then exactly one SP. */
static int parse_word(head_cursor *c, int (*ok)(unsigned char), http_slice *out)
{
    size_t start = c->pos;
    unsigned char ch;
    int rc;
    while ((rc = cur_peek(c, &ch)) == 0 && ok(ch))
        c->pos++;
    if (rc)
        return rc;
    if (ch != ' ' || c->pos == start)
        return 400;
    *out = mk_slice(c->buf + start, c->pos - start);
    c->pos++;
    return 0;
}

/* request-target: visible ASCII only (no SP, CTL or obs-text). */
static int target_char(unsigned char ch) { return ch >= 0x21 && ch <= 0x7e; }

/* method = token, followed by exactly one SP. */
static int parse_method(head_cursor *c, http_head *h) { return parse_word(c, is_tchar, &h->method); }

static int parse_target(head_cursor *c, http_head *h) { return parse_word(c, target_char, &h->target); }

/* Reads one DIGIT into *d or answers 400. */
static int parse_digit(head_cursor *c, int *d)
{
    unsigned char ch;
    int rc = cur_peek(c, &ch);
    if (rc)
        return rc;
    if (!is_digit(ch))
        return 400;
    *d = ch - '0';
    c->pos++;
    return 0;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3),
 * then CRLF; anything else (HTTP/1.11, HTTP/01.1, http/1.1) is a 400. A
 * higher minor of HTTP/1 is answered as HTTP/1.1, the highest minor we
 * speak (RFC 9110 §2.5: a recipient of a higher minor version treats the
 * message as one of the highest minor it conforms to). Another major version
 * is 505 (RFC 9110 §15.6.6). */
static int parse_version(head_cursor *c, http_head *h)
{
    static const char name[] = "HTTP/";
    int major = 0, minor = 0, rc;
    for (size_t i = 0; name[i] != '\0'; i++)
        if ((rc = cur_expect(c, (unsigned char)name[i])) != 0)
            return rc;
    if ((rc = parse_digit(c, &major)) != 0 || (rc = cur_expect(c, '.')) != 0 ||
        (rc = parse_digit(c, &minor)) != 0)
        return rc;
    if ((rc = cur_expect(c, '\r')) != 0 || (rc = cur_expect(c, '\n')) != 0)
        return rc;
    if (major != 1)
        return 505;
    h->minor = minor > 1 ? 1 : minor;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Request target forms (RFC 9112 §3.2) and host syntax (RFC 3986 §3.2.2)   */
/* ------------------------------------------------------------------------ */

static int is_unreserved_or_subdelim(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
}

/* IP-literal between brackets (RFC 3986 §3.2.2) must be an IPv6address:
 * inet_pton is the complete grammar (one "::" at most, eight groups, an IPv4
 * suffix), so [4712::abcd::] and [zz] are refused. IPvFuture ("[v1.x]") and
 * zone identifiers name nothing a server can be reached by over HTTP, so
 * they are refused too (SPEC §4). */
static int valid_ip_literal(const char *p, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;
    if (n == 0 || n >= sizeof text || memchr(p, '\0', n))
        return 0; /* inet_pton would stop at a NUL and judge only what precedes it */
    memcpy(text, p, n);
    text[n] = '\0';
    return inet_pton(AF_INET6, text, &addr) == 1;
}

/* uri-host [ ":" port ]. The host part may be empty only when allow_empty
 * (a Host header may be empty, RFC 9110 §7.2; an http URI's host may not,
 * RFC 9110 §4.2.1). Userinfo ('@') is rejected (RFC 9110 §4.2.4). */
static int valid_authority(http_slice a, int allow_empty)
{
    size_t i = 0;
    if (a.n > 0 && a.p[0] == '[') {
        const char *end = memchr(a.p, ']', a.n);
        if (end == NULL || !valid_ip_literal(a.p + 1, (size_t)(end - a.p) - 1))
            return 0;
        i = (size_t)(end - a.p) + 1;
    } else {
        for (; i < a.n && a.p[i] != ':'; i++) {
            unsigned char ch = (unsigned char)a.p[i];
            if (ch == '%') {
                if (i + 2 >= a.n || hex_value((unsigned char)a.p[i + 1]) < 0 ||
                    hex_value((unsigned char)a.p[i + 2]) < 0)
                    return 0;
                i += 2;
            } else if (!is_unreserved_or_subdelim(ch)) {
                return 0;
            }
        }
        if (i == 0 && !allow_empty)
            return 0;
    }
    if (i == a.n)
        return 1;
    if (a.p[i] != ':')
        return 0;
    for (i++; i < a.n; i++)
        if (!is_digit((unsigned char)a.p[i]))
            return 0;
    return 1;
}

/* Splits path[?query] into the head's path and query slices. */
static void split_path_query(http_head *h, const char *p, size_t n)
{
    const char *q = memchr(p, '?', n);
    if (q == NULL) {
        h->path = mk_slice(p, n);
        h->query = mk_slice(NULL, 0);
    } else {
        h->path = mk_slice(p, (size_t)(q - p));
        h->query = mk_slice(q + 1, n - (size_t)(q - p) - 1);
    }
}

/* Length of "http://" or "https://" at the start of t (scheme is
 * case-insensitive, RFC 3986 §3.1), or 0. */
static size_t http_scheme_len(http_slice t)
{
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(schemes[k]);
        if (t.n >= n && slice_ieq(mk_slice(t.p, n), schemes[k]))
            return n;
    }
    return 0;
}

/* absolute-form = absolute-URI (RFC 9112 §3.2.2): authority, then an
 * optional path (empty means "/") and query. */
static int parse_absolute_form(http_head *h, size_t scheme_len)
{
    static const char root[] = "/";
    const char *a = h->target.p + scheme_len;
    size_t rest = h->target.n - scheme_len, alen = 0;
    while (alen < rest && a[alen] != '/' && a[alen] != '?')
        alen++;
    h->authority = mk_slice(a, alen);
    if (!valid_authority(h->authority, 0))
        return 400;
    split_path_query(h, a + alen, rest - alen);
    if (h->path.n == 0)
        h->path = mk_slice(root, 1); /* not inside buf: a constant "/" */
    h->target_form = HTTP_FORM_ABSOLUTE;
    return 0;
}

static int classify_target(http_head *h)
{
    http_slice t = h->target;
    size_t scheme_len;
    h->authority = mk_slice(NULL, 0);
    /* A fragment is never part of a request-target (RFC 9112 §3.2). */
    if (memchr(t.p, '#', t.n) != NULL)
        return 400;
    if (t.p[0] == '/') {
        h->target_form = HTTP_FORM_ORIGIN;
        split_path_query(h, t.p, t.n);
        return 0;
    }
    if (t.n == 1 && t.p[0] == '*') {
        /* asterisk-form is only for a server-wide OPTIONS (RFC 9112 §3.2.4). */
        /* (methods are case-sensitive, RFC 9110 §9.1) */
        if (h->method.n != 7 || memcmp(h->method.p, "OPTIONS", 7) != 0)
            return 400;
        h->target_form = HTTP_FORM_ASTERISK;
        h->path = mk_slice(t.p, 0);
        h->query = mk_slice(NULL, 0);
        return 0;
    }
    if ((scheme_len = http_scheme_len(t)) != 0)
        return parse_absolute_form(h, scheme_len);
    /* authority-form (CONNECT) and anything else: we are not a proxy. */
    return 400;
}

static int parse_request_line(head_cursor *c, http_head *h)
{
    int rc;
    c->in_request_line = 1;
    if ((rc = skip_leading_empty_lines(c)) != 0 || (rc = parse_method(c, h)) != 0 ||
        (rc = parse_target(c, h)) != 0 || (rc = parse_version(c, h)) != 0)
        return rc;
    c->in_request_line = 0;
    return classify_target(h);
}

/* ------------------------------------------------------------------------ */
/* Field lines (RFC 9112 §5)                                                */
/* ------------------------------------------------------------------------ */

/* field-value up to CRLF: VCHAR / obs-text / SP / HTAB only; a NUL, another
 * CTL or a bare LF is an error (RFC 9110 §5.5, RFC 9112 §2.2). */
static int parse_field_value(head_cursor *c, http_slice *value)
{
    unsigned char ch;
    int rc;
    while ((rc = cur_peek(c, &ch)) == 0 && is_ows(ch))
        c->pos++;
    size_t start = c->pos, end = c->pos;
    while ((rc = cur_peek(c, &ch)) == 0 && is_field_vchar(ch)) {
        c->pos++;
        if (!is_ows(ch))
            end = c->pos; /* trailing OWS is not part of the value */
    }
    if (rc)
        return rc;
    if (ch != '\r')
        return 400;
    c->pos++;
    if ((rc = cur_expect(c, '\n')) != 0)
        return rc;
    *value = mk_slice(c->buf + start, end - start);
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS. A line starting with
 * SP/HTAB is obs-fold (or whitespace after the start-line): 400, as RFC 9112
 * §5.2 and §2.2 allow. Whitespace before the colon: 400 (RFC 9112 §5.1). */
static int parse_field_line(head_cursor *c, http_head *h)
{
    size_t start = c->pos;
    unsigned char ch;
    int rc;
    while ((rc = cur_peek(c, &ch)) == 0 && is_tchar(ch))
        c->pos++;
    if (rc)
        return rc;
    if (ch != ':' || c->pos == start)
        return 400;
    if (h->n_headers == HTTP_MAX_HEADERS)
        return 431;
    http_header_slice *f = &h->headers[h->n_headers];
    f->name = mk_slice(c->buf + start, c->pos - start);
    c->pos++;
    if ((rc = parse_field_value(c, &f->value)) != 0)
        return rc;
    h->n_headers++;
    return 0;
}

/* Field lines until the empty line; *head_end = bytes up to its CRLF. */
static int parse_fields(head_cursor *c, http_head *h)
{
    for (;;) {
        unsigned char ch;
        int rc = cur_peek(c, &ch);
        if (rc)
            return rc;
        if (ch == '\r') {
            c->pos++;
            return cur_expect(c, '\n');
        }
        if ((rc = parse_field_line(c, h)) != 0)
            return rc;
    }
}

/* ------------------------------------------------------------------------ */
/* Framing and connection semantics                                         */
/* ------------------------------------------------------------------------ */

/* Content-Length = 1*DIGIT into int64 with an overflow check. */
static int parse_length(http_slice s, int64_t *out)
{
    int64_t v = 0;
    if (s.n == 0)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (!is_digit(ch))
            return -1;
        if (v > (INT64_MAX - (ch - '0')) / 10)
            return -1;
        v = v * 10 + (ch - '0');
    }
    *out = v;
    return 0;
}

/* RFC 9110 §8.6 / RFC 9112 §6.3 item 5: a list of identical values (from one
 * or several field lines) is that value; anything else is unrecoverable. */
static int content_length(const http_head *h, int64_t *out)
{
    *out = -1;
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!slice_ieq(h->headers[i].name, "Content-Length"))
            continue;
        list_iter it = list_begin(h->headers[i].value);
        http_slice e;
        while (list_next(&it, &e)) {
            int64_t v;
            if (parse_length(e, &v) != 0 || (*out >= 0 && v != *out))
                return 400;
            *out = v;
        }
    }
    return 0;
}

typedef struct te_facts {
    int present;      /* a Transfer-Encoding field line was seen */
    int chunked;      /* "chunked" appears (exactly once) */
    int chunked_last; /* ... and is the final coding */
    int other;        /* some other coding appears */
} te_facts;

/* One transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 §7). */
static int te_element(http_slice e, te_facts *te)
{
    size_t n = 0;
    while (n < e.n && is_tchar((unsigned char)e.p[n]))
        n++;
    if (n == 0)
        return 400;
    http_slice rest = trim_ows(e.p + n, e.n - n);
    if (rest.n > 0 && rest.p[0] != ';')
        return 400;
    if (slice_ieq(mk_slice(e.p, n), "chunked")) {
        if (te->chunked || rest.n > 0) /* twice, or with parameters it has none of */
            return 400;
        te->chunked = 1;
        te->chunked_last = 1;
    } else {
        te->other = 1;
        te->chunked_last = 0;
    }
    return 0;
}

static int transfer_encoding(const http_head *h, te_facts *te)
{
    memset(te, 0, sizeof *te);
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!slice_ieq(h->headers[i].name, "Transfer-Encoding"))
            continue;
        te->present = 1;
        list_iter it = list_begin(h->headers[i].value);
        http_slice e;
        int rc;
        while (list_next(&it, &e))
            if ((rc = te_element(e, te)) != 0)
                return rc;
    }
    /* RFC 9112 §6.3 item 4: chunked must be the final coding of a request. */
    if (te->chunked && !te->chunked_last)
        return 400;
    return 0;
}

/* RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; never more than one; its
 * value must be a valid uri-host[:port]. */
static int check_host(http_head *h)
{
    size_t count = 0;
    h->host = mk_slice(NULL, 0);
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!slice_ieq(h->headers[i].name, "Host"))
            continue;
        if (++count > 1)
            return 400;
        h->host = h->headers[i].value;
    }
    if (count == 0)
        return h->minor == 1 ? 400 : 0;
    return valid_authority(h->host, 1) ? 0 : 400;
}

/* Does any element of any `name` field equal `token` (case-insensitive)? */
static int has_list_token(const http_head *h, const char *name, const char *token)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!slice_ieq(h->headers[i].name, name))
            continue;
        list_iter it = list_begin(h->headers[i].value);
        http_slice e;
        while (list_next(&it, &e))
            if (slice_ieq(e, token))
                return 1;
    }
    return 0;
}

/* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
 * RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored. */
static void connection_facts(http_head *h)
{
    int conn_close = has_list_token(h, "Connection", "close");
    int ka = has_list_token(h, "Connection", "keep-alive");
    h->keep_alive = !conn_close && (h->minor == 1 || ka);
    h->expect_continue = h->minor == 1 && has_list_token(h, "Expect", "100-continue");
}

/* Message framing (RFC 9112 §6): every 400 before the 501, so a smuggling
 * attempt is always answered as malformed. */
static int check_semantics(http_head *h)
{
    te_facts te;
    int rc;
    if ((rc = content_length(h, &h->content_length)) != 0)
        return rc;
    if ((rc = transfer_encoding(h, &te)) != 0)
        return rc;
    if (te.present && h->minor == 0) /* RFC 9112 §6.1 */
        return 400;
    if (te.present && h->content_length >= 0) /* RFC 9112 §6.1, §6.3 item 3 */
        return 400;
    if ((rc = check_host(h)) != 0)
        return rc;
    if (te.other) /* RFC 9112 §6.1: a coding we do not understand */
        return 501;
    h->chunked = te.chunked;
    connection_facts(h);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* http_parse_head                                                          */
/* ------------------------------------------------------------------------ */

/* End (index + 1) of the last CTL byte in buf[from..to), or 0 when none. Each
 * line ends with CR LF and every error the validator finds mid-line is a CTL or
 * is followed by the line's CRLF, so between CTLs there is nothing to decide. */
static size_t last_ctl_end(const char *buf, size_t from, size_t to)
{
    for (size_t j = to; j > from; j--)
        if (is_ctl((unsigned char)buf[j - 1]))
            return j;
    return 0;
}

static void head_reset(http_head *h)
{
    h->method = h->target = h->authority = h->path = h->query = h->host = mk_slice(NULL, 0);
    h->minor = 1;
    h->target_form = HTTP_FORM_ORIGIN;
    h->n_headers = 0;
    h->content_length = -1;
    h->chunked = h->keep_alive = h->expect_continue = 0;
}

int http_parse_head(const char *buf, size_t len, size_t max_head, size_t scan_from, http_head *h,
                    size_t *head_len)
{
    head_cursor c = {buf, 0, max_head, 0, 1};
    int rc;

    if (scan_from > len)
        scan_from = 0;
    /*
     * The validator only runs up to the last CTL byte (the end of the last
     * line seen): the result is then a function of the bytes alone, however
     * they were split. Bytes before scan_from were already looked at, so a
     * call that brings no new CTL and stays under the limit is answered at
     * once without rescanning the head.
     */
    if (len >= max_head) {
        c.avail = max_head;
    } else {
        c.avail = last_ctl_end(buf, scan_from, len);
        if (c.avail == 0) { /* no line end since last time: still open */
            *head_len = len;
            return HTTP_PARSE_AGAIN;
        }
    }
    head_reset(h);
    rc = parse_request_line(&c, h);
    if (rc == 0)
        rc = parse_fields(&c, h);
    if (rc == HTTP_PARSE_AGAIN) {
        *head_len = len;
        return rc;
    }
    if (rc != 0)
        return rc;
    *head_len = c.pos;
    return check_semantics(h);
}

/* ------------------------------------------------------------------------ */
/* Response heads (an upstream's answer to the proxy module)                */
/* ------------------------------------------------------------------------ */

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF, the
 * reason being HTAB / SP / VCHAR / obs-text (RFC 9112 §4). */
static int parse_status_line(head_cursor *c, http_head *h, int *status)
{
    static const char name[] = "HTTP/";
    int major = 0, minor = 0, d[3], rc;
    for (size_t i = 0; name[i] != '\0'; i++)
        if ((rc = cur_expect(c, (unsigned char)name[i])) != 0)
            return rc;
    if ((rc = parse_digit(c, &major)) != 0 || (rc = cur_expect(c, '.')) != 0 ||
        (rc = parse_digit(c, &minor)) != 0 || (rc = cur_expect(c, ' ')) != 0)
        return rc;
    for (int i = 0; i < 3; i++)
        if ((rc = parse_digit(c, &d[i])) != 0)
            return rc;
    if ((rc = cur_expect(c, ' ')) != 0)
        return rc;
    unsigned char ch;
    while ((rc = cur_peek(c, &ch)) == 0 && is_field_vchar(ch))
        c->pos++;
    if (rc)
        return rc;
    if ((rc = cur_expect(c, '\r')) != 0 || (rc = cur_expect(c, '\n')) != 0)
        return rc;
    if (major != 1)
        return 400;
    h->minor = minor > 1 ? 1 : minor;
    *status = d[0] * 100 + d[1] * 10 + d[2];
    return *status < 100 ? 400 : 0;
}

int http_parse_response_head(const char *buf, size_t len, size_t max_head, http_head *h, int *status,
                             size_t *head_len)
{
    head_cursor c = {buf, len < max_head ? len : max_head, max_head, 0, 0};
    head_reset(h);
    int rc = parse_status_line(&c, h, status);
    if (rc == 0)
        rc = parse_fields(&c, h);
    if (rc == HTTP_PARSE_AGAIN)
        return HTTP_PARSE_AGAIN;
    if (rc != 0)
        return -1;
    *head_len = c.pos;
    te_facts te;
    if (content_length(h, &h->content_length) != 0 || transfer_encoding(h, &te) != 0)
        return -1;
    /* A coding other than chunked (gzip, …) could only be passed on by
     * decoding it: refused like a malformed head rather than mislabelled. */
    if (te.present && (h->minor == 0 || h->content_length >= 0 || !te.chunked_last || te.other))
        return -1;
    h->chunked = te.chunked;
    connection_facts(h);
    return HTTP_PARSE_OK;
}

/* ------------------------------------------------------------------------ */
/* Path normalisation (RFC 3986 §2.1, §5.2.4)                               */
/* ------------------------------------------------------------------------ */

/* Percent-decodes raw[0..n) into out; -1 on a bad escape, a NUL or another
 * control character (raw or decoded). Returns the decoded length (<= n). */
static long percent_decode(const char *raw, size_t n, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hex_value((unsigned char)raw[i + 1]);
            lo = hex_value((unsigned char)raw[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (is_ctl(ch)) /* covers %00 and a raw NUL */
            return -1;
        out[w++] = (char)ch;
    }
    return (long)w;
}

/*
 * remove_dot_segments over the decoded path p[0..m), in place (the output
 * never overtakes the input). Decoding first means %2e%2e and %2f take part
 * like their literal forms: the file system would see them that way.
 * Empty segments collapse; "." and ".." at the end leave a trailing slash, as
 * a literal one does. -1 when ".." would climb above the root.
 */
static long resolve_segments(char *p, size_t m)
{
    size_t r = 0, w = 0;
    int ends_slash = p[m - 1] == '/', last_dot = 0;
    while (r < m) {
        while (r < m && p[r] == '/')
            r++;
        size_t s = r;
        while (r < m && p[r] != '/')
            r++;
        size_t n = r - s;
        if (n == 0)
            break;
        last_dot = 1;
        if (n == 1 && p[s] == '.')
            continue;
        if (n == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (w == 0)
                return -1;
            do
                w--;
            while (p[w] != '/');
            continue;
        }
        last_dot = 0;
        p[w++] = '/';
        memmove(p + w, p + s, n);
        w += n;
    }
    if (w == 0 || ends_slash || last_dot)
        p[w++] = '/';
    return (long)w;
}

/* A path with no '%', no control byte and no empty or dot-led segment is its
 * own normal form (percent_decode and resolve_segments would copy it as it
 * is): most request paths, checked at a few instructions a byte. A segment
 * merely starting with '.' ("/.well-known") takes the long way, which is
 * still right. */
/* Bytes already_normal must look at: CTLs, '%' and '/' (a table: every
 * request path goes through here). */
#define C8(v) v, v, v, v, v, v, v, v
static const unsigned char path_special[256] = {
    C8(1), C8(1), C8(1), C8(1),                      /* 0x00-0x1f: CTL */
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,  /* 0x20-0x2f: '%' and '/' */
    C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), /* 0x30-0x77 */
    0, 0, 0, 0, 0, 0, 0, 1,                          /* 0x78-0x7f: DEL */
};
#undef C8

static int already_normal(const char *raw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (!path_special[ch])
            continue;
        if (ch != '/')
            return 0; /* '%' or a CTL */
        if (i + 1 < n && (raw[i + 1] == '/' || raw[i + 1] == '.'))
            return 0;
    }
    return 1;
}

long http_normalize_path(const char *raw, size_t n, char *out, size_t outcap)
{
    if (raw == NULL || out == NULL || n == 0 || outcap < n + 1 || raw[0] != '/')
        return -1;
    if (already_normal(raw, n)) {
        memcpy(out, raw, n);
        out[n] = '\0';
        return (long)n;
    }
    long m = percent_decode(raw, n, out);
    if (m < 0)
        return -1;
    long w = resolve_segments(out, (size_t)m);
    if (w < 0)
        return -1;
    out[w] = '\0';
    return w;
}

/* ------------------------------------------------------------------------ */
/* Chunked transfer coding (RFC 9112 §7.1)                                  */
/* ------------------------------------------------------------------------ */

/*
 * chunked-body = *chunk last-chunk trailer-section CRLF
 * chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 * One state per grammar position; every byte is checked, CR must be followed
 * by LF everywhere, and no bare LF is accepted.
 */
enum {
    CS_SIZE = 0,     /* chunk-size hex digits */
    CS_EXT_BWS,      /* BWS before ";" (or CRLF) */
    CS_EXT_NAME_BWS, /* after ";": BWS before ext-name */
    CS_EXT_NAME,     /* ext-name */
    CS_EXT_NAME_END, /* BWS after ext-name: "=" or ";" */
    CS_EXT_VAL_BWS,  /* after "=": BWS before ext-val */
    CS_EXT_VAL,      /* token ext-val */
    CS_EXT_QUOTED,   /* quoted-string ext-val */
    CS_EXT_QPAIR,    /* after a backslash in it */
    CS_SIZE_LF,      /* CR seen at the end of the size line */
    CS_DATA,         /* chunk-data */
    CS_DATA_CR,      /* CRLF after chunk-data */
    CS_DATA_LF,
    CS_TRAILER_START, /* start of a trailer field line, or the final CRLF */
    CS_TRAILER_NAME,
    CS_TRAILER_VALUE,
    CS_TRAILER_LF,
    CS_FINAL_LF,
    CS_DONE,
    CS_ERROR
};

void chunked_init(chunked_decoder *d) { memset(d, 0, sizeof *d); }

/* A chunk-size digit: at most 16 (64 bits), so no value can overflow. */
static int size_digit(chunked_decoder *d, int v)
{
    if (d->digits == 16 || d->remaining > (UINT64_MAX >> 4))
        return CS_ERROR;
    d->remaining = d->remaining << 4 | (uint64_t)v;
    d->digits++;
    return CS_SIZE;
}

static int end_size_line(const chunked_decoder *d)
{
    return d->remaining == 0 ? CS_TRAILER_START : CS_DATA;
}

/* qdtext / quoted-pair content (RFC 9110 §5.6.4). */
static int is_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c != 0x5c && c != 0x7f);
}

/* After a name or a value: BWS, then ";" (next extension), "=" (only after a
 * name) or the CR ending the line. Trailing BWS before CR is tolerated. */
static int ext_after(unsigned char c, int after_name)
{
    if (is_ows(c))
        return after_name ? CS_EXT_NAME_END : CS_EXT_BWS;
    if (c == ';')
        return CS_EXT_NAME_BWS;
    if (c == '\r')
        return CS_SIZE_LF;
    if (c == '=' && after_name)
        return CS_EXT_VAL_BWS;
    return CS_ERROR;
}

/* The size line after its digits: the extension grammar. */
static int ext_step(int state, unsigned char c)
{
    switch (state) {
    case CS_EXT_BWS:
        return ext_after(c, 0);
    case CS_EXT_NAME_BWS:
        return is_ows(c) ? CS_EXT_NAME_BWS : is_tchar(c) ? CS_EXT_NAME : CS_ERROR;
    case CS_EXT_NAME:
        return is_tchar(c) ? CS_EXT_NAME : ext_after(c, 1);
    case CS_EXT_NAME_END:
        return ext_after(c, 1);
    case CS_EXT_VAL_BWS:
        if (is_ows(c))
            return CS_EXT_VAL_BWS;
        return c == '"' ? CS_EXT_QUOTED : is_tchar(c) ? CS_EXT_VAL : CS_ERROR;
    case CS_EXT_VAL:
        return is_tchar(c) ? CS_EXT_VAL : ext_after(c, 0);
    case CS_EXT_QUOTED:
        if (c == '"')
            return CS_EXT_BWS;
        return c == '\\' ? CS_EXT_QPAIR : is_qdtext(c) ? CS_EXT_QUOTED : CS_ERROR;
    case CS_EXT_QPAIR:
        return is_field_vchar(c) ? CS_EXT_QUOTED : CS_ERROR;
    default:
        return CS_ERROR;
    }
}

/* Size line: digits, then extensions, bounded by CHUNKED_MAX_LINE. */
static int size_line_step(chunked_decoder *d, unsigned char c)
{
    if (++d->line_len > CHUNKED_MAX_LINE)
        return CS_ERROR;
    if (d->state == CS_SIZE) {
        int v = hex_value(c);
        if (v >= 0)
            return size_digit(d, v);
        if (d->digits == 0)
            return CS_ERROR;
        return ext_after(c, 0);
    }
    if (d->state == CS_SIZE_LF)
        return c == '\n' ? end_size_line(d) : CS_ERROR;
    return ext_step(d->state, c);
}

/* Trailer section: field lines, checked and dropped (RFC 9112 §7.1.2), the
 * whole section bounded by CHUNKED_MAX_TRAILERS. */
static int trailer_step(chunked_decoder *d, unsigned char c)
{
    if (++d->trailer_bytes > CHUNKED_MAX_TRAILERS)
        return CS_ERROR;
    switch (d->state) {
    case CS_TRAILER_START:
        return c == '\r' ? CS_FINAL_LF : is_tchar(c) ? CS_TRAILER_NAME : CS_ERROR;
    case CS_TRAILER_NAME:
        return is_tchar(c) ? CS_TRAILER_NAME : c == ':' ? CS_TRAILER_VALUE : CS_ERROR;
    case CS_TRAILER_VALUE:
        return is_field_vchar(c) ? CS_TRAILER_VALUE : c == '\r' ? CS_TRAILER_LF : CS_ERROR;
    case CS_TRAILER_LF:
        return c == '\n' ? CS_TRAILER_START : CS_ERROR;
    case CS_FINAL_LF:
        return c == '\n' ? CS_DONE : CS_ERROR;
    default:
        return CS_ERROR;
    }
}

/* One framing byte (anything but chunk-data). */
static int framing_step(chunked_decoder *d, unsigned char c)
{
    switch (d->state) {
    case CS_DATA_CR:
        return c == '\r' ? CS_DATA_LF : CS_ERROR;
    case CS_DATA_LF:
        if (c != '\n')
            return CS_ERROR;
        d->remaining = 0;
        d->digits = 0;
        d->line_len = 0;
        return CS_SIZE;
    case CS_TRAILER_START:
    case CS_TRAILER_NAME:
    case CS_TRAILER_VALUE:
    case CS_TRAILER_LF:
    case CS_FINAL_LF:
        return trailer_step(d, c);
    default:
        return size_line_step(d, c);
    }
}

int chunked_decode(chunked_decoder *d, const char *in, size_t len, size_t *consumed, const char **data,
                   size_t *data_len)
{
    size_t i = 0;
    *data = NULL;
    *data_len = 0;
    while (i < len && d->state != CS_DONE && d->state != CS_ERROR) {
        if (d->state == CS_DATA) {
            size_t n = len - i;
            if ((uint64_t)n > d->remaining)
                n = (size_t)d->remaining;
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = CS_DATA_CR;
            *data = in + i;
            *data_len = n;
            *consumed = i + n;
            return CHUNKED_DATA;
        }
        d->state = framing_step(d, (unsigned char)in[i]);
        i++;
    }
    *consumed = i;
    if (d->state == CS_ERROR)
        return CHUNKED_ERROR;
    return d->state == CS_DONE ? CHUNKED_DONE : CHUNKED_AGAIN;
}

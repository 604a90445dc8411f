/*
 * Accept-Encoding (RFC 9110 §12.5.3), pure: no host, no allocation.
 *
 *   Accept-Encoding  = #( codings [ weight ] )
 *   codings          = content-coding / "identity" / "*"
 *   weight           = OWS ";" OWS "q=" qvalue                       (§12.4.2)
 *   qvalue           = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *
 * Lists may hold empty elements ("gzip, , br", §5.6.1: a recipient accepts
 * them). Codings and "q" are case-insensitive (§8.4.1, §12.4.2); "x-gzip" is
 * gzip (§8.4.1.3). Anything else (a parameter other than q, a bad qvalue, a
 * non-token) makes the whole field malformed: the caller serves identity.
 */
#include <string.h>
#include <strings.h>

#include "compress.h"

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* qvalue at p: thousandths, *end after it; -1 if malformed. */
static int parse_qvalue(const char *p, const char **end)
{
    int q;
    if (*p == '0')
        q = 0;
    else if (*p == '1')
        q = 1000;
    else
        return -1;
    p++;
    if (*p == '.') {
        p++;
        int scale = 100;
        for (int i = 0; i < 3 && *p >= '0' && *p <= '9'; i++, p++, scale /= 10)
            q += (*p - '0') * scale;
        if (*p >= '0' && *p <= '9')
            return -1; /* more than three digits */
        if (q > 1000)
            return -1; /* "1.5" */
    }
    *end = p;
    return q;
}

static int token_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(t, word, n) == 0;
}

int ae_parse(const char *value, ae_weights *w)
{
    for (int i = 0; i < CODING_COUNT; i++)
        w->q[i] = -1;
    w->star = -1;
    const char *p = value;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') { /* an empty element */
            p++;
            continue;
        }
        if (!*p)
            return 0;
        const char *tok = p;
        while (is_tchar((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - tok);
        if (n == 0)
            return -1;
        int q = 1000;
        p = skip_ows(p);
        if (*p == ';') {
            p = skip_ows(p + 1);
            if ((*p != 'q' && *p != 'Q') || p[1] != '=')
                return -1; /* Accept-Encoding has no parameter but the weight */
            q = parse_qvalue(p + 2, &p);
            if (q < 0)
                return -1;
            p = skip_ows(p);
        }
        if (*p != ',' && *p != '\0')
            return -1;
        int *slot = NULL;
        if (token_is(tok, n, "gzip") || token_is(tok, n, "x-gzip"))
            slot = &w->q[CODING_GZIP];
        else if (token_is(tok, n, "br"))
            slot = &w->q[CODING_BR];
        else if (token_is(tok, n, "zstd"))
            slot = &w->q[CODING_ZSTD];
        else if (token_is(tok, n, "identity"))
            slot = &w->q[CODING_IDENTITY];
        else if (n == 1 && *tok == '*')
            slot = &w->star;
        /* A coding named twice: the first one counts (the field is a list,
         * and the client meant one weight per coding). Others are ignored. */
        if (slot && *slot < 0)
            *slot = q;
    }
}

size_t ae_rank(const char *value, const coding *prefs, size_t n, coding *out)
{
    ae_weights w;
    if (!value || ae_parse(value, &w) < 0)
        return 0;
    /* identity is always acceptable as the last resort (§12.5.3: unless
     * excluded, which only matters when nothing else is acceptable, and then
     * identity goes out anyway). It beats a coding only when the field
     * weighs it higher, by name or through "*"; at equal weights the
     * server compresses. */
    int id_q = w.q[CODING_IDENTITY] >= 0 ? w.q[CODING_IDENTITY] : w.star >= 0 ? w.star : 0;
    int qs[CODING_COUNT];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        coding c = prefs[i];
        if (c <= CODING_IDENTITY || c >= CODING_COUNT)
            continue;
        /* A coding the field does not name is acceptable at the weight of
         * "*", if any ("*" matches any coding not listed). */
        int q = w.q[c] >= 0 ? w.q[c] : w.star >= 0 ? w.star : 0;
        if (q <= 0 || q < id_q || k == CODING_COUNT)
            continue;
        /* insertion by weight, keeping the server's order among equals */
        size_t j = k++;
        while (j > 0 && qs[j - 1] < q) {
            qs[j] = qs[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        qs[j] = q;
        out[j] = c;
    }
    return k;
}

coding ae_choose(const char *value, const coding *prefs, size_t n)
{
    coding ranked[CODING_COUNT];
    return ae_rank(value, prefs, n, ranked) > 0 ? ranked[0] : CODING_IDENTITY;
}

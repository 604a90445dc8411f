/*
 * If-None-Match (RFC 9110 §13.1.2) against a coded variant's ETag, pure.
 *
 *   If-None-Match = "*" / #entity-tag
 *   entity-tag    = [ "W/" ] DQUOTE *etagc DQUOTE
 *
 * The core evaluates the field before the filters, with the handler's
 * (identity) ETag; only this module knows the coded one ("abc-gz").
 */
#include <string.h>

#include "compress.h"

/* The opaque-tag of an entity-tag (without W/ and the quotes): *len bytes
 * at the result; NULL if malformed. */
static const char *opaque(const char *p, size_t n, size_t *len)
{
    if (n >= 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
        n -= 2;
    }
    if (n < 2 || p[0] != '"' || p[n - 1] != '"')
        return NULL;
    *len = n - 2;
    return p + 1;
}

/* If-None-Match (RFC 9110 §13.1.2) against the coded ETag, weak comparison.
 * The core evaluated it before the filters with the handler's (identity)
 * ETag; a client that cached this coded variant sends the coded one, which
 * only this module can recognise. */
int cz_none_match(const char *inm, const char *etag)
{
    size_t el;
    const char *e = etag ? opaque(etag, strlen(etag), &el) : NULL;
    if (!inm || !e)
        return 0;
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return 0; /* "*": the core already answered it (the resource exists) */
        const char *start = p;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return 0;
        const char *q = strchr(p + 1, '"');
        if (!q)
            return 0;
        p = q + 1;
        size_t tl;
        const char *t = opaque(start, (size_t)(p - start), &tl);
        if (t && tl == el && memcmp(t, e, el) == 0)
            return 1;
    }
    return 0;
}

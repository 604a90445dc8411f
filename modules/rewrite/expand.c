/*
 * Replacement strings: "$1".."$9" and "$0" are the captures, "$$" is a "$".
 * Captures come from the decoded path, so they are percent-encoded again
 * (RFC 3986 §2.1) before they go into a URI: the core decodes a rewritten
 * path once more, and a Location header must be a valid URI.
 */
#include <string.h>

#include "rewrite.h"

static int path_safe(unsigned char c)
{
    /* c != 0: strchr finds the terminating NUL, which would let a NUL byte through raw. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("/-._~!$&'()*+,;=:@", c));
}

int rw_check_refs(const char *to, int n_groups, int *bad)
{
    for (const char *p = to; *p; p++) {
        if (*p != '$')
            continue;
        if (p[1] == '$') {
            p++;
            continue;
        }
        if (p[1] < '0' || p[1] > '9') {
            *bad = -1; /* a lone "$" */
            return -1;
        }
        if (p[1] - '0' > n_groups) {
            *bad = p[1] - '0';
            return -1;
        }
        p++;
    }
    return 0;
}

long rw_expand(const char *to, const char *subject, const size_t *ov, int n, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
#define PUT(c)                \
    do {                      \
        if (o + 1 >= cap)     \
            return -1;        \
        out[o++] = (char)(c); \
    } while (0)
    for (const char *p = to; *p; p++) {
        if (*p != '$') {
            PUT(*p);
            continue;
        }
        if (p[1] == '$') {
            PUT('$');
            p++;
            continue;
        }
        int k = p[1] - '0';
        p++;
        if (k < 0 || k > 9 || k >= n || ov[2 * k] == PCRE2_UNSET)
            continue; /* a group that did not take part is empty (as in Perl) */
        for (size_t i = ov[2 * k]; i < ov[2 * k + 1]; i++) {
            unsigned char c = (unsigned char)subject[i];
            if (path_safe(c)) {
                PUT(c);
            } else {
                PUT('%');
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
            }
        }
    }
#undef PUT
    out[o] = '\0';
    return (long)o;
}

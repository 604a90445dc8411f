/*
 * The Authorization field of the Basic scheme (RFC 7617 §2):
 *   credentials = "Basic" 1*SP token68, token68 = base64 of user-id ":" password.
 * Strict base64 (RFC 4648 §4, padding required to a multiple of 4, no
 * whitespace inside), because a lenient decoder is where two parsers start to
 * disagree. Every malformation is the same answer (401), never 400 or 500.
 */
#include <string.h>
#include <strings.h>

#include "auth_basic.h"

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode n base64 characters into out; -1 if malformed or too long. */
static long b64_decode(const char *in, size_t n, char *out, size_t cap)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64val(c)) < 0)
                return -1; /* data after '=', or not base64 */
        }
        unsigned triple = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        int bytes = 3 - pad;
        if (o + (size_t)bytes + 1 > cap)
            return -1;
        out[o++] = (char)(triple >> 16);
        if (bytes > 1)
            out[o++] = (char)(triple >> 8 & 0xff);
        if (bytes > 2)
            out[o++] = (char)(triple & 0xff);
        /* Non-canonical encodings (bits left over under the padding) are refused too. */
        if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
            return -1;
    }
    out[o] = '\0';
    return (long)o;
}

int ab_parse_authorization(const char *value, char *buf, size_t cap, const char **user, const char **pass)
{
    if (!value || strncasecmp(value, "Basic", 5) != 0 || value[5] != ' ')
        return -1;
    const char *t = value + 5;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    long len = b64_decode(t, n, buf, cap);
    if (len < 0 || memchr(buf, '\0', (size_t)len))
        return -1;
    char *colon = memchr(buf, ':', (size_t)len);
    if (!colon || colon == buf)
        return -1; /* RFC 7617 §2: the user-id cannot contain a colon; an empty one matches nobody */
    for (const char *p = buf; p < colon; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return -1; /* §2: no control characters in the user-id */
    *colon = '\0';
    *user = buf;
    *pass = colon + 1;
    return 0;
}

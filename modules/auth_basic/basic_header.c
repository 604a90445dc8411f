/*
 * The Authorization field of the Basic scheme (RFC 7617 §2):
 *   credentials = "Basic" 1*SP token68, token68 = base64 of user-id ":" password.
 * Strict base64 (RFC 4648 §4, padding required to a multiple of 4, no
 * whitespace inside), because a lenient decoder is where two parsers start to
 * disagree. Every malformation is the same answer (401), never 400 or 500.
 */
#include <string.h>

#include "auth_basic.h"

/* 1 + the value of each base64 character (RFC 4648 §4), 0 for any other
 * byte: a table, because this runs for every request with credentials. */
static const unsigned char b64[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int b64val(unsigned char c)
{
    return (int)b64[c] - 1;
}

/* Decode n base64 characters into out; -1 if malformed or too long. */
static long b64_decode(const char *in, size_t n, char *out, size_t cap)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0, i = 0;
    /* Every group but the last: four characters of the alphabet, no padding. */
    for (; i + 4 < n; i += 4) {
        unsigned a = b64[u[i]], b = b64[u[i + 1]], c = b64[u[i + 2]], d = b64[u[i + 3]];
        if (!a || !b || !c || !d || o + 4 > cap)
            return -1;
        unsigned triple = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        out[o++] = (char)(triple >> 16);
        out[o++] = (char)(triple >> 8 & 0xff);
        out[o++] = (char)(triple & 0xff);
    }
    /* The last group, where '=' may pad the third and fourth characters. */
    int v[4], pad = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = u[i + k];
        if (c == '=' && k >= 2) {
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
    out[o] = '\0';
    return (long)o;
}

int ab_basic_token(const char *value, const char **token, size_t *n)
{
    /* "Basic" in any case (| 0x20 folds exactly the letters' case), then a
     * space; stops at the first difference, so a short value is never read past. */
    if (!value || (value[0] | 0x20) != 'b' || (value[1] | 0x20) != 'a' || (value[2] | 0x20) != 's' ||
        (value[3] | 0x20) != 'i' || (value[4] | 0x20) != 'c' || value[5] != ' ')
        return -1;
    const char *t = value + 5;
    while (*t == ' ')
        t++;
    size_t k = strlen(t);
    while (k && t[k - 1] == ' ')
        k--;
    *token = t;
    *n = k;
    return 0;
}

int ab_parse_authorization(const char *value, char *buf, size_t cap, const char **user, const char **pass)
{
    const char *t;
    size_t n;
    if (ab_basic_token(value, &t, &n) < 0)
        return -1;
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

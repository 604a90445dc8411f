/*
 * A growable output buffer in the request pool, and the escapes a file name
 * needs on its way into a page: names are arbitrary bytes (anything but '/'
 * and NUL), so every one is treated as hostile.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "autoindex.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

void ai_buf_init(ai_buf *b, ws_request *r, size_t hint)
{
    memset(b, 0, sizeof *b);
    b->r = r;
    b->cap = hint < 256 ? 256 : hint;
    b->p = ai_host->alloc(r, b->cap);
    if (!b->p) {
        b->cap = 0;
        b->oom = 1;
    }
}

/* Room for `need` more bytes plus a NUL. Pool memory is never freed one piece
 * at a time, so doubling keeps the waste under the final size. */
static int reserve(ai_buf *b, size_t need)
{
    if (b->oom)
        return 0;
    if (b->len + need + 1 <= b->cap)
        return 1;
    size_t cap = b->cap * 2;
    if (cap < b->len + need + 1)
        cap = b->len + need + 1;
    char *p = ai_host->alloc(b->r, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    memcpy(p, b->p, b->len);
    b->p = p;
    b->cap = cap;
    return 1;
}

void ai_put(ai_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ai_puts(ai_buf *b, const char *s) { ai_put(b, s, strlen(s)); }

void ai_printf(ai_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        ai_put(b, tmp, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t ai_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Printable ASCII that needs no escape in HTML text. */
static int html_plain(unsigned c)
{
    return c >= 0x20 && c < 0x7F && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'';
}

/* The UTF-8 sequence at the start of s[0..n) as it is, or U+FFFD for a byte
 * that starts none (a page is UTF-8; a file name need not be); returns the
 * bytes used (at least 1). */
static size_t put_utf8(ai_buf *b, const char *s, size_t n)
{
    size_t k = ai_utf8_len((const unsigned char *)s, n);
    if (k)
        ai_put(b, s, k);
    else
        ai_puts(b, REPLACEMENT);
    return k ? k : 1;
}

void ai_put_html(ai_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && html_plain(u[run]))
            run++; /* copy plain stretches whole: names are mostly plain */
        if (run > i) {
            ai_put(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned c = u[i];
        const char *ent = NULL;
        switch (c) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: break;
        }
        if (ent) {
            ai_puts(b, ent);
            i++;
        } else if (c < 0x80) {
            ai_puts(b, REPLACEMENT); /* control bytes are not allowed in HTML text */
            i++;
        } else {
            i += put_utf8(b, s + i, n - i);
        }
    }
}

static int url_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '/';
}

void ai_put_url(ai_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && url_plain((unsigned char)s[run]))
            run++;
        if (run > i) {
            ai_put(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        ai_put(b, esc, 3);
    }
}

void ai_put_json(ai_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            ai_put(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ai_put(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            ai_printf(b, "\\u%04x", c);
            i++;
        } else {
            i += put_utf8(b, s + i, n - i); /* JSON text must be valid UTF-8 (RFC 8259 §8.1) */
        }
    }
}

/* Digits by hand from here on: a listing formats these for every entry, and
 * printf's format parsing cost more than the rest of a row. */
static size_t put_digits(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void ai_put_dec(ai_buf *b, uint64_t v)
{
    char tmp[20];
    ai_put(b, tmp, put_digits(tmp, v));
}

static void put2(char *out, int v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

void ai_iso8601(time_t t, char out[static 21])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        strcpy(out, "1970-01-01T00:00:00Z"); /* a year past 9999 does not fit: say so plainly */
        return;
    }
    int year = tm.tm_year + 1900;
    put2(out, year / 100);
    put2(out + 2, year % 100);
    out[4] = '-';
    put2(out + 5, tm.tm_mon + 1);
    out[7] = '-';
    put2(out + 8, tm.tm_mday);
    out[10] = 'T';
    put2(out + 11, tm.tm_hour);
    out[13] = ':';
    put2(out + 14, tm.tm_min);
    out[16] = ':';
    put2(out + 17, tm.tm_sec);
    out[19] = 'Z';
    out[20] = '\0';
}

void ai_human_size(int64_t bytes, char out[static 16])
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        size_t n = put_digits(out, (uint64_t)(bytes < 0 ? 0 : bytes));
        memcpy(out + n, " B", 3);
        return;
    }
    double v = (double)bytes;
    size_t u = 0;
    for (v /= 1024; v >= 1024 && u + 1 < sizeof units / sizeof *units; u++)
        v /= 1024;
    /* "1023.96" would print as "1024.0 KiB": move to the next unit instead. */
    if (v >= 1023.95 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024;
        u++;
    }
    /* One decimal, rounded half up: "1.2 KiB". */
    uint64_t tenths = (uint64_t)(v * 10 + 0.5);
    size_t n = put_digits(out, tenths / 10);
    out[n++] = '.';
    out[n++] = (char)('0' + tenths % 10);
    out[n++] = ' ';
    memcpy(out + n, units[u], 4);
}

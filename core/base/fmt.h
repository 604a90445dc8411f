/*
 * Small formatters for the hot path, where printf's parsing of a format
 * string costs more than the work itself: decimal and hex numbers, and a
 * bounded append cursor.
 */
#ifndef WEBSERV_FMT_H
#define WEBSERV_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Write v in decimal at p (no NUL); returns the digits written (1..20). */
static inline size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Lower-case hex, no leading zeros; returns the digits written (1..16). */
static inline size_t fmt_hex(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* An append cursor over a fixed buffer; `over` is set instead of writing past the end. */
typedef struct fmt_buf {
    char *p;
    size_t n, cap;
    int over;
} fmt_buf;

static inline void fmt_mem(fmt_buf *b, const void *s, size_t n)
{
    if (b->over || b->cap - b->n < n) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static inline void fmt_str(fmt_buf *b, const char *s)
{
    fmt_mem(b, s, strlen(s));
}

static inline void fmt_dec(fmt_buf *b, uint64_t v)
{
    char tmp[20];
    fmt_mem(b, tmp, fmt_u64(tmp, v));
}

#endif

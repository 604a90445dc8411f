/*
 * libFuzzer target for the multipart/form-data parser (modules/upload/multipart.c).
 *
 * Input: the first line is the request's Content-Type value (or a bare
 * boundary), the rest is the body. The body is parsed twice, whole and in
 * pieces whose sizes come from the data itself; both runs must agree on the
 * status and on what the callbacks saw (a checksum of the events).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload/multipart.c"

typedef struct seen {
    uint64_t sum;
    size_t bytes, parts;
    int in_part;
} seen;

static void mix(seen *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        s->sum = (s->sum ^ b[i]) * 0x100000001b3u;
}

static int f_begin(void *arg, const mp_part *p)
{
    seen *s = arg;
    if (s->in_part)
        abort(); /* begin inside a part */
    s->in_part = 1;
    s->parts++;
    mix(s, "B", 1);
    if (p->name)
        mix(s, p->name, p->name_len);
    mix(s, "|", 1);
    if (p->filename) {
        if (p->filename[p->filename_len] != '\0')
            abort();
        mix(s, p->filename, p->filename_len);
    }
    mix(s, "|", 1);
    if (p->content_type)
        mix(s, p->content_type, strlen(p->content_type));
    return 0;
}

static int f_data(void *arg, const char *d, size_t n)
{
    seen *s = arg;
    if (!s->in_part || n == 0)
        abort();
    s->bytes += n;
    mix(s, d, n);
    return 0;
}

static int f_end(void *arg)
{
    seen *s = arg;
    if (!s->in_part)
        abort();
    s->in_part = 0;
    mix(s, "E", 1);
    return 0;
}

static const mp_callbacks fcb = {f_begin, f_data, f_end};

static int run(const char *b, size_t blen, const uint8_t *body, size_t len, int split, seen *s)
{
    static mp_parser p;
    memset(s, 0, sizeof *s);
    if (mp_init(&p, b, blen, &fcb, s) != MP_OK)
        return MP_ERR_BOUNDARY;
    size_t at = 0, step = 1;
    int rc = MP_OK;
    while (at < len && rc == MP_OK) {
        size_t n = split ? step : len - at;
        if (n > len - at)
            n = len - at;
        /* a copy of exactly n bytes, so ASan sees any over-read */
        char *piece = malloc(n);
        memcpy(piece, body + at, n);
        rc = mp_feed(&p, piece, n);
        free(piece);
        step = (body[at] % 7) + 1 + (step > 64 ? 0 : step / 2);
        at += n;
    }
    return rc == MP_OK ? mp_finish(&p) : rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t hlen = (size_t)(nl - data);
    char *head = malloc(hlen + 1);
    memcpy(head, data, hlen);
    head[hlen] = '\0';
    char boundary[MP_BOUNDARY_MAX + 1];
    int blen = mp_boundary_of(head, boundary);
    if (blen < 0) {
        /* a bare boundary line */
        if (hlen == 0 || hlen > MP_BOUNDARY_MAX || memchr(head, '\0', hlen)) {
            free(head);
            return 0;
        }
        memcpy(boundary, head, hlen + 1);
        blen = (int)hlen;
    }
    free(head);
    const uint8_t *body = nl + 1;
    size_t len = size - hlen - 1;
    seen a, b;
    int ra = run(boundary, (size_t)blen, body, len, 0, &a);
    int rb = run(boundary, (size_t)blen, body, len, 1, &b);
    if (ra != rb)
        abort();
    if (ra == MP_OK && (a.sum != b.sum || a.bytes != b.bytes || a.parts != b.parts || a.in_part))
        abort();
    if (a.bytes > len)
        abort();
    return 0;
}

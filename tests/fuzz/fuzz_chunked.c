/*
 * libFuzzer target for the chunked decoder: the input is decoded whole, byte
 * by byte and in pseudo-random pieces; answer, body and consumed bytes must
 * agree, and every data slice must lie inside the piece it came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

typedef struct outcome {
    int rc;
    size_t consumed;
    uint8_t *body;
    size_t body_len;
} outcome;

/* Piece sizes: mode 0 whole, 1 byte by byte, else from a small LCG. */
static size_t next_piece(unsigned *seed, int mode, size_t left)
{
    size_t n;
    if (mode == 0)
        return left;
    if (mode == 1)
        return 1;
    *seed = *seed * 1103515245u + 12345u;
    n = 1 + (*seed >> 16) % 23;
    return n < left ? n : left;
}

static void decode(const uint8_t *data, size_t size, int mode, outcome *o)
{
    chunked_decoder d;
    unsigned seed = (unsigned)size;
    size_t start = 0;
    chunked_init(&d);
    o->rc = CHUNKED_AGAIN;
    o->consumed = 0;
    o->body_len = 0;
    while (start < size && o->rc == CHUNKED_AGAIN) {
        size_t plen = next_piece(&seed, mode, size - start), off = 0;
        char *p = malloc(plen);
        memcpy(p, data + start, plen);
        for (;;) {
            size_t used = 0, dlen = 0;
            const char *dp = NULL;
            int rc = chunked_decode(&d, p + off, plen - off, &used, &dp, &dlen);
            if (used > plen - off)
                abort();
            if (rc == CHUNKED_DATA) {
                if (dlen == 0 || dp < p + off || dp + dlen > p + off + used)
                    abort();
                memcpy(o->body + o->body_len, dp, dlen);
                o->body_len += dlen;
                off += used;
                continue;
            }
            if (rc != CHUNKED_AGAIN && rc != CHUNKED_DONE && rc != CHUNKED_ERROR)
                abort();
            off += used;
            if (rc == CHUNKED_AGAIN && off != plen)
                abort();
            if (rc == CHUNKED_DONE)
                o->consumed = start + off;
            o->rc = rc;
            break;
        }
        free(p);
        start += plen;
    }
    if (o->body_len > size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    outcome o[3];
    for (int m = 0; m < 3; m++) {
        o[m].body = malloc(size + 1);
        decode(data, size, m, &o[m]);
    }
    for (int m = 1; m < 3; m++) {
        if (o[m].rc != o[0].rc || o[m].consumed != o[0].consumed)
            abort();
        /* Data before an error may be cut at different places; otherwise equal. */
        if (o[0].rc != CHUNKED_ERROR &&
            (o[m].body_len != o[0].body_len || memcmp(o[m].body, o[0].body, o[0].body_len) != 0))
            abort();
    }
    for (int m = 0; m < 3; m++)
        free(o[m].body);
    return 0;
}

/*
 * libFuzzer target: arbitrary conditional and Range header values through
 * cond_check and range_check (and the date parser behind them).
 *
 * Input layout: byte 0 picks flags (GET/HEAD, which headers are present),
 * bytes 1..8 the representation length, then up to seven NUL-separated
 * values: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
 * Range, If-Range, and the representation's own ETag.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_cond.h"
#include "httpdate.h"

enum { N_FIELDS = 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    uint8_t flags = data[0];
    uint64_t raw_len;
    memcpy(&raw_len, data + 1, sizeof raw_len);
    /* Mostly small lengths, sometimes anything up to INT64_MAX. */
    int64_t length = (flags & 0x80) ? (int64_t)(raw_len >> 1) : (int64_t)(raw_len % 100000);

    /* A private NUL-terminated copy: the functions take C strings, and ASan
     * then catches any read past a value's end. */
    size_t n = size - 9;
    char *buf = malloc(n + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 9, n);
    buf[n] = '\0';

    const char *field[N_FIELDS] = {0};
    char *p = buf;
    for (int i = 0; i < N_FIELDS && p <= buf + n; i++) {
        field[i] = p;
        p += strlen(p) + 1;
    }

    /* Also exercise the date parser on an exact slice, with no NUL after it. */
    time_t t;
    char *slice = malloc(n ? n : 1);
    if (slice) {
        memcpy(slice, data + 9, n);
        if (httpdate_parse(slice, n, &t) == 0) {
            char out[HTTPDATE_LEN + 1];
            httpdate_format(t, out);
        }
        free(slice);
    }

    cond_request rq = {
        .is_get_or_head = flags & 1,
        .if_match = (flags & 2) ? field[0] : NULL,
        .if_none_match = (flags & 4) ? field[1] : NULL,
        .if_modified_since = (flags & 8) ? field[2] : NULL,
        .if_unmodified_since = (flags & 16) ? field[3] : NULL,
        .range = field[4],
        .if_range = (flags & 32) ? field[5] : NULL,
    };
    cond_validators v = {
        .etag = (flags & 64) ? field[6] : "\"5f-1a2b-10\"",
        .last_modified = (time_t)(raw_len % 2000000000),
    };

    int st = cond_check(&rq, &v);
    if (st != 0 && st != 304 && st != 412)
        abort();
    if (st == 304 && !rq.is_get_or_head)
        abort();

    int64_t start = -1, len = -1;
    st = range_check(&rq, &v, length, &start, &len);
    if (st == 206) {
        if (len <= 0 || start < 0 || start > length - len)
            abort();
    } else if (st != 200 && st != 416) {
        abort();
    }
    if (!rq.range && st != 200)
        abort();
    free(buf);
    return 0;
}

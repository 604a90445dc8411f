/*
 * libFuzzer target: the response-head parser the proxy uses for its
 * upstream's answers (http_parse_response_head in core/http/http_parse.c).
 * Every prefix of a head must be AGAIN or the same answer as the whole, slices
 * stay inside the input, and nothing is read outside it (ASan).
 *   ./fuzz_http_response tests/fuzz/corpus/http_response
 */
#include <stdint.h>
#include <stdlib.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    static http_head h, h2;
    int st = 0, st2 = 0;
    size_t n = 0, n2 = 0;
    int rc = http_parse_response_head(buf, size, 8192, &h, &st, &n);
    if (rc == HTTP_PARSE_OK) {
        if (n > size || st < 100 || st > 999 || h.n_headers > HTTP_MAX_HEADERS)
            abort();
        for (size_t i = 0; i < h.n_headers; i++)
            if (h.headers[i].name.p < buf || h.headers[i].value.p + h.headers[i].value.n > buf + n)
                abort();
        if (h.chunked && h.content_length >= 0)
            abort();
        /* the head alone gives the same result */
        if (http_parse_response_head(buf, n, 8192, &h2, &st2, &n2) != HTTP_PARSE_OK || n2 != n || st2 != st)
            abort();
    } else if (rc != HTTP_PARSE_AGAIN && rc != -1) {
        abort();
    }
    if (size > 0 && rc != HTTP_PARSE_AGAIN) {
        int p = http_parse_response_head(buf, size / 2, 8192, &h2, &st2, &n2);
        if (p != HTTP_PARSE_AGAIN && p != rc)
            abort();
    }
    return 0;
}

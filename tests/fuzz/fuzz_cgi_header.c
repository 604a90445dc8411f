/*
 * libFuzzer target: the CGI header block parser (modules/cgi/cgi_header.c).
 * Checks that it never reads outside the buffer (ASan) and that its results
 * stay inside the input and the limits.
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Imodules tests/fuzz/fuzz_cgi_header.c
 *   ./a.out tests/fuzz/corpus/cgi_header
 */
#include <stdint.h>
#include <stdlib.h>

#include "cgi/cgi_header.c"

static void check_slice(cgi_slice s, const char *buf, size_t len)
{
    if (s.p && (s.p < buf || s.p + s.n > buf + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    cgi_head h;
    ssize_t n = cgi_header_parse(buf, size, &h);
    if (n < CGI_HEAD_INVALID || n > (ssize_t)size || n > CGI_HEADER_MAX)
        abort();
    if (n > 0) {
        if (h.status && (h.status < 100 || h.status > 599))
            abort();
        if (!h.status && !h.content_type.p && !h.location.p)
            abort();
        if (h.n_fields > CGI_HEADER_FIELDS)
            abort();
        check_slice(h.reason, buf, (size_t)n);
        check_slice(h.content_type, buf, (size_t)n);
        check_slice(h.location, buf, (size_t)n);
        for (size_t i = 0; i < h.n_fields; i++) {
            check_slice(h.name[i], buf, (size_t)n);
            check_slice(h.value[i], buf, (size_t)n);
            if (h.name[i].n == 0)
                abort();
            for (size_t j = 0; j < h.value[i].n; j++)
                if (h.value[i].p[j] == '\r' || h.value[i].p[j] == '\n' || h.value[i].p[j] == '\0')
                    abort();
            (void)cgi_header_dropped(h.name[i]);
        }
        if (h.location.p)
            (void)cgi_location_kind(h.location);
        /* The same block is found again when more bytes follow it. */
        if ((size_t)n < size && cgi_header_parse(buf, (size_t)n, &h) != n)
            abort();
    }
    return 0;
}

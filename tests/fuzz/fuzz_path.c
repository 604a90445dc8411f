/*
 * libFuzzer target for http_normalize_path: whatever comes back must be a
 * clean absolute path (no empty, "." or ".." segment, no control byte) no
 * longer than the input, and normalising it again changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static void check_clean(const char *out, long r, size_t size)
{
    if (r < 1 || (size_t)r > size || out[0] != '/' || strlen(out) != (size_t)r)
        abort();
    for (long i = 0; i < r; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f)
            abort();
    }
    /* Segments between slashes: never empty (except the trailing one), "." or "..". */
    const char *s = out + 1;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 0 && e) || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            abort();
        s += n + (e ? 1 : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1), *out = malloc(size + 1);
    memcpy(in, data, size);
    long r = http_normalize_path(in, size, out, size + 1);
    if (r < -1)
        abort();
    if (r >= 0) {
        check_clean(out, r, size);
        if (strchr(out, '%') == NULL) {
            char *again = malloc((size_t)r + 1);
            if (http_normalize_path(out, (size_t)r, again, (size_t)r + 1) != r || strcmp(again, out) != 0)
                abort();
            free(again);
        }
    }
    free(in);
    free(out);
    return 0;
}

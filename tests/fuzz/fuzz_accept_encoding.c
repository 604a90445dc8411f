/*
 * libFuzzer target for mod_compress's request-field parsers: Accept-Encoding
 * (modules/compress/accept_encoding.c, RFC 9110 §12.5.3) and If-None-Match
 * against a coded ETag (etag_match.c, §13.1.2); the same bytes feed both.
 * Input: the first byte picks the server's codings (order and subset), the
 * rest is the field value. Checks: the chosen coding is identity or one the
 * server offers; the ranking holds each offered coding at most once, best
 * first, and starts with the choice; parsed weights lie in 0..1000; the
 * same input gives the same answer; an If-None-Match match names the tag.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress/accept_encoding.c"
#include "compress/etag_match.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const coding orders[6][3] = {
        {CODING_ZSTD, CODING_BR, CODING_GZIP}, {CODING_GZIP, CODING_BR, CODING_ZSTD},
        {CODING_BR, CODING_ZSTD, CODING_GZIP}, {CODING_GZIP, CODING_ZSTD, CODING_BR},
        {CODING_ZSTD, CODING_GZIP, CODING_BR}, {CODING_BR, CODING_GZIP, CODING_ZSTD},
    };
    const coding *prefs = orders[data[0] % 6];
    size_t n = (size_t)(data[0] / 6) % 4; /* 0 to 3 codings offered */
    char *value = malloc(size);
    if (!value)
        return 0;
    memcpy(value, data + 1, size - 1);
    value[size - 1] = '\0'; /* a field value ends at its first NUL, as the core hands it */

    coding chosen = ae_choose(value, prefs, n);
    int offered = chosen == CODING_IDENTITY;
    for (size_t i = 0; i < n; i++)
        offered |= prefs[i] == chosen;
    if (!offered)
        abort();

    coding ranked[CODING_COUNT];
    size_t k = ae_rank(value, prefs, n, ranked);
    if (k > n || (k ? ranked[0] : CODING_IDENTITY) != chosen)
        abort();
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++)
            if (ranked[i] == ranked[j])
                abort();

    ae_weights w;
    if (ae_parse(value, &w) == 0) {
        for (int i = 0; i < CODING_COUNT; i++)
            if (w.q[i] < -1 || w.q[i] > 1000)
                abort();
        if (w.star < -1 || w.star > 1000)
            abort();
    } else if (k != 0) {
        abort(); /* malformed: identity only */
    }
    if (ae_choose(value, prefs, n) != chosen)
        abort();
    /* a match names the tag somewhere in the field */
    if (cz_none_match(value, "\"5f-1a-gz\"") && !strstr(value, "\"5f-1a-gz\""))
        abort();
    if (cz_none_match(value, "W/\"x\"") && !strstr(value, "\"x\""))
        abort();
    free(value);
    return 0;
}

/*
 * libFuzzer target for http_parse_head. Besides crashes and sanitizer reports
 * it checks the parser's promises: slices lie inside the head, an accepted
 * head re-parses the same on its own, and feeding the input in pieces (with
 * the scan_from hint) gives the same answer as feeding it whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static int allowed_result(int rc)
{
    return rc == HTTP_PARSE_OK || rc == HTTP_PARSE_AGAIN || rc == 400 || rc == 414 || rc == 431 ||
           rc == 501 || rc == 505;
}

static void check_inside(const char *buf, size_t head_len, http_slice s)
{
    if (s.p == NULL || s.n == 0)
        return;
    if (s.n == 1 && s.p[0] == '/' && (s.p < buf || s.p >= buf + head_len))
        return; /* the constant "/" of an absolute-form target without a path */
    if (s.p < buf || s.p + s.n > buf + head_len)
        abort();
}

static void check_value(http_slice v)
{
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            abort();
    }
    if (v.n > 0 && (v.p[0] == ' ' || v.p[0] == '\t' || v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t'))
        abort();
}

static void check_ok(const char *buf, size_t len, size_t max_head, const http_head *h, size_t head_len)
{
    if (head_len > len || head_len > max_head || head_len < 4)
        abort();
    if (memcmp(buf + head_len - 4, "\r\n\r\n", 4) != 0)
        abort();
    if ((h->minor != 0 && h->minor != 1) || h->n_headers > HTTP_MAX_HEADERS)
        abort();
    if (h->target_form < HTTP_FORM_ORIGIN || h->target_form > HTTP_FORM_ASTERISK)
        abort();
    if (!http_is_token(h->method.p, h->method.n))
        abort();
    if (h->content_length < -1 || (h->chunked && h->content_length != -1) || (h->chunked && h->minor == 0))
        abort();
    if (h->minor == 1 && h->host.p == NULL)
        abort();
    if (h->target_form != HTTP_FORM_ASTERISK && (h->path.n == 0 || h->path.p[0] != '/'))
        abort();
    http_slice all[] = {h->method, h->target, h->authority, h->path, h->query, h->host};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        check_inside(buf, head_len, all[i]);
    for (size_t i = 0; i < h->n_headers; i++) {
        check_inside(buf, head_len, h->headers[i].name);
        check_inside(buf, head_len, h->headers[i].value);
        if (!http_is_token(h->headers[i].name.p, h->headers[i].name.n))
            abort();
        check_value(h->headers[i].value);
    }
    /* The path normaliser gets whatever the parser accepted. */
    if (h->path.n > 0) {
        char *out = malloc(h->path.n + 1);
        long r = http_normalize_path(h->path.p, h->path.n, out, h->path.n + 1);
        if (r >= 0 && (out[0] != '/' || (size_t)r > h->path.n))
            abort();
        free(out);
    }
}

/* Feeds growing prefixes; the first non-AGAIN answer must be the whole one. */
static void check_incremental(const uint8_t *data, size_t size, size_t max_head, int want, size_t want_len)
{
    static http_head h;
    size_t hint = 0, step = size <= 512 ? 1 : 1 + size % 97, hl = 0;
    int rc = HTTP_PARSE_AGAIN;
    for (size_t k = step < size ? step : size; k > 0; k = k == size ? 0 : (k + step < size ? k + step : size)) {
        char *buf = malloc(k);
        memcpy(buf, data, k);
        rc = http_parse_head(buf, k, max_head, hint, &h, &hl);
        if (!allowed_result(rc))
            abort();
        if (rc == HTTP_PARSE_OK)
            check_ok(buf, k, max_head, &h, hl);
        free(buf);
        if (rc != HTTP_PARSE_AGAIN)
            break;
        if (hl > k)
            abort();
        hint = hl;
    }
    if (rc != want || (rc == HTTP_PARSE_OK && hl != want_len))
        abort();
}

static void one_limit(const uint8_t *data, size_t size, size_t max_head)
{
    static http_head h, h2;
    size_t hl = 0, hl2 = 0;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    int rc = http_parse_head(buf, size, max_head, 0, &h, &hl);
    if (!allowed_result(rc))
        abort();
    if (rc == HTTP_PARSE_OK) {
        check_ok(buf, size, max_head, &h, hl);
        /* The head alone: same answer, same facts. */
        int rc2 = http_parse_head(buf, hl, max_head, 0, &h2, &hl2);
        if (rc2 != HTTP_PARSE_OK || hl2 != hl || h2.n_headers != h.n_headers ||
            h2.content_length != h.content_length || h2.chunked != h.chunked || h2.keep_alive != h.keep_alive)
            abort();
    }
    free(buf);
    check_incremental(data, size, max_head, rc, hl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_limit(data, size, 8192);
    /* A tight limit too, so 414/431 paths get exercised. */
    one_limit(data, size, 32 + size / 2);
    return 0;
}

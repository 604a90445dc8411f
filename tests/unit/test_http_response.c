/* http_parse_response_head (core/http/http_parse.c): an upstream's answer to the proxy, parsed strictly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "http_parse.h"

static int parse(const char *s, http_head *h, int *status, size_t *len)
{
    return http_parse_response_head(s, strlen(s), 65536, h, status, len);
}

static void test_good_heads(void **state)
{
    (void)state;
    http_head h;
    int st;
    size_t n;
    const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  v  \r\n\r\nhello";
    assert_int_equal(parse(a, &h, &st, &n), HTTP_PARSE_OK);
    assert_int_equal(st, 200);
    assert_int_equal(n, strlen(a) - 5);
    assert_int_equal(h.content_length, 5);
    assert_int_equal(h.keep_alive, 1);
    assert_int_equal(h.n_headers, 2);
    assert_int_equal(h.headers[1].value.n, 1);
    assert_int_equal(parse("HTTP/1.1 204 \r\n\r\n", &h, &st, &n), HTTP_PARSE_OK); /* empty reason */
    assert_int_equal(st, 204);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", &h, &st, &n), HTTP_PARSE_OK);
    assert_int_equal(h.chunked, 1);
    assert_int_equal(parse("HTTP/1.0 200 OK\r\n\r\n", &h, &st, &n), HTTP_PARSE_OK);
    assert_int_equal(h.keep_alive, 0);
    assert_int_equal(h.content_length, -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &h, &st, &n), HTTP_PARSE_OK);
    assert_int_equal(h.keep_alive, 0);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", &h, &st, &n), HTTP_PARSE_OK);
    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\n", &h, &st, &n), HTTP_PARSE_OK);
    assert_int_equal(st, 100);
}

static void test_incomplete(void **state)
{
    (void)state;
    const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    http_head h;
    int st;
    size_t n;
    for (size_t i = 0; i < strlen(a); i++)
        assert_int_equal(http_parse_response_head(a, i, 65536, &h, &st, &n), HTTP_PARSE_AGAIN);
    assert_int_equal(http_parse_response_head(a, strlen(a), 20, &h, &st, &n), -1); /* over the limit */
}

static void test_bad_heads(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 200\r\n\r\n", "HTTP/1.1 200 OK\n\n",
        "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "garbage\r\n\r\n", "\r\nHTTP/1.1 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_head h;
        int st;
        size_t n;
        if (parse(bad[i], &h, &st, &n) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_heads),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_bad_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

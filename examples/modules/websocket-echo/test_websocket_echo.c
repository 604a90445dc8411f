/*
 * A cmocka test of mod_websocket_echo against the webserv test host: the
 * handshake (RFC 6455 §4.2, the RFC's own key and accept value), refusals,
 * and frames fed as the client's raw bytes (th_feed_body after the upgrade):
 * echo, fragmentation, ping/pong, close, and the failures 1002/1007/1009.
 *   make check   (or: ctest after the CMake build)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <webserv/testhost.h>

#include "ws_frame.h"

extern const ws_module webserv_module;

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static th_module *M;
static const void *CONF;

static int setup(void **state)
{
    (void)state;
    char err[256];
    M = th_load(&webserv_module);
    assert_non_null(M);
    CONF = th_configure(M, "{\"max_message\": 1000, \"origins\": [\"http://good.example\"]}", "/ws", NULL, err,
                        sizeof err);
    assert_non_null(CONF);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_unload(M);
    return 0;
}

static th_request *open_ws(const char *const *headers)
{
    static const char *const good[] = {"Host: x", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
                                       "Sec-WebSocket-Key: " KEY, "Sec-WebSocket-Version: 13",
                                       "Origin: http://good.example", NULL};
    th_request *t = th_request_new(M, CONF, "GET", "/ws/chat", headers ? headers : good);
    th_set_http_minor(t, 1);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    return t;
}

/* A masked client frame. */
static size_t client_frame(uint8_t *out, int first_byte, const void *payload, size_t n)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    out[h++] = (uint8_t)first_byte;
    if (n < 126) {
        out[h++] = (uint8_t)(0x80 | n);
    } else {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    memcpy(out + h, mask, 4);
    h += 4;
    wsf_unmask(out + h, payload, n, mask, 0);
    return h + n;
}

static void feed(th_request *t, int first_byte, const void *payload, size_t n)
{
    uint8_t buf[2048];
    size_t k = client_frame(buf, first_byte, payload, n);
    assert_int_equal(th_feed_body(t, buf, k), k);
}

/* The close frame the server sent last: its code. */
static int close_code(th_response *res)
{
    const uint8_t *b = (const uint8_t *)res->body;
    size_t i = 0, last = (size_t)-1;
    while (i + 2 <= res->body_len) { /* walk the server's frames (unmasked) */
        size_t n = b[i + 1] & 0x7f, h = 2;
        if (n == 126) {
            n = (size_t)b[i + 2] << 8 | b[i + 3];
            h = 4;
        }
        if ((b[i] & 0x0f) == WSF_CLOSE)
            last = i;
        i += h + n;
    }
    if (last == (size_t)-1 || (b[last + 1] & 0x7f) < 2)
        return last == (size_t)-1 ? -1 : 1005;
    return b[last + 2] << 8 | b[last + 3];
}

static void test_handshake_accept(void **state)
{
    (void)state;
    th_request *t = open_ws(NULL);
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 101);
    assert_string_equal(res->upgrade, "websocket");
    /* RFC 6455 §1.3's example */
    assert_string_equal(th_header(t, "Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_false(res->finished);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
}

static void test_refusals(void **state)
{
    (void)state;
    static const char *const plain[] = {"Host: x", NULL};
    static const char *const v8[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " KEY,
                                     "Sec-WebSocket-Version: 8", NULL};
    static const char *const badkey[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: abc",
                                         "Sec-WebSocket-Version: 13", NULL};
    static const char *const noconn[] = {"Upgrade: websocket", "Sec-WebSocket-Key: " KEY,
                                         "Sec-WebSocket-Version: 13", NULL};
    static const char *const origin[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " KEY,
                                         "Sec-WebSocket-Version: 13", "Origin: http://evil.example", NULL};
    struct { const char *const *h; int status; } cases[] = {
        {plain, 426}, {v8, 426}, {badkey, 400}, {noconn, 400}, {origin, 403},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        th_request *t = open_ws(cases[i].h);
        th_response *res = th_response_of(t);
        assert_int_equal(res->status, cases[i].status);
        assert_true(res->finished);
        assert_null(res->upgrade);
        if (i == 1)
            assert_string_equal(th_header(t, "Sec-WebSocket-Version"), "13");
        th_request_end(t);
    }
    /* HTTP/1.0: the host refuses the upgrade, the module answers 400 without the accept field */
    static const char *const good[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " KEY,
                                       "Sec-WebSocket-Version: 13", "Origin: http://good.example", NULL};
    th_request *t = th_request_new(M, CONF, "GET", "/ws", good);
    th_set_http_minor(t, 0);
    th_dispatch(t);
    assert_int_equal(th_response_of(t)->status, 400);
    assert_null(th_header(t, "Sec-WebSocket-Accept"));
    th_request_end(t);
}

static void test_echo_fragments_ping_close(void **state)
{
    (void)state;
    th_request *t = open_ws(NULL);
    th_response *res = th_response_of(t);
    feed(t, 0x81, "hello", 5);
    assert_int_equal(res->body_len, 7);
    assert_memory_equal(res->body, "\x81\x05hello", 7);
    /* a fragmented binary message with a ping in between (§5.4: control frames may interleave) */
    feed(t, 0x02, "ab", 2);
    feed(t, 0x89, "p!", 2);
    feed(t, 0x00, "cd", 2);
    feed(t, 0x80, "ef", 2);
    assert_memory_equal(res->body + 7, "\x8a\x02p!\x82\x06" "abcdef", 12);
    /* two frames in one piece, and a frame split over pieces */
    uint8_t buf[64];
    size_t a = client_frame(buf, 0x81, "x", 1);
    size_t b = client_frame(buf + a, 0x81, "yz", 2);
    assert_int_equal(th_feed_body(t, buf, 3), 3);
    assert_int_equal(th_feed_body(t, buf + 3, a + b - 3), a + b - 3);
    assert_memory_equal(res->body + 19, "\x81\x01x\x81\x02yz", 7);
    /* close 1000: echoed, then the response ends */
    feed(t, 0x88, "\x03\xe8" "bye", 5);
    assert_true(res->finished);
    assert_int_equal(close_code(res), 1000);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
}

static void expect_failure(const uint8_t *bytes, size_t n, int code)
{
    th_request *t = open_ws(NULL);
    th_response *res = th_response_of(t);
    th_feed_body(t, bytes, n);
    assert_true(res->finished);
    assert_int_equal(close_code(res), code);
    th_request_end(t);
}

static void test_failures(void **state)
{
    (void)state;
    uint8_t f[2048];
    /* unmasked */
    expect_failure((const uint8_t *)"\x81\x02hi", 4, 1002);
    /* reserved bit */
    size_t n = client_frame(f, 0xC1, "hi", 2);
    expect_failure(f, n, 1002);
    /* reserved opcode */
    n = client_frame(f, 0x83, "hi", 2);
    expect_failure(f, n, 1002);
    /* fragmented ping */
    n = client_frame(f, 0x09, "hi", 2);
    expect_failure(f, n, 1002);
    /* continuation with nothing to continue */
    n = client_frame(f, 0x80, "hi", 2);
    expect_failure(f, n, 1002);
    /* invalid UTF-8 text (an overlong '/', a lone surrogate) */
    n = client_frame(f, 0x81, "\xc0\xaf", 2);
    expect_failure(f, n, 1007);
    n = client_frame(f, 0x81, "\xed\xa0\x80", 3);
    expect_failure(f, n, 1007);
    /* a close with a one-byte payload, or a reserved code */
    n = client_frame(f, 0x88, "\x03", 1);
    expect_failure(f, n, 1002);
    n = client_frame(f, 0x88, "\x03\xed", 2); /* 1005 may not be sent */
    expect_failure(f, n, 1002);
    /* over max_message (1000): one frame, known from its header alone */
    static uint8_t big[1001];
    memset(big, 'a', sizeof big);
    n = client_frame(f, 0x82, big, sizeof big);
    expect_failure(f, 4, 1009); /* just the header */
    /* over max_message in fragments */
    th_request *t = open_ws(NULL);
    n = client_frame(f, 0x02, big, 600);
    th_feed_body(t, f, n);
    n = client_frame(f, 0x80, big, 600);
    th_feed_body(t, f, n);
    assert_true(th_response_of(t)->finished);
    assert_int_equal(close_code(th_response_of(t)), 1009);
    th_request_end(t);
}

static void test_backpressure(void **state)
{
    (void)state;
    th_request *t = open_ws(NULL);
    th_response *res = th_response_of(t);
    th_set_output_full(t, 1);
    uint8_t f[64], all[640];
    size_t one = client_frame(f, 0x81, "0123456789", 10), n = 0;
    for (int i = 0; i < 10; i++, n += one)
        memcpy(all + n, f, one);
    /* the first echo fills the queue: the module stops taking bytes */
    size_t took = th_feed_body(t, all, n);
    assert_true(took < n || th_body_pending(t) > 0 || res->body_len < 10 * 12);
    th_drain(t);
    th_run(t, 100);
    for (int i = 0; i < 20 && th_body_pending(t); i++) {
        th_drain(t);
        th_run(t, 10);
    }
    th_drain(t);
    assert_int_equal(res->body_len, 10 * 12);
    th_request_end(t);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(wsf_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    assert_false(wsf_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(wsf_utf8_valid((const uint8_t *)"\xe2\x82", 2));         /* cut short */
    assert_false(wsf_utf8_valid((const uint8_t *)"\x80", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_accept),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_echo_fragments_ping_close),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

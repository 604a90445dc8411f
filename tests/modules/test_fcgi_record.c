/* FastCGI 1.0 record codec and response parser (modules/fastcgi/fcgi_record.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "fastcgi/fcgi_record.c"

static size_t rec(uint8_t *out, int type, uint16_t id, const char *content, size_t n, uint8_t pad)
{
    fcgi_put_header(out, type, id, (uint16_t)n, pad);
    memcpy(out + 8, content, n);
    memset(out + 8 + n, 0, pad);
    return 8 + n + pad;
}

static size_t end_rec(uint8_t *out, uint16_t id, uint32_t app, uint8_t proto)
{
    const char body[8] = {(char)(app >> 24), (char)(app >> 16), (char)(app >> 8), (char)app, (char)proto, 0, 0, 0};
    return rec(out, FCGI_END_REQUEST, id, body, 8, 0);
}

static void test_header_and_begin(void **state)
{
    (void)state;
    uint8_t h[8];
    fcgi_put_header(h, FCGI_STDIN, 0x1234, 0xabcd, 3);
    const uint8_t want[8] = {1, 5, 0x12, 0x34, 0xab, 0xcd, 3, 0};
    assert_memory_equal(h, want, 8);
    uint8_t b[16];
    fcgi_put_begin(b, 1, 1);
    const uint8_t wantb[16] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    assert_memory_equal(b, wantb, 16);
    fcgi_put_begin(b, 1, 0);
    assert_int_equal(b[10], 0);
}

static void test_pairs_short_and_long(void **state)
{
    (void)state;
    char longv[300];
    memset(longv, 'v', sizeof longv);
    assert_int_equal(fcgi_pair_size(3, 5), 10);
    assert_int_equal(fcgi_pair_size(3, 300), 1 + 4 + 3 + 300);
    assert_int_equal(fcgi_pair_size(127, 128), 1 + 4 + 127 + 128);
    uint8_t buf[400];
    size_t n = fcgi_put_pair(buf, "abc", 3, longv, sizeof longv);
    assert_int_equal(n, fcgi_pair_size(3, sizeof longv));
    assert_int_equal(buf[0], 3);
    assert_int_equal(buf[1], 0x80);
    assert_int_equal(buf[4], 44); /* 300 = 0x12c */
    size_t used, nl, vl;
    const uint8_t *name, *value;
    assert_int_equal(fcgi_get_pair(buf, n, &used, &name, &nl, &value, &vl), 1);
    assert_int_equal(used, n);
    assert_int_equal(nl, 3);
    assert_memory_equal(name, "abc", 3);
    assert_int_equal(vl, 300);
    assert_int_equal(fcgi_get_pair(buf, n - 1, &used, &name, &nl, &value, &vl), 0); /* cut short */
    assert_int_equal(fcgi_get_pair(buf, 3, &used, &name, &nl, &value, &vl), 0);
}

/* Feed buf byte by byte or whole; collect stdout/stderr and the end. */
typedef struct got {
    char out[4096], err[256];
    size_t nout, nerr;
    int end, error;
    uint32_t app;
    int proto;
    const char *why;
} got;

static void feed(const uint8_t *buf, size_t len, size_t step, got *g)
{
    fcgi_parser p;
    fcgi_parser_init(&p, 1);
    memset(g, 0, sizeof *g);
    for (size_t at = 0; at < len && !g->error;) {
        size_t n = step && len - at > step ? step : len - at;
        size_t off = 0;
        do {
            fcgi_event ev;
            off += fcgi_parse(&p, buf + at + off, n - off, &ev);
            if (ev.kind == FCGI_EV_STDOUT) {
                memcpy(g->out + g->nout, ev.data, ev.len);
                g->nout += ev.len;
            } else if (ev.kind == FCGI_EV_STDERR) {
                memcpy(g->err + g->nerr, ev.data, ev.len);
                g->nerr += ev.len;
            } else if (ev.kind == FCGI_EV_END) {
                g->end++;
                g->app = ev.app_status;
                g->proto = ev.protocol_status;
            } else if (ev.kind == FCGI_EV_ERROR) {
                g->error = 1;
                g->why = ev.why;
                break;
            }
        } while (off < n);
        at += n;
    }
}

static void test_stream_in_any_pieces(void **state)
{
    (void)state;
    uint8_t buf[1024];
    size_t n = 0;
    n += rec(buf + n, FCGI_STDERR, 1, "warn\n", 5, 3);
    n += rec(buf + n, FCGI_STDOUT, 1, "Content-Type: a/b\r\n\r\n", 21, 7);
    n += rec(buf + n, FCGI_GET_VALUES_RESULT, 0, "\x01\x01xy", 4, 4); /* management: skipped */
    n += rec(buf + n, FCGI_STDOUT, 1, "body", 4, 0);
    n += rec(buf + n, FCGI_STDOUT, 1, "", 0, 0); /* end of the stream */
    n += end_rec(buf + n, 1, 0x01020304, FCGI_REQUEST_COMPLETE);
    for (size_t step = 0; step <= 9; step++) {
        got g;
        feed(buf, n, step, &g);
        assert_int_equal(g.error, 0);
        assert_int_equal(g.end, 1);
        assert_int_equal(g.app, 0x01020304);
        assert_int_equal(g.proto, FCGI_REQUEST_COMPLETE);
        assert_int_equal(g.nout, 25);
        assert_memory_equal(g.out, "Content-Type: a/b\r\n\r\nbody", 25);
        assert_int_equal(g.nerr, 5);
    }
}

static void test_idle_only_between_records(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = rec(buf, FCGI_STDOUT, 1, "abc", 3, 5);
    fcgi_parser p;
    fcgi_parser_init(&p, 1);
    assert_true(fcgi_parser_idle(&p));
    fcgi_event ev;
    size_t used = fcgi_parse(&p, buf, 4, &ev);
    assert_int_equal(used, 4);
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_false(fcgi_parser_idle(&p));
    used = fcgi_parse(&p, buf + 4, n - 4, &ev);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_false(fcgi_parser_idle(&p)); /* the padding is still to come */
    fcgi_parse(&p, buf + 4 + used, n - 4 - used, &ev);
    assert_true(fcgi_parser_idle(&p));
}

static void test_protocol_errors(void **state)
{
    (void)state;
    uint8_t buf[64];
    got g;
    size_t n = rec(buf, FCGI_STDOUT, 2, "x", 1, 0); /* another request id */
    feed(buf, n, 0, &g);
    assert_int_equal(g.error, 1);
    n = rec(buf, FCGI_STDOUT, 1, "x", 1, 0);
    buf[0] = 2; /* version */
    feed(buf, n, 0, &g);
    assert_int_equal(g.error, 1);
    n = rec(buf, FCGI_STDIN, 1, "x", 1, 0); /* a type the application never sends */
    feed(buf, n, 0, &g);
    assert_int_equal(g.error, 1);
    n = rec(buf, FCGI_END_REQUEST, 1, "1234", 4, 0); /* short END_REQUEST */
    feed(buf, n, 0, &g);
    assert_int_equal(g.error, 1);
    n = end_rec(buf, 1, 0, 0);
    n += rec(buf + n, FCGI_STDOUT, 1, "late", 4, 0); /* bytes after the end */
    feed(buf, n, 0, &g);
    assert_int_equal(g.end, 1);
    assert_int_equal(g.error, 1);
    assert_string_equal(g.why, "bytes after END_REQUEST");
    n = end_rec(buf, 1, 0, FCGI_OVERLOADED);
    feed(buf, n, 3, &g);
    assert_int_equal(g.end, 1);
    assert_int_equal(g.proto, FCGI_OVERLOADED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_begin),
        cmocka_unit_test(test_pairs_short_and_long),
        cmocka_unit_test(test_stream_in_any_pieces),
        cmocka_unit_test(test_idle_only_between_records),
        cmocka_unit_test(test_protocol_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

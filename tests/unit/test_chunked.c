/*
 * Chunked decoder (RFC 9112 §7.1): a table of encoded bodies, each decoded
 * whole, byte by byte, and split in two at every position; all must agree.
 * Every piece is placed right before a PROT_NONE page to catch over-reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardpage.h"
#include "http_parse.h"

#define GUARD_CAP (64 * 1024)
static char *guard_end;

static int group_setup(void **state)
{
    (void)state;
    guard_end = guard_region(GUARD_CAP);
    return 0;
}

static const char *guard_put(const char *src, size_t n) { return guard_copy(guard_end, GUARD_CAP, src, n); }

typedef struct chunk_case {
    const char *name;
    const char *in;
    size_t in_len;
    int want;         /* CHUNKED_DONE, _ERROR or _AGAIN */
    const char *body; /* DONE/AGAIN: the decoded bytes */
    size_t consumed;  /* DONE: 0 means the whole input */
} chunk_case;

#define RAW(s) .in = (s), .in_len = sizeof(s) - 1

static const chunk_case cases[] = {
    /* ---- accepted ---- */
    {"one chunk", RAW("5\r\nhello\r\n0\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"two chunks", RAW("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), CHUNKED_DONE, "hello world", 0},
    {"empty body", RAW("0\r\n\r\n"), CHUNKED_DONE, "", 0},
    {"hex digits", RAW("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"), CHUNKED_DONE,
     "0123456789abcdefghij", 0},
    {"leading zeros", RAW("0005\r\nhello\r\n000\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"16 digits", RAW("0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"binary data", RAW("4\r\n\0\r\n\n\r\n0\r\n\r\n"), CHUNKED_DONE, NULL, 0},
    {"extension name", RAW("5;foo\r\nhello\r\n0\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"extension value", RAW("5;foo=bar;baz\r\nhello\r\n0;last=1\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"extension BWS", RAW("5 ; foo = bar ; x\r\nhello\r\n0\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"extension quoted", RAW("5;a=\"q \\\" ;x\"\r\nhello\r\n0\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"extension empty quoted", RAW("5;a=\"\"\r\nhello\r\n0\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"trailers", RAW("5\r\nhello\r\n0\r\nX-Sum: 1\r\nY:\r\nZ: a b\t\r\n\r\n"), CHUNKED_DONE, "hello", 0},
    {"next request after", RAW("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), CHUNKED_DONE, "hello",
     sizeof("5\r\nhello\r\n0\r\n\r\n") - 1},

    /* ---- incomplete ---- */
    {"partial data", RAW("5\r\nhel"), CHUNKED_AGAIN, "hel", 0},
    {"no last chunk", RAW("5\r\nhello\r\n"), CHUNKED_AGAIN, "hello", 0},
    {"no final CRLF", RAW("0\r\n"), CHUNKED_AGAIN, "", 0},
    {"huge chunk accepted", RAW("ffffffffffffffff\r\nabc"), CHUNKED_AGAIN, "abc", 0},

    /* ---- chunk size ---- */
    {"empty size", RAW("\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"bad digit", RAW("g\r\n"), CHUNKED_ERROR, NULL, 0},
    {"negative", RAW("-5\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"plus", RAW("+5\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"0x prefix", RAW("0x5\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"leading space", RAW(" 5\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"17 digits", RAW("00000000000000005\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"2^64", RAW("10000000000000000\r\n"), CHUNKED_ERROR, NULL, 0},
    {"2^64 + 1 digits", RAW("ffffffffffffffff0\r\n"), CHUNKED_ERROR, NULL, 0},
    {"size then junk", RAW("5x\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},

    /* ---- line endings ---- */
    {"bare LF size line", RAW("5\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"CR CR LF", RAW("5\r\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"bare LF after data", RAW("5\r\nhello\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"no CRLF after data", RAW("5\r\nhelloX\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"short data", RAW("5\r\nhell\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"CR without LF after data", RAW("5\r\nhello\rX0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"bare LF last chunk", RAW("0\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"bare LF final", RAW("0\r\n\n"), CHUNKED_ERROR, NULL, 0},
    {"final CR CR", RAW("0\r\n\r\r"), CHUNKED_ERROR, NULL, 0},

    /* ---- extensions ---- */
    {"extension CTL", RAW("5;a\x01\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension bare LF", RAW("5;a=b\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension LF in quotes", RAW("5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension no name", RAW("5;=x\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension empty", RAW("5;\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension no value", RAW("5;a=\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension unterminated quote", RAW("5;a=\"x\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension bad char", RAW("5;a=b(c\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension two values", RAW("5;a=b c\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"extension NUL", RAW("5;a\0\r\nhello\r\n0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},

    /* ---- trailers ---- */
    {"trailer obs-fold", RAW("0\r\nA: b\r\n c\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"trailer no colon", RAW("0\r\nA\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"trailer space before colon", RAW("0\r\nA : b\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"trailer bare LF", RAW("0\r\nA: b\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"trailer NUL", RAW("0\r\nA: b\0\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
    {"trailer empty name", RAW("0\r\n: b\r\n\r\n"), CHUNKED_ERROR, NULL, 0},
};

/* ---- runner ---- */

typedef struct outcome {
    int rc;
    size_t consumed; /* total over all pieces (DONE) */
    char body[GUARD_CAP];
    size_t body_len;
} outcome;

/* Decodes in[0..n) delivered as pieces ending at cuts[0..ncuts) (the last is n). */
static void decode_pieces(const char *in, size_t n, const size_t *cuts, size_t ncuts, outcome *o)
{
    assert_int_equal(cuts[ncuts - 1], n);
    chunked_decoder d;
    size_t start = 0;
    chunked_init(&d);
    o->rc = CHUNKED_AGAIN;
    o->body_len = 0;
    o->consumed = 0;
    for (size_t c = 0; c < ncuts && o->rc == CHUNKED_AGAIN; c++) {
        size_t plen = cuts[c] - start, off = 0;
        const char *p = guard_put(in + start, plen);
        for (;;) {
            size_t used = 0, dlen = 0;
            const char *data = NULL;
            int rc = chunked_decode(&d, p + off, plen - off, &used, &data, &dlen);
            assert_true(used <= plen - off);
            if (rc == CHUNKED_DATA) {
                assert_true(dlen > 0);
                assert_true(data >= p + off && data + dlen <= p + off + used);
                memcpy(o->body + o->body_len, data, dlen);
                o->body_len += dlen;
                off += used;
                continue;
            }
            assert_null(data);
            off += used;
            o->rc = rc;
            if (rc == CHUNKED_AGAIN)
                assert_int_equal(off, plen);
            if (rc == CHUNKED_DONE)
                o->consumed = start + off;
            break;
        }
        start = cuts[c];
    }
}

static void check_outcome(const chunk_case *c, const outcome *o, const char *how, size_t at)
{
    if (o->rc != c->want)
        fail_msg("case '%s' (%s %zu): expected %d, got %d", c->name, how, at, c->want, o->rc);
    if (c->want == CHUNKED_ERROR)
        return;
    if (c->body && (o->body_len != strlen(c->body) || memcmp(o->body, c->body, o->body_len) != 0))
        fail_msg("case '%s' (%s %zu): body '%.*s'", c->name, how, at, (int)o->body_len, o->body);
    if (c->want == CHUNKED_DONE)
        assert_int_equal(o->consumed, c->consumed ? c->consumed : c->in_len);
}

static void run_case(const chunk_case *c)
{
    static outcome whole, o;
    static size_t cuts[GUARD_CAP];
    size_t n = c->in_len;

    cuts[0] = n;
    decode_pieces(c->in, n, cuts, 1, &whole);
    check_outcome(c, &whole, "whole", 0);

    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    decode_pieces(c->in, n, cuts, n, &o);
    check_outcome(c, &o, "bytewise", 0);
    assert_int_equal(o.body_len, whole.body_len);
    assert_memory_equal(o.body, whole.body, whole.body_len);

    for (size_t k = 1; k < n; k++) {
        /* Long generated inputs: every split near the ends, a sample between. */
        if (n > 1024 && k > 128 && k < n - 128 && k % 61 != 0)
            continue;
        cuts[0] = k;
        cuts[1] = n;
        decode_pieces(c->in, n, cuts, 2, &o);
        check_outcome(c, &o, "split", k);
        assert_int_equal(o.body_len, whole.body_len);
        assert_memory_equal(o.body, whole.body, whole.body_len);
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

static char big[GUARD_CAP];

/* A size line of exactly `line` bytes (CRLF included): "5;" + name + CRLF. */
static size_t size_line_of(size_t line)
{
    size_t n = (size_t)snprintf(big, sizeof big, "5;");
    memset(big + n, 'x', line - n - 2);
    n = line - 2;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\nhello\r\n0\r\n\r\n");
    return n;
}

static void test_extension_limit(void **state)
{
    (void)state;
    chunk_case c = {"size line at the limit", big, size_line_of(CHUNKED_MAX_LINE), CHUNKED_DONE, "hello", 0};
    run_case(&c);
    chunk_case c2 = {"size line over the limit", big, size_line_of(CHUNKED_MAX_LINE + 1), CHUNKED_ERROR, NULL, 0};
    run_case(&c2);
    /* An endless extension is cut off, not buffered. */
    big[0] = '5';
    big[1] = ';';
    memset(big + 2, 'x', 10000);
    chunk_case c3 = {"endless extension", big, 10002, CHUNKED_ERROR, NULL, 0};
    run_case(&c3);
}

/* The trailer section, final CRLF included, may be CHUNKED_MAX_TRAILERS bytes. */
static size_t trailers_of(size_t total)
{
    size_t n = (size_t)snprintf(big, sizeof big, "0\r\n");
    size_t line = total - 2; /* "T:" + value + CRLF, then the final CRLF */
    big[n++] = 'T';
    big[n++] = ':';
    memset(big + n, 'v', line - 4);
    n += line - 4;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n\r\n");
    return n;
}

static void test_trailer_limit(void **state)
{
    (void)state;
    chunk_case c = {"trailers at the limit", big, trailers_of(CHUNKED_MAX_TRAILERS), CHUNKED_DONE, "", 0};
    run_case(&c);
    chunk_case c2 = {"trailers over the limit", big, trailers_of(CHUNKED_MAX_TRAILERS + 1), CHUNKED_ERROR, NULL, 0};
    run_case(&c2);
}

/* Data slices point into the input (zero-copy) and a large chunk comes out
 * in the pieces it arrived in. */
static void test_zero_copy(void **state)
{
    (void)state;
    static const char in[] = "a\r\n0123456789\r\n0\r\n\r\n";
    chunked_decoder d;
    size_t used;
    const char *data;
    size_t dlen;
    chunked_init(&d);
    const char *p = guard_put(in, 8); /* "a\r\n01234" */
    assert_int_equal(chunked_decode(&d, p, 8, &used, &data, &dlen), CHUNKED_DATA);
    assert_ptr_equal(data, p + 3);
    assert_int_equal(dlen, 5);
    assert_int_equal(used, 8);
    assert_int_equal(chunked_decode(&d, p + 8, 0, &used, &data, &dlen), CHUNKED_AGAIN);
    assert_int_equal(used, 0);
    p = guard_put(in + 8, sizeof in - 1 - 8);
    assert_int_equal(chunked_decode(&d, p, sizeof in - 1 - 8, &used, &data, &dlen), CHUNKED_DATA);
    assert_ptr_equal(data, p);
    assert_int_equal(dlen, 5);
    assert_int_equal(chunked_decode(&d, p + used, sizeof in - 1 - 8 - used, &used, &data, &dlen), CHUNKED_DONE);
    /* Once done, stays done and takes nothing more. */
    assert_int_equal(chunked_decode(&d, "x", 1, &used, &data, &dlen), CHUNKED_DONE);
    assert_int_equal(used, 0);
}

static void test_error_is_sticky(void **state)
{
    (void)state;
    chunked_decoder d;
    size_t used;
    const char *data;
    size_t dlen;
    chunked_init(&d);
    assert_int_equal(chunked_decode(&d, "z", 1, &used, &data, &dlen), CHUNKED_ERROR);
    assert_int_equal(chunked_decode(&d, "5\r\n", 3, &used, &data, &dlen), CHUNKED_ERROR);
    assert_int_equal(used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_extension_limit),
        cmocka_unit_test(test_trailer_limit),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_error_is_sticky),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}

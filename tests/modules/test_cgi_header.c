/*
 * The CGI header block parser (modules/cgi/cgi_header.c), each block fed
 * whole: RFC 3875 §6.2 response types and §6.3 header fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cgi/cgi_header.c"

static cgi_head H;

static ssize_t parse(const char *s)
{
    return cgi_header_parse(s, strlen(s), &H);
}

static int eq(cgi_slice s, const char *want)
{
    return s.p && s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static void test_lf_block(void **state)
{
    (void)state;
    const char *s = "Content-Type: text/html\n\nbody";
    assert_int_equal(parse(s), strlen(s) - 4);
    assert_true(eq(H.content_type, "text/html"));
    assert_int_equal(H.status, 0);
    assert_null(H.location.p);
    assert_int_equal(H.content_length, -1);
    assert_int_equal(H.n_fields, 0);
}

static void test_crlf_and_mixed(void **state)
{
    (void)state;
    const char *s = "Content-Type: text/plain\r\nX-A: 1\r\n\r\nhello";
    assert_int_equal(parse(s), strlen(s) - 5);
    assert_true(eq(H.content_type, "text/plain"));
    assert_int_equal(H.n_fields, 1);
    assert_true(eq(H.name[0], "X-A"));
    assert_true(eq(H.value[0], "1"));
    s = "Status: 201\nX-B: 2\r\n\nrest";
    assert_int_equal(parse(s), strlen(s) - 4);
    assert_int_equal(H.status, 201);
    s = "Status: 200\r\n\n";
    assert_int_equal(parse(s), strlen(s));
}

static void test_incomplete(void **state)
{
    (void)state;
    assert_int_equal(parse(""), CGI_HEAD_INCOMPLETE);
    assert_int_equal(parse("Content-Ty"), CGI_HEAD_INCOMPLETE);
    assert_int_equal(parse("Content-Type: text/html"), CGI_HEAD_INCOMPLETE);
    assert_int_equal(parse("Content-Type: text/html\n"), CGI_HEAD_INCOMPLETE);
    assert_int_equal(parse("Content-Type: text/html\r\n\r"), CGI_HEAD_INCOMPLETE);
}

static void test_status(void **state)
{
    (void)state;
    assert_true(parse("Status: 404 Not Found\n\n") > 0);
    assert_int_equal(H.status, 404);
    assert_true(eq(H.reason, "Not Found"));
    assert_true(parse("Status: 418\n\n") > 0);
    assert_int_equal(H.status, 418);
    assert_int_equal(H.reason.n, 0);
    assert_true(parse("Status:\t100\tContinue \n\n") > 0);
    assert_int_equal(H.status, 100);
    assert_true(eq(H.reason, "Continue"));
    assert_true(parse("status: 599 x\n\n") > 0);
    assert_int_equal(H.status, 599);
    assert_true(parse("STATUS: 302\nLocation: http://x/\n\n") > 0);
    assert_int_equal(H.status, 302);
}

static void test_bad_status(void **state)
{
    (void)state;
    const char *bad[] = {
        "Status: 700\n\n",     "Status: 99\n\n",          "Status: 099\n\n",      "Status: 600 Nope\n\n",
        "Status: 000\n\n",     "Status: 2000\n\n",        "Status: 20x\n\n",      "Status: 200OK\n\n",
        "Status: \n\n",        "Status: abc\n\n",         "Status: -200\n\n",     "Status: 200\nStatus: 200\n\n",
        "Status: +20\n\n",     "Status: 1e2\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i]) != CGI_HEAD_INVALID)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_location(void **state)
{
    (void)state;
    assert_true(parse("Location: /other?x=1\n\n") > 0);
    assert_true(eq(H.location, "/other?x=1"));
    assert_int_equal(H.status, 0);
    assert_int_equal(cgi_location_kind(H.location), CGI_LOCATION_LOCAL);
    assert_true(parse("Location: https://example.com/a\n\n") > 0);
    assert_int_equal(cgi_location_kind(H.location), CGI_LOCATION_ABSOLUTE);
    assert_true(parse("Location: //evil.example/\n\n") > 0);
    assert_int_equal(cgi_location_kind(H.location), CGI_LOCATION_OTHER);
    assert_true(parse("Location: relative/path\n\n") > 0);
    assert_int_equal(cgi_location_kind(H.location), CGI_LOCATION_OTHER);
    cgi_slice s = { "x+y.z-1:rest", 12 };
    assert_int_equal(cgi_location_kind(s), CGI_LOCATION_ABSOLUTE);
    cgi_slice d = { "1http://x", 9 };
    assert_int_equal(cgi_location_kind(d), CGI_LOCATION_OTHER);
    cgi_slice e = { "", 0 };
    assert_int_equal(cgi_location_kind(e), CGI_LOCATION_OTHER);
    assert_int_equal(parse("Location: /a\nLocation: /b\n\n"), CGI_HEAD_INVALID);
    assert_int_equal(parse("Location:\n\n"), CGI_HEAD_INVALID);
}

static void test_content_type_rules(void **state)
{
    (void)state;
    assert_int_equal(parse("Content-Type: a/b\nContent-Type: a/b\n\n"), CGI_HEAD_INVALID);
    assert_int_equal(parse("Content-Type:   \n\n"), CGI_HEAD_INVALID);
    assert_true(parse("content-type:text/html; charset=utf-8  \n\n") > 0);
    assert_true(eq(H.content_type, "text/html; charset=utf-8"));
}

static void test_content_length(void **state)
{
    (void)state;
    assert_true(parse("Content-Type: a/b\nContent-Length: 1234\n\n") > 0);
    assert_int_equal(H.content_length, 1234);
    assert_true(parse("Content-Type: a/b\nContent-Length: 0\n\n") > 0);
    assert_int_equal(H.content_length, 0);
    assert_true(parse("Content-Type: a/b\nContent-Length: 9223372036854775807\n\n") > 0);
    assert_int_equal(H.content_length, INT64_MAX);
    const char *bad[] = {
        "Content-Type: a/b\nContent-Length: 9223372036854775808\n\n",
        "Content-Type: a/b\nContent-Length: -1\n\n",
        "Content-Type: a/b\nContent-Length: 12a\n\n",
        "Content-Type: a/b\nContent-Length: 1 2\n\n",
        "Content-Type: a/b\nContent-Length:\n\n",
        "Content-Type: a/b\nContent-Length: 5\nContent-Length: 5\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i]) != CGI_HEAD_INVALID)
            fail_msg("accepted: %s", bad[i]);
}

static void test_needs_a_cgi_field(void **state)
{
    (void)state;
    assert_int_equal(parse("\n"), CGI_HEAD_INVALID);
    assert_int_equal(parse("\r\n"), CGI_HEAD_INVALID);
    assert_int_equal(parse("X-Only: 1\n\nbody"), CGI_HEAD_INVALID);
    assert_int_equal(parse("Hello, world!\n"), CGI_HEAD_INVALID);
    assert_int_equal(parse("<html><body>hi</body></html>\n\n"), CGI_HEAD_INVALID);
}

static void test_bad_lines(void **state)
{
    (void)state;
    const char *bad[] = {
        "Content-Type : text/html\n\n",          /* blank before the colon */
        ": x\nContent-Type: a/b\n\n",            /* empty name */
        "X Y: z\nContent-Type: a/b\n\n",         /* not a token */
        "X@Y: z\nContent-Type: a/b\n\n",
        "Content-Type: a/b\nno colon here\n\n",
        "Content-Type: a/b\nX-A: 1\n  folded\n\n",  /* obs-fold */
        "Content-Type: a/b\nX-A: 1\n\tfolded\n\n",
        "Content-Type: a/b\nX-A: a\rb\n\n",       /* stray CR */
        "Content-Type: a/b\r\r\n\r\n",
        "Content-Type: a/b\nX-A: a\001b\n\n",   /* control */
        "Content-Type: a/b\nX-A: a\x7f\n\n",
        "\rContent-Type: a/b\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i]) != CGI_HEAD_INVALID)
            fail_msg("accepted #%zu", i);
    /* a NUL inside a value */
    const char nul[] = "Content-Type: a/b\nX-A: a\0b\n\n";
    assert_int_equal(cgi_header_parse(nul, sizeof nul - 1, &H), CGI_HEAD_INVALID);
}

static void test_other_fields(void **state)
{
    (void)state;
    const char *s = "Set-Cookie: a=1; Path=/\nContent-Type: a/b\nX-Empty:\nX-Tab:\tv\t \nX-Obs: caf\xc3\xa9\n\n";
    assert_true(parse(s) > 0);
    assert_int_equal(H.n_fields, 4);
    assert_true(eq(H.name[0], "Set-Cookie"));
    assert_true(eq(H.value[0], "a=1; Path=/"));
    assert_true(eq(H.name[1], "X-Empty"));
    assert_int_equal(H.value[1].n, 0);
    assert_true(eq(H.value[2], "v"));
    assert_true(eq(H.value[3], "caf\xc3\xa9"));
}

static void test_field_count(void **state)
{
    (void)state;
    char buf[CGI_HEADER_MAX];
    size_t n = (size_t)sprintf(buf, "Content-Type: a/b\n");
    for (int i = 0; i < CGI_HEADER_FIELDS; i++)
        n += (size_t)sprintf(buf + n, "X-%d: v\n", i);
    buf[n] = '\n';
    assert_int_equal(cgi_header_parse(buf, n + 1, &H), (ssize_t)n + 1);
    assert_int_equal(H.n_fields, CGI_HEADER_FIELDS);
    n += (size_t)sprintf(buf + n, "X-more: v\n\n");
    assert_int_equal(cgi_header_parse(buf, n, &H), CGI_HEAD_INVALID);
}

static void test_size_limit(void **state)
{
    (void)state;
    size_t cap = CGI_HEADER_MAX + 100;
    char *buf = malloc(cap);
    assert_non_null(buf);
    /* One value of almost the limit: complete within it → fine. */
    const char *head = "Content-Type: a/b\nX-Big: ";
    size_t hn = strlen(head);
    memcpy(buf, head, hn);
    size_t fill = CGI_HEADER_MAX - hn - 2;
    memset(buf + hn, 'a', fill);
    buf[hn + fill] = '\n';
    buf[hn + fill + 1] = '\n';
    assert_int_equal(cgi_header_parse(buf, CGI_HEADER_MAX, &H), CGI_HEADER_MAX);
    /* One byte more and the end is past the limit. */
    memset(buf + hn, 'a', fill + 1);
    buf[hn + fill + 1] = '\n';
    buf[hn + fill + 2] = '\n';
    assert_int_equal(cgi_header_parse(buf, CGI_HEADER_MAX + 1, &H), CGI_HEAD_INVALID);
    assert_int_equal(cgi_header_parse(buf, CGI_HEADER_MAX + 3, &H), CGI_HEAD_INVALID);
    /* Below the limit without an end: wait for more. */
    assert_int_equal(cgi_header_parse(buf, CGI_HEADER_MAX - 1, &H), CGI_HEAD_INCOMPLETE);
    free(buf);
}

static void test_dropped(void **state)
{
    (void)state;
    const char *drop[] = { "Connection", "keep-alive", "Transfer-Encoding", "te", "Trailer", "Upgrade",
                           "Proxy-Connection", "content-length", "Date", "Server" };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        cgi_slice s = { drop[i], strlen(drop[i]) };
        assert_true(cgi_header_dropped(s));
    }
    const char *keep[] = { "Set-Cookie", "Cache-Control", "X-Powered-By", "Content-Language", "Tee" };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        cgi_slice s = { keep[i], strlen(keep[i]) };
        assert_false(cgi_header_dropped(s));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lf_block),      cmocka_unit_test(test_crlf_and_mixed),
        cmocka_unit_test(test_incomplete),    cmocka_unit_test(test_status),
        cmocka_unit_test(test_bad_status),    cmocka_unit_test(test_location),
        cmocka_unit_test(test_content_type_rules), cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_needs_a_cgi_field), cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_other_fields),  cmocka_unit_test(test_field_count),
        cmocka_unit_test(test_size_limit),    cmocka_unit_test(test_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

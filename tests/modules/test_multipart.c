/*
 * The multipart/form-data parser alone. Every case is fed whole, byte by
 * byte, in two pieces split at every position, and (for short bodies) in
 * three pieces split at every pair of positions: the events must not differ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "upload/multipart.c"

/* ---- an event recorder ---- */

typedef struct rec {
    char *log;
    size_t len, cap;
    int stop_at_begin; /* return non-zero from the n-th part_begin (1-based) */
    int begins;
} rec;

static void rec_add(rec *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->log = realloc(r->log, r->cap);
        assert_non_null(r->log);
    }
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static void rec_str(rec *r, const char *s)
{
    rec_add(r, s, strlen(s));
}

static int on_begin(void *arg, const mp_part *p)
{
    rec *r = arg;
    rec_str(r, "[begin name=");
    if (p->name)
        rec_add(r, p->name, p->name_len);
    else
        rec_str(r, "(none)");
    rec_str(r, " filename=");
    if (p->filename)
        rec_add(r, p->filename, p->filename_len);
    else
        rec_str(r, "(none)");
    rec_str(r, " type=");
    rec_str(r, p->content_type ? p->content_type : "(none)");
    rec_str(r, "]");
    return ++r->begins == r->stop_at_begin;
}

/* Data pieces are concatenated: how the input was split must not show. */
static int on_data(void *arg, const char *d, size_t n)
{
    assert_true(n > 0);
    rec_add(arg, d, n);
    return 0;
}

static int on_end(void *arg)
{
    rec_str(arg, "[end]");
    return 0;
}

static const mp_callbacks cbs = {on_begin, on_data, on_end};

/* Parse body split at the given cut points; returns the final status and
 * the event log (malloced). */
static int parse_split(const char *boundary, const char *body, size_t len, const size_t *cuts, size_t ncuts,
                       int stop_at_begin, char **log)
{
    static mp_parser p;
    rec r = {0};
    r.stop_at_begin = stop_at_begin;
    rec_str(&r, "");
    assert_int_equal(mp_init(&p, boundary, strlen(boundary), &cbs, &r), MP_OK);
    size_t at = 0;
    int rc = MP_OK;
    for (size_t i = 0; i <= ncuts && rc == MP_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        /* each piece in its own heap block, so ASan catches over-reads */
        char *piece = malloc(end - at + 1);
        memcpy(piece, body + at, end - at);
        rc = mp_feed(&p, piece, end - at);
        free(piece);
        at = end;
    }
    if (rc == MP_OK)
        rc = mp_finish(&p);
    *log = r.log;
    return rc;
}

/* Every way of feeding body gives the same status and events. */
static void check_case(const char *boundary, const char *body, size_t len, int want_rc, const char *want_log,
                       size_t want_log_len, int stop_at_begin)
{
    char *log;
    int rc = parse_split(boundary, body, len, NULL, 0, stop_at_begin, &log);
    assert_int_equal(rc, want_rc);
    if (want_log) {
        if (strlen(log) != want_log_len || memcmp(log, want_log, want_log_len) != 0)
            fail_msg("log mismatch:\n got: %s\nwant: %.*s", log, (int)want_log_len, want_log);
    }
    char *whole = log;

    /* byte by byte */
    size_t *cuts = calloc(len + 1, sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    rc = parse_split(boundary, body, len, cuts, len ? len - 1 : 0, stop_at_begin, &log);
    assert_int_equal(rc, want_rc);
    assert_string_equal(log, whole);
    free(log);
    free(cuts);

    /* two pieces */
    for (size_t i = 0; i <= len; i++) {
        rc = parse_split(boundary, body, len, &i, 1, stop_at_begin, &log);
        assert_int_equal(rc, want_rc);
        assert_string_equal(log, whole);
        free(log);
    }

    /* three pieces, for short bodies */
    if (len <= 400) {
        for (size_t i = 0; i <= len; i++) {
            for (size_t j = i; j <= len; j++) {
                size_t c2[2] = {i, j};
                rc = parse_split(boundary, body, len, c2, 2, stop_at_begin, &log);
                assert_int_equal(rc, want_rc);
                assert_string_equal(log, whole);
                free(log);
            }
        }
    }
    free(whole);
}

static size_t len_or_0(const char *s)
{
    return s ? strlen(s) : 0;
}

#define CHECK(b, body, rc, log) check_case(b, body, sizeof(body) - 1, rc, log, len_or_0(log), 0)

/* ---- cases ---- */

static void test_two_parts(void **state)
{
    (void)state;
    CHECK("XyZ",
          "--XyZ\r\n"
          "Content-Disposition: form-data; name=\"field\"\r\n"
          "\r\n"
          "value\r\n"
          "--XyZ\r\n"
          "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
          "Content-Type: text/plain\r\n"
          "\r\n"
          "hello\nworld\r\n"
          "--XyZ--\r\n",
          MP_OK,
          "[begin name=field filename=(none) type=(none)]value[end]"
          "[begin name=file filename=a.txt type=text/plain]hello\nworld[end]");
}

static void test_preamble_epilogue(void **state)
{
    (void)state;
    CHECK("b",
          "This is the preamble.\r\n-b is not here, nor is --b\r\n"
          "--b\r\n"
          "Content-Disposition: form-data; name=x; filename=y\r\n"
          "\r\n"
          "1\r\n"
          "--b--\r\n"
          "epilogue\r\n--b\r\nmore junk",
          MP_OK, "[begin name=x filename=y type=(none)]1[end]");
}

static void test_empty_body_and_no_parts(void **state)
{
    (void)state;
    CHECK("b", "", MP_ERR_TRUNCATED, "");
    CHECK("b", "--b--", MP_OK, "");
    CHECK("b", "--b--\r\n", MP_OK, "");
}

static void test_missing_final_boundary(void **state)
{
    (void)state;
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a; filename=f\r\n\r\ndata", MP_ERR_TRUNCATED,
          "[begin name=a filename=f type=(none)]data");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--b\r\n", MP_ERR_TRUNCATED,
          "[begin name=a filename=(none) type=(none)]data[end]");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--b", MP_ERR_TRUNCATED, NULL);
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--b-", MP_ERR_TRUNCATED, NULL);
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n", MP_ERR_TRUNCATED, "");
    CHECK("b", "preamble only", MP_ERR_TRUNCATED, "");
}

static void test_params(void **state)
{
    (void)state;
    /* quoted with escapes and ';' inside, unquoted, case-insensitive keys, filename* ignored */
    CHECK("b",
          "--b\r\n"
          "content-disposition:form-data;NAME=\"a;b\\\"c\" ;  FileName = \"x \\\\ y.txt\"; filename*=UTF-8''z\r\n"
          "\r\n"
          "1\r\n"
          "--b\r\n"
          "Content-Disposition: form-data; filename=plain.bin; name=n2\r\n"
          "\r\n"
          "2\r\n"
          "--b\r\n"
          "Content-Disposition: form-data; name=\"\"; filename=\"\"\r\n"
          "\r\n"
          "\r\n"
          "--b\r\n"
          "Content-Disposition: form-data; filename=\"C:\\dir\\f.txt\"\r\n"
          "\r\n"
          "4\r\n"
          "--b--",
          MP_OK,
          "[begin name=a;b\"c filename=x \\ y.txt type=(none)]1[end]"
          "[begin name=n2 filename=plain.bin type=(none)]2[end]"
          "[begin name= filename= type=(none)][end]"
          "[begin name=(none) filename=C:\\dir\\f.txt type=(none)]4[end]");
}

static void test_no_headers_and_empty_part(void **state)
{
    (void)state;
    CHECK("b", "--b\r\n\r\n\r\n--b\r\n\r\nx\r\n--b--", MP_OK,
          "[begin name=(none) filename=(none) type=(none)][end]"
          "[begin name=(none) filename=(none) type=(none)]x[end]");
}

static void test_padding_after_boundary(void **state)
{
    (void)state;
    CHECK("b", "--b \t \r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b  \r\n\r\ny\r\n--b--", MP_OK,
          "[begin name=a filename=(none) type=(none)]x[end][begin name=(none) filename=(none) type=(none)]y[end]");
}

static void test_near_delimiters_in_data(void **state)
{
    (void)state;
    CHECK("bound",
          "--bound\r\nContent-Disposition: form-data; name=f; filename=f\r\n\r\n"
          "\r\r\n\r\n-\r\n--\r\n--b\r\n--boun\r\r\n--boun--bound\n--bound\r\n-bound\r"
          "\r\n--bound--",
          MP_OK,
          "[begin name=f filename=f type=(none)]"
          "\r\r\n\r\n-\r\n--\r\n--b\r\n--boun\r\r\n--boun--bound\n--bound\r\n-bound\r[end]");
}

static void test_binary_data(void **state)
{
    (void)state;
    static const char body[] = "--q\r\nContent-Disposition: form-data; name=f; filename=bin\r\n\r\n"
                               "\0\1\2\r\0\n\377\r\n-\0--q\r\n--q--";
    /* "--q" not after a CRLF is content */
    static const char want[] = "[begin name=f filename=bin type=(none)]\0\1\2\r\0\n\377\r\n-\0--q[end]";
    char *log;
    int rc = parse_split("q", body, sizeof body - 1, NULL, 0, 0, &log);
    assert_int_equal(rc, MP_OK);
    assert_memory_equal(log, want, sizeof want - 1);
    free(log);
    /* split everywhere: compare as memory (the log holds NULs) */
    for (size_t i = 0; i <= sizeof body - 1; i++) {
        rc = parse_split("q", body, sizeof body - 1, &i, 1, 0, &log);
        assert_int_equal(rc, MP_OK);
        assert_memory_equal(log, want, sizeof want - 1);
        free(log);
    }
}

static void test_syntax_errors(void **state)
{
    (void)state;
    /* garbage after the boundary on a delimiter line */
    CHECK("b", "--b\r\n\r\nx\r\n--bx\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, NULL);
    CHECK("b", "--bb\r\n", MP_ERR_SYNTAX, NULL);
    CHECK("b", "--b\n\r\n", MP_ERR_SYNTAX, NULL);
    CHECK("b", "--b\r\r\n", MP_ERR_SYNTAX, NULL);
    CHECK("b", "--b-x", MP_ERR_SYNTAX, NULL);
    /* header lines */
    CHECK("b", "--b\r\nNo colon here\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, "");
    CHECK("b", "--b\r\nX-A: 1\r\n folded\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, "");
    CHECK("b", "--b\r\nX-A : 1\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, "");
    CHECK("b", "--b\r\n: 1\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, "");
    CHECK("b", "--b\r\nX-A: 1\n2\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, "");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=\"unterminated\r\n\r\n\r\n--b--", MP_ERR_SYNTAX,
          "");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=\"a\" junk\r\n\r\n\r\n--b--", MP_ERR_SYNTAX, "");
    CHECK("b",
          "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\n\r\n--b--",
          MP_ERR_SYNTAX, "");
}

static void test_header_block_bound(void **state)
{
    (void)state;
    char *body = malloc(MP_HEADER_MAX + 200);
    int n = sprintf(body, "--b\r\nX-Long: ");
    /* exactly at the limit: accepted */
    size_t fill = MP_HEADER_MAX - 8 - 4; /* the block: "X-Long: " fill "\r\n\r\n" */
    memset(body + n, 'a', fill);
    n += (int)fill;
    n += sprintf(body + n, "\r\n\r\nx\r\n--b--");
    char *log;
    assert_int_equal(parse_split("b", body, (size_t)n, NULL, 0, 0, &log), MP_OK);
    free(log);
    /* one byte more: refused */
    memmove(body + 14, body + 13, (size_t)n - 13);
    assert_int_equal(parse_split("b", body, (size_t)n + 1, NULL, 0, 0, &log), MP_ERR_HEADER_SIZE);
    free(log);
    free(body);
}

static void test_boundary_70(void **state)
{
    (void)state;
    const char *b70 = "0123456789'()+_,-./:=? abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU";
    assert_int_equal(strlen(b70), 70);
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "pre\r\n--%s\r\nContent-Disposition: form-data; name=f; filename=\"a\"\r\n\r\n"
                     "--%.69s\r\n--%s--\r\n",
                     b70, b70, b70);
    check_case(b70, body, (size_t)n, MP_OK, NULL, 0, 0);
    char *log;
    assert_int_equal(parse_split(b70, body, (size_t)n, NULL, 0, 0, &log), MP_OK);
    char want[256];
    snprintf(want, sizeof want, "[begin name=f filename=a type=(none)]--%.69s[end]", b70);
    assert_string_equal(log, want);
    free(log);

    static mp_parser p;
    char b71[72];
    memset(b71, 'x', 71);
    b71[71] = '\0';
    assert_int_equal(mp_init(&p, b71, 71, &cbs, NULL), MP_ERR_BOUNDARY);
    assert_int_equal(mp_feed(&p, "x", 1), MP_ERR_BOUNDARY);
    assert_int_equal(mp_init(&p, "", 0, &cbs, NULL), MP_ERR_BOUNDARY);
    assert_int_equal(mp_init(&p, "a\rb", 3, &cbs, NULL), MP_ERR_BOUNDARY);
    assert_int_equal(mp_init(&p, "ab ", 3, &cbs, NULL), MP_ERR_BOUNDARY);
}

static void test_callback_stops(void **state)
{
    (void)state;
    static const char body[] = "--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b--";
    check_case("b", body, sizeof body - 1, MP_ERR_CALLBACK, NULL, 0, 2);
    char *log;
    assert_int_equal(parse_split("b", body, sizeof body - 1, NULL, 0, 2, &log), MP_ERR_CALLBACK);
    assert_string_equal(log, "[begin name=(none) filename=(none) type=(none)]1[end]"
                             "[begin name=(none) filename=(none) type=(none)]");
    free(log);
}

/* An earlier server lost this one: curl's boundary, a part with an empty
 * name, and a Python script as its content. */
static void test_regression_form_py(void **state)
{
    (void)state;
    static const char script[] =
        "#!/usr/bin/env python3\n"
        "import cgi, os\r\n"
        "\n"
        "form = cgi.FieldStorage()\n"
        "print(\"Content-Type: text/html\\r\\n\\r\\n\")\n"
        "print('--------------------------631254724589857935214018 is not a boundary here')\n"
        "for k in form.keys():\n"
        "    print(k, '=', form.getvalue(k))\r\n"
        "# end --\r\n-\r\n--\r\n";
    const char *boundary = "--------------------------631254724589857935214018";
    char *body = malloc(4096);
    int n = snprintf(body, 4096,
                     "--%s\r\n"
                     "Content-Disposition: form-data; name=\"\"; filename=\"form.py\"\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "\r\n"
                     "%s\r\n"
                     "--%s--\r\n",
                     boundary, script, boundary);
    char want[4096];
    snprintf(want, sizeof want, "[begin name= filename=form.py type=application/octet-stream]%s[end]", script);
    check_case(boundary, body, (size_t)n, MP_OK, want, strlen(want), 0);

    char ct[200], out[MP_BOUNDARY_MAX + 1];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", boundary);
    assert_int_equal(mp_boundary_of(ct, out), (int)strlen(boundary));
    assert_string_equal(out, boundary);
    free(body);
}

static void test_boundary_of(void **state)
{
    (void)state;
    char out[MP_BOUNDARY_MAX + 1];
    assert_int_equal(mp_boundary_of("multipart/form-data; boundary=abc", out), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(mp_boundary_of("Multipart/Form-Data ;charset=utf-8; BOUNDARY=\"a b:c\"", out), 5);
    assert_string_equal(out, "a b:c");
    assert_int_equal(mp_boundary_of("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", out),
                     (int)strlen("----WebKitFormBoundary7MA4YWxkTrZu0gW"));
    assert_int_equal(mp_boundary_of("multipart/form-data; boundary=x; boundary=y", out), 1);
    assert_string_equal(out, "x");
    assert_int_equal(mp_boundary_of("multipart/mixed; boundary=abc", out), -1);
    assert_int_equal(mp_boundary_of("text/plain", out), -1);
    assert_int_equal(mp_boundary_of("multipart/form-data", out), -1);
    assert_int_equal(mp_boundary_of("multipart/form-data; boundary=", out), -1);
    assert_int_equal(mp_boundary_of("multipart/form-data; boundary=\"\"", out), -1);
    assert_int_equal(mp_boundary_of("multipart/form-data; boundary=\"unterminated", out), -1);
    assert_int_equal(
        mp_boundary_of("multipart/form-data; boundary=12345678901234567890123456789012345678901234567890123456789012345678901",
                       out),
        -1);
    assert_int_equal(mp_boundary_of(NULL, out), -1);
    assert_true(mp_is_form_data(" multipart/form-data ; boundary=x"));
    assert_false(mp_is_form_data("multipart/form-datax"));
}

static void test_param(void **state)
{
    (void)state;
    char out[64];
    size_t len = 0;
    const char *v = "form-data; filename=\"f\"; name=n";
    assert_int_equal(mp_param(v, strlen(v), "name", out, sizeof out, &len), 1);
    assert_string_equal(out, "n");
    assert_int_equal(mp_param(v, strlen(v), "filename", out, sizeof out, &len), 1);
    assert_string_equal(out, "f");
    assert_int_equal(mp_param(v, strlen(v), "size", out, sizeof out, &len), 0);
    v = "form-data;";
    assert_int_equal(mp_param(v, strlen(v), "name", out, sizeof out, &len), 0);
    v = "form-data; flag; name=x";
    assert_int_equal(mp_param(v, strlen(v), "name", out, sizeof out, &len), 1);
    assert_string_equal(out, "x");
    v = "form-data; name=\"0123456789\"";
    assert_int_equal(mp_param(v, strlen(v), "name", out, 10, &len), -1);
    assert_int_equal(mp_param(v, strlen(v), "name", out, 11, &len), 1);
    v = "form-data; name=\"a\\b\\\\c\"";
    assert_int_equal(mp_param(v, strlen(v), "name", out, sizeof out, &len), 1);
    assert_string_equal(out, "a\\b\\c");
    v = "form-data; =x";
    assert_int_equal(mp_param(v, strlen(v), "name", out, sizeof out, &len), -1);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(mp_strerror(MP_OK), "ok");
    assert_non_null(strstr(mp_strerror(MP_ERR_TRUNCATED), "final boundary"));
    assert_non_null(mp_strerror(12345));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_parts),
        cmocka_unit_test(test_preamble_epilogue),
        cmocka_unit_test(test_empty_body_and_no_parts),
        cmocka_unit_test(test_missing_final_boundary),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_no_headers_and_empty_part),
        cmocka_unit_test(test_padding_after_boundary),
        cmocka_unit_test(test_near_delimiters_in_data),
        cmocka_unit_test(test_binary_data),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_header_block_bound),
        cmocka_unit_test(test_boundary_70),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_regression_form_py),
        cmocka_unit_test(test_boundary_of),
        cmocka_unit_test(test_param),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

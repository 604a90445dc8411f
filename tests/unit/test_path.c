/*
 * Path normalisation: percent-decoding and dot-segment removal, with the
 * traversal tricks (%2e%2e, %2f, ..) that must never climb above the root.
 * Input and output both sit right before a PROT_NONE page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "guardpage.h"
#include "http_parse.h"

#define GUARD_CAP 16384
static char *in_end, *out_end; /* each the first byte of a PROT_NONE page */

static int group_setup(void **state)
{
    (void)state;
    in_end = guard_region(GUARD_CAP);
    out_end = guard_region(GUARD_CAP);
    return 0;
}

typedef struct path_case {
    const char *in;
    size_t in_len;
    const char *want; /* NULL: -1 expected */
} path_case;

#define RAW(s) (s), sizeof(s) - 1

static const path_case cases[] = {
    /* plain */
    {RAW("/"), "/"},
    {RAW("/a"), "/a"},
    {RAW("/a/b"), "/a/b"},
    {RAW("/a/b/"), "/a/b/"},
    {RAW("/index.html"), "/index.html"},
    /* already normal: copied as they are (http_parse.c already_normal) */
    {RAW("/a./b."), "/a./b."},
    {RAW("/a/b.c/"), "/a/b.c/"},
    {RAW("/\xc3\xa9/x~-_"), "/\xc3\xa9/x~-_"},
    {RAW("/a/b//"), "/a/b/"},
    {RAW("/a/b/."), "/a/b/"},
    /* repeated slashes */
    {RAW("//"), "/"},
    {RAW("//a///b//"), "/a/b/"},
    {RAW("///etc/passwd"), "/etc/passwd"},
    /* dot segments */
    {RAW("/."), "/"},
    {RAW("/./"), "/"},
    {RAW("/a/./b"), "/a/b"},
    {RAW("/a/."), "/a/"},
    {RAW("/a/./"), "/a/"},
    {RAW("/a/../b"), "/b"},
    {RAW("/a/.."), "/"},
    {RAW("/a/b/.."), "/a/"},
    {RAW("/a/b/../"), "/a/"},
    {RAW("/a/b/../../c"), "/c"},
    {RAW("/a//..//b"), "/b"},
    {RAW("/..."), "/..."},
    {RAW("/.a"), "/.a"},
    {RAW("/a.."), "/a.."},
    {RAW("/..a/b"), "/..a/b"},
    {RAW("/.well-known/x"), "/.well-known/x"},
    /* above the root */
    {RAW("/.."), NULL},
    {RAW("/../"), NULL},
    {RAW("/../a"), NULL},
    {RAW("/a/../.."), NULL},
    {RAW("/a/../../etc/passwd"), NULL},
    {RAW("/.//../"), NULL},
    {RAW("/a/b/../../../"), NULL},
    /* escapes */
    {RAW("/%41%62"), "/Ab"},
    {RAW("/a%20b"), "/a b"},
    {RAW("/%c3%a9"), "/\xc3\xa9"},
    {RAW("/%25"), "/%"},
    {RAW("/%2525"), "/%25"},
    {RAW("/a%3Fb"), "/a?b"},
    {RAW("/%"), NULL},
    {RAW("/%4"), NULL},
    {RAW("/a%"), NULL},
    {RAW("/%zz"), NULL},
    {RAW("/%g1"), NULL},
    {RAW("/%1g"), NULL},
    {RAW("/% 1"), NULL},
    {RAW("/%+1"), NULL},
    /* encoded dots and slashes take part in the resolution */
    {RAW("/%2e"), "/"},
    {RAW("/%2e%2e"), NULL},
    {RAW("/%2E%2E/"), NULL},
    {RAW("/%2e%2e/etc/passwd"), NULL},
    {RAW("/.%2e/"), NULL},
    {RAW("/%2e./"), NULL},
    {RAW("/a/%2e%2e/%2e%2e/etc"), NULL},
    {RAW("/a/%2E%2E"), "/"},
    {RAW("/a%2fb"), "/a/b"},
    {RAW("/a%2F..%2F..%2Fetc"), NULL},
    {RAW("/a%2f%2e%2e"), "/"},
    {RAW("/%2f%2f"), "/"},
    {RAW("/%2fetc/passwd"), "/etc/passwd"},
    {RAW("/%252e%252e/"), "/%2e%2e/"},
    /* NUL and control characters */
    {RAW("/%00"), NULL},
    {RAW("/a%00.html"), NULL},
    {RAW("/a\0b"), NULL},
    {RAW("/%0a"), NULL},
    {RAW("/%0D%0A"), NULL},
    {RAW("/%1f"), NULL},
    {RAW("/%7f"), NULL},
    {RAW("/\x01"), NULL},
    {RAW("/a\tb"), NULL},
    {RAW("/\x7f"), NULL},
    /* not a path */
    {RAW(""), NULL},
    {RAW("a/b"), NULL},
    {RAW("%2fa"), NULL},
    {RAW("."), NULL},
    {RAW("*"), NULL},
};

static void run_case(const path_case *c)
{
    const char *in = in_end - c->in_len;
    memmove((char *)in, c->in, c->in_len);
    /* An output buffer of exactly the required n + 1 bytes. */
    size_t cap = c->in_len + 1;
    char *out = out_end - cap;
    long r = http_normalize_path(in, c->in_len, out, cap);
    if (c->want == NULL) {
        if (r != -1)
            fail_msg("'%.*s': expected -1, got '%s'", (int)c->in_len, c->in, out);
        return;
    }
    if (r < 0)
        fail_msg("'%.*s': expected '%s', got -1", (int)c->in_len, c->in, c->want);
    if ((size_t)r != strlen(c->want) || strcmp(out, c->want) != 0)
        fail_msg("'%.*s': expected '%s', got '%s' (%ld)", (int)c->in_len, c->in, c->want, out, r);
    /* A normalised path without '%' is a fixed point. */
    if (strchr(out, '%') == NULL) {
        char *again = out_end - ((size_t)r + 1);
        char copy[GUARD_CAP];
        memcpy(copy, out, (size_t)r + 1);
        assert_int_equal(http_normalize_path(copy, (size_t)r, again, (size_t)r + 1), r);
        assert_string_equal(again, copy);
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

static void test_small_output(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(http_normalize_path("/abc", 4, out, 4), -1);
    assert_int_equal(http_normalize_path("/abc", 4, out, 5), 4);
    assert_string_equal(out, "/abc");
    assert_int_equal(http_normalize_path(NULL, 0, out, sizeof out), -1);
}

/* A deep path of "..": fine as long as it never goes above the root. */
static void test_deep(void **state)
{
    (void)state;
    static char in[GUARD_CAP], out[GUARD_CAP];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        memcpy(in + n, "/d", 2);
        n += 2;
    }
    for (int i = 0; i < 1000; i++) {
        memcpy(in + n, "/..", 3);
        n += 3;
    }
    assert_int_equal(http_normalize_path(in, n, out, sizeof out), 1);
    assert_string_equal(out, "/");
    memcpy(in + n, "/..", 3);
    assert_int_equal(http_normalize_path(in, n + 3, out, sizeof out), -1);
}

/* Every byte value in the middle of a path, as the fast path (a table,
 * already_normal) and the slow path (percent-decoding) see it: CTLs are
 * refused whether or not the path has a '%' elsewhere, '%' alone is a bad
 * escape, any other byte is kept as it is, in both. */
static void test_every_byte(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        char in[8], out[16];
        memcpy(in, "/a?b", 4);
        in[2] = (char)b;
        long plain = http_normalize_path(in, 4, out, sizeof out);
        memcpy(in, "/%41?b", 6); /* the same path with an escape: the slow path */
        in[4] = (char)b;
        long slow = http_normalize_path(in, 6, out, sizeof out);
        if (b < 0x20 || b == 0x7f || b == '%') {
            assert_int_equal(plain, -1);
            assert_int_equal(slow, -1);
        } else if (b == '/' || b == '.') {
            assert_true(plain > 0 && slow > 0);
        } else {
            assert_int_equal(plain, 4);
            assert_int_equal(slow, 4);
            assert_int_equal((unsigned char)out[2], b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_small_output),
        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_every_byte),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}

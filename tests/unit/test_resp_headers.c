/*
 * Response header fields as a list (core/request/resp_headers.c): add (copied
 * and by reference), get, set, remove and clear, case-insensitive names, the
 * order kept, repeated fields, and growth past the first block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "request.h"
#include "resp_headers.h"

static request *new_request(void)
{
    request *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->pool = arena_new(4096);
    assert_non_null(r->pool);
    return r;
}

static void free_request(request *r)
{
    arena_free(r->pool);
    free(r);
}

static void assert_fields(const request *r, const char *const *want, size_t n)
{
    assert_int_equal(r->resp_headers.n, n);
    for (size_t i = 0; i < n; i++) {
        const resp_header *f = &r->resp_headers.v[i];
        assert_string_equal(f->name, want[2 * i]);
        assert_string_equal(f->value, want[2 * i + 1]);
        assert_int_equal(f->name_len, strlen(want[2 * i]));
        assert_int_equal(f->value_len, strlen(want[2 * i + 1]));
    }
}

static void test_add_copies(void **state)
{
    (void)state;
    request *r = new_request();
    char name[] = "X-Thing", value[] = "one";
    assert_int_equal(resp_header_add(r, name, 7, value, 3), 0);
    /* The caller's buffers may change or go away: the list has its own copy. */
    strcpy(name, "X-Other");
    strcpy(value, "two");
    const char *want[] = {"X-Thing", "one"};
    assert_fields(r, want, 1);
    /* Lengths, not NUL terminators, say where a name and value end. */
    assert_int_equal(resp_header_add(r, "Content-Typexx", 12, "text/plain!!", 10), 0);
    assert_string_equal(resp_header_get(r, "content-type"), "text/plain");
    free_request(r);
}

static void test_get_is_case_insensitive_and_first(void **state)
{
    (void)state;
    request *r = new_request();
    assert_int_equal(resp_header_add_ref(r, "Set-Cookie", "a=1"), 0);
    assert_int_equal(resp_header_add_ref(r, "Vary", "Accept"), 0);
    assert_int_equal(resp_header_add_ref(r, "set-cookie", "b=2"), 0);
    assert_string_equal(resp_header_get(r, "SET-COOKIE"), "a=1");
    assert_string_equal(resp_header_get(r, "vary"), "Accept");
    assert_null(resp_header_get(r, "Location"));
    assert_null(resp_header_get(r, "Vary2"));
    free_request(r);
}

static void test_set_replaces_all_in_first_place(void **state)
{
    (void)state;
    request *r = new_request();
    resp_header_add_ref(r, "A", "1");
    resp_header_add_ref(r, "Cache-Control", "no-cache");
    resp_header_add_ref(r, "B", "2");
    resp_header_add_ref(r, "cache-control", "private");
    resp_header_add_ref(r, "C", "3");
    char v[] = "max-age=60";
    assert_int_equal(resp_header_set(r, "CACHE-CONTROL", v), 0);
    v[0] = 'X';
    const char *want[] = {"A", "1", "Cache-Control", "max-age=60", "B", "2", "C", "3"};
    assert_fields(r, want, 4);
    /* A name not there yet is added at the end. */
    assert_int_equal(resp_header_set(r, "Expires", "0"), 0);
    assert_int_equal(r->resp_headers.n, 5);
    assert_string_equal(r->resp_headers.v[4].name, "Expires");
    free_request(r);
}

static void test_remove(void **state)
{
    (void)state;
    request *r = new_request();
    resp_header_add_ref(r, "Server-Timing", "a");
    resp_header_add_ref(r, "ETag", "\"x\"");
    resp_header_add_ref(r, "server-timing", "b");
    resp_header_add_ref(r, "Content-Type", "text/html");
    assert_int_equal(resp_header_remove(r, "SERVER-TIMING"), 2);
    const char *want[] = {"ETag", "\"x\"", "Content-Type", "text/html"};
    assert_fields(r, want, 2);
    assert_int_equal(resp_header_remove(r, "Missing"), 0);
    assert_int_equal(resp_header_remove(r, "ETag"), 1);
    assert_int_equal(resp_header_remove(r, "Content-Type"), 1);
    assert_int_equal(r->resp_headers.n, 0);
    free_request(r);
}

/* Names are matched by length first (resp_headers.c named): same-length
 * names must still be told apart, prefixes never match. */
static void test_same_length_names(void **state)
{
    (void)state;
    request *r = new_request();
    resp_header_add_ref(r, "X-A", "1");
    resp_header_add_ref(r, "X-B", "2");
    resp_header_add_ref(r, "X-AB", "3");
    assert_string_equal(resp_header_get(r, "x-b"), "2");
    assert_string_equal(resp_header_get(r, "X-ab"), "3");
    assert_null(resp_header_get(r, "X-"));
    assert_int_equal(resp_header_set(r, "x-b", "two"), 0);
    const char *want[] = {"X-A", "1", "X-B", "two", "X-AB", "3"};
    assert_fields(r, want, 3);
    assert_int_equal(resp_header_remove(r, "X-A"), 1);
    const char *left[] = {"X-B", "two", "X-AB", "3"};
    assert_fields(r, left, 2);
    free_request(r);
}

static void test_growth_and_clear(void **state)
{
    (void)state;
    request *r = new_request();
    char name[32], value[32];
    for (int i = 0; i < 100; i++) {
        int nn = snprintf(name, sizeof name, "X-H%d", i), vn = snprintf(value, sizeof value, "v%d", i);
        assert_int_equal(resp_header_add(r, name, (size_t)nn, value, (size_t)vn), 0);
    }
    assert_int_equal(r->resp_headers.n, 100);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "x-h%d", i);
        snprintf(value, sizeof value, "v%d", i);
        assert_string_equal(resp_header_get(r, name), value);
    }
    resp_headers_clear(r);
    assert_int_equal(r->resp_headers.n, 0);
    assert_null(resp_header_get(r, "X-H1"));
    assert_int_equal(resp_header_add_ref(r, "After", "clear"), 0);
    assert_string_equal(resp_header_get(r, "after"), "clear");
    free_request(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_copies),
        cmocka_unit_test(test_get_is_case_insensitive_and_first),
        cmocka_unit_test(test_set_replaces_all_in_first_place),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_same_length_names),
        cmocka_unit_test(test_growth_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Arena (bump allocator) tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static void test_alignment_and_zeroed(void **state)
{
    (void)state;
    arena *a = arena_new(256);
    assert_non_null(a);
    for (size_t n = 0; n < 300; n++) {
        unsigned char *p = arena_alloc(a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_true(all_zero(p, n));
        memset(p, 0xab, n); /* dirty it: later allocations must still be zeroed */
    }
    arena_free(a);
}

static void test_default_first_block(void **state)
{
    (void)state;
    arena *a = arena_new(0);
    assert_non_null(a);
    char *p = arena_alloc(a, 100);
    assert_non_null(p);
    arena_free(a);
    arena_free(NULL);
}

/* Pattern-filled allocations of random sizes survive every later one:
 * catches blocks that overlap or get freed too early. */
static void test_many_allocations_disjoint(void **state)
{
    (void)state;
    enum { N = 20000 };
    arena *a = arena_new(1024);
    static unsigned char *ptr[N];
    static size_t len[N];
    srand(777);
    for (int i = 0; i < N; i++) {
        len[i] = (size_t)(rand() % 700);
        if (i % 997 == 0)
            len[i] = 100000 + (size_t)rand() % 50000; /* an occasional big one */
        ptr[i] = arena_alloc(a, len[i]);
        assert_non_null(ptr[i]);
        assert_int_equal((uintptr_t)ptr[i] % 16, 0);
        memset(ptr[i], i & 0xff, len[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < len[i]; k++)
            assert_int_equal(ptr[i][k], i & 0xff);
    arena_free(a);
}

static void test_large_allocation(void **state)
{
    (void)state;
    arena *a = arena_new(128);
    char *small1 = arena_alloc(a, 16);
    char *big = arena_alloc(a, 1 << 20);
    assert_non_null(big);
    assert_int_equal((uintptr_t)big % 16, 0);
    assert_true(all_zero((unsigned char *)big, 1 << 20));
    memset(big, 'x', 1 << 20);
    /* The big block did not take over the current one: the next small
     * allocation still comes right after the first. */
    char *small2 = arena_alloc(a, 16);
    assert_ptr_equal(small2, small1 + 16);
    arena_free(a);
}

static void test_overflow_sizes(void **state)
{
    (void)state;
    arena *a = arena_new(64);
    assert_null(arena_alloc(a, SIZE_MAX));
    assert_null(arena_alloc(a, SIZE_MAX - 8));
    assert_null(arena_alloc(a, SIZE_MAX - 20)); /* aligns fine, block header overflows */
    assert_null(arena_new(SIZE_MAX));
    assert_null(arena_new(SIZE_MAX - 40)); /* fits size_t, not with the header */
    /* Still usable afterwards. */
    assert_non_null(arena_alloc(a, 32));
    arena_free(a);
}

static void test_reset_keeps_first_block(void **state)
{
    (void)state;
    arena *a = arena_new(512);
    char *first = arena_alloc(a, 32);
    memset(first, 0x5a, 32);
    for (int i = 0; i < 100; i++)
        assert_non_null(arena_alloc(a, 200)); /* spill into more blocks */
    assert_non_null(arena_alloc(a, 100000));
    arena_reset(a);
    char *again = arena_alloc(a, 32);
    assert_ptr_equal(again, first);
    assert_true(all_zero((unsigned char *)again, 32));
    /* Reset and refill repeatedly: ASan would report lost blocks. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 40; i++)
            assert_non_null(arena_alloc(a, (size_t)(i * 37)));
        arena_reset(a);
    }
    arena_free(a);
}

static void test_strdup(void **state)
{
    (void)state;
    arena *a = arena_new(64);
    char *s = arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    assert_string_equal(arena_strdup(a, ""), "");
    assert_string_equal(arena_strndup(a, "hello world", 5), "hello");
    assert_string_equal(arena_strndup(a, "hi", 100), "hi");
    assert_string_equal(arena_strndup(a, "abc", 0), "");
    /* strndup must not read past n: the source has no terminator. */
    char raw[4] = {'w', 'x', 'y', 'z'};
    assert_string_equal(arena_strndup(a, raw, 4), "wxyz");
    char longer[5000];
    memset(longer, 'q', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    char *copy = arena_strdup(a, longer);
    assert_string_equal(copy, longer);
    assert_ptr_not_equal(copy, longer);
    assert_string_equal(s, "hello"); /* earlier strings intact */
    arena_free(a);
}

static void test_printf(void **state)
{
    (void)state;
    arena *a = arena_new(64);
    char *s = arena_printf(a, "%s-%d", "abc", 42);
    assert_string_equal(s, "abc-42");
    assert_int_equal((uintptr_t)s % 16, 0);
    assert_string_equal(arena_printf(a, "%s", ""), "");
    /* Longer than the free space, and longer than a block. */
    char *mid = arena_printf(a, "%040d", 7);
    assert_int_equal(strlen(mid), 40);
    char *big = arena_printf(a, "%05000d|%s", 1, "end");
    assert_int_equal(strlen(big), 5004);
    assert_string_equal(big + 5000, "|end");
    /* Earlier results are not overwritten by the in-place attempt. */
    assert_string_equal(s, "abc-42");
    for (int i = 0; i < 1000; i++) {
        char *t = arena_printf(a, "n=%d", i);
        char want[32];
        snprintf(want, sizeof want, "n=%d", i);
        assert_string_equal(t, want);
    }
    assert_string_equal(mid + 39, "7");
    arena_free(a);
}

/* Zero-size allocations are distinct, usable pointers. */
static void test_zero_size(void **state)
{
    (void)state;
    arena *a = arena_new(64);
    void *p = arena_alloc(a, 0);
    void *q = arena_alloc(a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_zeroed),
        cmocka_unit_test(test_default_first_block),
        cmocka_unit_test(test_many_allocations_disjoint),
        cmocka_unit_test(test_large_allocation),
        cmocka_unit_test(test_overflow_sizes),
        cmocka_unit_test(test_reset_keeps_first_block),
        cmocka_unit_test(test_strdup),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_zero_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * nghttp2's big blocks outside the malloc heap (core/h2/h2_mem.c): small
 * blocks come from malloc, big ones from the region in whole pages, reused
 * last-freed-first, zeroed by calloc even when reused; realloc keeps the
 * bytes whichever way a block moves; h2_mem_trim gives the pages of the free
 * blocks back (mincore says they are gone, and they read as zeros); a full
 * region falls back to malloc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h2_mem.h"

#define FRAMEBUF 16394 /* nghttp2's frame buffer: 5 pages */

static void *m(size_t n) { return h2_mem.malloc(n, NULL); }
static void f(void *p) { h2_mem.free(p, NULL); }
static void *c(size_t k, size_t n) { return h2_mem.calloc(k, n, NULL); }
static void *r(void *p, size_t n) { return h2_mem.realloc(p, n, NULL); }

static h2_mem_stats stats(void)
{
    h2_mem_stats s;
    h2_mem_get_stats(&s);
    return s;
}

/* Pages of [p, p+n) that are resident. */
static size_t resident(void *p, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (n + (size_t)page - 1) / (size_t)page, k = 0;
    unsigned char v[64];
    assert_true(pages <= sizeof v);
    assert_int_equal(mincore(p, n, v), 0);
    for (size_t i = 0; i < pages; i++)
        k += v[i] & 1;
    return k;
}

static int setup(void **state)
{
    (void)state;
    return h2_mem_set_region_bytes((size_t)16 << 20) == 0 ? 0 : -1;
}

static void test_small_blocks_from_malloc(void **state)
{
    (void)state;
    void *p = m(H2_MEM_BIG - 1);
    assert_non_null(p);
    memset(p, 1, H2_MEM_BIG - 1);
    assert_int_equal(stats().live_blocks, 0);
    f(p);
    f(NULL); /* like free(NULL) */
}

static void test_big_blocks_from_the_region_and_reused(void **state)
{
    (void)state;
    if (sysconf(_SC_PAGESIZE) != 4096)
        skip();
    char *a = m(FRAMEBUF), *b = m(4096), *s = m(2928);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(s);
    h2_mem_stats st = stats();
    assert_int_equal(st.live_blocks, 3);
    assert_int_equal(st.used_pages, 5 + 1 + 1);
    assert_true(st.region_bytes >= (size_t)16 << 20);
    assert_int_equal(((uintptr_t)a | (uintptr_t)b | (uintptr_t)s) % 4096, 0); /* whole pages */
    memset(a, 0xaa, FRAMEBUF);
    memset(b, 0xbb, 4096);
    memset(s, 0xcc, 2928);
    f(a);
    assert_int_equal(stats().free_blocks, 1);
    char *a2 = m(FRAMEBUF - 9); /* 16,385 bytes, 5 pages too: the block just freed */
    assert_ptr_equal(a2, a);
    f(a2);
    char *z = c(1, FRAMEBUF); /* reused, and still all zeros */
    assert_ptr_equal(z, a);
    for (size_t i = 0; i < FRAMEBUF; i++)
        assert_int_equal(z[i], 0);
    f(z);
    f(b);
    f(s);
    st = stats();
    assert_int_equal(st.live_blocks, 0);
    assert_int_equal(st.free_blocks, 3);
    assert_int_equal(st.used_pages, 7); /* nothing new carved */
}

static void test_trim_gives_the_pages_back(void **state)
{
    (void)state;
    if (sysconf(_SC_PAGESIZE) != 4096)
        skip();
    enum { N = 20 };
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = m(FRAMEBUF);
        assert_non_null(p[i]);
        memset(p[i], 0x5a, FRAMEBUF);
        assert_int_equal(resident(p[i], FRAMEBUF), 5);
    }
    for (int i = 0; i < N; i++)
        f(p[i]);
    assert_int_equal(stats().unreleased, stats().free_blocks);
    for (int i = 0; i < N; i++)
        assert_int_equal(resident(p[i], FRAMEBUF), 5); /* freed, not yet given back */
    h2_mem_trim();
    assert_int_equal(stats().unreleased, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(resident(p[i], FRAMEBUF), 0);
    char *q = m(FRAMEBUF); /* a trimmed block given again reads as zeros */
    assert_non_null(q);
    for (size_t i = 0; i < FRAMEBUF; i++)
        assert_int_equal(q[i], 0);
    memset(q, 1, FRAMEBUF);
    f(q);
    assert_int_equal(stats().unreleased, 1); /* only the one used since */
    h2_mem_trim();
    assert_int_equal(resident(q, FRAMEBUF), 0);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 7 + seed);
}

static void check(const char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(p[i], (char)(i * 7 + seed));
}

static void test_realloc_keeps_the_bytes(void **state)
{
    (void)state;
    size_t live = stats().live_blocks;
    char *p = r(NULL, 100); /* realloc(NULL) allocates */
    fill(p, 100, 1);
    p = r(p, 1000); /* small to small */
    check(p, 100, 1);
    fill(p, 1000, 2);
    p = r(p, 6000); /* small to big: into the region */
    assert_int_equal(stats().live_blocks, live + 1);
    check(p, 1000, 2);
    fill(p, 6000, 3);
    char *same = r(p, 8000); /* 2 pages still hold it: in place */
    assert_ptr_equal(same, p);
    check(p, 6000, 3);
    fill(p, 8000, 4);
    p = r(p, 20000); /* more pages: moved */
    check(p, 8000, 4);
    fill(p, 20000, 5);
    p = r(p, 3000); /* fewer pages: stays */
    check(p, 3000, 5);
    p = r(p, 50); /* big to small */
    check(p, 50, 5);
    p = r(p, 40000); /* larger than the region's blocks: malloc */
    check(p, 50, 5);
    f(p);
    assert_int_equal(stats().live_blocks, live);
}

static void test_a_full_region_falls_back_to_malloc(void **state)
{
    (void)state;
    if (sysconf(_SC_PAGESIZE) != 4096)
        skip();
    h2_mem_trim();
    assert_int_equal(h2_mem_set_region_bytes(64 * 4096), 0); /* 1 page of sizes, 63 for blocks */
    char *p[12];
    for (int i = 0; i < 12; i++) {
        p[i] = m(FRAMEBUF);
        assert_non_null(p[i]);
        memset(p[i], i, FRAMEBUF);
    }
    h2_mem_stats st = stats();
    assert_int_equal(st.live_blocks, 12);
    assert_int_equal(st.used_pages, 60);
    void *more = m(FRAMEBUF); /* 3 pages left: from malloc */
    assert_non_null(more);
    st = stats();
    assert_int_equal(st.fallbacks, 1);
    assert_int_equal(st.live_blocks, 12);
    memset(more, 9, FRAMEBUF);
    f(more);
    assert_int_equal(h2_mem_set_region_bytes(64 * 4096), -1); /* blocks live */
    for (int i = 0; i < 12; i++)
        f(p[i]);
    assert_int_equal(h2_mem_set_region_bytes((size_t)16 << 20), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_blocks_from_malloc),
        cmocka_unit_test(test_big_blocks_from_the_region_and_reused),
        cmocka_unit_test(test_trim_gives_the_pages_back),
        cmocka_unit_test(test_realloc_keeps_the_bytes),
        cmocka_unit_test(test_a_full_region_falls_back_to_malloc),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

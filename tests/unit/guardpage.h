/*
 * Memory that ends right before a PROT_NONE page, for the parser tests: an
 * input copied to the end of a region makes a read one byte too far crash
 * the test. For cmocka tests (cmocka.h comes before this header).
 */
#ifndef GUARDPAGE_H
#define GUARDPAGE_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A region of at least cap bytes; returns its end, the first byte of the PROT_NONE page. */
static inline char *guard_region(size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (cap + page - 1) / page * page;
    char *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(mprotect(base + size, page, PROT_NONE), 0);
    return base + size;
}

/* Copies src[0..n) so that it ends exactly at end (the end of a region of cap bytes). */
static inline const char *guard_copy(char *end, size_t cap, const char *src, size_t n)
{
    assert_true(n <= cap);
    memmove(end - n, src, n);
    return end - n;
}

#endif

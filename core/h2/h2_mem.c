/*
 * nghttp2's big blocks outside the malloc heap.
 *
 * An awake HTTP/2 session holds ~27 KiB of nghttp2's: its frame buffer
 * (16,394 bytes), its stream map (4,096), the session itself (2,928), and
 * small pieces. They go when the session sleeps (h2_idle.c), 100 ms after its
 * last stream. In the malloc heap they lay between the long-lived allocations
 * of the connections accepted in those 100 ms (OpenSSL's SSL object, keys,
 * ours), and the holes they left were filled only in part: pages that hold a
 * few live bytes stay resident. 1,000 idle HTTP/2-over-TLS connections (the
 * bench's h2-idle-1k) measured 16.0-16.9 KB each this way, 15.5-15.6 with the
 * big blocks out of the heap, and 15.5 with no session ever awake longer
 * than its request.
 *
 * So blocks of H2_MEM_BIG bytes and more (up to H2_MEM_MAX_PAGES pages) come
 * from a region of their own: one private mapping reserved at the first one
 * (address space only until a page is touched), whole pages per block, a
 * stack of free blocks per size in pages (the last freed is given first: its
 * pages are likely still there). h2_mem_trim gives the pages of the free
 * blocks back (MADV_DONTNEED: they read as zeros when touched again), so once
 * the sessions slept their blocks cost nothing. Smaller blocks, and big ones
 * when there is no region or no room left in it, come from malloc.
 *
 * One thread only: a worker's sessions live on its loop. Under
 * AddressSanitizer a block's unused tail and every free block are poisoned;
 * under valgrind the blocks are announced as heap blocks (leaks, use after
 * free).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "h2_mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define H2_MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H2_MEM_ASAN 1
#endif
#endif
#ifdef H2_MEM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define H2_MEM_VALGRIND 1
#endif
#endif
#ifndef H2_MEM_VALGRIND
#define VALGRIND_MALLOCLIKE_BLOCK(p, n, rz, z) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(p, rz) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, rz) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)0)
#endif

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* Room for ~13,000 awake sessions (5 + 1 + 1 pages each): past it, malloc. */
static size_t region_bytes = (size_t)256 << 20;

typedef struct stack {
    uint32_t *v;  /* first pages of free blocks, by index in the region */
    size_t n, cap;
    size_t clean; /* v[0..clean) hold no pages (trimmed) */
} stack;

static struct {
    char *base;          /* the region; NULL before the first big block */
    int failed;          /* it could not be reserved: malloc for everything */
    size_t page, npages; /* page size; pages in the region */
    size_t meta;         /* the region's first pages: `bytes` */
    size_t top;          /* pages carved so far, `meta` included */
    uint32_t *bytes;     /* per page of the region: the size asked for of the block that starts there */
    stack free[H2_MEM_MAX_PAGES + 1];
    size_t live, fallbacks;
} M;

/* Every block nghttp2 frees is tested: two loads and a compare. */
static uintptr_t region_lo;
static size_t region_len; /* 0: no region, nothing is in it */

static int reserve(void)
{
    if (M.base || M.failed)
        return M.base ? 0 : -1;
    /* Pages larger than 4 KiB would cost an awake session far more than its
     * blocks (a 64 KiB page for nghttp2's 2,928-byte session): malloc then. */
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = (size_t)pg, npages = pg > 0 ? region_bytes / page : 0;
    size_t meta = npages ? (npages * sizeof *M.bytes + page - 1) / page : 0;
    if (pg != 4096 || npages <= meta || npages > UINT32_MAX) {
        M.failed = 1;
        return -1;
    }
    void *b = mmap(NULL, npages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (b == MAP_FAILED) {
        M.failed = 1;
        return -1;
    }
    /* [anon:webserv-h2] in /proc/PID/maps where the kernel names mappings */
    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)b, npages * page, (unsigned long)"webserv-h2");
    M.base = b;
    M.page = page;
    M.npages = npages;
    M.bytes = b;
    M.meta = M.top = meta;
    region_lo = (uintptr_t)b;
    region_len = npages * page;
    return 0;
}

static int in_region(const void *p)
{
    return (uintptr_t)p - region_lo < region_len;
}

static size_t pages_for(size_t n)
{
    return (n + M.page - 1) / M.page;
}

/* A block of n bytes from the region, or NULL (no region, no room). The
 * slow paths stay out of line: the calls for small blocks, nearly all of
 * them, are a compare and a jump to malloc or free. */
__attribute__((noinline)) static void *big_alloc(size_t n)
{
    if (reserve() < 0)
        return NULL;
    size_t np = pages_for(n);
    if (np > H2_MEM_MAX_PAGES)
        return NULL;
    stack *st = &M.free[np];
    size_t idx;
    if (st->n) {
        idx = st->v[--st->n];
        if (st->clean > st->n)
            st->clean = st->n;
    } else if (M.npages - M.top >= np) {
        idx = M.top;
        M.top += np;
    } else {
        return NULL;
    }
    M.bytes[idx] = (uint32_t)n;
    char *p = M.base + idx * M.page;
    POISON(p, np * M.page); /* the tail past n: an overflow is reported */
    UNPOISON(p, n);
    VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, 0);
    VALGRIND_MAKE_MEM_NOACCESS(p + n, np * M.page - n);
    M.live++;
    return p;
}

__attribute__((noinline)) static void big_free(void *p)
{
    size_t idx = (size_t)((char *)p - M.base) / M.page, np = pages_for(M.bytes[idx]);
    stack *st = &M.free[np];
    VALGRIND_FREELIKE_BLOCK(p, 0);
    POISON(p, np * M.page);
    M.live--;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        uint32_t *v = realloc(st->v, cap * sizeof *v);
        if (!v) {
            /* No room to remember it: its pages go back, its address space stays unused. */
            madvise(p, np * M.page, MADV_DONTNEED);
            return;
        }
        st->v = v;
        st->cap = cap;
    }
    st->v[st->n++] = (uint32_t)idx;
}

__attribute__((noinline)) static void *big_or_malloc(size_t n)
{
    void *p = big_alloc(n);
    if (p)
        return p;
    M.fallbacks++;
    return malloc(n);
}

static void *mem_malloc(size_t n, void *ud)
{
    (void)ud;
    return n < H2_MEM_BIG ? malloc(n) : big_or_malloc(n);
}

static void mem_free(void *p, void *ud)
{
    (void)ud;
    if (!in_region(p))
        free(p);
    else
        big_free(p);
}

static void *mem_calloc(size_t k, size_t n, void *ud)
{
    if (n && k > SIZE_MAX / n)
        return NULL;
    if (k * n < H2_MEM_BIG)
        return calloc(k, n);
    void *p = mem_malloc(k * n, ud);
    if (p)
        memset(p, 0, k * n);
    return p;
}

static void *mem_realloc(void *p, size_t n, void *ud)
{
    if (!p)
        return mem_malloc(n, ud);
    int big = in_region(p);
    if (!big && n < H2_MEM_BIG)
        return realloc(p, n);
    size_t idx = big ? (size_t)((char *)p - M.base) / M.page : 0;
    size_t old = big ? M.bytes[idx] : malloc_usable_size(p);
    if (big && n && pages_for(n) <= pages_for(old)) {
        /* its pages hold the new size: grown or shrunk in place */
        POISON(p, pages_for(old) * M.page);
        UNPOISON(p, n);
        VALGRIND_RESIZEINPLACE_BLOCK(p, old, n, 0);
        VALGRIND_MAKE_MEM_NOACCESS((char *)p + n, pages_for(old) * M.page - n);
        M.bytes[idx] = (uint32_t)n;
        return p;
    }
    void *q = mem_malloc(n, ud);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    mem_free(p, ud);
    return q;
}

nghttp2_mem h2_mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};

void h2_mem_trim(void)
{
    for (size_t np = 1; np <= H2_MEM_MAX_PAGES; np++) {
        stack *st = &M.free[np];
        for (size_t i = st->clean; i < st->n; i++)
            madvise(M.base + (size_t)st->v[i] * M.page, np * M.page, MADV_DONTNEED);
        st->clean = st->n;
    }
}

void h2_mem_get_stats(h2_mem_stats *s)
{
    memset(s, 0, sizeof *s);
    s->region_bytes = M.base ? M.npages * M.page : 0;
    s->used_pages = M.top - M.meta;
    s->live_blocks = M.live;
    s->fallbacks = M.fallbacks;
    for (size_t np = 1; np <= H2_MEM_MAX_PAGES; np++) {
        s->free_blocks += M.free[np].n;
        s->unreleased += M.free[np].n - M.free[np].clean;
    }
}

int h2_mem_set_region_bytes(size_t bytes)
{
    if (M.live)
        return -1;
    if (M.base)
        munmap(M.base, M.npages * M.page);
    for (size_t np = 1; np <= H2_MEM_MAX_PAGES; np++)
        free(M.free[np].v);
    memset(&M, 0, sizeof M);
    region_lo = 0;
    region_len = 0;
    region_bytes = bytes;
    return 0;
}

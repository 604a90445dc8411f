/* A first-fit allocator with offsets, safe to rebuild after a crash (shm_heap.h). */
#include "shm_heap.h"

#include <string.h>

#define HEAP_MAGIC 0x77736865617031ull /* "wsheap1" */
#define ALIGN 16u
#define MIN_BLOCK 32u /* a header and 16 usable bytes */
#define USED 1u

struct shm_heap {
    uint64_t magic;
    uint64_t size;      /* bytes from the heap's start to its end */
    uint64_t free_head; /* offset of the first free block; 0 = none */
    uint64_t bad_frees;
};

typedef struct shm_block {
    uint64_t size; /* header included; bit 0: in use */
    uint64_t next; /* free: offset of the next free block, 0 = end; in use: used_tag(offset) */
} shm_block;

/* A block in use carries a tag made from its own offset, so shm_heap_free can
 * tell a block start from any other pointer (inside an allocation, the
 * preceding bytes are the caller's data and may look like a header). */
#define USED_TAG 0x5753484d55534544ull /* "WSHMUSED" */
static uint64_t used_tag(uint64_t off) { return USED_TAG ^ off; }

_Static_assert(sizeof(struct shm_heap) == SHM_HEAP_OVERHEAD, "heap header size");
_Static_assert(sizeof(shm_block) == SHM_HEAP_BLOCK_HEADER, "block header size");

static shm_block *at(const shm_heap *h, uint64_t off) { return (shm_block *)((char *)h + off); }
static uint64_t off_of(const shm_heap *h, const void *p) { return (uint64_t)((const char *)p - (const char *)h); }
static uint64_t bsize(const shm_block *b) { return b->size & ~(uint64_t)(ALIGN - 1); }

/* Sizes are the one thing a crash-time walk trusts: store them in one go, and
 * never let the compiler move them before the writes they publish. */
static void set_size(shm_block *b, uint64_t v) { __atomic_store_n(&b->size, v, __ATOMIC_RELEASE); }

shm_heap *shm_heap_init(void *mem, size_t size)
{
    size &= ~(size_t)(ALIGN - 1);
    if (!mem || ((uintptr_t)mem & (ALIGN - 1)) || size < SHM_HEAP_OVERHEAD + MIN_BLOCK)
        return NULL;
    shm_heap *h = mem;
    memset(h, 0, sizeof *h);
    h->size = size;
    shm_block *b = at(h, SHM_HEAP_OVERHEAD);
    b->next = 0;
    set_size(b, size - SHM_HEAP_OVERHEAD);
    h->free_head = SHM_HEAP_OVERHEAD;
    h->magic = HEAP_MAGIC;
    return h;
}

void *shm_heap_alloc(shm_heap *h, size_t n)
{
    if (!h || n > h->size)
        return NULL;
    uint64_t need = ((uint64_t)n + SHM_HEAP_BLOCK_HEADER + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
    if (need < MIN_BLOCK)
        need = MIN_BLOCK;
    uint64_t *link = &h->free_head;
    for (uint64_t off = *link; off; link = &at(h, off)->next, off = *link) {
        shm_block *b = at(h, off);
        uint64_t have = bsize(b);
        if (have < need)
            continue;
        if (have - need >= MIN_BLOCK) {
            /* Split: the tail becomes the allocation. Its header is written
             * before the free block shrinks, so a walk sees either the old
             * whole free block or both blocks, never garbage. */
            shm_block *t = at(h, off + have - need);
            t->next = used_tag(off + have - need);
            set_size(t, need | USED);
            set_size(b, have - need);
            return (char *)t + SHM_HEAP_BLOCK_HEADER;
        }
        *link = b->next;
        b->next = used_tag(off);
        set_size(b, have | USED);
        return (char *)b + SHM_HEAP_BLOCK_HEADER;
    }
    return NULL;
}

void shm_heap_free(shm_heap *h, void *p)
{
    if (!h || !p)
        return;
    uint64_t off = off_of(h, p) - SHM_HEAP_BLOCK_HEADER;
    if ((char *)p < (char *)h + SHM_HEAP_OVERHEAD + SHM_HEAP_BLOCK_HEADER || off >= h->size || (off & (ALIGN - 1))) {
        h->bad_frees++;
        return;
    }
    shm_block *b = at(h, off);
    if (!(b->size & USED) || b->next != used_tag(off) || bsize(b) < MIN_BLOCK || off + bsize(b) > h->size) {
        h->bad_frees++; /* a double free, or not a block start */
        return;
    }
    /* Find the free neighbours around off in the address-ordered list. */
    uint64_t prev = 0, next = h->free_head;
    while (next && next < off) {
        prev = next;
        next = at(h, next)->next;
    }
    uint64_t size = bsize(b);
    if (next && off + size == next) {
        /* Merge with the following free block: link past it first, then grow. */
        b->next = at(h, next)->next;
        size += bsize(at(h, next));
    } else {
        b->next = next;
    }
    set_size(b, size); /* free now (bit 0 clear) */
    if (prev && prev + bsize(at(h, prev)) == off) {
        shm_block *pb = at(h, prev);
        pb->next = b->next;
        set_size(pb, bsize(pb) + size);
    } else if (prev) {
        at(h, prev)->next = off;
    } else {
        h->free_head = off;
    }
}

void shm_heap_rebuild(shm_heap *h)
{
    uint64_t *link = &h->free_head;
    shm_block *last_free = NULL;
    uint64_t off = SHM_HEAP_OVERHEAD;
    while (off < h->size) {
        shm_block *b = at(h, off);
        uint64_t s = bsize(b);
        if (s < MIN_BLOCK || off + s > h->size) {
            /* Cannot happen with the write order above; if it does, the rest
             * of the heap becomes one free block rather than a wild walk. */
            b->size = h->size - off;
            s = bsize(b);
            if (s < MIN_BLOCK)
                break;
        }
        if ((b->size & USED) && b->next != used_tag(off)) {
            /* A free was under way when the holder died (the link was
             * written, the size not yet): finish it. */
            set_size(b, s);
        }
        if (b->size & USED) {
            last_free = NULL;
        } else if (last_free) {
            set_size(last_free, bsize(last_free) + s); /* two free neighbours: merge */
        } else {
            *link = off;
            link = &b->next;
            last_free = b;
        }
        off += s;
    }
    *link = 0;
}

int shm_heap_check(const shm_heap *h, shm_heap_stats *st)
{
    shm_heap_stats s = {0};
    int ok = h && h->magic == HEAP_MAGIC;
    uint64_t off = SHM_HEAP_OVERHEAD, expect_free = ok ? h->free_head : 0;
    int prev_free = 0;
    while (ok && off < h->size) {
        const shm_block *b = at(h, off);
        uint64_t sz = bsize(b);
        if (sz < MIN_BLOCK || off + sz > h->size)
            return -1;
        if (b->size & USED) {
            if (b->next != used_tag(off))
                ok = 0;
            s.used_blocks++;
            prev_free = 0;
        } else {
            if (prev_free || off != expect_free)
                ok = 0; /* adjacent free blocks, or the list skips this one */
            expect_free = b->next;
            s.free_blocks++;
            s.free_bytes += sz;
            if (sz - SHM_HEAP_BLOCK_HEADER > s.largest_free)
                s.largest_free = sz - SHM_HEAP_BLOCK_HEADER;
            prev_free = 1;
        }
        off += sz;
    }
    if (ok && (off != h->size || expect_free != 0))
        ok = 0;
    if (h)
        s.bad_frees = h->bad_frees;
    if (st)
        *st = s;
    return ok ? 0 : -1;
}

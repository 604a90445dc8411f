/*
 * A first-fit allocator inside one block of memory that several processes
 * share (a shared-memory zone, shm_zone.c). Everything it keeps inside the
 * block is an offset from the block's start, never a pointer, so the heap is
 * valid wherever the block is mapped.
 *
 * Layout: a small header, then blocks laid end to end. Each block starts with
 * 16 bytes: its size (header included, a multiple of 16; bit 0 set = in use)
 * and, when free, the offset of the next free block (in use: a tag made from
 * the block's own offset, which shm_heap_free checks, so a pointer into the
 * middle of an allocation is refused rather than taken for a block). The free blocks form a
 * list in address order, so a freed block merges with both neighbours in one
 * walk (K&R style). Allocation takes the first free block that fits and
 * splits its tail off.
 *
 * Crash safety: a process may die (SIGKILL) in the middle of any call. The
 * sizes are written so that walking the blocks from the start by their sizes
 * always works (a split writes the new tail block's header before shrinking
 * the free block; a merge grows a size in one store), so shm_heap_rebuild can
 * always rebuild the free list from the blocks themselves. The worst a crash
 * leaves is one block marked in use that nobody holds (a leak, not damage).
 *
 * Not thread-safe: callers hold the zone's lock.
 */
#ifndef WEBSERV_SHM_HEAP_H
#define WEBSERV_SHM_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct shm_heap shm_heap; /* lives at the start of the block */

/* Bytes of bookkeeping before the first block. */
#define SHM_HEAP_OVERHEAD 32
/* Bytes of header per allocation. */
#define SHM_HEAP_BLOCK_HEADER 16

/* Make `size` bytes at `mem` (16-byte aligned) an empty heap; NULL when too small. */
shm_heap *shm_heap_init(void *mem, size_t size);
/* n bytes, 16-byte aligned, or NULL when no free block is large enough. */
void *shm_heap_alloc(shm_heap *h, size_t n);
/* Give back what shm_heap_alloc returned; anything else (NULL, a pointer
 * outside the heap, a block not in use) is ignored and counted as bad. */
void shm_heap_free(shm_heap *h, void *p);
/* Rebuild the free list from the blocks (after a holder of the lock died). */
void shm_heap_rebuild(shm_heap *h);

typedef struct shm_heap_stats {
    size_t free_bytes;    /* sum of the free blocks' sizes, headers included */
    size_t largest_free;  /* usable bytes of the largest free block */
    size_t used_blocks, free_blocks;
    uint64_t bad_frees;   /* shm_heap_free calls that were ignored */
} shm_heap_stats;

/* Walk every block and check the heap (sizes chain to the end, the free list
 * is in address order and holds exactly the free blocks, no two free blocks
 * are adjacent). 0 when consistent, -1 otherwise. stats may be NULL. */
int shm_heap_check(const shm_heap *h, shm_heap_stats *stats);

#endif

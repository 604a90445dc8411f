/*
 * libFuzzer target for the shared-memory allocator (core/module/shm_heap.c):
 * the input is a program of allocations, frees (good and bad pointers),
 * writes to the whole of each allocation, and "crashes" (the free list
 * scribbled over, then shm_heap_rebuild, as after a holder died with the
 * lock). After every step the heap must check out, live allocations must not
 * overlap and must keep their contents, and freeing everything must give the
 * whole heap back as one block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shm_heap.h"

#define SLOTS 64

static _Alignas(16) unsigned char mem[1 << 16];

typedef struct live {
    unsigned char *p;
    size_t n;
    unsigned char fill;
} live;

static void check_all(shm_heap *h, const live *l)
{
    if (shm_heap_check(h, NULL) != 0)
        abort();
    for (int i = 0; i < SLOTS; i++)
        for (size_t k = 0; l[i].p && k < l[i].n; k++)
            if (l[i].p[k] != l[i].fill)
                abort(); /* another allocation or the allocator wrote here */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t heap_size = 1024 + (size ? (size_t)data[0] * 240 : 0);
    shm_heap *h = shm_heap_init(mem, heap_size);
    if (!h)
        abort();
    shm_heap_stats empty;
    shm_heap_check(h, &empty);
    live l[SLOTS] = {{0}};
    for (size_t i = 1; i + 2 < size; i += 3) {
        int slot = data[i + 1] % SLOTS;
        size_t n = (size_t)data[i + 2] * ((data[i] >> 4) + 1);
        switch (data[i] & 3) {
        case 0: /* allocate (replacing what the slot held) */
            shm_heap_free(h, l[slot].p);
            l[slot].p = shm_heap_alloc(h, n);
            l[slot].n = n;
            l[slot].fill = data[i + 2];
            if (l[slot].p) {
                if ((uintptr_t)l[slot].p % 16 || l[slot].p < mem || l[slot].p + n > mem + heap_size)
                    abort();
                memset(l[slot].p, l[slot].fill, n);
            }
            break;
        case 1: /* free */
            shm_heap_free(h, l[slot].p);
            l[slot].p = NULL;
            break;
        case 2: { /* a bad free: a pointer inside a live allocation (its own data in
                   * front of it, never another block's header), or into the
                   * heap's header; must be ignored */
            size_t k = 16 * (1 + (size_t)(data[i + 2] % 4));
            if (l[slot].p && k <= l[slot].n)
                shm_heap_free(h, l[slot].p + k);
            else if (!l[slot].p)
                shm_heap_free(h, mem + (data[i + 2] % 2) * 16);
            break;
        }
        case 3: /* a holder died: the free list is garbage, the blocks are not */
            memset(mem + 16, data[i + 2], 8);
            shm_heap_rebuild(h);
            break;
        }
        check_all(h, l);
    }
    for (int i = 0; i < SLOTS; i++)
        shm_heap_free(h, l[i].p);
    shm_heap_stats end;
    if (shm_heap_check(h, &end) != 0 || end.free_blocks != 1 || end.free_bytes != empty.free_bytes)
        abort();
    return 0;
}

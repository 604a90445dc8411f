/*
 * Bump allocator. The arena header and its first block are one malloc, so a
 * request arena that never outgrows its first block costs one malloc for
 * its whole life and arena_reset frees nothing. Later blocks double in size
 * (up to a cap) so a growing arena needs few mallocs; an allocation too big
 * for a normal block gets a block of its own, so it neither wastes the rest
 * of the current block nor inflates the next one.
 */
#include "arena.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16u
#define ARENA_DEFAULT_BLOCK 4096u
#define ARENA_MAX_BLOCK (1024u * 1024u)

struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
};

/* Data starts at a multiple of the alignment past the header; the pointers
 * handed out are aligned again in bump() in case malloc aligns less. */
#define BLOCK_HDR ((sizeof(struct block) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

struct arena {
    struct block *cur;   /* where small allocations are bumped from */
    struct block *extra; /* every block but the first, freed on reset */
    size_t next_size;    /* size of the next normal block */
    size_t first_size;
    struct block first; /* followed by its data in the same malloc */
};

static unsigned char *block_data(struct block *b)
{
    return (unsigned char *)b + BLOCK_HDR;
}

/* Round n up to the alignment; 0 on overflow. A zero-size request still
 * gets distinct memory. */
static size_t align_size(size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - (ARENA_ALIGN - 1))
        return 0;
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* Address of an n-byte allocation in b, or NULL when it does not fit. */
static void *bump(struct block *b, size_t n)
{
    unsigned char *base = block_data(b);
    size_t pad = (size_t)(-(uintptr_t)(base + b->used) & (ARENA_ALIGN - 1));
    if (pad > b->size - b->used || n > b->size - b->used - pad)
        return NULL;
    void *p = base + b->used + pad;
    b->used += pad + n;
    return p;
}

static struct block *block_new(size_t size)
{
    /* Extra ARENA_ALIGN so bump() can realign even on a weakly aligned malloc. */
    if (size > SIZE_MAX - BLOCK_HDR - ARENA_ALIGN) {
        errno = ENOMEM;
        return NULL;
    }
    struct block *b = malloc(BLOCK_HDR + size + ARENA_ALIGN);
    if (b == NULL)
        return NULL;
    b->size = size + ARENA_ALIGN;
    b->used = 0;
    b->next = NULL;
    return b;
}

arena *arena_new(size_t first_block)
{
    if (first_block == 0)
        first_block = ARENA_DEFAULT_BLOCK;
    first_block = align_size(first_block);
    /* The first block's header is the `first` member; its data follows the
     * arena struct, so measure from that member. */
    size_t data_off = offsetof(struct arena, first) + BLOCK_HDR;
    if (first_block == 0 || first_block > SIZE_MAX - data_off - ARENA_ALIGN) {
        errno = ENOMEM;
        return NULL;
    }
    arena *a = malloc(data_off + first_block + ARENA_ALIGN);
    if (a == NULL)
        return NULL;
    a->first.next = NULL;
    a->first.size = first_block + ARENA_ALIGN;
    a->first.used = 0;
    a->cur = &a->first;
    a->extra = NULL;
    a->first_size = first_block;
    a->next_size = first_block;
    return a;
}

static void free_extra(arena *a)
{
    while (a->extra != NULL) {
        struct block *b = a->extra;
        a->extra = b->next;
        free(b);
    }
}

void arena_free(arena *a)
{
    if (a == NULL)
        return;
    free_extra(a);
    free(a);
}

void arena_reset(arena *a)
{
    free_extra(a);
    a->first.used = 0;
    a->cur = &a->first;
    a->next_size = a->first_size;
}

static void *alloc_own_block(arena *a, size_t n)
{
    struct block *b = block_new(n);
    if (b == NULL)
        return NULL;
    b->next = a->extra;
    a->extra = b;
    return bump(b, n);
}

static void *alloc_new_block(arena *a, size_t n)
{
    if (a->next_size < ARENA_MAX_BLOCK)
        a->next_size *= 2;
    struct block *b = block_new(a->next_size);
    if (b == NULL)
        return NULL;
    b->next = a->extra;
    a->extra = b;
    a->cur = b;
    return bump(b, n);
}

/* Uninitialised memory: the string helpers overwrite it anyway. */
static void *alloc_raw(arena *a, size_t n)
{
    size_t size = align_size(n);
    if (size == 0) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = bump(a->cur, size);
    if (p != NULL)
        return p;
    if (size > a->next_size / 4)
        return alloc_own_block(a, size);
    return alloc_new_block(a, size);
}

void *arena_alloc(arena *a, size_t n)
{
    void *p = alloc_raw(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void *arena_alloc_raw(arena *a, size_t n)
{
    return alloc_raw(a, n);
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = alloc_raw(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, SIZE_MAX);
}

/* Formats straight into the free tail of the current block when it fits,
 * so the common short string is formatted once. */
static char *printf_in_place(arena *a, const char *fmt, va_list ap, int *needed)
{
    struct block *b = a->cur;
    unsigned char *base = block_data(b);
    size_t pad = (size_t)(-(uintptr_t)(base + b->used) & (ARENA_ALIGN - 1));
    size_t room = b->used + pad <= b->size ? b->size - b->used - pad : 0;
    char *p = (char *)base + b->used + pad;
    *needed = vsnprintf(room ? p : NULL, room, fmt, ap);
    if (*needed < 0 || (size_t)*needed >= room)
        return NULL;
    return bump(b, align_size((size_t)*needed + 1)) == p ? p : NULL;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int needed;
    char *p = printf_in_place(a, fmt, ap, &needed);
    va_end(ap);
    if (p == NULL && needed >= 0) {
        p = alloc_raw(a, (size_t)needed + 1);
        if (p != NULL)
            vsnprintf(p, (size_t)needed + 1, fmt, again);
    }
    va_end(again);
    return p;
}

/*
 * A bump allocator: many small allocations, one free. Used for the config
 * (lives until reload) and for each request (reset when it ends).
 */
#ifndef WEBSERV_ARENA_H
#define WEBSERV_ARENA_H

#include <stddef.h>

typedef struct arena arena;

arena *arena_new(size_t first_block);
void arena_free(arena *a);
/* Forget every allocation but keep the first block for reuse. */
void arena_reset(arena *a);
/* Zeroed memory aligned for any type; NULL only when malloc fails. */
void *arena_alloc(arena *a, size_t n);
/* The same, not zeroed: for memory the caller fills at once. */
void *arena_alloc_raw(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/*
 * nghttp2's big blocks outside the malloc heap (h2_mem.c): the allocator a
 * session is made with. One thread only: a worker's sessions live on its loop.
 */
#ifndef WEBSERV_H2_MEM_H
#define WEBSERV_H2_MEM_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

/* Blocks of at least this many bytes (and at most H2_MEM_MAX_PAGES pages)
 * come from the region; smaller ones from malloc. */
#define H2_MEM_BIG 2048
#define H2_MEM_MAX_PAGES 8

/* For nghttp2_session_server_new3. */
extern nghttp2_mem h2_mem;

/* Give the pages of the free blocks back to the system (MADV_DONTNEED); the
 * address space stays for the next blocks. After sessions went to sleep or
 * closed. */
void h2_mem_trim(void);

typedef struct h2_mem_stats {
    size_t region_bytes;   /* reserved (0: none yet, or the reservation failed) */
    size_t used_pages;     /* carved from the region so far (free or not) */
    size_t live_blocks;    /* given out, not freed */
    size_t free_blocks;    /* freed, kept for the next ones */
    size_t unreleased;     /* … of which still hold their pages (not trimmed since) */
    size_t fallbacks;      /* big blocks that came from malloc: no region or no room */
} h2_mem_stats;
void h2_mem_get_stats(h2_mem_stats *st);

/* Tests: the region's size. With no block live, the region (if any) is
 * dropped and the next big block reserves one of this size; -1 otherwise. */
int h2_mem_set_region_bytes(size_t bytes);

#endif

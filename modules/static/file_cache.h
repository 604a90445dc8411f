/*
 * The contents of small files, kept between requests. An entry is valid only
 * while the file's identity and times equal the stat() the core made for this
 * request (device, inode, size, mtime, ctime), so a changed or replaced file
 * is never served stale, and a hit costs no system call at all.
 */
#ifndef STATIC_FILE_CACHE_H
#define STATIC_FILE_CACHE_H

#include <stddef.h>
#include <sys/stat.h>

#define FILE_CACHE_MAX_FILE 16384 /* larger files go out with sendfile */
#define FILE_CACHE_SLOTS 512      /* at most 8 MiB of contents */

/* The cached bytes of path if they match st, else NULL. */
const char *file_cache_get(const char *path, const struct stat *st);
/* Remember n bytes of path read while it had stat st (a copy is kept). */
void file_cache_put(const char *path, const struct stat *st, const char *data, size_t n);
void file_cache_clear(void);

#endif

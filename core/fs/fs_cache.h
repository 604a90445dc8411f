/*
 * The file-system cache of one worker process: stat() results for the paths
 * requests map to, and open descriptors of the files served from them, so a
 * request for an unchanged file costs no stat, open, fstat or close.
 *
 * Freshness comes from inotify, not from a time limit (nginx's
 * open_file_cache and lighttpd's stat cache serve stale answers for up to
 * their validity period). Each cached path is watched, and so is every folder
 * from "/" down to it; any event on any watch empties the whole cache. The
 * inotify fd is dispatched first in its loop round (loop_set_first), so a
 * change completed before a request arrived is seen before that request.
 *
 * Not cached, always asked of the kernel: relative paths, paths through a
 * symbolic link (its target's folders are not watched), anything that is
 * neither a regular file nor a folder, and everything when inotify is not
 * available or WEBSERV_FS_CACHE=off (for file systems that inotify cannot
 * see into, such as NFS changed from another host).
 */
#ifndef WEBSERV_FS_CACHE_H
#define WEBSERV_FS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "loop.h"

/* The table's size when the configuration does not set "file_cache_entries";
 * of the entries, names found missing keep to a quarter (a scan of random
 * missing paths cannot crowd out the files that are there). */
#define FS_CACHE_DEFAULT_ENTRIES 4096
#define FS_CACHE_MISSING_SHARE(entries) ((entries) / 4)

/* Start caching in this process, watching through loop l, with room for
 * entries paths (at least 1). 0, or -1 when the cache stays off (every call
 * below then goes to the kernel). */
int fs_cache_start(loop *l, size_t entries);
/* A reload's new size: the table is emptied (as fs_cache_flush) when it
 * changes. 0, or -1 (no memory, entries 0) with the old size kept. */
int fs_cache_resize(size_t entries);
void fs_cache_stop(void);
/* Forget everything (also what a change event does). */
void fs_cache_flush(void);

/* As stat(path, st): 0, or -1 with errno. */
int fs_cache_stat(const char *path, struct stat *st);

/* A number that stays the same while nothing changes in folder `path`: not
 * its entries, their contents or attributes, nor the folders above it; a
 * number once left is never returned again. 0: the folder cannot be watched
 * that closely (a symbolic link in it or above it, too many entries, the
 * cache off), so anything built from it must not be kept. Also 0 until
 * every entry of the folder has a watch: the first call for a folder (and
 * the first after a name came into it, the folder was replaced or
 * fs_cache_flush was called) starts adding them on the offload pool, and a
 * call once that is back on the loop (with no name come in since it started)
 * gets the version. A flush caused elsewhere keeps them: the next call
 * answers at once. Without a pool for this loop the call adds them itself. */
uint64_t fs_cache_dir_version(const char *path);

/* A reference to a cached open file. */
typedef struct fs_file fs_file;

/* Open path read-only; *st gets the opened file's stat. Returns the fd and a
 * reference to it in *ref, or -1 with errno. The fd belongs to the reference:
 * never close it; it stays open until its last release. known: the stat
 * the request was routed with, for its own file: the cache's fd answers
 * only while it is still that file. NULL: the cache's own entry for path
 * decides (looked up, and filled on a miss, as fs_cache_stat does). When
 * the cache holds the fd, or knows that path does not exist (-1, ENOENT),
 * no system call is made. */
int fs_cache_open(const char *path, const struct stat *known, struct stat *st, fs_file **ref);
void fs_file_hold(fs_file *ref);
void fs_file_release(void *ref); /* void *: usable as an outq release callback */


typedef struct {
    uint64_t hits, misses, flushes;
    size_t entries, missing, open_files; /* missing: of the entries, names that do not exist */
    int active;
} fs_cache_counters;
void fs_cache_counters_get(fs_cache_counters *out);

#endif

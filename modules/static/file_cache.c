#include "file_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct cache_entry {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    char *data;
} cache_entry;

/* Direct-mapped: a collision simply replaces the older entry. */
static cache_entry slots[FILE_CACHE_SLOTS];

static size_t slot_of(const char *path)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % FILE_CACHE_SLOTS);
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int matches(const cache_entry *e, const char *path, const struct stat *st)
{
    return e->path && e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           same_time(e->mtime, st->st_mtim) && same_time(e->ctime, st->st_ctim) && strcmp(e->path, path) == 0;
}

const char *file_cache_get(const char *path, const struct stat *st)
{
    const cache_entry *e = &slots[slot_of(path)];
    return matches(e, path, st) ? e->data : NULL;
}

static void drop(cache_entry *e)
{
    free(e->path);
    free(e->data);
    memset(e, 0, sizeof *e);
}

void file_cache_put(const char *path, const struct stat *st, const char *data, size_t n)
{
    if (n > FILE_CACHE_MAX_FILE)
        return;
    cache_entry *e = &slots[slot_of(path)];
    drop(e);
    e->path = strdup(path);
    e->data = malloc(n ? n : 1);
    if (!e->path || !e->data) {
        drop(e);
        return;
    }
    memcpy(e->data, data, n);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    e->ctime = st->st_ctim;
}

void file_cache_clear(void)
{
    for (size_t i = 0; i < FILE_CACHE_SLOTS; i++)
        drop(&slots[i]);
}

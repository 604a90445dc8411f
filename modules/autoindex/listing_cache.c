/*
 * Rendered listings, kept while the core says their folder is unchanged
 * (host->dir_version: the same number while nothing in the folder, its
 * entries or the folders above it changed). A hit costs no readdir and no
 * stat per entry, which is where a big listing's time goes.
 *
 * A few listings at most (by count and bytes), newest first; a listing still
 * being sent to a slow client is kept alive by its reference until cleanup.
 */
#include <stdlib.h>
#include <string.h>

#include "autoindex.h"

#define MAX_LISTINGS 16
#define MAX_BYTES (16u * 1024 * 1024)

struct ai_cached {
    ai_cached *next;
    uint64_t version;
    unsigned refs; /* requests sending it, plus one while it is in the list */
    size_t len;
    char *body;
    char key[];
};

static ai_cached *listings;
static size_t n_listings, n_bytes;

void ai_cache_release(ai_cached *c)
{
    if (c && --c->refs == 0) {
        free(c->body);
        free(c);
    }
}

static void unlink_at(ai_cached **at)
{
    ai_cached *c = *at;
    *at = c->next;
    n_listings--;
    n_bytes -= c->len;
    ai_cache_release(c);
}

ai_cached *ai_cache_get(const char *key, uint64_t version, const char **body, size_t *len)
{
    for (ai_cached **at = &listings; *at; at = &(*at)->next) {
        ai_cached *c = *at;
        if (strcmp(c->key, key) != 0)
            continue;
        if (c->version != version) {
            unlink_at(at); /* the folder changed: this one is never right again */
            return NULL;
        }
        c->refs++;
        *body = c->body;
        *len = c->len;
        return c;
    }
    return NULL;
}

ai_cached *ai_cache_put(const char *key, uint64_t version, const char *body, size_t len)
{
    if (len > MAX_BYTES / 4)
        return NULL;
    size_t klen = strlen(key);
    ai_cached *c = malloc(sizeof *c + klen + 1);
    char *copy = malloc(len ? len : 1);
    if (!c || !copy) {
        free(c);
        free(copy);
        return NULL;
    }
    memcpy(copy, body, len);
    memcpy(c->key, key, klen + 1);
    c->body = copy;
    c->len = len;
    c->version = version;
    c->refs = 2; /* the list's and the caller's */
    c->next = listings;
    listings = c;
    n_listings++;
    n_bytes += len;
    /* Drop the oldest until within bounds (never the one just added). */
    while (n_listings > MAX_LISTINGS || n_bytes > MAX_BYTES) {
        ai_cached **at = &listings->next;
        while ((*at)->next)
            at = &(*at)->next;
        unlink_at(at);
    }
    return c;
}

void ai_cache_clear(void)
{
    while (listings)
        unlink_at(&listings);
}

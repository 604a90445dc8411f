/*
 * One read of a folder version shared by every request that wants it while
 * it runs. Without it, the requests that arrive between a change of the
 * folder (a new version: the rendered listing is gone) and the end of the
 * first read each read the whole folder again on the pool (10 connections of
 * the list-1000 bench row: 10 reads per change).
 *
 * Everything happens on the pool, under one mutex: a work that finds no read
 * of its folder version becomes its reader; a work that finds one waits for
 * it. A waiter only ever waits for a reader that already runs on another
 * thread, so waiting cannot starve the pool into a deadlock, and it holds its
 * thread no longer than reading the folder itself would have. The result is
 * read-only once `done` is set, and freed with the last reference (a request's
 * loop step or its cleanup, whichever comes first).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "autoindex.h"

struct ai_read {
    ai_read *next;
    uint64_t version;
    unsigned refs; /* jobs holding it; it is in the table until the last one lets go */
    int done;      /* set by the reader: err and l are final */
    int err;
    ai_listing l;
    char key[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;
static ai_read *reads;

const ai_read *ai_read_shared(const char *key, uint64_t version, const char *dir, int show_hidden)
{
    pthread_mutex_lock(&mu);
    ai_read *rd = reads;
    while (rd && (rd->version != version || strcmp(rd->key, key) != 0))
        rd = rd->next;
    if (rd) {
        rd->refs++;
        while (!rd->done)
            pthread_cond_wait(&finished, &mu);
        pthread_mutex_unlock(&mu);
        return rd;
    }
    size_t klen = strlen(key);
    rd = calloc(1, sizeof *rd + klen + 1);
    if (!rd) {
        pthread_mutex_unlock(&mu);
        return NULL;
    }
    memcpy(rd->key, key, klen + 1);
    rd->version = version;
    rd->refs = 1;
    rd->next = reads;
    reads = rd;
    pthread_mutex_unlock(&mu);

    ai_listing l;
    int err = ai_list(dir, show_hidden, &l); /* outside the lock: other folders' reads go on */

    pthread_mutex_lock(&mu);
    rd->err = err;
    rd->l = l;
    rd->done = 1;
    pthread_cond_broadcast(&finished);
    pthread_mutex_unlock(&mu);
    return rd;
}

int ai_read_err(const ai_read *rd) { return rd->err; }

const ai_listing *ai_read_listing(const ai_read *rd) { return &rd->l; }

void ai_read_release(const ai_read *c)
{
    if (!c)
        return;
    ai_read *rd = (ai_read *)c;
    pthread_mutex_lock(&mu);
    int last = --rd->refs == 0;
    if (last)
        for (ai_read **at = &reads; *at; at = &(*at)->next)
            if (*at == rd) {
                *at = rd->next;
                break;
            }
    pthread_mutex_unlock(&mu);
    if (last) {
        ai_list_free(&rd->l);
        free(rd);
    }
}

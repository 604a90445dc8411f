/*
 * One verification per credential at a time ("single flight").
 *
 * The cache (cache.c) makes a credential's second request cheap, but only
 * once its first verification finished. A browser opening six connections at
 * once, an HTTP/2 page asking for fifty resources on one connection, or a
 * client pool starting after the cache entry expired all send the same
 * credential many times before the first hash returned; without this each of
 * them ran its own bcrypt on the offload pool (the bench's 1k-auth row: 50
 * bcrypt of cost 10 at the start of a round, p99 1.2 s).
 *
 * Now the first miss for a cache key starts the verification (the leader,
 * auth_basic.c) and registers a flight under that key; a request with the
 * same key that arrives while it runs joins the flight as a waiter (its
 * access hook returns WS_DEFER) and is answered from the leader's result.
 * The key is the cache key (SipHash of the token68 as sent and the user
 * file's version), so joining needs no decoding and a flight never spans two
 * versions of the user file: a request after a change has another key.
 *
 * Memory: a flight lives in its leader's request memory, a waiter in its own.
 * Neither outlives what holds it: the leader's request cannot end while its
 * work runs (host->offload), and the flight is settled either in the work's
 * done or, when the leader's client left (done skipped), in the leader's log
 * hook, which the core runs after the work returned. A waiter whose request
 * ends first (client gone, deadline) leaves the flight in its log hook. A
 * settled flight is out of the table and its waiters are detached (each got
 * a copy of the result and a timer that answers it from its own event).
 *
 * Waiters per flight are bounded (AB_FLIGHT_WAITERS): a settle walks the list
 * and arms one timer per waiter in one turn of the loop, so the list is kept
 * short enough for that turn to stay short; a request beyond the bound
 * verifies on its own, as before (correct, only not shared).
 */
#include <openssl/crypto.h>
#include <string.h>

#include "auth_basic.h"

static ab_flight *flights; /* the unsettled ones of this worker */

void ab_flight_start(ab_flight *f, const unsigned char key[AB_KEY_LEN])
{
    memset(f, 0, sizeof *f);
    memcpy(f->key, key, AB_KEY_LEN);
    f->next = flights;
    if (flights)
        flights->prev = f;
    flights = f;
    f->live = 1;
}

ab_flight *ab_flight_find(const unsigned char key[AB_KEY_LEN])
{
    /* Runs on cache misses only (which cost a hash anyway); constant time per
     * comparison, as the cache, so a guess learns nothing from the time. */
    ab_flight *found = NULL;
    for (ab_flight *f = flights; f; f = f->next)
        if (CRYPTO_memcmp(f->key, key, AB_KEY_LEN) == 0)
            found = f;
    return found;
}

int ab_flight_join(ab_flight *f, ab_waiter *w)
{
    if (!f->live || f->n_waiters >= AB_FLIGHT_WAITERS)
        return -1;
    w->flight = f;
    w->prev = NULL;
    w->next = f->waiters;
    if (f->waiters)
        f->waiters->prev = w;
    f->waiters = w;
    f->n_waiters++;
    return 0;
}

void ab_flight_leave(ab_waiter *w)
{
    ab_flight *f = w->flight;
    if (!f)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        f->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    f->n_waiters--;
    w->flight = NULL;
    w->prev = w->next = NULL;
}

ab_waiter *ab_flight_settle(ab_flight *f)
{
    if (!f->live)
        return NULL;
    f->live = 0;
    if (f->prev)
        f->prev->next = f->next;
    else
        flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    ab_waiter *list = f->waiters;
    for (ab_waiter *w = list; w; w = w->next)
        w->flight = NULL;
    f->waiters = NULL;
    f->n_waiters = 0;
    return list;
}

size_t ab_flights_live(void)
{
    size_t n = 0;
    for (ab_flight *f = flights; f; f = f->next)
        n++;
    return n;
}

void ab_flights_forget(void)
{
    flights = NULL; /* at unload: the requests that held them are gone */
}

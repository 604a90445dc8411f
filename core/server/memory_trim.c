/*
 * Giving memory back after a peak. A worker that held many connections frees
 * them when they close (10,000 idle TLS connections are about 160 MiB of
 * OpenSSL state and buffers), but glibc keeps freed pages that lie below the
 * top of its heap, and the free lists keep up to 256 read buffers (32 KiB
 * each) and pools: the worker's RSS stays at its peak long after the load has
 * gone. Once a second (the worker's tick, server_run) this
 *   - frees half of what each free list held unused since the last tick
 *     (its low-water mark) above a floor, so a steady load keeps what it
 *     reuses and a past peak drains away within seconds;
 *   - once the open connections have fallen well below their peak, empties
 *     the lists down to the floor and asks malloc to hand free pages back to
 *     the kernel (malloc_trim), at most every few seconds: a steady load
 *     never pays for it.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arena.h"
#include "log.h"
#include "loop.h"
#include "server.h"

#define FREE_FLOOR 16        /* list entries always kept for the next burst */
#define TRIM_DROP 256        /* connections below the peak before malloc_trim */
#define TRIM_EVERY_MS 5000   /* malloc_trim at most this often */

/* Frees list entries from the end down to `keep`; returns how many. */
static size_t drop_bufs(server *s, size_t keep)
{
    size_t n = 0;
    while (s->n_free_bufs > keep) {
        free(s->free_bufs[--s->n_free_bufs]);
        n++;
    }
    return n;
}

static size_t drop_pools(server *s, size_t keep)
{
    size_t n = 0;
    while (s->n_free_pools > keep) {
        arena_free(s->free_pools[--s->n_free_pools]);
        n++;
    }
    return n;
}

/* What half of the entries unused since the last tick leaves, never below the floor. */
static size_t keep_after_half(size_t n, size_t low)
{
    if (low <= FREE_FLOOR)
        return n;
    size_t drop = (low - FREE_FLOOR + 1) / 2;
    return n - drop > FREE_FLOOR ? n - drop : FREE_FLOOR;
}

void server_memory_tick(server *s, uint64_t now_ms)
{
    /* A burst is over when the open connections fell well below their peak:
       what the free lists hold above the floor then is surplus, dropped at
       once so that malloc_trim right after finds those pages free (freed
       later, below the heap's top, they would stay resident). Spare timers
       go too: one small chunk between two freed buffers keeps its page. */
    bool burst_over = s->peak_conns >= s->n_conns + TRIM_DROP && now_ms - s->last_trim_ms >= TRIM_EVERY_MS;
    size_t bufs = drop_bufs(s, burst_over ? FREE_FLOOR : keep_after_half(s->n_free_bufs, s->low_free_bufs));
    size_t pools = drop_pools(s, burst_over ? FREE_FLOOR : keep_after_half(s->n_free_pools, s->low_free_pools));
    s->low_free_bufs = s->n_free_bufs;
    s->low_free_pools = s->n_free_pools;
    if (bufs || pools)
        log_msg(WS_LOG_DEBUG, "WS0109", "memory: %zu unused read buffers and %zu pools freed", bufs, pools);

    if (burst_over) {
        loop_release_spare_timers(s->loop, FREE_FLOOR);
        log_msg(WS_LOG_DEBUG, "WS0109", "memory: open connections fell from %llu to %llu: free heap pages given back",
                (unsigned long long)s->peak_conns, (unsigned long long)s->n_conns);
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        s->last_trim_ms = now_ms;
        s->peak_conns = s->n_conns;
    }
}

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
 *   - once the open connections have fallen well below their peak, asks
 *     malloc to hand free pages back to the kernel (malloc_trim), at most
 *     every few seconds: a steady load never pays for it.
 */
#include <malloc.h>
#include <stdlib.h>

#include "arena.h"
#include "log.h"
#include "server.h"

#define FREE_FLOOR 16        /* list entries always kept for the next burst */
#define TRIM_DROP 256        /* connections below the peak before malloc_trim */
#define TRIM_EVERY_MS 5000   /* malloc_trim at most this often */

void server_memory_tick(server *s, uint64_t now_ms)
{
    size_t bufs = s->n_free_bufs, pools = s->n_free_pools;
    if (s->low_free_bufs > FREE_FLOOR) {
        size_t drop = (s->low_free_bufs - FREE_FLOOR + 1) / 2;
        while (drop-- && s->n_free_bufs > FREE_FLOOR)
            free(s->free_bufs[--s->n_free_bufs]);
    }
    if (s->low_free_pools > FREE_FLOOR) {
        size_t drop = (s->low_free_pools - FREE_FLOOR + 1) / 2;
        while (drop-- && s->n_free_pools > FREE_FLOOR)
            arena_free(s->free_pools[--s->n_free_pools]);
    }
    s->low_free_bufs = s->n_free_bufs;
    s->low_free_pools = s->n_free_pools;
    if (bufs != s->n_free_bufs || pools != s->n_free_pools)
        log_msg(WS_LOG_DEBUG, "WS0109", "memory: %zu unused read buffers and %zu pools freed", bufs - s->n_free_bufs,
                pools - s->n_free_pools);

    if (s->peak_conns >= s->n_conns + TRIM_DROP && now_ms - s->last_trim_ms >= TRIM_EVERY_MS) {
        log_msg(WS_LOG_DEBUG, "WS0109", "memory: open connections fell from %llu to %llu: free heap pages given back",
                (unsigned long long)s->peak_conns, (unsigned long long)s->n_conns);
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        s->last_trim_ms = now_ms;
        s->peak_conns = s->n_conns;
    }
}

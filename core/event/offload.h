/*
 * A small thread pool owned by the core for work that would block the event
 * loop (password hashes, image resizing, a synchronous client library).
 *
 * Jobs run on OFFLOAD_THREADS threads in submission order; each job's
 * `complete` callback runs afterwards ON THE LOOP'S THREAD, woken through an
 * eventfd (a pipe where eventfd is missing). The threads start with the first
 * job, so a process that forks (the master) before any job has none to lose.
 * Nothing here knows about requests: the request rules (cleanup waits for
 * outstanding work) live in core/phases/offload_req.c.
 */
#ifndef WEBSERV_OFFLOAD_H
#define WEBSERV_OFFLOAD_H

#include "loop.h"

#define OFFLOAD_THREADS 4
#define OFFLOAD_NICE 5 /* the pool's threads run this much nicer than the loop */

typedef void (*offload_work_fn)(void *arg);
typedef void (*offload_complete_fn)(void *ctx);

/* Queue work(arg) for a pool thread; complete(ctx) follows on the loop.
 * 0, or -1 (no memory, no thread could be started): nothing was queued. */
int offload_submit(loop *l, offload_work_fn work, void *arg, offload_complete_fn complete, void *ctx);

/* Jobs queued or running whose completion has not run yet. */
unsigned offload_outstanding(void);

/* Wait for every queued job, run their completions, stop and join the
 * threads (server shutdown; also used by the tests). The pool restarts on the
 * next submit. */
void offload_stop(void);

#endif

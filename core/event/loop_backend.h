/*
 * Internal interface between the common event loop (loop.c) and its
 * readiness backends (loop_epoll.c, loop_poll.c). Not for modules.
 *
 * A backend only knows fds and interest masks: the fd table, generations,
 * callbacks and timers all live in loop.c, so each backend stays a thin
 * wrapper around one kernel interface.
 */
#ifndef WEBSERV_LOOP_BACKEND_H
#define WEBSERV_LOOP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* One ready fd as reported by a backend. `events` holds LOOP_READ,
 * LOOP_WRITE and LOOP_ERROR as the kernel reported them; loop.c filters them
 * against the current interest. `gen` is filled in by loop.c. */
struct loop_event {
    int fd;
    unsigned events;
    uint32_t gen;
};

typedef struct loop_backend_ops {
    const char *name;
    /* Backend state; NULL with errno on failure. max_fds is a sizing hint. */
    void *(*create)(int max_fds);
    void (*destroy)(void *be);
    /* Change the interest of fd from old_events to new_events (each a subset
     * of LOOP_READ|LOOP_WRITE). old 0 means "not in the kernel set", new 0
     * means "take it out": a silent fd must not wake the loop on hang-up. */
    int (*set)(void *be, int fd, unsigned old_events, unsigned new_events);
    /* Optional: fd (interest old_events) is closed right after this and has
     * no other descriptor, so the kernel drops it from its set by itself;
     * only the backend's own bookkeeping changes. NULL: set(…, 0) is used. */
    void (*forget)(void *be, int fd, unsigned old_events);
    /* Wait up to timeout_ms (-1: forever) and store at most max_out ready fds
     * in out. Count stored, or -1 with errno (EINTR included). */
    int (*wait)(void *be, struct loop_event *out, int max_out, int timeout_ms);
} loop_backend_ops;

extern const loop_backend_ops loop_epoll_ops;
extern const loop_backend_ops loop_poll_ops;

/* For tests: 1 when the timer heap is ordered and every timer's index is
 * right, else 0. */
int loop_debug_timer_heap_ok(const loop *l);
/* For tests: number of pending timers. */
size_t loop_debug_timer_count(const loop *l);

#endif

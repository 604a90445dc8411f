/*
 * The event loop: fd readiness, one-shot timers (a binary heap), and a cached
 * clock. One small interface; the backend (epoll or poll) is chosen at
 * creation. Single-threaded: nothing here is thread-safe.
 *
 * Callbacks may add, modify or delete any fd or timer, including their own,
 * from inside a callback; an fd deleted during a dispatch round gets no
 * further callback in that round.
 */
#ifndef WEBSERV_LOOP_H
#define WEBSERV_LOOP_H

#include <stddef.h>
#include <stdint.h>

#define LOOP_READ 0x1u
#define LOOP_WRITE 0x2u
#define LOOP_ERROR 0x4u /* delivered only: error or hang-up (EPOLLERR/EPOLLHUP, POLLERR/POLLHUP/POLLNVAL) */

typedef enum { LOOP_BACKEND_AUTO = 0, LOOP_BACKEND_EPOLL, LOOP_BACKEND_POLL } loop_backend;

typedef struct loop loop;
typedef struct loop_timer loop_timer;

typedef void (*loop_io_fn)(loop *l, int fd, unsigned events, void *arg);
typedef void (*loop_timer_fn)(loop *l, void *arg);

/* AUTO reads the environment variable WEBSERV_EVENT_BACKEND ("epoll" or
 * "poll"), else epoll. max_fds is a sizing hint. NULL on failure (errno set). */
loop *loop_new(loop_backend backend, int max_fds);
void loop_free(loop *l);
/* Frees recycled timers beyond the first `keep`: after a burst of
 * connections, each spare timer would pin a heap page that malloc_trim
 * cannot give back. */
void loop_release_spare_timers(loop *l, size_t keep);
const char *loop_backend_name(const loop *l);

/* Watch fd for `events` (LOOP_READ|LOOP_WRITE, may be 0 to keep it registered
 * but silent). One registration per fd. 0 or -1 with errno. */
int loop_add(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg);
/* loop_add, the backend told only before the next wait, and only if fd is
 * still registered then: an fd whose owner is done with it before that
 * (a connection read, answered and closed in its first turn) costs the
 * backend nothing (no epoll_ctl). Until then loop_mod, loop_rebind and
 * loop_del make no system call either. Level-triggered, so readiness that
 * came before the backend heard of the fd is reported at that wait. */
int loop_add_later(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg);
int loop_mod(loop *l, int fd, unsigned events);
int loop_del(loop *l, int fd); /* call before close(fd) */
/* The registration of fd as it stands: its callback and arg, or NULL when fd
 * is not registered. */
loop_io_fn loop_owner(const loop *l, int fd, void **arg);
/* Hand fd's registration to another callback (and interest) without leaving
 * the kernel's set: no system call when the interest is unchanged, where a
 * loop_del + loop_add costs two. Events already collected for the previous
 * owner are not delivered (level-triggered: they come again). 0 or -1. */
int loop_rebind(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg);
/* loop_del for an fd closed right after, never duplicated (no dup(), and
 * children get it only across exec with CLOEXEC): the epoll backend leaves
 * the removal to close() and makes no system call. */
int loop_del_closing(loop *l, int fd);
/* Dispatch fd's events before any other fd's of the same round (-1: none).
 * The stat cache's inotify fd is first, so a change made before a request
 * arrived is seen before that request is served. One fd per loop. */
void loop_set_first(loop *l, int fd);
/* Dispatch the first fd now if it is readable (one poll()): for work taken
 * in from outside the round's events, such as connections accepted during
 * it, whose requests may have come after a change the round did not see. */
void loop_catch_up_first(loop *l);

/* One-shot timer after `ms` milliseconds. Cancelling a fired or cancelled
 * timer is a bug; the handle is invalid once its callback starts. */
loop_timer *loop_timer_add(loop *l, uint64_t ms, loop_timer_fn fn, void *arg);
void loop_timer_cancel(loop *l, loop_timer *t);

/* Milliseconds on a monotonic clock, updated once per loop iteration. */
uint64_t loop_now_ms(const loop *l);
/* Seconds since the epoch (wall clock), updated once per loop iteration. */
int64_t loop_wall_time(const loop *l);

/* Wait at most max_wait_ms (-1: until something happens), dispatch ready fds
 * and due timers once. Returns the number of callbacks run, -1 on error. */
int loop_run_once(loop *l, int max_wait_ms);
/* Run until loop_stop. */
void loop_run(loop *l);
void loop_stop(loop *l);

#endif

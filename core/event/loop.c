/*
 * The common part of the event loop: the fd table, the dispatch round, the
 * timer heap and the cached clocks. The kernel interface is behind
 * loop_backend_ops (loop_epoll.c, loop_poll.c).
 */
#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop_backend.h"

#define LOOP_INTEREST (LOOP_READ | LOOP_WRITE)
#define LOOP_MIN_FDS 64
/* The hint may be RLIMIT_NOFILE (a million): size for it lazily instead. */
#define LOOP_MAX_INITIAL_FDS 65536
/* How often the wall clock is re-read; in between it is derived from the
 * monotonic clock, so an iteration costs one clock_gettime. */
#define LOOP_WALL_RESYNC_MS 1000

struct loop_fd {
    loop_io_fn fn; /* NULL: not registered */
    void *arg;
    unsigned events;
    /* Bumped on every add and del, so an event collected before a del is
     * not delivered to a later registration of the same fd number. */
    uint32_t gen;
    /* Registered with loop_add_later and not yet in the backend's set:
     * the backend hears of it before the next wait, if it is still here. */
    bool later;
};

struct loop_timer {
    uint64_t when; /* deadline, monotonic ms */
    uint64_t seq;  /* insertion order: equal deadlines fire first-in first-out */
    size_t idx;    /* position in the heap, for O(log n) cancel */
    loop_timer_fn fn;
    void *arg;
    loop_timer *next_free;
};

struct loop {
    const loop_backend_ops *ops;
    void *be;

    struct loop_fd *fds; /* indexed by fd */
    size_t fds_cap;
    size_t nregistered;

    struct loop_event *ready; /* one round's events; cap >= nregistered */
    size_t ready_cap;

    loop_timer **heap;
    size_t nheap, heap_cap;
    uint64_t timer_seq;
    loop_timer *free_timers; /* recycled, so timers cost no malloc at steady state */

    uint64_t now_ms;
    int64_t wall_offset_ms; /* realtime ms minus monotonic ms at the last resync */
    uint64_t wall_synced_ms;

    int first_fd; /* dispatched before the rest of its round; -1: none */

    int *later;   /* fds of loop_add_later, in order; entries of fds no longer "later" are stale */
    size_t nlater, later_cap;

    bool stop;
    bool dispatching;
};

/* ---- clocks ---- */

static uint64_t timespec_ms(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000u + (uint64_t)ts->tv_nsec / 1000000u;
}

static void resync_wall(loop *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    l->wall_offset_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)l->now_ms;
    l->wall_synced_ms = l->now_ms;
}

static void update_clock(loop *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    l->now_ms = timespec_ms(&ts);
    /* Re-reading now and then picks up wall clock steps (NTP, admin). */
    if (l->now_ms - l->wall_synced_ms >= LOOP_WALL_RESYNC_MS)
        resync_wall(l);
}

uint64_t loop_now_ms(const loop *l)
{
    return l->now_ms;
}

int64_t loop_wall_time(const loop *l)
{
    int64_t ms = (int64_t)l->now_ms + l->wall_offset_ms;
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* ---- creation ---- */

static const loop_backend_ops *pick_backend(loop_backend backend)
{
    if (backend == LOOP_BACKEND_EPOLL)
        return &loop_epoll_ops;
    if (backend == LOOP_BACKEND_POLL)
        return &loop_poll_ops;
    if (backend != LOOP_BACKEND_AUTO) {
        errno = EINVAL;
        return NULL;
    }
    const char *env = getenv("WEBSERV_EVENT_BACKEND");
    if (env == NULL || *env == '\0' || strcmp(env, "epoll") == 0)
        return &loop_epoll_ops;
    if (strcmp(env, "poll") == 0)
        return &loop_poll_ops;
    /* A typo must not silently test the wrong backend. */
    errno = EINVAL;
    return NULL;
}

static size_t initial_fds(int max_fds)
{
    if (max_fds < LOOP_MIN_FDS)
        return LOOP_MIN_FDS;
    if (max_fds > LOOP_MAX_INITIAL_FDS)
        return LOOP_MAX_INITIAL_FDS;
    return (size_t)max_fds;
}

loop *loop_new(loop_backend backend, int max_fds)
{
    const loop_backend_ops *ops = pick_backend(backend);
    if (ops == NULL)
        return NULL;
    loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->ops = ops;
    l->first_fd = -1;
    l->fds_cap = initial_fds(max_fds);
    l->ready_cap = LOOP_MIN_FDS;
    l->fds = calloc(l->fds_cap, sizeof *l->fds);
    l->ready = calloc(l->ready_cap, sizeof *l->ready);
    if (l->fds == NULL || l->ready == NULL)
        goto fail;
    l->be = ops->create(max_fds);
    if (l->be == NULL)
        goto fail;
    update_clock(l);
    resync_wall(l);
    return l;
fail:;
    int saved = errno;
    free(l->fds);
    free(l->ready);
    free(l->later);
    free(l);
    errno = saved;
    return NULL;
}

static void free_timers(loop *l)
{
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    while (l->free_timers != NULL) {
        loop_timer *t = l->free_timers;
        l->free_timers = t->next_free;
        free(t);
    }
}

void loop_free(loop *l)
{
    if (l == NULL)
        return;
    l->ops->destroy(l->be);
    free_timers(l);
    free(l->fds);
    free(l->ready);
    free(l->later);
    free(l);
}

const char *loop_backend_name(const loop *l)
{
    return l->ops->name;
}

/* ---- fds ---- */

static int grow_fds(loop *l, int fd)
{
    size_t cap = l->fds_cap;
    while (cap <= (size_t)fd)
        cap *= 2;
    struct loop_fd *fds = realloc(l->fds, cap * sizeof *fds);
    if (fds == NULL)
        return -1;
    memset(fds + l->fds_cap, 0, (cap - l->fds_cap) * sizeof *fds);
    l->fds = fds;
    l->fds_cap = cap;
    return 0;
}

/* The ready array holds one entry per registered fd, so a backend can hand
 * over a whole round at once. Callers index it afresh after every callback,
 * since a loop_add inside a callback may move it. */
static int reserve_ready(loop *l, size_t n)
{
    if (n <= l->ready_cap)
        return 0;
    size_t cap = l->ready_cap * 2;
    struct loop_event *ready = realloc(l->ready, cap * sizeof *ready);
    if (ready == NULL)
        return -1;
    l->ready = ready;
    l->ready_cap = cap;
    return 0;
}

static struct loop_fd *registered(loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->fds_cap || l->fds[fd].fn == NULL) {
        errno = fd < 0 ? EBADF : ENOENT;
        return NULL;
    }
    return &l->fds[fd];
}

/* Room to register fd: 0, or -1 with errno. */
static int can_add(loop *l, int fd, loop_io_fn fn)
{
    if (fd < 0 || fn == NULL) {
        errno = fd < 0 ? EBADF : EINVAL;
        return -1;
    }
    if ((size_t)fd >= l->fds_cap && grow_fds(l, fd) < 0)
        return -1;
    if (l->fds[fd].fn != NULL) {
        errno = EEXIST;
        return -1;
    }
    return reserve_ready(l, l->nregistered + 1);
}

static void take(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg, bool later)
{
    struct loop_fd *f = &l->fds[fd];
    f->fn = fn;
    f->arg = arg;
    f->events = events;
    f->later = later;
    f->gen++;
    l->nregistered++;
}

int loop_add(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg)
{
    if (can_add(l, fd, fn) < 0)
        return -1;
    events &= LOOP_INTEREST;
    if (l->ops->set(l->be, fd, 0, events) < 0)
        return -1;
    take(l, fd, events, fn, arg, false);
    return 0;
}

int loop_add_later(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg)
{
    if (can_add(l, fd, fn) < 0)
        return -1;
    if (l->nlater == l->later_cap) {
        size_t cap = l->later_cap ? l->later_cap * 2 : 64;
        int *later = realloc(l->later, cap * sizeof *later);
        if (later == NULL)
            return -1;
        l->later = later;
        l->later_cap = cap;
    }
    l->later[l->nlater++] = fd;
    take(l, fd, events & LOOP_INTEREST, fn, arg, true);
    return 0;
}

/* Before a wait: the backend hears of the fds added later that are still
 * registered. One it refuses (out of memory, or the kernel's limit of
 * watches) stays "later" and is tried again before the next wait; its owner
 * still has its timers. */
static void add_the_later_ones(loop *l)
{
    size_t keep = 0;
    for (size_t i = 0; i < l->nlater; i++) {
        int fd = l->later[i];
        struct loop_fd *f = &l->fds[fd];
        if (f->fn == NULL || !f->later)
            continue; /* deleted (maybe added again since, then at once or by its own entry) */
        if (l->ops->set(l->be, fd, 0, f->events) < 0) {
            l->later[keep++] = fd;
            continue;
        }
        f->later = false;
    }
    l->nlater = keep;
}

int loop_mod(loop *l, int fd, unsigned events)
{
    struct loop_fd *f = registered(l, fd);
    if (f == NULL)
        return -1;
    events &= LOOP_INTEREST;
    if (events == f->events)
        return 0;
    if (!f->later && l->ops->set(l->be, fd, f->events, events) < 0)
        return -1;
    f->events = events;
    return 0;
}

loop_io_fn loop_owner(const loop *l, int fd, void **arg)
{
    if (fd < 0 || (size_t)fd >= l->fds_cap || l->fds[fd].fn == NULL)
        return NULL;
    if (arg)
        *arg = l->fds[fd].arg;
    return l->fds[fd].fn;
}

int loop_rebind(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg)
{
    struct loop_fd *f = registered(l, fd);
    if (f == NULL || fn == NULL) {
        if (f)
            errno = EINVAL;
        return -1;
    }
    events &= LOOP_INTEREST;
    if (!f->later && events != f->events && l->ops->set(l->be, fd, f->events, events) < 0)
        return -1;
    f->fn = fn;
    f->arg = arg;
    f->events = events;
    f->gen++;
    return 0;
}

static int del_fd(loop *l, int fd, int closing)
{
    struct loop_fd *f = registered(l, fd);
    if (f == NULL)
        return -1;
    /* Forget the fd even if the kernel complains: the caller is about to
     * close it and must not see it again. */
    int rc = 0;
    if (f->later)
        rc = 0; /* the backend never heard of it */
    else if (closing && l->ops->forget)
        l->ops->forget(l->be, fd, f->events);
    else
        rc = l->ops->set(l->be, fd, f->events, 0);
    f->fn = NULL;
    f->arg = NULL;
    f->events = 0;
    f->later = false;
    f->gen++;
    l->nregistered--;
    return rc;
}

int loop_del(loop *l, int fd)
{
    return del_fd(l, fd, 0);
}

int loop_del_closing(loop *l, int fd)
{
    return del_fd(l, fd, 1);
}

/* ---- timer heap, ordered by (when, seq) ---- */

static bool timer_before(const loop_timer *a, const loop_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_place(loop *l, size_t i, loop_timer *t)
{
    l->heap[i] = t;
    t->idx = i;
}

static void sift_up(loop *l, size_t i)
{
    loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, l->heap[parent]))
            break;
        heap_place(l, i, l->heap[parent]);
        i = parent;
    }
    heap_place(l, i, t);
}

static void sift_down(loop *l, size_t i)
{
    loop_timer *t = l->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->nheap)
            break;
        if (child + 1 < l->nheap && timer_before(l->heap[child + 1], l->heap[child]))
            child++;
        if (!timer_before(l->heap[child], t))
            break;
        heap_place(l, i, l->heap[child]);
        i = child;
    }
    heap_place(l, i, t);
}

static void heap_remove(loop *l, size_t i)
{
    loop_timer *last = l->heap[--l->nheap];
    if (i == l->nheap)
        return;
    heap_place(l, i, last);
    /* The moved timer may belong above or below its new place. */
    sift_down(l, i);
    sift_up(l, last->idx);
}

static loop_timer *timer_get(loop *l)
{
    loop_timer *t = l->free_timers;
    if (t != NULL) {
        l->free_timers = t->next_free;
        return t;
    }
    return malloc(sizeof *t);
}

static void timer_put(loop *l, loop_timer *t)
{
    t->fn = NULL; /* makes a double cancel visible to the debug assert */
    t->next_free = l->free_timers;
    l->free_timers = t;
}

void loop_release_spare_timers(loop *l, size_t keep)
{
    loop_timer **link = &l->free_timers;
    while (*link != NULL && keep > 0) {
        link = &(*link)->next_free;
        keep--;
    }
    while (*link != NULL) {
        loop_timer *t = *link;
        *link = t->next_free;
        free(t);
    }
}

static int reserve_heap(loop *l)
{
    if (l->nheap < l->heap_cap)
        return 0;
    size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
    loop_timer **heap = realloc(l->heap, cap * sizeof *heap);
    if (heap == NULL)
        return -1;
    l->heap = heap;
    l->heap_cap = cap;
    return 0;
}

loop_timer *loop_timer_add(loop *l, uint64_t ms, loop_timer_fn fn, void *arg)
{
    if (reserve_heap(l) < 0)
        return NULL;
    loop_timer *t = timer_get(l);
    if (t == NULL)
        return NULL;
    t->when = ms > UINT64_MAX - l->now_ms ? UINT64_MAX : l->now_ms + ms;
    t->seq = l->timer_seq++;
    t->fn = fn;
    t->arg = arg;
    t->next_free = NULL;
    heap_place(l, l->nheap++, t);
    sift_up(l, t->idx);
    return t;
}

void loop_timer_cancel(loop *l, loop_timer *t)
{
    assert(t->fn != NULL && t->idx < l->nheap && l->heap[t->idx] == t);
    heap_remove(l, t->idx);
    timer_put(l, t);
}

/* Runs the timers due now that existed when the round began: a timer that
 * re-arms itself with 0 ms waits for the next round instead of starving the
 * fds. A timer added during the round has when >= now and the highest seq,
 * so once one reaches the top no older due timer is left behind it. */
static int run_timers(loop *l)
{
    uint64_t seq_limit = l->timer_seq;
    int ran = 0;
    while (l->nheap > 0) {
        loop_timer *t = l->heap[0];
        if (t->when > l->now_ms || t->seq >= seq_limit)
            break;
        loop_timer_fn fn = t->fn;
        void *arg = t->arg;
        heap_remove(l, 0);
        timer_put(l, t);
        fn(l, arg);
        ran++;
    }
    return ran;
}

int loop_debug_timer_heap_ok(const loop *l)
{
    for (size_t i = 0; i < l->nheap; i++) {
        if (l->heap[i]->idx != i)
            return 0;
        if (i > 0 && timer_before(l->heap[i], l->heap[(i - 1) / 2]))
            return 0;
    }
    return 1;
}

size_t loop_debug_timer_count(const loop *l)
{
    return l->nheap;
}

/* ---- the round ---- */

static int wait_timeout(const loop *l, int max_wait_ms)
{
    if (l->nheap == 0)
        return max_wait_ms < 0 ? -1 : max_wait_ms;
    uint64_t when = l->heap[0]->when;
    uint64_t delta = when > l->now_ms ? when - l->now_ms : 0;
    if (max_wait_ms >= 0 && (uint64_t)max_wait_ms < delta)
        return max_wait_ms;
    return delta > INT_MAX ? INT_MAX : (int)delta;
}

/* What the callback sees: the reported events still wanted now (an earlier
 * callback may have changed the interest), and on error or hang-up also the
 * watched directions, so a reader or writer meets the failure in its own
 * read() or write(). A silent fd (interest 0) gets nothing. */
static unsigned deliverable(unsigned reported, unsigned watched)
{
    unsigned ev = reported & watched;
    if (watched != 0 && (reported & LOOP_ERROR))
        ev |= LOOP_ERROR | watched;
    return ev;
}

static int dispatch_one(loop *l, struct loop_event e)
{
    if ((size_t)e.fd >= l->fds_cap)
        return 0;
    struct loop_fd *f = &l->fds[e.fd];
    if (f->fn == NULL || f->gen != e.gen)
        return 0; /* deleted, or deleted and added again, this round */
    unsigned ev = deliverable(e.events, f->events);
    if (ev == 0)
        return 0;
    f->fn(l, e.fd, ev, f->arg); /* f may dangle after this */
    return 1;
}

static int dispatch_io(loop *l, int n)
{
    /* Stamp each event with its registration before any callback runs. */
    int first = -1;
    for (int i = 0; i < n; i++) {
        int fd = l->ready[i].fd;
        l->ready[i].gen = (size_t)fd < l->fds_cap ? l->fds[fd].gen : 0;
        if (fd == l->first_fd)
            first = i;
    }
    int ran = 0;
    if (first >= 0)
        ran += dispatch_one(l, l->ready[first]);
    for (int i = 0; i < n; i++)
        if (i != first)
            ran += dispatch_one(l, l->ready[i]);
    return ran;
}

void loop_set_first(loop *l, int fd)
{
    l->first_fd = fd;
}

void loop_catch_up_first(loop *l)
{
    int fd = l->first_fd;
    struct loop_fd *f = registered(l, fd);
    if (f == NULL || !(f->events & LOOP_READ))
        return;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLERR | POLLHUP)))
        f->fn(l, fd, LOOP_READ, f->arg);
}

int loop_run_once(loop *l, int max_wait_ms)
{
    if (l->dispatching) {
        /* A nested round would overwrite the events of the outer one. */
        errno = EDEADLK;
        return -1;
    }
    add_the_later_ones(l);
    int n = l->ops->wait(l->be, l->ready, (int)l->ready_cap, wait_timeout(l, max_wait_ms));
    int wait_errno = errno;
    update_clock(l);
    if (n < 0) {
        if (wait_errno != EINTR) {
            errno = wait_errno;
            return -1;
        }
        n = 0; /* a signal: still run the timers that are due */
    }
    l->dispatching = true;
    int ran = dispatch_io(l, n);
    ran += run_timers(l);
    l->dispatching = false;
    return ran;
}

void loop_run(loop *l)
{
    while (!l->stop) {
        if (loop_run_once(l, -1) < 0)
            break; /* the backend is broken; spinning would not fix it */
    }
    l->stop = false; /* ready for the next loop_run */
}

void loop_stop(loop *l)
{
    l->stop = true;
}

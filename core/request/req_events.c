/*
 * The events a request owns on behalf of its module (fd watches, timers,
 * child exits) and the bracket around every module call: a callback runs
 * the module, then the carrier moves the request forward. Also the
 * request's end for its module: exactly one cleanup, and nothing of its
 * events left behind.
 */
#include <stdlib.h>

#include "arena.h"
#include "filter.h"
#include "log.h"
#include "loop.h"
#include "modules.h"
#include "request.h"
#include "server.h"

void req_begin_module(request *r)
{
    r->in_module++;
}

void req_end_module(request *r)
{
    r->in_module--;
}

int req_writable(request *r)
{
    if (filter_pending(r)) {
        /* File ranges and what waits behind them go through the body
         * filters first (core/phases/filter.c); the module hears
         * on_writable once they are all through. */
        int moved = filter_pump(r);
        if (filter_pending(r) || !r->want_writable || r->finished || !r->owner || !r->owner->d.on_writable)
            return moved;
    }
    if (!r->want_writable || r->finished || !r->owner || !r->owner->d.on_writable)
        return 0;
    r->want_writable = 0;
    req_begin_module(r);
    r->owner->d.on_writable(&r->pub);
    req_end_module(r);
    return 1;
}

static void writable_later(ws_request *p, void *arg)
{
    (void)arg;
    req_writable((request *)(void *)p);
}

void req_kick_writable(request *r)
{
    if (r->kick && r->kick->t)
        return; /* already on its way */
    r->kick = (req_timer *)req_timer_start(r, 0, writable_later, NULL);
}

void req_remove_events(request *r)
{
    loop *l = g_server->loop;
    for (req_watch *w = r->watches; w; w = w->next)
        if (w->fd >= 0) {
            loop_del(l, w->fd);
            w->fd = -1;
        }
    for (req_timer *t = r->timers; t; t = t->next)
        if (t->t) {
            loop_timer_cancel(l, t->t);
            t->t = NULL;
        }
    r->watches = NULL;
    r->timers = NULL;
    children_forget_request(r);
}

void req_release_module(request *r, int how)
{
    if (r->owner && !r->cleaned) {
        r->cleaned = 1;
        if (r->owner->d.cleanup) {
            r->in_module++;
            r->owner->d.cleanup(&r->pub, how);
            r->in_module--;
        }
    }
    req_remove_events(r);
}

/* Watch and timer trampolines: run the module's callback, then move on. */
static void watch_tramp(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    req_watch *w = arg;
    request *r = w->r;
    unsigned wev = (ev & LOOP_READ ? WS_EV_READ : 0) | (ev & LOOP_WRITE ? WS_EV_WRITE : 0) |
                   (ev & LOOP_ERROR ? WS_EV_ERROR : 0);
    log_context_set(&r->logctx);
    req_begin_module(r);
    w->cb(&r->pub, fd, wev, w->arg);
    req_end_module(r);
    r->carrier->progress(r);
    log_context_set(NULL);
}

static unsigned loop_events(unsigned events)
{
    return (events & WS_EV_READ ? LOOP_READ : 0) | (events & WS_EV_WRITE ? LOOP_WRITE : 0);
}

/* ABI 1.3: a watch of the worker, not of a request (r == NULL): a module's
 * idle pool (lib/upstream) hears its upstream close an idle connection. No
 * request context, no carrier to move on; it lives until watch_remove. */
static void worker_watch_tramp(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    req_watch *w = arg;
    unsigned wev = (ev & LOOP_READ ? WS_EV_READ : 0) | (ev & LOOP_WRITE ? WS_EV_WRITE : 0) |
                   (ev & LOOP_ERROR ? WS_EV_ERROR : 0);
    w->cb(NULL, fd, wev, w->arg); /* may remove (and free) w: not touched after */
}


/* Register w's fd. An fd a worker watch holds, watched now for a request,
 * or the other way round (an idle pooled upstream connection taken by a
 * request, and given back), changes hands without leaving the kernel's set:
 * the earlier watch is left without an fd, so its watch_remove only frees
 * it. Two watches of one kind on one fd stay an error, as before. */
static int watch_register(req_watch *w, loop_io_fn fn)
{
    loop *l = g_server->loop;
    void *held = NULL;
    loop_io_fn owner = loop_owner(l, w->fd, &held);
    if (owner && ((owner == worker_watch_tramp && fn == watch_tramp) ||
                  (owner == watch_tramp && fn == worker_watch_tramp))) {
        if (loop_rebind(l, w->fd, loop_events(w->events), fn, w) < 0)
            return -1;
        ((req_watch *)held)->fd = -1;
        return 0;
    }
    return loop_add(l, w->fd, loop_events(w->events), fn, w);
}

static ws_watch *worker_watch_fd(int fd, unsigned events, ws_fd_cb cb, void *arg)
{
    if (!g_server || fd < 0 || !cb)
        return NULL; /* the master has no loop for modules */
    req_watch *w = malloc(sizeof *w);
    if (!w)
        return NULL;
    *w = (req_watch){.r = NULL, .fd = fd, .events = events, .cb = cb, .arg = arg};
    if (watch_register(w, worker_watch_tramp) < 0) {
        free(w);
        return NULL;
    }
    return (ws_watch *)w;
}

ws_watch *req_watch_fd(request *r, int fd, unsigned events, ws_fd_cb cb, void *arg)
{
    if (!r)
        return worker_watch_fd(fd, events, cb, arg);
    req_watch *w = arena_alloc(r->pool, sizeof *w);
    if (!w)
        return NULL;
    *w = (req_watch){.r = r, .fd = fd, .events = events, .cb = cb, .arg = arg, .next = r->watches};
    if (watch_register(w, watch_tramp) < 0)
        return NULL;
    r->watches = w;
    return (ws_watch *)w;
}

int req_watch_set(req_watch *w, unsigned events)
{
    if (w->fd < 0)
        return WS_ERROR;
    w->events = events;
    return loop_mod(g_server->loop, w->fd, loop_events(events)) == 0 ? WS_OK : WS_ERROR;
}

void req_watch_remove(req_watch *w)
{
    if (!w->r) { /* a worker watch (r == NULL): gone with its removal */
        if (g_server && w->fd >= 0)
            loop_del(g_server->loop, w->fd);
        free(w);
        return;
    }
    if (w->fd < 0)
        return;
    loop_del(g_server->loop, w->fd);
    w->fd = -1;
}

static void timer_tramp(loop *l, void *arg)
{
    (void)l;
    req_timer *t = arg;
    request *r = t->r;
    t->t = NULL;
    log_context_set(&r->logctx);
    req_begin_module(r);
    t->cb(&r->pub, t->arg);
    req_end_module(r);
    r->carrier->progress(r);
    log_context_set(NULL);
}

ws_timer *req_timer_start(request *r, uint64_t ms, ws_timer_cb cb, void *arg)
{
    req_timer *t = arena_alloc(r->pool, sizeof *t);
    if (!t)
        return NULL;
    *t = (req_timer){.r = r, .cb = cb, .arg = arg, .next = r->timers};
    t->t = loop_timer_add(g_server->loop, ms, timer_tramp, t);
    if (!t->t)
        return NULL;
    r->timers = t;
    return (ws_timer *)t;
}

void req_timer_stop(req_timer *t)
{
    if (t && t->t) {
        loop_timer_cancel(g_server->loop, t->t);
        t->t = NULL;
    }
}

void req_child_exited(request *r, pid_t pid, int status, ws_child_cb cb, void *arg)
{
    log_context_set(&r->logctx);
    req_begin_module(r);
    cb(&r->pub, pid, status, arg);
    req_end_module(r);
    r->carrier->progress(r);
    log_context_set(NULL);
}

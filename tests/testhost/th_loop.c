/*
 * The test host's event loop: real fd readiness (poll), one-shot timers on
 * the monotonic clock, child exits (waitpid WNOHANG, polled every few ms
 * while a child is watched, so no SIGCHLD handler fights the test program),
 * the request body and output backpressure. Like the core, it never calls a
 * module back from inside a host function: callbacks only start here.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "th_internal.h"

#define CHILD_POLL_MS 2 /* how often waitpid is tried while a child runs */

static th_child *children; /* every watched child, also after its request ended */

uint64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int th_request_done(const th_request *t) { return t->ended || t->res->finished; }

/* ---- host functions (th_host.c puts them in the table) ---- */

ws_watch *th_watch_fd(ws_request *r, int fd, unsigned events, ws_fd_cb cb, void *arg)
{
    th_request *t = (th_request *)r;
    if (!t)
        return NULL; /* (ABI 1.3) no worker watches here: a pool falls back to peeking */
    if (fd < 0 || !cb || th_request_done(t))
        return NULL;
    for (ws_watch *w = t->watches; w; w = w->next)
        if (w->fd == fd && !w->removed)
            return NULL; /* one watch per fd, as in the core's loop */
    ws_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    *w = (ws_watch){.next = t->watches, .t = t, .fd = fd, .events = events & (WS_EV_READ | WS_EV_WRITE),
                    .cb = cb, .arg = arg};
    t->watches = w;
    return w;
}

int th_watch_set(ws_watch *w, unsigned events)
{
    if (!w || w->removed)
        return WS_ERROR;
    w->events = events & (WS_EV_READ | WS_EV_WRITE);
    return WS_OK;
}

void th_watch_remove(ws_watch *w)
{
    if (w)
        w->removed = 1; /* freed when the request ends: a callback may still hold it */
}

ws_timer *th_timer_start(ws_request *r, uint64_t ms, ws_timer_cb cb, void *arg)
{
    th_request *t = (th_request *)r;
    if (!cb || th_request_done(t))
        return NULL;
    ws_timer *tm = calloc(1, sizeof *tm);
    if (!tm)
        return NULL;
    *tm = (ws_timer){.next = t->timers, .t = t, .due_ms = th_now_ms() + ms, .cb = cb, .arg = arg};
    t->timers = tm;
    return tm;
}

void th_timer_stop(ws_timer *tm)
{
    if (tm)
        tm->done = 1;
}

int th_watch_child(ws_request *r, pid_t pid, ws_child_cb cb, void *arg)
{
    th_request *t = (th_request *)r;
    if (pid <= 0 || !cb)
        return WS_ERROR;
    th_child *c = calloc(1, sizeof *c);
    if (!c)
        return WS_ERROR;
    *c = (th_child){.next = children, .t = t, .pid = pid, .cb = cb, .arg = arg};
    children = c;
    t->n_children++;
    return WS_OK;
}

/* ---- children ---- */

void th_reap_once(void)
{
    for (th_child *c = children; c; c = c->next) {
        if (c->done)
            continue;
        int st = 0;
        pid_t got = waitpid(c->pid, &st, WNOHANG);
        if (got == 0 || (got < 0 && errno == EINTR))
            continue;
        c->done = 1; /* exited, or not ours any more (ECHILD): stop asking */
        th_request *t = c->t;
        if (!t)
            continue;
        t->n_children--;
        if (!th_request_done(t))
            c->cb(&t->req, c->pid, got > 0 ? st : 0, c->arg);
    }
    /* Drop finished entries; callbacks only ever prepend, so this is safe now. */
    for (th_child **pp = &children; *pp;) {
        th_child *c = *pp;
        if (c->done) {
            *pp = c->next;
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

int th_reap(int ms)
{
    uint64_t end = th_now_ms() + (ms > 0 ? (uint64_t)ms : 0);
    for (;;) {
        th_reap_once();
        int left = 0;
        for (th_child *c = children; c; c = c->next)
            left++;
        if (!left || th_now_ms() >= end)
            return left;
        poll(NULL, 0, CHILD_POLL_MS);
    }
}

/* ---- request end ---- */

void th_events_release(th_request *t)
{
    while (t->watches) {
        ws_watch *w = t->watches;
        t->watches = w->next;
        free(w);
    }
    while (t->timers) {
        ws_timer *tm = t->timers;
        t->timers = tm->next;
        free(tm);
    }
    /* The callback is dropped but the child is still reaped (no zombies). */
    for (th_child *c = children; c; c = c->next)
        if (c->t == t)
            c->t = NULL;
    t->n_children = 0;
}

/* ---- the request body ---- */

void th_pump_body(th_request *t)
{
    const ws_module *d = t->m->desc;
    if (!(t->res->read_body_called || t->upgraded) || th_request_done(t))
        return;
    /* Upgraded (ABI 1.3): the same bytes and rules, other callbacks. */
    size_t (*in)(ws_request *, const char *, size_t) = d->on_body;
    void (*end)(ws_request *) = d->on_body_end;
    if (t->upgraded) {
        in = DESC_HAS(d, on_data) ? d->on_data : NULL;
        end = DESC_HAS(d, on_data_end) ? d->on_data_end : NULL;
    }
    if (!t->body_paused && t->in_len > 0) {
        size_t n = in ? in(&t->req, t->in_buf, t->in_len) : t->in_len;
        if (n > t->in_len)
            n = t->in_len; /* a module bug; the core would clamp as well */
        memmove(t->in_buf, t->in_buf + n, t->in_len - n);
        t->in_len -= n;
        t->body_consumed += n;
        if (t->in_len > 0)
            t->body_paused = 1; /* until body_resume */
    }
    if (t->in_len == 0 && t->body_end && !t->body_end_delivered && !th_request_done(t)) {
        t->body_end_delivered = 1;
        if (end)
            end(&t->req);
    }
}

size_t th_feed_body(th_request *t, const void *data, size_t len)
{
    if (len) {
        char *b = realloc(t->in_buf, t->in_len + len);
        if (!b)
            return 0;
        memcpy(b + t->in_len, data, len);
        t->in_buf = b;
        t->in_len += len;
    }
    uint64_t before = t->body_consumed;
    th_pump_body(t);
    return (size_t)(t->body_consumed - before);
}

void th_end_body(th_request *t)
{
    t->body_end = 1;
    th_pump_body(t);
    /* What on_body_end offloaded (an upload's fsync and rename) finishes
     * before the test looks, as if the disk were instant: tests that check
     * the answer right after the body need no th_run. */
    th_offload_settle(t);
}

size_t th_body_pending(th_request *t) { return t->in_len; }

/* ---- output backpressure ---- */

void th_set_output_full(th_request *t, int full) { t->output_full = full; }

void th_set_output_limit(th_request *t, size_t bytes) { t->out_limit = bytes; }

void th_drain(th_request *t)
{
    t->output_full = 0;
    t->out_queued = 0;
    if (t->want_writable) {
        t->want_writable = 0;
        if (!t->ended && t->m->desc->on_writable)
            t->m->desc->on_writable(&t->req);
    }
}

/* ---- the loop ---- */

static void fire_timers(uint64_t now)
{
    for (th_request *t = th_live; t; t = t->next_live)
        for (ws_timer *tm = t->timers; tm; tm = tm->next)
            if (!tm->done && tm->due_ms <= now && !th_request_done(t)) {
                tm->done = 1; /* one-shot; the handle stays valid until the request ends */
                tm->cb(&t->req, tm->arg);
            }
}

/* The earliest pending timer, or UINT64_MAX. */
static uint64_t next_due(void)
{
    uint64_t due = UINT64_MAX;
    for (th_request *t = th_live; t; t = t->next_live)
        for (ws_timer *tm = t->timers; tm; tm = tm->next)
            if (!tm->done && !th_request_done(t) && tm->due_ms < due)
                due = tm->due_ms;
    return due;
}

static int children_running(void)
{
    for (th_child *c = children; c; c = c->next)
        if (!c->done && c->t && !th_request_done(c->t))
            return 1;
    return 0;
}

/* Wait for fd readiness at most wait_ms and dispatch it. */
static void poll_fds(int wait_ms, size_t n)
{
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    ws_watch **who = calloc(n ? n : 1, sizeof *who);
    size_t i = 0;
    if (!pfd || !who)
        goto out;
    for (th_request *t = th_live; t; t = t->next_live)
        for (ws_watch *w = t->watches; w && !th_request_done(t); w = w->next)
            if (!w->removed && w->events && i < n) {
                pfd[i].fd = w->fd;
                pfd[i].events = (short)((w->events & WS_EV_READ ? POLLIN : 0) | (w->events & WS_EV_WRITE ? POLLOUT : 0));
                who[i++] = w;
            }
    if (poll(pfd, (nfds_t)i, wait_ms) <= 0)
        goto out;
    for (size_t k = 0; k < i; k++) {
        ws_watch *w = who[k];
        /* A callback earlier in this round may have removed or paused it. */
        if (!pfd[k].revents || w->removed || !w->events || th_request_done(w->t))
            continue;
        unsigned ev = 0;
        if (pfd[k].revents & POLLIN)
            ev |= WS_EV_READ;
        if (pfd[k].revents & POLLOUT)
            ev |= WS_EV_WRITE;
        if (pfd[k].revents & (POLLERR | POLLHUP | POLLNVAL))
            ev |= WS_EV_ERROR;
        ev &= w->events | WS_EV_ERROR;
        if (ev)
            w->cb(&w->t->req, w->fd, ev, w->arg);
    }
out:
    free(pfd);
    free(who);
}

int th_run(th_request *t, int ms)
{
    uint64_t end = th_now_ms() + (ms > 0 ? (uint64_t)ms : 0);
    for (;;) {
        th_reap_once();
        fire_timers(th_now_ms());
        int works = th_offload_poll();
        for (th_request *x = th_live; x; x = x->next_live)
            th_pump_body(x);
        if (th_request_done(t) || t->phase_answered)
            return 0;

        size_t n_fds = 0;
        for (th_request *x = th_live; x; x = x->next_live)
            for (ws_watch *w = x->watches; w && !th_request_done(x); w = w->next)
                n_fds += !w->removed && w->events;
        uint64_t now = th_now_ms(), due = next_due();
        int kids = children_running();
        if (!n_fds && due == UINT64_MAX && !kids && !works)
            return -1; /* nothing can happen any more: do not sleep out the timeout */
        if (now >= end)
            return -1;
        uint64_t wait = end - now;
        if (due != UINT64_MAX)
            wait = due > now ? (due - now < wait ? due - now : wait) : 0;
        if ((kids || works) && wait > CHILD_POLL_MS)
            wait = CHILD_POLL_MS;
        poll_fds((int)wait, n_fds);
    }
}

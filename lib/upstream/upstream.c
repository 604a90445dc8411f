/*
 * Balancing, passive health, non-blocking connect and the idle pool
 * (upstream.h says what each does). State is per worker process and keyed by
 * the ws_upstream of the configuration in use; a reload starts new workers,
 * so it never outlives its configuration.
 */
#include "upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct idle_conn {
    int fd;
    uint64_t since_ms;
    ws_watch *w; /* a worker watch (ABI 1.3): the server closing it is heard at once; NULL: peeked when taken */
} idle_conn;

struct up_peer {
    unsigned active;          /* requests of this worker using it now */
    unsigned fails;           /* failures in the current window */
    uint64_t window_start_ms; /* when that window began */
    uint64_t down_until_ms;   /* out of service until then */
    long current_weight;      /* smooth weighted round-robin */
    idle_conn *idle;          /* pooled connections, oldest first */
    unsigned n_idle;
};

typedef struct up_group {
    const ws_upstream *u;
    up_peer *peers; /* one per u->servers */
    unsigned n_idle;
    unsigned rr_start; /* least_conn tie-break rotation */
    struct up_group *next;
} up_group;

static up_group *groups;
static const ws_host *watch_host; /* the host that made the idle watches */

uint64_t up_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static up_group *group_of(const ws_upstream *u)
{
    for (up_group *g = groups; g; g = g->next)
        if (g->u == u)
            return g;
    up_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->peers = calloc(u->n_servers, sizeof *g->peers);
    if (!g->peers) {
        free(g);
        return NULL;
    }
    for (size_t i = 0; i < u->n_servers && u->keepalive; i++)
        if (!(g->peers[i].idle = calloc(u->keepalive, sizeof(idle_conn)))) {
            for (size_t j = 0; j < i; j++)
                free(g->peers[j].idle);
            free(g->peers);
            free(g);
            return NULL;
        }
    g->u = u;
    g->next = groups;
    groups = g;
    return g;
}

static int usable(const up_peer *p, uint64_t now)
{
    return now >= p->down_until_ms;
}

/* Smooth weighted round-robin: every usable server gains its weight, the
 * richest is chosen and pays the total; over sum(weights) picks each server
 * is chosen weight times, interleaved. */
static long pick_round_robin(up_group *g, const unsigned char *tried, uint64_t now)
{
    long best = -1, total = 0;
    for (size_t i = 0; i < g->u->n_servers; i++) {
        up_peer *p = &g->peers[i];
        if (tried[i] || !usable(p, now))
            continue;
        p->current_weight += g->u->servers[i].weight;
        total += g->u->servers[i].weight;
        if (best < 0 || p->current_weight > g->peers[best].current_weight)
            best = (long)i;
    }
    if (best >= 0)
        g->peers[best].current_weight -= total;
    return best;
}

/* Fewest active requests per unit of weight; ties go round the list. */
static long pick_least_conn(up_group *g, const unsigned char *tried, uint64_t now)
{
    size_t n = g->u->n_servers;
    long best = -1;
    for (size_t k = 0; k < n; k++) {
        size_t i = (g->rr_start + k) % n;
        const up_peer *p = &g->peers[i];
        if (tried[i] || !usable(p, now))
            continue;
        if (best < 0 || (uint64_t)p->active * g->u->servers[best].weight <
                            (uint64_t)g->peers[best].active * g->u->servers[i].weight)
            best = (long)i;
    }
    g->rr_start = (unsigned)((g->rr_start + 1) % n);
    return best;
}

static void unwatch(idle_conn *ic)
{
    if (ic->w && watch_host)
        watch_host->watch_remove(ic->w); /* before the fd is closed or handed to a request */
    ic->w = NULL;
}

static void close_idle(up_group *g, up_peer *p, unsigned at)
{
    unwatch(&p->idle[at]);
    close(p->idle[at].fd);
    memmove(&p->idle[at], &p->idle[at + 1], (p->n_idle - at - 1) * sizeof *p->idle);
    p->n_idle--;
    g->n_idle--;
}

/* A pooled connection still open and silent; expired or dead ones are
 * closed. Its watch goes with it (c->idle_w), for up_watch to take over. A
 * watched connection the server closed was dropped when the loop heard it;
 * an unwatched one (an older core) is peeked at. */
static int take_idle(up_conn *c, up_group *g, up_peer *p, uint64_t now)
{
    while (p->n_idle) {
        idle_conn ic = p->idle[p->n_idle - 1]; /* the newest: least likely closed by the server */
        if (now - ic.since_ms >= g->u->keepalive_ms) {
            close_idle(g, p, p->n_idle - 1);
            continue;
        }
        char b;
        ssize_t n = ic.w ? -1 : recv(ic.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (ic.w || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
            p->n_idle--;
            g->n_idle--;
            c->idle_w = ic.w;
            return ic.fd;
        }
        close_idle(g, p, p->n_idle - 1); /* closed by the server, or it sent something unasked */
    }
    return -1;
}

static void stop_waiting(up_conn *c)
{
    if (c->w)
        c->host->watch_remove(c->w);
    if (c->t)
        c->host->timer_stop(c->t);
    c->w = NULL;
    c->t = NULL;
}

static void count_failure(up_conn *c)
{
    up_peer *p = c->peer;
    const ws_upstream *u = c->u;
    if (!p || !u->max_fails)
        return;
    uint64_t now = up_now_ms();
    if (p->fails == 0 || now - p->window_start_ms >= u->fail_timeout_ms) {
        p->fails = 0;
        p->window_start_ms = now;
    }
    if (++p->fails >= u->max_fails) {
        p->down_until_ms = now + u->fail_timeout_ms;
        p->fails = 0;
        c->host->log(WS_LOG_WARN, c->r, "upstream \"%s\": server %s failed %u times: out of service for %llu ms",
                     u->name, c->server->address, u->max_fails, (unsigned long long)u->fail_timeout_ms);
    }
}

/* The watches on c->fd go (before it is closed or pooled anew). */
static void drop_watches(up_conn *c)
{
    if (c->idle_w && watch_host)
        watch_host->watch_remove(c->idle_w);
    if (c->req_w)
        c->host->watch_remove(c->req_w);
    c->idle_w = c->req_w = NULL;
}

static void drop_fd(up_conn *c)
{
    stop_waiting(c);
    drop_watches(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->counted && c->peer && c->peer->active)
        c->peer->active--;
    c->counted = 0;
}

static void connect_finished(up_conn *c, int err)
{
    stop_waiting(c);
    if (err) {
        c->host->log(WS_LOG_ERROR, c->r, "upstream \"%s\": connect to %s: %s", c->u->name, c->server->address,
                     strerror(err));
        count_failure(c);
        drop_fd(c);
    }
    c->done(c, err);
}

static void connect_event(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)events;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    connect_finished(arg, err);
}

static void connect_timeout(ws_request *r, void *arg)
{
    (void)r;
    up_conn *c = arg;
    c->t = NULL;
    connect_finished(c, ETIMEDOUT);
}

int up_connect(up_conn *c, int allow_pooled)
{
    const ws_upstream *u = c->u;
    up_group *g = group_of(u);
    if (!c->tried)
        c->tried = c->host->alloc(c->r, u->n_servers);
    if (!g || !c->tried)
        return UP_NONE;
    for (;;) {
        uint64_t now = up_now_ms();
        long i = u->balance == WS_BALANCE_LEAST_CONN ? pick_least_conn(g, c->tried, now)
                                                     : pick_round_robin(g, c->tried, now);
        if (i < 0)
            return UP_NONE;
        c->tried[i] = 1;
        c->peer = &g->peers[i];
        c->server = &u->servers[i];
        c->peer->active++;
        c->counted = 1;
        c->reused = 0;
        c->fd = allow_pooled ? take_idle(c, g, c->peer, now) : -1;
        if (c->fd >= 0) {
            c->reused = 1;
            return UP_READY;
        }
        int family = c->server->addr->sa_family;
        c->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd >= 0 && family != AF_UNIX) {
            /* No Nagle (RFC 9293 §3.7.4): a request goes out in pieces
             * (the head, then body records as they come), and on a pooled
             * connection the application delays its ACK of the head while it
             * waits for the rest, so the next small piece would sit in our
             * send queue for the delayed-ACK time (~40 ms on Linux). */
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (c->fd >= 0 && connect(c->fd, c->server->addr, c->server->addrlen) == 0)
            return UP_READY;
        int err = errno;
        if (c->fd >= 0 && err == EINPROGRESS) {
            c->w = c->host->watch_fd(c->r, c->fd, WS_EV_WRITE, connect_event, c);
            uint64_t ms = c->connect_ms ? *c->connect_ms : u->connect_ms;
            c->t = ms ? c->host->timer_start(c->r, ms, connect_timeout, c) : NULL;
            if (c->w && (c->t || !ms))
                return UP_PENDING;
            err = ENOMEM;
        }
        c->host->log(WS_LOG_ERROR, c->r, "upstream \"%s\": connect to %s: %s", u->name, c->server->address,
                     strerror(err));
        count_failure(c);
        drop_fd(c); /* and on to the next server */
    }
}

/* An idle pooled connection became readable or broke: the server closed it
 * (or sent something unasked, which poisons it too). Closed and dropped now,
 * so the next request never picks it and no socket waits in CLOSE_WAIT. */
static void idle_event(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)arg;
    for (up_group *g = groups; g; g = g->next)
        for (size_t i = 0; i < g->u->n_servers; i++) {
            up_peer *p = &g->peers[i];
            for (unsigned k = 0; k < p->n_idle; k++) {
                if (p->idle[k].fd != fd)
                    continue;
                char b;
                if (!(events & WS_EV_ERROR) && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
                    (errno == EAGAIN || errno == EWOULDBLOCK))
                    return; /* a spurious wake-up: still open and silent */
                close_idle(g, p, k);
                return;
            }
        }
}

ws_watch *up_watch(up_conn *c, ws_fd_cb cb, void *arg)
{
    ws_watch *w = c->host->watch_fd(c->r, c->fd, WS_EV_READ, cb, arg);
    if (c->idle_w) {
        /* Taken over: the idle watch has no fd left and is freed. A core
         * that cannot move it refused (the fd is watched): remove, add. */
        watch_host->watch_remove(c->idle_w);
        c->idle_w = NULL;
        if (!w)
            w = c->host->watch_fd(c->r, c->fd, WS_EV_READ, cb, arg);
    }
    return c->req_w = w;
}

void up_release(up_conn *c, int reusable)
{
    stop_waiting(c);
    up_group *g = c->fd >= 0 && reusable ? group_of(c->u) : NULL;
    up_peer *p = c->peer;
    if (g && p && c->u->keepalive) {
        /* Room in the group: the oldest idle connection of this server makes
         * way when the server's own share is full. */
        if (g->n_idle >= c->u->keepalive && p->n_idle)
            close_idle(g, p, 0);
        if (g->n_idle < c->u->keepalive && p->n_idle < c->u->keepalive) {
            idle_conn *ic = &p->idle[p->n_idle++];
            *ic = (idle_conn){c->fd, up_now_ms(), c->idle_w};
            g->n_idle++;
            /* ABI 1.3: a watch of the worker (r == NULL) hears the server
             * close it. It takes the fd over from the request's watch (no
             * system call); a core that cannot refuses, then it is removed
             * first. A connection never watched by the request kept its own. */
            if (!ic->w && c->host->abi_minor >= 3) {
                watch_host = c->host;
                ic->w = c->host->watch_fd(NULL, c->fd, WS_EV_READ, idle_event, NULL);
                if (!ic->w && c->req_w) {
                    c->host->watch_remove(c->req_w);
                    c->req_w = NULL;
                    ic->w = c->host->watch_fd(NULL, c->fd, WS_EV_READ, idle_event, NULL);
                }
            }
            c->idle_w = c->req_w = NULL; /* the request's watch was left without an fd, or removed */
            c->fd = -1;
        }
    }
    drop_fd(c);
}

void up_failed(up_conn *c)
{
    count_failure(c);
    drop_fd(c);
}

void up_forget_try(up_conn *c)
{
    if (c->server && c->tried)
        c->tried[c->server - c->u->servers] = 0;
}

void up_succeeded(up_conn *c)
{
    if (c->peer)
        c->peer->fails = 0;
}

unsigned up_idle_count(const ws_upstream *u)
{
    for (up_group *g = groups; g; g = g->next)
        if (g->u == u)
            return g->n_idle;
    return 0;
}

void up_shutdown(void)
{
    while (groups) {
        up_group *g = groups;
        groups = g->next;
        for (size_t i = 0; i < g->u->n_servers; i++) {
            for (unsigned k = 0; k < g->peers[i].n_idle; k++) {
                unwatch(&g->peers[i].idle[k]);
                close(g->peers[i].idle[k].fd);
            }
            free(g->peers[i].idle);
        }
        free(g->peers);
        free(g);
    }
}

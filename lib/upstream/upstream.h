/*
 * The upstream side shared by the proxy and fastcgi modules (a static library
 * linked into both; it sees only the public module API). Per worker process:
 *  - picking a server of a ws_upstream group: smooth weighted round-robin or
 *    least connections (active requests / weight), skipping servers that
 *    failed max_fails times within fail_timeout (passive health) and those
 *    the request already tried;
 *  - a non-blocking connect with the group's connect timeout, on the event
 *    loop (host->watch_fd, host->timer_start);
 *  - a keep-alive pool of idle connections, at most `keepalive` per group,
 *    each kept at most keepalive_timeout. Each idle connection has a worker
 *    watch (ABI 1.3 watch_fd with no request): when the server closes it, it
 *    is closed and dropped at once. A non-blocking peek when one is taken
 *    catches the rest (a close not heard yet, an older core).
 */
#ifndef WEBSERV_UPSTREAM_H
#define WEBSERV_UPSTREAM_H

#include <stdint.h>

#include "webserv/module.h"

typedef struct up_peer up_peer;
typedef struct up_conn up_conn;

/* Called when a pending connect ends: err 0 (c->fd is connected), or an
 * errno value (ETIMEDOUT for the connect timeout); the failure is already
 * counted against the server. */
typedef void (*up_connect_cb)(up_conn *c, int err);

struct up_conn {
    /* set by the caller before up_connect */
    const ws_host *host;
    ws_request *r;
    const ws_upstream *u;
    up_connect_cb done;
    void *arg;
    const uint64_t *connect_ms; /* NULL: the group's timeouts.connect */
    /* the result */
    int fd;          /* -1 when none */
    int reused;      /* taken from the pool: a failure before any answer byte may be the server's idle close */
    const ws_upstream_server *server;
    /* internal */
    up_peer *peer;
    unsigned char *tried; /* per server of u, allocated from the request */
    ws_watch *w;
    ws_timer *t;
    int counted;     /* counted in the peer's active requests */
    ws_watch *idle_w; /* a pooled connection's worker watch, until up_watch takes its place */
    ws_watch *req_w;  /* up_watch's: the request's watch on fd */
};

enum {
    UP_READY = 0,   /* c->fd is usable now */
    UP_PENDING = 1, /* c->done is called later */
    UP_NONE = 2,    /* no server left to try (all tried, or out of service) */
};

/* Pick a server not tried yet by this request and get a connection to it:
 * pooled if allowed (allow_pooled) and one is idle, else a new one. */
int up_connect(up_conn *c, int allow_pooled);

/* Watch c->fd for the request (WS_EV_READ to start with). A pooled
 * connection's registration is taken over from its idle watch (the core moves
 * a worker watch's fd to a request watch and back without leaving the
 * kernel's set: no epoll_ctl a request, where removing and adding cost four).
 * NULL when out of memory. */
ws_watch *up_watch(up_conn *c, ws_fd_cb cb, void *arg);

/* The request is done with the connection: back into the pool when
 * `reusable` (the exchange ended cleanly on a persistent connection) and
 * there is room, else closed. Safe to call with no connection. */
void up_release(up_conn *c, int reusable);

/* The server failed this request (reset, timeout, garbage): counts toward
 * max_fails. The connection is closed. */
void up_failed(up_conn *c);

/* The last server may be tried again by this request (its pooled
 * connection was stale: the next attempt opens a fresh one). */
void up_forget_try(up_conn *c);

/* The server answered: its failure count restarts. */
void up_succeeded(up_conn *c);

/* Close every pooled connection and free the state (the module's fini). */
void up_shutdown(void);

/* A location's required "upstream" key: the top-level group it names, in
 * *out. 1 when found; 0 when missing or unknown (reported: configure goes on
 * to the other keys); -1 when this server has no upstreams at all (a core
 * older than ABI 1.2: reported, nothing more to read). */
int up_conf_upstream(const ws_host *h, const ws_settings *s, const ws_upstream **out);

/* Monotonic milliseconds. */
uint64_t up_now_ms(void);

/* Test hooks: idle connections pooled for u in this process. */
unsigned up_idle_count(const ws_upstream *u);

#endif

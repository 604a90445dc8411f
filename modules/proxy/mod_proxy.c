/*
 * mod_proxy: every request of the location goes to an upstream group over
 * HTTP/1.1 (RFC 9110 §7.6, RFC 9112), on the event loop, streamed both ways.
 * Connections come from lib/upstream and go back into its pool only after a
 * complete, well-framed exchange on a persistent connection; a client that
 * leaves, an error or a timeout closes the upstream connection.
 *
 * Failures before any response byte: a pooled connection the upstream had
 * closed meanwhile is retried once on a fresh one (not counted); a refused or
 * timed-out connect moves to the next server (nothing was sent); a reset or
 * close after the request went out moves on only for idempotent methods
 * whose body was not consumed yet, at most `retries` times; else 502. No
 * response head within timeouts.read → 504.
 */
#include "proxy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const ws_host *proxy_host;

static int proxy_init(const ws_host *host)
{
    proxy_host = host;
    return 0;
}

/* The worker is done: the pooled connections close. */
static void proxy_fini(void)
{
    up_shutdown();
}

static int proxy_match(ws_request *r)
{
    (void)r;
    return WS_TAKE; /* the whole location is proxied */
}

void proxy_update_watch(proxy_req *c)
{
    if (!c->w)
        return;
    unsigned ev = 0;
    if (!c->out_paused && !c->ended)
        ev |= WS_EV_READ;
    if (c->ooff < c->olen)
        ev |= WS_EV_WRITE;
    proxy_host->watch_set(c->w, ev);
}

static void stop_io(proxy_req *c)
{
    if (c->w)
        proxy_host->watch_remove(c->w);
    if (c->timer)
        proxy_host->timer_stop(c->timer);
    c->w = NULL;
    c->timer = NULL;
}

void proxy_fail(proxy_req *c, int status, const char *why)
{
    proxy_host->log(WS_LOG_ERROR, c->r, "proxy upstream \"%s\" (%s): %s", c->conf->upstream->name,
                    c->up.server ? c->up.server->address : "-", why);
    stop_io(c);
    if (status >= 502)
        up_failed(&c->up);
    else
        up_release(&c->up, 0);
    if (!c->over) {
        c->over = 1;
        proxy_host->error(c->r, status); /* a page, or a closed connection once the head is out */
    }
}

void proxy_done(proxy_req *c)
{
    int reusable = c->upstream_keep && c->body_done && c->ooff == c->olen && c->ioff == c->ilen;
    stop_io(c);
    up_succeeded(&c->up);
    up_release(&c->up, reusable);
    c->over = 1;
    proxy_host->finish(c->r);
}

static void on_timeout(ws_request *r, void *arg)
{
    (void)r;
    proxy_req *c = arg;
    c->timer = NULL;
    proxy_fail(c, 504, c->ooff < c->olen ? "send timeout" : "read timeout");
}

void proxy_arm_timer(proxy_req *c)
{
    if (c->timer)
        proxy_host->timer_stop(c->timer);
    c->timer = NULL;
    if (c->over || c->out_paused)
        return; /* waiting for the client is the core's send timeout */
    uint64_t ms = c->ooff < c->olen ? c->conf->send_ms : c->conf->read_ms;
    if (ms)
        c->timer = proxy_host->timer_start(c->r, ms, on_timeout, c);
}

static void read_input(proxy_req *c)
{
    for (int rounds = 0; rounds < 8 && !c->over && !c->out_paused && !c->ended; rounds++) {
        if (c->head_done && c->ioff == c->ilen)
            c->ioff = c->ilen = 0;
        size_t room = PROXY_IN_BUF - c->ilen;
        if (!room)
            return; /* the head is still incomplete at PROXY_HEAD_MAX: process_input failed it */
        ssize_t n = recv(c->up.fd, c->ibuf + c->ilen, room, 0);
        if (n > 0) {
            c->got_any = 1;
            c->ilen += (size_t)n;
            proxy_arm_timer(c);
            proxy_process_input(c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        const char *why = n == 0 ? "connection closed" : strerror(errno);
        if (n == 0 && c->head_done && c->resp_mode == BODY_CLOSE) {
            c->ended = 1; /* the close ends a body without framing */
            proxy_done(c);
        } else if (!proxy_retry(c, why)) {
            proxy_fail(c, 502, c->head_done ? "the upstream closed the connection mid-body"
                               : c->got_any ? "the upstream closed the connection inside its response head"
                                            : why);
        }
        return;
    }
}

static void proxy_io(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)fd;
    proxy_req *c = arg;
    if (events & WS_EV_WRITE)
        proxy_flush(c);
    if (!c->over && c->w && (events & (WS_EV_READ | WS_EV_ERROR)))
        read_input(c);
}

static void connected(proxy_req *c)
{
    c->w = proxy_host->watch_fd(c->r, c->up.fd, WS_EV_READ, proxy_io, c);
    if (!c->w) {
        proxy_fail(c, 500, "out of memory");
        return;
    }
    proxy_arm_timer(c);
    proxy_flush(c);
}

static int start_connect(proxy_req *c, int allow_pooled, int in_handle);

static void connect_done(up_conn *u, int err)
{
    proxy_req *c = u->arg;
    if (err == 0)
        connected(c);
    else
        start_connect(c, 1, 0);
}

static int start_connect(proxy_req *c, int allow_pooled, int in_handle)
{
    switch (up_connect(&c->up, allow_pooled)) {
    case UP_READY:
        connected(c);
        return 0;
    case UP_PENDING:
        return 0;
    default:
        proxy_host->log(WS_LOG_ERROR, c->r, "proxy upstream \"%s\": no server could be reached",
                        c->conf->upstream->name);
        if (!in_handle && !c->over) {
            c->over = 1;
            proxy_host->error(c->r, 502);
        }
        return -1;
    }
}

static int idempotent(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL};
    for (const char *const *p = ok; *p; p++)
        if (strcmp(m, *p) == 0)
            return 1;
    return 0;
}

int proxy_retry(proxy_req *c, const char *why)
{
    if (c->got_any || c->body_started || c->over)
        return 0;
    int reused = c->up.reused;
    if (!reused && (!idempotent(c->r->method) || c->tries >= c->conf->retries))
        return 0;
    proxy_host->log(reused ? WS_LOG_DEBUG : WS_LOG_WARN, c->r, "proxy upstream %s: %s: trying again",
                    c->up.server ? c->up.server->address : "-", why);
    stop_io(c);
    if (reused) {
        up_release(&c->up, 0);
        up_forget_try(&c->up);
    } else {
        c->tries++;
        up_failed(&c->up);
    }
    c->ooff = 0;
    c->olen = c->head_len;
    c->ilen = c->ioff = 0;
    start_connect(c, !reused, 0);
    return 1;
}

static int proxy_handle(ws_request *r)
{
    const proxy_conf *conf = r->conf;
    proxy_req *c = proxy_host->alloc(r, sizeof *c);
    if (!c)
        return 500;
    r->ctx = c;
    c->r = r;
    c->conf = conf;
    c->up.fd = -1;
    c->up.host = proxy_host;
    c->up.r = r;
    c->up.u = conf->upstream;
    c->up.done = connect_done;
    c->up.arg = c;
    c->up.connect_ms = &conf->connect_ms;
    c->body_mode = r->content_length < 0 ? BODY_CHUNKED : r->content_length > 0 ? BODY_LENGTH : BODY_NONE;
    if (c->body_mode == BODY_NONE)
        c->upgrade = proxy_upgrade_wanted(r); /* WebSocket & co: proxy_tunnel.c */
    const char *host = proxy_host->header(r, "Host");
    char *base = proxy_host->alloc(r, 8 + strlen(host ? host : r->local_addr) + 1);
    if (!base || !(c->ibuf = proxy_host->alloc(r, PROXY_IN_BUF)))
        return 500;
    sprintf(base, "http://%s", host ? host : r->local_addr);
    c->public_base = base;
    /* The head names the server only with host "upstream", so it is built
     * once the first server is known; with the others it could be built
     * now, but one place keeps it simple. */
    if (c->body_mode != BODY_NONE && proxy_host->read_body(r) != WS_OK)
        return 500;
    switch (up_connect(&c->up, 1)) {
    case UP_READY:
        if (proxy_build_head(c) < 0)
            return 500;
        connected(c);
        return 0;
    case UP_PENDING:
        return proxy_build_head(c) < 0 ? 500 : 0;
    default:
        proxy_host->log(WS_LOG_ERROR, r, "proxy upstream \"%s\": no server could be reached", conf->upstream->name);
        return 502;
    }
}

static void proxy_cleanup(ws_request *r, int how)
{
    (void)how;
    proxy_req *c = r->ctx;
    if (!c)
        return;
    stop_io(c);
    up_release(&c->up, 0); /* still in flight: closed, never reused */
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "proxy",
    .methods = (const char *const[]){"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", NULL},
    .init = proxy_init,
    .fini = proxy_fini,
    .configure = proxy_configure,
    .match = proxy_match,
    .handle = proxy_handle,
    .on_body = proxy_on_body,
    .on_body_end = proxy_on_body_end,
    .on_writable = proxy_on_writable,
    .cleanup = proxy_cleanup,
    .flags = WS_MODULE_NO_FILES,
    .on_data = proxy_on_data,
    .on_data_end = proxy_on_data_end,
};

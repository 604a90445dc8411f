/*
 * mod_proxy: every request of the location goes to an upstream group over
 * HTTP/1.1 (RFC 9110 §7.6, RFC 9112), on the event loop, streamed both ways.
 * The exchange (connecting, the pool, retries, timeouts, sending, reading)
 * is lib/upstream's up_exchange; this module builds the head, frames the
 * body and parses the answer. A connection goes back into the pool only
 * after a complete, well-framed exchange on a persistent connection; a
 * client that leaves, an error or a timeout closes it.
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

void proxy_done(proxy_req *c)
{
    up_exchange *x = &c->x;
    upx_done(x, c->upstream_keep && x->body_done && x->ooff == x->olen && c->ioff == c->ilen);
}

/* ---- the exchange's callbacks (up_exchange.h) ---- */

static size_t in_buf(up_exchange *x, char **buf)
{
    proxy_req *c = x->arg;
    if (c->head_done && c->ioff == c->ilen)
        c->ioff = c->ilen = 0;
    *buf = c->ibuf + c->ilen;
    return PROXY_IN_BUF - c->ilen; /* 0: the head is still incomplete at PROXY_HEAD_MAX (a 502 by now) */
}

static void input(up_exchange *x, size_t n)
{
    proxy_req *c = x->arg;
    c->ilen += n;
    proxy_process_input(c);
}

static void closed(up_exchange *x, int err)
{
    proxy_req *c = x->arg;
    if (err == 0 && c->head_done && c->resp_mode == BODY_CLOSE) {
        x->ended = 1; /* the close ends a body without framing */
        proxy_done(c);
    } else if (!upx_retry(x, err ? strerror(err) : "connection closed")) {
        upx_fail(x, 502, c->head_done ? "the upstream closed the connection mid-body"
                         : x->got_any ? "the upstream closed the connection inside its response head"
                         : err        ? strerror(err)
                                      : "connection closed");
    }
}

/* The first server is known: the head may name it (host "upstream"). A
 * retry on another server sends the same head. */
static int prepare(up_exchange *x)
{
    return proxy_build_head(x->arg);
}

static void rewind_input(up_exchange *x)
{
    proxy_req *c = x->arg;
    c->ilen = c->ioff = 0;
}

static const up_exchange_ops proxy_ops = {
    .in_buf = in_buf, .input = input, .closed = closed, .prepare = prepare, .rewind = rewind_input,
};

static int proxy_handle(ws_request *r)
{
    const proxy_conf *conf = r->conf;
    proxy_req *c = proxy_host->alloc(r, sizeof *c);
    if (!c)
        return 500;
    r->ctx = c;
    c->r = r;
    c->conf = conf;
    upx_init(&c->x, proxy_host, r, "proxy", conf->upstream, &proxy_ops, c);
    c->x.up.connect_ms = &conf->connect_ms;
    c->x.send_ms = conf->send_ms;
    c->x.read_ms = conf->read_ms;
    c->x.retries = conf->retries;
    c->body_mode = r->content_length < 0 ? BODY_CHUNKED : r->content_length > 0 ? BODY_LENGTH : BODY_NONE;
    if (c->body_mode == BODY_NONE)
        c->upgrade = proxy_upgrade_wanted(r); /* WebSocket & co: proxy_tunnel.c */
    const char *host = proxy_host->header(r, "Host");
    char *base = proxy_host->alloc(r, 8 + strlen(host ? host : r->local_addr) + 1);
    if (!base || !(c->ibuf = upx_buffer(&c->x, PROXY_IN_BUF)))
        return 500;
    sprintf(base, "http://%s", host ? host : r->local_addr);
    c->public_base = base;
    if (c->body_mode != BODY_NONE && proxy_host->read_body(r) != WS_OK)
        return 500;
    return upx_connect(&c->x, 1);
}

static void proxy_cleanup(ws_request *r, int how)
{
    (void)how;
    proxy_req *c = r->ctx;
    if (!c)
        return;
    upx_cleanup(&c->x);
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

/*
 * mod_fastcgi: requests for scripts (fcgi_script.c) go to a FastCGI
 * application (FastCGI 1.0, Responder role) of an upstream group, over TCP or
 * a Unix socket, on the event loop. Connections come from lib/upstream and go
 * back into its pool after a clean END_REQUEST when FCGI_KEEP_CONN was asked
 * (the group's keepalive > 0). A client that leaves gets the application an
 * FCGI_ABORT_REQUEST and the connection closed (never reused mid-request).
 */
#include "fastcgi.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const ws_host *fcgi_host;

static int fcgi_init(const ws_host *host)
{
    fcgi_host = host;
    return 0;
}

/* The worker is done: the pooled connections close. */
static void fcgi_fini(void)
{
    up_shutdown();
}

static int fcgi_match(ws_request *r)
{
    const fcgi_conf *conf = r->conf;
    fcgi_req *c = fcgi_host->alloc(r, sizeof *c);
    if (!c || !fcgi_find_script(r, conf, &c->script))
        return WS_DECLINE;
    c->r = r;
    c->conf = conf;
    c->x.up.fd = -1; /* cleanup may come before handle */
    c->tmp_fd = -1;
    r->ctx = c;
    return WS_TAKE;
}

void fcgi_fail(fcgi_req *c, int status, const char *why)
{
    spool_abandon(&c->sp); /* a body being spooled: nothing more to its file */
    upx_fail(&c->x, status, why);
}

void fcgi_done(fcgi_req *c)
{
    up_exchange *x = &c->x;
    upx_done(x, c->keep_conn && x->body_done && x->ooff == x->olen && c->ioff == c->ilen &&
                    fcgi_parser_idle(&c->parser));
}

/* ---- the exchange's callbacks (up_exchange.h) ---- */

static size_t in_buf(up_exchange *x, char **buf)
{
    fcgi_req *c = x->arg;
    *buf = (char *)c->ibuf; /* fcgi_process_input takes all of it (or keeps it while out_paused) */
    return FCGI_IN_BUF;
}

static void input(up_exchange *x, size_t n)
{
    fcgi_req *c = x->arg;
    c->ilen = n;
    c->ioff = 0;
    fcgi_process_input(c);
}

static void closed(up_exchange *x, int err)
{
    const char *why = err ? strerror(err) : "connection closed before END_REQUEST";
    if (!upx_retry(x, why))
        fcgi_fail(x->arg, 502, why);
}

/* A retry: the records go again from BEGIN_REQUEST. */
static void rewind_records(up_exchange *x)
{
    fcgi_req *c = x->arg;
    if (c->spooled)
        fcgi_spool_rewind(c); /* the whole body is still in its file */
    fcgi_parser_init(&c->parser, FCGI_REQUEST_ID);
}

static const up_exchange_ops fcgi_ops = {
    .in_buf = in_buf, .input = input, .closed = closed, .refill = fcgi_spool_next, .rewind = rewind_records,
};

void fcgi_connect(fcgi_req *c)
{
    upx_connect(&c->x, 0);
}

static int fcgi_handle(ws_request *r)
{
    fcgi_req *c = r->ctx;
    c->has_body = r->content_length > 0;
    c->body_length = c->has_body ? r->content_length : -1;
    c->keep_conn = c->conf->upstream->keepalive > 0;
    c->length = -1;
    /* Every server once for an idempotent request that failed before any answer byte. */
    upx_init(&c->x, fcgi_host, r, "fastcgi", c->conf->upstream, &fcgi_ops, c);
    fcgi_parser_init(&c->parser, FCGI_REQUEST_ID);
    if (!(c->hbuf = upx_buffer(&c->x, CGI_HEADER_MAX)) || !(c->ibuf = upx_buffer(&c->x, FCGI_IN_BUF)))
        return 500;
    /* No length up front (chunked, or HTTP/2 without Content-Length): the
     * application needs CONTENT_LENGTH first, so the body goes to a file
     * and the connecting waits for its end (fcgi_spool.c). */
    if (r->content_length < 0)
        return fcgi_spool_start(c);
    if (fcgi_build_head(c) < 0)
        return 500;
    if (c->has_body && fcgi_host->read_body(r) != WS_OK)
        return 500;
    return upx_connect(&c->x, 1);
}

static void fcgi_cleanup(ws_request *r, int how)
{
    (void)how;
    fcgi_req *c = r->ctx;
    if (!c)
        return;
    up_exchange *x = &c->x;
    if (x->up.fd >= 0 && x->w && !x->ended) {
        /* Still in flight (connected, END_REQUEST not seen): tell the
         * application (§5.4), best effort, then close. */
        uint8_t abort_rec[FCGI_HEADER_LEN];
        fcgi_put_header(abort_rec, FCGI_ABORT_REQUEST, FCGI_REQUEST_ID, 0, 0);
        if (send(x->up.fd, abort_rec, sizeof abort_rec, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            (void)errno;
    }
    if (x->host)
        upx_cleanup(x);
    fcgi_spool_free(c);
}

static const char *const fcgi_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "fastcgi",
    .methods = fcgi_methods,
    .init = fcgi_init,
    .fini = fcgi_fini,
    .configure = fcgi_configure,
    .match = fcgi_match,
    .handle = fcgi_handle,
    .on_body = fcgi_on_body,
    .on_body_end = fcgi_on_body_end,
    .on_writable = fcgi_on_writable,
    .cleanup = fcgi_cleanup,
};

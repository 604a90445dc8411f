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
    c->up.fd = -1;
    c->tmp_fd = -1;
    r->ctx = c;
    return WS_TAKE;
}

void fcgi_update_watch(fcgi_req *c)
{
    if (!c->w)
        return;
    unsigned ev = 0;
    if (!c->out_paused && !c->ended)
        ev |= WS_EV_READ;
    if (c->ooff < c->olen)
        ev |= WS_EV_WRITE;
    fcgi_host->watch_set(c->w, ev);
}

static void stop_io(fcgi_req *c)
{
    if (c->w)
        fcgi_host->watch_remove(c->w);
    if (c->timer)
        fcgi_host->timer_stop(c->timer);
    c->w = NULL;
    c->timer = NULL;
}

void fcgi_fail(fcgi_req *c, int status, const char *why)
{
    fcgi_host->log(WS_LOG_ERROR, c->r, "fastcgi upstream \"%s\" (%s): %s", c->conf->upstream->name,
                   c->up.server ? c->up.server->address : "-", why);
    stop_io(c);
    up_failed(&c->up);
    spool_abandon(&c->sp); /* a body being spooled: nothing more to its file */
    if (!c->over) {
        c->over = 1;
        fcgi_host->error(c->r, status); /* a page, or a closed connection once the head is out */
    }
}

void fcgi_done(fcgi_req *c)
{
    int reusable = c->keep_conn && c->body_done && c->ooff == c->olen && c->ioff == c->ilen &&
                   fcgi_parser_idle(&c->parser);
    stop_io(c);
    up_succeeded(&c->up);
    up_release(&c->up, reusable);
    c->over = 1;
    fcgi_host->finish(c->r);
}

static void on_timeout(ws_request *r, void *arg)
{
    (void)r;
    fcgi_req *c = arg;
    c->timer = NULL;
    fcgi_fail(c, 504, c->ooff < c->olen ? "send timeout" : "read timeout");
}

void fcgi_arm_timer(fcgi_req *c)
{
    if (c->timer)
        fcgi_host->timer_stop(c->timer);
    c->timer = NULL;
    if (c->over || c->out_paused)
        return; /* waiting for the client is the core's send timeout, not the application's */
    uint64_t ms = c->ooff < c->olen ? c->conf->upstream->send_ms : c->conf->upstream->read_ms;
    if (ms)
        c->timer = fcgi_host->timer_start(c->r, ms, on_timeout, c);
}

static void read_input(fcgi_req *c)
{
    for (int rounds = 0; rounds < 8 && !c->over && !c->out_paused && !c->ended; rounds++) {
        ssize_t n = recv(c->up.fd, c->ibuf, sizeof c->ibuf, 0);
        if (n > 0) {
            c->got_any = 1;
            c->ilen = (size_t)n;
            c->ioff = 0;
            fcgi_arm_timer(c);
            fcgi_process_input(c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        const char *why = n == 0 ? "connection closed before END_REQUEST" : strerror(errno);
        if (!fcgi_retry(c, why))
            fcgi_fail(c, 502, why);
        return;
    }
}

void fcgi_io(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)fd;
    fcgi_req *c = arg;
    if (events & WS_EV_WRITE)
        fcgi_flush(c);
    if (!c->over && c->w && (events & (WS_EV_READ | WS_EV_ERROR)))
        read_input(c);
}

static void connected(fcgi_req *c)
{
    c->w = fcgi_host->watch_fd(c->r, c->up.fd, WS_EV_READ, fcgi_io, c);
    if (!c->w) {
        fcgi_fail(c, 500, "out of memory");
        return;
    }
    fcgi_arm_timer(c);
    fcgi_flush(c);
}

static int start_connect(fcgi_req *c, int allow_pooled, int in_handle);

static void connect_done(up_conn *u, int err)
{
    fcgi_req *c = u->arg;
    if (err == 0)
        connected(c);
    else
        start_connect(c, 1, 0);
}

/* 0: connected or connecting; -1: no server left (502 answered, or to be
 * answered by handle()). */
static int start_connect(fcgi_req *c, int allow_pooled, int in_handle)
{
    switch (up_connect(&c->up, allow_pooled)) {
    case UP_READY:
        connected(c);
        return 0;
    case UP_PENDING:
        return 0;
    default:
        fcgi_host->log(WS_LOG_ERROR, c->r, "fastcgi upstream \"%s\": no server could be reached",
                       c->conf->upstream->name);
        if (!in_handle && !c->over) {
            c->over = 1;
            fcgi_host->error(c->r, 502);
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

/* The connection failed before any answer byte and before any body byte
 * was consumed: the same request can go again. A pooled connection the
 * application had closed meanwhile is retried on a fresh one to the same
 * server (not counted as a failure); a fresh connection only for idempotent
 * methods, on the next server. */
int fcgi_retry(fcgi_req *c, const char *why)
{
    if (c->got_any || c->body_started || c->over)
        return 0;
    int reused = c->up.reused;
    if (!reused && !idempotent(c->r->method))
        return 0;
    fcgi_host->log(reused ? WS_LOG_DEBUG : WS_LOG_WARN, c->r, "fastcgi upstream %s: %s: trying again",
                   c->up.server ? c->up.server->address : "-", why);
    stop_io(c);
    if (reused) {
        up_release(&c->up, 0);
        up_forget_try(&c->up);
    } else {
        up_failed(&c->up);
    }
    c->ooff = 0;
    c->olen = c->head_len;
    if (c->spooled)
        fcgi_spool_rewind(c); /* the whole body is still in its file */
    fcgi_parser_init(&c->parser, FCGI_REQUEST_ID);
    start_connect(c, !reused, 0);
    return 1;
}

void fcgi_connect(fcgi_req *c)
{
    start_connect(c, 1, 0);
}

static int fcgi_handle(ws_request *r)
{
    fcgi_req *c = r->ctx;
    c->has_body = r->content_length > 0;
    c->body_length = c->has_body ? r->content_length : -1;
    c->keep_conn = c->conf->upstream->keepalive > 0;
    c->length = -1;
    c->up.host = fcgi_host;
    c->up.r = r;
    c->up.u = c->conf->upstream;
    c->up.done = connect_done;
    c->up.arg = c;
    fcgi_parser_init(&c->parser, FCGI_REQUEST_ID);
    if (!(c->hbuf = fcgi_host->alloc(r, CGI_HEADER_MAX)))
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
    return start_connect(c, 1, 1) < 0 ? 502 : 0;
}

static void fcgi_cleanup(ws_request *r, int how)
{
    (void)how;
    fcgi_req *c = r->ctx;
    if (!c)
        return;
    int in_flight = c->up.fd >= 0 && c->w && !c->ended; /* connected, END_REQUEST not seen */
    stop_io(c);
    if (in_flight) {
        /* Still in flight: tell the application (§5.4), best effort, then close. */
        uint8_t abort_rec[FCGI_HEADER_LEN];
        fcgi_put_header(abort_rec, FCGI_ABORT_REQUEST, FCGI_REQUEST_ID, 0, 0);
        if (send(c->up.fd, abort_rec, sizeof abort_rec, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            (void)errno;
    }
    up_release(&c->up, 0);
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

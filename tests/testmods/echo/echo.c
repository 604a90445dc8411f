/*
 * Test module: POST/PUT bodies are echoed back as they stream in. When the
 * output queue is full (write says WS_AGAIN) the module stops taking body
 * bytes (on_body returns 0) until on_writable, so a client that sends fast
 * and reads slowly never makes the server buffer the whole body.
 */
#include <stdio.h>

#include "webserv/module.h"

static const ws_host *host;

typedef struct echo_state {
    int paused;
    unsigned long long total;
} echo_state;

/* "count": true reads the whole body first and answers with its length only. */
typedef struct echo_conf {
    int count;
} echo_conf;

static int echo_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int echo_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    echo_conf *c = host->cfg_alloc(s, sizeof *c);
    if (host->cfg_bool(s, "count", &c->count) < 0)
        return -1;
    *out = c;
    return 0;
}

static int counting(const ws_request *r)
{
    const echo_conf *c = r->conf;
    return c && c->count;
}

static int echo_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static int echo_handle(ws_request *r)
{
    echo_state *st = host->alloc(r, sizeof *st);
    if (!st)
        return 500;
    r->ctx = st;
    if (counting(r))
        return host->read_body(r) == WS_OK ? 0 : 500;
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", "application/octet-stream");
    host->set_length(r, r->content_length); /* -1 for chunked: the core frames it chunked */
    if (r->content_length == 0) {
        host->finish(r);
        return 0;
    }
    return host->read_body(r) == WS_OK ? 0 : 500;
}

static size_t echo_body(ws_request *r, const char *data, size_t len)
{
    echo_state *st = r->ctx;
    if (counting(r)) {
        st->total += len;
        return len;
    }
    if (st->paused)
        return 0;
    int rc = host->write(r, data, len);
    if (rc == WS_ERROR)
        return 0;
    st->total += len;
    if (rc == WS_AGAIN)
        st->paused = 1;
    return len;
}

static void echo_writable(ws_request *r)
{
    echo_state *st = r->ctx;
    st->paused = 0;
    host->body_resume(r);
}

static void echo_end(ws_request *r)
{
    if (counting(r)) {
        echo_state *st = r->ctx;
        char body[32];
        int n = snprintf(body, sizeof body, "%llu", st->total);
        host->set_status(r, 200);
        host->set_length(r, n);
        host->write(r, body, (size_t)n);
    }
    host->finish(r);
}

static void echo_cleanup(ws_request *r, int how)
{
    echo_state *st = r->ctx;
    host->log(WS_LOG_INFO, r, "cleanup how=%d bytes=%llu", how, st ? st->total : 0ULL);
}

static const char *const methods[] = {"POST", "PUT", NULL};

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "echo",
    .methods = methods,
    .init = echo_init,
    .configure = echo_configure,
    .match = echo_match,
    .handle = echo_handle,
    .on_body = echo_body,
    .on_body_end = echo_end,
    .on_writable = echo_writable,
    .cleanup = echo_cleanup,
};

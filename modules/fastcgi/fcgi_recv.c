/*
 * From the application: STDOUT is a CGI response (RFC 3875 §6: a header
 * block parsed by the cgi module's cgi_header.c, then the body), STDERR lines
 * go to the error log, END_REQUEST ends the exchange (FastCGI §5.3, §5.5).
 * When the client's queue is full, input stays in ibuf and the connection is
 * not read until on_writable: a slow client slows the application.
 */
#include "fastcgi.h"

#include <string.h>

static void log_stderr(fcgi_req *c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = (char)p[i];
        if (ch == '\n' || c->elen == FCGI_STDERR_LINE_MAX) {
            if (c->elen)
                fcgi_host->log(WS_LOG_ERROR, c->r, "FastCGI stderr: %.*s", (int)c->elen, c->eline);
            c->elen = 0;
            if (ch == '\n')
                continue;
        }
        if (ch != '\r')
            c->eline[c->elen++] = (ch >= 0x20 && ch != 0x7f) || ch == '\t' ? ch : '?';
    }
}

static void body_bytes(fcgi_req *c, const uint8_t *p, size_t n)
{
    if (c->length >= 0 && (int64_t)n > c->length - c->sent) {
        fcgi_host->log(WS_LOG_WARN, c->r, "the application sent more than its Content-Length: cut");
        n = (size_t)(c->length - c->sent);
    }
    if (!n)
        return;
    c->sent += (int64_t)n;
    int rc = fcgi_host->write(c->r, p, n);
    if (rc == WS_AGAIN)
        c->x.out_paused = 1;
    else if (rc != WS_OK)
        fcgi_fail(c, 500, "the client connection failed");
}

static void send_head(fcgi_req *c, const cgi_head *h)
{
    const ws_host *H = fcgi_host;
    ws_request *r = c->r;
    int status = h->status ? h->status : h->location.p ? 302 : 200;
    H->set_status(r, status);
    char *v;
    if (h->content_type.p && (v = H->alloc(r, h->content_type.n + 1)))
        H->add_header(r, "Content-Type", memcpy(v, h->content_type.p, h->content_type.n));
    if (h->location.p && (v = H->alloc(r, h->location.n + 1)))
        H->add_header(r, "Location", memcpy(v, h->location.p, h->location.n));
    for (size_t i = 0; i < h->n_fields; i++) {
        if (cgi_header_dropped(h->name[i]))
            continue;
        char *name = H->alloc(r, h->name[i].n + 1), *val = H->alloc(r, h->value[i].n + 1);
        if (name && val)
            H->add_header(r, memcpy(name, h->name[i].p, h->name[i].n), memcpy(val, h->value[i].p, h->value[i].n));
    }
    c->length = h->content_length;
    if (h->content_length >= 0)
        H->set_length(r, h->content_length);
    c->head_done = 1;
}

static void stdout_bytes(fcgi_req *c, const uint8_t *p, size_t n)
{
    if (c->head_done) {
        body_bytes(c, p, n);
        return;
    }
    size_t room = CGI_HEADER_MAX - c->hlen, take = n < room ? n : room;
    memcpy(c->hbuf + c->hlen, p, take);
    c->hlen += take;
    cgi_head h;
    ssize_t k = cgi_header_parse(c->hbuf, c->hlen, &h);
    if (k == CGI_HEAD_INCOMPLETE && take == n && c->hlen < CGI_HEADER_MAX)
        return;
    if (k <= 0) {
        fcgi_fail(c, 502, "the application's header block is malformed or too long");
        return;
    }
    send_head(c, &h);
    body_bytes(c, (const uint8_t *)c->hbuf + k, c->hlen - (size_t)k);
    if (!c->x.over && take < n)
        body_bytes(c, p + take, n - take);
}

void fcgi_process_input(fcgi_req *c)
{
    while (c->ioff < c->ilen && !c->x.out_paused && !c->x.over && !c->x.ended) {
        fcgi_event ev;
        c->ioff += fcgi_parse(&c->parser, c->ibuf + c->ioff, c->ilen - c->ioff, &ev);
        switch (ev.kind) {
        case FCGI_EV_STDOUT:
            stdout_bytes(c, ev.data, ev.len);
            break;
        case FCGI_EV_STDERR:
            log_stderr(c, ev.data, ev.len);
            break;
        case FCGI_EV_END:
            if (c->elen)
                log_stderr(c, (const uint8_t *)"\n", 1);
            if (ev.protocol_status != FCGI_REQUEST_COMPLETE)
                fcgi_fail(c, ev.protocol_status == FCGI_OVERLOADED ? 503 : 502,
                          "the application refused the request (END_REQUEST protocol status)");
            else if (!c->head_done)
                fcgi_fail(c, 502, "the application ended without a header block");
            else
                c->x.ended = 1;
            break;
        case FCGI_EV_ERROR:
            fcgi_fail(c, 502, ev.why);
            break;
        default:
            break;
        }
    }
    /* The END_REQUEST is handled once everything before it reached the client's queue. */
    if (c->x.ended && !c->x.over && !c->x.out_paused)
        fcgi_done(c);
}

void fcgi_on_writable(ws_request *r)
{
    fcgi_req *c = r->ctx;
    if (!c || c->x.over)
        return;
    c->x.out_paused = 0;
    fcgi_process_input(c);
    if (!c->x.over && !c->x.out_paused) {
        upx_update_watch(&c->x);
        upx_arm_timer(&c->x);
    }
}

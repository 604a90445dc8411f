/*
 * The HTTP/1 carrier (carrier.h): a response becomes a status line and
 * header lines (RFC 9112 §4, §5), its body is framed by Content-Length, by
 * chunks (§7.1) or by the end of the connection (HTTP/1.0), and all of it
 * goes into the connection's output queue. Also: 100 Continue when a
 * module starts reading a body the client holds back (RFC 9110 §10.1.1),
 * and the switch to raw bytes after a 101 (RFC 9110 §7.8, host->upgrade).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "fmt.h"
#include "httpdate.h"
#include "modules.h"
#include "response.h"
#include "server.h"

static conn *C(const request *r)
{
    return r->carrier_ctx;
}

/* Flush b into the queue when `need` more bytes would not fit. */
static int make_room(outq *q, fmt_buf *b, size_t need)
{
    if (b->n + need <= b->cap)
        return 0;
    if (b->over || outq_append(q, b->p, b->n) < 0)
        return -1;
    b->n = 0;
    return 0;
}

static int h1_send_head(request *r)
{
    conn *c = C(r);
    /* A body the client may still send, that nobody asked for after an
     * Expect: 100-continue we did not answer: the client may be waiting or
     * sending; only closing keeps the framing safe. */
    if (r->body == BODY_UNREAD && r->head.expect_continue && !c->sent_continue)
        r->close_after = 1;
    if (!r->head.keep_alive || c->srv->stopping)
        r->close_after = 1;

    /* Built by hand: this runs for every response (see fmt.h). */
    char head[1024];
    fmt_buf b = {head, 0, sizeof head, 0};
    fmt_str(&b, "HTTP/1.1 ");
    fmt_dec(&b, (uint64_t)r->status);
    fmt_mem(&b, " ", 1);
    fmt_str(&b, http_reason(r->status));
    fmt_str(&b, "\r\nServer: ");
    /* A module's (host->set_server_date: a proxy passing its upstream's), else ours. */
    fmt_str(&b, r->server_field ? r->server_field
                : r->cfg->c->server_tokens ? ws_core_host.server_software : "webserv");
    fmt_str(&b, "\r\nDate: ");
    fmt_str(&b, r->date_field ? r->date_field : httpdate_now(loop_wall_time(c->srv->loop)));
    fmt_str(&b, "\r\n");
    c->chunked_out = 0;
    if (r->upgrade_proto) {
        /* host->upgrade (core/request/upgrade.c): 101 and the protocol;
         * after it the connection is the module's, never reused. */
        fmt_str(&b, "Connection: upgrade\r\nUpgrade: ");
        fmt_str(&b, r->upgrade_proto);
        fmt_str(&b, "\r\n");
        r->close_after = 1;
    } else if (r->status == 304 || r->status < 200 || r->status == 204) {
        /* no framing headers (RFC 9110 §8.6) */
    } else if (r->length >= 0) {
        fmt_str(&b, "Content-Length: ");
        fmt_dec(&b, (uint64_t)r->length);
        fmt_str(&b, "\r\n");
    } else if (r->pub.http_minor >= 1) {
        c->chunked_out = !r->no_body; /* HEAD gets GET's header, and no body */
        fmt_str(&b, "Transfer-Encoding: chunked\r\n");
    } else {
        r->close_after = 1; /* HTTP/1.0: the end of the body is the end of the connection */
    }
    if (r->upgrade_proto)
        ; /* said above */
    else if (r->close_after)
        fmt_str(&b, "Connection: close\r\n");
    else if (r->pub.http_minor == 0)
        fmt_str(&b, "Connection: keep-alive\r\n");
    /* The fields set on the response, then the blank line. Straight into
     * the stack buffer while they fit (nearly always: one append in all). */
    outq *q = &c->out;
    const resp_headers *hs = &r->resp_headers;
    for (size_t i = 0; i < hs->n; i++) {
        const resp_header *f = &hs->v[i];
        size_t line = f->name_len + f->value_len + 4;
        if (make_room(q, &b, line) < 0)
            return -1;
        if (line > b.cap) {
            if (outq_append(q, f->name, f->name_len) < 0 || outq_append(q, ": ", 2) < 0 ||
                outq_append(q, f->value, f->value_len) < 0 || outq_append(q, "\r\n", 2) < 0)
                return -1;
            continue;
        }
        fmt_mem(&b, f->name, f->name_len);
        fmt_mem(&b, ": ", 2);
        fmt_mem(&b, f->value, f->value_len);
        fmt_mem(&b, "\r\n", 2);
    }
    if (make_room(q, &b, 2) < 0)
        return -1;
    fmt_mem(&b, "\r\n", 2);
    return b.over || outq_append(q, head, b.n) < 0 ? -1 : 0;
}

static int chunk_start(outq *q, uint64_t n)
{
    char line[24];
    size_t k = fmt_hex(line, n);
    line[k++] = '\r';
    line[k++] = '\n';
    return outq_append(q, line, k);
}

static int h1_send_mem(request *r, const void *p, size_t n)
{
    conn *c = C(r);
    if (!c->chunked_out)
        return outq_append(&c->out, p, n);
    return chunk_start(&c->out, n) < 0 || outq_append(&c->out, p, n) < 0 || outq_append(&c->out, "\r\n", 2) < 0
               ? -1 : 0;
}

static int h1_send_ref(request *r, const void *p, size_t n, carrier_release_fn release, void *arg)
{
    conn *c = C(r);
    if (c->chunked_out && chunk_start(&c->out, n) < 0) {
        if (release)
            release(arg);
        return -1;
    }
    if (outq_append_ref(&c->out, p, n, release, arg) < 0)
        return -1; /* released by the queue */
    return c->chunked_out && outq_append(&c->out, "\r\n", 2) < 0 ? -1 : 0;
}

static int h1_send_file(request *r, int fd, off_t off, uint64_t n, carrier_release_fn release, void *arg)
{
    conn *c = C(r);
    if (c->chunked_out && chunk_start(&c->out, n) < 0) {
        if (release)
            release(arg);
        else
            close(fd);
        return -1;
    }
    if (outq_append_file_shared(&c->out, fd, off, n, release, arg) < 0)
        return -1; /* released by the queue */
    return c->chunked_out && outq_append(&c->out, "\r\n", 2) < 0 ? -1 : 0;
}

static int h1_finish(request *r)
{
    conn *c = C(r);
    return c->chunked_out && outq_append(&c->out, "0\r\n\r\n", 5) < 0 ? -1 : 0;
}

static size_t h1_queued(const request *r)
{
    return C(r)->out.mem_bytes;
}

static void h1_abort(request *r)
{
    /* HTTP/1 has no way to cut one response but closing: the state machine
     * closes once what is queued has gone (or at once if nothing can go). */
    r->close_after = 1;
    r->broken = 1;
}

static void h1_want_body(request *r)
{
    conn *c = C(r);
    if (r->head.expect_continue && !r->head_sent && !c->sent_continue && r->pub.http_minor >= 1) {
        c->sent_continue = 1;
        outq_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
}

/* After the 101 (host->upgrade): the rest of the byte stream, from the end
 * of the request head on (a client may send its first frames right behind
 * it), is the new protocol's, handed up unframed until the client closes. */
static int h1_upgrade(request *r)
{
    conn *c = C(r);
    h1_body *b = &c->in;
    memset(b, 0, sizeof *b);
    b->left = INT64_MAX;
    b->raw = 1;
    c->chunked_out = 0;
    return 0;
}

static void h1_progress(request *r)
{
    conn_progress(C(r));
}

const carrier_ops h1_carrier = {
    .name = "http/1.1",
    .send_head = h1_send_head,
    .send_mem = h1_send_mem,
    .send_ref = h1_send_ref,
    .send_file = h1_send_file,
    .finish = h1_finish,
    .queued = h1_queued,
    .abort = h1_abort,
    .want_body = h1_want_body,
    .progress = h1_progress,
    .upgrade = h1_upgrade,
};

/*
 * An HTTP/1 connection's life: accept → read a head → run the request →
 * write → keep-alive or close. conn_progress is the one place that moves a
 * connection forward: it runs the function of the current state until one
 * has to wait (STEP_AGAIN) or the connection ends (STEP_CLOSE). I/O
 * callbacks, timers and module callbacks (through the carrier's progress)
 * all end up there.
 */
#include "metrics.h"
#include "conn.h"
#include "same_host.h"
#include "filter.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "h2.h"
#include "log.h"
#include "modules.h"
#include "response.h"
#include "server.h"
#include "tls.h"

#define LOW_WATER (64 * 1024)

static void conn_io(loop *l, int fd, unsigned ev, void *arg);
static void conn_timer_fn(loop *l, void *arg);

static const config_timeouts *timeouts(const conn *c)
{
    return &c->srv->cfg->c->timeouts;
}

/* ---- deadlines ----
 * The connection's own: the whole head (header), idle keep-alive, lingering
 * close. The request's (req_phase): between body reads (body), between
 * writes (send). One loop timer serves both, at the earlier. */
enum { PHASE_NONE, PHASE_HEADER, PHASE_KEEPALIVE, PHASE_LINGER };

/* How long a closing connection waits for the client to stop sending (RFC 9112 §9.6). */
#define LINGER_MS 2000

/* Draining (SIGTERM, and an old worker after a reload): an idle keep-alive
 * connection is not closed at once, because its client may be sending the
 * next request right now, and a client that does not retry (RFC 9112 §9.3.1
 * allows it, but does not require it) would see that request fail. It keeps
 * this long for its next request, which is answered with Connection: close
 * (h1_carrier.c); only a connection idle past it is closed. The whole drain
 * is still bounded by timeouts.shutdown (server.c). */
#define DRAIN_IDLE_MS 1000

static uint64_t phase_ms(const conn *c, int phase)
{
    const config_timeouts *t = timeouts(c);
    switch (phase) {
    case PHASE_HEADER: return t->header_ms;
    case PHASE_KEEPALIVE:
        if (c->srv->stopping && (!t->keepalive_ms || t->keepalive_ms > DRAIN_IDLE_MS))
            return DRAIN_IDLE_MS;
        return t->keepalive_ms;
    case PHASE_LINGER: return LINGER_MS;
    default: return 0;
    }
}

static uint64_t req_phase_ms(const conn *c, req_phase phase)
{
    const config_timeouts *t = timeouts(c);
    /* An upgraded connection (REQ_TUNNEL) is idle after timeouts.body with
     * no byte either way: its input is the client's, like a body's. */
    return phase == REQ_BODY || phase == REQ_TUNNEL ? t->body_ms : phase == REQ_SEND ? t->send_ms : 0;
}

/* Enter a phase (its deadline starts now); staying in the same phase keeps the deadline. */
static void set_phase(conn *c, int phase)
{
    if (c->phase == phase)
        return;
    c->phase = phase;
    uint64_t ms = phase_ms(c, phase);
    c->deadline = ms ? loop_now_ms(c->srv->loop) + ms : 0;
}

static void set_req_phase(conn *c, request *r, req_phase phase)
{
    if (r->phase == phase)
        return;
    r->phase = phase;
    uint64_t ms = req_phase_ms(c, phase);
    r->deadline = ms ? loop_now_ms(c->srv->loop) + ms : 0;
}

/* Progress in the request's current phase restarts its clock (body and send). */
static void touch_req_phase(conn *c, req_phase phase)
{
    request *r = c->req;
    if (r && r->phase == phase && phase != REQ_WORKING)
        r->deadline = loop_now_ms(c->srv->loop) + req_phase_ms(c, phase);
}

static uint64_t next_deadline(const conn *c)
{
    uint64_t d = c->deadline, rd = c->req ? c->req->deadline : 0;
    return !d || (rd && rd < d) ? rd : d;
}

/* Keep one loop timer at or before the deadline; moving a deadline later
 * costs nothing (the timer re-arms itself when it fires early). */
static void arm_timer(conn *c)
{
    uint64_t d = next_deadline(c);
    if (!d)
        return;
    if (c->timer && c->timer_at <= d)
        return;
    if (c->timer)
        loop_timer_cancel(c->srv->loop, c->timer);
    uint64_t now = loop_now_ms(c->srv->loop);
    c->timer_at = d;
    c->timer = loop_timer_add(c->srv->loop, d > now ? d - now : 0, conn_timer_fn, c);
}

static void set_events(conn *c, unsigned ev)
{
    if (ev != c->events && loop_mod(c->srv->loop, c->tr.fd, ev) == 0)
        c->events = ev;
}

/* ---- the connection's life ---- */

conn *conn_new(server *s, listener *l, int fd, const struct sockaddr *remote, socklen_t rlen)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    transport_init(&c->tr, fd);
    c->read_want = LOOP_READ;
    c->write_want = LOOP_WRITE;
    c->srv = s;
    c->lst = l;
    memcpy(&c->remote, remote, rlen < sizeof c->remote ? rlen : sizeof c->remote);
    /* The local address: the listener's own unless it is a wildcard (then
     * only the kernel knows which address the client reached): one system
     * call less per connection (issue 21). */
    socklen_t llen = sizeof c->local;
    if (l->bind && !l->bind->addr.wildcard && l->bind->addr.len <= llen) {
        llen = l->bind->addr.len;
        memcpy(&c->local, &l->bind->addr.ss, llen);
    } else {
        getsockname(fd, (struct sockaddr *)&c->local, &llen);
    }
    /* A TLS address: the transport handshakes before the first head (core/tls). */
    if (l->bind && l->bind->addr.tls && tls_transport_attach(&c->tr, &l->bind, (struct sockaddr *)&c->local) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
#ifndef __linux__
    /* Linux copies TCP_NODELAY from the listener (server/listen.c). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#endif
    /* Deferred: its request is there and on_accept reads it at once
     * (conn_read_first), so the epoll set hears of the connection only if it
     * is still open at the loop's next wait (a Connection: close exchange
     * never enters it: one system call less). */
    int added = l->defers_accept ? loop_add_later(s->loop, fd, LOOP_READ, conn_io, c)
                                 : loop_add(s->loop, fd, LOOP_READ, conn_io, c);
    if (added < 0) {
        transport_close(&c->tr);
        free(c);
        return NULL;
    }
    c->events = LOOP_READ;
    c->state = CONN_IDLE;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    if (s->n_conns > s->peak_conns)
        s->peak_conns = s->n_conns;
    s->stats.connections_accepted++;
    metrics_connection_accepted(); /* server/metrics.c */
    /* The first request of a connection gets the header timeout from the start. */
    set_phase(c, PHASE_HEADER);
    arm_timer(c);
    return c;
}

void conn_read_first(conn *c)
{
    conn_io(c->srv->loop, c->tr.fd, LOOP_READ, c); /* c may be gone after this */
}

/* A big request body streams through a read buffer of its own (issue 21):
 * one read of up to BODY_RBUF bytes per wake-up instead of the 32 KiB of
 * rbuf_size, so a gigabyte costs 4,096 reads, epoll waits and on_body calls
 * instead of 32,768 (a 1 GiB PUT spent a fifth of the worker's time on
 * them). Only the body's own bytes are ever read into it, never the next
 * request's, so it goes back as soon as the body's bytes were taken. */
#define BODY_RBUF (256 * 1024) /* lib/spool/spool.h SPOOL_PIECE: a spool batch holds one such piece past full */
#define BODY_RBUF_MIN (1024 * 1024) /* Content-Length bodies at least this long */

static void put_rbuf(conn *c)
{
    if (c->rbig)
        free(c->rbuf);
    else
        server_put_buf(c->srv, c->rbuf);
    c->rbuf = NULL;
    c->rbig = 0;
    c->rpos = c->rlen = 0;
}

static void release_rbuf(conn *c)
{
    if (c->rbuf && c->rpos == c->rlen && !c->in.pend_len)
        put_rbuf(c);
}

static size_t rbuf_cap(const conn *c)
{
    return c->rbig ? BODY_RBUF : c->srv->rbuf_size;
}

/* The request's body (Content-Length, not upgraded) is being read. */
static int body_streaming(const conn *c)
{
    return c->state == CONN_ACTIVE && c->req && c->req->body == BODY_READING && !c->in.chunked && !c->in.raw &&
           c->in.left > 0;
}

/* Before a read, with rbuf empty: a big body gets the big buffer, and the
 * big buffer goes back once its body is over. */
static void fit_rbuf(conn *c)
{
    if (!c->rbuf || c->rpos != c->rlen || c->in.pend_len)
        return;
    if (c->rbig && !body_streaming(c)) {
        put_rbuf(c);
    } else if (!c->rbig && body_streaming(c) && c->in.left >= BODY_RBUF_MIN) {
        char *big = malloc(BODY_RBUF);
        if (!big)
            return; /* the small one does, slower */
        server_put_buf(c->srv, c->rbuf);
        c->rbuf = big;
        c->rbig = 1;
        c->rpos = c->rlen = 0;
        c->scan_from = 0;
    }
}

static void free_conn(conn *c)
{
    server *s = c->srv;
    if (c->timer)
        loop_timer_cancel(s->loop, c->timer);
    loop_del_closing(s->loop, c->tr.fd); /* closed on the next line, never duplicated */
    transport_close(&c->tr);
    outq_clear(&c->out);
    if (c->rbuf)
        put_rbuf(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    server_conn_closed(s, c);
    free(c);
}

/* The request on the connection is over (its response is out, or cut). */
static void end_request(conn *c, int how)
{
    request *r = c->req;
    c->req = NULL;
    c->in.pend_len = 0;
    req_end(r, how);
}

void conn_close(conn *c)
{
    h2_free(c);
    if (c->req)
        end_request(c, WS_END_ABORTED);
    free_conn(c);
}

void conn_drain(conn *c)
{
    if (c->h2) {
        h2_drain(c);
        return;
    }
    /* A request under way is finished and answered with Connection: close;
     * an idle keep-alive connection gets DRAIN_IDLE_MS from now for its next
     * request. A connection accepted a moment ago keeps its header timeout:
     * its first request is surely on the way (a client connects to send one),
     * and on a busy machine it may take longer than DRAIN_IDLE_MS to come.
     * timeouts.shutdown still bounds it. */
    if (c->state == CONN_IDLE && c->requests > 0) {
        c->phase = PHASE_NONE;
        set_phase(c, PHASE_KEEPALIVE);
        arm_timer(c);
    }
}

void conn_tell_request(conn *c, request *r)
{
    r->tr = &c->tr;
    if (tls_transport_is(&c->tr)) {
        r->pub.scheme = "https";
        r->pub.tls = tls_request_info(&c->tr, r->pool);
    } else {
        r->pub.scheme = "http"; /* and no TLS facts to look up (pub.tls stays NULL) */
    }
}

/* A request on this connection, from a parsed head (HTTP_PARSE_OK) or a
 * refused one (its status). The connection's own deadline stops: the
 * request has its own. */
static step start_request(conn *c, int parse_status, const http_head *h, const char *line, size_t line_len)
{
    request *r = req_new(&h1_carrier, c, c->lst->bind, &c->local.sa, &c->remote.sa);
    if (!r)
        return STEP_CLOSE;
    conn_tell_request(c, r);
    c->req = r;
    c->requests++;
    log_context_set(&r->logctx);
    WS_TRACE("conn %d: request %u", c->tr.fd, (unsigned)c->requests);
    c->state = CONN_ACTIVE;
    c->scan_from = 0;
    c->chunked_out = 0;
    c->sent_continue = 0;
    set_phase(c, PHASE_NONE);
    if (h) {
        h1_body_start(c, h);
    } else {
        memset(&c->in, 0, sizeof c->in);
    }
    r->request_line = line ? arena_strndup(r->pool, line, line_len) : "-";
    req_start(r, parse_status, h);
    return STEP_OK;
}

/* ---- reading ---- */

/* Read what the transport has into rbuf. STEP_OK: got bytes; STEP_AGAIN:
 * nothing now (or no room); STEP_CLOSE: the peer closed, or an error. */
static step conn_read(conn *c)
{
    fit_rbuf(c);
    if (!c->rbuf) {
        c->rbuf = server_get_buf(c->srv);
        if (!c->rbuf)
            return STEP_AGAIN;
        c->rbig = 0;
        c->rpos = c->rlen = 0;
        fit_rbuf(c);
    }
    size_t cap = rbuf_cap(c);
    h1_body *b = &c->in;
    if (c->rpos == c->rlen && !b->pend_len) {
        c->rpos = c->rlen = 0;
        c->scan_from = 0;
    } else if (c->rlen == cap && c->rpos > 0) {
        /* Move the unread bytes to the front, and the piece a paused module
         * still holds (it lies before rpos). */
        size_t shift = c->rpos;
        if (b->pend_len && (size_t)(b->pend - c->rbuf) < shift)
            shift = (size_t)(b->pend - c->rbuf);
        memmove(c->rbuf, c->rbuf + shift, c->rlen - shift);
        c->rlen -= shift;
        c->rpos = 0;
        if (b->pend_len)
            b->pend -= shift;
    }
    if (c->rlen == cap)
        return STEP_AGAIN;
    size_t want = cap - c->rlen;
    if (c->rbig) { /* the body's bytes only: what is past it is the next request's */
        uint64_t rest = (uint64_t)c->in.left - (c->rlen - c->rpos);
        if (rest < want)
            want = (size_t)rest;
        if (want == 0)
            return STEP_AGAIN;
    }
    ssize_t n = transport_read(&c->tr, c->rbuf + c->rlen, want);
    if (n > 0) {
        c->rlen += (size_t)n;
        c->read_want = LOOP_READ;
        return STEP_OK;
    }
    if (n == TR_AGAIN) {
        c->read_want = c->tr.want;
        return STEP_AGAIN;
    }
    c->peer_closed = 1;
    return STEP_CLOSE;
}

/* ---- writing ---- */

/* The first time a big file is about to go out on the connection: a peer on
 * this host gets a small fixed send buffer (net/same_host.h says why), once. */
static void size_send_buffer(conn *c)
{
    c->send_sized = 1;
    if (c->tr.ops->sendfile && peer_on_this_host(&c->local.sa, &c->remote.sa)) {
        int size = SAME_HOST_SNDBUF;
        setsockopt(c->tr.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
}

/* STEP_OK (all sent or the rest waits for the transport) or STEP_CLOSE. */
static step conn_flush(conn *c)
{
    if (outq_empty(&c->out))
        return STEP_OK;
    if (!c->send_sized && c->out.file_bytes >= SAME_HOST_BIG_SEND)
        size_send_buffer(c);
    ssize_t n = outq_flush(&c->out, &c->tr);
    if (n < 0)
        return STEP_CLOSE;
    c->write_want = outq_empty(&c->out) ? LOOP_WRITE : c->tr.want;
    if (n > 0)
        touch_req_phase(c, REQ_SEND);
    return STEP_OK;
}

/* ---- the states ---- */

static void start_next_request(conn *c)
{
    if (c->rlen == c->rpos) {
        c->state = CONN_IDLE;
        set_phase(c, PHASE_KEEPALIVE); /* when draining, DRAIN_IDLE_MS (phase_ms) */
        release_rbuf(c);
        return;
    }
    c->state = CONN_HEAD; /* a pipelined request is already here */
    set_phase(c, PHASE_HEADER);
}

/* Parse a head from rbuf: STEP_OK when a request started, STEP_AGAIN for more bytes. */
static step try_head(conn *c)
{
    size_t avail = c->rlen - c->rpos;
    if (avail == 0)
        return STEP_AGAIN;
    if (c->state == CONN_IDLE) {
        c->state = CONN_HEAD;
        set_phase(c, PHASE_HEADER);
    }
    size_t head_len = 0;
    http_head h;
    size_t max = c->srv->cfg->c->header_size;
    const char *s = c->rbuf + c->rpos;
    int rc = http_parse_head(s, avail, max, c->scan_from, &h, &head_len);
    if (rc == HTTP_PARSE_AGAIN && c->rpos == 0 && c->rlen == c->srv->rbuf_size)
        rc = 431; /* a reload raised header_size past this buffer: refuse rather than wait */
    if (rc == HTTP_PARSE_AGAIN) {
        c->scan_from = head_len;
        return STEP_AGAIN;
    }
    if (rc == HTTP_PARSE_OK) {
        c->rpos += head_len;
        /* The request line, for the logs: method to version ("HTTP/1.x" is 8 bytes after a space). */
        return start_request(c, rc, &h, h.method.p, (size_t)(h.target.p + h.target.n - h.method.p) + 9);
    }
    const char *e = memchr(s, '\r', avail < 2048 ? avail : 2048);
    c->rpos = c->rlen; /* nothing after a refused head can be trusted */
    return start_request(c, rc, NULL, s, e ? (size_t)(e - s) : (avail < 200 ? avail : 200));
}

/* CONN_IDLE and CONN_HEAD: a head, after the transport's handshake. */
static step state_head(conn *c)
{
    if (!c->lst->bind)
        return STEP_CLOSE; /* a reload removed the address this connection came in on */
    if (!c->tr.ready) {
        int hs = transport_handshake(&c->tr);
        if (hs == TR_ERROR)
            return STEP_CLOSE;
        if (hs == TR_AGAIN)
            return STEP_AGAIN;
        /* A client sends its request right behind its Finished (RFC 8446
         * §2, 1-RTT data), usually already here: read it now instead of
         * after one more trip through the loop. An end or an error found
         * here is handled below (peer_closed), like one found by conn_io. */
        if (c->rpos == c->rlen)
            (void)conn_read(c);
    }
    /* HTTP/2 by ALPN, or the h2c preface on an address that takes it
     * (core/h2): both only at the start of a connection (RFC 9113 §3.3,
     * §3.4), so not looked for again before every later head. */
    int h2 = c->requests == 0 ? h2_detect(c) : 0;
    if (h2 < 0)
        return c->peer_closed ? STEP_CLOSE : STEP_AGAIN;
    if (h2 > 0)
        return h2_start(c) < 0 ? STEP_CLOSE : STEP_AGAIN;
    step rc = try_head(c);
    if (rc == STEP_AGAIN && c->peer_closed)
        return STEP_CLOSE;
    return rc;
}

/* The response is out (or cut): close, linger, drop the unread body, or
 * go on to the next request. */
static step response_done(conn *c)
{
    request *r = c->req;
    if (r->close_after || r->broken) {
        /* RFC 9112 §9.6: closing a socket that still has unread bytes from
         * the client makes the kernel answer with a reset, which can destroy
         * the response just sent (a 413 or 400 the client never sees). So
         * shut the write side, and drop what still comes until the client
         * closes, for LINGER_MS at most. */
        int linger = !c->peer_closed && !r->broken && (r->status >= 400 || req_body_unread(r) || c->rpos < c->rlen);
        end_request(c, r->broken ? WS_END_ABORTED : WS_END_DONE);
        if (!linger)
            return STEP_CLOSE;
        transport_shutdown(&c->tr);
        c->state = CONN_LINGER;
        c->rpos = c->rlen;
        release_rbuf(c);
        set_phase(c, PHASE_LINGER);
        return STEP_OK;
    }
    if (req_body_unread(r)) {
        req_release_module(r, WS_END_DONE);
        r->body = BODY_READING;
        r->logctx.doing = "discarding the body";
        c->state = CONN_DISCARD;
        return STEP_OK;
    }
    end_request(c, WS_END_DONE);
    start_next_request(c);
    return STEP_OK;
}

/* CONN_ACTIVE: the request runs: redirects, body pieces, output, on_writable. */
static step state_active(conn *c)
{
    request *r = c->req;
    if (req_take_pending(r))
        return STEP_OK; /* a redirect or a deferred phase ran */
    if (r->body == BODY_READING) {
        h1_body_pump(c);
        if (r->redirect_to)
            return STEP_OK; /* asked for in on_body or on_body_end */
    }
    if (r->aborted)
        return STEP_CLOSE;
    /* The client said this is its last request (Connection: close, or
     * HTTP/1.0 without keep-alive: RFC 9112 §9.6, it sends nothing more), the
     * response is all queued, and response_done closes or shuts the socket in
     * this same turn once the queue is empty: the last write may hold its tail
     * for the FIN (outq.h). A close the server chose (draining, an error) keeps
     * sending at once: a client that pipelined more would get a reset on
     * close, which would then take the held bytes with it. */
    c->out.fin_follows = r->finished && r->close_after && !r->head.keep_alive && !r->broken && !filter_pending(r);
    if (conn_flush(c) == STEP_CLOSE)
        return STEP_CLOSE;
    if (c->out.mem_bytes < LOW_WATER && req_writable(r))
        return STEP_OK;
    if (!r->finished || !outq_empty(&c->out) || filter_pending(r)) {
        if (c->peer_closed && !r->finished && !(r->upgraded && r->body == BODY_DONE))
            return STEP_CLOSE; /* the client went away while the handler worked */
        /* (an upgraded connection's module heard on_data_end: it may still send and finish) */
        return STEP_AGAIN;
    }
    return response_done(c);
}

/* CONN_DISCARD: the rest of a body nobody read, so the next head can be found. */
static step state_discard(conn *c)
{
    step rc = h1_body_discard(c);
    if (rc == STEP_ERROR)
        return STEP_CLOSE;
    if (rc == STEP_AGAIN)
        return c->peer_closed ? STEP_CLOSE : STEP_AGAIN;
    end_request(c, WS_END_DONE);
    start_next_request(c);
    return STEP_OK;
}

/* CONN_LINGER: drop input until the client closes (STEP_CLOSE) or the deadline. */
static step state_linger(conn *c)
{
    char sink[16384];
    for (int i = 0; i < 64; i++) {
        ssize_t n = transport_read(&c->tr, sink, sizeof sink);
        if (n > 0)
            continue;
        if (n == TR_AGAIN) {
            c->read_want = c->tr.want;
            return STEP_AGAIN;
        }
        return STEP_CLOSE;
    }
    return STEP_AGAIN;
}

static step run_state(conn *c)
{
    WS_TRACE("conn %d: state %d", c->tr.fd, (int)c->state);
    switch (c->state) {
    case CONN_IDLE:
    case CONN_HEAD: return state_head(c);
    case CONN_ACTIVE: return state_active(c);
    case CONN_DISCARD: return state_discard(c);
    case CONN_LINGER: return state_linger(c);
    case CONN_H2: return STEP_AGAIN; /* not reached: conn_progress hands it to core/h2 */
    }
    return STEP_CLOSE;
}

/* Whether the connection wants bytes from the client now. */
static int wants_read(const conn *c)
{
    const request *r = c->req;
    int room = !c->rbuf || c->rlen < rbuf_cap(c) || c->rpos > 0;
    switch (c->state) {
    case CONN_IDLE:
    case CONN_HEAD:
    case CONN_DISCARD:
    case CONN_LINGER:
        return 1;
    case CONN_H2:
        return 0;
    case CONN_ACTIVE:
        if (r->body == BODY_READING && !c->in.pend_len)
            return 1;
        /* Otherwise read only to notice a client that goes away, while there is room. */
        return (r->body == BODY_NONE || r->body == BODY_DONE) && room && !c->peer_closed;
    }
    return 0;
}

/* The loop events to wait for: what a blocked read and a blocked flush each
 * wait for (LOOP_READ and LOOP_WRITE on a plain socket; a TLS transport may
 * swap them, transport.h). A handshake in progress waits for what it asked. */
static unsigned wanted_events(const conn *c)
{
    if (!c->tr.ready)
        return c->tr.want;
    unsigned ev = outq_empty(&c->out) || c->state == CONN_LINGER ? 0 : c->write_want;
    return wants_read(c) ? ev | c->read_want : ev;
}

/* The request's deadline follows what it waits for: room to send, body
 * bytes, or nothing of the core's own while its handler works. */
static void update_req_phase(conn *c)
{
    request *r = c->req;
    if (!r)
        return;
    if (!outq_empty(&c->out))
        set_req_phase(c, r, REQ_SEND);
    else if (r->upgraded && c->state == CONN_ACTIVE)
        set_req_phase(c, r, REQ_TUNNEL);
    else if (c->state == CONN_DISCARD || (r->body == BODY_READING && !c->in.pend_len))
        set_req_phase(c, r, REQ_BODY);
    else
        set_req_phase(c, r, REQ_WORKING);
}

/* A transport holding bytes it already took off the socket (TLS records)
 * gets no readable event for them: they are taken here when wanted. */
static int read_pending(conn *c)
{
    return c->tr.ready && c->state != CONN_LINGER && transport_pending(&c->tr) && wants_read(c) &&
           conn_read(c) == STEP_OK;
}

void conn_progress(conn *c)
{
    if (c->h2) {
        h2_progress(c);
        return;
    }
    /* Never from inside a module's call: the trampoline that made it calls again after. */
    if (c->in_progress || (c->req && c->req->in_module))
        return;
    c->in_progress = 1;
    /* Error-log lines written from here on say which request and what step. */
    log_context_set(c->req ? &c->req->logctx : NULL);
    step rc;
    do {
        do
            rc = run_state(c);
        while (rc == STEP_OK);
    } while (rc == STEP_AGAIN && read_pending(c));
    c->in_progress = 0;
    WS_TRACE("conn %d: %s in state %d", c->tr.fd, rc == STEP_CLOSE ? "close" : "wait", (int)c->state);
    if (rc == STEP_CLOSE) {
        conn_close(c);
        log_context_set(NULL);
        return;
    }
    if (c->h2) {
        h2_progress(c); /* it became an HTTP/2 connection just now */
        return;
    }
    update_req_phase(c);
    arm_timer(c);
    set_events(c, wanted_events(c));
    log_context_set(NULL);
}

static void conn_io(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    conn *c = arg;
    if (c->h2) {
        h2_io(c, ev);
        return;
    }
    if ((ev & (c->read_want | LOOP_ERROR)) && c->state != CONN_LINGER && c->tr.ready) {
        if (conn_read(c) == STEP_OK) {
            touch_req_phase(c, REQ_BODY);
            touch_req_phase(c, REQ_TUNNEL);
        }
    }
    conn_progress(c);
}

/* The connection's own deadline passed. */
static void conn_timeout(conn *c)
{
    switch (c->state) {
    case CONN_IDLE: {
        /* A request that arrived in this very loop round (its read event not
         * handled yet) is served, not reset by a close with unread bytes. */
        char b;
        if (transport_pending(&c->tr) || recv(c->tr.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
            set_phase(c, PHASE_HEADER);
            arm_timer(c);
            return;
        }
        conn_close(c); /* idle keep-alive: a silent close */
        return;
    }
    case CONN_HEAD:
        /* The head did not come in time: 408, then close. */
        c->rpos = c->rlen;
        if (start_request(c, 408, NULL, NULL, 0) == STEP_CLOSE) {
            conn_close(c);
            return;
        }
        conn_progress(c);
        return;
    default:
        conn_close(c);
        return;
    }
}

static void conn_timer_fn(loop *l, void *arg)
{
    conn *c = arg;
    c->timer = NULL;
    if (c->h2)
        return; /* the session keeps its own timer */
    uint64_t now = loop_now_ms(l);
    request *r = c->req;
    if (c->deadline && now >= c->deadline) {
        c->deadline = 0;
        c->phase = PHASE_NONE;
        conn_timeout(c);
        return;
    }
    if (r && r->deadline && now >= r->deadline) {
        r->deadline = 0;
        log_context_set(&r->logctx);
        WS_TRACE("conn %d: request deadline (phase %d)", c->tr.fd, (int)r->phase);
        if (req_timed_out(r) == STEP_CLOSE) {
            conn_close(c);
            log_context_set(NULL);
            return;
        }
        r->phase = REQ_WORKING;
        conn_progress(c);
        return;
    }
    arm_timer(c);
}

/*
 * A connection's life: accept → read a head → run the request → write →
 * keep-alive or close. conn_progress is the one place that moves a
 * connection forward; I/O callbacks and module callbacks end up there.
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "fs_cache.h"
#include "netaddr.h"
#include "phase.h"
#include "arena.h"
#include "log.h"
#include "modules.h"
#include "request.h"
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

/* The timeout a connection is under: the whole head (header), between body
 * reads (body), between writes (send), idle keep-alive. A handler at work
 * with nothing to read or write has none of the core's own. */
enum { PHASE_NONE, PHASE_HEADER, PHASE_BODY, PHASE_SEND, PHASE_KEEPALIVE, PHASE_LINGER };

/* How long a closing connection waits for the client to stop sending (RFC 9112 §9.6). */
#define LINGER_MS 2000

/* Draining (SIGTERM, and an old worker after a reload): an idle keep-alive
 * connection is not closed at once, because its client may be sending the
 * next request right now, and a client that does not retry (RFC 9112 §9.3.1
 * allows it, but does not require it) would see that request fail. It keeps
 * this long for its next request, which is answered with Connection: close
 * (response.c); only a connection idle past it is closed. The whole drain is
 * still bounded by timeouts.shutdown (server.c). */
#define DRAIN_IDLE_MS 1000

static uint64_t phase_ms(const conn *c, int phase)
{
    const config_timeouts *t = timeouts(c);
    switch (phase) {
    case PHASE_HEADER: return t->header_ms;
    case PHASE_BODY: return t->body_ms;
    case PHASE_SEND: return t->send_ms;
    case PHASE_KEEPALIVE:
        if (c->srv->stopping && (!t->keepalive_ms || t->keepalive_ms > DRAIN_IDLE_MS))
            return DRAIN_IDLE_MS;
        return t->keepalive_ms;
    case PHASE_LINGER: return LINGER_MS;
    default: return 0;
    }
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

/* Progress in the current phase restarts its clock (body and send only). */
static void touch_phase(conn *c, int phase)
{
    if (c->phase == phase)
        c->deadline = loop_now_ms(c->srv->loop) + phase_ms(c, phase);
}

/* Keep one loop timer at or before the deadline; moving a deadline later
 * costs nothing (the timer re-arms itself when it fires early). */
static void arm_timer(conn *c)
{
    if (!c->deadline)
        return;
    if (c->timer && c->timer_at <= c->deadline)
        return;
    if (c->timer)
        loop_timer_cancel(c->srv->loop, c->timer);
    uint64_t now = loop_now_ms(c->srv->loop);
    c->timer_at = c->deadline;
    c->timer = loop_timer_add(c->srv->loop, c->deadline > now ? c->deadline - now : 0, conn_timer_fn, c);
}

static void set_events(conn *c, unsigned ev)
{
    if (ev != c->events && loop_mod(c->srv->loop, c->tr.fd, ev) == 0)
        c->events = ev;
}

void conn_new(server *s, listener *l, int fd, const struct sockaddr *remote, socklen_t rlen)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    transport_init(&c->tr, fd);
    c->read_want = LOOP_READ;
    c->write_want = LOOP_WRITE;
    c->srv = s;
    c->lst = l;
    memcpy(&c->remote, remote, rlen < sizeof c->remote ? rlen : sizeof c->remote);
    socklen_t llen = sizeof c->local;
    getsockname(fd, (struct sockaddr *)&c->local, &llen);
    /* A TLS address: the transport handshakes before the first head (core/tls). */
    if (l->bind && l->bind->addr.tls && tls_transport_attach(&c->tr, &l->bind, (struct sockaddr *)&c->local, llen) < 0) {
        close(fd);
        free(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (loop_add(s->loop, fd, LOOP_READ, conn_io, c) < 0) {
        transport_close(&c->tr);
        free(c);
        return;
    }
    c->events = LOOP_READ;
    c->state = CONN_IDLE;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    s->stats.connections_accepted++;
    /* The first request of a connection gets the header timeout from the start. */
    set_phase(c, PHASE_HEADER);
    arm_timer(c);
}

static void release_rbuf(conn *c)
{
    if (c->rbuf && c->rpos == c->rlen && !(c->req && c->req->pend_len)) {
        server_put_buf(c->srv, c->rbuf);
        c->rbuf = NULL;
        c->rpos = c->rlen = 0;
    }
}

static void free_conn(conn *c)
{
    server *s = c->srv;
    if (c->timer)
        loop_timer_cancel(s->loop, c->timer);
    loop_del(s->loop, c->tr.fd);
    transport_close(&c->tr);
    outq_clear(&c->out);
    if (c->rbuf)
        server_put_buf(s, c->rbuf);
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

/* ---- the request's end ---- */

static void remove_events(request *r)
{
    loop *l = r->c->srv->loop;
    for (req_watch *w = r->watches; w; w = w->next)
        if (w->fd >= 0) {
            loop_del(l, w->fd);
            w->fd = -1;
        }
    for (req_timer *t = r->timers; t; t = t->next)
        if (t->t) {
            loop_timer_cancel(l, t->t);
            t->t = NULL;
        }
    r->watches = NULL;
    r->timers = NULL;
    children_forget_request(r);
}

void req_release_module(request *r, int how)
{
    if (r->owner && !r->cleaned) {
        r->cleaned = 1;
        if (r->owner->d.cleanup) {
            r->in_module++;
            r->owner->d.cleanup(&r->pub, how);
            r->in_module--;
        }
    }
    remove_events(r);
}

static void req_free(conn *c, int how)
{
    request *r = c->req;
    phase_log(r, how); /* ABI 1.2 log hooks: after the response */
    if (r->offloads) {
        /* Works still run for it (host->offload): the connection lets go of it
         * now, the last work frees it (core/phases/offload_req.c). */
        remove_events(r);
        access_log_request(r);
        c->srv->stats.requests_total++;
        r->orphan = 1;
        r->orphan_how = how;
        r->c = NULL;
        c->req = NULL;
        return;
    }
    req_release_module(r, how);
    for (req_file *f = r->files; f; f = f->next)
        fs_file_release(f->ref); /* a response still being sent holds its own reference */
    r->files = NULL;
    access_log_request(r);
    c->srv->stats.requests_total++;
    live_config_unref(r->cfg);
    server_put_pool(c->srv, r->pool);
    free(r);
    c->req = NULL;
}

void req_free_orphan(request *r)
{
    if (r->owner && !r->cleaned && r->owner->d.cleanup) {
        r->cleaned = 1;
        r->in_module++;
        r->owner->d.cleanup(&r->pub, r->orphan_how);
        r->in_module--;
    }
    for (req_file *f = r->files; f; f = f->next)
        fs_file_release(f->ref);
    live_config_unref(r->cfg);
    server_put_pool(g_server, r->pool);
    free(r);
}

void conn_close(conn *c)
{
    if (c->req)
        req_free(c, WS_END_ABORTED);
    free_conn(c);
}

void conn_drain(conn *c)
{
    /* A request under way is finished and answered with Connection: close;
     * an idle connection (or one accepted a moment ago, its first request on
     * the way) gets DRAIN_IDLE_MS from now for its next request. */
    if (c->state == CONN_IDLE) {
        c->phase = PHASE_NONE;
        set_phase(c, PHASE_KEEPALIVE);
        arm_timer(c);
    }
}

static request *req_new(conn *c)
{
    request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->pool = server_get_pool(c->srv);
    if (!r->pool) {
        free(r);
        return NULL;
    }
    r->c = c;
    r->cfg = c->srv->cfg;
    r->cfg->refs++;
    r->length = -1;
    r->out_left = -1;
    r->hook_in = -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->start_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    ws_request *p = &r->pub;
    p->size = sizeof *p;
    p->query = "";
    p->content_length = 0;
    p->remote_addr = sockaddr_text(r->pool, (struct sockaddr *)&c->remote, &p->remote_port);
    p->local_addr = sockaddr_text(r->pool, (struct sockaddr *)&c->local, &p->local_port);
    c->req = r;
    c->requests++;
    return r;
}

/* ---- reading ---- */

/* Read what the transport has into rbuf. 1: got bytes; 0: nothing now; -1: peer closed or error. */
static int conn_read(conn *c)
{
    if (!c->rbuf) {
        c->rbuf = server_get_buf(c->srv);
        if (!c->rbuf)
            return 0;
        c->rpos = c->rlen = 0;
    }
    size_t cap = c->srv->rbuf_size;
    if (c->rpos == c->rlen && !(c->req && c->req->pend_len)) {
        c->rpos = c->rlen = 0;
        c->scan_from = 0;
    } else if (c->rlen == cap && c->rpos > 0) {
        /* Move the unread bytes to the front, and the piece a paused module
         * still holds (it lies before rpos). */
        size_t shift = c->rpos;
        if (c->req && c->req->pend_len && (size_t)(c->req->pend - c->rbuf) < shift)
            shift = (size_t)(c->req->pend - c->rbuf);
        memmove(c->rbuf, c->rbuf + shift, c->rlen - shift);
        c->rlen -= shift;
        c->rpos = 0;
        if (c->req && c->req->pend_len)
            c->req->pend -= shift;
    }
    if (c->rlen == cap)
        return 0;
    ssize_t n = transport_read(&c->tr, c->rbuf + c->rlen, cap - c->rlen);
    if (n > 0) {
        c->rlen += (size_t)n;
        c->read_want = LOOP_READ;
        return 1;
    }
    if (n == TR_AGAIN) {
        c->read_want = c->tr.want;
        return 0;
    }
    c->peer_closed = 1;
    return -1;
}

/* ---- the body ---- */

static void body_done(request *r)
{
    r->body = BODY_DONE;
    if (r->owner && r->owner->d.on_body_end && !r->finished) {
        req_begin_module(r);
        r->owner->d.on_body_end(&r->pub);
        req_end_module(r);
    }
}

/* Take the next body piece out of rbuf into r->pend. 1: a piece (or the end)
 * is ready; 0: need more bytes; -1: the body is malformed or too large (answered). */
static int next_body_piece(conn *c, request *r)
{
    size_t avail = c->rlen - c->rpos;
    if (!r->chunked) {
        if (r->body_left == 0)
            return 1;
        if (avail == 0)
            return 0;
        size_t take = (uint64_t)r->body_left < avail ? (size_t)r->body_left : avail;
        r->pend = c->rbuf + c->rpos;
        r->pend_len = take;
        c->rpos += take;
        r->body_left -= (int64_t)take;
        r->body_seen += (int64_t)take;
        return 1;
    }
    while (avail > 0 || r->body_left == 0) {
        size_t used = 0, dlen = 0;
        const char *data = NULL;
        int rc = chunked_decode(&r->dec, c->rbuf + c->rpos, avail, &used, &data, &dlen);
        c->rpos += used;
        avail -= used;
        if (rc == CHUNKED_ERROR) {
            r->dec_failed = 1;
            resp_error(r, 400);
            r->close_after = 1;
            return -1;
        }
        if (rc == CHUNKED_DONE) {
            r->chunk_end = 1;
            return 1;
        }
        if (rc == CHUNKED_DATA && dlen) {
            r->body_seen += (int64_t)dlen;
            if (r->loc && r->loc->max_body > 0 && r->body_seen > r->loc->max_body) {
                resp_error(r, 413);
                r->close_after = 1;
                return -1;
            }
            r->pend = data;
            r->pend_len = dlen;
            return 1;
        }
        if (rc == CHUNKED_AGAIN)
            return 0;
    }
    return 0;
}

static int body_complete(const request *r)
{
    return r->chunked ? r->chunk_end : r->body_left == 0;
}

/* Deliver body bytes to the module while it takes them. */
static void pump_body(conn *c, request *r)
{
    while (r->body == BODY_READING && !r->finished) {
        if (r->pend_len) {
            size_t n = r->pend_len;
            if (r->owner && r->owner->d.on_body) {
                req_begin_module(r);
                n = r->owner->d.on_body(&r->pub, r->pend, r->pend_len);
                req_end_module(r);
                if (n > r->pend_len)
                    n = r->pend_len;
            }
            r->pend += n;
            r->pend_len -= n;
            if (r->pend_len) {
                r->body = BODY_PAUSED;
                return;
            }
            continue;
        }
        if (body_complete(r)) {
            body_done(r);
            return;
        }
        int rc = next_body_piece(c, r);
        if (rc < 0)
            return;
        if (rc == 0) {
            if (c->peer_closed) {
                r->aborted = 1;
                return;
            }
            return; /* wait for the socket */
        }
    }
}

/* Drop the rest of an unread body so the next request can be read. 1: done. */
static int discard_body(conn *c, request *r)
{
    for (;;) {
        if (r->pend_len) {
            r->pend_len = 0;
            continue;
        }
        if (body_complete(r)) {
            r->body = BODY_DONE;
            return 1;
        }
        int rc = next_body_piece(c, r);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
    }
}

/* ---- writing ---- */

static int conn_flush(conn *c)
{
    if (outq_empty(&c->out))
        return 0;
    ssize_t n = outq_flush(&c->out, &c->tr);
    if (n < 0)
        return -1;
    c->write_want = outq_empty(&c->out) ? LOOP_WRITE : c->tr.want;
    if (n > 0)
        touch_phase(c, PHASE_SEND);
    return 0;
}

/* ---- the state machine ---- */

static void start_next_request(conn *c)
{
    size_t avail = c->rlen - c->rpos;
    if (avail == 0) {
        c->state = CONN_IDLE;
        set_phase(c, PHASE_KEEPALIVE);
        release_rbuf(c);
        return;
    }
    c->state = CONN_HEAD;
    set_phase(c, PHASE_HEADER);
}

/* Parse a head from rbuf. 1: a request started; 0: need more; -1: close now. */
static int try_head(conn *c)
{
    size_t avail = c->rlen - c->rpos;
    if (avail == 0)
        return 0;
    if (c->state == CONN_IDLE) {
        c->state = CONN_HEAD;
        set_phase(c, PHASE_HEADER);
    }
    size_t head_len = 0;
    http_head h;
    size_t max = c->srv->cfg->c->header_size;
    int rc = http_parse_head(c->rbuf + c->rpos, avail, max, c->scan_from, &h, &head_len);
    if (rc == HTTP_PARSE_AGAIN && c->rpos == 0 && c->rlen == c->srv->rbuf_size)
        rc = 431; /* a reload raised header_size past this buffer: refuse rather than wait */
    if (rc == HTTP_PARSE_AGAIN) {
        c->scan_from = head_len;
        return 0;
    }
    request *r = req_new(c);
    if (!r)
        return -1;
    c->state = CONN_ACTIVE;
    c->scan_from = 0;
    if (rc == HTTP_PARSE_OK) {
        r->head = h;
        r->request_line = arena_strndup(r->pool, h.method.p, (size_t)(h.target.p + h.target.n - h.method.p) + 9);
        c->rpos += head_len;
    } else {
        const char *s = c->rbuf + c->rpos, *e = memchr(s, '\r', avail < 2048 ? avail : 2048);
        r->request_line = arena_strndup(r->pool, s, e ? (size_t)(e - s) : (avail < 200 ? avail : 200));
        c->rpos = c->rlen; /* nothing after a refused head can be trusted */
    }
    set_phase(c, PHASE_NONE);
    req_start(r, rc);
    return 1;
}

/* Whether the connection wants bytes from the client now. */
static int wants_read(conn *c)
{
    request *r = c->req;
    int room = !c->rbuf || c->rlen < c->srv->rbuf_size || c->rpos > 0;
    switch (c->state) {
    case CONN_IDLE:
    case CONN_HEAD:
    case CONN_DISCARD:
    case CONN_LINGER:
        return 1;
    case CONN_ACTIVE:
        if (r && r->body == BODY_READING && !r->pend_len)
            return 1;
        /* Otherwise read only to notice a client that goes away, while there is room. */
        return r && (r->body == BODY_NONE || r->body == BODY_DONE) && room && !c->peer_closed;
    }
    return 0;
}

/* The loop events to wait for: what a blocked read and a blocked flush each
 * wait for (LOOP_READ and LOOP_WRITE on a plain socket; a TLS transport may
 * swap them, transport.h). A handshake in progress waits for what it asked. */
static unsigned wanted_events(conn *c)
{
    if (!c->tr.ready)
        return c->tr.want;
    unsigned ev = outq_empty(&c->out) || c->state == CONN_LINGER ? 0 : c->write_want;
    return wants_read(c) ? ev | c->read_want : ev;
}

/* Deadline per state: header (whole head), body (between reads), send
 * (between writes), keep-alive (idle). A handler at work has none of its own. */
static void update_deadline(conn *c)
{
    request *r = c->req;
    if (c->state == CONN_LINGER)
        set_phase(c, PHASE_LINGER);
    else if (c->state != CONN_IDLE && c->state != CONN_HEAD && !outq_empty(&c->out))
        set_phase(c, PHASE_SEND);
    else if (c->state == CONN_DISCARD || (c->state == CONN_ACTIVE && r && r->body == BODY_READING && !r->pend_len))
        set_phase(c, PHASE_BODY);
    else if (c->state == CONN_ACTIVE)
        set_phase(c, PHASE_NONE);
}

static int body_unread(const request *r)
{
    return r->body == BODY_UNREAD || r->body == BODY_READING || r->body == BODY_PAUSED;
}

/* RFC 9112 §9.6: closing a socket that still has unread bytes from the client
 * makes the kernel answer with a reset, which can destroy the response just
 * sent (a 413 or 400 the client never sees). So shut the write side, and drop
 * what still comes until the client closes, for LINGER_MS at most. */
static void start_linger(conn *c)
{
    transport_shutdown(&c->tr);
    c->state = CONN_LINGER;
    c->rpos = c->rlen;
    release_rbuf(c);
}

/* -1: the client closed (or failed): close now. 0: wait for more. */
static int linger_drain(conn *c)
{
    char sink[16384];
    for (int i = 0; i < 64; i++) {
        ssize_t n = transport_read(&c->tr, sink, sizeof sink);
        if (n > 0)
            continue;
        if (n == TR_AGAIN) {
            c->read_want = c->tr.want;
            return 0;
        }
        return -1;
    }
    return 0;
}

void conn_progress(conn *c)
{
    /* Never from inside a module's call: the trampoline that made it calls again after. */
    if (c->in_progress || (c->req && c->req->in_module))
        return;
    c->in_progress = 1;
    /* The outer loop: a transport holding bytes it already took off the
     * socket (TLS records) gets no readable event for them, so they are
     * taken here when the connection wants them. */
    do for (;;) {
        request *r = c->req;
        if (c->state == CONN_IDLE || c->state == CONN_HEAD) {
            if (!c->lst->bind)
                goto close_now; /* a reload removed the address this connection came in on */
            if (!c->tr.ready) {
                int hs = transport_handshake(&c->tr);
                if (hs == TR_ERROR)
                    goto close_now;
                if (hs == TR_AGAIN)
                    break;
            }
            int rc = try_head(c);
            if (rc < 0)
                goto close_now;
            if (rc == 0) {
                if (c->peer_closed)
                    goto close_now;
                break;
            }
            continue;
        }
        if (c->state == CONN_LINGER) {
            if (linger_drain(c) < 0)
                goto close_now;
            break;
        }
        if (c->state == CONN_DISCARD) {
            int rc = discard_body(c, r);
            if (rc < 0)
                goto close_now;
            if (rc == 0) {
                if (c->peer_closed)
                    goto close_now;
                break;
            }
            req_free(c, WS_END_DONE);
            start_next_request(c);
            continue;
        }
        /* CONN_ACTIVE */
        if (r->redirect_to && !r->in_module) {
            const char *to = r->redirect_to;
            r->redirect_to = NULL;
            req_restart(r, to);
            continue;
        }
        if (r->hook_resume && !r->in_module) {
            phase_resume(r); /* a phase module answered its WS_DEFER (core/phases) */
            continue;
        }
        if (r->body == BODY_READING) {
            pump_body(c, r);
            if (r->redirect_to)
                continue; /* asked for in on_body or on_body_end */
        }
        if (r->aborted)
            goto close_now;
        if (conn_flush(c) < 0)
            goto close_now;
        if (r->want_writable && c->out.mem_bytes < LOW_WATER && !r->finished && r->owner && r->owner->d.on_writable) {
            r->want_writable = 0;
            req_begin_module(r);
            r->owner->d.on_writable(&r->pub);
            req_end_module(r);
            continue;
        }
        if (!r->finished || !outq_empty(&c->out)) {
            if (c->peer_closed && !r->finished)
                goto close_now; /* the client went away while the handler worked */
            break;
        }
        /* The response is out (or cut: then the module hears it was aborted). */
        if (r->close_after || r->broken) {
            int linger = !c->peer_closed && !r->broken && (r->status >= 400 || body_unread(r) || c->rpos < c->rlen);
            req_free(c, r->broken ? WS_END_ABORTED : WS_END_DONE);
            if (!linger)
                goto close_now;
            start_linger(c);
            continue;
        }
        if (body_unread(r)) {
            req_release_module(r, WS_END_DONE);
            r->body = BODY_READING;
            c->state = CONN_DISCARD;
            continue;
        }
        req_free(c, WS_END_DONE);
        start_next_request(c); /* when draining, an idle connection gets DRAIN_IDLE_MS (phase_ms) */
    } while (c->tr.ready && c->state != CONN_LINGER && transport_pending(&c->tr) && wants_read(c) &&
             conn_read(c) > 0);
    update_deadline(c);
    arm_timer(c);
    set_events(c, wanted_events(c));
    c->in_progress = 0;
    return;
close_now:
    c->in_progress = 0;
    conn_close(c);
}

static void conn_io(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    conn *c = arg;
    if ((ev & (c->read_want | LOOP_ERROR)) && c->state != CONN_LINGER && c->tr.ready) {
        if (conn_read(c) > 0)
            touch_phase(c, PHASE_BODY);
    }
    conn_progress(c);
}

static void conn_timeout(conn *c)
{
    request *r = c->req;
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
    case CONN_HEAD: {
        request *nr = req_new(c);
        if (!nr) {
            conn_close(c);
            return;
        }
        c->state = CONN_ACTIVE;
        c->rpos = c->rlen;
        nr->request_line = "-";
        req_start(nr, 408);
        nr->close_after = 1;
        conn_progress(c);
        return;
    }
    case CONN_ACTIVE:
        if (r && (r->body == BODY_READING) && !r->head_sent && outq_empty(&c->out)) {
            r->close_after = 1;
            req_release_module(r, WS_END_ABORTED);
            r->owner = NULL;
            r->finished = 0;
            r->body = BODY_DONE;
            resp_error(r, 408);
            r->close_after = 1;
            conn_progress(c);
            return;
        }
        conn_close(c);
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
    uint64_t now = loop_now_ms(l);
    if (!c->deadline)
        return;
    if (now < c->deadline) {
        arm_timer(c);
        return;
    }
    c->deadline = 0;
    c->phase = PHASE_NONE;
    conn_timeout(c);
}

/* ---- module-facing request operations (host.c) ---- */

void req_begin_module(request *r)
{
    r->in_module++;
}

void req_end_module(request *r)
{
    r->in_module--;
}

int req_read_body(request *r)
{
    if (r->body == BODY_NONE) {
        /* An empty body (RFC 9112 §6.3 item 7) still ends: on_body_end comes from pump_body. */
        r->body = BODY_READING;
        return WS_OK;
    }
    if (r->body != BODY_UNREAD)
        return WS_ERROR;
    r->body = BODY_READING;
    if (r->head.expect_continue && !r->head_sent && !r->sent_continue && r->pub.http_minor >= 1) {
        r->sent_continue = 1;
        outq_append(&r->c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    return WS_OK;
}

void req_body_resume(request *r)
{
    if (r->body == BODY_PAUSED)
        r->body = BODY_READING;
}

/* Watch and timer trampolines: run the module's callback, then move on. */
static void watch_tramp(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    req_watch *w = arg;
    request *r = w->r;
    unsigned wev = (ev & LOOP_READ ? WS_EV_READ : 0) | (ev & LOOP_WRITE ? WS_EV_WRITE : 0) |
                   (ev & LOOP_ERROR ? WS_EV_ERROR : 0);
    req_begin_module(r);
    w->cb(&r->pub, fd, wev, w->arg);
    req_end_module(r);
    conn_progress(r->c);
}

ws_watch *req_watch_fd(request *r, int fd, unsigned events, ws_fd_cb cb, void *arg)
{
    req_watch *w = arena_alloc(r->pool, sizeof *w);
    if (!w)
        return NULL;
    *w = (req_watch){.r = r, .fd = fd, .events = events, .cb = cb, .arg = arg, .next = r->watches};
    unsigned lev = (events & WS_EV_READ ? LOOP_READ : 0) | (events & WS_EV_WRITE ? LOOP_WRITE : 0);
    if (loop_add(r->c->srv->loop, fd, lev, watch_tramp, w) < 0)
        return NULL;
    r->watches = w;
    return (ws_watch *)w;
}

int req_watch_set(req_watch *w, unsigned events)
{
    if (w->fd < 0)
        return WS_ERROR;
    w->events = events;
    unsigned lev = (events & WS_EV_READ ? LOOP_READ : 0) | (events & WS_EV_WRITE ? LOOP_WRITE : 0);
    return loop_mod(w->r->c->srv->loop, w->fd, lev) == 0 ? WS_OK : WS_ERROR;
}

void req_watch_remove(req_watch *w)
{
    if (w->fd < 0)
        return;
    loop_del(w->r->c->srv->loop, w->fd);
    w->fd = -1;
}

static void timer_tramp(loop *l, void *arg)
{
    (void)l;
    req_timer *t = arg;
    request *r = t->r;
    t->t = NULL;
    req_begin_module(r);
    t->cb(&r->pub, t->arg);
    req_end_module(r);
    conn_progress(r->c);
}

ws_timer *req_timer_start(request *r, uint64_t ms, ws_timer_cb cb, void *arg)
{
    req_timer *t = arena_alloc(r->pool, sizeof *t);
    if (!t)
        return NULL;
    *t = (req_timer){.r = r, .cb = cb, .arg = arg, .next = r->timers};
    t->t = loop_timer_add(r->c->srv->loop, ms, timer_tramp, t);
    if (!t->t)
        return NULL;
    r->timers = t;
    return (ws_timer *)t;
}

void req_timer_stop(req_timer *t)
{
    if (t && t->t) {
        loop_timer_cancel(t->r->c->srv->loop, t->t);
        t->t = NULL;
    }
}

void req_child_exited(request *r, pid_t pid, int status, ws_child_cb cb, void *arg)
{
    req_begin_module(r);
    cb(&r->pub, pid, status, arg);
    req_end_module(r);
    conn_progress(r->c);
}

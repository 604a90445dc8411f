/*
 * An HTTP/2 connection: one nghttp2 server session over the connection's
 * transport (plain or TLS). nghttp2 does the framing, HPACK, flow control
 * and the protocol checks of RFC 9113; this file feeds it bytes, writes what
 * it produces, starts a request per stream, enforces our limits (streams,
 * header size, HPACK table, timeouts) and the flood defences, and says
 * GOAWAY when the worker drains.
 *
 * Floods (RFC 9113 §10.5): frames that cost the server work but carry no
 * request (PING, SETTINGS, PRIORITY, empty DATA, RST_STREAM, a stream reset
 * by the client before its answer: CVE-2023-44487, invalid frames) draw on a
 * token bucket per connection; an empty bucket is GOAWAY ENHANCE_YOUR_CALM
 * and the connection closes. nghttp2 itself bounds CONTINUATION frames per
 * header block (CVE-2024-27316), SETTINGS entries, and the PING/SETTINGS
 * acknowledgements a client that does not read can pile up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h2_internal.h"
#include "h2_mem.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#define JUNK_BURST 400.0  /* junk frames a connection may send at once */
#define JUNK_RATE 200.0   /* … and per second after that */
#define READ_ROUNDS 8     /* reads per readable event before others get a turn */
#define LINGER_MS 2000    /* a closing connection drops input this long at most (RFC 9113 §6.8, RFC 9112 §9.6) */

static void h2_timer_fn(loop *l, void *arg);

uint64_t h2_now(const h2_session *h)
{
    return loop_now_ms(h->c->srv->loop);
}

static const config_timeouts *timeouts(const h2_session *h)
{
    return &h->c->srv->cfg->c->timeouts;
}

/* Spend cost tokens; an empty bucket ends the connection with ENHANCE_YOUR_CALM. */
static void junk(h2_session *h, double cost)
{
    uint64_t now = h2_now(h);
    h->junk_tokens += (double)(now - h->junk_at) * JUNK_RATE / 1000.0;
    if (h->junk_tokens > JUNK_BURST)
        h->junk_tokens = JUNK_BURST;
    h->junk_at = now;
    h->junk_tokens -= cost;
    if (h->junk_tokens < 0 && !h->dead) {
        h->dead = 1;
        log_msg(WS_LOG_WARN, "WS0307", "HTTP/2 client %s: too many frames that carry no request: GOAWAY ENHANCE_YOUR_CALM",
                h->c->lst->bind ? h->c->lst->bind->addr.text : "-");
        nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

void h2_stream_reset(h2_stream *s, uint32_t code)
{
    if (s->closed || s->reset_sent)
        return;
    s->reset_sent = 1;
    nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, code);
}

static h2_stream *stream_of(h2_session *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->ng, id);
}

/* ---- nghttp2 callbacks (no module runs inside them: requests start and
 * bodies are delivered after nghttp2 returns) ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    h2_session *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || h->replaying)
        return 0;
    if (f->headers.cat == NGHTTP2_HCAT_HEADERS) {
        h2_stream *s = stream_of(h, f->hd.stream_id);
        if (s)
            s->in_trailers = 1; /* trailers: accepted, not passed on */
        return 0;
    }
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2_stream *s = h2_stream_new(h, f->hd.stream_id);
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    nghttp2_session_set_stream_user_data(h->ng, f->hd.stream_id, s);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    h2_session *h = ud;
    h2_stream *s = stream_of(h, f->hd.stream_id);
    (void)ng;
    if (!s || s->in_trailers || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    /* RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE counts 32 bytes a field. */
    s->head_bytes += nlen + vlen + 32;
    if (s->head_bytes > h->c->srv->cfg->c->header_size) {
        s->head_too_large = 1; /* answered 431 (§10.5.1); the rest is decoded and dropped */
        return 0;
    }
    return h2_stream_add_field(s, name, nlen, value, vlen) < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    (void)ng;
    h2_session *h = ud;
    if (h->replaying)
        return 0;
    h2_stream *s = f->hd.stream_id ? stream_of(h, f->hd.stream_id) : NULL;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
    case NGHTTP2_GOAWAY:
        h->peer_goaway = 1; /* the session keeps that state: it never sleeps (h2_idle.c) */
        break;
    case NGHTTP2_HEADERS:
        if (s && end)
            s->end_in = 1;
        if (s && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            s->head_done = 1;
            s->end_at_head = end;
        }
        break;
    case NGHTTP2_DATA:
        if (s && end)
            s->end_in = 1;
        if (f->hd.length == 0 && !end)
            junk(h, 1);
        break;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
            junk(h, 1);
        break;
    case NGHTTP2_RST_STREAM:
        /* A stream the client gave up on: if we had to set it up, the reset
         * costs more (the rapid-reset pattern opens and cancels at once). */
        junk(h, s && !s->sent_end ? 2 : 1);
        break;
    default:
        break;
    }
    return 0;
}

/* PRIORITY frames are ignored by nghttp2 under
 * SETTINGS_NO_RFC7540_PRIORITIES (RFC 9113 §5.3.2), so never reach
 * on_frame_recv: they are counted as they begin. */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    (void)ng;
    if (hd->type == NGHTTP2_PRIORITY && !((h2_session *)ud)->replaying)
        junk(ud, 1);
    return 0;
}

static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *f, int err, void *ud)
{
    (void)ng, (void)f, (void)err;
    if (!((h2_session *)ud)->replaying)
        junk(ud, 4);
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    h2_session *h = ud;
    /* The connection window reopens at once; each stream's only for what
     * its module consumed (h2_stream_pump): the buffered bytes of a stream
     * are bounded by the stream window. */
    nghttp2_session_consume_connection(ng, len);
    h2_stream *s = stream_of(h, id);
    if (!s || s->closed || s->reset_sent)
        return 0;
    if (h2_stream_body_in(s, data, len) < 0)
        h2_stream_reset(s, NGHTTP2_INTERNAL_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    (void)ng;
    h2_stream *s = stream_of(ud, id);
    if (s) {
        s->closed = 1;
        s->close_code = code;
        ((h2_session *)ud)->reap = 1;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type == NGHTTP2_HEADERS) /* the client's table size our encoder last wrote for (h2_idle.c) */
        ((h2_session *)ud)->hts_sent = nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_HEADER_TABLE_SIZE);
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    h2_stream *s = stream_of(ud, f->hd.stream_id);
    if (!s)
        return 0;
    s->sent_end = 1;
    /* RFC 9113 §8.1: the response is complete before the request: tell the
     * client to stop sending it (RST_STREAM NO_ERROR). */
    if (!s->end_in)
        h2_stream_reset(s, NGHTTP2_NO_ERROR);
    return 0;
}

/* ---- writing ---- */

/* Frames are gathered in one buffer per worker and written at once; only
 * what the transport did not take is kept by the connection. */
static uint8_t gather[H2_WBUF + 16384 + 64];

static int write_out(h2_session *h, const uint8_t *p, size_t n)
{
    while (n) {
        struct iovec iov = {(void *)p, n};
        ssize_t k = transport_writev(&h->c->tr, &iov, 1, 0);
        if (k > 0) {
            h->last_write = h2_now(h);
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k == TR_AGAIN) {
            h->c->write_want = h->c->tr.want;
            uint8_t *keep = malloc(n);
            if (!keep)
                return -1;
            memcpy(keep, p, n);
            h->wbuf = keep;
            h->wlen = n;
            h->woff = 0;
            h->want_write = 1;
            return 0;
        }
        return -1;
    }
    return 0;
}

/* What the transport did not take waits in wbuf: a frame behind it waits too. */
static int keep_behind(h2_session *h, const uint8_t *p, size_t n)
{
    uint8_t *b = realloc(h->wbuf, h->wlen + n);
    if (!b)
        return -1;
    memcpy(b + h->wlen, p, n);
    h->wbuf = b;
    h->wlen += n;
    return 0;
}

/* 0: all written or the rest waits; -1: the connection failed. */
static int flush(h2_session *h)
{
    if (h->wbuf) {
        while (h->woff < h->wlen) {
            struct iovec iov = {h->wbuf + h->woff, h->wlen - h->woff};
            ssize_t k = transport_writev(&h->c->tr, &iov, 1, 0);
            if (k > 0) {
                h->last_write = h2_now(h);
                h->woff += (size_t)k;
                continue;
            }
            if (k == TR_AGAIN) {
                h->c->write_want = h->c->tr.want;
                h->want_write = 1;
                return 0;
            }
            return -1;
        }
        free(h->wbuf);
        h->wbuf = NULL;
        h->wlen = h->woff = 0;
    }
    h->want_write = 0;
    /* Over TLS, DATA frames are record-sized (data_length): a large one is
     * written where nghttp2 built it (the pointer holds until the next
     * mem_send), after the small frames gathered before it. */
    int direct = tls_transport_is(&h->c->tr);
    for (;;) {
        if (h->fatal)
            return 0; /* the session is unusable: only the GOAWAY above goes out */
        size_t n = 0;
        while (n < H2_WBUF) {
            const uint8_t *data;
            ssize_t k = nghttp2_session_mem_send(h->ng, &data);
            if (k < 0)
                return -1;
            if (k == 0)
                break;
            if ((direct && (size_t)k >= H2_DIRECT) || n + (size_t)k > sizeof gather) {
                if (n && write_out(h, gather, n) < 0)
                    return -1;
                n = 0;
                if (h->wbuf)
                    return keep_behind(h, data, (size_t)k);
                if (direct || (size_t)k > sizeof gather) { /* straight out */
                    if (write_out(h, data, (size_t)k) < 0)
                        return -1;
                    if (h->wbuf)
                        return 0;
                    continue;
                }
            }
            memcpy(gather + n, data, (size_t)k);
            n += (size_t)k;
        }
        if (n == 0)
            return 0;
        if (write_out(h, gather, n) < 0)
            return -1;
        if (h->wbuf)
            return 0;
    }
}

/* ---- reading ---- */

/* nghttp2 gave up on the session (a fatal error: bad preface, too many
 * CONTINUATION frames, a flood of frames that need answers): it queues no
 * GOAWAY then, so one is written here (RFC 9113 §5.4.1) before the close. */
static void fatal_goaway(h2_session *h, int err)
{
    int calm = err == NGHTTP2_ERR_FLOODED || err == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
    log_msg(calm ? WS_LOG_WARN : WS_LOG_INFO, "WS0307", "HTTP/2 client %s: %s: GOAWAY %s", h->c->lst->bind ? h->c->lst->bind->addr.text : "-",
            nghttp2_strerror(err), calm ? "ENHANCE_YOUR_CALM" : "PROTOCOL_ERROR");
    uint32_t last = (uint32_t)nghttp2_session_get_last_proc_stream_id(h->ng);
    uint32_t code = calm ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
    uint8_t f[17] = {0, 0, 8, NGHTTP2_GOAWAY, 0, 0, 0, 0, 0,
                     (uint8_t)(last >> 24), (uint8_t)(last >> 16), (uint8_t)(last >> 8), (uint8_t)last,
                     (uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8), (uint8_t)code};
    if (h->wbuf) {
        uint8_t *b = realloc(h->wbuf, h->wlen + sizeof f);
        if (b) {
            memcpy(b + h->wlen, f, sizeof f);
            h->wbuf = b;
            h->wlen += sizeof f;
        }
    } else {
        write_out(h, f, sizeof f);
    }
    h->dead = 1;
    h->fatal = 1;
}

/* 1: bytes went in; 0: nothing now; -1: the client closed or broke the protocol. */
static int read_some(h2_session *h)
{
    static uint8_t buf[16384];
    ssize_t n = transport_read(&h->c->tr, buf, sizeof buf);
    if (n == TR_AGAIN) {
        h->c->read_want = h->c->tr.want;
        return 0;
    }
    if (n <= 0) {
        h->c->peer_closed = 1;
        return -1;
    }
    h->c->read_want = LOOP_READ;
    h->last_in = h2_now(h);
    if (h->asleep && h2_nap_input(h, buf, (size_t)n))
        return 1;
    if (h->asleep && h2_wake(h) < 0)
        return -1;
    h2_track_input(h, buf, (size_t)n);
    ssize_t rv = nghttp2_session_mem_recv(h->ng, buf, (size_t)n);
    if (rv < 0) {
        fatal_goaway(h, (int)rv);
        return -1;
    }
    return 1;
}

/* ---- the connection's progress ---- */

/* What each stream's request waits for sets its deadline (as conn.c does for HTTP/1). */
static void set_req_phase(h2_session *h, h2_stream *s)
{
    request *r = s->r;
    req_phase p = REQ_WORKING;
    if (s->out || (s->submitted && !s->sent_end && s->eof))
        p = REQ_SEND;
    else if (r->body == BODY_READING && s->in_off == s->in_len && !s->end_in)
        p = REQ_BODY;
    if (r->phase == p)
        return;
    r->phase = p;
    uint64_t ms = p == REQ_BODY ? timeouts(h)->body_ms : p == REQ_SEND ? timeouts(h)->send_ms : 0;
    r->deadline = ms ? h2_now(h) + ms : 0;
}

/* Start, feed and finish streams. True when something changed. */
static int run_streams(h2_session *h)
{
    int changed = 0;
    h->reap = 0;
    h2_stream *next;
    for (h2_stream *s = h->streams; s; s = next) {
        next = s->next;
        if (s->closed) {
            request *r = s->r;
            int done = r && r->finished && s->sent_end && !r->broken && s->close_code == NGHTTP2_NO_ERROR;
            if (r && !done && !s->sent_end)
                junk(h, 1); /* the client reset a stream we were answering */
            h2_stream_free(s, done ? WS_END_DONE : WS_END_ABORTED);
            changed = 1;
            continue;
        }
        if (s->head_done && !s->r && !s->reset_sent) {
            h2_stream_start(s);
            changed = 1;
        }
        request *r = s->r;
        if (!r)
            continue;
        log_context_set(&r->logctx); /* error-log lines name this stream's request */
        if (req_take_pending(r))
            changed = 1;
        if (r->body == BODY_READING)
            h2_stream_pump(s);
        if (s->out_mem < H2_OUT_LOW_WATER && req_writable(r))
            changed = 1;
    }
    return changed;
}

static uint64_t deadline_of(h2_session *h)
{
    const config_timeouts *t = timeouts(h);
    uint64_t d = 0;
#define EARLIER(x) do { uint64_t x_ = (x); if (x_ && (!d || x_ < d)) d = x_; } while (0)
    if (h->shut)
        return h->linger_until;
    if (h->wbuf && t->send_ms)
        EARLIER(h->last_write + t->send_ms); /* the socket takes nothing: the whole connection times out */
    if (!h->n_streams && !h->dead) {
        uint64_t ms = h->had_stream ? t->keepalive_ms : t->header_ms;
        if (h->c->srv->stopping && (!ms || ms > 1000))
            ms = 1000;
        EARLIER(ms ? h->idle_since + ms : 0);
        if (!h->asleep && h2_can_sleep(h))
            EARLIER(h2_sleep_at(h));
    }
    for (h2_stream *s = h->streams; s; s = s->next) {
        if (!s->r && !s->closed && t->header_ms)
            EARLIER(s->opened_ms + t->header_ms);
        if (s->r)
            EARLIER(s->r->deadline);
    }
#undef EARLIER
    return d;
}

static void arm_timer(h2_session *h)
{
    uint64_t d = deadline_of(h);
    if (!d || (h->timer && h->timer_at <= d))
        return;
    loop *l = h->c->srv->loop;
    if (h->timer)
        loop_timer_cancel(l, h->timer);
    uint64_t now = loop_now_ms(l);
    h->timer_at = d;
    h->timer = loop_timer_add(l, d > now ? d - now : 0, h2_timer_fn, h->c);
}

static void set_events(conn *c, unsigned ev)
{
    if (ev != c->events && loop_mod(c->srv->loop, c->tr.fd, ev) == 0)
        c->events = ev;
}

/* The end of the connection in order: the write side is shut (TLS
 * close_notify, then FIN) and input is dropped until the client closes or
 * LINGER_MS: closing with unread input would reset the connection and could
 * destroy the GOAWAY before the client reads it. */
static void start_linger(h2_session *h)
{
    conn *c = h->c;
    h->shut = 1;
    transport_shutdown(&c->tr);
    h->linger_until = h2_now(h) + LINGER_MS;
    if (h->timer) {
        loop_timer_cancel(c->srv->loop, h->timer);
        h->timer = NULL;
    }
    arm_timer(h);
    set_events(c, LOOP_READ);
}

void h2_progress(conn *c)
{
    h2_session *h = c->h2;
    if (h->in_progress || h->shut)
        return;
    if (h->asleep) {
        /* Nothing to do but wait for the client's next frame (h2_idle.c). */
        if (h->dead || c->peer_closed || !c->lst->bind) {
            conn_close(c);
            return;
        }
        arm_timer(h);
        set_events(c, c->read_want);
        return;
    }
    h->in_progress = 1;
    int fail = !c->lst->bind; /* a reload removed the address this connection came in on */
    for (int round = 0; !fail && round < 64; round++) {
        int changed = h->dead ? 0 : run_streams(h);
        if (flush(h) < 0) {
            fail = 1;
            break;
        }
        if (changed || h->reap)
            continue;
        /* Bytes TLS already took off the socket give no readable event. */
        if (!h->dead && !h->want_write && transport_pending(&c->tr)) {
            int rc = read_some(h);
            if (rc < 0)
                fail = 1;
            if (rc > 0)
                continue;
        }
        break;
    }
    h->in_progress = 0;
    log_context_set(NULL);
    if (fail || c->peer_closed) {
        conn_close(c);
        return;
    }
    for (h2_stream *s = h->streams; s; s = s->next)
        if (s->r)
            set_req_phase(h, s);
    int rd = !h->fatal && nghttp2_session_want_read(h->ng) && !h->dead;
    int wr = (!h->fatal && nghttp2_session_want_write(h->ng)) || h->wbuf;
    if ((!rd && !wr) || h->dead) {
        /* GOAWAY sent and every stream done, or the session ended (a
         * connection error or a flood: nghttp2 queued the GOAWAY). */
        h->dead = 1;
        if (h->wbuf) {
            arm_timer(h); /* the send timeout bounds the wait */
            set_events(c, c->write_want);
            return;
        }
        start_linger(h);
        return;
    }
    arm_timer(h);
    set_events(c, (rd ? c->read_want : 0) | (h->want_write ? c->write_want : 0));
}

/* Input dropped while lingering; the connection closes at the client's EOF. */
static void linger_read(h2_session *h)
{
    static uint8_t sink[16384];
    for (int i = 0; i < 64; i++) {
        ssize_t n = transport_read(&h->c->tr, sink, sizeof sink);
        if (n > 0)
            continue;
        if (n == TR_AGAIN) {
            h->c->read_want = h->c->tr.want;
            set_events(h->c, h->c->read_want);
            return;
        }
        conn_close(h->c);
        return;
    }
}

void h2_io(conn *c, unsigned ev)
{
    h2_session *h = c->h2;
    if (h->shut) {
        linger_read(h);
        return;
    }
    if ((ev & (c->read_want | LOOP_ERROR)) && !h->dead) {
        for (int i = 0; i < READ_ROUNDS; i++) {
            int rc = read_some(h);
            if (rc < 0) {
                /* The client closed, or broke the protocol: a GOAWAY
                 * nghttp2 queued goes out, then the connection ends. */
                h->dead = 1;
                break;
            }
            if (rc == 0 || h->dead)
                break;
        }
    }
    h2_progress(c);
}

static void h2_timer_fn(loop *l, void *arg)
{
    conn *c = arg;
    h2_session *h = c->h2;
    h->timer = NULL;
    uint64_t now = loop_now_ms(l);
    const config_timeouts *t = timeouts(h);
    if (h->shut) {
        if (now >= h->linger_until)
            conn_close(c);
        else
            arm_timer(h);
        return;
    }
    if (h->wbuf && t->send_ms && now >= h->last_write + t->send_ms) {
        conn_close(c); /* nothing could be written for timeouts.send */
        return;
    }
    if (!h->n_streams && !h->dead) {
        uint64_t ms = h->had_stream ? t->keepalive_ms : t->header_ms;
        if (c->srv->stopping && (!ms || ms > 1000))
            ms = 1000;
        if (ms && now >= h->idle_since + ms) {
            /* Idle: say goodbye (RFC 9113 §6.8), then close. */
            if (h->asleep && h2_wake(h) < 0) {
                conn_close(c);
                return;
            }
            nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
            h->dead = 1;
            h2_progress(c);
            return;
        }
    }
    for (h2_stream *s = h->streams; s; s = s->next) {
        if (!s->r && !s->closed && t->header_ms && now >= s->opened_ms + t->header_ms) {
            h2_stream_reset(s, NGHTTP2_CANCEL); /* its head never completed */
            continue;
        }
        request *r = s->r;
        if (r && r->deadline && now >= r->deadline) {
            r->deadline = 0;
            if (req_timed_out(r) == STEP_CLOSE) {
                r->broken = 1;
                h2_stream_reset(s, NGHTTP2_CANCEL);
            }
            r->phase = REQ_WORKING;
        }
    }
    if (!h->asleep && now >= h2_sleep_at(h) && h2_can_sleep(h)) {
        /* Idle long enough to sleep (h2_idle.c), once the client's window
         * for its DATA is whole again (the new session would not know what
         * it still owes). */
        int32_t owed = nghttp2_session_get_effective_recv_data_length(h->ng);
        if (owed > 0)
            nghttp2_submit_window_update(h->ng, NGHTTP2_FLAG_NONE, 0, owed);
        else
            h2_sleep(h);
    }
    h2_progress(c);
}

/* ---- start and end ---- */

int h2_detect(const conn *c)
{
    const bind_conf *b = c->lst->bind;
    if (!b)
        return 0;
    if (tls_transport_is(&c->tr))
        return (b->addr.protocols & LISTEN_PROTO_H2) && tls_transport_alpn_h2(&c->tr);
    if (!(b->addr.protocols & LISTEN_PROTO_H2C))
        return 0;
    size_t avail = c->rlen - c->rpos;
    const char *p = c->rbuf ? c->rbuf + c->rpos : "";
    size_t k = avail < H2_PREFACE_LEN ? avail : H2_PREFACE_LEN;
    if (memcmp(p, H2_PREFACE, k) != 0)
        return 0;
    return avail < H2_PREFACE_LEN ? -1 : 1;
}

/* nghttp2_data_source_read_length_callback, over TLS: a DATA frame and its
 * header fill one TLS record at most (nghttp2 still applies the windows and
 * the client's SETTINGS_MAX_FRAME_SIZE). */
static ssize_t data_length_tls(nghttp2_session *ng, uint8_t type, int32_t id, int32_t conn_window,
                               int32_t stream_window, uint32_t max_frame, void *ud)
{
    (void)ng, (void)type, (void)id, (void)conn_window, (void)stream_window, (void)ud;
    return max_frame < H2_TLS_DATA ? (ssize_t)max_frame : H2_TLS_DATA;
}

int h2_ng_new(h2_session *h, int rebuild)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    if (tls_transport_is(&h->c->tr))
        nghttp2_session_callbacks_set_data_source_read_length_callback(cb, data_length_tls);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return -1;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);        /* WINDOW_UPDATE only for consumed bytes */
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, H2_HPACK_TABLE); /* our encoder's table */
    nghttp2_option_set_max_settings(opt, 32);                /* entries in one SETTINGS frame */
    nghttp2_option_set_max_outbound_ack(opt, 1000);          /* PING/SETTINGS acks a non-reader piles up */
    nghttp2_option_set_max_continuations(opt, 8);            /* CVE-2024-27316 */
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 100); /* CVE-2023-44487, behind our own bucket */
    if (rebuild)
        nghttp2_option_set_no_recv_client_magic(opt, 1); /* h2_idle.c: the preface came long ago */
    int rc = nghttp2_session_server_new3(&h->ng, cb, h, opt, &h2_mem) /* big blocks off the heap */;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0)
        return -1;
    size_t hs = h->c->srv->cfg->c->header_size;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)(hs > UINT32_MAX ? UINT32_MAX : hs)},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, H2_HPACK_TABLE},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv) != 0 ||
        nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return -1;
    return 0;
}

int h2_start(conn *c)
{
    h2_session *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->c = c;
    c->h2 = h;
    if (h2_shadow_new(h) < 0 || h2_ng_new(h, 0) < 0)
        return -1; /* conn_close frees h */
    h->junk_tokens = JUNK_BURST;
    h->junk_at = h->idle_since = h->last_in = h2_now(h);
    h->in_preface = H2_PREFACE_LEN;
    /* The connection's HTTP/1 deadline stops; the session has its own. */
    if (c->timer) {
        loop_timer_cancel(c->srv->loop, c->timer);
        c->timer = NULL;
    }
    c->deadline = 0;
    c->state = CONN_H2;
    /* What HTTP/1 already read (the preface, maybe frames after it). */
    if (c->rbuf) {
        size_t n = c->rlen - c->rpos;
        h2_track_input(h, (const uint8_t *)c->rbuf + c->rpos, n);
        ssize_t rv = n ? nghttp2_session_mem_recv(h->ng, (const uint8_t *)c->rbuf + c->rpos, n) : 0;
        server_put_buf(c->srv, c->rbuf);
        c->rbuf = NULL;
        c->rpos = c->rlen = 0;
        if (rv < 0)
            return -1;
    }
    return 0;
}

void h2_drain(conn *c)
{
    h2_session *h = c->h2;
    if (h->going_away || h->dead)
        return;
    if (h->asleep && h2_wake(h) < 0) {
        conn_close(c);
        return;
    }
    /* RFC 9113 §6.8: streams up to the last one we took finish; the client
     * sends new ones on a new connection (to the new workers). */
    h->going_away = 1;
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                          NULL, 0);
    h2_progress(c);
}

void h2_free(conn *c)
{
    h2_session *h = c->h2;
    if (!h)
        return;
    h->in_progress = 1; /* a module's cleanup below must not move the session */
    while (h->streams)
        h2_stream_free(h->streams, WS_END_ABORTED);
    if (h->timer)
        loop_timer_cancel(c->srv->loop, h->timer);
    if (h->ng) {
        nghttp2_session_del(h->ng);
        if (!c->srv->stopping)
            h2_trim_soon(c->srv->loop); /* its blocks are free now (h2_mem.c) */
    }
    h2_idle_free(h);
    free(h->wbuf);
    free(h);
    c->h2 = NULL;
}

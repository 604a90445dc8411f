/*
 * The body filter chain (filter.h): the modules whose header_filter said 1,
 * in "modules" order, then the sink that frames the output for the carrier.
 * host->filter_next from filter i calls filter i + 1 (or the sink); a
 * filter's return value comes back up the same way.
 */
#include "filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "fs_cache.h"
#include "log.h"
#include "modules.h"
#include "phase.h"
#include "response.h"

enum { SRC_MEM, SRC_REF, SRC_FILE };

/* Something the handler gave that waits behind a file range, in order. */
typedef struct filt_src {
    struct filt_src *next;
    int kind;
    const char *p;              /* SRC_MEM (copied after the struct), SRC_REF */
    size_t n;
    void (*release)(void *);    /* SRC_REF */
    void *arg;
    int fd;                     /* SRC_FILE */
    off_t off;
    uint64_t left;
    struct fs_file *shared;     /* NULL: the source owns fd */
} filt_src;

/* A piece passed to a filter whose offloaded work runs (filter_next from the
 * filter before it): given to it, in order, once the work's done ran. */
typedef struct filt_hold {
    struct filt_hold *next;
    size_t n;
    int last;
    char data[];
} filt_hold;

typedef struct filt_state {
    const location_handler *chain[FILTER_MAX];
    size_t n;
    int pos;                    /* the filter being called (-1: none): filter_next goes to pos + 1 */
    filt_src *src, *src_tail;
    char *buf;                  /* FILTER_PIECE bytes for file reads (malloc, at the first file) */
    int64_t skip;               /* output bytes to drop first (the start of a Range) */
    int64_t left;               /* then bytes the head promised still to pass, -1: unknown length */
    int head_out;               /* the carrier sent the head */
    int got_last;               /* last = 1 reached the sink */
    int fin_wait;               /* the handler finished: last = 1 waits for the sources */
    int done;                   /* the carrier finished the body */
    int failed;
    int pumping;
    int overflow_logged;
    const loaded_module *culprit; /* the first filter that failed */
    int culprit_rc;
    ws_timer *timer;            /* a pump waiting for the next loop round */
    /* An asynchronous filter (host->offload from body_filter): one work at a
     * time per response; until its done ran, the core feeds nothing (the
     * handler's writes wait as sources, WS_AGAIN) and what reaches that
     * filter from the ones before it is held, in order. */
    int busy;                   /* a filter's work is on the pool */
    int busy_pos;               /* which filter */
    filt_hold *hold, *hold_tail;
    int end_wait;               /* last = 1 went in while busy: the carrier's end waits for the chain */
} filt_state;

static request *R(ws_request *p)
{
    return (request *)(void *)p;
}

int filter_want(request *r, const location_handler *h)
{
    if (!h->mod->d.body_filter)
        return 0; /* a header filter without a body filter: nothing to call */
    filt_state *f = r->filt;
    if (!f) {
        f = arena_alloc(r->pool, sizeof *f);
        if (!f)
            return -1;
        f->pos = -1;
        r->filt = f;
    }
    if (f->n == FILTER_MAX) {
        log_msg(WS_LOG_WARN, "WS0923", "more than %d body filters for %s: module \"%s\" skipped", FILTER_MAX,
                r->pub.path ? r->pub.path : "-", h->mod->name);
        return 0;
    }
    f->chain[f->n++] = h;
    return 0;
}

static void src_free(filt_src *s)
{
    if (s->kind == SRC_REF) {
        if (s->release)
            s->release(s->arg);
    } else if (s->kind == SRC_FILE) {
        if (s->shared)
            fs_file_release(s->shared);
        else
            close(s->fd);
    }
    free(s);
}

static void drop_sources_keep_buf(filt_state *f)
{
    while (f->src) {
        filt_src *s = f->src;
        f->src = s->next;
        src_free(s);
    }
    f->src_tail = NULL;
}

static void drop_sources(filt_state *f)
{
    drop_sources_keep_buf(f);
    free(f->buf);
    f->buf = NULL;
    while (f->hold) {
        filt_hold *h = f->hold;
        f->hold = h->next;
        free(h);
    }
    f->hold_tail = NULL;
}

int filter_active(request *r)
{
    filt_state *f = r->filt;
    if (!f)
        return 0;
    if (r->no_body || f->n == 0) {
        r->filt = NULL; /* HEAD, 304, 204 …: the body filters get nothing */
        return 0;
    }
    f->left = r->length;
    return 1;
}

void filter_window(request *r, int64_t skip, int64_t left)
{
    r->filt->skip = skip;
    r->filt->left = left;
}

int filter_pending(const request *r)
{
    const filt_state *f = r->filt;
    return f && (f->src || f->fin_wait || f->busy || f->end_wait);
}

static int send_head_once(request *r, filt_state *f)
{
    if (f->head_out)
        return 0;
    f->head_out = 1;
    return r->carrier->send_head(r);
}

/* The end of the chain: the carrier, within the length the head promised.
 * With release set (filter_next_ref) the bytes are queued as they are and
 * release(arg) comes once they are sent or dropped; it is called exactly
 * once whatever happens here. */
static int sink(request *r, filt_state *f, const void *data, size_t len, int last, carrier_release_fn release,
                void *arg)
{
    int rc = WS_ERROR;
    if (f->got_last) {
        rc = len ? WS_ERROR : WS_OK; /* nothing after the end */
        goto out;
    }
    if ((len || last) && send_head_once(r, f) < 0) {
        f->failed = 1;
        goto out;
    }
    if (len && f->skip > 0) {
        size_t sk = (uint64_t)f->skip < len ? (size_t)f->skip : len;
        f->skip -= (int64_t)sk;
        data = (const char *)data + sk;
        len -= sk;
    }
    if (len) {
        size_t pass = len;
        if (f->left >= 0 && (uint64_t)f->left < len) {
            if (!f->overflow_logged && r->status != 206) {
                f->overflow_logged = 1;
                log_msg(WS_LOG_WARN, "WS0302", "body filter \"%s\" gave more than the Content-Length of %lld for %s; "
                        "extra bytes dropped", f->chain[f->n - 1]->mod->name, (long long)r->length,
                        r->pub.path ? r->pub.path : "-");
            }
            pass = (size_t)f->left;
        }
        if (f->left >= 0)
            f->left -= (int64_t)pass;
        if (pass) {
            int e = release ? r->carrier->send_ref(r, data, pass, release, arg) : r->carrier->send_mem(r, data, pass);
            release = NULL; /* the carrier has it now (released by it even when it failed) */
            if (e < 0) {
                f->failed = 1;
                return WS_ERROR;
            }
        }
        r->body_bytes_sent += pass;
    }
    if (last)
        f->got_last = 1;
    rc = r->carrier->queued(r) >= RESP_HIGH_WATER ? WS_AGAIN : WS_OK;
out:
    if (release)
        release(arg);
    return rc;
}

/* A piece for the filter whose work runs: kept (copied) for after its done. */
static int hold(filt_state *f, const void *data, size_t len, int last)
{
    filt_hold *h = malloc(sizeof *h + len);
    if (!h) {
        f->failed = 1;
        return WS_ERROR;
    }
    h->next = NULL;
    h->n = len;
    h->last = last;
    if (len)
        memcpy(h->data, data, len);
    if (f->hold_tail)
        f->hold_tail->next = h;
    else
        f->hold = h;
    f->hold_tail = h;
    return WS_AGAIN;
}

/* Filter i (or the sink) with one piece, the way every module call is made. */
static int call_filter(request *r, filt_state *f, size_t i, const void *data, size_t len, int last)
{
    if (i >= f->n)
        return sink(r, f, data, len, last, NULL, NULL);
    if (f->busy && (size_t)f->busy_pos == i)
        return hold(f, data, len, last);
    const location_handler *h = f->chain[i];
    ws_request *p = &r->pub;
    const void *saved_conf = p->conf;
    loaded_module *saved_calling = r->calling;
    int saved_pos = f->pos, saved_hook = r->hook_in;
    p->conf = h->conf;
    r->calling = h->mod;
    r->hook_in = HOOK_BODY_FILTER;
    f->pos = (int)i;
    req_begin_module(r);
    int rc = h->mod->d.body_filter(p, data ? data : "", len, last ? 1 : 0);
    req_end_module(r);
    f->pos = saved_pos;
    r->hook_in = saved_hook;
    r->calling = saved_calling;
    p->conf = saved_conf;
    int went_async = f->busy && (size_t)f->busy_pos == i; /* it offloaded in this call */
    if (rc == WS_DEFER && went_async)
        rc = WS_AGAIN;
    if (rc != WS_OK && rc != WS_AGAIN) {
        if (!f->culprit && !f->failed) {
            f->culprit = h->mod;
            f->culprit_rc = rc;
        }
        f->failed = 1;
        return WS_ERROR;
    }
    return f->failed || r->filt != f ? WS_ERROR : f->busy ? WS_AGAIN : rc;
}

int phase_host_filter_next(ws_request *p, const void *data, size_t len, int last)
{
    request *r = R(p);
    filt_state *f = r->filt;
    if (!f || f->pos < 0 || f->failed || (len && !data))
        return WS_ERROR; /* only from inside body_filter, on a live chain */
    return call_filter(r, f, (size_t)f->pos + 1, data, len, last);
}

int phase_host_filter_next_ref(ws_request *p, const void *data, size_t len, int last, void (*release)(void *),
                               void *arg)
{
    if (!release)
        return phase_host_filter_next(p, data, len, last);
    request *r = R(p);
    filt_state *f = r->filt;
    if (!f || f->pos < 0 || f->failed || (len && !data)) {
        release(arg);
        return WS_ERROR;
    }
    size_t next = (size_t)f->pos + 1;
    if (next >= f->n)
        return sink(r, f, data, len, last, release, arg);
    /* Another filter takes it (and copies what it keeps): released after it. */
    int rc = call_filter(r, f, next, data, len, last);
    release(arg);
    return rc;
}

/* The chain failed: a 500 while the head is not out, else the response is cut. */
static void chain_failed(request *r, filt_state *f)
{
    if (f->culprit)
        log_msg(WS_LOG_ERROR, "WS0920", "module \"%s\" failed in the body filter phase (returned %d) for %s %s%s",
                f->culprit->name, f->culprit_rc, r->pub.method ? r->pub.method : "-", r->pub.path ? r->pub.path : "-",
                f->head_out ? "; response cut" : "");
    else
        log_msg(WS_LOG_ERROR, "WS0920", "body filter output could not be queued for %s %s",
                r->pub.method ? r->pub.method : "-", r->pub.path ? r->pub.path : "-");
    resp_error(r, 500); /* filter_cancel decides: a 500 page, or the cut */
}

/* A piece from the core into the first filter. A failure is answered here. */
static int feed(request *r, filt_state *f, const void *data, size_t len, int last)
{
    int rc = call_filter(r, f, 0, data, len, last);
    if (rc != WS_ERROR)
        return rc;
    if (r->filt == f)
        chain_failed(r, f); /* (else a filter answered the request itself: host->error) */
    return WS_ERROR;
}

/* A Range whose bytes all went out: the rest of the body is not read. */
static int window_done(const request *r, const filt_state *f)
{
    return r->status == 206 && f->skip == 0 && f->left == 0;
}

static int pressure(request *r)
{
    if (r->carrier->queued(r) >= RESP_HIGH_WATER || (r->filt && (r->filt->src || r->filt->busy))) {
        r->want_writable = 1;
        return WS_AGAIN;
    }
    return WS_OK;
}

static filt_src *add_src(filt_state *f, size_t extra)
{
    filt_src *s = calloc(1, sizeof *s + extra);
    if (!s)
        return NULL;
    if (f->src_tail)
        f->src_tail->next = s;
    else
        f->src = s;
    f->src_tail = s;
    return s;
}

int filter_mem(request *r, const void *p, size_t n)
{
    filt_state *f = r->filt;
    if (window_done(r, f))
        return WS_OK;
    if (f->src || f->busy) {
        /* Behind a file range still being read, or a filter's work: keep the order. */
        filt_src *s = add_src(f, n);
        if (!s)
            return WS_ERROR;
        s->kind = SRC_MEM;
        s->p = (const char *)(s + 1);
        s->n = n;
        memcpy(s + 1, p, n);
        return pressure(r);
    }
    if (feed(r, f, p, n, 0) == WS_ERROR)
        return WS_ERROR;
    return pressure(r);
}

int filter_ref(request *r, const void *p, size_t n, void (*release)(void *), void *arg)
{
    filt_state *f = r->filt;
    if (window_done(r, f)) {
        release(arg);
        return WS_OK;
    }
    if (f->src || f->busy) {
        filt_src *s = add_src(f, 0);
        if (!s) {
            release(arg);
            return WS_ERROR;
        }
        *s = (filt_src){.next = NULL, .kind = SRC_REF, .p = p, .n = n, .release = release, .arg = arg};
        return pressure(r);
    }
    /* The chain's output is copied into the carrier's queue, so the module's
     * memory is free again once the chain returns. */
    int rc = feed(r, f, p, n, 0);
    release(arg);
    return rc == WS_ERROR ? WS_ERROR : pressure(r);
}

int filter_file(request *r, int fd, off_t off, uint64_t n, struct fs_file *shared)
{
    filt_state *f = r->filt;
    filt_src *s = window_done(r, f) ? NULL : add_src(f, 0);
    if (!s) {
        if (window_done(r, f)) {
            if (shared)
                fs_file_release(shared);
            else
                close(fd);
            return WS_OK;
        }
        if (shared)
            fs_file_release(shared);
        else
            close(fd);
        return WS_ERROR;
    }
    s->kind = SRC_FILE;
    s->fd = fd;
    s->off = off;
    s->left = n;
    s->shared = shared;
    filter_pump(r);
    return r->finished ? WS_ERROR : WS_OK; /* finished: the pump failed and answered */
}

/* The carrier's end of the body, once last = 1 went through the chain. */
static int end_carrier(request *r, filt_state *f)
{
    f->end_wait = 0;
    if (send_head_once(r, f) < 0 || r->carrier->finish(r) < 0) {
        r->carrier->abort(r);
        return WS_ERROR;
    }
    f->done = 1;
    if (f->left > 0) {
        /* The head promised more than the filters gave: the framing is broken. */
        log_msg(WS_LOG_ERROR, "WS0300", "response %lld bytes shorter than its Content-Length of %lld for %s "
                "(body filter \"%s\")", (long long)f->left, (long long)r->length, r->pub.path ? r->pub.path : "-",
                f->chain[f->n - 1]->mod->name);
        r->close_after = 1;
        r->broken = 1;
    }
    return WS_OK;
}

/* last = 1 through the chain, then the carrier's end of the body (after the
 * work of an asynchronous filter, when one still runs). */
static int end_body(request *r, filt_state *f)
{
    f->fin_wait = 0;
    free(f->buf); /* nothing more to read */
    f->buf = NULL;
    if (feed(r, f, NULL, 0, 1) == WS_ERROR)
        return WS_ERROR;
    if (f->busy) {
        f->end_wait = 1;
        return WS_OK;
    }
    return end_carrier(r, f);
}

int filter_finish(request *r)
{
    filt_state *f = r->filt;
    if (f->src || f->busy) {
        f->fin_wait = 1;
        return WS_OK;
    }
    return end_body(r, f);
}

static void pump_later(ws_request *p, void *arg)
{
    (void)arg;
    request *r = R(p);
    if (r->filt)
        r->filt->timer = NULL;
    filter_pump(r);
}

int filter_pump(request *r)
{
    filt_state *f = r->filt;
    if (!f || f->pumping || f->done || f->busy)
        return 0; /* (busy: the filter's done goes on) */
    f->pumping = 1;
    int pieces = 0;
    if (window_done(r, f))
        drop_sources_keep_buf(f);
    /* At most 4 pieces a round: a filter that swallows its input (nothing
     * reaches the queue) must not read a whole big file in one loop round. */
    for (; f->src && r->filt == f && !f->busy && pieces < 4 && r->carrier->queued(r) < RESP_HIGH_WATER; pieces++) {
        filt_src *s = f->src;
        const void *data;
        size_t n;
        if (s->kind == SRC_FILE) {
            if (!f->buf)
                f->buf = malloc(FILTER_PIECE);
            size_t want = s->left < FILTER_PIECE ? (size_t)s->left : FILTER_PIECE;
            ssize_t got = f->buf ? pread(s->fd, f->buf, want, s->off) : -1;
            if (got <= 0) {
                log_msg(WS_LOG_ERROR, "WS0304", "reading a file for the body filters of %s failed: %s",
                        r->pub.path ? r->pub.path : "-", got == 0 ? "the file shrank" : strerror(errno));
                f->pumping = 0;
                resp_error(r, 500);
                return 1;
            }
            s->off += got;
            s->left -= (uint64_t)got;
            data = f->buf;
            n = (size_t)got;
            if (s->left > 0)
                s = NULL; /* stays at the head of the queue */
        } else {
            data = s->p;
            n = s->n;
        }
        if (s) {
            f->src = s->next;
            if (!f->src)
                f->src_tail = NULL;
        }
        int rc = feed(r, f, data, n, 0);
        if (s)
            src_free(s);
        if (rc == WS_ERROR) {
            f->pumping = 0;
            return 1;
        }
        if (r->filt == f && window_done(r, f))
            drop_sources_keep_buf(f);
    }
    f->pumping = 0;
    if (r->filt != f)
        return 1;
    if (f->busy)
        return pieces > 0;
    if (!f->src && f->fin_wait) {
        end_body(r, f);
        return 1;
    }
    if (f->src && r->carrier->queued(r) == 0) {
        /* Nothing queued, so no write event will come: go on next round. */
        if (!f->timer)
            f->timer = req_timer_start(r, 0, pump_later, NULL);
        return 0;
    }
    return pieces > 0;
}

int filter_cancel(request *r)
{
    filt_state *f = r->filt;
    if (!f)
        return 1;
    if (f->head_out)
        return 0;
    drop_sources(f);
    if (f->timer)
        req_timer_stop((req_timer *)f->timer);
    f->timer = NULL;
    r->filt = NULL;
    return 1;
}

void filter_drop(request *r)
{
    filt_state *f = r->filt;
    if (!f)
        return;
    drop_sources(f);
    f->timer = NULL; /* the request's timers go with its events */
    r->filt = NULL;
}

/* ---- asynchronous filters: host->offload from inside body_filter ---- */

int filter_job_pos(const request *r)
{
    const filt_state *f = r->filt;
    if (r->hook_in != HOOK_BODY_FILTER || !f || f->pos < 0)
        return -1; /* not a body filter's call */
    return f->busy ? -2 : f->pos; /* one work at a time per response */
}

struct filt_state *filter_job_started(request *r, int pos)
{
    filt_state *f = r->filt;
    f->busy = 1;
    f->busy_pos = pos;
    return f;
}

void filter_job_done(request *r, struct filt_state *f, int pos, void (*done)(ws_request *r, void *arg), void *arg,
                     const void *conf)
{
    int live = r->filt == f;
    if (live)
        f->busy = 0;
    if (done) {
        /* As a body_filter call of that filter: filter_next goes to the next
         * one (WS_ERROR when the chain is gone: the module frees its work). */
        ws_request *p = &r->pub;
        const void *saved_conf = p->conf;
        loaded_module *saved_calling = r->calling;
        int saved_hook = r->hook_in, saved_pos = f->pos;
        p->conf = conf;
        r->calling = f->chain[pos]->mod;
        r->hook_in = HOOK_BODY_FILTER;
        if (live)
            f->pos = pos;
        req_begin_module(r);
        done(p, arg);
        req_end_module(r);
        f->pos = saved_pos;
        if (r->hook_in == HOOK_BODY_FILTER)
            r->hook_in = saved_hook; /* (resp_error from done set its own) */
        r->calling = saved_calling;
        p->conf = saved_conf;
    }
    if (!live || r->filt != f)
        return; /* the chain was cancelled, or done answered the request (host->error) */
    if (f->failed) {
        chain_failed(r, f);
        return;
    }
    /* What reached this filter meanwhile, in order (it may go async again). */
    while (!f->busy && f->hold) {
        filt_hold *h = f->hold;
        f->hold = h->next;
        if (!f->hold)
            f->hold_tail = NULL;
        int rc = call_filter(r, f, (size_t)pos, h->data, h->n, h->last);
        free(h);
        if (rc == WS_ERROR) {
            if (r->filt == f)
                chain_failed(r, f);
            return;
        }
    }
    if (f->busy)
        return;
    if (f->end_wait) {
        end_carrier(r, f);
        return;
    }
    /* The core's feeding goes on: sources behind the work, or the handler's
     * on_writable (the carrier's progress after this calls req_writable;
     * the kick covers HTTP/2, whose queue may take it all in one flush). */
    if (f->src || f->fin_wait)
        filter_pump(r);
    else if (r->want_writable)
        req_kick_writable(r);
}

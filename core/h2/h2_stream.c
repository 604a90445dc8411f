/*
 * An HTTP/2 stream as the carrier (carrier.h) of one request: its head
 * becomes the request's http_head (RFC 9113 §8.3: :method, :path, :authority
 * routed like Host), its DATA the body handed up with the consumed count (the
 * stream window reopens only for bytes the module took, so a slow module
 * slows its own stream and nothing else), and its response goes out as a
 * HEADERS frame and DATA frames read from memory or straight from the file
 * (never the whole file in memory) by nghttp2's data provider.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arena.h"
#include "filter.h"
#include "fmt.h"
#include "h2_internal.h"
#include "httpdate.h"
#include "log.h"
#include "modules.h"
#include "response.h"
#include "server.h"

static h2_stream *S(const request *r)
{
    return r->carrier_ctx;
}

h2_stream *h2_stream_new(h2_session *h, int32_t id)
{
    h2_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->id = id;
    s->h = h;
    s->opened_ms = h2_now(h);
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->n_streams++;
    h->had_stream = 1;
    return s;
}

static void seg_release(h2_seg *g)
{
    if (g->release)
        g->release(g->arg);
    else if (g->kind == SEG_FILE)
        close(g->fd);
    free(g);
}

void h2_stream_free(h2_stream *s, int how)
{
    h2_session *h = s->h;
    if (s->r) {
        request *r = s->r;
        s->r = NULL;
        req_end(r, how);
    }
    while (s->out) {
        h2_seg *g = s->out;
        s->out = g->next;
        seg_release(g);
    }
    if (!s->closed && h->ng)
        nghttp2_session_set_stream_user_data(h->ng, s->id, NULL);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->n_streams--;
    if (!h->n_streams)
        h->idle_since = h2_now(h);
    free(s->fb);
    free(s->fields);
    free(s->in);
    free(s);
}

/* ---- the head ---- */

int h2_stream_add_field(h2_stream *s, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen)
{
    if (s->fb_len + nlen + vlen + 2 > s->fb_cap) {
        size_t cap = s->fb_cap ? s->fb_cap : 512;
        while (cap < s->fb_len + nlen + vlen + 2)
            cap *= 2;
        char *p = realloc(s->fb, cap);
        if (!p)
            return -1;
        s->fb = p;
        s->fb_cap = cap;
    }
    if (s->n_fields == s->fields_cap) {
        size_t cap = s->fields_cap ? s->fields_cap * 2 : 16;
        h2_field *f = realloc(s->fields, cap * sizeof *f);
        if (!f)
            return -1;
        s->fields = f;
        s->fields_cap = cap;
    }
    h2_field *f = &s->fields[s->n_fields++];
    f->name = (uint32_t)s->fb_len;
    f->name_len = (uint32_t)nlen;
    memcpy(s->fb + s->fb_len, name, nlen);
    s->fb_len += nlen;
    s->fb[s->fb_len++] = '\0';
    f->value = (uint32_t)s->fb_len;
    f->value_len = (uint32_t)vlen;
    memcpy(s->fb + s->fb_len, value, vlen);
    s->fb_len += vlen;
    s->fb[s->fb_len++] = '\0';
    return 0;
}

static http_slice field_slice(const h2_stream *s, uint32_t off, uint32_t len)
{
    return (http_slice){s->fb + off, len};
}

static int field_is(const h2_stream *s, const h2_field *f, const char *name)
{
    return f->name_len == strlen(name) && memcmp(s->fb + f->name, name, f->name_len) == 0;
}

/* Build the head modules and the router see. nghttp2 already refused what
 * RFC 9113 §8.2 and §8.3 call malformed (pseudo-fields missing, repeated,
 * unknown or after regular fields, upper-case names, connection-specific
 * fields, TE other than "trailers", content-length against DATA). Returns
 * HTTP_PARSE_OK or the status to answer. */
static int build_head(h2_stream *s, request *r, http_head *hd)
{
    memset(hd, 0, sizeof *hd);
    hd->minor = WS_HTTP2_MINOR;
    hd->keep_alive = 1;
    hd->content_length = -1;
    http_slice authority = {0}, method = {0}, path = {0}, host = {0};
    const char *cookie = NULL;
    size_t cookie_len = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        const h2_field *f = &s->fields[i];
        if (s->fb[f->name] == ':') {
            http_slice v = field_slice(s, f->value, f->value_len);
            if (field_is(s, f, ":method"))
                method = v;
            else if (field_is(s, f, ":path"))
                path = v;
            else if (field_is(s, f, ":authority"))
                authority = v;
            continue;
        }
        if (field_is(s, f, "cookie")) {
            /* §8.2.3: several cookie fields are one list joined by "; " for
             * everything after HTTP/2 (modules, CGI's HTTP_COOKIE). */
            char *c = arena_alloc(r->pool, cookie_len + f->value_len + 3);
            if (!c)
                return 500;
            size_t k = 0;
            if (cookie) {
                memcpy(c, cookie, cookie_len);
                memcpy(c + cookie_len, "; ", 2);
                k = cookie_len + 2;
            }
            memcpy(c + k, s->fb + f->value, f->value_len);
            cookie_len = k + f->value_len;
            c[cookie_len] = '\0';
            cookie = c;
            continue;
        }
        if (field_is(s, f, "content-length")) {
            int64_t n = 0;
            for (uint32_t k = 0; k < f->value_len; k++)
                n = n * 10 + (s->fb[f->value + k] - '0'); /* digits only: nghttp2 checked */
            hd->content_length = n;
        } else if (field_is(s, f, "host")) {
            host = field_slice(s, f->value, f->value_len);
        } else if (field_is(s, f, "expect")) {
            hd->expect_continue = f->value_len == 12 && strncasecmp(s->fb + f->value, "100-continue", 12) == 0;
        }
        if (hd->n_headers == HTTP_MAX_HEADERS)
            return 431;
        hd->headers[hd->n_headers++] = (http_header_slice){field_slice(s, f->name, f->name_len),
                                                           field_slice(s, f->value, f->value_len)};
    }
    /* §8.3.1: :authority is the Host; a request with only a host field keeps it. */
    if (authority.n) {
        hd->host = authority;
        if (!host.p) {
            if (hd->n_headers == HTTP_MAX_HEADERS)
                return 431;
            hd->headers[hd->n_headers++] = (http_header_slice){{"host", 4}, authority};
        }
    } else {
        hd->host = host;
    }
    if (cookie) {
        if (hd->n_headers == HTTP_MAX_HEADERS)
            return 431;
        hd->headers[hd->n_headers++] = (http_header_slice){{"cookie", 6}, {cookie, cookie_len}};
    }
    if (!method.n || !path.n)
        return 400; /* CONNECT (no :path) is not served */
    hd->method = method;
    hd->target = path;
    if (path.n == 1 && path.p[0] == '*') {
        hd->target_form = HTTP_FORM_ASTERISK;
    } else {
        const char *q = memchr(path.p, '?', path.n);
        hd->path = (http_slice){path.p, q ? (size_t)(q - path.p) : path.n};
        hd->query = q ? (http_slice){q + 1, path.n - (size_t)(q + 1 - path.p)} : (http_slice){"", 0};
    }
    /* The body: none when HEADERS ended the stream; otherwise its length is
     * content-length, or unknown (DATA frames until END_STREAM: modules see
     * content_length -1, as with a chunked HTTP/1.1 body). */
    if (s->end_at_head)
        hd->content_length = hd->content_length > 0 ? hd->content_length : 0;
    else if (hd->content_length < 0)
        hd->chunked = 1;
    r->request_line = arena_printf(r->pool, "%.*s %.*s HTTP/2.0", (int)method.n, method.p, (int)path.n, path.p);
    return HTTP_PARSE_OK;
}

void h2_stream_start(h2_stream *s)
{
    conn *c = s->h->c;
    s->head_done = 0;
    request *r = req_new(&h2_carrier, s, c->lst->bind, &c->local.sa, &c->remote.sa);
    if (!r) {
        h2_stream_reset(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    conn_tell_request(c, r); /* scheme and TLS facts: CGI's HTTPS, the proxy's X-Forwarded-Proto */
    s->r = r;
    s->started = 1;
    http_head hd;
    int rc = s->head_too_large ? 431 : build_head(s, r, &hd);
    if (rc != HTTP_PARSE_OK && !r->request_line)
        r->request_line = "-";
    req_start(r, rc, rc == HTTP_PARSE_OK ? &hd : NULL);
    if (rc != HTTP_PARSE_OK)
        r->pub.http_minor = WS_HTTP2_MINOR;
    /* The field bytes were copied into the request's pool. */
    free(s->fb);
    free(s->fields);
    s->fb = NULL;
    s->fields = NULL;
    s->fb_len = s->fb_cap = s->n_fields = s->fields_cap = 0;
}

/* ---- the body ---- */

int h2_stream_body_in(h2_stream *s, const uint8_t *p, size_t n)
{
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
    if (s->in_cap - s->in_len < n && s->in_off) {
        memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
    }
    if (s->in_cap - s->in_len < n) {
        size_t cap = s->in_cap ? s->in_cap : 16384;
        while (cap - s->in_len < n)
            cap *= 2;
        char *b = realloc(s->in, cap);
        if (!b)
            return -1;
        s->in = b;
        s->in_cap = cap;
    }
    memcpy(s->in + s->in_len, p, n);
    s->in_len += n;
    s->in_seen += n;
    if (s->r && s->r->phase == REQ_BODY)
        s->r->deadline = h2_now(s->h) + s->h->c->srv->cfg->c->timeouts.body_ms;
    return 0;
}

void h2_stream_pump(h2_stream *s)
{
    request *r = s->r;
    nghttp2_session *ng = s->h->ng;
    /* A body of unknown length past client_max_body_size (a known one was
     * refused by the router before any byte was read). */
    if (r->loc && r->loc->max_body > 0 && (int64_t)s->in_seen > r->loc->max_body && req_body_unread(r) &&
        !r->head_sent) {
        resp_error(r, 413);
        return;
    }
    while (r->body == BODY_READING && !r->finished) {
        size_t avail = s->in_len - s->in_off;
        if (avail) {
            size_t k = req_body_in(r, s->in + s->in_off, avail);
            s->in_off += k;
            if (k && !s->closed)
                nghttp2_session_consume_stream(ng, s->id, k); /* the window reopens for what was taken */
            if (k < avail)
                return;
            continue;
        }
        if (s->end_in)
            req_body_end(r);
        return;
    }
}

/* ---- the response ---- */

/* RFC 9113 §8.2.2: fields that mean something only to an HTTP/1 connection. */
static int connection_specific(const char *name, size_t n)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (n == strlen(names[i]) && strncasecmp(name, names[i], n) == 0)
            return 1;
    return 0;
}

static char *lower(request *r, const char *p, size_t n)
{
    char *s = arena_alloc(r->pool, n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : p[i];
    s[n] = '\0';
    return s;
}

#define NV(n, v, vl) ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), (vl), NGHTTP2_NV_FLAG_NONE})

static int h2_send_head(request *r)
{
    h2_stream *s = S(r);
    if (s->closed || s->reset_sent)
        return 0; /* the client is gone: what follows is dropped */
    const resp_headers *hs = &r->resp_headers;
    nghttp2_nv *nv = arena_alloc(r->pool, sizeof *nv * (hs->n + 4));
    char *status = arena_alloc(r->pool, 4), *len = arena_alloc(r->pool, 24);
    if (!nv || !status || !len)
        return -1;
    size_t n = 0;
    unsigned st = (unsigned)r->status % 1000;
    status[0] = (char)('0' + st / 100), status[1] = (char)('0' + st / 10 % 10), status[2] = (char)('0' + st % 10);
    status[3] = '\0';
    nv[n++] = NV(":status", status, 3);
    /* host->set_server_date (a proxy passing its upstream's), else ours */
    const char *sw = r->server_field ? r->server_field
                     : r->cfg->c->server_tokens ? ws_core_host.server_software : "webserv";
    nv[n++] = NV("server", sw, strlen(sw));
    const char *date = r->date_field ? r->date_field : httpdate_now(loop_wall_time(g_server->loop));
    nv[n++] = NV("date", date, strlen(date));
    if (r->length >= 0 && r->status != 304 && r->status != 204 && r->status >= 200) {
        size_t k = fmt_u64(len, (uint64_t)r->length);
        nv[n++] = NV("content-length", len, k);
    }
    for (size_t i = 0; i < hs->n; i++) {
        const resp_header *f = &hs->v[i];
        if (connection_specific(f->name, f->name_len))
            continue;
        char *name = lower(r, f->name, f->name_len);
        if (!name)
            return -1;
        nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)f->value, f->name_len, f->value_len, NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = h2_stream_read};
    int body = !r->no_body && r->length != 0;
    if (nghttp2_submit_response(s->h->ng, s->id, nv, n, body ? &prd : NULL) != 0)
        return -1;
    s->submitted = 1;
    if (!body)
        s->eof = 1;
    return 0;
}

static void resume(h2_stream *s)
{
    if (s->deferred && !s->closed) {
        s->deferred = 0;
        nghttp2_session_resume_data(s->h->ng, s->id);
    }
}

static int queue_seg(h2_stream *s, h2_seg *g)
{
    if (s->closed || s->reset_sent || !s->submitted) {
        seg_release(g); /* nothing of this response goes out any more */
        return 0;
    }
    if (s->out_tail)
        s->out_tail->next = g;
    else
        s->out = g;
    s->out_tail = g;
    if (g->kind != SEG_FILE)
        s->out_mem += g->n;
    resume(s);
    return 0;
}

static int h2_send_mem(request *r, const void *p, size_t n)
{
    h2_seg *g = malloc(sizeof *g + n);
    if (!g)
        return -1;
    *g = (h2_seg){.kind = SEG_MEM, .p = (const char *)(g + 1), .n = n, .fd = -1};
    memcpy(g + 1, p, n);
    return queue_seg(S(r), g);
}

static int h2_send_ref(request *r, const void *p, size_t n, carrier_release_fn release, void *arg)
{
    h2_seg *g = malloc(sizeof *g);
    if (!g) {
        if (release)
            release(arg);
        return -1;
    }
    *g = (h2_seg){.kind = SEG_REF, .p = p, .n = n, .fd = -1, .release = release, .arg = arg};
    return queue_seg(S(r), g);
}

static int h2_send_file(request *r, int fd, off_t off, uint64_t n, carrier_release_fn release, void *arg)
{
    h2_seg *g = malloc(sizeof *g);
    if (!g) {
        if (release)
            release(arg);
        else
            close(fd);
        return -1;
    }
    *g = (h2_seg){.kind = SEG_FILE, .fd = fd, .off = off, .left = n, .release = release, .arg = arg};
    return queue_seg(S(r), g);
}

static int h2_finish(request *r)
{
    h2_stream *s = S(r);
    s->eof = 1;
    resume(s);
    return 0;
}

static size_t h2_queued(const request *r)
{
    return S(r)->out_mem;
}

static void h2_abort(request *r)
{
    r->broken = 1;
    h2_stream_reset(S(r), NGHTTP2_INTERNAL_ERROR);
}

static void h2_want_body(request *r)
{
    h2_stream *s = S(r);
    /* RFC 9110 §10.1.1 over HTTP/2: an interim 100 in its own HEADERS. */
    if (r->head.expect_continue && !r->head_sent && !s->closed && !s->end_in) {
        nghttp2_nv nv = NV(":status", "100", 3);
        nghttp2_submit_headers(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NULL, &nv, 1, NULL);
    }
}

static void h2_carrier_progress(request *r)
{
    h2_progress(S(r)->h->c);
}

const carrier_ops h2_carrier = {
    .name = "h2",
    .send_head = h2_send_head,
    .send_mem = h2_send_mem,
    .send_ref = h2_send_ref,
    .send_file = h2_send_file,
    .finish = h2_finish,
    .queued = h2_queued,
    .abort = h2_abort,
    .want_body = h2_want_body,
    .progress = h2_carrier_progress,
};

/* nghttp2 asks for the next DATA payload of at most len bytes: memory is
 * copied, a file range is read into buf with one pread (so a file is never
 * held in memory whole). Nothing queued yet: deferred until the module
 * writes (resume). */
ssize_t h2_stream_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud)
{
    (void)ng, (void)id, (void)ud;
    h2_stream *s = src->ptr;
    size_t n = 0;
    while (n < len && s->out) {
        h2_seg *g = s->out;
        if (g->kind == SEG_FILE) {
            size_t want = len - n < g->left ? len - n : (size_t)g->left;
            ssize_t k = want ? pread(g->fd, buf + n, want, g->off) : 0;
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0 && want) {
                /* The file shrank or failed: the response cannot be completed. */
                log_msg(WS_LOG_ERROR, "WS0306", "HTTP/2 stream %d: file read failed: %s", (int)s->id,
                        k < 0 ? strerror(errno) : "file shrank");
                if (s->r)
                    s->r->broken = 1;
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
            n += (size_t)k;
            g->off += k;
            g->left -= (uint64_t)k;
            if (g->left)
                continue;
        } else {
            size_t k = len - n < g->n ? len - n : g->n;
            memcpy(buf + n, g->p, k);
            n += k;
            g->p += k;
            g->n -= k;
            s->out_mem -= k;
            if (g->n)
                continue;
        }
        s->out = g->next;
        if (!s->out)
            s->out_tail = NULL;
        seg_release(g);
    }
    if (n && s->r && s->r->phase == REQ_SEND)
        s->r->deadline = h2_now(s->h) + s->h->c->srv->cfg->c->timeouts.send_ms;
    if (!s->out && s->eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        s->deferred = 1;
        /* A module waiting for on_writable, or body filters with file ranges
         * left (core/phases/filter.c): this DATA went out within one flush,
         * and no write event will follow to call them; the next round does. */
        if (s->r && (s->r->want_writable || filter_pending(s->r)))
            req_kick_writable(s->r);
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

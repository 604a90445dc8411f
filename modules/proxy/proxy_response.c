/*
 * The upstream's answer: its head parsed by the core's own parser
 * (http_parse_response_head: the same strict rules as for requests; a
 * malformed status line or field, an invalid or duplicated Content-Length,
 * Content-Length with Transfer-Encoding → 502 and the connection dropped),
 * 1xx interim answers skipped, the end-to-end fields passed back (hop-by-hop
 * ones and those the core writes itself are not), Location and Refresh
 * pointing at the upstream rewritten to the public address, then the body
 * de-framed (length, chunked, or up to the close) and handed to the core,
 * which frames it again for the client. A full client queue stops the
 * reading (out_paused) until on_writable: a slow client slows the upstream.
 */
#include "proxy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int slice_is(http_slice s, const char *lit)
{
    return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

static int named_by_connection(const http_head *h, http_slice name)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!slice_is(h->headers[i].name, "Connection"))
            continue;
        const char *v = h->headers[i].value.p, *end = v + h->headers[i].value.n;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *e = v;
            while (e < end && *e != ',' && *e != ' ' && *e != '\t')
                e++;
            if ((size_t)(e - v) == name.n && strncasecmp(v, name.p, name.n) == 0)
                return 1;
            v = e;
        }
    }
    return 0;
}

static int hop_or_core(const http_head *h, http_slice name)
{
    static const char *const drop[] = {"Connection", "Keep-Alive", "TE", "Transfer-Encoding", "Upgrade", "Trailer",
                                       "Content-Length", "Date", "Server", NULL};
    for (const char *const *d = drop; *d; d++)
        if (slice_is(name, *d))
            return 1;
    return (name.n >= 6 && strncasecmp(name.p, "Proxy-", 6) == 0) || named_by_connection(h, name);
}

static char *dup_slice(ws_request *r, const char *p, size_t n)
{
    char *d = proxy_host->alloc(r, n + 1);
    if (d)
        memcpy(d, p, n);
    return d;
}

/* "http://<upstream address or the Host we sent>/x" → public base + prefix + "/x" (nginx's proxy_redirect default). */
static char *rewrite_url(proxy_req *c, const char *v, size_t n)
{
    ws_request *r = c->r;
    static const char http[] = "http://";
    if (n < sizeof http - 1 || strncasecmp(v, http, sizeof http - 1) != 0 || !c->x.up.server)
        return NULL;
    const char *rest = v + sizeof http - 1;
    size_t rn = n - (sizeof http - 1);
    const char *names[2] = {c->x.up.server->address, proxy_host->header(r, "Host")};
    if (c->conf->host_mode == PROXY_HOST_LITERAL)
        names[1] = c->conf->host_literal;
    for (int i = 0; i < 2; i++) {
        if (!names[i] || (i == 1 && c->conf->host_mode == PROXY_HOST_CLIENT))
            continue;
        size_t ln = strlen(names[i]);
        if (rn < ln || strncasecmp(rest, names[i], ln) != 0 || (rn > ln && rest[ln] != '/'))
            continue;
        const char *path = rest + ln;
        size_t pn = rn - ln;
        const char *prefix = c->conf->strip_prefix ? c->conf->location : "";
        size_t xn = strlen(prefix);
        while (xn > 0 && prefix[xn - 1] == '/')
            xn--;
        size_t bn = strlen(c->public_base);
        char *out = proxy_host->alloc(r, bn + xn + pn + 2);
        if (!out)
            return NULL;
        memcpy(out, c->public_base, bn);
        memcpy(out + bn, prefix, xn);
        memcpy(out + bn + xn, pn ? path : "/", pn ? pn : 1);
        return out;
    }
    return NULL;
}

static const char *header_value(proxy_req *c, http_slice name, http_slice value)
{
    if (slice_is(name, "Location")) {
        char *v = rewrite_url(c, value.p, value.n);
        if (v)
            return v;
    } else if (slice_is(name, "Refresh")) {
        /* "5; url=http://upstream/x": the URL part like a Location. */
        for (size_t i = 0; i + 4 <= value.n; i++)
            if (strncasecmp(value.p + i, "url=", 4) == 0) {
                char *u = rewrite_url(c, value.p + i + 4, value.n - i - 4);
                if (!u)
                    break;
                size_t un = strlen(u);
                char *v = proxy_host->alloc(c->r, i + 4 + un + 1);
                if (!v)
                    break;
                memcpy(v, value.p, i + 4);
                memcpy(v + i + 4, u, un);
                return v;
            }
    }
    return dup_slice(c->r, value.p, value.n);
}

/* pass_server_date: the upstream's Server and Date instead of webserv's (the
 * first of each; a missing one stays webserv's, RFC 9110 §6.6.1 wants a Date). */
static void pass_server_date(proxy_req *c, const http_head *h)
{
    const char *v[2] = {NULL, NULL};
    static const char *const names[2] = {"Server", "Date"};
    for (size_t i = 0; i < h->n_headers; i++)
        for (int k = 0; k < 2; k++)
            if (!v[k] && slice_is(h->headers[i].name, names[k]))
                v[k] = dup_slice(c->r, h->headers[i].value.p, h->headers[i].value.n);
    if ((v[0] || v[1]) && proxy_host->set_server_date(c->r, v[0], v[1]) != WS_OK)
        proxy_host->log(WS_LOG_DEBUG, c->r, "upstream Server/Date not passed on (too long or invalid)");
}

void proxy_pass_fields(proxy_req *c, const http_head *h)
{
    ws_request *r = c->r;
    if (c->conf->pass_server_date)
        pass_server_date(c, h);
    for (size_t i = 0; i < h->n_headers; i++) {
        http_slice n = h->headers[i].name;
        if (hop_or_core(h, n))
            continue;
        char *name = dup_slice(r, n.p, n.n);
        const char *value = header_value(c, n, h->headers[i].value);
        if (name && value && proxy_host->add_header(r, name, value) != WS_OK)
            proxy_host->log(WS_LOG_DEBUG, r, "upstream field %s not passed on", name);
    }
}

static void send_head(proxy_req *c, const http_head *h, int status)
{
    ws_request *r = c->r;
    proxy_host->set_status(r, status);
    proxy_pass_fields(c, h);
    int no_body = strcmp(r->method, "HEAD") == 0 || status == 204 || status == 304;
    if (no_body) {
        c->resp_mode = BODY_NONE;
        if (h->content_length >= 0 && status != 204 && status != 304)
            proxy_host->set_length(r, h->content_length);
    } else if (h->chunked) {
        c->resp_mode = BODY_CHUNKED;
        chunked_init(&c->dec);
    } else if (h->content_length >= 0) {
        c->resp_mode = BODY_LENGTH;
        c->resp_left = h->content_length;
        proxy_host->set_length(r, h->content_length);
    } else {
        c->resp_mode = BODY_CLOSE; /* RFC 9112 §6.3 item 8: up to the close */
    }
    /* After a refused upgrade the upstream may still think the connection
     * could switch (we sent Connection: upgrade): never pooled. */
    c->upstream_keep = h->keep_alive && c->resp_mode != BODY_CLOSE && !c->upgrade;
    c->head_done = 1;
    if (c->resp_mode == BODY_NONE || (c->resp_mode == BODY_LENGTH && c->resp_left == 0))
        c->x.ended = 1;
}

static void pass(proxy_req *c, const char *p, size_t n)
{
    if (!n)
        return;
    int rc = proxy_host->write(c->r, p, n);
    if (rc == WS_AGAIN)
        c->x.out_paused = 1;
    else if (rc != WS_OK)
        upx_fail(&c->x, 500, "the client connection failed");
}

/* 0: more input needed; 1: go on. */
static int head_step(proxy_req *c)
{
    http_head h;
    int status = 0;
    size_t hl = 0;
    int rc = http_parse_response_head(c->ibuf, c->ilen, PROXY_HEAD_MAX, &h, &status, &hl);
    if (rc == HTTP_PARSE_AGAIN) {
        if (c->ilen >= PROXY_HEAD_MAX)
            upx_fail(&c->x, 502, "the upstream's response head is too large");
        return 0;
    }
    if (rc != HTTP_PARSE_OK) {
        upx_fail(&c->x, 502, "the upstream's response head is malformed (RFC 9112 §4, §6.3)");
        return 0;
    }
    if (status < 200) {
        if (status == 101) {
            if (!c->upgrade) {
                upx_fail(&c->x, 502, "the upstream switched protocols unasked");
                return 0;
            }
            proxy_tunnel_start(c, &h, hl); /* proxy_tunnel.c */
            return !c->x.over;
        }
        /* An interim answer (100 Continue, 103): dropped, the final one follows. */
        memmove(c->ibuf, c->ibuf + hl, c->ilen - hl);
        c->ilen -= hl;
        return 1;
    }
    send_head(c, &h, status);
    c->ioff = hl;
    return 1;
}

void proxy_process_input(proxy_req *c)
{
    while (!c->x.over && !c->x.out_paused && !c->x.ended) {
        if (!c->head_done) {
            if (!c->ilen || !head_step(c))
                return;
            continue;
        }
        size_t avail = c->ilen - c->ioff;
        if (!avail)
            return;
        const char *p = c->ibuf + c->ioff;
        if (c->resp_mode == BODY_LENGTH) {
            size_t n = (int64_t)avail < c->resp_left ? avail : (size_t)c->resp_left;
            c->ioff += n;
            c->resp_left -= (int64_t)n;
            if (c->resp_left == 0)
                c->x.ended = 1;
            pass(c, p, n);
        } else if (c->resp_mode == BODY_CHUNKED) {
            size_t used = 0, dn = 0;
            const char *data = NULL;
            int rc = chunked_decode(&c->dec, p, avail, &used, &data, &dn);
            c->ioff += used;
            if (rc == CHUNKED_ERROR) {
                upx_fail(&c->x, 502, "the upstream's chunked body is malformed");
                return;
            }
            if (rc == CHUNKED_DONE)
                c->x.ended = 1;
            if (rc == CHUNKED_DATA)
                pass(c, data, dn);
        } else {
            c->ioff += avail;
            pass(c, p, avail);
        }
    }
    if (c->x.ended && !c->x.over && !c->x.out_paused)
        proxy_done(c);
}

void proxy_on_writable(ws_request *r)
{
    proxy_req *c = r->ctx;
    if (!c || c->x.over)
        return;
    c->x.out_paused = 0;
    proxy_process_input(c);
    if (!c->x.over && !c->x.out_paused) {
        upx_update_watch(&c->x);
        upx_arm_timer(&c->x);
    }
}

/*
 * The request as it goes to the upstream (RFC 9110 §7.6): the method, the
 * target (raw, or with the location prefix stripped), HTTP/1.1, the client's
 * fields minus the hop-by-hop ones (§7.6.1: Connection and the fields it
 * names, Keep-Alive, TE, Transfer-Encoding, Upgrade, Proxy-*), Host per
 * config, X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239) — the
 * incoming ones kept and extended only from trusted_proxies — and the body
 * framed by its length or chunked, streamed as it arrives.
 */
#include "proxy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

typedef struct sbuf {
    ws_request *r;
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = proxy_host->alloc(b->r, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        if (b->n)
            memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void field(sbuf *b, const char *name, const char *value)
{
    puts_(b, name);
    put(b, ": ", 2);
    puts_(b, value);
    put(b, "\r\n", 2);
}

/* Is `name` one of the comma-separated tokens of the request's Connection fields? */
static int named_by_connection(const ws_request *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, "Connection") != 0)
            continue;
        const char *v = r->headers[i].value;
        while (*v) {
            while (*v == ' ' || *v == '\t' || *v == ',')
                v++;
            const char *e = v;
            while (*e && *e != ',' && *e != ' ' && *e != '\t')
                e++;
            if ((size_t)(e - v) == nl && strncasecmp(v, name, nl) == 0)
                return 1;
            v = e;
        }
    }
    return 0;
}

/* Not passed on: hop-by-hop fields, the ones rebuilt here, and the framing.
 * (Compared by length first: this runs for every field of every request.) */
static int dropped(const ws_request *r, const char *name, int has_connection)
{
#define D(lit) {lit, sizeof lit - 1}
    static const struct {
        const char *name;
        size_t n;
    } drop[] = {D("Connection"), D("Keep-Alive"), D("TE"), D("Transfer-Encoding"), D("Upgrade"), D("Trailer"),
                D("Host"), D("Content-Length"), D("Expect"), D("Proxy"), D("X-Forwarded-For"),
                D("X-Forwarded-Proto"), D("X-Forwarded-Host"), D("Forwarded")};
#undef D
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (n == drop[i].n && strcasecmp(name, drop[i].name) == 0)
            return 1;
    return (n >= 6 && strncasecmp(name, "Proxy-", 6) == 0) || (has_connection && named_by_connection(r, name));
}

/* The incoming values of `name`, joined with ", " (NULL when none). */
static const char *joined(sbuf *tmp, const ws_request *r, const char *name)
{
    tmp->n = 0;
    int any = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) {
            if (any)
                put(tmp, ", ", 2);
            puts_(tmp, r->headers[i].value);
            any = 1;
        }
    return any && !tmp->oom ? tmp->p : NULL;
}

static const char *scheme_of(const ws_request *r)
{
    /* "https" on a TLS listener (ABI 1.2 ws_request.scheme) */
    return r->size >= offsetof(ws_request, scheme) + sizeof r->scheme && r->scheme ? r->scheme : "http";
}

/* RFC 3986 path characters pass; everything else is %XX. */
static void put_encoded_path(sbuf *b, const char *p)
{
    static const char ok[] = "-._~!$&'()*+,;=:@/";
    for (; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr(ok, ch)) {
            put(b, (const char *)&ch, 1);
        } else {
            char e[4];
            snprintf(e, sizeof e, "%%%02X", ch);
            put(b, e, 3);
        }
    }
}

static void put_target(sbuf *b, const proxy_req *c)
{
    const ws_request *r = c->r;
    if (c->conf->strip_prefix) {
        /* The normalised path with the location's prefix cut (and never a
         * target that climbs out of it: ".." was resolved by the core). */
        const char *p = r->request_path ? r->request_path : r->path;
        size_t ll = strlen(c->conf->location);
        while (ll > 0 && c->conf->location[ll - 1] == '/')
            ll--;
        if (strncmp(p, c->conf->location, ll) == 0)
            p += ll;
        if (*p != '/')
            put(b, "/", 1);
        put_encoded_path(b, p);
    } else {
        const char *t = r->target;
        const char *s = strstr(t, "://");
        if (t[0] != '/' && s) {
            t = strchr(s + 3, '/');
            if (!t)
                t = "/";
        }
        size_t n = strcspn(t, "?");
        put(b, t, n);
    }
    if (r->query && r->query[0]) {
        put(b, "?", 1);
        puts_(b, r->query);
    }
}

static const char *client_host(const ws_request *r)
{
    const char *h = proxy_host->header(r, "Host");
    return h && *h ? h : r->host ? r->host : r->local_addr;
}

static const char *upstream_host(const proxy_req *c)
{
    const char *a = c->x.up.server ? c->x.up.server->address : "localhost";
    return strncmp(a, "unix:", 5) == 0 ? "localhost" : a;
}

static void forwarding(sbuf *b, sbuf *tmp, const proxy_req *c)
{
    const ws_request *r = c->r;
    int trusted = c->conf->n_trusted && proxy_trusted(c->conf, r->remote_addr);
    const char *v;
    /* X-Forwarded-For: the chain so far (when believed) and the client. */
    puts_(b, "X-Forwarded-For: ");
    if (trusted && (v = joined(tmp, r, "X-Forwarded-For"))) {
        puts_(b, v);
        put(b, ", ", 2);
    }
    puts_(b, r->remote_addr);
    put(b, "\r\n", 2);
    v = trusted ? proxy_host->header(r, "X-Forwarded-Proto") : NULL;
    field(b, "X-Forwarded-Proto", v ? v : scheme_of(r));
    v = trusted ? proxy_host->header(r, "X-Forwarded-Host") : NULL;
    field(b, "X-Forwarded-Host", v ? v : client_host(r));
    /* RFC 7239 §4: for/proto/host of this hop appended to the believed list;
     * an IPv6 address and a host with a port are quoted strings (§6). */
    puts_(b, "Forwarded: ");
    if (trusted && (v = joined(tmp, r, "Forwarded"))) {
        puts_(b, v);
        put(b, ", ", 2);
    }
    int v6 = strchr(r->remote_addr, ':') != NULL;
    puts_(b, v6 ? "for=\"[" : "for=");
    puts_(b, r->remote_addr);
    puts_(b, v6 ? "]\";proto=" : ";proto=");
    puts_(b, scheme_of(r));
    puts_(b, ";host=\"");
    for (const char *h = client_host(r); *h;) {
        size_t run = strcspn(h, "\"\\"); /* what a quoted-string takes as it is */
        put(b, h, run);
        h += run;
        if (*h)
            h++;
    }
    puts_(b, "\"\r\n");
}

int proxy_build_head(proxy_req *c)
{
    ws_request *r = c->r;
    sbuf b = {.r = r}, tmp = {.r = r};
    /* One allocation of about the right size (the memory comes zeroed: a
     * generous fixed size cost more than the building). */
    size_t est = strlen(r->target) * 3 + 1024;
    int has_connection = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        est += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 4;
        has_connection |= strcasecmp(r->headers[i].name, "Connection") == 0;
    }
    if (!(b.p = proxy_host->alloc(r, est)))
        return -1;
    b.cap = est;
    puts_(&b, r->method);
    put(&b, " ", 1);
    put_target(&b, c);
    puts_(&b, " HTTP/1.1\r\n");
    const char *host = c->conf->host_mode == PROXY_HOST_CLIENT     ? client_host(r)
                       : c->conf->host_mode == PROXY_HOST_UPSTREAM ? upstream_host(c)
                                                                   : c->conf->host_literal;
    field(&b, "Host", host);
    for (size_t i = 0; i < r->n_headers; i++)
        if (!dropped(r, r->headers[i].name, has_connection))
            field(&b, r->headers[i].name, r->headers[i].value);
    forwarding(&b, &tmp, c);
    if (c->body_mode == BODY_LENGTH) {
        char n[40];
        snprintf(n, sizeof n, "%" PRId64, r->content_length);
        field(&b, "Content-Length", n);
    } else if (c->body_mode == BODY_CHUNKED) {
        field(&b, "Transfer-Encoding", "chunked");
    }
    if (c->upgrade) {
        /* RFC 9110 §7.8: the client asked to switch; the upstream decides (proxy_tunnel.c). */
        field(&b, "Upgrade", c->upgrade);
        field(&b, "Connection", "upgrade");
    } else {
        field(&b, "Connection", c->conf->upstream->keepalive ? "keep-alive" : "close");
    }
    put(&b, "\r\n", 2);
    if (b.oom)
        return -1;
    if (c->body_mode == BODY_NONE && !c->upgrade) {
        c->x.obuf = b.p; /* the head is all that goes out */
        c->x.ocap = b.cap;
    } else {
        /* One framed piece of body (or of a tunnel's client bytes) at a time. */
        size_t piece = PROXY_BODY_PIECE + 32;
        c->x.ocap = (b.n > piece ? b.n : piece) + 16; /* room for the last chunk behind the head */
        if (!(c->x.obuf = upx_buffer(&c->x, c->x.ocap)))
            return -1;
        memcpy(c->x.obuf, b.p, b.n);
    }
    c->x.olen = c->x.head_len = b.n;
    c->x.ooff = 0;
    if (c->body_mode == BODY_NONE)
        c->x.body_done = 1;
    return 0;
}

/* One piece of body into obuf, framed as a chunk when chunked. */
static void frame(up_exchange *x, const char *data, size_t n)
{
    proxy_req *c = x->arg;
    if (c->body_mode == BODY_CHUNKED) {
        int k = snprintf(x->obuf + x->olen, 20, "%zx\r\n", n);
        x->olen += (size_t)k;
    }
    memcpy(x->obuf + x->olen, data, n);
    x->olen += n;
    if (c->body_mode == BODY_CHUNKED) {
        memcpy(x->obuf + x->olen, "\r\n", 2);
        x->olen += 2;
    }
}

size_t proxy_on_body(ws_request *r, const char *data, size_t len)
{
    proxy_req *c = r->ctx;
    if (!c || c->x.over)
        return len;
    return upx_body(&c->x, data, len, PROXY_BODY_PIECE, frame);
}

static void last_chunk(up_exchange *x)
{
    memcpy(x->obuf + x->olen, "0\r\n\r\n", 5); /* the last chunk, no trailers */
    x->olen += 5;
}

void proxy_on_body_end(ws_request *r)
{
    proxy_req *c = r->ctx;
    if (!c || c->x.over || c->x.body_done)
        return;
    upx_body_end(&c->x, c->body_mode == BODY_CHUNKED ? last_chunk : NULL);
}

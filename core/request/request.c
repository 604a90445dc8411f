/*
 * A request from its parsed head to its handler: copy the head into the
 * request pool, pick server and location, check the method, map the path to
 * the file system (directory slash redirect, index files), then ask the
 * enabled modules in order. Also: the request's end (exactly one cleanup).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "access_log.h"
#include "filter.h"
#include "fs_cache.h"
#include "netaddr.h"
#include "log.h"
#include "modules.h"
#include "phase.h"
#include "return_vars.h"
#include "request.h"
#include "metrics.h"
#include "response.h"
#include "route.h"
#include "router.h"
#include "tls.h"
#include "server.h"

request *req_new(const carrier_ops *carrier, void *ctx, const bind_conf *bind, const struct sockaddr *local,
                 const struct sockaddr *remote)
{
    /* The request lives in its own pool, which outlives it by nothing (both
     * end in req_end or req_free_orphan): no malloc and free of its own, and
     * no ~1 KB hole that a burst of short requests would leave between the
     * long-lived allocations of the connections that carried them (an idle
     * HTTP/2 connection's memory is mostly where those holes fall). */
    arena *pool = server_get_pool(g_server);
    if (!pool)
        return NULL;
    request *r = arena_alloc(pool, sizeof *r);
    if (!r) {
        server_put_pool(g_server, pool);
        return NULL;
    }
    r->pool = pool;
    r->carrier = carrier;
    r->carrier_ctx = ctx;
    r->bind = bind;
    r->local = local;
    r->cfg = g_server->cfg;
    r->cfg->refs++;
    r->length = -1;
    r->out_left = -1;
    r->hook_in = -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->start_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    r->start_ns = metrics_now_ns();
    ws_request *p = &r->pub;
    p->size = sizeof *p;
    p->query = "";
    p->content_length = 0;
    p->remote_addr = sockaddr_text(r->pool, remote, &p->remote_port);
    p->local_addr = sockaddr_text(r->pool, local, &p->local_port);
    r->logctx.client = p->remote_addr;
    r->logctx.port = p->remote_port;
    r->logctx.doing = "reading the request head";
    return r;
}

void req_end(request *r, int how)
{
    r->logctx.doing = how == WS_END_DONE ? "ending the request" : "aborting the request";
    if (!r->offloads)
        phase_log(r, how); /* ABI 1.2 log hooks: after the response */
    filter_drop(r); /* file ranges and pieces the body filters did not read */
    if (r->offloads) {
        /* Works still run for it (host->offload): the carrier lets go of it
         * now, the last work frees it (core/phases/offload_req.c), and the
         * log hooks run then (a module frees there what its work uses). */
        req_remove_events(r);
        access_log_request(r);
        if (log_context_get() == &r->logctx)
            log_context_set(NULL);
        metrics_request(r, metrics_now_ns() - r->start_ns); /* server/metrics.c: all workers' counters */
        g_server->stats.requests_total++;
        r->orphan = 1;
        r->orphan_how = how;
        r->carrier = NULL;
        r->carrier_ctx = NULL;
        r->tr = NULL;
        return;
    }
    req_release_module(r, how);
    for (req_file *f = r->files; f; f = f->next)
        fs_file_release(f->ref); /* a response still being sent holds its own reference */
    r->files = NULL;
    access_log_request(r);
    if (log_context_get() == &r->logctx)
        log_context_set(NULL); /* the context dies with the request */
    metrics_request(r, metrics_now_ns() - r->start_ns);
    g_server->stats.requests_total++;
    live_config_unref(r->cfg);
    server_put_pool(g_server, r->pool); /* r itself was in the pool */
}

void req_free_orphan(request *r)
{
    log_context_set(&r->logctx);
    phase_log(r, r->orphan_how);
    log_context_set(NULL);
    if (r->owner && !r->cleaned && r->owner->d.cleanup) {
        r->cleaned = 1;
        r->in_module++;
        r->owner->d.cleanup(&r->pub, r->orphan_how);
        r->in_module--;
    }
    for (req_file *f = r->files; f; f = f->next)
        fs_file_release(f->ref);
    live_config_unref(r->cfg);
    server_put_pool(g_server, r->pool); /* r itself was in the pool */
}

/* Take the request away from its module (it hears `how` in its cleanup, and
 * nothing more): the core answers instead. */
static void drop_module(request *r, int how)
{
    req_release_module(r, how);
    r->owner = NULL;
    r->cleaned = 0;
}

const char *req_header(const request *r, const char *name)
{
    /* The first letter (any case: | 0x20) rules out most fields without a
     * case-insensitive compare (modules ask for fields on every request). */
    int first = (unsigned char)name[0] | 0x20;
    for (size_t i = 0; i < r->pub.n_headers; i++) {
        const char *n = r->pub.headers[i].name;
        if (((unsigned char)n[0] | 0x20) == first && strcasecmp(n, name) == 0)
            return r->pub.headers[i].value;
    }
    return NULL;
}

/* Copy a slice into *cur as a C string (up to a NUL inside it, as
 * arena_strndup would); *cur moves past it. */
static const char *put_slice(char **cur, http_slice s, size_t *len)
{
    const char *p = s.p ? s.p : "";
    size_t n = s.p ? s.n : 0;
    const char *z = memchr(p, '\0', n);
    if (z)
        n = (size_t)(z - p);
    char *out = *cur;
    memcpy(out, p, n);
    out[n] = '\0';
    *cur += n + 1;
    if (len)
        *len = n;
    return out;
}

/* Copy what modules see out of the read buffer, which moves on: every
 * string in one allocation (this runs for every request), and the two
 * fields the access log wants found on the way. */
static int copy_head(const http_head *h, request *r)
{
    size_t total = h->method.n + h->target.n + h->query.n + 3;
    for (size_t i = 0; i < h->n_headers; i++)
        total += h->headers[i].name.n + h->headers[i].value.n + 2;
    char *cur = arena_alloc_raw(r->pool, total);
    ws_header *hs = arena_alloc_raw(r->pool, sizeof *hs * (h->n_headers ? h->n_headers : 1));
    if (!cur || !hs)
        return -1;
    r->pub.method = put_slice(&cur, h->method, NULL);
    r->pub.target = put_slice(&cur, h->target, NULL);
    r->pub.query = put_slice(&cur, h->query, NULL);
    r->pub.http_minor = h->minor;
    for (size_t i = 0; i < h->n_headers; i++) {
        size_t n;
        hs[i].name = put_slice(&cur, h->headers[i].name, &n);
        hs[i].value = put_slice(&cur, h->headers[i].value, NULL);
        if (n == 7 && !r->referer && strcasecmp(hs[i].name, "Referer") == 0)
            r->referer = hs[i].value;
        else if (n == 10 && !r->user_agent && strcasecmp(hs[i].name, "User-Agent") == 0)
            r->user_agent = hs[i].value;
    }
    r->pub.headers = hs;
    r->pub.n_headers = h->n_headers;
    return 0;
}

/* Host for routing: the absolute-form authority wins over Host (RFC 9112 §3.2.2). */
static http_slice routing_host(const http_head *h)
{
    return h->target_form == HTTP_FORM_ABSOLUTE ? h->authority : h->host;
}

static char *host_without_port(request *r, http_slice h)
{
    size_t n = h.n;
    const char *p = h.p ? h.p : "";
    if (n && p[0] == '[') {
        const char *e = memchr(p, ']', n);
        n = e ? (size_t)(e - p) + 1 : n;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon)
            n = (size_t)(colon - p);
    }
    char *s = arena_strndup(r->pool, p, n);
    for (char *q = s; q && *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q += 32;
    return s;
}

/* Percent-encode a decoded path for a Location header. */
static char *encode_path(request *r, const char *path, const char *suffix)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path), k = strlen(suffix);
    char *out = arena_alloc(r->pool, n * 3 + k + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~!$&'()*+,;=:@", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    memcpy(o, suffix, k + 1);
    return out;
}

static void answer_simple(request *r, int status, const char *allow)
{
    r->status = status;
    if (allow)
        resp_header_add_ref(r, "Allow", allow); /* from the config, which outlives the request */
    r->length = 0;
    resp_finish(r);
}

static void answer_return(request *r)
{
    const location_conf *l = r->loc;
    r->status = l->return_status;
    if (l->return_location) {
        const char *loc = l->return_location;
        if (return_vars_present(loc)) {
            const ws_request *p = &r->pub;
            const bind_conf *b = r->bind;
            return_vars v = {.scheme = b && b->addr.tls ? "https" : "http", /* the address it came in on */
                             .host = p->host ? p->host : "",
                             .port = p->local_port,
                             .uri = p->request_path ? p->request_path : p->path,
                             .request_uri = p->target,
                             .query = p->query};
            loc = return_vars_expand(r->pool, loc, &v);
            if (!loc) {
                resp_error(r, 500);
                return;
            }
        }
        resp_header_add_ref(r, "Location", loc); /* the config's, or expanded in the pool */
        r->length = 0;
    } else if (l->return_body) {
        resp_header_add_ref(r, "Content-Type", "text/plain; charset=utf-8");
        r->length = (int64_t)strlen(l->return_body);
        resp_write(r, l->return_body, strlen(l->return_body));
    } else {
        r->length = 0;
    }
    resp_finish(r);
}

/* SPEC §3 "Directories are the core's business": the trailing-slash redirect
 * route_map_path asked for. */
static void answer_dir_redirect(request *r)
{
    ws_request *p = &r->pub;
    /* Out of memory anywhere here is a 500, never a NULL passed on to "%s". */
    const char *q = p->query[0] ? arena_printf(r->pool, "?%s", p->query) : "";
    const char *enc = encode_path(r, p->path, "/");
    char *loc = q && enc ? arena_printf(r->pool, "%s%s", enc, q) : NULL;
    if (!loc) {
        resp_error(r, 500);
        return;
    }
    r->status = 301;
    resp_header_add_ref(r, "Location", loc); /* loc is in the pool */
    r->length = 0;
    resp_finish(r);
}

/* timeouts.handler: the module took too long to answer. Like the 408 of a
 * stalled body (req_timed_out): the module hears WS_END_ABORTED now, and the core
 * answers 504, or cuts the connection when the head is already out. */
static void handler_timeout(ws_request *p, void *arg)
{
    (void)arg;
    request *r = (request *)(void *)p;
    if (r->finished)
        return;
    log_msg(WS_LOG_WARN, "WS0305", "[%s] %s %s: no answer within timeouts.handler (%llu ms) of %s",
            r->owner ? r->owner->name : "-", p->method, p->path, (unsigned long long)r->loc->handler_ms,
            r->loc->json_path);
    drop_module(r, WS_END_ABORTED); /* also drops this timer and the module's events */
    if (r->body != BODY_NONE && r->body != BODY_DONE) {
        r->body = BODY_DONE; /* the rest of the body is not read: the connection ends after the answer */
        r->close_after = 1;
    }
    resp_error(r, 504);
}

static void dispatch(request *r)
{
    const location_conf *l = r->loc;
    int i = route_pick_module(l, &r->pub, NULL, NULL);
    if (i < 0) {
        resp_error(r, route_nobody_status(&r->pub));
        return;
    }
    loaded_module *m = l->handlers[i].mod;
    r->owner = m;
    m->requests++;
    r->logctx.doing = "running the handler";
    req_begin_module(r);
    int rc = m->d.handle(&r->pub);
    req_end_module(r);
    if (rc != 0 && !r->finished)
        resp_error(r, rc >= 400 && rc <= 599 ? rc : 500);
    else if (!r->finished && r->loc->handler_ms && !req_timer_start(r, r->loc->handler_ms, handler_timeout, NULL))
        resp_error(r, 500);
}

/* The core's checks between the rewrite and access phases. 1 when answered. */
static int check_method(request *r)
{
    const char *m = r->pub.method;
    switch (route_check_method(r->cfg->c, r->loc, m)) {
    case ROUTE_OPTIONS:
        answer_simple(r, 204, r->loc->allow);
        return 1;
    case ROUTE_NOT_ALLOWED:
        resp_error(r, 405);
        return 1;
    case ROUTE_UNKNOWN:
        resp_error(r, 501);
        return 1;
    case ROUTE_METHOD_OK:
        break;
    }
    /* POST and PUT carry content by definition: without Content-Length or
     * chunked framing we refuse rather than guess (RFC 9110 §15.5.12, as lighttpd). */
    if ((strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) && r->head.content_length < 0 && !r->head.chunked) {
        resp_error(r, 411);
        return 1;
    }
    if (r->loc->max_body > 0 && r->head.content_length > r->loc->max_body) {
        resp_error(r, 413);
        return 1;
    }
    return 0;
}

/*
 * The steps of a routed request, resumable after a phase that waited
 * (core/phases): rewrite hooks → method checks → access hooks → "return",
 * the directory redirect or the handler. `hook` is where to go on from.
 */
void req_continue(request *r, int hook)
{
    if (hook == HOOK_REWRITE) {
        phase_outcome o = phase_run(r, HOOK_REWRITE);
        if (o == PHASE_REROUTE) {
            req_reroute(r);
            return;
        }
        if (o != PHASE_NEXT || check_method(r))
            return;
        r->hook_idx = 0;
        hook = HOOK_ACCESS;
    }
    if (hook == HOOK_ACCESS && phase_run(r, HOOK_ACCESS) != PHASE_NEXT)
        return;
    if (r->loc->return_status)
        answer_return(r);
    else if (r->dir_redirect)
        answer_dir_redirect(r);
    else
        dispatch(r);
}

/* A rewrite hook changed the path: route again, 10 times at most. */
void req_reroute(request *r)
{
    if (++r->rewrites > 10) {
        log_msg(WS_LOG_ERROR, "WS0921", "more than 10 rewrites for %s (last: %s): a rewrite loop?",
                r->request_line ? r->request_line : "-", r->pub.path);
        resp_error(r, 500);
        return;
    }
    req_route(r);
}

/* Route a request whose path is set (first time, after an internal redirect or a rewrite). */
void req_route(request *r)
{
    ws_request *p = &r->pub;
    r->loc = router_location(r->server, p->path, strlen(p->path));
    if (!r->loc) {
        resp_error(r, 404);
        return;
    }
    p->location = r->loc->path;
    p->root = r->loc->root;
    /* The file system is mapped before the phases, so a rewrite hook sees
     * fs_type (a fallback for a missing file); the slash redirect it may ask
     * for waits until the access phase allowed the request. */
    r->dir_redirect = route_map_path(r->pool, r->loc, p);
    r->hook_idx = 0;
    req_continue(r, HOOK_REWRITE);
}

/* The head is parsed (status HTTP_PARSE_OK) or refused (a status code). */
void req_start(request *r, int parse_status, const http_head *h)
{
    ws_request *p = &r->pub;
    r->logctx.request = r->request_line;
    r->logctx.doing = "routing the request";
    if (parse_status != HTTP_PARSE_OK) {
        p->method = "-";
        p->http_minor = 1;
        r->close_after = 1;
        resp_error(r, parse_status);
        return;
    }
    r->head = (req_head_facts){h->content_length, h->chunked, h->keep_alive, h->expect_continue};
    if (copy_head(h, r) < 0) {
        resp_error(r, 500);
        return;
    }
    /* The carrier decodes the framing; here only whether a body follows. */
    if (h->chunked) {
        r->body = BODY_UNREAD;
        p->content_length = -1;
    } else if (h->content_length > 0) {
        r->body = BODY_UNREAD;
        p->content_length = h->content_length;
    } else {
        r->body = BODY_NONE;
    }

    http_slice host = routing_host(h);
    r->server = router_server(r->bind, r->local, host.p ? host.p : "", host.n);
    p->host = host.n ? host_without_port(r, host)
                     : (r->server->n_names ? r->server->names[0] : p->local_addr);
    if (r->tr && tls_transport_is(r->tr)) {
        /* RFC 9110 §15.5.20: the handshake (SNI, by the same rules) chose
         * another server's certificate than the one Host names. */
        const char *sni = tls_transport_sni(r->tr);
        if (router_server(r->bind, r->local, sni, sni ? strlen(sni) : 0) !=
            r->server) {
            resp_error(r, 421);
            return;
        }
    }

    if (h->target_form == HTTP_FORM_ASTERISK) {
        /* OPTIONS * (RFC 9110 §9.3.7): about the server as a whole. */
        answer_simple(r, 204, NULL);
        return;
    }
    char *path = arena_alloc(r->pool, h->path.n + 2);
    long n = path ? http_normalize_path(h->path.n ? h->path.p : "/", h->path.n ? h->path.n : 1, path, h->path.n + 2) : -1;
    if (n < 0) {
        resp_error(r, 400);
        return;
    }
    p->path = path;
    p->request_path = path;
    req_route(r);
}

/* An internal redirect (RFC 3875 §6.2.2): serve uri as a GET instead. */
void req_restart(request *r, const char *uri)
{
    if (++r->redirects > 10 || r->head_sent) {
        resp_error(r, 500);
        return;
    }
    drop_module(r, WS_END_DONE);
    ws_request *p = &r->pub;
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    p->method = strcmp(p->method, "HEAD") == 0 ? "HEAD" : "GET"; /* a HEAD stays bodiless */
    p->query = q ? arena_strdup(r->pool, q + 1) : "";
    p->ctx = NULL; /* the next module starts with nothing of the previous one's */
    if (r->body != BODY_NONE && r->body != BODY_DONE)
        r->body = BODY_UNREAD; /* nobody reads the rest now: it is discarded after the response */
    p->target = arena_strdup(r->pool, uri);
    p->content_length = 0;
    char *path = arena_alloc(r->pool, plen + 2);
    if (!path || http_normalize_path(uri, plen, path, plen + 2) < 0) {
        resp_error(r, 500);
        return;
    }
    p->path = p->request_path = path;
    resp_reset(r);
    r->filters_ran = 0; /* the new response gets the header filters again */
    r->keep_headers = 0;
    req_route(r);
}

int req_take_pending(request *r)
{
    if (r->in_module)
        return 0;
    if (r->redirect_to) {
        const char *to = r->redirect_to;
        r->redirect_to = NULL;
        req_restart(r, to);
        return 1;
    }
    if (r->hook_resume) {
        phase_resume(r); /* a phase module answered its WS_DEFER (core/phases) */
        return 1;
    }
    return 0;
}

step req_timed_out(request *r)
{
    if (r->phase == REQ_BODY && r->body == BODY_READING && !r->head_sent) {
        /* A stalled body: the module hears it was aborted, the client gets 408. */
        drop_module(r, WS_END_ABORTED);
        r->body = BODY_DONE;
        r->close_after = 1;
        resp_error(r, 408);
        return STEP_ERROR;
    }
    return STEP_CLOSE;
}

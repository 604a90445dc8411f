/*
 * The phase checkers (phase.h): call each module of the location that has
 * the hook, with r->conf set to its own config, and turn its answer into the
 * request's next step.
 */
#include "phase.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "filter.h"
#include "http_parse.h"
#include "log.h"
#include "modules.h"
#include "response.h"

static const char *hook_name(int hook)
{
    switch (hook) {
    case HOOK_REWRITE: return "rewrite";
    case HOOK_ACCESS: return "access";
    case HOOK_HEADER_FILTER: return "header filter";
    case HOOK_BODY_FILTER: return "body filter";
    default: return "log";
    }
}

static void module_failed(request *r, const loaded_module *m, int hook, int rc)
{
    log_msg(WS_LOG_ERROR, "WS0920", "module \"%s\" failed in the %s phase (returned %d) for %s %s", m->name,
            hook_name(hook), rc, r->pub.method ? r->pub.method : "-", r->pub.path ? r->pub.path : "-");
    if (!r->finished && !r->redirect_to)
        resp_error(r, 500);
}

/* Answer now with a status a phase module gave; its headers go with it. */
static void answer_status(request *r, int status)
{
    if (status >= 400) {
        r->keep_headers = r->resp_headers.n;
        resp_error(r, status);
        return;
    }
    r->status = status;
    r->length = 0;
    resp_finish(r);
}

/* Call one module's hook the way every module call is made. */
static int call_hook(request *r, const location_handler *h, int hook)
{
    ws_request *p = &r->pub;
    const void *saved = p->conf;
    loaded_module *saved_calling = r->calling;
    p->conf = h->conf;
    r->calling = h->mod;
    r->hook_in = hook;
    req_begin_module(r);
    int rc = hook == HOOK_REWRITE ? h->mod->d.rewrite(p) : h->mod->d.access(p);
    req_end_module(r);
    r->hook_in = -1;
    r->calling = saved_calling;
    p->conf = saved;
    return rc;
}

/* The module that deferred did not call phase_done in time. */
static void defer_expired(ws_request *p, void *arg)
{
    (void)arg;
    request *r = (request *)(void *)p;
    r->hook_timer = NULL;
    if (!r->hook_wait || r->finished || !r->loc || r->hook_idx >= r->loc->n_hooks[r->hook_phase])
        return;
    r->hook_wait = 0;
    const loaded_module *m = r->loc->hooks[r->hook_phase][r->hook_idx].mod;
    uint64_t ms = r->loc->handler_ms ? r->loc->handler_ms : PHASE_DEFER_MS;
    log_msg(WS_LOG_ERROR, "WS0922", "module \"%s\" did not answer its deferred %s phase within %llu ms for %s %s",
            m->name, hook_name(r->hook_phase), (unsigned long long)ms, p->method, p->path);
    resp_error(r, 500);
}

/* One module's answer (from its hook or from phase_done) → the next step. */
static phase_outcome settle(request *r, const location_handler *h, int hook, int rc)
{
    if (r->finished || r->redirect_to || r->head_sent)
        return PHASE_STOP; /* it answered (error, internal_redirect, write …) whatever it returned */
    if (rc == WS_CONTINUE) {
        if (hook == HOOK_REWRITE && r->rewritten) {
            r->rewritten = 0;
            return PHASE_REROUTE;
        }
        return PHASE_NEXT;
    }
    r->rewritten = 0;
    if (rc == WS_DONE)
        return PHASE_STOP;
    if (rc == WS_DEFER) {
        r->hook_wait = 1;
        r->hook_phase = hook;
        /* A deferral that never comes back must not hold the client forever. */
        uint64_t ms = r->loc->handler_ms ? r->loc->handler_ms : PHASE_DEFER_MS;
        r->hook_timer = (req_timer *)req_timer_start(r, ms, defer_expired, NULL);
        if (!r->hook_timer) {
            r->hook_wait = 0;
            module_failed(r, h->mod, hook, rc);
            return PHASE_STOP;
        }
        return PHASE_WAIT;
    }
    if (rc >= 200 && rc <= 599) {
        answer_status(r, rc);
        return PHASE_STOP;
    }
    module_failed(r, h->mod, hook, rc);
    return PHASE_STOP;
}

phase_outcome phase_run(request *r, int hook)
{
    const location_conf *l = r->loc;
    while (r->hook_idx < l->n_hooks[hook]) {
        const location_handler *h = &l->hooks[hook][r->hook_idx];
        r->rewritten = 0;
        phase_outcome o = settle(r, h, hook, call_hook(r, h, hook));
        if (o != PHASE_NEXT)
            return o;
        r->hook_idx++;
    }
    return PHASE_NEXT;
}

void phase_resume(request *r)
{
    r->hook_resume = 0;
    int hook = r->hook_phase;
    if (!r->loc || r->hook_idx >= r->loc->n_hooks[hook])
        return;
    const location_handler *h = &r->loc->hooks[hook][r->hook_idx];
    switch (settle(r, h, hook, r->hook_result)) {
    case PHASE_NEXT:
        r->hook_idx++;
        req_continue(r, hook);
        return;
    case PHASE_REROUTE:
        req_reroute(r);
        return;
    default:
        return;
    }
}

int phase_header_filters(request *r)
{
    const location_conf *l = r->loc;
    if (!l || !l->n_hooks[HOOK_HEADER_FILTER])
        return 0;
    ws_request *p = &r->pub;
    for (size_t i = 0; i < l->n_hooks[HOOK_HEADER_FILTER]; i++) {
        const location_handler *h = &l->hooks[HOOK_HEADER_FILTER][i];
        const void *saved = p->conf;
        loaded_module *saved_calling = r->calling;
        p->conf = h->conf;
        r->calling = h->mod;
        r->hook_in = HOOK_HEADER_FILTER;
        req_begin_module(r);
        int rc = h->mod->d.header_filter(p);
        req_end_module(r);
        r->hook_in = -1;
        r->calling = saved_calling;
        p->conf = saved;
        if (rc < 0 || rc > 1) {
            log_msg(WS_LOG_ERROR, "WS0920", "module \"%s\" failed in the header filter phase (returned %d) for %s %s",
                    h->mod->name, rc, p->method ? p->method : "-", p->path ? p->path : "-");
            return -1;
        }
        if (rc == 1 && filter_want(r, h) < 0)
            return -1;
    }
    return 0;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void phase_log(request *r, int how)
{
    const location_conf *l = r->loc;
    if (!l || !l->n_hooks[HOOK_LOG])
        return;
    uint64_t now = wall_us();
    ws_log_info info = {
        .size = sizeof info,
        .status = r->head_sent ? r->status : 0,
        .how = how,
        .body_bytes_sent = r->body_bytes_sent,
        .bytes_received = r->body_seen > 0 ? (uint64_t)r->body_seen : 0,
        .start_us = r->start_us,
        .duration_us = now > r->start_us ? now - r->start_us : 0,
    };
    ws_request *p = &r->pub;
    for (size_t i = 0; i < l->n_hooks[HOOK_LOG]; i++) {
        const location_handler *h = &l->hooks[HOOK_LOG][i];
        const void *saved = p->conf;
        p->conf = h->conf;
        r->calling = h->mod;
        req_begin_module(r);
        h->mod->d.log_request(p, &info);
        req_end_module(r);
        r->calling = NULL;
        p->conf = saved;
    }
}

/* ---- host functions ---- */

static request *R(ws_request *p)
{
    return (request *)(void *)p;
}

int phase_host_done(ws_request *p, int result)
{
    request *r = R(p);
    if (!r->hook_wait)
        return WS_ERROR;
    r->hook_wait = 0;
    r->hook_result = result;
    r->hook_resume = 1; /* conn_progress carries on once the module's callback returned */
    if (r->hook_timer) {
        req_timer_stop(r->hook_timer);
        r->hook_timer = NULL;
    }
    return WS_OK;
}

int phase_host_rewrite_uri(ws_request *p, const char *uri)
{
    request *r = R(p);
    if (r->hook_in != HOOK_REWRITE || !uri || uri[0] != '/')
        return WS_ERROR;
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    char *path = arena_alloc(r->pool, plen + 2);
    char *target = arena_strdup(r->pool, uri);
    char *query = arena_strdup(r->pool, q ? q + 1 : "");
    if (!path || !target || !query || http_normalize_path(uri, plen, path, plen + 2) < 0)
        return WS_ERROR;
    p->path = p->request_path = path;
    p->query = query;
    p->target = target;
    r->rewritten = 1;
    return WS_OK;
}

/* Values that end up in CGI's environment and the access log: printable
 * only. 1 for a CTL (refused), 2 for the NUL that ends the string, 0 for
 * the rest: one table look-up per byte. */
#define C8(v) v, v, v, v, v, v, v, v
static const unsigned char user_stop[256] = {
    2, 1, 1, 1, 1, 1, 1, 1, C8(1), C8(1), C8(1),
    C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), /* 0x20-0x77 */
    0, 0, 0, 0, 0, 0, 0, 1,
};
#undef C8

/* The length of s, or -1 when it holds a CTL. */
static long printable_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char stop;
    while (!(stop = user_stop[*p]))
        p++;
    return stop == 2 ? (long)(p - (const unsigned char *)s) : -1;
}

int phase_host_set_user(ws_request *p, const char *user, const char *auth_type)
{
    request *r = R(p);
    long un = user ? printable_len(user) : -1, tn = auth_type ? printable_len(auth_type) : 0;
    if (un < 0 || tn < 0)
        return WS_ERROR;
    /* Both copies in one piece of the pool (an access module calls this on
     * every request it allows). */
    char *u = arena_alloc_raw(r->pool, (size_t)un + (size_t)tn + 2);
    if (!u)
        return WS_ERROR;
    memcpy(u, user, (size_t)un + 1);
    char *t = NULL;
    if (auth_type) {
        t = u + un + 1;
        memcpy(t, auth_type, (size_t)tn + 1);
    }
    p->remote_user = u;
    p->auth_type = t;
    return WS_OK;
}

typedef struct mod_slot {
    const ws_module *self;
    void *ctx;
    struct mod_slot *next;
} mod_slot;

void **phase_host_module_ctx(ws_request *p, const ws_module *self)
{
    request *r = R(p);
    if (!self)
        return NULL;
    for (size_t i = 0; i < REQ_INLINE_SLOTS; i++) {
        if (r->slot_in[i].self == self)
            return &r->slot_in[i].ctx;
        if (!r->slot_in[i].self) {
            r->slot_in[i].self = self;
            return &r->slot_in[i].ctx;
        }
    }
    for (mod_slot *s = r->slots; s; s = s->next)
        if (s->self == self)
            return &s->ctx;
    mod_slot *s = arena_alloc(r->pool, sizeof *s);
    if (!s)
        return NULL;
    s->self = self;
    s->ctx = NULL;
    s->next = r->slots;
    r->slots = s;
    return &s->ctx;
}

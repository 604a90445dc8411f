/*
 * The test host's ABI 1.2 side: phase hooks, header filters, response
 * inspection, module_ctx, set_user, and offload on real threads whose `done`
 * runs on the test's thread from th_run / th_phase_wait (as on the core's
 * loop). A request's end waits for its works, as in the core.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../../core/http/header_rules.h"
#include "th_internal.h"

static th_request *T(const ws_request *r) { return (th_request *)(void *)r; }

/* ---- hooks ---- */

static int call(th_request *t, int hook)
{
    const ws_module *d = t->m->desc;
    int (*fn)(ws_request *) = hook == 1 ? d->rewrite : hook == 2 ? d->access : d->header_filter;
    if (!fn)
        return WS_CONTINUE; /* no hook: the core passes over the module */
    t->phase_waiting = t->phase_answered = 0;
    t->hook_in = hook;
    int rc = fn(&t->req);
    t->hook_in = 0;
    if (rc == WS_DEFER && hook != 3)
        t->phase_waiting = 1;
    return rc;
}

int th_rewrite(th_request *t) { return call(t, 1); }
int th_access(th_request *t) { return call(t, 2); }
int th_header_filter(th_request *t) { return call(t, 3); }

void th_log_request(th_request *t, const ws_log_info *info)
{
    /* As the core: the response is over, so works still running are waited
     * for (their done skipped) before the log hooks, which may free what
     * those works use. */
    th_offload_wait(t);
    if (t->m->desc->log_request)
        t->m->desc->log_request(&t->req, info);
}

int th_phase_wait(th_request *t, int ms)
{
    if (!t->phase_waiting && !t->phase_answered)
        return -1000;
    th_run(t, ms);
    if (!t->phase_answered)
        return -1000;
    t->phase_answered = 0;
    return t->phase_result;
}

int th_phase_done(ws_request *r, int result)
{
    th_request *t = T(r);
    if (!t->phase_waiting)
        return WS_ERROR;
    t->phase_waiting = 0;
    t->phase_answered = 1;
    t->phase_result = result;
    return WS_OK;
}

int th_phase_rewrite_uri(ws_request *r, const char *uri)
{
    th_request *t = T(r);
    if (t->hook_in != 1 || !uri || uri[0] != '/')
        return WS_ERROR;
    free(t->res->rewrite_uri);
    t->res->rewrite_uri = strdup(uri);
    const char *q = strchr(uri, '?');
    size_t n = q ? (size_t)(q - uri) : strlen(uri);
    char *path = th_alloc(r, n + 1);
    if (!path || !t->res->rewrite_uri)
        return WS_ERROR;
    memcpy(path, uri, n);
    r->path = r->request_path = path;
    char *query = th_alloc(r, q ? strlen(q) : 1);
    if (!query)
        return WS_ERROR;
    strcpy(query, q ? q + 1 : "");
    r->query = query;
    return WS_OK;
}

int th_phase_set_user(ws_request *r, const char *user, const char *auth_type)
{
    if (!user)
        return WS_ERROR;
    for (const char *p = user; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return WS_ERROR;
    char *u = th_alloc(r, strlen(user) + 1), *a = auth_type ? th_alloc(r, strlen(auth_type) + 1) : NULL;
    if (!u || (auth_type && !a))
        return WS_ERROR;
    strcpy(u, user);
    if (a)
        strcpy(a, auth_type);
    r->remote_user = u;
    r->auth_type = a;
    return WS_OK;
}

typedef struct th_slot {
    struct th_slot *next;
    const ws_module *self;
    void *ctx;
} th_slot;

void **th_phase_module_ctx(ws_request *r, const ws_module *self)
{
    th_request *t = T(r);
    for (th_slot *s = t->slots; s; s = s->next)
        if (s->self == self)
            return &s->ctx;
    th_slot *s = self ? th_alloc(r, sizeof *s) : NULL;
    if (!s)
        return NULL;
    s->self = self;
    s->next = t->slots;
    t->slots = s;
    return &s->ctx;
}

/* ---- the response as it stands ---- */

int th_phase_get_status(const ws_request *r)
{
    int st = T(r)->res->status;
    return st ? st : 200;
}

/* Content-Length as the core shows it: from the length (set_length), NULL
 * when unknown; remove_header("Content-Length") makes it unknown. */
const char *th_phase_resp_header(const ws_request *r, const char *name)
{
    th_request *t = T(r);
    if (name && strcasecmp(name, "Content-Length") == 0) {
        int st = t->res->status;
        if (t->res->length < 0 || (st && (st < 200 || st == 204 || st == 304)))
            return NULL;
        char *buf = th_alloc((ws_request *)r, 24);
        if (buf)
            snprintf(buf, 24, "%lld", (long long)t->res->length);
        return buf;
    }
    return name ? th_header(t, name) : NULL;
}

int th_phase_remove_header(ws_request *r, const char *name)
{
    th_response *res = T(r)->res;
    if (!name || T(r)->head_sent)
        return WS_ERROR;
    if (strcasecmp(name, "Content-Length") == 0) {
        res->length = -1;
        return WS_OK;
    }
    size_t k = 0;
    for (size_t i = 0; i < res->n_headers; i++) {
        if (strcasecmp(res->header_names[i], name) == 0) {
            free((void *)res->header_names[i]);
            free((void *)res->header_values[i]);
            continue;
        }
        res->header_names[k] = res->header_names[i];
        res->header_values[k++] = res->header_values[i];
    }
    res->n_headers = k;
    return WS_OK;
}

int th_phase_set_header(ws_request *r, const char *name, const char *value)
{
    if (T(r)->head_sent || !header_rules_field_ok(name, value))
        return WS_ERROR;
    th_phase_remove_header(r, name);
    return th_host()->add_header(r, name, value);
}

int th_body_filter(th_request *t, const void *data, size_t len, int last)
{
    const ws_module *d = t->m->desc;
    if (!d->body_filter || (len && !data))
        return WS_ERROR;
    /* As the core: nothing reaches a filter while its offloaded work runs. */
    if (th_filter_wait(t, 60000) != 0)
        return WS_ERROR;
    t->hook_in = 4;
    int rc = d->body_filter(&t->req, data ? data : "", len, last ? 1 : 0);
    t->hook_in = 0;
    return rc;
}

int th_phase_filter_next(ws_request *r, const void *data, size_t len, int last)
{
    th_request *t = T(r);
    th_response *res = t->res;
    if (t->hook_in != 4 || (len && !data) || (res->filter_last && len))
        return WS_ERROR; /* only from inside body_filter; nothing after the end */
    if (th_body_append(t, data, len) < 0)
        return WS_ERROR;
    res->filter_passes++;
    if (last)
        res->filter_last = 1;
    /* The core's sink takes the bytes and says WS_AGAIN above its
     * high-water mark: a slow client, here the output limit. */
    t->out_queued += len;
    if (t->out_limit && t->out_queued >= t->out_limit)
        t->output_full = 1;
    return t->output_full ? WS_AGAIN : WS_OK;
}

/* The test host copies what reaches the end of the chain: released at once. */
int th_phase_filter_next_ref(ws_request *r, const void *data, size_t len, int last, void (*release)(void *), void *arg)
{
    int rc = th_phase_filter_next(r, data, len, last);
    if (release)
        release(arg);
    return rc;
}

/* ---- offload ---- */

typedef struct th_job {
    struct th_job *next;
    th_request *t;
    void (*work)(void *);
    void (*done)(ws_request *, void *);
    void *arg;
    int filter;       /* offloaded from inside body_filter: done runs as a body_filter call */
    pthread_t thread;
    atomic_int finished;
} th_job;

/* A job's done, as the core calls it. */
static void job_done(th_job *j)
{
    th_request *t = j->t;
    if (j->filter)
        t->filter_jobs--;
    if (!j->done)
        return;
    int saved = t->hook_in;
    if (j->filter)
        t->hook_in = 4; /* filter_next goes on from here */
    j->done(&t->req, j->arg);
    t->hook_in = saved;
}

static th_job *jobs;

static void *job_main(void *arg)
{
    th_job *j = arg;
    j->work(j->arg);
    atomic_store(&j->finished, 1);
    return NULL;
}

int th_phase_offload(ws_request *r, void (*work)(void *), void (*done)(ws_request *, void *), void *arg)
{
    th_job *j = work ? calloc(1, sizeof *j) : NULL;
    if (!j)
        return WS_ERROR;
    th_request *t = T(r);
    int filter = t->hook_in == 4;
    if (filter && t->filter_jobs) {
        free(j);
        return WS_ERROR; /* as the core: one body filter work at a time per response */
    }
    *j = (th_job){.t = t, .work = work, .done = done, .arg = arg, .filter = filter};
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        free(j);
        return WS_ERROR;
    }
    j->next = jobs;
    jobs = j;
    t->offloads++;
    t->filter_jobs += filter;
    return WS_OK;
}

int th_offload_poll(void)
{
    int running = 0;
    for (th_job **pp = &jobs; *pp;) {
        th_job *j = *pp;
        if (!atomic_load(&j->finished)) {
            running = 1;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        pthread_join(j->thread, NULL);
        j->t->offloads--;
        job_done(j);
        free(j);
    }
    return running;
}

void th_offload_settle(th_request *t)
{
    for (int again = 1; again;) {
        again = 0;
        for (th_job **pp = &jobs; *pp;) {
            th_job *j = *pp;
            if (j->t != t) {
                pp = &j->next;
                continue;
            }
            *pp = j->next;
            pthread_join(j->thread, NULL);
            t->offloads--;
            if (!th_request_done(t))
                job_done(j);
            else if (j->filter)
                t->filter_jobs--;
            free(j);
            th_pump_body(t); /* done may have resumed a paused body (an upload's disk caught up) */
            again = 1; /* done may have offloaded more: start over */
            break;
        }
    }
}

void th_offload_wait(th_request *t)
{
    for (th_job **pp = &jobs; *pp;) {
        th_job *j = *pp;
        if (j->t != t) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        pthread_join(j->thread, NULL); /* the request's end waits for its works; done is skipped */
        t->offloads--;
        t->filter_jobs -= j->filter;
        free(j);
    }
}

int th_filter_busy(th_request *t)
{
    return t->filter_jobs > 0;
}

int th_filter_wait(th_request *t, int ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (t->filter_jobs > 0) {
        int ran = 0;
        for (th_job **pp = &jobs; *pp; pp = &(*pp)->next) {
            th_job *j = *pp;
            if (j->t != t || !j->filter || !atomic_load(&j->finished))
                continue;
            *pp = j->next;
            pthread_join(j->thread, NULL);
            t->offloads--;
            job_done(j); /* may offload the next work */
            free(j);
            ran = 1;
            break;
        }
        if (ran)
            continue;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > ms)
            return -1;
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    return 0;
}

/*
 * Server-wide metrics in shared memory (metrics.h, docs/operations.md).
 *
 * One anonymous MAP_SHARED block, mapped before the first fork, holds:
 *  - the request series: one per (server, location, module, method), each
 *    with counts per status class, response bytes and a duration histogram.
 *    A worker finds a series once through a hash table in the block (under a
 *    spin lock, only to insert) and keeps its index in a small per-process
 *    cache, so a request costs a cache probe and a few relaxed atomic adds;
 *  - process-wide counters (accepted and dropped connections, reloads,
 *    worker restarts) and the modules' own counters (ws_host.counter);
 *  - one gauge slot per worker: its connection counts, refreshed every
 *    second by the worker (metrics_publish) and at once by the worker that
 *    answers a scrape; the master frees a slot when it reaps the worker.
 * All counters only grow while the block lives (the master's lifetime):
 * reloads and worker restarts keep them, as Prometheus counters expect.
 */
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "request.h"
#include "modules.h"

#define MAX_SERIES 2048 /* beyond it, requests count in one overflow series */
#define KEY_LEN 192
#define MAX_SLOTS 1024
#define MAX_COUNTERS 256
#define N_CLASSES 6 /* "1xx".."5xx", and "none" (no status: the connection ended first) */
#define N_BUCKETS 12

static const double bucket_le[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,    2.5,   10};
static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
#define N_METHODS (sizeof methods / sizeof methods[0] + 1) /* + "other" */

typedef struct series {
    uint32_t used; /* set (release) once key is written */
    char key[KEY_LEN]; /* server \x1f location \x1f module \x1f method */
    uint64_t requests[N_CLASSES];
    uint64_t bytes;
    uint64_t buckets[N_BUCKETS]; /* not cumulative here; summed when printed */
    uint64_t duration_ns;
} series;

typedef struct gauge_slot {
    int32_t pid; /* 0: free */
    uint64_t active, reading, writing, idle;
} gauge_slot;

struct ws_counter {
    uint32_t used;
    char name[96];
    char help[160];
    uint64_t value;
};

typedef struct block {
    uint32_t lock;
    uint64_t accepted, dropped, reloads, restarts;
    uint64_t overflow_requests; /* requests past MAX_SERIES distinct series */
    uint32_t n_series;
    int32_t hash[MAX_SERIES * 2]; /* series index + 1, 0 = empty */
    series series[MAX_SERIES];
    gauge_slot slots[MAX_SLOTS];
    ws_counter counters[MAX_COUNTERS];
} block;

static block *B;
static gauge_slot *my_slot;

static void lock(void)
{
    while (__atomic_exchange_n(&B->lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&B->lock, __ATOMIC_RELAXED))
            ;
}
static void unlock(void) { __atomic_store_n(&B->lock, 0, __ATOMIC_RELEASE); }
static void add(uint64_t *p, uint64_t n) { __atomic_fetch_add(p, n, __ATOMIC_RELAXED); }
static uint64_t get(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

int metrics_init(void)
{
    if (B)
        return 0;
    void *p = mmap(NULL, sizeof *B, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    B = p; /* zero-filled by the kernel */
    return 0;
}

/* ---- workers and process-wide counters ---- */

void metrics_worker_start(void)
{
    if (!B)
        return;
    int32_t me = (int32_t)getpid();
    for (int i = 0; i < MAX_SLOTS; i++) {
        int32_t expect = 0;
        /* A slot whose pid is gone (a master killed with SIGKILL, say) is free too. */
        int32_t was = __atomic_load_n(&B->slots[i].pid, __ATOMIC_RELAXED);
        if (was && was != me && kill(was, 0) < 0 && errno == ESRCH)
            __atomic_compare_exchange_n(&B->slots[i].pid, &was, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&B->slots[i].pid, &expect, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            my_slot = &B->slots[i];
            my_slot->active = my_slot->reading = my_slot->writing = my_slot->idle = 0;
            return;
        }
    }
}

void metrics_worker_gone(pid_t pid, int restarted)
{
    if (!B)
        return;
    for (int i = 0; i < MAX_SLOTS; i++) {
        int32_t was = (int32_t)pid;
        if (__atomic_compare_exchange_n(&B->slots[i].pid, &was, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            break;
    }
    if (restarted)
        add(&B->restarts, 1);
}

void metrics_reload(void)
{
    if (B)
        add(&B->reloads, 1);
}
void metrics_connection_accepted(void)
{
    if (B)
        add(&B->accepted, 1);
}
void metrics_connection_dropped(void)
{
    if (B)
        add(&B->dropped, 1);
}

void metrics_publish(const ws_stats *st)
{
    if (!my_slot)
        return;
    __atomic_store_n(&my_slot->active, st->connections_active, __ATOMIC_RELAXED);
    __atomic_store_n(&my_slot->reading, st->connections_reading, __ATOMIC_RELAXED);
    __atomic_store_n(&my_slot->writing, st->connections_writing, __ATOMIC_RELAXED);
    __atomic_store_n(&my_slot->idle, st->connections_idle, __ATOMIC_RELAXED);
}

/* ---- request series ---- */

static uint32_t hash_key(const char *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

/* The series of `key`, made if new; -1 when the table is full. */
static int series_find(const char *key)
{
    uint32_t h = hash_key(key);
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            lock();
        for (uint32_t i = 0; i < MAX_SERIES * 2; i++) {
            uint32_t at = (h + i) % (MAX_SERIES * 2);
            int32_t idx = __atomic_load_n(&B->hash[at], __ATOMIC_ACQUIRE);
            if (idx == 0) {
                if (!pass)
                    break; /* not there: insert under the lock (another worker may race us) */
                if (B->n_series >= MAX_SERIES) {
                    unlock();
                    return -1;
                }
                series *s = &B->series[B->n_series];
                snprintf(s->key, sizeof s->key, "%s", key);
                __atomic_store_n(&s->used, 1, __ATOMIC_RELEASE);
                __atomic_store_n(&B->hash[at], (int32_t)B->n_series + 1, __ATOMIC_RELEASE);
                int made = (int)B->n_series++;
                unlock();
                return made;
            }
            if (strcmp(B->series[idx - 1].key, key) == 0) {
                if (pass)
                    unlock();
                return idx - 1;
            }
        }
        if (pass) {
            unlock();
            return -1;
        }
    }
    return -1;
}

/* Per-process cache: (location, module, method) → series. Configs are
 * immutable, so the pointers name the same labels while they live; a reload
 * brings new pointers and new entries, and a full cache is simply emptied. */
typedef struct cache_entry {
    const void *loc, *mod;
    int method, series; /* series + 1; 0 = empty */
} cache_entry;
#define CACHE_SIZE 1024
static cache_entry cache[CACHE_SIZE];
static size_t cache_used;

static int method_index(const char *m)
{
    for (size_t i = 0; m && i < N_METHODS - 1; i++)
        if (strcmp(m, methods[i]) == 0)
            return (int)i;
    return (int)N_METHODS - 1;
}

static int series_for(const request *r, int method)
{
    uintptr_t h = ((uintptr_t)r->loc >> 4) ^ ((uintptr_t)r->owner >> 3) ^ (uintptr_t)method * 0x9e37u;
    size_t at = h % CACHE_SIZE;
    for (size_t i = 0; i < CACHE_SIZE; i++, at = (at + 1) % CACHE_SIZE) {
        cache_entry *e = &cache[at];
        if (!e->series)
            break;
        if (e->loc == r->loc && e->mod == r->owner && e->method == method)
            return e->series - 1;
    }
    const server_conf *sv = r->server;
    char key[KEY_LEN];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%s",
             sv ? (sv->n_names ? sv->names[0] : sv->json_path) : "-", r->loc ? r->loc->path : "-",
             r->owner ? r->owner->name : "-", method < (int)N_METHODS - 1 ? methods[method] : "other");
    int s = series_find(key);
    if (s < 0)
        return -1;
    if (cache_used >= CACHE_SIZE / 2) {
        memset(cache, 0, sizeof cache);
        cache_used = 0;
    }
    at = h % CACHE_SIZE;
    while (cache[at].series)
        at = (at + 1) % CACHE_SIZE;
    cache[at] = (cache_entry){r->loc, r->owner, method, s + 1};
    cache_used++;
    return s;
}

void metrics_request(const request *r, uint64_t duration_ns)
{
    if (!B)
        return;
    int s = series_for(r, method_index(r->pub.method));
    if (s < 0) {
        add(&B->overflow_requests, 1);
        return;
    }
    series *x = &B->series[s];
    int cls = r->status >= 100 && r->status <= 599 ? r->status / 100 - 1 : N_CLASSES - 1;
    add(&x->requests[cls], 1);
    add(&x->bytes, r->body_bytes_sent);
    add(&x->duration_ns, duration_ns);
    double secs = (double)duration_ns / 1e9;
    int b = 0;
    while (b < N_BUCKETS && secs > bucket_le[b])
        b++;
    if (b < N_BUCKETS)
        add(&x->buckets[b], 1);
    /* past the last bucket: only +Inf (the count) has it */
}

uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- modules' counters ---- */

static int valid_name(const char *n)
{
    if (!n || !*n || strlen(n) >= sizeof ((ws_counter *)0)->name)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':' ||
              (p > n && *p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

ws_counter *metrics_counter(const char *name, const char *help)
{
    if (!B || !valid_name(name))
        return NULL;
    lock();
    ws_counter *free_one = NULL;
    for (int i = 0; i < MAX_COUNTERS; i++) {
        ws_counter *c = &B->counters[i];
        if (c->used && strcmp(c->name, name) == 0) {
            unlock();
            return c;
        }
        if (!c->used && !free_one)
            free_one = c;
    }
    if (free_one) {
        snprintf(free_one->name, sizeof free_one->name, "%s", name);
        snprintf(free_one->help, sizeof free_one->help, "%s", help ? help : name);
        for (char *p = free_one->help; *p; p++)
            if (*p == '\n' || *p == '\\')
                *p = ' '; /* HELP text: one line, no escapes needed */
        __atomic_store_n(&free_one->used, 1, __ATOMIC_RELEASE);
    }
    unlock();
    return free_one;
}

void metrics_counter_add(ws_counter *c, uint64_t n)
{
    if (c)
        add(&c->value, n);
}

/* ---- the text format 0.0.4 ---- */

typedef struct out {
    arena *pool;
    char *p;
    size_t len, cap;
    int oom;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !o->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *p = arena_alloc(o->pool, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        memcpy(p, o->p, o->len);
        o->p = p;
        o->cap = cap;
    }
}

/* A label value: backslash, double quote and newline escaped (text format 0.0.4). */
static void put_label(out *o, const char *name, const char *v, size_t n, const char *sep)
{
    put(o, "%s%s=\"", sep, name);
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\\' || c == '"')
            put(o, "\\%c", c);
        else if (c == '\n')
            put(o, "\\n");
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

static void put_labels(out *o, const char *key)
{
    static const char *const names[] = {"server", "location", "module", "method"};
    const char *p = key;
    for (int i = 0; i < 4; i++) {
        const char *e = strchr(p, '\x1f');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        put_label(o, names[i], p, n, i ? "," : "");
        p = e ? e + 1 : p + n;
    }
}

static void header(out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(arena *pool, size_t *len)
{
    out o = {.pool = pool, .cap = 8192};
    o.p = arena_alloc(pool, o.cap);
    if (!o.p || !B)
        return NULL;
    static const char *const classes[N_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx", "none"};
    uint32_t n = __atomic_load_n(&B->n_series, __ATOMIC_ACQUIRE);

    header(&o, "webserv_requests_total", "counter",
           "Requests answered, by server, location, module (\"-\": the core), method and status class");
    for (uint32_t i = 0; i < n; i++) {
        series *s = &B->series[i];
        if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE))
            continue;
        for (int c = 0; c < N_CLASSES; c++) {
            uint64_t v = get(&s->requests[c]);
            if (!v)
                continue;
            put(&o, "webserv_requests_total{");
            put_labels(&o, s->key);
            put(&o, ",status=\"%s\"} %llu\n", classes[c], (unsigned long long)v);
        }
    }
    header(&o, "webserv_requests_overflow_total", "counter",
           "Requests not in webserv_requests_total: more distinct label sets than the table holds");
    put(&o, "webserv_requests_overflow_total %llu\n", (unsigned long long)get(&B->overflow_requests));

    header(&o, "webserv_response_bytes_total", "counter", "Response body bytes sent");
    for (uint32_t i = 0; i < n; i++) {
        series *s = &B->series[i];
        if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE))
            continue;
        put(&o, "webserv_response_bytes_total{");
        put_labels(&o, s->key);
        put(&o, "} %llu\n", (unsigned long long)get(&s->bytes));
    }

    header(&o, "webserv_request_duration_seconds", "histogram",
           "Time from the parsed request head to the end of the response");
    for (uint32_t i = 0; i < n; i++) {
        series *s = &B->series[i];
        if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE))
            continue;
        uint64_t total = 0, cum = 0;
        for (int c = 0; c < N_CLASSES; c++)
            total += get(&s->requests[c]);
        for (int b = 0; b < N_BUCKETS; b++) {
            cum += get(&s->buckets[b]);
            put(&o, "webserv_request_duration_seconds_bucket{");
            put_labels(&o, s->key);
            put(&o, ",le=\"%g\"} %llu\n", bucket_le[b], (unsigned long long)(cum < total ? cum : total));
        }
        put(&o, "webserv_request_duration_seconds_bucket{");
        put_labels(&o, s->key);
        put(&o, ",le=\"+Inf\"} %llu\n", (unsigned long long)total);
        put(&o, "webserv_request_duration_seconds_sum{");
        put_labels(&o, s->key);
        put(&o, "} %.9f\n", (double)get(&s->duration_ns) / 1e9);
        put(&o, "webserv_request_duration_seconds_count{");
        put_labels(&o, s->key);
        put(&o, "} %llu\n", (unsigned long long)total);
    }

    uint64_t g[4] = {0, 0, 0, 0}, workers = 0;
    for (int i = 0; i < MAX_SLOTS; i++) {
        gauge_slot *sl = &B->slots[i];
        if (!__atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE))
            continue;
        workers++;
        g[0] += get(&sl->active), g[1] += get(&sl->reading), g[2] += get(&sl->writing), g[3] += get(&sl->idle);
    }
    header(&o, "webserv_connections", "gauge",
           "Open client connections by state, all workers (each refreshes its own every second)");
    static const char *const states[] = {"active", "reading", "writing", "idle"};
    for (int i = 0; i < 4; i++)
        put(&o, "webserv_connections{state=\"%s\"} %llu\n", states[i], (unsigned long long)g[i]);
    header(&o, "webserv_workers", "gauge", "Worker processes running");
    put(&o, "webserv_workers %llu\n", (unsigned long long)workers);
    header(&o, "webserv_connections_accepted_total", "counter", "Client connections accepted");
    put(&o, "webserv_connections_accepted_total %llu\n", (unsigned long long)get(&B->accepted));
    header(&o, "webserv_connections_dropped_total", "counter",
           "Connections the server could not take: accept() failed for lack of descriptors or memory");
    put(&o, "webserv_connections_dropped_total %llu\n", (unsigned long long)get(&B->dropped));
    header(&o, "webserv_reloads_total", "counter", "Configuration reloads that took effect");
    put(&o, "webserv_reloads_total %llu\n", (unsigned long long)get(&B->reloads));
    header(&o, "webserv_worker_restarts_total", "counter", "Workers that died and were started again");
    put(&o, "webserv_worker_restarts_total %llu\n", (unsigned long long)get(&B->restarts));

    for (int i = 0; i < MAX_COUNTERS; i++) {
        ws_counter *c = &B->counters[i];
        if (!__atomic_load_n(&c->used, __ATOMIC_ACQUIRE))
            continue;
        header(&o, c->name, "counter", c->help);
        put(&o, "%s %llu\n", c->name, (unsigned long long)get(&c->value));
    }
    if (o.oom)
        return NULL;
    *len = o.len;
    return o.p;
}

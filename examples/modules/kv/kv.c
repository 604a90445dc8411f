/*
 * mod_kv: a key-value store over HTTP, shared by every worker and kept across
 * reloads, in a shared-memory zone (module ABI 1.2).
 *
 *     "modules": ["kv"],
 *     { "path": "/kv", "root": null, "kv": { "zone": "kv", "size": "1M", "max_value": "64K" } }
 *
 *     PUT    /kv/<key>   body = value   -> 201 Created (new key) or 204 (replaced)
 *     GET    /kv/<key>                  -> 200 and the value, or 404
 *     DELETE /kv/<key>                  -> 204, or 404
 *     GET    /kv/                       -> 200 ["key1", "key2", ...] (JSON, any order)
 *
 * Errors carry a reason (host->error_reason), e.g. 413 "value larger than
 * max_value (65536 bytes)" or 507 "the store is full"; a client that sends
 * Accept: application/json gets them as JSON.
 *
 * The store: a hash table in the zone, its root in host->shm_root. Every
 * access holds the zone's lock for a few microseconds: copy in, copy out,
 * never anything that could block. Entries are linked in with one pointer
 * store and unlinked with one, so a worker killed while holding the lock
 * leaves at worst a wrong count: kv_repair recounts when shm_lock says
 * WS_SHM_OWNER_DIED. Pointers into the zone are fine: it is mapped at the same
 * address in every worker.
 *
 * The module serves no files (WS_MODULE_NO_FILES): a www/kv/ folder under the
 * server's root does not turn GET /kv into a 301.
 *
 * Build:  cc -std=c11 -shared -fPIC $(pkg-config --cflags webserv) kv.c -o mod_kv.so
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <webserv/module.h>

static const ws_host *host;

#define KV_BUCKETS 1024
#define KV_MAX_KEY 200

typedef struct kv_entry {
    struct kv_entry *next;
    uint32_t key_len;
    uint32_t value_len;
    char data[]; /* key, then value */
} kv_entry;

typedef struct kv_table {
    uint64_t count;
    kv_entry *buckets[KV_BUCKETS];
} kv_table;

typedef struct kv_conf {
    ws_shm *zone;
    int64_t max_value;
} kv_conf;

/* One request: the key, and for PUT the body as it arrives. */
typedef struct kv_req {
    const char *key; /* NULL: the listing */
    size_t key_len;
    char *body;
    size_t body_len, body_cap;
    int too_large;
} kv_req;

static int kv_init(const ws_host *h)
{
    host = h;
    /* The zone functions came with ABI 1.2: refuse an older server. */
    return h->abi_minor >= 2 && h->size >= offsetof(ws_host, error_reason) + sizeof h->error_reason ? 0 : -1;
}

static int kv_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    kv_conf *c = host->cfg_alloc(s, sizeof *c);
    const char *zone = "kv";
    int64_t size = 1 << 20;
    int has_max;
    if (host->cfg_string(s, "zone", &zone) < 0 || host->cfg_size(s, "size", &size) < 0 ||
        (has_max = host->cfg_size(s, "max_value", &c->max_value)) < 0)
        return -1;
    if (!has_max) /* absent: 64K, or half of a small zone */
        c->max_value = size / 2 < 64 * 1024 ? size / 2 : 64 * 1024;
    if (size < (int64_t)sizeof(kv_table) + 4096) {
        host->cfg_error(s, "size", "must be at least %zu bytes", sizeof(kv_table) + 4096);
        return -1;
    }
    if (c->max_value < 1 || c->max_value > size / 2) {
        host->cfg_error(s, "max_value", "must be between 1 byte and half the size");
        return -1;
    }
    /* Every location naming the same zone shares it; the core keeps it (and
     * the keys) across reloads while name and size stay the same. */
    c->zone = host->shm_zone(s, zone, (size_t)size);
    if (!c->zone)
        return -1;
    *out = c;
    return 0;
}

/* ---- the table (the zone's lock held) ---- */

static uint64_t kv_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

static kv_table *kv_table_of(ws_shm *z)
{
    void **root = host->shm_root(z);
    if (!*root) {
        kv_table *t = host->shm_alloc(z, sizeof *t);
        if (!t)
            return NULL;
        memset(t, 0, sizeof *t);
        *root = t; /* published last: a half-made table is never seen */
    }
    return *root;
}

/* A holder died inside: entries are linked or not (single stores), only the
 * count may be wrong. */
static void kv_repair(kv_table *t)
{
    uint64_t n = 0;
    for (size_t b = 0; b < KV_BUCKETS; b++)
        for (kv_entry *e = t->buckets[b]; e; e = e->next)
            n++;
    t->count = n;
}

static kv_table *kv_lock(const kv_conf *c)
{
    int rc = host->shm_lock(c->zone);
    if (rc == WS_ERROR)
        return NULL;
    kv_table *t = kv_table_of(c->zone);
    if (rc == WS_SHM_OWNER_DIED && t)
        kv_repair(t);
    if (!t)
        host->shm_unlock(c->zone);
    return t;
}

static kv_entry **kv_find(kv_table *t, const char *k, size_t n)
{
    kv_entry **p = &t->buckets[kv_hash(k, n) % KV_BUCKETS];
    for (; *p; p = &(*p)->next)
        if ((*p)->key_len == n && memcmp((*p)->data, k, n) == 0)
            return p;
    return p; /* *p == NULL: the end of the chain, where a new key goes */
}

/* ---- requests ---- */

static int kv_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

/* The key: what follows "<location>/", percent-decoded by the core. */
static int kv_parse_key(ws_request *r, kv_req *q)
{
    size_t ln = strlen(r->location);
    const char *k = r->path + (strcmp(r->location, "/") == 0 ? 0 : ln);
    if (*k == '/')
        k++;
    q->key_len = strlen(k);
    q->key = q->key_len ? k : NULL;
    if (q->key_len > KV_MAX_KEY)
        return host->error_reason(r, 414, "key longer than 200 bytes"), -1;
    if (q->key && strchr(q->key, '/'))
        return host->error_reason(r, 400, "a key must not contain '/'"), -1;
    return 0;
}

static void kv_answer(ws_request *r, int status, const char *type, const char *body, size_t n)
{
    host->set_status(r, status);
    if (type)
        host->add_header(r, "Content-Type", type);
    host->set_length(r, (int64_t)n);
    if (n)
        host->write(r, body, n);
    host->finish(r);
}

static void kv_get(ws_request *r, const kv_conf *c, kv_req *q)
{
    kv_table *t = kv_lock(c);
    if (!t) {
        host->error_reason(r, 500, "the store's lock failed");
        return;
    }
    kv_entry *e = *kv_find(t, q->key, q->key_len);
    char *copy = e ? host->alloc(r, e->value_len + 1) : NULL;
    size_t n = e ? e->value_len : 0;
    if (copy)
        memcpy(copy, e->data + e->key_len, n); /* copied out: the lock is not held while sending */
    host->shm_unlock(c->zone);
    if (!e)
        host->error_reason(r, 404, "no such key");
    else if (!copy)
        host->error(r, 500);
    else
        kv_answer(r, 200, "application/octet-stream", copy, n);
}

/* JSON string escaping (RFC 8259 §7) of a key into out; returns bytes written. */
static size_t json_string(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[ch >> 4];
            out[o + 5] = hex[ch & 15];
            o += 6;
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    return o;
}

static void kv_list(ws_request *r, const kv_conf *c)
{
    kv_table *t = kv_lock(c);
    if (!t) {
        host->error_reason(r, 500, "the store's lock failed");
        return;
    }
    size_t cap = 4;
    for (size_t b = 0; b < KV_BUCKETS; b++)
        for (kv_entry *e = t->buckets[b]; e; e = e->next)
            cap += e->key_len * 6 + 4;
    char *out = host->alloc(r, cap);
    size_t o = 0;
    if (out) {
        out[o++] = '[';
        for (size_t b = 0; b < KV_BUCKETS; b++)
            for (kv_entry *e = t->buckets[b]; e; e = e->next) {
                if (o > 1)
                    out[o++] = ',';
                o += json_string(out + o, e->data, e->key_len);
            }
        out[o++] = ']';
    }
    host->shm_unlock(c->zone);
    if (!out)
        host->error(r, 500);
    else
        kv_answer(r, 200, "application/json", out, o);
}

static void kv_delete(ws_request *r, const kv_conf *c, kv_req *q)
{
    kv_table *t = kv_lock(c);
    if (!t) {
        host->error_reason(r, 500, "the store's lock failed");
        return;
    }
    kv_entry **p = kv_find(t, q->key, q->key_len), *e = *p;
    if (e) {
        *p = e->next; /* unlinked in one store */
        t->count--;
        host->shm_free(c->zone, e);
    }
    host->shm_unlock(c->zone);
    if (e)
        kv_answer(r, 204, NULL, NULL, 0);
    else
        host->error_reason(r, 404, "no such key");
}

static void kv_put(ws_request *r, const kv_conf *c, kv_req *q)
{
    kv_table *t = kv_lock(c);
    if (!t) {
        host->error_reason(r, 507, "the store is full");
        return;
    }
    kv_entry *e = host->shm_alloc(c->zone, sizeof *e + q->key_len + q->body_len);
    kv_entry **p = kv_find(t, q->key, q->key_len), *old = *p;
    if (e) {
        e->key_len = (uint32_t)q->key_len;
        e->value_len = (uint32_t)q->body_len;
        memcpy(e->data, q->key, q->key_len);
        if (q->body_len)
            memcpy(e->data + q->key_len, q->body, q->body_len);
        /* Filled in first, then linked with one store (in place of the old
         * entry, or at the chain's end). */
        e->next = old ? old->next : NULL;
        *p = e;
        if (old)
            host->shm_free(c->zone, old);
        else
            t->count++;
    }
    host->shm_unlock(c->zone);
    if (!e)
        host->error_reason(r, 507, "the store is full");
    else
        kv_answer(r, old ? 204 : 201, NULL, NULL, 0);
}

static int kv_handle(ws_request *r)
{
    const kv_conf *c = r->conf;
    kv_req *q = host->alloc(r, sizeof *q);
    if (!q)
        return 500;
    r->ctx = q;
    if (kv_parse_key(r, q) < 0)
        return 0; /* answered */
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (!q->key && get) {
        kv_list(r, c);
        return 0;
    }
    if (!q->key) {
        host->error_reason(r, 405, "only GET lists the keys; name a key as <location>/<key>");
        return 0;
    }
    if (get) {
        kv_get(r, c, q);
    } else if (strcmp(r->method, "DELETE") == 0) {
        kv_delete(r, c, q);
    } else { /* PUT: the value is the body */
        if (r->content_length > c->max_value) {
            char why[96];
            snprintf(why, sizeof why, "value larger than max_value (%lld bytes)", (long long)c->max_value);
            host->error_reason(r, 413, why);
            return 0;
        }
        /* Content-Length when known, else (chunked) up to max_value. */
        q->body_cap = r->content_length >= 0 ? (size_t)r->content_length : (size_t)c->max_value;
        q->body = host->alloc(r, q->body_cap + 1);
        if (!q->body)
            return 500;
        host->read_body(r); /* on_body, then on_body_end (also for an empty body) */
    }
    return 0;
}

static size_t kv_on_body(ws_request *r, const char *data, size_t len)
{
    kv_req *q = r->ctx;
    if (len > q->body_cap - q->body_len) {
        q->too_large = 1; /* a chunked body with no length: found out while reading */
        return len;
    }
    memcpy(q->body + q->body_len, data, len);
    q->body_len += len;
    return len;
}

static void kv_on_body_end(ws_request *r)
{
    const kv_conf *c = r->conf;
    kv_req *q = r->ctx;
    if (q->too_large) {
        char why[96];
        snprintf(why, sizeof why, "value larger than max_value (%lld bytes)", (long long)c->max_value);
        host->error_reason(r, 413, why);
        return;
    }
    kv_put(r, c, q);
}

static const char *const kv_methods[] = {"GET", "HEAD", "PUT", "DELETE", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "kv",
    .methods = kv_methods,
    .init = kv_init,
    .configure = kv_configure,
    .match = kv_match,
    .handle = kv_handle,
    .on_body = kv_on_body,
    .on_body_end = kv_on_body_end,
    .flags = WS_MODULE_NO_FILES,
};

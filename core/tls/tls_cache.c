/*
 * The TLS session cache, shared by every worker: TLS 1.2 session ids and
 * TLS 1.3 stateful tickets (session_tickets off) resume whichever worker the
 * client reaches next, like the tickets do (tls_tickets.c).
 *
 * It lives in a shared-memory zone of the core (core/module/shm_zone.c),
 * made while the config loads, before the workers fork; a reload with the
 * same size keeps it, sessions included. Inside: a fixed table of slots,
 * each one DER-encoded session (i2d_SSL_SESSION) under its id, found by the
 * id's hash with a short linear probe; a full probe window replaces its
 * oldest slot. A session too large for a slot (a long client certificate
 * chain) is not cached: the client then makes a full handshake.
 *
 * OpenSSL's own per-process cache is off (SSL_SESS_CACHE_NO_INTERNAL), so
 * there is one cache, not one per worker.
 */
#include <openssl/ssl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shm_zone.h"
#include "tls_internal.h"

#define CACHE_BYTES ((size_t)8 << 20)
#define SLOT_DER 1000
#define PROBE 8

typedef struct slot {
    uint64_t expires;   /* seconds since the epoch; 0 = empty */
    uint64_t stored;    /* when it was stored, to pick the oldest */
    unsigned char id_len;
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    uint16_t der_len;
    unsigned char der[SLOT_DER];
} slot;

typedef struct table {
    size_t n;
    slot slots[];
} table;

static int zone_index = -1; /* SSL_CTX ex data: the shm_zone */

/* Zero part of the zone without making it resident: its whole pages go back
 * to the system (MADV_REMOVE: the zone is a shared anonymous mapping, which
 * reads as zeros after it), only the partial pages at the ends are written.
 * A memset of the new table made all 8 MiB resident in the worker that took
 * the first TLS connection (its RSS: 8 KiB a connection for a thousand). */
static void zero_zone(void *p, size_t n)
{
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096, a = (uintptr_t)p, e = a + n;
    uintptr_t pa = (a + page - 1) & ~(page - 1), pe = e & ~(page - 1);
    if (pe > pa && madvise((void *)pa, pe - pa, MADV_REMOVE) == 0) {
        memset(p, 0, pa - a);
        memset((void *)pe, 0, e - pe);
        return;
    }
    memset(p, 0, n);
}

static uint64_t hash_id(const unsigned char *id, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: ids are random already */
    for (size_t i = 0; i < n; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    return h;
}

/* Lock the zone and find its table (made on first use). NULL: no cache now. */
static table *lock_table(shm_zone *z)
{
    int rc = shm_zone_lock(z);
    if (rc < 0)
        return NULL;
    void **root = shm_zone_root(z);
    table *t = *root;
    if (rc == 2 && t) {
        /* A worker died holding the lock: a slot may be half written. */
        zero_zone(t->slots, t->n * sizeof t->slots[0]);
        log_msg(WS_LOG_WARN, "WS1530", "TLS session cache emptied: a worker died while writing it");
    }
    if (!t) {
        size_t n = (shm_zone_size(z) - 4096) / sizeof(slot);
        t = shm_zone_alloc(z, sizeof *t + n * sizeof(slot));
        if (!t) {
            shm_zone_unlock(z);
            return NULL;
        }
        zero_zone(t, sizeof *t + n * sizeof(slot));
        t->n = n;
        *root = t;
    }
    return t;
}

static slot *find(table *t, const unsigned char *id, size_t len)
{
    size_t h = (size_t)(hash_id(id, len) % t->n);
    for (size_t i = 0; i < PROBE; i++) {
        slot *s = &t->slots[(h + i) % t->n];
        if (s->expires && s->id_len == len && memcmp(s->id, id, len) == 0)
            return s;
    }
    return NULL;
}

static shm_zone *zone_of(SSL_CTX *ctx)
{
    return zone_index >= 0 ? SSL_CTX_get_ex_data(ctx, zone_index) : NULL;
}

static int new_cb(SSL *ssl, SSL_SESSION *sess)
{
    /* A TLS 1.3 ticket sealed with the ticket keys carries its session:
     * resuming it never asks the cache (OpenSSL calls this for every such
     * ticket anyway, "to let applications know"), so storing it would only
     * cost an encoding, a lock and a copy per ticket and push out sessions
     * that the cache is for: TLS 1.2 session ids, and TLS 1.3 stateful
     * tickets when session_tickets is off. */
    if (SSL_version(ssl) >= TLS1_3_VERSION && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET))
        return 0;
    shm_zone *z = zone_of(SSL_get_SSL_CTX(ssl));
    unsigned int len = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    int der_len = i2d_SSL_SESSION(sess, NULL);
    if (!z || !len || len > SSL_MAX_SSL_SESSION_ID_LENGTH || der_len <= 0 || der_len > SLOT_DER)
        return 0;
    unsigned char der[SLOT_DER], *p = der;
    i2d_SSL_SESSION(sess, &p);
    uint64_t now = (uint64_t)time(NULL);
    table *t = lock_table(z);
    if (!t)
        return 0;
    size_t h = (size_t)(hash_id(id, len) % t->n);
    slot *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot *s = &t->slots[(h + i) % t->n];
        if (!s->expires || s->expires <= now || (s->id_len == len && memcmp(s->id, id, len) == 0)) {
            victim = s;
            break;
        }
        if (!victim || s->stored < victim->stored)
            victim = s;
    }
    victim->expires = (uint64_t)SSL_SESSION_get_time(sess) + (uint64_t)SSL_SESSION_get_timeout(sess);
    victim->stored = now;
    victim->id_len = (unsigned char)len;
    memcpy(victim->id, id, len);
    victim->der_len = (uint16_t)der_len;
    memcpy(victim->der, der, (size_t)der_len);
    shm_zone_unlock(z);
    return 0; /* we keep no reference to sess */
}

static SSL_SESSION *get_cb(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    *copy = 0;
    shm_zone *z = zone_of(SSL_get_SSL_CTX(ssl));
    if (!z || len <= 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return NULL;
    unsigned char der[SLOT_DER];
    size_t der_len = 0;
    table *t = lock_table(z);
    if (!t)
        return NULL;
    slot *s = find(t, id, (size_t)len);
    if (s && s->expires > (uint64_t)time(NULL)) {
        der_len = s->der_len;
        memcpy(der, s->der, der_len);
    }
    shm_zone_unlock(z);
    const unsigned char *p = der;
    return der_len ? d2i_SSL_SESSION(NULL, &p, (long)der_len) : NULL;
}

static void remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    shm_zone *z = zone_of(ctx);
    unsigned int len = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    if (!z || !len || len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return;
    table *t = lock_table(z);
    if (!t)
        return;
    slot *s = find(t, id, len);
    if (s)
        s->expires = 0;
    shm_zone_unlock(z);
}

int tls_cache_attach(SSL_CTX *ctx, shm_zone_set *zones, char *err, size_t errlen)
{
    if (zone_index < 0)
        zone_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    int what = 0;
    size_t old = 0;
    shm_zone *z = shm_zone_get(zones, "core", "tls_sessions", CACHE_BYTES, &what, &old, err, errlen);
    if (!z)
        return -1;
    SSL_CTX_set_ex_data(ctx, zone_index, z);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, new_cb);
    SSL_CTX_sess_set_get_cb(ctx, get_cb);
    SSL_CTX_sess_set_remove_cb(ctx, remove_cb);
    return 0;
}

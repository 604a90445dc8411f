/*
 * mod_auth_basic (SPEC §6): HTTP Basic authentication (RFC 7617) in the
 * access phase (ABI 1.2), in front of whatever handler the location has.
 *
 *   "auth_basic": {"realm": "Private", "user_file": "users.htpasswd", "cache_seconds": 60}
 *
 * No or malformed credentials, an unknown user or a wrong password → 401 with
 * WWW-Authenticate: Basic realm="…", charset="UTF-8" (RFC 7617 §2.1). The
 * password hash is checked on the core's offload pool (host->offload), so a
 * bcrypt of cost 12 (a quarter second of CPU) never stalls other clients; a
 * verified pair is then remembered for cache_seconds as a keyed hash (cache.c).
 * A verified request carries r->remote_user and auth_type "Basic" (CGI's
 * REMOTE_USER and AUTH_TYPE; the cgi module then drops HTTP_AUTHORIZATION).
 * The user file is re-read when it changes, without a reload (users.c).
 * Requests with the same credential that miss the cache while its
 * verification runs wait for that one instead of hashing again (flight.c).
 *
 * Counters (metrics module): webserv_auth_basic_verifications_total (hashes
 * checked) and webserv_auth_basic_shared_total (requests answered from
 * another request's check).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth_basic.h"

static const ws_host *host;
extern const ws_module webserv_module;
static ws_counter *verifications, *shared;

typedef struct ab_conf {
    int kind; /* AB_KIND_CONF: a request's slot holds the conf that verified it */
    ab_file *file;
    const char *challenge; /* the WWW-Authenticate value */
    double cache_seconds;
} ab_conf;

/* One verification on the pool: everything the work needs is copied in. */
typedef struct ab_job {
    int kind;         /* AB_KIND_JOB */
    const ab_conf *conf;
    ab_flight flight; /* the requests waiting for this verification (flight.c) */
    int in_flight;    /* flight registered and not settled yet */
    char user[AB_MAX_USER + 1];
    char *pass;       /* request memory, wiped after */
    char *hash;       /* a copy: the table may be re-read meanwhile */
    int known;        /* the user exists (else a decoy hash is checked, and fails) */
    int ok;
    unsigned char key[AB_KEY_LEN];
} ab_job;

/* A bcrypt hash of nothing anyone can type, checked for unknown users so
 * that "no such user" takes as long as "wrong password". */
static const char decoy[] = "$2y$12$C6UzMDM.H6dfI/f/IKxGhu5cV5GbIY3iAQl7R9Wk3GWv5KxYsb/Zu";

/* How many requests' slots hold a job or a waiter (ab_log has work only for
 * those): while none does, the log hook returns at once instead of looking
 * up the request's slot after every response. */
static size_t busy_slots;

static int busy(const void *v)
{
    return v && *(const int *)v != AB_KIND_CONF;
}

/* Every change of a slot's value goes through here (busy_slots stays true). */
static void slot_put(void **slot, void *v)
{
    busy_slots -= (size_t)busy(*slot);
    busy_slots += (size_t)busy(v);
    *slot = v;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int ab_init(const ws_host *h)
{
    host = h;
    if (h->abi_minor < 2 || h->size < offsetof(ws_host, cfg_kind) + sizeof h->cfg_kind)
        return -1;
    if (h->size >= offsetof(ws_host, counter_add) + sizeof h->counter_add && h->counter && h->counter_add) {
        verifications = h->counter("webserv_auth_basic_verifications_total",
                                   "Password hashes checked by auth_basic (cache misses)");
        shared = h->counter("webserv_auth_basic_shared_total",
                            "auth_basic requests answered from another request's password check");
    }
    return ab_cache_init();
}

static void count(ws_counter *c, uint64_t n)
{
    if (c)
        host->counter_add(c, n);
}

static void ab_fini(void)
{
    ab_flights_forget();
    ab_cache_clear();
    ab_files_free();
    ab_cache_free();
}

/* realm as an RFC 9110 §5.6.4 quoted-string. */
static const char *challenge_of(const ws_settings *s, const char *realm)
{
    size_t n = strlen(realm);
    char *out = host->cfg_alloc(s, 2 * n + 48), *o = out;
    if (!out)
        return NULL;
    o += sprintf(o, "Basic realm=\"");
    for (const char *p = realm; *p; p++) {
        if (*p == '"' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    strcpy(o, "\", charset=\"UTF-8\"");
    return out;
}

static int ab_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    ab_conf *c = host->cfg_alloc(s, sizeof *c);
    const char *realm = NULL, *path = NULL;
    if (!c)
        return -1;
    c->kind = AB_KIND_CONF;
    c->cache_seconds = 60;
    int rr = host->cfg_string(s, "realm", &realm), rp = host->cfg_path(s, "user_file", &path);
    if (rr < 0 || rp < 0 || host->cfg_seconds(s, "cache_seconds", &c->cache_seconds) < 0)
        return -1;
    if (rr == 0 || rp == 0) {
        host->cfg_error(s, rr == 0 ? "realm" : "user_file", "required");
        return -1;
    }
    for (const char *p = realm; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            host->cfg_error(s, "realm", "control characters are not allowed");
            return -1;
        }
    char err[512];
    if (!(c->file = ab_file_get(path, err, sizeof err))) {
        host->cfg_error(s, "user_file", "%s", err);
        return -1;
    }
    if (!(c->challenge = challenge_of(s, realm)))
        return -1;
    *out = c;
    return 0;
}

static int deny(ws_request *r, const ab_conf *c)
{
    host->add_header(r, "WWW-Authenticate", c->challenge);
    return 401;
}

static void verify_work(void *arg)
{
    ab_job *j = arg;
    int ok = ab_verify(j->pass, j->hash);
    j->ok = ok && j->known;
}

static void wipe(ab_job *j)
{
    explicit_bzero(j->pass, strlen(j->pass));
}

/* A waiter's answer, from its own timer (armed at settle): phase_done from
 * an event of the request itself, so the core carries on with it. */
static void wake(ws_request *r, void *arg)
{
    ab_waiter *w = arg;
    const ab_conf *c = w->conf;
    w->wake = NULL;
    void **slot = host->module_ctx(r, &webserv_module);
    if (slot)
        slot_put(slot, NULL); /* settled: the log hook has nothing left to do */
    if (!w->ok) {
        host->log(WS_LOG_INFO, r, "user \"%s\": wrong password or unknown user", w->user);
        host->phase_done(r, deny(r, c));
        return;
    }
    if (host->set_user(r, w->user, "Basic") != WS_OK) {
        host->phase_done(r, deny(r, c));
        return;
    }
    if (slot)
        slot_put(slot, (void *)c);
    host->phase_done(r, WS_CONTINUE);
}

/* The verification's result is known: cache it (when right) and answer every
 * request that waited for it. Once, from its done or, when the leader's
 * client left, from the leader's log hook. */
static void settle(ws_request *r, ab_job *j)
{
    const ab_conf *c = j->conf;
    if (j->ok && c->cache_seconds > 0)
        ab_cache_put(j->key, now_ms() + (uint64_t)(c->cache_seconds * 1000), j->user);
    if (!j->in_flight)
        return;
    j->in_flight = 0;
    uint64_t n = 0;
    for (ab_waiter *w = ab_flight_settle(&j->flight), *next; w; w = next) {
        next = w->next;
        w->next = w->prev = NULL;
        w->ok = j->ok;
        memcpy(w->user, j->user, sizeof w->user);
        /* A failed timer leaves it to its deferral's deadline (500). */
        if (!(w->wake = host->timer_start(w->r, 0, wake, w)))
            host->log(WS_LOG_ERROR, r, "cannot answer a request waiting for the same credential (out of memory)");
        n++;
    }
    count(shared, n);
}

static void verify_done(ws_request *r, void *arg)
{
    ab_job *j = arg;
    const ab_conf *c = j->conf;
    wipe(j);
    settle(r, j);
    void **slot = host->module_ctx(r, &webserv_module);
    if (slot)
        slot_put(slot, NULL); /* settled: the log hook has nothing left to do */
    if (!j->ok) {
        host->log(WS_LOG_INFO, r, "user \"%s\": wrong password or unknown user", j->user);
        host->phase_done(r, deny(r, c));
        return;
    }
    if (host->set_user(r, j->user, "Basic") != WS_OK) {
        host->phase_done(r, deny(r, c));
        return;
    }
    if (slot)
        slot_put(slot, (void *)c);
    host->phase_done(r, WS_CONTINUE);
}

/* After the response, or after the client left (then after the work
 * returned, its done skipped): a leader's result still fills the cache and
 * answers its waiters; a waiter leaves its flight. */
static void ab_log(ws_request *r, const ws_log_info *info)
{
    (void)info;
    if (!busy_slots)
        return; /* no request holds a job or a waiter: neither does this one */
    void **slot = host->module_ctx(r, &webserv_module);
    if (!slot || !*slot)
        return;
    int kind = *(const int *)*slot;
    if (kind == AB_KIND_WAITER) {
        ab_flight_leave(*slot);
    } else if (kind == AB_KIND_JOB) {
        ab_job *j = *slot;
        wipe(j);
        settle(r, j);
    }
    slot_put(slot, NULL);
}

/* Wait for the verification of the same credential that runs already.
 * WS_DEFER, 500, or -1 when its flight is full (then verify alone). */
static int join(ws_request *r, const ab_conf *c, ab_flight *f, void **slot)
{
    if (!slot || f->n_waiters >= AB_FLIGHT_WAITERS)
        return -1;
    ab_waiter *w = host->alloc(r, sizeof *w);
    if (!w)
        return 500;
    memset(w, 0, sizeof *w);
    w->kind = AB_KIND_WAITER;
    w->r = r;
    w->conf = c;
    if (ab_flight_join(f, w) < 0)
        return -1;
    slot_put(slot, w);
    return WS_DEFER;
}

/* The user file, re-read if it changed; NULL when it cannot be used (logged).
 * Looked at once a second at most (like nginx's open_file_cache_valid): an
 * open and fstat per request cost as much as the rest of a cached request,
 * and a changed file is still picked up within a second, without a reload. */
static const ab_table *current_users(ws_request *r, const ab_conf *c, uint64_t now)
{
    if (ab_file_checked_since(c->file, now, 1000))
        return ab_file_table(c->file);
    struct stat st;
    int fd = host->open_file(r, ab_file_path(c->file), &st);
    if (fd < 0) {
        host->log(WS_LOG_ERROR, r, "%s: cannot read the user file", ab_file_path(c->file));
        return NULL;
    }
    ab_file_checked(c->file, now);
    char err[512];
    if (ab_file_refresh(c->file, fd, &st, err, sizeof err) < 0)
        host->log(WS_LOG_ERROR, r, "%s (the previous version stays in use)", err);
    return ab_file_table(c->file);
}

static int ab_access(ws_request *r)
{
    const ab_conf *c = r->conf;
    if (!c)
        return WS_CONTINUE;
    /* Routed again to the same rules (a rewrite, an internal redirect): already verified. */
    void **slot = host->module_ctx(r, &webserv_module);
    if (slot && *slot == c)
        return WS_CONTINUE;
    const char *auth = host->header(r, "Authorization");
    const char *token;
    size_t token_len;
    if (!auth || ab_basic_token(auth, &token, &token_len) < 0)
        return deny(r, c);
    uint64_t now = now_ms();
    const ab_table *users = current_users(r, c, now);
    unsigned char key[AB_KEY_LEN] = {0};
    if (users) {
        ab_cache_key(ab_file_version(c->file), token, token_len, key);
        /* A credential verified lately: its user, with no decoding, no copy
         * and no allocation. */
        const char *cached = c->cache_seconds > 0 ? ab_cache_hit(key, now) : NULL;
        if (cached) {
            /* key is not wiped here: the cache holds the same bytes. */
            if (host->set_user(r, cached, "Basic") != WS_OK)
                return 500;
            if (slot)
                slot_put(slot, (void *)c);
            return WS_CONTINUE;
        }
        /* The same credential is being verified right now: wait for that. */
        ab_flight *f = ab_flight_find(key);
        if (f) {
            int rc = join(r, c, f, slot);
            if (rc != -1) {
                explicit_bzero(key, sizeof key);
                return rc;
            }
        }
    }
    char buf[AB_MAX_PASS + 1]; /* the decoded "user:password" */
    const char *user, *pass;
    if (ab_parse_authorization(auth, buf, sizeof buf, &user, &pass) < 0 || strlen(user) >= sizeof ((ab_job *)0)->user) {
        explicit_bzero(buf, sizeof buf);
        explicit_bzero(key, sizeof key);
        return deny(r, c);
    }
    if (!users) {
        explicit_bzero(buf, sizeof buf);
        return 500;
    }
    const char *hash = ab_table_find(users, user);
    ab_job *j = host->alloc(r, sizeof *j);
    if (!j) {
        explicit_bzero(buf, sizeof buf);
        explicit_bzero(key, sizeof key);
        return 500;
    }
    j->kind = AB_KIND_JOB;
    j->conf = c;
    j->in_flight = 0;
    j->known = hash != NULL;
    strcpy(j->user, user);
    j->hash = host->strdup(r, hash ? hash : decoy);
    j->pass = host->strdup(r, pass);
    explicit_bzero(buf, sizeof buf);
    memcpy(j->key, key, sizeof key); /* put in the cache only once verified (verify_done) */
    explicit_bzero(key, sizeof key);
    if (!j->hash || !j->pass)
        return 500;
    if (host->offload(r, verify_work, verify_done, j) != WS_OK) {
        wipe(j);
        return 500;
    }
    count(verifications, 1);
    if (slot) {
        /* Others with this credential wait for this one; the log hook finds
         * it through the slot when the client leaves first. Without a slot
         * (out of memory) it simply is not shared. */
        slot_put(slot, j);
        if (users && !ab_flight_find(j->key)) {
            ab_flight_start(&j->flight, j->key);
            j->in_flight = 1;
        }
    }
    return WS_DEFER;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "auth_basic",
    .init = ab_init,
    .fini = ab_fini,
    .configure = ab_configure,
    .access = ab_access,
    .log_request = ab_log,
};

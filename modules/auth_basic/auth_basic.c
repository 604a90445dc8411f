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
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth_basic.h"

static const ws_host *host;
extern const ws_module webserv_module;

typedef struct ab_conf {
    ab_file *file;
    const char *challenge; /* the WWW-Authenticate value */
    double cache_seconds;
} ab_conf;

/* One verification on the pool: everything the work needs is copied in. */
typedef struct ab_job {
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
    return ab_cache_init();
}

static void ab_fini(void)
{
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

static void verify_done(ws_request *r, void *arg)
{
    ab_job *j = arg;
    const ab_conf *c = r->conf;
    wipe(j);
    if (!j->ok) {
        host->log(WS_LOG_INFO, r, "user \"%s\": wrong password or unknown user", j->user);
        host->phase_done(r, deny(r, c));
        return;
    }
    if (c->cache_seconds > 0)
        ab_cache_put(j->key, now_ms() + (uint64_t)(c->cache_seconds * 1000), j->user);
    if (host->set_user(r, j->user, "Basic") != WS_OK) {
        host->phase_done(r, deny(r, c));
        return;
    }
    void **slot = host->module_ctx(r, &webserv_module);
    if (slot)
        *slot = (void *)c;
    host->phase_done(r, WS_CONTINUE);
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
            explicit_bzero(key, sizeof key);
            if (host->set_user(r, cached, "Basic") != WS_OK)
                return 500;
            if (slot)
                *slot = (void *)c;
            return WS_CONTINUE;
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
    if (slot)
        *slot = NULL;
    return WS_DEFER;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "auth_basic",
    .init = ab_init,
    .fini = ab_fini,
    .configure = ab_configure,
    .access = ab_access,
};

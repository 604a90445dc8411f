/*
 * The host function table handed to every module: the one place that maps
 * the public API (include/webserv/module.h) onto the core's internals.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "config.h"
#include "request.h"
#include "fs_cache.h"
#include "header_rules.h"
#include "http_cond.h"
#include "log.h"
#include "mime.h"
#include "metrics.h"
#include "modules.h"
#include "phase.h"
#include "response.h"
#include "server.h"
#include "settings.h"
#include "shm_zone.h"

/* ws_request is the first member of request. */
static request *R(const ws_request *p)
{
    return (request *)(void *)p;
}

static void host_log(int level, const ws_request *r, const char *fmt, ...)
{
    if (level > log_level())
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *mod = r && R(r)->calling ? R(r)->calling->name : r && R(r)->owner ? R(r)->owner->name : "module";
    /* The module's own text ends the line (tools and tests read it there);
     * the request's context goes before it. */
    const log_ctx *ctx = log_context_set(NULL);
    if (r) {
        const log_ctx *c = &R(r)->logctx;
        const char *v6 = c->client && strchr(c->client, ':') ? "[" : "";
        log_msg(level, "WS0900", "[%s] %s %s (client: %s%s%s:%u, while %s): %s", mod, r->method ? r->method : "-",
                r->path ? r->path : "-", v6, c->client ? c->client : "-", *v6 ? "]" : "", c->port,
                c->doing ? c->doing : "-", msg);
    } else {
        log_msg(level, "WS0900", "[%s] %s", mod, msg);
    }
    log_context_set(ctx);
}

static void *host_alloc(ws_request *r, size_t n)
{
    return arena_alloc(R(r)->pool, n);
}

static char *host_strdup(ws_request *r, const char *s)
{
    return arena_strdup(R(r)->pool, s);
}

static const char *host_header(const ws_request *r, const char *name)
{
    return req_header(R(r), name);
}

static int host_set_status(ws_request *r, int status)
{
    if (!header_rules_status_ok(status) || R(r)->head_sent)
        return WS_ERROR;
    R(r)->status = status;
    return WS_OK;
}

static int host_add_header(ws_request *r, const char *name, const char *value)
{
    size_t n, vn;
    if (R(r)->head_sent || !header_rules_field_len(name, value, &n, &vn))
        return WS_ERROR;
    return resp_header_add(R(r), name, n, value, vn) == 0 ? WS_OK : WS_ERROR;
}

static int host_set_length(ws_request *r, int64_t len)
{
    if (R(r)->head_sent || len < -1)
        return WS_ERROR;
    R(r)->length = len;
    return WS_OK;
}

static int host_set_validators(ws_request *r, const struct stat *st)
{
    request *q = R(r);
    if (q->head_sent)
        return WS_ERROR;
    etag_from_stat((int64_t)st->st_mtim.tv_sec, (int64_t)st->st_mtim.tv_nsec, (int64_t)st->st_size,
                   (uint64_t)st->st_ino, q->etag, sizeof q->etag);
    q->last_modified = st->st_mtim.tv_sec;
    q->has_validators = 1;
    return WS_OK;
}

static int host_write(ws_request *r, const void *data, size_t len)
{
    return resp_write(R(r), data, len);
}

static int host_send_file(ws_request *r, int fd, off_t off, int64_t len)
{
    return resp_send_file(R(r), fd, off, len);
}

static int host_open_file(ws_request *r, const char *path, struct stat *st)
{
    request *q = R(r);
    req_file *f = path && st ? arena_alloc(q->pool, sizeof *f) : NULL;
    if (!f) {
        errno = path && st ? ENOMEM : EINVAL;
        return -1;
    }
    /* The request's own file is opened as the stat it was routed with (its
     * headers describe that one); any other path (a precompressed variant,
     * auth_basic's user file) as the file cache knows it now. */
    const struct stat *known =
        r->fs_type == WS_FS_FILE && r->fs_path && strcmp(path, r->fs_path) == 0 ? &r->fs_stat : NULL;
    f->fd = fs_cache_open(path, known, st, &f->ref);
    if (f->fd < 0)
        return -1;
    f->next = q->files;
    q->files = f;
    return f->fd;
}

static uint64_t host_dir_version(ws_request *r, const char *dir)
{
    (void)r;
    return dir ? fs_cache_dir_version(dir) : 0;
}

static int host_finish(ws_request *r)
{
    return resp_finish(R(r));
}

static int host_error(ws_request *r, int status)
{
    request *q = R(r);
    if (q->finished && q->hook_in != HOOK_BODY_FILTER)
        return WS_ERROR; /* (a body filter, or its offloaded work's done, may fail a finished response) */
    return resp_error(q, status);
}

static int host_internal_redirect(ws_request *r, const char *uri)
{
    request *q = R(r);
    if (!uri || uri[0] != '/' || q->head_sent || q->finished)
        return WS_ERROR;
    q->redirect_to = arena_strdup(q->pool, uri);
    q->finished = 1; /* this module is done with it */
    return q->redirect_to ? WS_OK : WS_ERROR;
}

static int host_read_body(ws_request *r)
{
    return req_read_body(R(r));
}

static void host_body_resume(ws_request *r)
{
    req_body_resume(R(r));
}

static ws_watch *host_watch_fd(ws_request *r, int fd, unsigned events, ws_fd_cb cb, void *arg)
{
    return req_watch_fd(R(r), fd, events, cb, arg);
}

static int host_watch_set(ws_watch *w, unsigned events)
{
    return req_watch_set((req_watch *)w, events);
}

static void host_watch_remove(ws_watch *w)
{
    req_watch_remove((req_watch *)w);
}

static ws_timer *host_timer_start(ws_request *r, uint64_t ms, ws_timer_cb cb, void *arg)
{
    return req_timer_start(R(r), ms, cb, arg);
}

static void host_timer_stop(ws_timer *t)
{
    req_timer_stop((req_timer *)t);
}

static int host_watch_child(ws_request *r, pid_t pid, ws_child_cb cb, void *arg)
{
    return children_watch(pid, R(r), cb, arg) == 0 ? WS_OK : WS_ERROR;
}

/* ---- ABI 1.2: metrics (server/metrics.c) ---- */

static int host_metrics_text(ws_request *r, const char **text, size_t *len)
{
    ws_stats st = {.size = sizeof st};
    server_fill_stats(&st);
    metrics_publish(&st); /* this worker's gauges as of now; the others' are at most a second old */
    char *t = metrics_render(R(r)->pool, len);
    if (!t)
        return WS_ERROR;
    *text = t;
    return WS_OK;
}

/* ---- ABI 1.2: shared-memory zones (shm_zone.c), write_ref, error_reason ---- */

static ws_shm *host_shm_zone(const ws_settings *s, const char *name, size_t size)
{
    const module_configuring *mc = s ? settings_user(s) : NULL;
    if (!mc) {
        if (s)
            settings_error(s, NULL, "shm_zone can only be called from configure()");
        return NULL;
    }
    char err[256];
    int what;
    size_t old = 0;
    shm_zone *z = shm_zone_get(mc->zones, mc->m->name, name, size, &what, &old, err, sizeof err);
    if (!z) {
        settings_error(s, NULL, "shm_zone: %s", err);
        return NULL;
    }
    if (what == SHM_ZONE_RECREATED)
        log_msg(WS_LOG_WARN, "WS0910",
                "shared-memory zone \"%s\" of module \"%s\" changed size (%zu -> %zu bytes): made anew, empty, "
                "for the new configuration; the old one's data is not carried over",
                name, mc->m->name, old, size);
    else if (what == SHM_ZONE_NEW)
        log_msg(WS_LOG_DEBUG, "WS0911", "shared-memory zone \"%s\" of module \"%s\": %zu bytes", name, mc->m->name,
                size);
    return (ws_shm *)z;
}

static int host_shm_lock(ws_shm *z)
{
    if (!z)
        return WS_ERROR;
    int rc = shm_zone_lock((shm_zone *)z);
    if (rc == 2) {
        log_msg(WS_LOG_WARN, "WS0912",
                "shared-memory zone \"%s\": a process died holding its lock; the allocator was repaired, the module "
                "is told (WS_SHM_OWNER_DIED)",
                shm_zone_name((shm_zone *)z));
        return WS_SHM_OWNER_DIED;
    }
    return rc == 0 ? WS_OK : WS_ERROR;
}

static void host_shm_unlock(ws_shm *z)
{
    if (z)
        shm_zone_unlock((shm_zone *)z);
}

static void *host_shm_alloc(ws_shm *z, size_t n)
{
    return z ? shm_zone_alloc((shm_zone *)z, n) : NULL;
}

static void host_shm_free(ws_shm *z, void *p)
{
    if (z)
        shm_zone_free((shm_zone *)z, p);
}

static void **host_shm_root(ws_shm *z)
{
    return z ? shm_zone_root((shm_zone *)z) : NULL;
}

static int host_write_ref(ws_request *r, const void *data, size_t len, ws_release_cb release, void *arg)
{
    if (!data && len) {
        if (release)
            release(arg);
        return WS_ERROR;
    }
    return resp_write_ref(R(r), data, len, release, arg);
}

static int host_error_reason(ws_request *r, int status, const char *reason)
{
    request *q = R(r);
    if (q->finished)
        return WS_ERROR;
    return resp_error_reason(q, status, reason && reason[0] ? reason : NULL);
}

static void host_stats(ws_stats *out)
{
    server_fill_stats(out);
}

/* ---- ABI 1.2: upstreams (config_upstream.c) ---- */

static int host_cfg_upstream(const ws_settings *s, const char *key, const ws_upstream **out)
{
    const module_configuring *mc = s ? settings_user(s) : NULL;
    const char *name = NULL;
    int r = settings_string(s, key, &name);
    if (r <= 0)
        return r;
    const ws_upstream *u = mc ? config_find_upstream(mc->upstreams, mc->n_upstreams, name) : NULL;
    if (!u) {
        settings_error(s, key, "no upstream \"%s\" in the top-level \"upstreams\"", name);
        return -1;
    }
    *out = u;
    return 1;
}

/* ABI 1.3: 101 Switching Protocols, then raw bytes (core/request/upgrade.c). */
static int host_upgrade(ws_request *r, const char *protocol)
{
    return req_upgrade(R(r), protocol);
}

/* ABI 1.3: a proxy's upstream Server/Date instead of the core's (the carriers write them). */
static int host_set_server_date(ws_request *r, const char *server, const char *date)
{
    request *q = R(r);
    /* Field values (no CTLs), short enough for the carrier's head line (h1_carrier.c builds it in 1 KiB). */
    if (q->head_sent || (server && (strlen(server) > 256 || !header_rules_field_ok("Via", server))) ||
        (date && (strlen(date) > 64 || !header_rules_field_ok("Via", date))))
        return WS_ERROR;
    q->server_field = server ? arena_strndup(q->pool, server, strlen(server)) : NULL;
    q->date_field = date ? arena_strndup(q->pool, date, strlen(date)) : NULL;
    return WS_OK;
}

const ws_host ws_core_host = {
    .size = sizeof(ws_host),
    .abi_major = WS_ABI_MAJOR,
    .abi_minor = WS_ABI_MINOR,
    .server_software = "webserv/" WEBSERV_VERSION,
    .log = host_log,
    .cfg_bool = settings_bool,
    .cfg_int = settings_int,
    .cfg_size = settings_size,
    .cfg_seconds = settings_seconds,
    .cfg_string = settings_string,
    .cfg_path = settings_path,
    .cfg_string_list = settings_string_list,
    .cfg_string_map = settings_string_map,
    .cfg_error = settings_error,
    .cfg_alloc = settings_alloc,
    .alloc = host_alloc,
    .strdup = host_strdup,
    .header = host_header,
    .mime_type = mime_lookup,
    .set_status = host_set_status,
    .add_header = host_add_header,
    .set_length = host_set_length,
    .set_validators = host_set_validators,
    .write = host_write,
    .send_file = host_send_file,
    .open_file = host_open_file,
    .dir_version = host_dir_version,
    .finish = host_finish,
    .error = host_error,
    .internal_redirect = host_internal_redirect,
    .read_body = host_read_body,
    .body_resume = host_body_resume,
    .watch_fd = host_watch_fd,
    .watch_set = host_watch_set,
    .watch_remove = host_watch_remove,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .watch_child = host_watch_child,
    .stats = host_stats,
    .shm_zone = host_shm_zone,
    .shm_lock = host_shm_lock,
    .shm_unlock = host_shm_unlock,
    .shm_alloc = host_shm_alloc,
    .shm_free = host_shm_free,
    .shm_root = host_shm_root,
    .write_ref = host_write_ref,
    .error_reason = host_error_reason,
    /* ABI 1.2 (core/phases) */
    .phase_done = phase_host_done,
    .rewrite_uri = phase_host_rewrite_uri,
    .set_user = phase_host_set_user,
    .module_ctx = phase_host_module_ctx,
    .offload = phase_host_offload,
    .get_status = phase_host_get_status,
    .resp_header = phase_host_resp_header,
    .set_header = phase_host_set_header,
    .remove_header = phase_host_remove_header,
    .filter_next = phase_host_filter_next,
    .cfg_object = settings_object,
    .cfg_object_list = settings_object_list,
    .cfg_keys = settings_keys,
    .cfg_kind = settings_kind,
    .cfg_upstream = host_cfg_upstream,
    .counter = metrics_counter,
    .counter_add = metrics_counter_add,
    .metrics_text = host_metrics_text,
    /* ABI 1.3 */
    .upgrade = host_upgrade,
    .set_server_date = host_set_server_date,
    .filter_next_ref = phase_host_filter_next_ref,
};

/*
 * The fake host table: what a module can ask of the core, recorded into a
 * th_response instead of being sent on a socket. Misuse that a real core
 * would reject (headers after the head went out, writes after finish) returns
 * WS_ERROR here too, so module tests catch it.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../../core/fs/file_open.h"
#include "../../core/http/header_rules.h"
#include "../../core/config/settings.h"
#include "th_internal.h"

static th_request *T(ws_request *r) { return (th_request *)r; }

static void th_log(int level, const ws_request *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void th_log(int level, const ws_request *r, const char *fmt, ...)
{
    /* Errors and warnings always show (a test failing should say why);
     * info and debug only with TH_LOG=1 in the environment. */
    static const char *names[] = {"error", "warn", "info", "debug"};
    const char *env = getenv("TH_LOG");
    if (level > WS_LOG_WARN && !(env && *env && *env != '0'))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[testhost %s]%s%s ", level >= 0 && level <= 3 ? names[level] : "?", r ? " " : "",
            r ? r->path : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *th_alloc(ws_request *r, size_t n)
{
    /* One malloc per allocation (not an arena) so AddressSanitizer sees
     * every overrun of request memory. */
    th_block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (!b)
        return NULL;
    b->next = T(r)->blocks;
    T(r)->blocks = b;
    return b->data;
}

static char *th_strdup(ws_request *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = th_alloc(r, n);
    if (c)
        memcpy(c, s, n);
    return c;
}

static const char *th_req_header(const ws_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static const char *th_mime_type(const char *path)
{
    /* A few types are enough for module tests; the core has the real table. */
    static const char *const table[] = {
        "html", "text/html; charset=utf-8", "htm", "text/html; charset=utf-8", "txt", "text/plain; charset=utf-8",
        "css", "text/css; charset=utf-8", "js", "text/javascript; charset=utf-8", "json", "application/json",
        "png", "image/png", "jpg", "image/jpeg", "gif", "image/gif", "svg", "image/svg+xml", NULL};
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; table[i]; i += 2)
            if (strcasecmp(dot + 1, table[i]) == 0)
                return table[i + 1];
    return "application/octet-stream";
}

/* ---- the response ---- */

/* Status, headers and length may change only before the head goes out. */
static int head_open(th_request *t) { return !t->head_sent && !t->ended && !t->res->finished; }

static int th_set_status(ws_request *r, int status)
{
    if (!head_open(T(r)) || !header_rules_status_ok(status))
        return WS_ERROR;
    T(r)->res->status = status;
    return WS_OK;
}

static int push_str(const char ***arr, size_t n, const char *s)
{
    const char **a = realloc((void *)*arr, (n + 1) * sizeof *a);
    if (!a)
        return -1;
    *arr = a;
    a[n] = strdup(s);
    return a[n] ? 0 : -1;
}

static int th_add_header(ws_request *r, const char *name, const char *value)
{
    th_request *t = T(r);
    /* The server's own rules (core/http/header_rules.c), so tests refuse what it refuses. */
    if (!head_open(t) || !header_rules_field_ok(name, value))
        return WS_ERROR;
    if (push_str(&t->res->header_names, t->res->n_headers, name) ||
        push_str(&t->res->header_values, t->res->n_headers, value))
        return WS_ERROR;
    t->res->n_headers++;
    return WS_OK;
}

static int th_set_length(ws_request *r, int64_t length)
{
    if (!head_open(T(r)) || length < -1)
        return WS_ERROR;
    T(r)->res->length = length;
    return WS_OK;
}

static int th_set_validators(ws_request *r, const struct stat *st)
{
    if (!head_open(T(r)) || !st)
        return WS_ERROR;
    T(r)->res->has_validators = 1;
    return WS_OK;
}

int th_body_append(th_request *t, const void *data, size_t len)
{
    th_response *res = t->res;
    if (res->body_len + len + 1 > t->body_cap) {
        size_t cap = t->body_cap ? t->body_cap : 256;
        while (cap < res->body_len + len + 1)
            cap *= 2;
        char *b = realloc(res->body, cap);
        if (!b)
            return -1;
        res->body = b;
        t->body_cap = cap;
    }
    if (len)
        memcpy(res->body + res->body_len, data, len);
    res->body_len += len;
    res->body[res->body_len] = '\0';
    return 0;
}

/* What a queued write answers: WS_AGAIN while the "client" is not reading. */
static int queued(th_request *t, size_t len)
{
    t->head_sent = 1;
    t->out_queued += len;
    if (t->out_limit && t->out_queued >= t->out_limit)
        t->output_full = 1;
    if (t->output_full) {
        t->want_writable = 1;
        return WS_AGAIN;
    }
    return WS_OK;
}

static int th_write(ws_request *r, const void *data, size_t len)
{
    th_request *t = T(r);
    if (t->ended || t->res->finished || (len && !data) || th_body_append(t, data, len))
        return WS_ERROR;
    return queued(t, len);
}

static int th_send_file(ws_request *r, int fd, off_t offset, int64_t len)
{
    th_request *t = T(r);
    int rc = WS_OK;
    size_t total = 0;
    if (t->ended || t->res->finished || fd < 0 || offset < 0 || len < -1)
        rc = WS_ERROR;
    char buf[65536];
    while (rc == WS_OK && len != 0) {
        size_t want = len < 0 || len > (int64_t)sizeof buf ? sizeof buf : (size_t)len;
        ssize_t n = pread(fd, buf, want, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n == 0 && len > 0))
            rc = WS_ERROR; /* the file shrank: the core would cut the connection */
        if (n <= 0 || rc != WS_OK)
            break;
        if (th_body_append(t, buf, (size_t)n))
            rc = WS_ERROR;
        offset += n;
        total += (size_t)n;
        if (len > 0)
            len -= n;
    }
    int shared = 0;
    for (int i = 0; i < t->n_opened; i++)
        shared |= t->opened[i] == fd;
    if (fd >= 0 && !shared)
        close(fd); /* the core owns fd from the call on, also on failure */
    return rc == WS_OK ? queued(t, total) : rc;
}

/* No cache here: nothing built from a folder may be kept. */
static uint64_t dir_version_given; /* th_set_dir_version */

void th_set_dir_version(uint64_t version) { dir_version_given = version; }

int th_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

int th_wait_flag(const int *flag, int ms)
{
    for (int waited = 0; !__atomic_load_n(flag, __ATOMIC_SEQ_CST); waited++) {
        if (waited >= ms)
            return -1;
        usleep(1000);
    }
    return 0;
}

static uint64_t th_dir_version(ws_request *r, const char *dir)
{
    (void)r, (void)dir;
    return dir_version_given;
}

/* As the core's, without the cache: the fd stays the host's until the request ends. */
static int th_open_file(ws_request *r, const char *path, struct stat *st)
{
    th_request *t = T(r);
    if (!path || !st || t->n_opened == (int)(sizeof t->opened / sizeof t->opened[0])) {
        errno = EINVAL;
        return -1;
    }
    int fd = file_open_read(path, st);
    if (fd < 0)
        return -1;
    t->opened[t->n_opened++] = fd;
    return fd;
}

static int th_finish(ws_request *r)
{
    th_request *t = T(r);
    if (t->ended || t->res->finished)
        return WS_ERROR;
    if (t->res->status == 0)
        t->res->status = 200;
    t->head_sent = 1;
    t->res->finished = 1;
    return WS_OK;
}

static int th_error(ws_request *r, int status)
{
    th_request *t = T(r);
    if (t->ended || t->res->finished)
        return WS_ERROR;
    t->res->error_status = status;
    if (!t->head_sent)
        t->res->status = status; /* else the core would just close the connection */
    t->ended = 1;
    return WS_OK;
}

static int th_internal_redirect(ws_request *r, const char *uri)
{
    th_request *t = T(r);
    if (t->ended || t->res->finished || t->head_sent || !uri || uri[0] != '/')
        return WS_ERROR;
    t->res->redirect = strdup(uri);
    t->ended = 1;
    return t->res->redirect ? WS_OK : WS_ERROR;
}

static int th_read_body(ws_request *r)
{
    th_request *t = T(r);
    if (t->res->read_body_called)
        return WS_ERROR;
    t->res->read_body_called = 1;
    return WS_OK; /* bytes are offered from the loop (th_run, th_feed_body), never from here */
}

static void th_body_resume(ws_request *r)
{
    T(r)->body_paused = 0; /* the rest is offered again from the loop */
}

/* Declared in th_loop.c. */
ws_watch *th_watch_fd(ws_request *r, int fd, unsigned events, ws_fd_cb cb, void *arg);
int th_watch_set(ws_watch *w, unsigned events);
void th_watch_remove(ws_watch *w);
ws_timer *th_timer_start(ws_request *r, uint64_t ms, ws_timer_cb cb, void *arg);
void th_timer_stop(ws_timer *tm);
int th_watch_child(ws_request *r, pid_t pid, ws_child_cb cb, void *arg);

/* ---- ABI 1.2: counters (read back with th_counter_value) ---- */

struct ws_counter {
    char name[96];
    uint64_t value;
};
static struct ws_counter counters[64];
static size_t n_counters;

static ws_counter *th_counter(const char *name, const char *help)
{
    (void)help;
    if (!name || !*name || strlen(name) >= sizeof counters[0].name)
        return NULL;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':' ||
              (p > name && *p >= '0' && *p <= '9')))
            return NULL; /* as the core: a Prometheus metric name */
    for (size_t i = 0; i < n_counters; i++)
        if (strcmp(counters[i].name, name) == 0)
            return &counters[i];
    if (n_counters == sizeof counters / sizeof *counters)
        return NULL;
    ws_counter *c = &counters[n_counters++];
    strcpy(c->name, name);
    c->value = 0;
    return c;
}

static void th_counter_add(ws_counter *c, uint64_t n)
{
    if (c)
        __atomic_fetch_add(&c->value, n, __ATOMIC_RELAXED);
}

uint64_t th_counter_value(const char *name)
{
    for (size_t i = 0; i < n_counters; i++)
        if (strcmp(counters[i].name, name) == 0)
            return __atomic_load_n(&counters[i].value, __ATOMIC_RELAXED);
    return 0;
}

/* ---- ABI 1.2: zones (the core's own shm_zone.c), write_ref, error_reason ---- */

static ws_shm *th_shm_zone(const ws_settings *s, const char *name, size_t size)
{
    const th_configuring *tc = s ? settings_user(s) : NULL;
    if (!tc) {
        if (s)
            settings_error(s, NULL, "shm_zone can only be called from configure()");
        return NULL;
    }
    char err[256];
    int what;
    size_t old;
    shm_zone *z = shm_zone_get(tc->zones, tc->module, name, size, &what, &old, err, sizeof err);
    if (!z)
        settings_error(s, NULL, "shm_zone: %s", err);
    return (ws_shm *)z;
}

static int th_shm_lock(ws_shm *z)
{
    int rc = z ? shm_zone_lock((shm_zone *)z) : -1;
    return rc == 2 ? WS_SHM_OWNER_DIED : rc == 0 ? WS_OK : WS_ERROR;
}

static void th_shm_unlock(ws_shm *z)
{
    if (z)
        shm_zone_unlock((shm_zone *)z);
}

static void *th_shm_alloc(ws_shm *z, size_t n) { return z ? shm_zone_alloc((shm_zone *)z, n) : NULL; }
static void th_shm_free(ws_shm *z, void *p)
{
    if (z)
        shm_zone_free((shm_zone *)z, p);
}
static void **th_shm_root(ws_shm *z) { return z ? shm_zone_root((shm_zone *)z) : NULL; }

/* The test host "sends" at once: the bytes are copied into the response and
 * released before write_ref returns (a module must not count on later). */
static int th_write_ref(ws_request *r, const void *data, size_t len, ws_release_cb release, void *arg)
{
    int rc = th_write(r, data, len);
    T(r)->res->write_refs++;
    if (release) {
        release(arg);
        T(r)->res->releases++;
    }
    return rc;
}

static int th_error_reason(ws_request *r, int status, const char *reason)
{
    th_request *t = T(r);
    if (t->ended || t->res->finished)
        return WS_ERROR;
    free(t->res->error_reason);
    t->res->error_reason = reason ? strdup(reason) : NULL;
    return th_error(r, status);
}

/* ---- ABI 1.3: connection upgrade ---- */

static int th_upgrade(ws_request *r, const char *protocol)
{
    th_request *t = T(r);
    if (!protocol || !*protocol || !head_open(t) || r->http_minor != 1 || t->res->error_status)
        return WS_ERROR;
    if (!header_rules_list_has(th_req_header(r, "Connection"), "upgrade") || !header_rules_list_has(th_req_header(r, "Upgrade"), protocol))
        return WS_ERROR;
    if (r->content_length != 0 && !t->body_end_delivered)
        return WS_ERROR; /* a body not read to its end */
    char *p = strdup(protocol);
    if (!p)
        return WS_ERROR;
    free(t->res->upgrade);
    t->res->upgrade = p;
    t->res->status = 101;
    t->head_sent = 1;
    t->upgraded = 1;
    t->body_end = t->body_end_delivered = 0;
    t->body_paused = 0;
    return WS_OK;
}

static int th_set_server_date(ws_request *r, const char *server, const char *date)
{
    th_request *t = T(r);
    if (!head_open(t) || (server && (strlen(server) > 256 || !header_rules_field_ok("Via", server))) ||
        (date && (strlen(date) > 64 || !header_rules_field_ok("Via", date))))
        return WS_ERROR;
    free(t->res->server);
    free(t->res->date);
    t->res->server = server ? strdup(server) : NULL;
    t->res->date = date ? strdup(date) : NULL;
    return WS_OK;
}

static void th_stats(ws_stats *out)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
}

static const ws_host host = {
    .size = sizeof(ws_host),
    .abi_major = WS_ABI_MAJOR,
    .abi_minor = WS_ABI_MINOR,
    .server_software = "webserv/testhost",
    .log = th_log,
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
    .alloc = th_alloc,
    .strdup = th_strdup,
    .header = th_req_header,
    .mime_type = th_mime_type,
    .set_status = th_set_status,
    .add_header = th_add_header,
    .set_length = th_set_length,
    .set_validators = th_set_validators,
    .write = th_write,
    .send_file = th_send_file,
    .open_file = th_open_file,
    .dir_version = th_dir_version,
    .finish = th_finish,
    .error = th_error,
    .internal_redirect = th_internal_redirect,
    .read_body = th_read_body,
    .body_resume = th_body_resume,
    .watch_fd = th_watch_fd,
    .watch_set = th_watch_set,
    .watch_remove = th_watch_remove,
    .timer_start = th_timer_start,
    .timer_stop = th_timer_stop,
    .watch_child = th_watch_child,
    .stats = th_stats,
    .shm_zone = th_shm_zone,
    .shm_lock = th_shm_lock,
    .shm_unlock = th_shm_unlock,
    .shm_alloc = th_shm_alloc,
    .shm_free = th_shm_free,
    .shm_root = th_shm_root,
    .write_ref = th_write_ref,
    .error_reason = th_error_reason,
    /* ABI 1.2 (th_phase.c) */
    .phase_done = th_phase_done,
    .rewrite_uri = th_phase_rewrite_uri,
    .set_user = th_phase_set_user,
    .module_ctx = th_phase_module_ctx,
    .offload = th_phase_offload,
    .get_status = th_phase_get_status,
    .resp_header = th_phase_resp_header,
    .set_header = th_phase_set_header,
    .remove_header = th_phase_remove_header,
    .filter_next = th_phase_filter_next,
    .cfg_object = settings_object,
    .cfg_object_list = settings_object_list,
    .cfg_keys = settings_keys,
    .cfg_kind = settings_kind,
    .counter = th_counter,
    .counter_add = th_counter_add,
    /* ABI 1.3 */
    .upgrade = th_upgrade,
    .set_server_date = th_set_server_date,
    .filter_next_ref = th_phase_filter_next_ref,
};

const ws_host *th_host(void) { return &host; }

/*
 * The test host's modules, configurations and requests: load a module,
 * configure it through the core's own settings getters (core/config/settings.c, so
 * a module sees exactly the errors the server would report), build requests
 * the way the core would, dispatch them and end them with one cleanup.
 */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/base/arena.h"
#include "../../core/config/settings.h"
#include "th_internal.h"

th_request *th_live;

/* ---- modules ---- */

th_module *th_load(const ws_module *desc)
{
    if (!desc || desc->abi_major != WS_ABI_MAJOR || desc->abi_minor > WS_ABI_MINOR)
        return NULL;
    th_module *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->desc = desc;
    if (desc->init && desc->init(th_host()) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

th_module *th_load_so(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "[testhost] %s\n", dlerror());
        return NULL;
    }
    const ws_module *desc = dlsym(dl, WS_MODULE_SYMBOL);
    th_module *m = desc ? th_load(desc) : NULL;
    if (!m) {
        dlclose(dl);
        return NULL;
    }
    m->dl = dl;
    return m;
}

/* A descriptor field of ABI 1.2, or NULL/0 when the module's descriptor is older (shorter). */

void th_reload(th_module *m, const void *old_conf, const void *new_conf)
{
    if (m && DESC_HAS(m->desc, on_reload) && m->desc->on_reload)
        m->desc->on_reload(old_conf, new_conf);
}

uint32_t th_module_flags(const th_module *m)
{
    return m && DESC_HAS(m->desc, flags) ? m->desc->flags : 0;
}

static void response_free(th_response *res)
{
    free(res->error_reason);
    for (size_t i = 0; i < res->n_headers; i++) {
        free((void *)res->header_names[i]);
        free((void *)res->header_values[i]);
    }
    free(res->header_names);
    free(res->header_values);
    free(res->body);
    free(res->redirect);
    free(res->rewrite_uri);
    free(res->upgrade);
    free(res->server);
    free(res->date);
}

/* A test that failed midway (cmocka leaves it at the failed assertion)
 * leaves its requests live, some with works still on the pool: end them as
 * requests whose client left, before the module's code and memory go, so
 * that the next test starts from nothing and fails, if at all, on its own. */
static void abort_live_requests(th_module *m)
{
    th_request **pp = &th_live;
    while (*pp)
        if ((*pp)->m == m)
            th_request_abort(*pp); /* unlinks it: *pp is the next one */
        else
            pp = &(*pp)->next_live;
}

void th_unload(th_module *m)
{
    if (!m)
        return;
    abort_live_requests(m);
    if (m->desc->fini)
        m->desc->fini();
    shm_zone_set_release(&m->zones);
    while (m->configs) {
        th_config *c = m->configs;
        m->configs = c->next;
        arena_free(c->arena);
        json_decref(c->json);
        free(c->location);
        free(c->root);
        free(c);
    }
    while (m->responses) {
        th_resp_node *n = m->responses;
        m->responses = n->next;
        response_free(&n->res);
        free(n);
    }
    if (m->dl)
        dlclose(m->dl);
    free(m);
}

/* ---- configuration ---- */

static char *root_dup(const char *root)
{
    if (!root)
        return NULL;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--; /* r->root never ends in '/' */
    return strndup(root, n);
}

const void *th_configure(th_module *m, const char *settings_json, const char *location_path, const char *root,
                         char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    json_error_t jerr;
    json_t *obj = json_loads(settings_json ? settings_json : "{}", 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        snprintf(err, errlen, "settings: %s", obj ? "not a JSON object" : jerr.text);
        json_decref(obj);
        return NULL;
    }
    th_config *c = calloc(1, sizeof *c);
    char cwd[PATH_MAX];
    /* Relative paths in settings are taken from the root when there is one
     * (tests keep everything in one temporary folder), else the cwd. */
    const char *dir = root ? root : getcwd(cwd, sizeof cwd) ? cwd : "/";
    char cfg_file[PATH_MAX + 16], json_path[128];
    /* No file holds these settings: errors say "test host: <json path>: …". */
    snprintf(cfg_file, sizeof cfg_file, "test host");
    snprintf(json_path, sizeof json_path, "servers[0].locations[0].%s", m->desc->name ? m->desc->name : "module");
    if (!c || !(c->arena = arena_new(4096))) {
        snprintf(err, errlen, "out of memory");
        free(c);
        json_decref(obj);
        return NULL;
    }
    c->json = obj;
    c->location = strdup(location_path ? location_path : "/");
    c->root = root_dup(root);
    ws_settings *s = settings_new(c->arena, obj, json_path, cfg_file, dir, err, errlen);
    ws_location_info loc = {.size = sizeof loc, .config_file = cfg_file, .config_dir = dir,
                            .json_path = "servers[0].locations[0]", .path = c->location, .root = c->root};
    int rc = s ? 0 : -1;
    th_configuring tc = {.module = m->desc->name ? m->desc->name : "module", .zones = &m->zones};
    if (s)
        settings_set_user(s, &tc);
    if (rc == 0 && m->desc->configure)
        rc = m->desc->configure(s, &loc, &c->conf);
    if (s)
        settings_set_user(s, NULL);
    if (rc == 0 && !settings_failed(s))
        rc = settings_report_unknown(s);
    if (rc != 0 || !s || settings_failed(s)) {
        if (!err[0])
            snprintf(err, errlen, "%s: configure() failed without reporting why", json_path);
        arena_free(c->arena);
        json_decref(obj);
        free(c->location);
        free(c->root);
        free(c);
        return NULL;
    }
    c->next = m->configs;
    m->configs = c;
    /* A module may keep no config at all: hand back our record so the
     * result still says "success"; th_request_new maps it back to NULL. */
    return c->conf ? c->conf : (const void *)c;
}

/* ---- requests ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode and normalise (dot segments, repeated '/'), as the core does;
 * a trailing '/' is kept. Bad escapes stay as they are (the core would 400). */
static char *clean_path(ws_request *r, const char *raw, size_t n)
{
    char *dec = th_alloc(r, n + 2), *out = th_alloc(r, n + 2);
    size_t d = 0, o = 0;
    if (!dec || !out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (raw[i] == '%' && i + 2 < n && (hi = hexval(raw[i + 1])) >= 0 && (lo = hexval(raw[i + 2])) >= 0 &&
            (hi || lo)) {
            dec[d++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[d++] = raw[i];
        }
    }
    dec[d] = '\0';
    for (size_t i = 0; i < d;) {
        while (i < d && dec[i] == '/')
            i++;
        size_t s = i;
        while (i < d && dec[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && dec[s] == '.'))
            continue;
        if (len == 2 && dec[s] == '.' && dec[s + 1] == '.') {
            while (o > 0 && out[--o] != '/')
                ;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, dec + s, len);
        o += len;
    }
    if (o == 0 || (d > 0 && dec[d - 1] == '/') || (d >= 2 && dec[d - 1] == '.' && dec[d - 2] == '/'))
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

static void parse_headers(th_request *t, const char *const *headers)
{
    ws_request *r = &t->req;
    size_t n = 0;
    while (headers && headers[n])
        n++;
    t->headers = th_alloc(r, (n + 1) * sizeof *t->headers);
    size_t k = 0;
    for (size_t i = 0; i < n && t->headers; i++) {
        const char *colon = strchr(headers[i], ':');
        if (!colon)
            continue;
        char *name = th_alloc(r, (size_t)(colon - headers[i]) + 1);
        const char *v = colon + 1, *e = v + strlen(v);
        while (*v == ' ' || *v == '\t')
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        char *value = th_alloc(r, (size_t)(e - v) + 1);
        if (!name || !value)
            continue;
        memcpy(name, headers[i], (size_t)(colon - headers[i]));
        memcpy(value, v, (size_t)(e - v));
        t->headers[k++] = (ws_header){name, value};
    }
    r->headers = t->headers;
    r->n_headers = k;
}

static const char *host_of(ws_request *r)
{
    const char *h = th_host()->header(r, "Host");
    if (!h || !*h)
        return "127.0.0.1";
    char *c = th_alloc(r, strlen(h) + 1);
    if (!c)
        return "127.0.0.1";
    size_t n = 0;
    if (h[0] == '[') { /* [v6]:port keeps the brackets */
        const char *e = strchr(h, ']');
        n = e ? (size_t)(e - h) + 1 : strlen(h);
    } else {
        const char *e = strchr(h, ':');
        n = e ? (size_t)(e - h) : strlen(h);
    }
    for (size_t i = 0; i < n; i++)
        c[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
    return c;
}

static void set_fs(ws_request *r)
{
    if (!r->root) {
        r->fs_type = WS_FS_NONE;
        return;
    }
    size_t n = strlen(r->root) + strlen(r->path) + 1;
    char *p = th_alloc(r, n);
    if (!p)
        return;
    snprintf(p, n, "%s%s", r->root, r->path);
    r->fs_path = p;
    if (stat(p, &((th_request *)r)->req.fs_stat) != 0)
        r->fs_type = errno == ENOENT || errno == ENOTDIR ? WS_FS_MISSING : WS_FS_OTHER;
    else if (S_ISREG(r->fs_stat.st_mode))
        r->fs_type = WS_FS_FILE;
    else if (S_ISDIR(r->fs_stat.st_mode))
        r->fs_type = WS_FS_DIR;
    else
        r->fs_type = WS_FS_OTHER;
}

static th_config *config_of(th_module *m, const void *conf)
{
    for (th_config *c = m->configs; c; c = c->next)
        if (c == conf || (conf && c->conf == conf))
            return c;
    return m->configs; /* the latest, for a module without configure() */
}

th_request *th_request_new(th_module *m, const void *conf, const char *method, const char *target,
                           const char *const *headers)
{
    th_request *t = calloc(1, sizeof *t);
    th_resp_node *node = calloc(1, sizeof *node);
    if (!t || !node || !(node->res.body = calloc(1, 1))) {
        free(t);
        free(node);
        return NULL;
    }
    node->next = m->responses;
    m->responses = node;
    t->m = m;
    t->res = &node->res;
    t->res->length = -1;
    t->body_cap = 1;

    ws_request *r = &t->req;
    th_config *c = config_of(m, conf);
    r->size = sizeof *r;
    r->method = th_host()->strdup(r, method);
    r->target = th_host()->strdup(r, target);
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    r->path = clean_path(r, target, plen);
    r->request_path = r->path;
    r->query = th_host()->strdup(r, q ? q + 1 : "");
    r->http_minor = 1;
    parse_headers(t, headers);
    const char *cl = th_host()->header(r, "Content-Length"), *te = th_host()->header(r, "Transfer-Encoding");
    r->content_length = te && strcasestr(te, "chunked") ? -1 : cl ? strtoll(cl, NULL, 10) : 0;
    r->root = c && c->root ? c->root : NULL;
    r->location = c ? c->location : "/";
    set_fs(r);
    r->remote_addr = "127.0.0.1";
    r->remote_port = 40000;
    r->local_addr = "127.0.0.1";
    r->local_port = 8080;
    r->host = host_of(r);
    r->conf = c && conf == (const void *)c ? NULL : conf;
    t->body_end = r->content_length == 0;
    t->next_live = th_live;
    th_live = t;
    return t;
}

ws_request *th_req(th_request *t) { return &t->req; }
void th_set_http_minor(th_request *t, int minor) { t->req.http_minor = minor; }
th_response *th_response_of(th_request *t) { return t->res; }

const char *th_header(th_request *t, const char *name)
{
    for (size_t i = 0; i < t->res->n_headers; i++)
        if (strcasecmp(t->res->header_names[i], name) == 0)
            return t->res->header_values[i];
    return NULL;
}

/* The core asks only modules that declare the method (GET allows HEAD). */
static int declares(const ws_module *d, const char *method)
{
    for (const char *const *p = d->methods; p && *p; p++)
        if (strcmp(*p, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(*p, "GET") == 0))
            return 1;
    return 0;
}

int th_dispatch(th_request *t)
{
    const ws_module *d = t->m->desc;
    if (t->taken || !declares(d, t->req.method) || !d->match)
        return WS_DECLINE;
    int rc = d->match(&t->req);
    if (rc != WS_TAKE)
        return rc;
    t->taken = 1;
    int st = d->handle ? d->handle(&t->req) : 500;
    if (st != 0 && !th_request_done(t)) {
        st = st >= 400 && st <= 599 ? st : 500; /* anything else is a module bug */
        t->res->error_status = st;
        if (!t->head_sent)
            t->res->status = st;
        t->ended = 1;
    }
    return rc;
}

static void request_free(th_request *t, int how)
{
    for (th_request **pp = &th_live; *pp; pp = &(*pp)->next_live)
        if (*pp == t) {
            *pp = t->next_live;
            break;
        }
    th_offload_wait(t); /* as in the core: the request's end waits for its offloaded works */
    if (t->taken) {
        t->res->cleanups++;
        t->res->cleanup_how = how;
        if (t->m->desc->cleanup)
            t->m->desc->cleanup(&t->req, how);
    }
    th_events_release(t);
    for (int i = 0; i < t->n_opened; i++)
        close(t->opened[i]);
    while (t->blocks) {
        th_block *b = t->blocks;
        t->blocks = b->next;
        free(b);
    }
    free(t->in_buf);
    free(t);
}

void th_request_end(th_request *t)
{
    if (t)
        request_free(t, t->res->finished || t->res->redirect ? WS_END_DONE : WS_END_ABORTED);
}

void th_request_abort(th_request *t)
{
    if (t)
        request_free(t, WS_END_ABORTED);
}

/*
 * One location object (SPEC §3): its own keys, what it inherits from the
 * server, the modules it enables (configured here, once, nginx-style), the
 * methods it allows and the Allow header that follows from them.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "core_keys.h"
#include "modules.h"
#include "return_vars.h"

static int loc_path(ws_settings *ls, location_conf *out)
{
    const char *p;
    int r = settings_string(ls, "path", &p);
    if (r == 0)
        settings_error(ls, "path", "required");
    if (r != 1)
        return -1;
    if (p[0] != '/' || strpbrk(p, "?#")) {
        settings_error(ls, "path", "must start with '/' and hold no '?' or '#'");
        return -1;
    }
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--; /* "/img/" and "/img" are the same prefix on segment boundaries */
    char *path = arena_strndup(settings_arena(ls), p, n);
    if (!path)
        return -1;
    out->path = path;
    out->path_len = n;
    return 0;
}

static int is_redirect(long long st) { return st == 301 || st == 302 || st == 303 || st == 307 || st == 308; }

/* "return": {"status": 3xx, "location": URL} or {"status": N, "body": text}. */
static int loc_return(ws_settings *ls, location_conf *out)
{
    ws_settings *rs;
    int r = settings_child(ls, "return", &rs);
    if (r <= 0)
        return r;
    long long st;
    if ((r = core_key_int(rs, SCOPE_RETURN, "status", &st)) == 0)
        settings_error(rs, "status", "required");
    if (r != 1)
        return -1;
    out->return_status = (int)st;
    if (is_redirect(st)) {
        if ((r = settings_string(rs, "location", &out->return_location)) == 0 || (r == 1 && !out->return_location[0]))
            settings_error(rs, "location", "required for a redirect status (a URL or a path)");
        const char *bad;
        if (r == 1 && out->return_location[0] && return_vars_check(out->return_location, &bad) < 0)
            settings_error(rs, "location", "unknown variable at \"%.20s\" (known: {scheme}, {host}, {port}, {uri}, "
                                           "{request_uri}, {query})", bad);
        if (settings_raw(rs, "body"))
            settings_error(rs, "body", "not used with a redirect status");
    } else {
        if (settings_raw(rs, "location"))
            settings_error(rs, "location", "only used with 301, 302, 303, 307 or 308");
        settings_string(rs, "body", &out->return_body);
    }
    if (settings_failed(rs) || settings_report_unknown(rs) < 0 || core_keys_check(rs, SCOPE_RETURN, NULL, 0) < 0)
        return -1;
    return 1;
}

/* The module keys of this location, in "modules" order: vals[i] is the
 * settings object of module i, NULL with on[i] = 1 for `true` (= {}), or
 * on[i] = 0 when the key is absent or false. */
static int loc_module_keys(cfg_ctx *x, ws_settings *ls, json_t **vals, int *on)
{
    for (size_t i = 0; i < x->c->n_modules; i++) {
        const char *name = x->c->modules[i]->name;
        json_t *v = settings_raw(ls, name);
        vals[i] = NULL;
        on[i] = v && !json_is_false(v);
        if (v && json_is_object(v))
            vals[i] = v;
        else if (v && !json_is_boolean(v)) {
            settings_error(ls, name, "expected an object of module settings, true ({}) or false (off)");
            return -1;
        }
    }
    return 0;
}

static void add_method(const char **list, size_t *n, const char *m)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], m) == 0)
            return;
    list[(*n)++] = m;
    if (strcmp(m, "GET") == 0)
        add_method(list, n, "HEAD");
}

static size_t count_methods(const loaded_module *m)
{
    size_t n = 0;
    for (const char *const *p = m->d.methods; p && *p; p++)
        n++;
    return n;
}

/* Methods by default: the union of the enabled modules' (SPEC §3); a
 * `return` location without "methods" takes any method (any_method), and its
 * Allow lists every method a loaded module declares. */
static int loc_default_methods(cfg_ctx *x, location_conf *out, const int *on)
{
    size_t cap = 3;
    for (size_t i = 0; i < x->c->n_modules; i++)
        cap += count_methods(x->c->modules[i]);
    const char **list = arena_alloc(x->a, cap * sizeof *list);
    if (!list)
        return cfg_fail(x, out->json_path, "out of memory");
    size_t n = 0;
    out->any_method = out->return_status != 0;
    if (out->any_method)
        add_method(list, &n, "GET"); /* a redirect answers GET even with no module loaded */
    for (size_t i = 0; i < x->c->n_modules; i++)
        if (out->any_method || on[i])
            for (const char *const *p = x->c->modules[i]->d.methods; p && *p; p++)
                add_method(list, &n, *p);
    out->methods = list;
    out->n_methods = n;
    return 0;
}

/* "GET, HEAD, POST, OPTIONS": the allowed methods, OPTIONS always last. */
static int loc_allow(cfg_ctx *x, location_conf *out)
{
    size_t len = sizeof "OPTIONS";
    for (size_t i = 0; i < out->n_methods; i++)
        len += strlen(out->methods[i]) + 2;
    char *allow = arena_alloc(x->a, len);
    if (!allow)
        return cfg_fail(x, out->json_path, "out of memory");
    for (size_t i = 0; i < out->n_methods; i++)
        if (strcmp(out->methods[i], "OPTIONS") != 0) {
            strcat(allow, out->methods[i]);
            strcat(allow, ", ");
        }
    strcat(allow, "OPTIONS");
    out->allow = allow;
    return 0;
}

/* The location's error pages first, then the server's it does not override. */
static int loc_error_pages(cfg_ctx *x, ws_settings *ls, const server_defaults *sd, location_conf *out)
{
    error_page *own = NULL;
    size_t n_own = 0;
    if (cfg_error_pages(x, ls, &own, &n_own) < 0)
        return -1;
    error_page *all = arena_alloc(x->a, (n_own + sd->n_error_pages + 1) * sizeof *all);
    if (!all)
        return cfg_fail(x, out->json_path, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < n_own; i++)
        all[n++] = own[i];
    for (size_t i = 0; i < sd->n_error_pages; i++) {
        size_t j = 0;
        while (j < n_own && own[j].status != sd->error_pages[i].status)
            j++;
        if (j == n_own)
            all[n++] = sd->error_pages[i];
    }
    out->error_pages = all;
    out->n_error_pages = n;
    return 0;
}

/* "timeouts": {"handler": seconds} (a location's only timeout today). */
static int loc_timeouts(ws_settings *ls, location_conf *out)
{
    ws_settings *ts;
    int r = settings_child(ls, "timeouts", &ts);
    if (r <= 0)
        return r;
    double d;
    r = settings_seconds(ts, "handler", &d);
    if (r < 0 || settings_report_unknown(ts) < 0 || core_keys_check(ts, SCOPE_LOC_TIMEOUTS, NULL, 0) < 0)
        return -1;
    if (r == 1 && (d <= 0 || d > 86400)) {
        settings_error(ts, "handler", "must be more than 0 and at most 86400 seconds");
        return -1;
    }
    if (r == 1)
        out->handler_ms = (uint64_t)(d * 1000.0 + 0.5) ? (uint64_t)(d * 1000.0 + 0.5) : 1;
    return 0;
}

static int loc_configure(cfg_ctx *x, location_conf *out, loaded_module *m, json_t *obj, location_handler *h)
{
    const char *path = arena_printf(x->a, "%s.%s", out->json_path, m->name);
    ws_settings *ms = path ? settings_new(x->a, obj, path, x->file, x->c->dir, x->err, x->errlen) : NULL;
    if (!ms)
        return cfg_fail(x, out->json_path, "out of memory");
    module_configuring mc = {.m = m, .zones = &x->c->zones, .upstreams = x->c->upstreams, .n_upstreams = x->c->n_upstreams};
    settings_set_user(ms, &mc); /* for host->shm_zone, during this call only */
    ws_location_info info = {
        .size = sizeof info,
        .config_file = x->c->file,
        .config_dir = x->c->dir,
        .json_path = out->json_path,
        .path = out->path,
        .root = out->root,
        .max_body = out->max_body,
    };
    const void *conf = NULL;
    int rc = m->d.configure ? m->d.configure(ms, &info, &conf) : 0;
    settings_set_user(ms, NULL);
    if (rc != 0 && !settings_failed(ms))
        settings_error(ms, NULL, "refused by module \"%s\"", m->name);
    if (rc != 0 || settings_failed(ms) || settings_report_unknown(ms) < 0)
        return -1;
    h->mod = m;
    h->conf = conf;
    return 0;
}

/* Does module m implement hook k (ABI 1.2; zero in an older module's descriptor)? */
static int has_hook(const loaded_module *m, int k)
{
    switch (k) {
    case HOOK_REWRITE: return m->d.rewrite != NULL;
    case HOOK_ACCESS: return m->d.access != NULL;
    case HOOK_HEADER_FILTER: return m->d.header_filter != NULL;
    case HOOK_BODY_FILTER: return m->d.body_filter != NULL;
    case HOOK_LOG: return m->d.log_request != NULL;
    default: return 0;
    }
}

/* One array per hook of the modules that have it, in "modules" order. */
static int loc_hooks(cfg_ctx *x, location_conf *out)
{
    for (int k = 0; k < HOOK_COUNT; k++) {
        size_t n = 0;
        for (size_t i = 0; i < out->n_handlers; i++)
            n += has_hook(out->handlers[i].mod, k) != 0;
        if (!n)
            continue;
        location_handler *h = arena_alloc(x->a, n * sizeof *h);
        if (!h)
            return cfg_fail(x, out->json_path, "out of memory");
        n = 0;
        for (size_t i = 0; i < out->n_handlers; i++)
            if (has_hook(out->handlers[i].mod, k))
                h[n++] = out->handlers[i];
        out->hooks[k] = h;
        out->n_hooks[k] = n;
    }
    return 0;
}

static int loc_handlers(cfg_ctx *x, location_conf *out, json_t **vals, const int *on)
{
    location_handler *h = arena_alloc(x->a, (x->c->n_modules + 1) * sizeof *h);
    if (!h)
        return cfg_fail(x, out->json_path, "out of memory");
    size_t n = 0;
    out->serves_files = 1;
    int no_files = 0;
    for (size_t i = 0; i < x->c->n_modules; i++) {
        if (!on[i])
            continue;
        if (loc_configure(x, out, x->c->modules[i], vals[i], &h[n++]) < 0)
            return -1;
        no_files += (x->c->modules[i]->d.flags & WS_MODULE_NO_FILES) != 0;
    }
    out->handlers = h;
    out->n_handlers = n;
    if (n > 0 && no_files == (int)n)
        out->serves_files = 0;
    return loc_hooks(x, out);
}

/* Core keys from the table, and one key per loaded module. */
static int loc_keys_check(cfg_ctx *x, ws_settings *ls)
{
    const char **names = arena_alloc(x->a, (x->c->n_modules + 1) * sizeof *names);
    if (!names)
        return cfg_fail(x, settings_json_path(ls), "out of memory");
    for (size_t i = 0; i < x->c->n_modules; i++)
        names[i] = x->c->modules[i]->name;
    return core_keys_check(ls, SCOPE_LOCATION, names, x->c->n_modules);
}

int cfg_location(cfg_ctx *x, ws_settings *ls, const server_defaults *sd, location_conf *out)
{
    size_t nm = x->c->n_modules + 1;
    json_t **vals = arena_alloc(x->a, nm * sizeof *vals);
    int *on = arena_alloc(x->a, nm * sizeof *on);
    if (!vals || !on)
        return cfg_fail(x, settings_json_path(ls), "out of memory");
    out->json_path = settings_json_path(ls);
    out->root = sd->root;
    out->index = sd->index;
    out->n_index = sd->n_index;
    out->max_body = sd->max_body;
    if (loc_path(ls, out) < 0)
        return -1;
    /* "root": null drops the server's root here (SPEC §6). */
    json_t *root = settings_raw(ls, "root");
    if (root && json_is_null(root))
        out->root = NULL;
    else if (root && settings_path(ls, "root", &out->root) < 0)
        return -1;
    if (cfg_index(ls, &out->index, &out->n_index) < 0 || settings_size(ls, "client_max_body_size", &out->max_body) < 0 ||
        loc_error_pages(x, ls, sd, out) < 0 || loc_return(ls, out) < 0 || loc_timeouts(ls, out) < 0 ||
        loc_module_keys(x, ls, vals, on) < 0)
        return -1;
    int r = cfg_methods(ls, &out->methods, &out->n_methods);
    if (r < 0 || settings_report_unknown(ls) < 0 || loc_keys_check(x, ls) < 0)
        return -1;
    if (r == 0 && sd->methods) {
        out->methods = sd->methods;
        out->n_methods = sd->n_methods;
    } else if (r == 0 && loc_default_methods(x, out, on) < 0) {
        return -1;
    }
    if (loc_allow(x, out) < 0)
        return -1;
    return loc_handlers(x, out, vals, on);
}

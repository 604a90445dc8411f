/*
 * config_load (SPEC §3): read the JSON file, check every key, resolve paths
 * and defaults, load the modules it names and let them configure themselves
 * per location. Everything lands in one arena, so a failed load frees in one
 * go and nothing is ever half-applied.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "core_keys.h"
#include "fs_cache.h"
#include "modules.h"
#include "tls.h"

#ifndef WEBSERV_MODULE_INSTALL_DIR
#define WEBSERV_MODULE_INSTALL_DIR "/usr/local/lib/webserv/modules"
#endif
#ifndef WEBSERV_MODULE_DIR_FROM_BIN
#define WEBSERV_MODULE_DIR_FROM_BIN "../lib/webserv/modules" /* "" when not relative */
#endif

/* The folder of the executable, or NULL when it cannot be found. */
static const char *exe_dir(arena *a)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    return arena_strdup(a, dirname(exe));
}

/* Where a bare module name is looked up when "modules_dir" is not set, in
 * order: "modules/" beside the executable (a build tree), then the installed
 * folder as seen from the executable (so `cmake --install --prefix DIR` works
 * wherever DIR is), then the installed folder configured at build time. */
static size_t module_dirs(arena *a, const char **dirs)
{
    static const char *const rel[] = {"modules", WEBSERV_MODULE_DIR_FROM_BIN};
    const char *exe = exe_dir(a);
    size_t n = 0;
    for (size_t i = 0; exe && i < sizeof rel / sizeof rel[0]; i++)
        if (rel[i][0])
            dirs[n++] = arena_printf(a, "%s/%s", exe, rel[i]);
    dirs[n++] = WEBSERV_MODULE_INSTALL_DIR;
    return n;
}

/* The first of those folders holding mod_<name>.so; NULL when none does. */
static const char *default_dir_for(arena *a, const char *name)
{
    const char *dirs[3];
    size_t n = module_dirs(a, dirs);
    for (size_t i = 0; i < n; i++) {
        char *file = dirs[i] ? arena_printf(a, "%s/mod_%s.so", dirs[i], name) : NULL;
        if (file && access(file, F_OK) == 0)
            return dirs[i];
    }
    return NULL;
}

/* "module "kv" not found: no mod_kv.so in A, B or C" (every folder tried). */
static int not_found(cfg_ctx *x, const char *key, const char *name)
{
    const char *dirs[3];
    size_t n = module_dirs(x->a, dirs);
    char list[1536] = "";
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                              dirs[i] ? dirs[i] : "?");
    return cfg_fail(x, key, "module \"%s\" not found: no mod_%s.so in %s (set \"modules_dir\", or give a path)",
                    name, name, list);
}

static int valid_module_name(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            return 0;
    return !core_key_find(SCOPE_LOCATION, name); /* a module may not shadow a core key of a location */
}

/* A loaded module must be usable as a location key, and only once. */
static int check_module(cfg_ctx *x, const char *key, loaded_module *m)
{
    if (!valid_module_name(m->name))
        return cfg_fail(x, key, "%s: module name \"%s\" cannot be a location key", m->path, m->name);
    for (size_t i = 0; i < x->c->n_modules; i++)
        if (strcmp(x->c->modules[i]->name, m->name) == 0)
            return cfg_fail(x, key, x->c->modules[i] == m ? "module \"%s\" is listed twice"
                                                          : "two modules are named \"%s\": %s and %s",
                            m->name, x->c->modules[i]->path, m->path);
    return 0;
}

static int cfg_modules(cfg_ctx *x, ws_settings *top)
{
    const char *dir = NULL;
    const char *const *specs = NULL;
    size_t n = 0;
    if (settings_path(top, "modules_dir", &dir) < 0 || settings_string_list(top, "modules", &specs, &n) < 0)
        return -1;
    loaded_module **mods = arena_alloc(x->a, (n + 1) * sizeof *mods);
    if (!mods)
        return cfg_fail(x, "modules", "out of memory");
    x->c->modules = mods;
    for (size_t i = 0; i < n; i++) {
        char key[32], merr[768];
        snprintf(key, sizeof key, "modules[%zu]", i);
        if (!specs[i][0])
            return cfg_fail(x, key, "expected a module name or a path to a .so");
        const char *d = dir ? dir : strchr(specs[i], '/') ? NULL : default_dir_for(x->a, specs[i]);
        if (!dir && !d && !strchr(specs[i], '/'))
            return not_found(x, key, specs[i]);
        loaded_module *m = modules_acquire(specs[i], d, x->c->dir, merr, sizeof merr);
        if (!m)
            return cfg_fail(x, key, "%s", merr);
        int bad = check_module(x, key, m);
        mods[x->c->n_modules++] = m; /* config_free releases it either way */
        if (bad < 0)
            return -1;
    }
    return 0;
}

static int cfg_workers(cfg_ctx *x, ws_settings *top)
{
    json_t *v = settings_raw(top, "workers");
    long long n = 1;
    if (v && json_is_string(v) && strcmp(json_string_value(v), "auto") == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? cpus : 1;
    } else if (v && !json_is_integer(v)) {
        settings_error(top, "workers", "expected a number of processes or \"auto\"");
        return -1;
    } else if (core_key_int(top, SCOPE_TOP, "workers", &n) < 0) {
        return -1;
    }
    x->c->workers = (int)n;
    long long mc = 1024;
    if (core_key_int(top, SCOPE_TOP, "max_connections", &mc) < 0)
        return -1;
    x->c->max_connections = (int)mc;
    long long fce = FS_CACHE_DEFAULT_ENTRIES;
    if (core_key_int(top, SCOPE_TOP, "file_cache_entries", &fce) < 0)
        return -1;
    x->c->file_cache_entries = (int)fce;
    return 0;
}

static int cfg_logs(cfg_ctx *x, ws_settings *top)
{
    const char *s = NULL;
    ws_config *c = x->c;
    c->error_log = "stderr";
    c->log_level = WS_LOG_INFO; /* log_levels in core_keys.c are in enum ws_log_level order */
    if (settings_string(top, "error_log", &s) < 0)
        return -1;
    if (s && !s[0]) {
        settings_error(top, "error_log", "expected \"stderr\" or a file path");
        return -1;
    }
    if (s && strcmp(s, "stderr") != 0 && !(c->error_log = settings_abs_path(x->a, c->dir, s)))
        return cfg_fail(x, "error_log", "out of memory");
    s = NULL;
    if (core_key_enum(top, SCOPE_TOP, "log_level", &c->log_level) < 0)
        return -1;
    if (settings_string(top, "access_log", &s) < 0)
        return -1;
    if (s && !s[0]) {
        settings_error(top, "access_log", "expected \"off\", \"stdout\" or a file path");
        return -1;
    }
    if (s && strcmp(s, "off") != 0)
        c->access_log = strcmp(s, "stdout") == 0 ? s : settings_abs_path(x->a, c->dir, s);
    int format = 0; /* "combined", "json" */
    if (core_key_enum(top, SCOPE_TOP, "access_log_format", &format) < 0)
        return -1;
    c->access_log_json = format == 1;
    /* server_tokens: false sends "Server: webserv" without the version (as nginx's server_tokens off). */
    c->server_tokens = 1;
    if (settings_bool(top, "server_tokens", &c->server_tokens) < 0)
        return -1;
    return 0;
}

static int seconds_ms(ws_settings *t, const char *key, uint64_t *ms)
{
    double d;
    int r = settings_seconds(t, key, &d);
    if (r == 1)
        *ms = (uint64_t)(d * 1000.0 + 0.5);
    return r;
}

static int cfg_limits(cfg_ctx *x, ws_settings *top)
{
    config_timeouts *t = &x->c->timeouts;
    *t = (config_timeouts){10000, 30000, 15000, 60000, 5000};
    x->c->header_size = 16384;
    ws_settings *ts = NULL, *ls = NULL;
    if (settings_child(top, "timeouts", &ts) < 0 || settings_child(top, "limits", &ls) < 0)
        return -1;
    if (ts && (seconds_ms(ts, "header", &t->header_ms) < 0 || seconds_ms(ts, "body", &t->body_ms) < 0 ||
               seconds_ms(ts, "keepalive", &t->keepalive_ms) < 0 || seconds_ms(ts, "send", &t->send_ms) < 0 ||
               seconds_ms(ts, "shutdown", &t->shutdown_ms) < 0 || settings_report_unknown(ts) < 0))
        return -1;
    if (ts && core_keys_check(ts, SCOPE_TIMEOUTS, NULL, 0) < 0)
        return -1;
    int64_t hs;
    int r = ls ? core_key_size(ls, SCOPE_LIMITS, "header_size", &hs) : 0;
    if (r < 0 || (ls && (settings_report_unknown(ls) < 0 || core_keys_check(ls, SCOPE_LIMITS, NULL, 0) < 0)))
        return -1;
    if (r == 1)
        x->c->header_size = (size_t)hs;
    return 0;
}

/* mime_types: extension → type; ".MD" and "md" are the same key. */
static int cfg_mime(cfg_ctx *x, ws_settings *top)
{
    const char *const *pairs;
    size_t n;
    int r = settings_string_map(top, "mime_types", &pairs, &n);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char *ext = (char *)pairs[2 * i]; /* our own arena copy */
        if (ext[0] == '.')
            memmove(ext, ext + 1, strlen(ext)); /* ".md" means "md" */
        char key[300];
        snprintf(key, sizeof key, "mime_types.%.200s", pairs[2 * i]);
        if (!ext[0] || strchr(ext, '/') || !pairs[2 * i + 1][0]) {
            settings_error(top, key, "expected an extension mapped to a non-empty type");
            return -1;
        }
        for (char *p = ext; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    x->c->mime_pairs = pairs;
    x->c->n_mime = n;
    return 0;
}

static json_t *read_json(cfg_ctx *x, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cfg_fail(x, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!root)
        snprintf(x->err, x->errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(root)) {
        cfg_fail(x, NULL, "expected a JSON object at the top level");
        json_decref(root);
        root = NULL;
    }
    return root;
}

static int cfg_file_names(cfg_ctx *x, const char *path)
{
    char real[PATH_MAX];
    const char *file = realpath(path, real) ? real : path;
    x->c->file = settings_abs_path(x->a, NULL, file);
    char *copy = arena_strdup(x->a, x->c->file ? x->c->file : "/");
    x->c->dir = copy ? arena_strdup(x->a, dirname(copy)) : NULL;
    return x->c->file && x->c->dir ? 0 : cfg_fail(x, NULL, "out of memory");
}

static int cfg_top(cfg_ctx *x, json_t *root)
{
    ws_settings *top = settings_new(x->a, root, "", x->file, x->c->dir, x->err, x->errlen);
    if (!top)
        return cfg_fail(x, NULL, "out of memory");
    if (cfg_modules(x, top) < 0 || cfg_workers(x, top) < 0 || cfg_logs(x, top) < 0 || cfg_limits(x, top) < 0 ||
        cfg_mime(x, top) < 0)
        return -1;
    /* "$schema" names the JSON Schema an editor checks the file against
     * (webserv --schema); the server itself has no use for it. */
    json_t *schema = settings_raw(top, "$schema");
    if (schema && !json_is_string(schema)) {
        settings_error(top, "$schema", "expected the URI or path of a JSON Schema");
        return -1;
    }
    if (cfg_upstreams(x, top) < 0)
        return -1;
    settings_raw(top, "servers"); /* an unknown top-level key is a better first error than a missing server */
    if (settings_report_unknown(top) < 0 || core_keys_check(top, SCOPE_TOP, NULL, 0) < 0)
        return -1;
    return cfg_servers(x, top);
}

/* The frame of every load: a fresh config in its own arena, the file read with
 * its names and environment settled, then body() on the JSON tree. On failure
 * the config is freed and NULL returned, err saying why (something general
 * when nothing more precise was said). */
static ws_config *load_with(const char *path, char *err, size_t errlen, int (*body)(cfg_ctx *x, json_t *root))
{
    char fallback[8];
    if (!err || !errlen)
        err = fallback, errlen = sizeof fallback;
    err[0] = '\0';
    cfg_ctx x = {.file = path, .err = err, .errlen = errlen};
    if (!(x.a = arena_new(16384)) || !(x.c = arena_alloc(x.a, sizeof *x.c))) {
        arena_free(x.a);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    x.c->arena = x.a;
    json_t *root = read_json(&x, path);
    int rc = root && cfg_file_names(&x, path) == 0 && cfg_expand_env(&x, root) == 0 ? body(&x, root) : -1;
    json_decref(root);
    if (rc < 0) {
        if (!err[0])
            cfg_fail(&x, NULL, "invalid configuration");
        config_free(x.c);
        return NULL;
    }
    return x.c;
}

static int load_all(cfg_ctx *x, json_t *root)
{
    if (cfg_top(x, root) < 0)
        return -1;
    /* Certificates are read last, once every key is known to be well formed. */
    return tls_config_build(x->c, x->file, x->err, x->errlen) < 0 ? -1 : 0;
}

ws_config *config_load(const char *path, char *err, size_t errlen)
{
    return load_with(path, err, errlen, load_all);
}

static int load_modules_only(cfg_ctx *x, json_t *root)
{
    ws_settings *top = settings_new(x->a, root, "", x->file, x->c->dir, x->err, x->errlen);
    return top ? cfg_modules(x, top) : -1;
}

ws_config *config_load_modules(const char *path, char *err, size_t errlen)
{
    return load_with(path, err, errlen, load_modules_only);
}

void config_free(ws_config *c)
{
    if (!c)
        return;
    shm_zone_set_release(&c->zones); /* before the modules: a zone is unmapped while its module is still loaded */
    tls_config_free(c);
    for (size_t i = 0; i < c->n_modules; i++)
        modules_release(c->modules[i]);
    arena_free(c->arena);
}

static const location_conf *same_location(const ws_config *old, const server_conf *s, const location_conf *l)
{
    for (size_t i = 0; i < old->n_servers; i++) {
        if (strcmp(old->servers[i].json_path, s->json_path) != 0)
            continue;
        for (size_t j = 0; j < old->servers[i].n_locations; j++)
            if (strcmp(old->servers[i].locations[j].path, l->path) == 0)
                return &old->servers[i].locations[j];
    }
    return NULL;
}

void config_notify_reload(const ws_config *old, const ws_config *fresh)
{
    for (size_t i = 0; i < fresh->n_servers; i++) {
        const server_conf *s = &fresh->servers[i];
        for (size_t j = 0; j < s->n_locations; j++) {
            const location_conf *l = &s->locations[j];
            const location_conf *was = old ? same_location(old, s, l) : NULL;
            for (size_t k = 0; k < l->n_handlers; k++) {
                const loaded_module *m = l->handlers[k].mod;
                if (!m->d.on_reload)
                    continue;
                const void *old_conf = NULL;
                /* The same loaded copy (the registry shares it between configs). */
                for (size_t h = 0; was && h < was->n_handlers; h++)
                    if (was->handlers[h].mod == m)
                        old_conf = was->handlers[h].conf;
                m->d.on_reload(old_conf, l->handlers[k].conf);
            }
        }
    }
}

/*
 * The "servers" array (SPEC §3): listen addresses, names, the defaults a
 * server hands to its locations, and the locations themselves, sorted
 * longest path first so the router's first prefix match is the longest.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "core_keys.h"

static int listen_text(cfg_ctx *x, ws_settings *ss, json_t *v, const char *key, listen_addr *out)
{
    char text[128], why[256];
    if (json_is_integer(v))
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(text, sizeof text, "%s", json_string_value(v));
    else {
        settings_error(ss, key, "expected \"PORT\", \"HOST:PORT\", \"[IPV6]:PORT\" or {\"address\": …}");
        return -1;
    }
    if (cfg_parse_listen(x->a, text, out, why, sizeof why) < 0) {
        settings_error(ss, key, "%s", why);
        return -1;
    }
    out->protocols = LISTEN_PROTO_HTTP1;
    return 0;
}

/* SPEC §6: "protocols" of a listen object; the default is ["h2", "http/1.1"]
 * with TLS and ["http/1.1"] without ("h2c": HTTP/2 with prior knowledge on
 * a cleartext address, beside HTTP/1.1; core/h2). */
static int listen_protocols(ws_settings *ls, listen_addr *out)
{
    const char *const *p;
    size_t n;
    int r = settings_string_list(ls, "protocols", &p, &n);
    if (r < 0)
        return -1;
    if (r == 0) {
        out->protocols = LISTEN_PROTO_HTTP1 | (out->tls ? LISTEN_PROTO_H2 : 0);
        return 0;
    }
    out->protocols = 0;
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "protocols[%zu]", i);
        if (strcmp(p[i], "http/1.1") == 0)
            out->protocols |= LISTEN_PROTO_HTTP1;
        else if (strcmp(p[i], "h2") == 0 && out->tls)
            out->protocols |= LISTEN_PROTO_H2;
        else if (strcmp(p[i], "h2c") == 0 && !out->tls)
            out->protocols |= LISTEN_PROTO_H2C;
        else {
            settings_error(ls, key, "\"%s\": expected %s", p[i],
                           out->tls ? "\"h2\" or \"http/1.1\" on a TLS address"
                                    : "\"h2c\" or \"http/1.1\" on a cleartext address");
            return -1;
        }
    }
    if (!out->protocols) {
        settings_error(ls, "protocols", "expected at least one protocol");
        return -1;
    }
    return 0;
}

/* {"address": "HOST:PORT", "tls": true, "protocols": [...]} (SPEC §6). */
static int listen_object(cfg_ctx *x, ws_settings *ss, json_t *v, const char *key, listen_addr *out)
{
    const char *path = arena_printf(x->a, "%s.%s", settings_json_path(ss), key);
    ws_settings *ls = path ? settings_new(x->a, v, path, x->file, x->c->dir, x->err, x->errlen) : NULL;
    if (!ls)
        return cfg_fail(x, settings_json_path(ss), "out of memory");
    json_t *addr = settings_raw(ls, "address");
    if (!addr) {
        settings_error(ls, "address", "required");
        return -1;
    }
    int tls = 0;
    if (listen_text(x, ls, addr, "address", out) < 0 || settings_bool(ls, "tls", &tls) < 0)
        return -1;
    out->tls = tls;
    if (listen_protocols(ls, out) < 0 || settings_report_unknown(ls) < 0 || core_keys_check(ls, SCOPE_LISTEN, NULL, 0) < 0)
        return -1;
    if (out->tls)
        x->c->has_tls = 1;
    return 0;
}

static int listen_one(cfg_ctx *x, ws_settings *ss, json_t *v, const char *key, listen_addr *out)
{
    return json_is_object(v) ? listen_object(x, ss, v, key, out) : listen_text(x, ss, v, key, out);
}

/* "listen": one address or an array of them; required. */
static int srv_listen(cfg_ctx *x, ws_settings *ss, server_conf *out)
{
    json_t *v = settings_raw(ss, "listen");
    int arr = v && json_is_array(v);
    size_t n = arr ? json_array_size(v) : 1;
    if (!v || n == 0) {
        settings_error(ss, "listen", "required (at least one address)");
        return -1;
    }
    listen_addr *l = arena_alloc(x->a, n * sizeof *l);
    if (!l)
        return cfg_fail(x, settings_json_path(ss), "out of memory");
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, arr ? "listen[%zu]" : "listen", i);
        if (listen_one(x, ss, arr ? json_array_get(v, i) : v, key, &l[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (l[j].len == l[i].len && memcmp(&l[j].ss, &l[i].ss, l[i].len) == 0) {
                settings_error(ss, key, "%s is listed twice", l[i].text);
                return -1;
            }
    }
    out->listens = l;
    out->n_listens = n;
    return 0;
}

/* Names compare case-insensitively (SPEC §3): store them lower-cased. */
static int srv_names(ws_settings *ss, server_conf *out)
{
    const char *const *names;
    size_t n;
    int r = settings_string_list(ss, "server_names", &names, &n);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char *name = (char *)names[i]; /* our own arena copy */
        char key[48];
        snprintf(key, sizeof key, "server_names[%zu]", i);
        if (!name[0] || strpbrk(name, " \t/")) {
            settings_error(ss, key, "expected a host name");
            return -1;
        }
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    out->names = names;
    out->n_names = n;
    return 0;
}

static int srv_defaults(cfg_ctx *x, ws_settings *ss, server_conf *out, server_defaults *sd)
{
    static const char *const default_index[] = {"index.html", NULL};
    error_page *pages = NULL;
    size_t n_pages = 0;
    sd->index = default_index;
    sd->n_index = 1;
    sd->max_body = 1 << 20;
    if (settings_path(ss, "root", &sd->root) < 0 || cfg_index(ss, &sd->index, &sd->n_index) < 0 ||
        settings_size(ss, "client_max_body_size", &sd->max_body) < 0 ||
        cfg_methods(ss, &sd->methods, &sd->n_methods) < 0 || cfg_error_pages(x, ss, &pages, &n_pages) < 0)
        return -1;
    sd->error_pages = out->error_pages = pages;
    sd->n_error_pages = out->n_error_pages = n_pages;
    return 0;
}

static int cmp_location(const void *a, const void *b)
{
    const location_conf *l = a, *r = b;
    if (l->path_len != r->path_len)
        return l->path_len > r->path_len ? -1 : 1;
    return strcmp(l->path, r->path);
}

static int srv_locations(cfg_ctx *x, ws_settings *ss, json_t *v, const server_defaults *sd, server_conf *out)
{
    size_t n = v ? json_array_size(v) : 0;
    location_conf *locs = arena_alloc(x->a, (n + 1) * sizeof *locs);
    if (!locs)
        return cfg_fail(x, settings_json_path(ss), "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        const char *path = arena_printf(x->a, "%s.locations[%zu]", settings_json_path(ss), i);
        if (!path)
            return cfg_fail(x, settings_json_path(ss), "out of memory");
        if (!json_is_object(e))
            return cfg_fail(x, path, "expected an object");
        ws_settings *ls = settings_new(x->a, e, path, x->file, x->c->dir, x->err, x->errlen);
        if (!ls)
            return cfg_fail(x, path, "out of memory");
        if (cfg_location(x, ls, sd, &locs[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(locs[j].path, locs[i].path) == 0)
                return cfg_fail(x, arena_printf(x->a, "%s.path", path), "\"%s\" is already the path of %s",
                                locs[i].path, locs[j].json_path);
    }
    qsort(locs, n, sizeof *locs, cmp_location);
    out->locations = locs;
    out->n_locations = n;
    return 0;
}

static int cfg_server(cfg_ctx *x, ws_settings *ss, server_conf *out)
{
    server_defaults sd = {0};
    out->json_path = settings_json_path(ss);
    if (srv_listen(x, ss, out) < 0 || srv_names(ss, out) < 0 || srv_defaults(x, ss, out, &sd) < 0 ||
        cfg_tls(x, ss, out) < 0)
        return -1;
    json_t *locs = settings_raw(ss, "locations");
    if (locs && !json_is_array(locs)) {
        settings_error(ss, "locations", "expected an array of location objects");
        return -1;
    }
    if (settings_report_unknown(ss) < 0 || core_keys_check(ss, SCOPE_SERVER, NULL, 0) < 0)
        return -1;
    return srv_locations(x, ss, locs, &sd, out);
}

int cfg_servers(cfg_ctx *x, ws_settings *top)
{
    json_t *v = settings_raw(top, "servers");
    if (!v || !json_is_array(v) || !json_array_size(v)) {
        settings_error(top, "servers", "required: an array of at least one server object");
        return -1;
    }
    size_t n = json_array_size(v);
    server_conf *servers = arena_alloc(x->a, n * sizeof *servers);
    if (!servers)
        return cfg_fail(x, "servers", "out of memory");
    x->c->servers = servers;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        const char *path = arena_printf(x->a, "servers[%zu]", i);
        if (!path)
            return cfg_fail(x, "servers", "out of memory");
        if (!json_is_object(e))
            return cfg_fail(x, path, "expected an object");
        ws_settings *ss = settings_new(x->a, e, path, x->file, x->c->dir, x->err, x->errlen);
        if (!ss)
            return cfg_fail(x, path, "out of memory");
        if (cfg_server(x, ss, &servers[i]) < 0)
            return -1;
        x->c->n_servers = i + 1;
    }
    return cfg_build_binds(x);
}

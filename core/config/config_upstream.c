/*
 * Top-level "upstreams" (SPEC §6): named groups of application servers for
 * the proxy and fastcgi modules. Validated and resolved here, once, so a
 * module gets a read-only ws_upstream (host->cfg_upstream) and never parses
 * addresses itself. Every key is checked with its JSON path, like §3.
 *
 *   "upstreams": {"app": {"servers": [{"address": "127.0.0.1:9000", "weight": 1}],
 *                         "balance": "round_robin" | "least_conn", "keepalive": 16,
 *                         "keepalive_timeout": 60, "max_fails": 3, "fail_timeout": 10,
 *                         "timeouts": {"connect": 5, "send": 60, "read": 60}}}
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "config_internal.h"

#define UPSTREAM_SERVERS_MAX 256

static int ms_of(ws_settings *s, const char *key, uint64_t *ms)
{
    double d;
    int r = settings_seconds(s, key, &d);
    if (r == 1) {
        if (d > 86400.0 * 365) {
            settings_error(s, key, "must be at most one year");
            return -1;
        }
        *ms = (uint64_t)(d * 1000.0 + 0.5);
    }
    return r;
}

/* "unix:/path" (absolute, or relative to the config folder) or HOST:PORT
 * with a numeric IPv4 address, [IPv6] or localhost, as for "listen". */
static int server_address(cfg_ctx *x, ws_settings *ss, ws_upstream_server *out)
{
    const char *text = NULL;
    int r = settings_string(ss, "address", &text);
    if (r < 0)
        return -1;
    if (r == 0) {
        settings_error(ss, "address", "required: \"HOST:PORT\" or \"unix:/path\"");
        return -1;
    }
    out->address = text;
    if (strncmp(text, "unix:", 5) == 0) {
        const char *p = settings_abs_path(x->a, x->c->dir, text + 5);
        struct sockaddr_un *un = arena_alloc(x->a, sizeof *un);
        if (!p || !un)
            return cfg_fail(x, settings_json_path(ss), "out of memory");
        if (!text[5] || strlen(p) >= sizeof un->sun_path) {
            settings_error(ss, "address", "\"%s\": a socket path of 1 to %zu bytes is expected after \"unix:\"",
                           text, sizeof un->sun_path - 1);
            return -1;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, p);
        out->addr = (const struct sockaddr *)un;
        out->addrlen = (socklen_t)sizeof *un;
        return 0;
    }
    listen_addr la;
    char why[256];
    if (!strchr(text, ':') || cfg_parse_listen(x->a, text, &la, why, sizeof why) < 0 || la.wildcard) {
        settings_error(ss, "address", "\"%s\" is not HOST:PORT ([IPV6]:PORT, localhost:PORT) or unix:/path", text);
        return -1;
    }
    struct sockaddr_storage *ss_copy = arena_alloc(x->a, sizeof *ss_copy);
    if (!ss_copy)
        return cfg_fail(x, settings_json_path(ss), "out of memory");
    memcpy(ss_copy, &la.ss, sizeof *ss_copy);
    out->addr = (const struct sockaddr *)ss_copy;
    out->addrlen = la.len;
    return 0;
}

static int upstream_servers(cfg_ctx *x, ws_settings *us, ws_upstream *u)
{
    json_t *list = settings_raw(us, "servers");
    if (!list || !json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > UPSTREAM_SERVERS_MAX) {
        settings_error(us, "servers", "required: a list of 1 to %d {\"address\": …, \"weight\": …} objects",
                       UPSTREAM_SERVERS_MAX);
        return -1;
    }
    size_t n = json_array_size(list);
    ws_upstream_server *sv = arena_alloc(x->a, n * sizeof *sv);
    if (!sv)
        return cfg_fail(x, u->json_path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(list, i);
        const char *path = arena_printf(x->a, "%s.servers[%zu]", u->json_path, i);
        if (!path)
            return cfg_fail(x, u->json_path, "out of memory");
        if (!json_is_object(o))
            return cfg_fail(x, path, "expected an object {\"address\": \"HOST:PORT\", \"weight\": 1}");
        ws_settings *ss = settings_new(x->a, o, path, x->file, x->c->dir, x->err, x->errlen);
        if (!ss)
            return cfg_fail(x, path, "out of memory");
        long long w = 1;
        if (server_address(x, ss, &sv[i]) < 0 || settings_int(ss, "weight", 1, 1000, &w) < 0 ||
            settings_report_unknown(ss) < 0)
            return -1;
        sv[i].weight = (unsigned)w;
        for (size_t j = 0; j < i; j++)
            if (strcmp(sv[j].address, sv[i].address) == 0)
                return cfg_fail(x, path, "\"%s\" is listed twice (give it a weight instead)", sv[i].address);
    }
    u->servers = sv;
    u->n_servers = n;
    return 0;
}

static int upstream_one(cfg_ctx *x, ws_settings *us, ws_upstream *u)
{
    const char *balance = NULL;
    if (upstream_servers(x, us, u) < 0 || settings_string(us, "balance", &balance) < 0)
        return -1;
    if (balance && strcmp(balance, "least_conn") == 0)
        u->balance = WS_BALANCE_LEAST_CONN;
    else if (balance && strcmp(balance, "round_robin") != 0) {
        settings_error(us, "balance", "expected \"round_robin\" or \"least_conn\"");
        return -1;
    }
    long long keepalive = 16, max_fails = 3;
    u->keepalive_ms = 60000;
    u->fail_timeout_ms = 10000;
    u->connect_ms = 5000;
    u->send_ms = u->read_ms = 60000;
    ws_settings *ts = NULL;
    if (settings_int(us, "keepalive", 0, 100000, &keepalive) < 0 ||
        ms_of(us, "keepalive_timeout", &u->keepalive_ms) < 0 ||
        settings_int(us, "max_fails", 0, 1000000, &max_fails) < 0 ||
        ms_of(us, "fail_timeout", &u->fail_timeout_ms) < 0 || settings_child(us, "timeouts", &ts) < 0)
        return -1;
    if (ts && (ms_of(ts, "connect", &u->connect_ms) < 0 || ms_of(ts, "send", &u->send_ms) < 0 ||
               ms_of(ts, "read", &u->read_ms) < 0 || settings_report_unknown(ts) < 0))
        return -1;
    u->keepalive = (unsigned)keepalive;
    u->max_fails = (unsigned)max_fails;
    return settings_report_unknown(us);
}

int cfg_upstreams(cfg_ctx *x, ws_settings *top)
{
    json_t *all = settings_raw(top, "upstreams");
    if (!all)
        return 0;
    if (!json_is_object(all)) {
        settings_error(top, "upstreams", "expected an object of named upstream groups");
        return -1;
    }
    size_t n = json_object_size(all), i = 0;
    ws_upstream *us = arena_alloc(x->a, (n ? n : 1) * sizeof *us);
    if (!us)
        return cfg_fail(x, "upstreams", "out of memory");
    const char *name;
    json_t *o;
    json_object_foreach(all, name, o)
    {
        ws_upstream *u = &us[i];
        u->size = sizeof *u;
        u->name = arena_strdup(x->a, name);
        u->json_path = arena_printf(x->a, "upstreams.%s", name);
        if (!u->name || !u->json_path)
            return cfg_fail(x, "upstreams", "out of memory");
        if (!name[0])
            return cfg_fail(x, "upstreams", "an upstream needs a non-empty name");
        if (!json_is_object(o))
            return cfg_fail(x, u->json_path, "expected an object with \"servers\"");
        ws_settings *s = settings_new(x->a, o, u->json_path, x->file, x->c->dir, x->err, x->errlen);
        if (!s)
            return cfg_fail(x, u->json_path, "out of memory");
        if (upstream_one(x, s, u) < 0)
            return -1;
        i++;
    }
    x->c->upstreams = us;
    x->c->n_upstreams = n;
    return 0;
}

const ws_upstream *config_find_upstream(const ws_upstream *us, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(us[i].name, name) == 0)
            return &us[i];
    return NULL;
}

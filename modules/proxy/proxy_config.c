/*
 * The "proxy" settings object (SPEC §6): upstream (required), strip_prefix
 * (false), host ("client" | "upstream" | a literal; "client"), retries (1),
 * trusted_proxies ([]), timeouts ({connect, send, read}; the upstream group's).
 */
#include "proxy.h"

#include <string.h>

static int timeout_key(const ws_settings *t, const char *key, uint64_t *ms)
{
    double d;
    int rc = proxy_host->cfg_seconds(t, key, &d);
    if (rc == 1) {
        if (d > 31536000.0) {
            proxy_host->cfg_error(t, key, "at most one year (31536000 seconds)");
            return -1;
        }
        *ms = (uint64_t)(d * 1000.0 + 0.5);
    }
    return rc;
}

int proxy_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    const ws_host *h = proxy_host;
    proxy_conf *c = h->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    int ok = up_conf_upstream(h, s, &c->upstream);
    if (ok < 0)
        return -1;
    c->location = loc->path;
    if (h->cfg_bool(s, "pass_server_date", &c->pass_server_date) < 0)
        return -1;
    if (c->pass_server_date && (h->size < offsetof(ws_host, set_server_date) + sizeof h->set_server_date ||
                                !h->set_server_date)) {
        h->cfg_error(s, "pass_server_date", "this server cannot pass them (ABI 1.3 set_server_date)");
        return -1;
    }
    if (h->cfg_bool(s, "strip_prefix", &c->strip_prefix) < 0)
        ok = 0;
    const char *host = "client";
    if (h->cfg_string(s, "host", &host) < 0) {
        ok = 0;
    } else if (strcmp(host, "client") == 0) {
        c->host_mode = PROXY_HOST_CLIENT;
    } else if (strcmp(host, "upstream") == 0) {
        c->host_mode = PROXY_HOST_UPSTREAM;
    } else {
        c->host_mode = PROXY_HOST_LITERAL;
        c->host_literal = host;
        for (const char *p = host; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/' || *p == '@') {
                h->cfg_error(s, "host", "\"%s\": expected \"client\", \"upstream\" or a host[:port]", host);
                ok = 0;
                break;
            }
        if (!host[0]) {
            h->cfg_error(s, "host", "expected \"client\", \"upstream\" or a host[:port]");
            ok = 0;
        }
    }
    long long retries = 1;
    if (h->cfg_int(s, "retries", 0, 100, &retries) < 0)
        ok = 0;
    c->retries = (unsigned)retries;
    const char *const *list = NULL;
    size_t n = 0;
    if (h->cfg_string_list(s, "trusted_proxies", &list, &n) < 0) {
        ok = 0;
    } else if (n) {
        proxy_cidr *t = h->cfg_alloc(s, n * sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (proxy_parse_cidr(list[i], &t[i]) < 0) {
                h->cfg_error(s, "trusted_proxies", "\"%s\": expected an IPv4 or IPv6 address, optionally /bits",
                             list[i]);
                ok = 0;
            }
        c->trusted = t;
        c->n_trusted = n;
    }
    if (c->upstream) {
        c->connect_ms = c->upstream->connect_ms;
        c->send_ms = c->upstream->send_ms;
        c->read_ms = c->upstream->read_ms;
    }
    /* "timeouts": {connect, send, read} over the group's, for this location. */
    const ws_settings *ts = NULL;
    int has_object = h->size >= offsetof(ws_host, cfg_object) + sizeof h->cfg_object && h->cfg_object;
    int rc = has_object ? h->cfg_object(s, "timeouts", &ts) : 0;
    if (rc < 0)
        ok = 0;
    if (rc > 0 && (timeout_key(ts, "connect", &c->connect_ms) < 0 || timeout_key(ts, "send", &c->send_ms) < 0 ||
                   timeout_key(ts, "read", &c->read_ms) < 0))
        ok = 0;
    *out = c;
    return ok ? 0 : -1;
}

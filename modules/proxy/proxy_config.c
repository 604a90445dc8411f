/*
 * The "proxy" settings object (SPEC §6): upstream (required), strip_prefix
 * (false), host ("client" | "upstream" | a literal; "client"), retries (1),
 * trusted_proxies ([]). The timeouts are the upstream group's.
 */
#include "proxy.h"

#include <string.h>

int proxy_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    const ws_host *h = proxy_host;
    if (h->size < offsetof(ws_host, cfg_upstream) + sizeof h->cfg_upstream || !h->cfg_upstream) {
        h->cfg_error(s, NULL, "this server has no upstreams (ABI 1.2 cfg_upstream)");
        return -1;
    }
    proxy_conf *c = h->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    int ok = 1;
    int rc = h->cfg_upstream(s, "upstream", &c->upstream);
    if (rc == 0) {
        h->cfg_error(s, "upstream", "required: the name of a top-level upstream");
        ok = 0;
    } else if (rc < 0) {
        ok = 0;
    }
    c->location = loc->path;
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
    /* SPEC §6 "timeouts" (an object overriding the upstream's) needs a nested
     * settings getter (ABI 1.2 cfg_object, not in the host yet): the
     * upstream group's timeouts apply. */
    *out = c;
    return ok ? 0 : -1;
}

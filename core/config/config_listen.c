/*
 * Listen addresses and the sockets to open (SPEC §3 virtual hosts). Servers on
 * the same address form a vhost group; each unique address is one bind, except
 * that a specific address beside a wildcard of the same family and port is not
 * bound itself: it rides on the wildcard's socket as an extra group and the
 * connection's local address picks it (as nginx does), since binding both
 * would fail with EADDRINUSE.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

static int parse_port(const char *s, int *port)
{
    long n = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || (n = n * 10 + (*s - '0')) > 65535)
            return -1;
    }
    if (n < 1)
        return -1;
    *port = (int)n;
    return 0;
}

/* Split text into host (copied into hbuf, "" when only a port) and port. */
static int split_host_port(const char *text, char *hbuf, size_t hlen, const char **port)
{
    const char *colon;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':')
            return -1;
        colon = end + 1;
        text++;
        if ((size_t)(end - text) >= hlen)
            return -1;
        memcpy(hbuf, text, (size_t)(end - text));
        hbuf[end - text] = '\0';
    } else if ((colon = strrchr(text, ':'))) {
        if ((size_t)(colon - text) >= hlen || memchr(text, ':', (size_t)(colon - text)))
            return -1; /* a bare IPv6 address needs brackets */
        memcpy(hbuf, text, (size_t)(colon - text));
        hbuf[colon - text] = '\0';
    } else {
        hbuf[0] = '\0';
        *port = text;
        return 0;
    }
    *port = colon + 1;
    return 0;
}

int cfg_parse_listen(arena *a, const char *text, listen_addr *out, char *why, size_t len)
{
    char host[64];
    const char *port_s;
    memset(out, 0, sizeof *out);
    if (split_host_port(text, host, sizeof host, &port_s) < 0 || parse_port(port_s, &out->port) < 0) {
        snprintf(why, len, "\"%s\" is not PORT, HOST:PORT or [IPV6]:PORT (port 1-65535)", text);
        return -1;
    }
    int bracketed = text[0] == '[';
    if (!bracketed && (!host[0] || strcmp(host, "*") == 0))
        strcpy(host, "0.0.0.0");
    else if (!bracketed && strcasecmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1"); /* the one name we resolve: no DNS at startup */
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    char buf[INET6_ADDRSTRLEN];
    if (!bracketed && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        out->family = v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)out->port);
        out->len = sizeof *v4;
        out->wildcard = v4->sin_addr.s_addr == htonl(INADDR_ANY);
        inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
        out->text = arena_printf(a, "%s:%d", buf, out->port);
    } else if (bracketed && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        out->family = v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)out->port);
        out->len = sizeof *v6;
        out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
        inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
        out->text = arena_printf(a, "[%s]:%d", buf, out->port);
    } else {
        snprintf(why, len, "\"%s\": the host must be a numeric IPv4 address, [IPv6] or localhost", text);
        return -1;
    }
    if (!out->text) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    return 0;
}

static int same_addr(const listen_addr *a, const listen_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static const listen_addr *server_listens_on(const server_conf *s, const listen_addr *addr)
{
    for (size_t i = 0; i < s->n_listens; i++)
        if (same_addr(&s->listens[i], addr))
            return &s->listens[i];
    return NULL;
}

/* One socket speaks one way: every server naming an address (or riding on a
 * wildcard's socket) must agree on TLS and protocols. */
static int check_same_kind(cfg_ctx *x, const server_conf *first, const listen_addr *a, const server_conf *s,
                           const listen_addr *b)
{
    if (a->tls != b->tls)
        return cfg_fail(x, s->json_path, "%s is TLS in %s and not in %s: one address is either TLS or not",
                        b->text, a->tls ? first->json_path : s->json_path, a->tls ? s->json_path : first->json_path);
    if (a->protocols != b->protocols)
        return cfg_fail(x, s->json_path, "%s has other \"protocols\" than in %s", b->text, first->json_path);
    return 0;
}

/* Two servers on one address must be told apart by name (SPEC §3). */
static int check_pair(cfg_ctx *x, const server_conf *s, const server_conf *t, const listen_addr *addr)
{
    if (!s->n_names && !t->n_names)
        return cfg_fail(x, t->json_path, "%s and %s both listen on %s without server_names", s->json_path,
                        t->json_path, addr->text);
    for (size_t i = 0; i < s->n_names; i++)
        for (size_t j = 0; j < t->n_names; j++)
            if (strcmp(s->names[i], t->names[j]) == 0)
                return cfg_fail(x, t->json_path, "%s and %s both listen on %s with server name \"%s\"",
                                s->json_path, t->json_path, addr->text, s->names[i]);
    return 0;
}

/* Collect the distinct addresses in config order, with their servers. */
static int build_groups(cfg_ctx *x, vhost_group **out, size_t *n_out)
{
    ws_config *c = x->c;
    size_t total = 0;
    for (size_t i = 0; i < c->n_servers; i++)
        total += c->servers[i].n_listens;
    vhost_group *g = arena_alloc(x->a, (total + 1) * sizeof *g);
    if (!g)
        return cfg_fail(x, "servers", "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < c->n_servers; i++)
        for (size_t k = 0; k < c->servers[i].n_listens; k++) {
            const listen_addr *addr = &c->servers[i].listens[k];
            size_t j = 0;
            while (j < n && !same_addr(&g[j].addr, addr))
                j++;
            if (j < n)
                continue;
            g[n].addr = *addr;
            const server_conf **list = arena_alloc(x->a, c->n_servers * sizeof *list);
            if (!list)
                return cfg_fail(x, "servers", "out of memory");
            for (size_t s = i; s < c->n_servers; s++) {
                const listen_addr *mine = server_listens_on(&c->servers[s], addr);
                if (mine && check_same_kind(x, &c->servers[i], addr, &c->servers[s], mine) < 0)
                    return -1;
                if (mine) {
                    for (size_t p = 0; p < g[n].n_servers; p++)
                        if (check_pair(x, list[p], &c->servers[s], addr) < 0)
                            return -1;
                    list[g[n].n_servers++] = &c->servers[s];
                }
            }
            g[n++].servers = list;
        }
    *out = g;
    *n_out = n;
    return 0;
}

static const vhost_group *find_wildcard(const vhost_group *g, size_t n, const listen_addr *addr)
{
    for (size_t i = 0; i < n; i++)
        if (g[i].addr.wildcard && g[i].addr.family == addr->family && g[i].addr.port == addr->port)
            return &g[i];
    return NULL;
}

int cfg_build_binds(cfg_ctx *x)
{
    vhost_group *g = NULL;
    size_t n = 0;
    if (build_groups(x, &g, &n) < 0)
        return -1;
    bind_conf *b = arena_alloc(x->a, (n + 1) * sizeof *b);
    size_t nb = 0;
    if (!b)
        return cfg_fail(x, "servers", "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!g[i].addr.wildcard && find_wildcard(g, n, &g[i].addr))
            continue; /* served through the wildcard's socket */
        vhost_group *list = arena_alloc(x->a, n * sizeof *list);
        if (!list)
            return cfg_fail(x, "servers", "out of memory");
        size_t ng = 0;
        list[ng++] = g[i];
        for (size_t j = 0; g[i].addr.wildcard && j < n; j++)
            if (!g[j].addr.wildcard && g[j].addr.family == g[i].addr.family && g[j].addr.port == g[i].addr.port) {
                if (g[j].addr.tls != g[i].addr.tls)
                    return cfg_fail(x, g[j].servers[0]->json_path,
                                    "%s shares the socket of %s (%s): both must be TLS or neither", g[j].addr.text,
                                    g[i].addr.text, g[i].servers[0]->json_path);
                list[ng++] = g[j];
            }
        b[nb].addr = g[i].addr;
        b[nb].groups = list;
        b[nb++].n_groups = ng;
    }
    x->c->binds = b;
    x->c->n_binds = nb;
    return 0;
}

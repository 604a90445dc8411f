/*
 * Routing (SPEC §3 rules): the connection's local address picks the group of
 * virtual hosts on a bind, the Host header picks the server in it, and the
 * longest segment-boundary prefix picks the location.
 */
#include "router.h"

#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* Same address and port. An IPv4-mapped IPv6 local address (a dual-stack
 * socket) compares as the IPv4 address it carries. */
static int addr_equal(const listen_addr *a, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)sa;
        if (a->family == AF_INET6) {
            const struct sockaddr_in6 *g = (const struct sockaddr_in6 *)&a->ss;
            return g->sin6_port == l->sin6_port && memcmp(&g->sin6_addr, &l->sin6_addr, 16) == 0;
        }
        if (a->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&l->sin6_addr)) {
            const struct sockaddr_in *g = (const struct sockaddr_in *)&a->ss;
            return g->sin_port == l->sin6_port && memcmp(&g->sin_addr, &l->sin6_addr.s6_addr[12], 4) == 0;
        }
        return 0;
    }
    if (sa->sa_family == AF_INET && a->family == AF_INET) {
        const struct sockaddr_in *g = (const struct sockaddr_in *)&a->ss;
        const struct sockaddr_in *l = (const struct sockaddr_in *)sa;
        return g->sin_port == l->sin_port && g->sin_addr.s_addr == l->sin_addr.s_addr;
    }
    return 0;
}

static const vhost_group *pick_group(const bind_conf *b, const struct sockaddr *local)
{
    if (local)
        for (size_t i = 1; i < b->n_groups; i++)
            if (addr_equal(&b->groups[i].addr, local))
                return &b->groups[i];
    return &b->groups[0];
}

/* The host name part of a Host value: no port, no IPv6 brackets, no trailing dot. */
static void host_name(const char *host, size_t len, const char **name, size_t *n)
{
    if (len > 0 && host[0] == '[') {
        const char *end = memchr(host, ']', len);
        *name = host + 1;
        *n = end ? (size_t)(end - host - 1) : len - 1;
        return;
    }
    const char *colon = memchr(host, ':', len);
    *name = host;
    *n = colon ? (size_t)(colon - host) : len;
    if (*n > 0 && host[*n - 1] == '.')
        (*n)--;
}

const server_conf *router_server(const bind_conf *b, const struct sockaddr *local, const char *host, size_t host_len)
{
    const vhost_group *g = pick_group(b, local);
    const char *name = NULL;
    size_t n = 0;
    if (host && host_len)
        host_name(host, host_len, &name, &n);
    if (n > 0)
        for (size_t i = 0; i < g->n_servers; i++) {
            const server_conf *s = g->servers[i];
            for (size_t j = 0; j < s->n_names; j++)
                if (strlen(s->names[j]) == n && strncasecmp(s->names[j], name, n) == 0)
                    return s;
        }
    return g->servers[0];
}

const location_conf *router_location(const server_conf *s, const char *path, size_t path_len)
{
    /* Locations are sorted longest first, so the first match is the longest. */
    for (size_t i = 0; i < s->n_locations; i++) {
        const location_conf *l = &s->locations[i];
        if (l->path_len == 1 && l->path[0] == '/')
            return l;
        /* Paths start with '/': the byte after it rules out most locations
         * without a memcmp call (this runs for every request). */
        if (path_len >= l->path_len && path[1] == l->path[1] && memcmp(path, l->path, l->path_len) == 0 &&
            (path_len == l->path_len || path[l->path_len] == '/'))
            return l;
    }
    return NULL;
}

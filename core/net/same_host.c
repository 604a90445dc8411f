/* Peers on this machine (same_host.h says why the send path cares). */
#include "same_host.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

/* The IPv4 address inside sa (plain, or IPv4-mapped IPv6) in *v4; 0 if none. */
static int ipv4_of(const struct sockaddr *sa, struct in_addr *v4)
{
    if (sa->sa_family == AF_INET) {
        *v4 = ((const struct sockaddr_in *)sa)->sin_addr;
        return 1;
    }
    if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
        memcpy(v4, &((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[12], sizeof *v4);
        return 1;
    }
    return 0;
}

int address_is_loopback(const struct sockaddr *a)
{
    struct in_addr v4;
    if (ipv4_of(a, &v4))
        return (ntohl(v4.s_addr) >> 24) == 127;
    return a->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

int peer_on_this_host(const struct sockaddr *local, const struct sockaddr *remote)
{
    struct in_addr r4, l4;
    if (address_is_loopback(remote))
        return 1;
    if (ipv4_of(remote, &r4))
        return ipv4_of(local, &l4) && l4.s_addr == r4.s_addr;
    if (remote->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *r6 = &((const struct sockaddr_in6 *)remote)->sin6_addr;
    return local->sa_family == AF_INET6 &&
           memcmp(&((const struct sockaddr_in6 *)local)->sin6_addr, r6, sizeof *r6) == 0;
}

#ifdef TCP_CONGESTION
/* 1 when fd's congestion control paces its sends (BBR). */
static int paces(int fd)
{
    char name[16] = "";
    socklen_t len = sizeof name - 1;
    return getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) == 0 && strncmp(name, "bbr", 3) == 0;
}

int same_host_unpace_listener(int fd, const struct sockaddr *bound)
{
    if (!address_is_loopback(bound) || !paces(fd))
        return 0;
    return setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, SAME_HOST_CONGESTION, sizeof SAME_HOST_CONGESTION - 1) == 0
               ? 1
               : -1;
}
#else
/* No per-socket congestion control on this system: nothing paces, nothing to undo. */
int same_host_unpace_listener(int fd, const struct sockaddr *bound)
{
    (void)fd;
    (void)bound;
    return 0;
}
#endif

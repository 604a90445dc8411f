#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "arena.h"
#include "fmt.h"

const char *sockaddr_text(struct arena *a, const struct sockaddr *sa, unsigned *port)
{
    char buf[INET6_ADDRSTRLEN] = "-";
    *port = 0;
    if (sa->sa_family == AF_INET) {
        /* By hand: inet_ntop formats with sprintf, and this runs per request. */
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        const unsigned char *b = (const unsigned char *)&in->sin_addr;
        size_t n = 0;
        for (int i = 0; i < 4; i++) {
            unsigned v = b[i];
            if (v >= 100)
                buf[n++] = (char)('0' + v / 100);
            if (v >= 10)
                buf[n++] = (char)('0' + v / 10 % 10);
            buf[n++] = (char)('0' + v % 10);
            buf[n++] = i < 3 ? '.' : '\0';
        }
        *port = ntohs(in->sin_port);
        char *s = arena_alloc_raw(a, n);
        return s ? memcpy(s, buf, n) : NULL;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf);
        else
            inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
        *port = ntohs(in6->sin6_port);
    }
    return arena_strdup(a, buf);
}

/*
 * trusted_proxies: the addresses whose X-Forwarded-* and Forwarded fields are
 * believed (and extended); from anyone else they are replaced. Entries are an
 * IPv4 or IPv6 address, optionally with a /prefix length.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int proxy_parse_cidr(const char *text, proxy_cidr *out)
{
    char buf[64];
    size_t n = strlen(text);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(out, 0, sizeof *out);
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || b < 0 || (unsigned long)b > max)
            return -1;
        out->bits = (unsigned)b;
    }
    return 0;
}

static int in_range(const proxy_cidr *c, const uint8_t *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, a, full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

int proxy_trusted(const proxy_conf *conf, const char *addr)
{
    uint8_t a4[4], a6[16];
    int is4 = inet_pton(AF_INET, addr, a4) == 1, is6 = !is4 && inet_pton(AF_INET6, addr, a6) == 1;
    for (size_t i = 0; i < conf->n_trusted; i++) {
        const proxy_cidr *c = &conf->trusted[i];
        if ((is4 && c->family == AF_INET && in_range(c, a4)) || (is6 && c->family == AF_INET6 && in_range(c, a6)))
            return 1;
    }
    return 0;
}

/*
 * Address ranges. An IPv4 address is kept as its IPv4-mapped IPv6 form, so a
 * client that reaches a dual-stack socket as ::ffff:10.1.2.3 matches the rule
 * "10.0.0.0/8" like one on an IPv4 socket; an IPv4 prefix /n becomes /96+n.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static void map_v4(const struct in_addr *a, uint8_t out[16])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &a->s_addr, 4);
}

/* 0: IPv4 (mapped), 1: IPv6, -1: neither. */
static int parse_addr(const char *s, uint8_t out[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        map_v4(&a4, out);
        return 0;
    }
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(out, a6.s6_addr, 16);
        return 1;
    }
    return -1;
}

int cidr_addr(const char *text, uint8_t out[16])
{
    return text && parse_addr(text, out) >= 0 ? 0 : -1;
}

int cidr_parse(const char *text, cidr *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(text, "all") == 0) {
        out->bits = 0;
        return 0;
    }
    char buf[64];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        if (!*b || strlen(b) > 3)
            return -1;
        for (const char *p = b; *p; p++)
            if (*p < '0' || *p > '9')
                return -1;
        bits = strtol(b, NULL, 10);
    }
    int kind = parse_addr(buf, out->addr);
    if (kind < 0)
        return -1;
    int max = kind == 0 ? 32 : 128;
    if (bits < 0)
        bits = max;
    if (bits > max)
        return -1;
    out->bits = (int)bits + (kind == 0 ? 96 : 0);
    /* Clear the host bits, so "10.1.2.3/8" means 10.0.0.0/8. */
    for (int i = 0; i < 16; i++) {
        int keep = out->bits - i * 8;
        out->addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
    return 0;
}

int cidr_contains(const cidr *c, const uint8_t addr[16])
{
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == c->addr[full];
}

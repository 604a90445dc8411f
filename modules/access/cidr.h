/* Addresses and CIDR ranges for mod_access: IPv4 and IPv6, one shape (16 bytes). */
#ifndef MOD_ACCESS_CIDR_H
#define MOD_ACCESS_CIDR_H

#include <stdint.h>

typedef struct cidr {
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), so one compare serves both */
    int bits;         /* prefix length over those 16 bytes */
} cidr;

/* "all", "10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1". 0, or -1 when not one of these. */
int cidr_parse(const char *text, cidr *out);
/* A client address as text (IPv4, IPv6, or IPv4-mapped IPv6) into 16 bytes. 0 or -1. */
int cidr_addr(const char *text, uint8_t out[16]);
int cidr_contains(const cidr *c, const uint8_t addr[16]);

#endif

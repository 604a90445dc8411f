/*
 * mod_proxy internals: an HTTP/1.1 reverse proxy to an upstream group
 * (RFC 9110 §7.6, RFC 9112). One file per job:
 *   mod_proxy.c       descriptor, match/handle/cleanup, the exchange's callbacks
 *   proxy_config.c    the "proxy" settings object
 *   proxy_request.c   the request head to the upstream (hop-by-hop fields out, Host,
 *                     X-Forwarded-*, Forwarded) and the body framing
 *   proxy_response.c  the upstream's head (parsed by the core's http_parse.c, compiled in),
 *                     fields passed back, Location/Refresh rewritten, the body de-framed
 *   proxy_trust.c     trusted_proxies: addresses and CIDR ranges
 *   proxy_tunnel.c    Upgrade (WebSocket): the upstream's 101 answered with host->upgrade
 *                     (ABI 1.3), then bytes spliced both ways
 * The connection and the flow around it (balancing, health, pool, retries,
 * timeouts, sending obuf, reading) is lib/upstream (up_exchange.h).
 */
#ifndef WEBSERV_MOD_PROXY_H
#define WEBSERV_MOD_PROXY_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"
#include "up_exchange.h"
#include "webserv/module.h"

#define PROXY_IN_BUF 65536      /* bytes read from the upstream at a time */
#define PROXY_HEAD_MAX 65536    /* a longer response head is a 502 */
#define PROXY_BODY_PIECE 65536  /* request body bytes framed per write */

extern const ws_host *proxy_host;

typedef struct proxy_cidr {
    int family;
    uint8_t addr[16];
    unsigned bits;
} proxy_cidr;

enum { PROXY_HOST_CLIENT = 0, PROXY_HOST_UPSTREAM = 1, PROXY_HOST_LITERAL = 2 };

typedef struct proxy_conf {
    const ws_upstream *upstream;
    const char *location;   /* the location's path prefix */
    int strip_prefix;
    int host_mode;
    const char *host_literal;
    unsigned retries;
    const proxy_cidr *trusted;
    size_t n_trusted;
    uint64_t connect_ms, send_ms, read_ms;
    int pass_server_date;   /* the upstream's Server and Date go to the client (else webserv's) */
} proxy_conf;

enum { BODY_NONE = 0, BODY_LENGTH = 1, BODY_CHUNKED = 2, BODY_CLOSE = 3 };

typedef struct proxy_req {
    up_exchange x;     /* connection, retries, timeouts, obuf and its flushing (lib/upstream) */
    ws_request *r;
    const proxy_conf *conf;

    /* to the upstream: the head, then the body framed into x.obuf */
    int body_mode;     /* BODY_NONE, BODY_LENGTH, BODY_CHUNKED (what we send) */

    /* from the upstream */
    char *ibuf;        /* PROXY_IN_BUF; holds the head until it is complete */
    size_t ilen, ioff;
    int head_done;
    int resp_mode;     /* BODY_* of the response */
    int64_t resp_left; /* BODY_LENGTH: bytes still to come */
    chunked_decoder dec;
    int upstream_keep; /* the upstream may keep the connection */
    const char *public_base; /* "http://host[:port]" the client used, for Location rewriting */

    /* Upgrade (proxy_tunnel.c) */
    const char *upgrade;  /* the client's Upgrade value when it asked to switch (and may), else NULL */
    int tunnel;           /* the upstream said 101 and so did we: raw bytes both ways */
} proxy_req;

/* proxy_config.c */
int proxy_configure(const ws_settings *s, const ws_location_info *loc, const void **conf);

/* proxy_trust.c */
int proxy_parse_cidr(const char *text, proxy_cidr *out); /* 0 or -1 */
int proxy_trusted(const proxy_conf *conf, const char *addr);

/* proxy_request.c: the head into x.obuf (0, or -1 when out of memory). */
int proxy_build_head(proxy_req *c);
size_t proxy_on_body(ws_request *r, const char *data, size_t len);
void proxy_on_body_end(ws_request *r);

/* proxy_response.c */
void proxy_process_input(proxy_req *c); /* ibuf[ioff..ilen): the head, then body pieces */
void proxy_on_writable(ws_request *r);

/* proxy_response.c: the upstream's end-to-end fields onto the client's response. */
void proxy_pass_fields(proxy_req *c, const http_head *h);

/* proxy_tunnel.c */
const char *proxy_upgrade_wanted(const ws_request *r); /* the Upgrade value to pass on, or NULL */
void proxy_tunnel_start(proxy_req *c, const http_head *h, size_t head_len);
size_t proxy_on_data(ws_request *r, const char *data, size_t len);
void proxy_on_data_end(ws_request *r);

/* mod_proxy.c */
void proxy_done(proxy_req *c);

#endif

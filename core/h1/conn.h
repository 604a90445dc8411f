/*
 * An HTTP/1.x connection: the first carrier (carrier.h) under requests.
 * It reads heads and bodies off its transport, runs one request at a time
 * (pipelined heads wait in the read buffer), writes the responses and then
 * keeps the connection alive, or closes it (lingering when needed).
 */
#ifndef WEBSERV_CONN_H
#define WEBSERV_CONN_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http_parse.h"
#include "loop.h"
#include "outq.h"
#include "request.h"
#include "transport.h"

struct server;
struct listener;

/* The connection's own states; what the request on it waits for is the
 * request's (req_phase). */
typedef enum {
    CONN_IDLE,       /* keep-alive: waiting for the first byte of a request */
    CONN_HEAD,       /* reading a request head */
    CONN_ACTIVE,     /* a request is being handled (body, handler, response) */
    CONN_DISCARD,    /* response sent; reading and dropping the rest of the body */
    CONN_LINGER,     /* last response sent, write side shut: dropping input until the client closes */
    CONN_H2,         /* HTTP/2 (core/h2): the session owns every byte and event from here on */
} conn_state;

/* The framing of the current request's body on the byte stream (h1_body.c). */
typedef struct h1_body {
    int chunked;
    chunked_decoder dec;
    int64_t left;                   /* Content-Length bytes still to read */
    int chunk_end;                  /* the last-chunk and trailers were read */
    const char *pend;               /* a piece (in rbuf) the module has not consumed yet */
    size_t pend_len;
    int raw;                        /* upgraded (101): unframed bytes until the client closes */
} h1_body;

typedef union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} sockaddr_any;

typedef struct conn {
    transport tr;                   /* the socket, plain or TLS: every byte goes through it */
    unsigned read_want, write_want; /* loop events a blocked read / flush waits for (transport.h) */
    struct server *srv;
    struct listener *lst;
    conn_state state;
    sockaddr_any local, remote;     /* IPv4 or IPv6: 28 bytes each, not sockaddr_storage's 128 */
    char *rbuf;                     /* read buffer (from the server's pool), NULL while idle */
    size_t rlen, rpos;              /* data is rbuf[rpos..rlen) */
    size_t scan_from;               /* http_parse_head hint */
    unsigned events;                /* loop interest */
    uint64_t deadline;              /* ms; 0 = none: the connection's own (head, idle, linger) */
    int phase;                      /* which of them (enum in conn.c) */
    int rbig;                       /* rbuf is a BODY_RBUF buffer of its own (a big body streams: conn.c) */
    loop_timer *timer;
    uint64_t timer_at;
    request *req;
    h1_body in;                     /* the request body's framing */
    int chunked_out;                /* the response is framed in chunks */
    int sent_continue;              /* 100 Continue was queued */
    outq out;
    int peer_closed;
    int in_progress;                /* conn_progress on the stack */
    struct conn *prev, *next;       /* server's list of connections */
    uint32_t requests;              /* served on this connection */
    uint8_t send_sized;             /* the send buffer was looked at for a big file (conn_flush) */
    struct h2_session *h2;          /* HTTP/2 (ALPN h2, or the h2c preface): the session, else NULL */
} conn;

/* Take over an accepted socket (non-blocking, close-on-exec). */
struct conn *conn_new(struct server *s, struct listener *l, int fd, const struct sockaddr *remote, socklen_t rlen);
/* Read a new connection's first bytes now, not after the loop's next wait:
 * for a listener that defers accept they are already there (server.c's
 * on_accept). The connection may be gone after this. */
void conn_read_first(struct conn *c);
/* Abort whatever runs and close now (shutdown). */
void conn_close(conn *c);

/* What a request on this connection learns from its transport, whichever
 * carrier (HTTP/1 or an HTTP/2 stream) it came on: r->tr, the scheme
 * ("https" over TLS) and the TLS facts (NULL over plain TCP). */
struct request;
void conn_tell_request(conn *c, struct request *r);
/* The server drains (stop, or an old worker after a reload): an idle
 * connection gets a short grace for its next request, which is answered with
 * Connection: close; a request under way finishes the same way. */
void conn_drain(conn *c);
/* Move the connection forward after something changed (module call returned,
 * I/O ready). Safe to call from anywhere outside a module call. */
void conn_progress(conn *c);

/* ---- inside core/h1 ---- */
/* The HTTP/1 carrier (h1_carrier.c). */
extern const carrier_ops h1_carrier;
/* Body framing on the byte stream (h1_body.c). */
void h1_body_start(conn *c, const http_head *h);
int h1_body_complete(const conn *c);
/* Deliver body pieces to the request while it takes them. */
void h1_body_pump(conn *c);
/* Drop the rest of an unread body so the next request can be read. */
step h1_body_discard(conn *c);

#endif

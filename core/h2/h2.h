/*
 * HTTP/2 (RFC 9113) on a connection, with Debian's libnghttp2 for framing,
 * HPACK and flow control. A connection becomes HTTP/2 when TLS negotiated
 * "h2" by ALPN, or when a cleartext address configured for "h2c" sees the
 * client connection preface (prior knowledge, §3.3). From then on the
 * HTTP/1 connection object (core/h1/conn.c) only owns the socket, its
 * transport and its place in the server's list: every byte and event goes
 * to the session here, and every stream is a request whose carrier
 * (carrier.h) is the stream itself.
 */
#ifndef WEBSERV_H2_H
#define WEBSERV_H2_H

#include <stddef.h>

struct conn;

/* The client connection preface (RFC 9113 §3.4). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* Should the connection (its handshake done, its first bytes in rbuf)
 * speak HTTP/2? 1: yes; 0: no (HTTP/1); -1: too few bytes to tell yet. */
int h2_detect(const struct conn *c);
/* Turn c into an HTTP/2 connection: the bytes already read are the start of
 * the session's input. -1: out of memory (close the connection). */
int h2_start(struct conn *c);
/* The conn.c entry points, for a connection with c->h2 set. */
void h2_io(struct conn *c, unsigned events);
void h2_progress(struct conn *c);
void h2_drain(struct conn *c);
/* Abort every stream and free the session (the connection closes the socket). */
void h2_free(struct conn *c);
/* An idle connection frees its nghttp2 session (HPACK tables, frame buffer,
 * stream map: ~25 KiB) after this many milliseconds without a stream or a
 * byte from the client, and rebuilds it at the next byte (core/h2/h2_idle.c).
 * The fuzz target sets 0. */
extern unsigned h2_sleep_after_ms;

#endif

#ifndef WEBSERV_LISTEN_H
#define WEBSERV_LISTEN_H

#include <stddef.h>

#include "config.h"

/* A non-blocking, close-on-exec listening socket bound to a, or -1 with err set.
 * A socket handed over with listen_adopt for the same address is returned
 * instead of a new one (a worker takes the master's sockets this way). */
int listen_open(const listen_addr *a, char *err, size_t errlen);

/* The same, always a new socket, with SO_REUSEPORT when reuseport is set. */
int listen_bind(const listen_addr *a, int reuseport, char *err, size_t errlen);

/* Hand an already listening socket for the address text ("127.0.0.1:8080")
 * to the next listen_open of that address. listen_adopt_clear closes those
 * never taken. */
int listen_adopt(const char *text, int fd);
void listen_adopt_clear(void);
/* 1 when the listening socket fd hands connections to accept() only once
 * their first bytes arrived (TCP_DEFER_ACCEPT, set by listen_bind). */
int listen_defers_accept(int fd);

#endif

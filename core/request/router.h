/*
 * Routing: (bind, local address, Host) → server; path → location (longest
 * prefix on segment boundaries).
 */
#ifndef WEBSERV_ROUTER_H
#define WEBSERV_ROUTER_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* The server for a connection accepted on `b` whose local address is `local`,
 * asking for `host` (the Host value or absolute-form authority, port and
 * brackets included or not, any case; may be empty). Never NULL. */
const server_conf *router_server(const bind_conf *b, const struct sockaddr *local, const char *host, size_t host_len);

/* The location whose path is the longest segment-boundary prefix of `path`
 * ("/img" matches "/img" and "/img/a", not "/images"); NULL when none. */
const location_conf *router_location(const server_conf *s, const char *path, size_t path_len);

#endif

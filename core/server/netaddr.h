/* Socket addresses as text. */
#ifndef WEBSERV_NETADDR_H
#define WEBSERV_NETADDR_H

#include <sys/socket.h>

struct arena;

/* "127.0.0.1" or "::1" (IPv4-mapped IPv6 shown as IPv4) in the arena; *port set. */
const char *sockaddr_text(struct arena *a, const struct sockaddr *sa, unsigned *port);

#endif

#ifndef WEBSERV_LISTEN_H
#define WEBSERV_LISTEN_H

#include <stddef.h>

#include "config.h"

/* A non-blocking, close-on-exec listening socket bound to a, or -1 with err set. */
int listen_open(const listen_addr *a, char *err, size_t errlen);

#endif

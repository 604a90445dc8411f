/*
 * `webserv -t`: the routing table of a loaded configuration, and
 * `webserv -t --explain METHOD URL [HOST]`: which server, location and module
 * would answer a request, and why. Read-only: nothing is bound or served.
 */
#ifndef WEBSERV_EXPLAIN_H
#define WEBSERV_EXPLAIN_H

#include <stdio.h>

#include "config.h"

/* For each listen address, its servers; for each server, its locations (in
 * matching order: longest prefix first) with their methods and the enabled
 * modules in dispatch order. */
void explain_routes(FILE *out, const ws_config *c);

/*
 * Follow one request through routing as the core would: listen address,
 * server (Host), location, method checks, `return`, the file system (slash
 * redirect, index files), then each enabled module's match() in dispatch
 * order. url is an origin-form path ("/a?b") or an absolute URL
 * ("http://host:port/a"); host (may be NULL) is a Host value, optionally with
 * ":port" to pick a listen address. Returns 0, or 2 with a message on stderr
 * when method or url cannot be a request.
 */
int explain_request(FILE *out, const ws_config *c, const char *method, const char *url, const char *host);

#endif

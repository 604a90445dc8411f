/* Request setup, routing and dispatch (request.c); the request's end (conn.c). */
#ifndef WEBSERV_REQUEST_H
#define WEBSERV_REQUEST_H

#include "conn.h"

void req_start(request *r, int parse_status);
void req_route(request *r);
void req_restart(request *r, const char *uri);
/* Call the owner's cleanup (once) and drop every watch, timer and child
 * callback the request registered. */
void req_release_module(request *r, int how);

#endif

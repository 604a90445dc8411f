/* One Combined Log Format line per request. */
#ifndef WEBSERV_ACCESS_LOG_H
#define WEBSERV_ACCESS_LOG_H

#include "request.h"

void access_log_request(const request *r);

#endif

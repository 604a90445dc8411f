/* The response side of a request (see response.c). */
#ifndef WEBSERV_RESPONSE_H
#define WEBSERV_RESPONSE_H

#include <stddef.h>
#include <sys/types.h>

#include "request.h"

/* Queued output above which writes answer WS_AGAIN (docs/modules.md "write and WS_AGAIN"). */
#define RESP_HIGH_WATER (256 * 1024)

const char *http_reason(int status);
int resp_commit_head(request *r);
int resp_write(request *r, const void *data, size_t len);
int resp_send_file(request *r, int fd, off_t off, int64_t len);
int resp_finish(request *r);
/* Forget the response decided so far (nothing of it was sent): status,
 * fields, length, validators, a pending redirect; a new answer follows. */
void resp_reset(request *r);
/* An error page, or — when the head is already out — a cut connection. */
int resp_error(request *r, int status);
/* The same with a short reason text (module.h error_reason): escaped into the
 * HTML page, or a JSON object for a client that asks for JSON. NULL: none. */
int resp_error_reason(request *r, int status, const char *reason);
/* module.h write_ref: queue the module's memory without a copy. */
int resp_write_ref(request *r, const void *data, size_t len, ws_release_cb release, void *arg);

/* First request header with this name (case-insensitive), or NULL. */
const char *req_header(const request *r, const char *name);

#endif

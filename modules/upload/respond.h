/* mod_upload responses: 201 with the list of stored files (HTML or JSON). */
#ifndef UPLOAD_RESPOND_H
#define UPLOAD_RESPOND_H

#include <stddef.h>
#include <stdint.h>

#include "webserv/module.h"

typedef struct up_entry {
    const char *name;
    int64_t size;
} up_entry;

/* Percent-encode a decoded URL path (keeps '/' and RFC 3986 unreserved and
 * sub-delim characters). NULL on allocation failure. */
char *up_url_encode(ws_request *r, const char *path);

/* 201 Created with Location (an encoded URL path) and a body listing the
 * files, each linked as folder_url + name. JSON when the client accepts
 * application/json: [{"name": …, "size": …, "url": …}, …]. Returns 0 or -1. */
int up_respond_created(ws_request *r, const char *location, const char *folder_url, const up_entry *e,
                       size_t n);

/* 415 for a POST to a folder whose body is not multipart/form-data, with
 * Accept-Post: multipart/form-data (RFC 9110 §15.5.16, W3C LDP §7.1) saying
 * what would be taken. The body is left unread (the core discards it).
 * Returns 0 or -1. */
int up_respond_unsupported_type(ws_request *r);

#endif

/*
 * A response's header fields as a list in the request's pool, until the
 * carrier writes them (HTTP/1 serialises them as "Name: value" lines; an
 * HTTP/2 stream will encode them). Everything that sets a response header
 * goes through these calls: modules (host.c's add_header), the core (Allow,
 * Location, Content-Range, Content-Type of error pages, validators) and the
 * header filters of composable modules, which can read, replace and remove
 * fields here instead of re-parsing bytes.
 *
 * Not in the list: the fields a carrier owns because they describe its own
 * framing or the hop (Content-Length, Transfer-Encoding, Connection), and
 * Server and Date, which every response gets from the carrier.
 *
 * Names compare case-insensitively (RFC 9110 §5.1). Order is kept; a field
 * that may repeat (Set-Cookie) is added once per value. The calls do not
 * check names and values: callers that take them from modules check them
 * first (header_rules.c).
 */
#ifndef WEBSERV_RESP_HEADERS_H
#define WEBSERV_RESP_HEADERS_H

#include <stddef.h>

struct request;

typedef struct resp_header {
    const char *name, *value;   /* NUL-terminated */
    size_t name_len, value_len;
} resp_header;

typedef struct resp_headers {
    resp_header *v;             /* in the request's pool */
    size_t n, cap;
} resp_headers;

/* Add a field, copying name and value into the pool. 0, or -1 (out of memory). */
int resp_header_add(struct request *r, const char *name, size_t name_len, const char *value, size_t value_len);
/* Add a field whose strings outlive the response (literals, the request's
 * own buffers): no copy. 0 or -1. */
int resp_header_add_ref(struct request *r, const char *name, const char *value);
/* The first field's value with this name, or NULL. */
const char *resp_header_get(const struct request *r, const char *name);
/* Replace every field of this name by one (copied) value, in the first's
 * place; added at the end when there was none. 0 or -1. */
int resp_header_set(struct request *r, const char *name, const char *value);
/* The same with the lengths known (strlen of each). */
int resp_header_set_n(struct request *r, const char *name, size_t name_len, const char *value, size_t value_len);
/* Remove every field of this name; returns how many there were. */
size_t resp_header_remove(struct request *r, const char *name);
/* Forget every field (a new response replaces the old one). */
void resp_headers_clear(struct request *r);

#endif

/* mod_headers: response headers per location, expiry by type or extension, CORS. */
#ifndef MOD_HEADERS_H
#define MOD_HEADERS_H

#include <stddef.h>

#include "webserv/module.h"

typedef struct hd_expiry {
    const char *key;   /* ".css" (an extension) or "text/css", or a whole type: "image/" + "*" */
    long long seconds;
} hd_expiry;

typedef struct hd_cors {
    int enabled;
    int any_origin;            /* "origins": "*" */
    const char *const *origins;
    size_t n_origins;
    const char *methods;       /* "GET, POST", for preflights */
    const char *headers;       /* NULL: the preflight's own Access-Control-Request-Headers */
    int credentials;
    long long max_age;
} hd_cors;

typedef struct hd_conf {
    const char *const *set;    /* name, value, … */
    size_t n_set;
    const char *const *add;
    size_t n_add;
    const char *const *remove;
    size_t n_remove;
    int always;                /* also 4xx/5xx (else 2xx/3xx only) */
    hd_expiry *expires;
    size_t n_expires;
    hd_cors cors;
} hd_conf;

/* expiry.c: the rule for a path and a Content-Type, or NULL. */
const hd_expiry *hd_expiry_for(const hd_conf *c, const char *path, const char *content_type);
/* "Thu, 01 Jan 1970 00:00:00 GMT" for t (out: 30 bytes). */
void hd_http_date(long long t, char out[32]);
/* cors.c */
int hd_origin_allowed(const hd_cors *c, const char *origin);

#endif

/*
 * The CGI/1.1 meta-variables (RFC 3875 §4.1) of a request, as name-value
 * pairs or NAME=value strings. Shared by the cgi module (a script's
 * environment) and the fastcgi module (FCGI_PARAMS), which compiles this file
 * too: one set of rules.
 * Depends on nothing but the public module API.
 */
#ifndef WEBSERV_CGI_ENV_H
#define WEBSERV_CGI_ENV_H

#include <stdint.h>

#include "webserv/module.h"

typedef struct cgi_env_script {
    const char *filename;  /* SCRIPT_FILENAME: root + name */
    const char *name;      /* SCRIPT_NAME: the URL path up to the script */
    const char *path_info; /* PATH_INFO, "" if none */
} cgi_env_script;

/* One meta-variable: name and value with their lengths (neither holds '='
 * nor need be NUL-terminated; both live in request memory or the request). */
typedef struct cgi_pair {
    const char *name, *value;
    size_t nlen, vlen;
} cgi_pair;

/* The meta-variables as pairs, in host->alloc(r) memory: PATH (the
 * server's, or a default), the configured `env` pairs (name, value, …), the
 * §4.1 variables, the usual extras (SCRIPT_FILENAME, DOCUMENT_ROOT,
 * REQUEST_URI, REDIRECT_STATUS) and the header fields as HTTP_*; a later
 * value of one name replaces the earlier one in its place. content_length
 * < 0 leaves CONTENT_LENGTH unset (no body). *n gets the count; NULL when out
 * of memory. The fastcgi module writes these straight into FCGI_PARAMS. */
cgi_pair *cgi_env_pairs(const ws_host *host, ws_request *r, const char *const *env, size_t n_env,
                        const cgi_env_script *s, int64_t content_length, size_t *n);

/* The same as a NULL-terminated "NAME=value" list (a script's environment). */
char **cgi_env_build(const ws_host *host, ws_request *r, const char *const *env, size_t n_env,
                     const cgi_env_script *s, int64_t content_length);

/* Whether a SCRIPT_NAME of the path's first n bytes lies inside the request's
 * location, not above it (a location "/app/" takes no script "/app"). */
int cgi_script_in_location(const ws_request *r, size_t n);

#endif

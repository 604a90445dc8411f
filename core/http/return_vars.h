/* Variables in "return.location" (SPEC §6), see return_vars.c. */
#ifndef WEBSERV_RETURN_VARS_H
#define WEBSERV_RETURN_VARS_H

struct arena;

typedef struct return_vars {
    const char *scheme;      /* "http" or "https" */
    const char *host;        /* Host without port (lower-cased), else the server's name or address */
    unsigned port;           /* the port the connection came in on */
    const char *uri;         /* the decoded path: percent-encoded again when expanded */
    const char *request_uri; /* the raw request-target */
    const char *query;       /* the raw query, without '?' */
} return_vars;

/* 0, or -1 with *bad at the first "{" that starts no known variable. */
int return_vars_check(const char *location, const char **bad);
int return_vars_present(const char *location);
char *return_vars_expand(struct arena *a, const char *location, const return_vars *v);

#endif

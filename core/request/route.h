/*
 * The decisions the core makes about a request before a module sees it
 * (SPEC §3): method checks, the path's mapping to the file system (folder
 * slash redirect, index files), and which enabled module takes it. Shared by
 * request handling (request.c) and `webserv -t --explain` (explain.c), so the
 * explanation can never drift from what the server does.
 */
#ifndef WEBSERV_ROUTE_H
#define WEBSERV_ROUTE_H

#include "config.h"
#include "webserv/module.h"

struct arena;
struct loaded_module;

typedef enum {
    ROUTE_METHOD_OK,   /* allowed here: go on */
    ROUTE_OPTIONS,     /* OPTIONS: 204 with Allow */
    ROUTE_NOT_ALLOWED, /* 405 with Allow: some loaded module handles it, not here */
    ROUTE_UNKNOWN,     /* 501: no loaded module handles it */
} route_method;

route_method route_check_method(const ws_config *c, const location_conf *l, const char *method);

/*
 * Map p->path under the location's root: sets p->root, fs_path, fs_type and
 * fs_stat; for a folder path with the slash (GET, HEAD, POST) the first
 * existing index file replaces it, and p->path gets the index name.
 * Returns 1 when the answer is the core's 301 to the slash form (GET/HEAD of
 * a folder without it), else 0.
 */
int route_map_path(struct arena *a, const location_conf *l, ws_request *p);

/* How each enabled module answered, in order (for explanations). */
typedef enum { ASK_NOT_DECLARED, ASK_NO_HANDLER, ASK_DECLINED, ASK_TAKEN } route_ask;
typedef void (*route_ask_fn)(void *arg, const struct loaded_module *m, route_ask outcome);

/* Ask the location's enabled modules that declare the method, in "modules"
 * order; the first whose match() takes the request wins (p->conf is set for
 * it). Returns its index in l->handlers, or -1. `fn` may be NULL. */
int route_pick_module(const location_conf *l, ws_request *p, route_ask_fn fn, void *arg);

/* The core's answer when no module takes a request: 403 for something that
 * exists, 404 otherwise. */
int route_nobody_status(const ws_request *p);

#endif

/*
 * Shared between the files of config_load (config.c, config_server.c,
 * config_location.c, config_listen.c); not for the rest of the core.
 */
#ifndef WEBSERV_CONFIG_INTERNAL_H
#define WEBSERV_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"
#include "settings.h"

typedef struct cfg_ctx {
    arena *a;
    ws_config *c;
    const char *file; /* the config file as the user named it, for messages */
    char *err;
    size_t errlen;
} cfg_ctx;

/* What a server hands down to its locations (SPEC §3: these keys override). */
typedef struct server_defaults {
    const char *root;
    const char *const *index;
    size_t n_index;
    int64_t max_body;
    const char *const *methods; /* NULL: the server sets none */
    size_t n_methods;
    const error_page *error_pages;
    size_t n_error_pages;
} server_defaults;

/* "<file>: <json path>: <message>" into err unless an error is already there; returns -1. */
int cfg_fail(cfg_ctx *x, const char *json_path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keys shared by servers and locations. Each returns 1 present, 0 absent, -1 error (reported). */
int cfg_index(ws_settings *s, const char *const **out, size_t *n);
int cfg_methods(ws_settings *s, const char *const **out, size_t *n);
int cfg_error_pages(cfg_ctx *x, ws_settings *s, error_page **out, size_t *n);

int cfg_servers(cfg_ctx *x, ws_settings *top);
/* The server's "tls" object (SPEC §6); required when a listen entry is TLS. */
int cfg_tls(cfg_ctx *x, ws_settings *ss, server_conf *out);
/* Top-level "upstreams" into c->upstreams, before the servers (modules look them up in configure). */
int cfg_upstreams(cfg_ctx *x, ws_settings *top);
int cfg_location(cfg_ctx *x, ws_settings *ls, const server_defaults *sd, location_conf *out);

/* One listen value ("8080", "1.2.3.4:80", "[::1]:80", "localhost:80"); -1 and why on error. */
int cfg_parse_listen(arena *a, const char *text, listen_addr *out, char *why, size_t len);
/* Virtual-host checks, then c->binds (SPEC §3 rules, nginx wildcard semantics). */
int cfg_build_binds(cfg_ctx *x);

/* "${NAME}", "${NAME:-default}" and "$$" in every string value of the tree
 * (config_env.c, SPEC §6); an error names the string's JSON path. */
struct json_t;
int cfg_expand_env(cfg_ctx *x, struct json_t *root);

#endif

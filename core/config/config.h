/*
 * The validated, immutable configuration (SPEC §3). Built once by
 * config_load from the JSON file; everything a request needs is resolved here
 * (inheritance server → location, absolute paths, the Allow header, the
 * modules enabled per location in dispatch order, the sockets to open), so the
 * hot path only reads. All memory belongs to the config's arena.
 */
#ifndef WEBSERV_CONFIG_H
#define WEBSERV_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shm_zone.h"
#include "webserv/module.h"

struct loaded_module; /* modules.h */
struct arena;         /* arena.h */

typedef struct error_page {
    int status;
    const char *file; /* absolute */
} error_page;

typedef struct location_handler {
    struct loaded_module *mod;
    const void *conf; /* what the module's configure() returned */
} location_handler;

/* ABI 1.2 hooks the core runs per location (core/phases), in this order. */
enum { HOOK_REWRITE, HOOK_ACCESS, HOOK_HEADER_FILTER, HOOK_BODY_FILTER, HOOK_LOG, HOOK_COUNT };

typedef struct location_conf {
    const char *json_path; /* "servers[0].locations[2]" */
    const char *path;      /* prefix, starts with '/', no trailing '/' except for "/" itself */
    size_t path_len;
    const char *root;      /* absolute, no trailing '/', or NULL */
    const char *const *index;
    size_t n_index;
    int64_t max_body;       /* client_max_body_size; 0 = no limit */
    /* Allowed methods, explicit or by default (the union of the enabled
     * modules' methods); GET implies HEAD; "OPTIONS" is always answered.
     * any_method: a `return` location without "methods" takes every method. */
    const char *const *methods;
    size_t n_methods;
    int any_method;
    const char *allow;      /* the Allow header value, e.g. "GET, HEAD, OPTIONS" */
    const error_page *error_pages; /* the location's own, then the server's */
    size_t n_error_pages;
    int return_status;      /* 0 = no "return" */
    const char *return_location; /* for 301/302/303/307/308 */
    const char *return_body;     /* for other statuses; may be NULL */
    const location_handler *handlers; /* enabled modules, in "modules" order */
    size_t n_handlers;
    /* Some enabled module serves files (none declared WS_MODULE_NO_FILES, or
     * no module is enabled): the core maps the path to root, applies index
     * files and the slash redirect. 0: the path goes to the modules as asked. */
    int serves_files;
    /* timeouts.handler: from handle() until the module finishes its response
     * (reading the request body included); past it 504 and the module's
     * cleanup(WS_END_ABORTED). 0 = no limit (the default). */
    uint64_t handler_ms;
    /* For each HOOK_*: the enabled modules that have that hook, in "modules"
     * order, built once here so a request walks only the modules that act. */
    const location_handler *hooks[HOOK_COUNT];
    size_t n_hooks[HOOK_COUNT];
} location_conf;

typedef struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int family;   /* AF_INET or AF_INET6 */
    int port;
    int wildcard; /* 0.0.0.0 or [::] */
    const char *text; /* normalised "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80" */
    int tls;          /* a TLS address ({"address": …, "tls": true}) */
    unsigned protocols; /* LISTEN_PROTO_* bits the address accepts (ALPN with TLS) */
} listen_addr;

/* Application protocols of a listen entry (SPEC §6 "protocols"). */
enum { LISTEN_PROTO_HTTP1 = 1, LISTEN_PROTO_H2 = 2, LISTEN_PROTO_H2C = 4 };

/* TLS protocol versions a server may enable (nothing older than 1.2). */
enum { TLS_PROTO_V12 = 1, TLS_PROTO_V13 = 2 };

/* A server's "tls" object (SPEC §6). Files are absolute; the certificates
 * themselves are read and checked by core/tls when the config loads. */
typedef struct tls_conf {
    const char *json_path;   /* "servers[0].tls", for messages */
    const char *certificate; /* PEM chain, leaf first */
    const char *key;         /* PEM private key */
    unsigned protocols;      /* TLS_PROTO_* bits */
    const char *ciphers;     /* TLS 1.2 cipher list (OpenSSL syntax) */
    const char *groups;      /* "X25519:P-256" */
    int session_tickets;
    const char *ocsp_staple; /* DER OCSP response file, or NULL */
    const char *client_ca;   /* PEM CA file: client certificates required and verified; or NULL */
} tls_conf;

typedef struct server_conf {
    const char *json_path; /* "servers[1]" */
    const listen_addr *listens;
    size_t n_listens;
    const char *const *names; /* lower-cased */
    size_t n_names;
    const location_conf *locations; /* sorted by path length, longest first */
    size_t n_locations;
    const error_page *error_pages;  /* for answers outside any location */
    size_t n_error_pages;
    const tls_conf *tls;            /* NULL: no "tls" key */
    void *tls_ctx;                  /* the server's SSL_CTX (core/tls), when tls is set */
} server_conf;

/* Servers that listen on exactly one address, in config order; the first is
 * the default for a Host that names none of them. */
typedef struct vhost_group {
    listen_addr addr;
    const server_conf *const *servers;
    size_t n_servers;
} vhost_group;

/* One socket to open. A wildcard bind also carries the groups of specific
 * addresses of the same family and port (they are not bound themselves: as in
 * nginx, the connection's local address picks the group). */
typedef struct bind_conf {
    listen_addr addr;
    const vhost_group *groups; /* groups[0] is the bind's own address */
    size_t n_groups;
} bind_conf;

typedef struct config_timeouts {
    uint64_t header_ms, body_ms, keepalive_ms, send_ms, shutdown_ms;
} config_timeouts;

typedef struct ws_config {
    struct arena *arena;
    const char *file; /* absolute */
    const char *dir;  /* its folder */
    struct loaded_module *const *modules; /* in "modules" order */
    size_t n_modules;
    int workers;         /* >= 1 ("auto" resolved) */
    int max_connections; /* per worker */
    int file_cache_entries; /* paths each worker's file cache keeps (fs_cache.h) */
    const char *error_log;  /* "stderr" or an absolute file path */
    int log_level;          /* enum ws_log_level */
    const char *access_log; /* NULL (off), "stdout", or an absolute file path */
    int access_log_json;    /* access_log_format: 0 "combined", 1 "json" (one object per line) */
    int server_tokens;      /* 1: "Server: webserv/VERSION" (default); 0: "Server: webserv" */
    config_timeouts timeouts;
    size_t header_size;     /* limits.header_size */
    const char *const *mime_pairs; /* extension (lower-case, no dot), type, … */
    size_t n_mime;
    const server_conf *servers;
    size_t n_servers;
    const bind_conf *binds;
    size_t n_binds;
    shm_zone_set zones; /* the modules' shared-memory zones this config holds */
    int has_tls;            /* some address is TLS: core/tls built a context per server with "tls" */
    const ws_upstream *upstreams; /* top-level "upstreams" (config_upstream.c) */
    size_t n_upstreams;
} ws_config;

/*
 * Read, validate and resolve the config file at `path` (relative paths are
 * taken from the working directory), loading every module it names and running
 * each module's configure() for the locations that enable it. On error returns
 * NULL and writes one line into err: "<file>: <json path>: <message>", or for
 * JSON syntax errors "<file>:<line>:<column>: <message>".
 */
ws_config *config_load(const char *path, char *err, size_t errlen);
void config_free(ws_config *c);
/* Only "modules" (and "modules_dir") of the file at `path`: the modules
 * loaded, nothing else read or checked (for webserv --schema). */
ws_config *config_load_modules(const char *path, char *err, size_t errlen);

/* The upstream group called `name` among us[0..n), or NULL (config_upstream.c). */
const ws_upstream *config_find_upstream(const ws_upstream *us, size_t n, const char *name);

/* A reload is about to put `fresh` in place of `old` (both loaded): call each
 * module's on_reload (ABI 1.2) once per location of `fresh` that enables it,
 * with its conf for the same location in `old` (same server JSON path and
 * location path; NULL when none) and in `fresh`. */
void config_notify_reload(const ws_config *old, const ws_config *fresh);

/* Sizes: an integer >= 0 or a string "<digits>[K|M|G]" (powers of 1024).
 * Returns 0 and *out, or -1 (bad syntax or overflow). Shared with settings. */
int config_parse_size(const char *s, int64_t *out);

/* Expand "${NAME}", "${NAME:-default}" and "$$" in in[0..n) from the
 * environment (SPEC §6; config_env.c). 0 and a malloc'd NUL-terminated *out
 * (the caller frees it), or -1 and why. */
int config_env_expand(const char *in, size_t n, char **out, size_t *out_len, char *why, size_t whylen);

#endif

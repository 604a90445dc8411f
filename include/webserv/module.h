/*
 * webserv public module API — the only header a module needs.
 *
 * A module is a shared object exporting one symbol:
 *
 *     const ws_module webserv_module = { WS_MODULE_HEADER, .name = "hello", ... };
 *
 * The core loads it with dlopen, checks the ABI (same major, any minor not newer
 * than the core's), calls init() once with the host function table, then
 * configure() once per location where the module is enabled. At request time
 * the core asks each enabled module that declares the request method, in the
 * order of the config's "modules" list, whether it takes the request (match);
 * the first one that does owns it (handle, then events, then exactly one
 * cleanup).
 *
 * Rules every module keeps (docs/modules.md explains them at length):
 *  - never block: no blocking read/write on sockets or pipes, no sleeping, no
 *    waiting for a child. Use watch_fd, timer_start and watch_child instead.
 *  - request memory comes from host->alloc(r, …) and dies with the request;
 *    config memory from host->cfg_alloc(…) and dies with the configuration.
 *  - every request that a module took ends with exactly one call of its
 *    cleanup(): after a finished response, a client that went away, a
 *    timeout, or an error. The core never calls cleanup() from inside a host
 *    function; it is always a fresh call from the event loop. After cleanup()
 *    returns, every watch and timer the request registered is gone and the
 *    request pointer is dead.
 *  - ABI growth: structs here only ever grow at the end, and a minor version
 *    bump says so. The descriptor carries its own size so the core reads only
 *    the fields an older module knows about.
 */
#ifndef WEBSERV_MODULE_H
#define WEBSERV_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WS_ABI_MAJOR 1
#define WS_ABI_MINOR 3

/* Return codes of host functions. */
enum {
    WS_OK = 0,
    WS_ERROR = -1,
    WS_AGAIN = 1 /* accepted, but the output queue is full: wait for on_writable */
};

/* shm_lock (ABI 1.2): the lock is held, but its previous holder died while
 * holding it (a worker killed mid-update). The zone's allocator was already
 * repaired by the core; the module must check its own data in the zone and
 * make it consistent before shm_unlock. */
enum { WS_SHM_OWNER_DIED = 2 };

/* ABI 1.2: what host->cfg_kind says a key holds. */
enum ws_cfg_kind { WS_CFG_ABSENT = 0, WS_CFG_NULL, WS_CFG_BOOL, WS_CFG_NUMBER, WS_CFG_STRING, WS_CFG_ARRAY, WS_CFG_OBJECT };

/* Results of ws_module.match. */
enum { WS_DECLINE = 0, WS_TAKE = 1 };

/*
 * ABI 1.2: results of the phase hooks (ws_module.rewrite and .access) and the
 * value handed to host->phase_done. Any other result from 200 to 599 makes
 * the core answer at once with that status: 4xx/5xx with the error page,
 * others with an empty body; headers the module added with add_header go with
 * it (401 + WWW-Authenticate, 301 + Location, 204 for a CORS preflight …).
 * Anything else (WS_ERROR, a junk number) is a module failure: 500 and a log
 * line naming the module.
 */
enum {
    WS_CONTINUE = 0, /* nothing to do here, or access allowed: go on */
    WS_DEFER = 2,    /* the module answers later with host->phase_done (from an event or offload) */
    WS_DONE = 3,     /* the module answered the request itself (write/finish or error) */
};

/* Event bits for watch_fd and its callback. */
#define WS_EV_READ 0x1u
#define WS_EV_WRITE 0x2u
#define WS_EV_ERROR 0x4u /* only delivered: error or hang-up on the fd */

enum ws_log_level { WS_LOG_ERROR = 0, WS_LOG_WARN = 1, WS_LOG_INFO = 2, WS_LOG_DEBUG = 3 };

/* What r->fs_path names, as the core found it with stat() before dispatch. */
enum ws_fs_type {
    WS_FS_NONE = 0,    /* the location has no root: fs_path is NULL */
    WS_FS_MISSING = 1, /* nothing there (or a path component is not a folder) */
    WS_FS_FILE = 2,    /* a regular file */
    WS_FS_DIR = 3,     /* a folder without an index file */
    WS_FS_OTHER = 4,   /* a device, socket, fifo, or stat() was refused */
};

/* How a request ended, as told to cleanup(). */
enum ws_end {
    WS_END_DONE = 0,    /* the response was sent completely */
    WS_END_ABORTED = 1, /* client gone, timeout, error, server stopping */
};

typedef struct ws_settings ws_settings; /* a module's JSON settings object */
typedef struct ws_watch ws_watch;       /* an fd watch owned by a request */
typedef struct ws_timer ws_timer;       /* a one-shot timer owned by a request */
typedef struct ws_host ws_host;
typedef struct ws_counter ws_counter;   /* a server-wide counter (ABI 1.2, metrics) */
typedef struct ws_shm ws_shm;           /* a named shared-memory zone (ABI 1.2) */

/* write_ref's release callback: the core is done with the memory (ABI 1.2). */
typedef void (*ws_release_cb)(void *arg);

/* ws_module.flags (ABI 1.2). */
#define WS_MODULE_NO_FILES 0x1u /* serves no files: no directory/index/slash rules for it */
typedef struct ws_module ws_module;

typedef struct ws_header {
    const char *name;  /* as the client sent it */
    const char *value; /* leading and trailing blanks removed */
} ws_header;

/* ABI 1.2: the TLS facts of a request that came over HTTPS (ws_request.tls). */
typedef struct ws_tls_info {
    size_t size;                /* sizeof as the core built it */
    const char *protocol;       /* "TLSv1.3", "TLSv1.2" */
    const char *cipher;         /* "TLS_AES_128_GCM_SHA256" */
    const char *sni;            /* the server name the client asked for, or NULL */
    const char *client_subject; /* the verified client certificate's subject (RFC 2253), or NULL */
    int resumed;                /* the session was resumed (ticket or cache) */
} ws_tls_info;

/* Read-only facts about a location, handed to configure(). */
typedef struct ws_location_info {
    size_t size;              /* sizeof as the core built it */
    const char *config_file;  /* absolute path of the config file */
    const char *config_dir;   /* its folder: relative paths are taken from here */
    const char *json_path;    /* e.g. "servers[0].locations[2]" */
    const char *path;         /* the location's path prefix, e.g. "/uploads" */
    const char *root;         /* absolute document root, or NULL */
    int64_t max_body;         /* client_max_body_size, 0 = no limit */
} ws_location_info;

/*
 * A request as the core hands it to modules. Every field is read-only for the
 * module except ctx. Strings are NUL-terminated and live as long as the request.
 */
typedef struct ws_request {
    size_t size;             /* sizeof as the core built it */
    const char *method;      /* "GET", "POST", … */
    const char *target;      /* the raw request-target as received */
    const char *path;        /* percent-decoded, normalised, starts with '/'; the index file
                                applied when the core replaced a folder by its index */
    const char *request_path;/* the same before any index file was applied */
    const char *query;       /* raw (still encoded) query without '?', "" if none */
    int http_minor;          /* HTTP/1.<http_minor>: 0 or 1; WS_HTTP2_MINOR on an HTTP/2 stream */
    const ws_header *headers;
    size_t n_headers;
    int64_t content_length;  /* body length; -1 = chunked (length not yet known); 0 = no body */
    const char *root;        /* location root (absolute, no trailing '/'), or NULL */
    const char *location;    /* the matched location's path */
    const char *fs_path;     /* root + path (index file applied), or NULL */
    int fs_type;             /* enum ws_fs_type, for fs_path */
    struct stat fs_stat;     /* valid when fs_type is FILE, DIR or OTHER */
    const char *remote_addr; /* client address, text */
    unsigned remote_port;
    const char *local_addr;  /* address the connection came in on, text */
    unsigned local_port;
    const char *host;        /* Host header without port, lower-cased; else the server's first name or local_addr */
    const void *conf;        /* this module's per-location config from configure(): during any
                                call into a module (handler, phase hook, filter, offload done),
                                the config of THAT module */
    void *ctx;               /* free for the owning module */
    /* ---- ABI 1.2 (check r->size) ---- */
    const char *remote_user; /* set by an access module with host->set_user, else NULL */
    const char *auth_type;   /* "Basic", … with remote_user, else NULL */
    /* ABI 1.2, TLS (issue 15) */
    const char *scheme;      /* "https" over TLS, else "http" */
    const ws_tls_info *tls;  /* NULL over plain HTTP */
} ws_request;

/* ABI 1.2: what a log phase hook (ws_module.log_request) sees after a response. */
typedef struct ws_log_info {
    size_t size;                /* sizeof as the core built it */
    int status;                 /* the status sent (0: nothing was sent) */
    int how;                    /* enum ws_end */
    uint64_t body_bytes_sent;   /* response body bytes put on the wire */
    uint64_t bytes_received;    /* request body bytes read (de-chunked) */
    uint64_t start_us;          /* when the head was parsed: wall clock, µs since the epoch */
    uint64_t duration_us;       /* from then to the end of the response */
} ws_log_info;

/* ws_request.http_minor of a request that came on an HTTP/2 stream (its
 * semantics are HTTP/1.1's: a module that tests http_minor >= 1 is right). */
#define WS_HTTP2_MINOR 2

/* Server counters, for status pages (host->stats). */
typedef struct ws_stats {
    size_t size;                 /* sizeof as the core built it */
    uint64_t connections_active; /* open client connections */
    uint64_t connections_reading;/* reading a request head or body */
    uint64_t connections_writing;/* a handler is working or a response is being sent */
    uint64_t connections_idle;   /* keep-alive, waiting for the next request */
    uint64_t connections_accepted;
    uint64_t requests_total;     /* requests answered since start */
    double uptime_seconds;
    size_t n_modules;            /* entries in module_names / module_requests */
    const char *const *module_names;
    const uint64_t *module_requests; /* requests each module took */
} ws_stats;

/* ---- ABI 1.2: upstreams (SPEC §6 top-level "upstreams"), for proxy/fastcgi ----
 * The core validates the groups and resolves their addresses at load; a
 * module finds one by name with host->cfg_upstream in configure(). Picking a
 * server, connecting and pooling are the module's job (the proxy and fastcgi
 * modules share lib/upstream/ for it). */
enum ws_balance { WS_BALANCE_ROUND_ROBIN = 0, WS_BALANCE_LEAST_CONN = 1 };

typedef struct ws_upstream_server {
    const char *address;         /* as configured: "127.0.0.1:9000", "[::1]:80", "unix:/run/app.sock" */
    const struct sockaddr *addr; /* resolved at load (AF_INET, AF_INET6 or AF_UNIX) */
    socklen_t addrlen;
    unsigned weight;             /* >= 1 */
} ws_upstream_server;

/* Read-only; lives as long as the configuration that holds it. */
typedef struct ws_upstream {
    size_t size;           /* sizeof as the core built it */
    const char *name;      /* its key in "upstreams" */
    const char *json_path; /* "upstreams.app" */
    const ws_upstream_server *servers;
    size_t n_servers;      /* >= 1 */
    int balance;           /* enum ws_balance */
    unsigned keepalive;    /* idle connections kept per worker (0: none) */
    uint64_t keepalive_ms; /* how long an idle one is kept */
    unsigned max_fails;    /* failures within fail_timeout that take a server out (0: never) */
    uint64_t fail_timeout_ms; /* that window, and how long it stays out */
    uint64_t connect_ms, send_ms, read_ms; /* timeouts.connect/send/read */
} ws_upstream;


typedef void (*ws_fd_cb)(ws_request *r, int fd, unsigned events, void *arg);
typedef void (*ws_timer_cb)(ws_request *r, void *arg);
typedef void (*ws_child_cb)(ws_request *r, pid_t pid, int wait_status, void *arg);

/*
 * The host function table: what the core does for modules. Handed to init();
 * a module keeps the pointer. Only grows at the end (check host->size before
 * using a field added in a later minor version).
 */
struct ws_host {
    size_t size;
    uint16_t abi_major, abi_minor;
    const char *server_software; /* "webserv/1.0.0" */

    /* ---- logging: one line to the error log, prefixed with time, level and module ---- */
    void (*log)(int level, const ws_request *r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* ---- settings, at configure() time only ----
     * Getters return 1 when the key is present and valid (*out set), 0 when it
     * is absent (*out untouched: keep your default), -1 when present but
     * invalid (the error is already reported with its JSON path). Every key a
     * module reads is marked as known; any key left unread after configure()
     * is reported by the core as an unknown key, so modules need not list
     * their keys twice. Strings and arrays live as long as the configuration. */
    int (*cfg_bool)(const ws_settings *s, const char *key, int *out);
    int (*cfg_int)(const ws_settings *s, const char *key, long long min, long long max, long long *out);
    int (*cfg_size)(const ws_settings *s, const char *key, int64_t *out);   /* 123, "10K", "5M", "1G" */
    int (*cfg_seconds)(const ws_settings *s, const char *key, double *out); /* a number >= 0 */
    int (*cfg_string)(const ws_settings *s, const char *key, const char **out);
    int (*cfg_path)(const ws_settings *s, const char *key, const char **out); /* made absolute against the config folder */
    int (*cfg_string_list)(const ws_settings *s, const char *key, const char *const **out, size_t *n);
    /* An object of string values: out gets n pairs as key0, value0, key1, value1, … */
    int (*cfg_string_map)(const ws_settings *s, const char *key, const char *const **out, size_t *n);
    /* Report an error about `key` (NULL: the settings object itself); configure() then returns -1. */
    void (*cfg_error)(const ws_settings *s, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void *(*cfg_alloc)(const ws_settings *s, size_t n); /* zeroed, lives as long as the config */

    /* ---- request facts ---- */
    void *(*alloc)(ws_request *r, size_t n); /* zeroed, freed when the request ends */
    char *(*strdup)(ws_request *r, const char *s);
    const char *(*header)(const ws_request *r, const char *name); /* case-insensitive; NULL if absent */
    const char *(*mime_type)(const char *path); /* by extension, case-insensitive */

    /* ---- the response ----
     * Set status, headers and length, then queue the body with write/send_file
     * and end with finish. The head goes out with the first body call or
     * finish. The core adds Date, Server, Connection and the framing
     * (Content-Length, or chunked for an unknown length on HTTP/1.1, or
     * close-delimited on HTTP/1.0), strips the body for HEAD, and for a 200
     * with validators applies If-None-Match/If-Modified-Since (304),
     * If-Match/If-Unmodified-Since (412) and Range (206/416). */
    int (*set_status)(ws_request *r, int status);
    /* Copied. Content-Length and Transfer-Encoding are refused (use set_length). */
    int (*add_header)(ws_request *r, const char *name, const char *value);
    int (*set_length)(ws_request *r, int64_t length); /* -1: unknown (the default) */
    /* ETag and Last-Modified from a file's stat; makes the response eligible for conditionals and Range. */
    int (*set_validators)(ws_request *r, const struct stat *st);
    /* Queue bytes (copied). WS_AGAIN: queued, but stop producing until on_writable. */
    int (*write)(ws_request *r, const void *data, size_t len);
    /* Queue a file range; the core owns fd from now on and closes it. len -1: to the end.
     * An fd from open_file stays the request's: the core keeps it open until sent. */
    int (*send_file)(ws_request *r, int fd, off_t offset, int64_t len);
    int (*finish)(ws_request *r); /* the body is complete */
    /* Answer with an error page (when nothing was sent yet) or close the
     * connection (when the head is already out). The request then ends. */
    int (*error)(ws_request *r, int status);
    /* Serve `uri` (a local path with optional query) as a GET instead of this
     * response (RFC 3875 §6.2.2). The request then ends for this module. */
    int (*internal_redirect)(ws_request *r, const char *uri);

    /* ---- the request body ----
     * Call read_body once (in handle or later) to have the body delivered to
     * on_body, de-chunked, in pieces as it arrives; 100 Continue is sent only
     * then. A module that answers without calling it never sees the body (the
     * core discards it). on_body returns how many bytes it consumed; fewer than
     * offered pauses the body (and the client) until body_resume, when the rest
     * is offered again. on_body_end follows the last byte. */
    int (*read_body)(ws_request *r);
    void (*body_resume)(ws_request *r);

    /* ---- events, owned by the request and removed when it ends ----
     * (ABI 1.3) watch_fd with r == NULL: a watch owned by the worker, not by
     * a request (an idle connection pool hearing its server close one). Its
     * callback gets r == NULL and must not call request functions; it lives
     * until watch_remove, which frees the handle; remove it before closing
     * the fd, and in fini() at the latest. NULL outside a worker (init,
     * configure) and on a core older than 1.3 (check abi_minor first).
     * An fd a worker watch holds may be watched for a request and back: the
     * registration moves to the new watch (no system call) and the earlier
     * one is left without an fd (watch_remove only frees it). A core that
     * cannot refuses (NULL): remove the earlier watch first. */
    ws_watch *(*watch_fd)(ws_request *r, int fd, unsigned events, ws_fd_cb cb, void *arg);
    int (*watch_set)(ws_watch *w, unsigned events); /* 0: paused */
    void (*watch_remove)(ws_watch *w);              /* does not close the fd */
    ws_timer *(*timer_start)(ws_request *r, uint64_t ms, ws_timer_cb cb, void *arg);
    void (*timer_stop)(ws_timer *t);
    /* Tell me when pid exits. The core reaps every child; after the request
     * ends the callback is dropped but the child is still reaped (no zombies). */
    int (*watch_child)(ws_request *r, pid_t pid, ws_child_cb cb, void *arg);

    /* ---- server-wide ---- */
    void (*stats)(ws_stats *out);

    /* ---- ABI 1.1 ---- */
    /* Open a file for reading through the core's open-file cache (kept fresh
     * by inotify); *st gets its stat. For r->fs_path an unchanged cached file
     * costs no system call. The fd belongs to the core: never close it; it
     * stays valid until the request ends, and send_file with it leaves it
     * open. -1 with errno (ENOENT, EACCES, ...) on failure. */
    int (*open_file)(ws_request *r, const char *path, struct stat *st);
    /* A number that stays the same while nothing in folder `dir` changes (its
     * entries, their contents and attributes, the folders above it), and is
     * never returned again once left: something built from the folder can be
     * kept while the number holds. 0: the folder cannot be watched that
     * closely (a symbolic link in or above it, inotify unavailable); keep
     * nothing. Also 0 until every entry of the folder is watched: the first
     * call for a folder (and the first after a new name appeared in it)
     * starts watching them on the core's thread pool and answers 0; a call
     * after that is done gets the number (a core without a pool watches them
     * in the first call). */
    uint64_t (*dir_version)(ws_request *r, const char *dir);

    /* ---- ABI 1.2: module state (docs/modules.md "Shared memory zones") ---- */
    /* At configure() time only: the zone `name` of this module, `size`
     * usable bytes, shared by every worker. The core creates it before the
     * workers start and keeps it (and its data) across reloads while name and
     * size stay the same; another size makes a new, empty zone (logged).
     * Every location asking for the same name gets the same zone. NULL after
     * cfg_error (bad name or size). The zone is mapped at the same address in
     * every worker, so pointers into it may be stored in it. */
    ws_shm *(*shm_zone)(const ws_settings *s, const char *name, size_t size);
    /* The zone's lock: a process-shared robust mutex; hold it only for short,
     * non-blocking work. WS_OK; WS_SHM_OWNER_DIED (held; repair your data);
     * WS_ERROR (not held: e.g. this process already holds it). */
    int (*shm_lock)(ws_shm *z);
    void (*shm_unlock)(ws_shm *z);
    /* First-fit allocator inside the zone, with the lock held: 16-byte
     * aligned memory, NULL when the zone is full. Not zeroed. */
    void *(*shm_alloc)(ws_shm *z, size_t n);
    void (*shm_free)(ws_shm *z, void *p);
    /* One pointer-sized slot inside the zone for the module's root
     * structure: NULL in a new zone (lock held to read or set it). */
    void **(*shm_root)(ws_shm *z);
    /* Queue module-owned memory without copying it: release(arg) is called
     * exactly once, when the bytes are sent or dropped (the request ended,
     * the client went away), and also at once when refused (WS_ERROR). The
     * memory must stay unchanged until then. Same WS_AGAIN rule as write. */
    int (*write_ref)(ws_request *r, const void *data, size_t len, ws_release_cb release, void *arg);
    /* error() with a short reason ("ms must be between 0 and 60000"): shown,
     * escaped, in the HTML error page, or as {"status", "error", "reason"}
     * JSON to a client whose Accept names application/json. Copied. */
    int (*error_reason)(ws_request *r, int status, const char *reason);
    /* ---- ABI 1.2: phases, offload, response inspection (check host->size) ---- */
    /* Answer a WS_DEFER from a rewrite or access hook: `result` as the hook
     * would have returned it (WS_CONTINUE, WS_DONE or a status). Call it once,
     * from an event (timer, watch, offload done). */
    int (*phase_done)(ws_request *r, int result);
    /* From a rewrite hook only: replace the path (and query, after '?') with
     * `uri`, a local path. When the hook returns WS_CONTINUE the core routes
     * the request again (a new location, its own rewrite phase), at most 10
     * times: then 500. */
    int (*rewrite_uri)(ws_request *r, const char *uri);
    /* Who the client is, once an access module verified it: r->remote_user and
     * r->auth_type (copied; CGI's REMOTE_USER and AUTH_TYPE, the access log). */
    int (*set_user)(ws_request *r, const char *user, const char *auth_type);
    /* A per-request pointer for a phase or filter module (r->ctx belongs to the
     * handler): self is the module's own descriptor (&webserv_module). The slot
     * starts NULL and dies with the request. NULL if out of memory. */
    void **(*module_ctx)(ws_request *r, const ws_module *self);
    /* Run work(arg) on the core's thread pool, then done(r, arg) on the event
     * loop. work must not touch r nor call the host. The request does not end
     * (no cleanup, no freeing) while work runs: when the client goes away
     * meanwhile, done is skipped and cleanup (and the log hooks) come after
     * work returned. From inside body_filter (then return WS_DEFER) it makes
     * the filter asynchronous: the chain waits, and done runs as a call of
     * that filter (filter_next allowed); one such work per response at a
     * time (docs/modules.md "Asynchronous filters"). */
    int (*offload)(ws_request *r, void (*work)(void *arg), void (*done)(ws_request *r, void *arg), void *arg);
    /* The response as it stands (for header filters and handlers). */
    int (*get_status)(const ws_request *r);
    const char *(*resp_header)(const ws_request *r, const char *name); /* first value, NULL if none */
    int (*set_header)(ws_request *r, const char *name, const char *value); /* replaces every field of that name */
    int (*remove_header)(ws_request *r, const char *name);
    /* From inside body_filter only: pass a piece on to the next filter (or
     * the client); last = 1 with the final piece. The bytes are always taken
     * (copied on): WS_AGAIN says the output is above its high-water mark, so
     * finish the piece at hand and return (the core stops feeding until the
     * client drains; there is no resume call). WS_ERROR: stop. Also from the
     * done of a work offloaded from body_filter. */
    int (*filter_next)(ws_request *r, const void *data, size_t len, int last);
    /* Settings of nested shapes, at configure() time (same 1 / 0 / -1 rule
     * as the other getters). A nested object is a settings object of its own
     * (errors name its JSON path, e.g. "….rewrite.rules[2].match"); its keys
     * left unread are reported like the module's own. */
    int (*cfg_object)(const ws_settings *s, const char *key, const ws_settings **out);
    int (*cfg_object_list)(const ws_settings *s, const char *key, const ws_settings *const **out, size_t *n);
    /* Every key of an object, in file order (reading them is up to you). */
    int (*cfg_keys)(const ws_settings *s, const char *const **keys, size_t *n);
    /* The JSON type of `key` (enum ws_cfg_kind), to accept two shapes; reads nothing. */
    int (*cfg_kind)(const ws_settings *s, const char *key);

    /* ---- ABI 1.2: upstreams (issue 17) ---- */
    /* configure() time: the string value of `key` names a top-level upstream.
     * 1 and *out set; 0 when the key is absent; -1 when it is not a string or
     * names no upstream (reported with the key's JSON path). */
    int (*cfg_upstream)(const ws_settings *s, const char *key, const ws_upstream **out);

    /* ---- ABI 1.2: metrics (docs/operations.md "Metrics") ---- */
    /* A counter of the whole server, summed over every worker and kept across
     * reloads, shown by the metrics module as `name` (a Prometheus metric
     * name: [a-zA-Z_:][a-zA-Z0-9_:]*, ending in _total by convention) with
     * `help` (one line). Call it in init() or configure(); the same name
     * gives the same counter. NULL for a bad name or a full table. */
    ws_counter *(*counter)(const char *name, const char *help);
    /* Add n: one atomic add, from any process, at any time. NULL c is ignored. */
    void (*counter_add)(ws_counter *c, uint64_t n);
    /* The whole server's metrics in the Prometheus text format 0.0.4, in
     * request memory (what the metrics module serves). WS_OK or WS_ERROR. */
    int (*metrics_text)(ws_request *r, const char **text, size_t *len);

    /* ---- ABI 1.3: connection upgrade (docs/modules.md "Connection upgrade") ----
     * Answer 101 Switching Protocols now, with the fields added so far plus
     * "Connection: Upgrade" and "Upgrade: <protocol>" (both core-owned, hence
     * the parameter). Only from handle() or later, before anything was sent,
     * on an HTTP/1.1 request whose Connection field names "upgrade" and whose
     * Upgrade field names `protocol` (RFC 9110 §7.8), with no request body
     * left unread. WS_ERROR otherwise (HTTP/1.0, HTTP/2, a head already out):
     * nothing was sent, answer as usual. After WS_OK the connection carries
     * raw bytes both ways until the module calls finish():
     *  - the client's bytes go to ws_module.on_data (a short count pauses
     *    them, body_resume offers the rest again), on_data_end when the
     *    client closed its side;
     *  - write/write_ref send raw bytes (no framing); WS_AGAIN and
     *    on_writable work as for a body;
     *  - finish() closes the connection once the queued bytes are sent;
     *    error() closes it at once;
     *  - no byte either way for timeouts.body closes the connection (and
     *    timeouts.send bounds a client that stops reading); cleanup() follows. */
    int (*upgrade)(ws_request *r, const char *protocol);
    /* The Server and Date fields of this response instead of the core's (a
     * proxy passing its upstream's, when its config says so). NULL leaves
     * that field to the core. Copied; before the head is sent; the values
     * must be valid field values (no control characters), Server at most
     * 256 bytes and Date at most 64, else WS_ERROR. */
    int (*set_server_date)(ws_request *r, const char *server, const char *date);

    /* ---- ABI 1.3: body filter output without a copy (check host->size) ----
     * filter_next for memory the filter owns (a codec's output buffer): the
     * carrier queues it as it is instead of copying it (write_ref for
     * filters). release(arg) is called exactly once: when the bytes were sent
     * or dropped (the request ended), at once when refused (WS_ERROR), and
     * right after the next filter returned when another filter follows (a
     * filter copies what it keeps). The memory must stay unchanged until
     * then. Same rules and returns as filter_next; release NULL = filter_next. */
    int (*filter_next_ref)(ws_request *r, const void *data, size_t len, int last, ws_release_cb release, void *arg);
};

/* The descriptor a module exports as `webserv_module`. */
struct ws_module {
    uint16_t abi_major;        /* WS_ABI_MAJOR the module was built with */
    uint16_t abi_minor;        /* WS_ABI_MINOR the module was built with */
    uint32_t size;             /* sizeof(ws_module) the module was built with */
    const char *name;          /* the config key that enables it, e.g. "static" */
    const char *const *methods;/* methods it handles, NULL-terminated */

    /* Once after loading. Keep host. Non-zero refuses the module. Optional. */
    int (*init)(const ws_host *host);
    /* Once before unloading. Optional. */
    void (*fini)(void);
    /* Once per location where the module is enabled: validate settings and
     * build an immutable per-location config (cfg_alloc), stored in *conf and
     * later handed over as r->conf. Return 0, or -1 after cfg_error. Optional. */
    int (*configure)(const ws_settings *settings, const ws_location_info *loc, const void **conf);

    /* Do you take this request? Must be quick and must not block. */
    int (*match)(ws_request *r);
    /* Start handling. Return 0 (the module answers now or later), or an HTTP
     * status >= 400 for the core to answer with its error page. */
    int (*handle)(ws_request *r);
    /* Body pieces after read_body(); return bytes consumed (see ws_host). Optional. */
    size_t (*on_body)(ws_request *r, const char *data, size_t len);
    void (*on_body_end)(ws_request *r); /* Optional. */
    /* The output queue drained after write() said WS_AGAIN. Optional. */
    void (*on_writable)(ws_request *r);
    /* Exactly once per request the module took; `how` is enum ws_end. Optional. */
    void (*cleanup)(ws_request *r, int how);

    /* ---- ABI 1.2: module state ---- */
    uint32_t flags; /* WS_MODULE_NO_FILES */
    /* A reload replaces the configuration: called once per location of the
     * new configuration where the module is enabled, after every configure()
     * of it succeeded (a refused reload calls nothing) and before any request
     * sees it, with this module's conf for the same location in the old
     * configuration (NULL when it had none) and in the new one. Both are
     * readable during the call; the old one is freed once its last request
     * ends. Optional. See docs/modules.md "State across reloads". */
    void (*on_reload)(const void *old_conf, const void *new_conf);

    /* ---- ABI 1.2: phases and filters (all optional) ----
     * The core calls them for every module enabled in the request's location
     * that has them, in the order of the config's "modules" list, with r->conf
     * set to that module's config. A module may have phase hooks and no
     * handler at all (no methods, match or handle). The order of a request:
     *   location found → rewrite → method check → access → "return" /
     *   directory redirect / handler → conditionals (the core's) → header
     *   filters → Range (the core's) → body filters → response sent →
     *   log_request → cleanup. docs/modules.md "Body filters" has the exact rules. */
    /* Before the method check: WS_CONTINUE, or host->rewrite_uri then
     * WS_CONTINUE (routed again), a status to answer now, WS_DONE, WS_DEFER. */
    int (*rewrite)(ws_request *r);
    /* Before the handler: every module must allow (WS_CONTINUE); a status
     * (401, 403, 429 …) denies; WS_DEFER answers later through phase_done. */
    int (*access)(ws_request *r);
    /* Before the head goes out, after the core's conditionals (it sees
     * 304/412, ETag, Last-Modified, Accept-Ranges and, through resp_header,
     * Content-Length; a Range request is still its 200: the core cuts the
     * 206 from the filters' output after them, or not at all when a filter
     * made the length unknown), with status and headers still open to
     * change (set_status/set_header/add_header/remove_header, set_length(r,
     * -1) for a body whose length changes): 0 = leave the body alone (files
     * keep going out with sendfile), 1 = send the body through body_filter,
     * WS_ERROR = 500. */
    int (*header_filter)(ws_request *r);
    /* Body pieces in order (file ranges read in 64 KiB pieces as the output
     * drains; data valid during the call only), `last` = 1 exactly once at
     * the end; pass on with host->filter_next. Never called for HEAD, 1xx,
     * 204, 304. WS_OK or WS_AGAIN; WS_DEFER after host->offload (the chain
     * waits for that work's done); WS_ERROR gets a 500 while nothing was
     * sent, else cuts the response (HTTP/2: stream reset). */
    int (*body_filter)(ws_request *r, const void *data, size_t len, int last);
    /* After the response (sent or aborted), before cleanup; after every
     * offloaded work of the request returned. */
    void (*log_request)(ws_request *r, const ws_log_info *info);

    /* ---- ABI 1.3: an upgraded connection (host->upgrade), optional ----
     * The client's raw bytes, in order, as they arrive: return how many were
     * consumed (fewer pauses the input until body_resume, as on_body). */
    size_t (*on_data)(ws_request *r, const char *data, size_t len);
    /* The client closed its side (or reset): no more on_data. The module
     * finishes (what it queued is still sent) or is cut by the idle timeout. */
    void (*on_data_end)(ws_request *r);
};

#define WS_MODULE_HEADER .abi_major = WS_ABI_MAJOR, .abi_minor = WS_ABI_MINOR, .size = sizeof(ws_module)

/* The symbol name the core looks up. */
#define WS_MODULE_SYMBOL "webserv_module"

/*
 * Mark the descriptor as exported, so it stays visible when the module is
 * built with -fvisibility=hidden (as webserv_add_module does):
 *
 *     WS_EXPORT const ws_module webserv_module = { WS_MODULE_HEADER, ... };
 */
#ifndef WS_EXPORT
#define WS_EXPORT __attribute__((visibility("default")))
#endif

/*
 * Optional: words for `webserv --schema` (docs/configuration.md). The keys of
 * a module's settings, their types and integer ranges are learnt from the
 * getters its configure() calls (the core runs it once against a recording
 * settings object that answers "absent" to every getter), so they always
 * match what the module validates; this second exported symbol only adds a
 * description, the default and the accepted strings of each key. A core that
 * does not know it ignores it, and a module without it still gets a schema.
 *
 *     static const ws_key_doc keys[] = {
 *         {"timeout", "Seconds without progress; 0 = none", "30", NULL, NULL},
 *         {NULL, NULL, NULL, NULL, NULL},
 *     };
 *     WS_EXPORT const ws_module_doc webserv_module_doc = {
 *         .size = sizeof(ws_module_doc), .key_size = sizeof(ws_key_doc),
 *         .description = "What the module does, in one line", .keys = keys,
 *     };
 */
typedef struct ws_key_doc {
    const char *key;           /* as the module's configure() reads it */
    const char *description;   /* one line */
    const char *default_json;  /* the default as JSON text ("30", "\"html\"", "[]"), or NULL */
    const char *const *values; /* the only strings the key accepts (NULL-terminated), or NULL */
    const char *schema;        /* more JSON Schema text merged into the key's (e.g. a pattern), or NULL */
} ws_key_doc;

typedef struct ws_module_doc {
    uint32_t size;             /* sizeof(ws_module_doc) the module was built with */
    uint32_t key_size;         /* sizeof(ws_key_doc) the module was built with */
    const char *description;   /* one line */
    const ws_key_doc *keys;    /* ends with an entry whose key is NULL */
    /* Since ABI 1.3 (a core reads it only when `size` covers it): more JSON
     * Schema text merged into the module's object, for rules between its
     * keys, e.g. "{\"required\": [\"upstream\"]}", or NULL. */
    const char *schema;
} ws_module_doc;

#define WS_MODULE_DOC_SYMBOL "webserv_module_doc"

#ifdef __cplusplus
}
#endif
#endif /* WEBSERV_MODULE_H */

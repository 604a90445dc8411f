/*
 * A client connection and the request on it: read head → route → body →
 * handler → write → keep-alive. The request is what modules see (ws_request
 * is its first member); the connection owns buffers, timers and the socket.
 */
#ifndef WEBSERV_CONN_H
#define WEBSERV_CONN_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "http_parse.h"
#include "loop.h"
#include "outq.h"
#include "resp_headers.h"
#include "transport.h"
#include "webserv/module.h"

struct server;
struct listener;
struct live_config;
struct arena;
struct loaded_module;

typedef enum {
    CONN_IDLE,       /* keep-alive: waiting for the first byte of a request */
    CONN_HEAD,       /* reading a request head */
    CONN_ACTIVE,     /* a request is being handled (body, handler, response) */
    CONN_DISCARD,    /* response sent; reading and dropping the rest of the body */
    CONN_LINGER,     /* last response sent, write side shut: dropping input until the client closes */
} conn_state;

typedef enum {
    BODY_NONE,      /* no body */
    BODY_UNREAD,    /* a body follows, nobody asked for it yet */
    BODY_READING,   /* being delivered to the module */
    BODY_PAUSED,    /* the module consumed less than offered */
    BODY_DONE,      /* complete */
} body_state;

typedef struct req_watch {
    struct request *r;
    int fd;
    unsigned events;
    ws_fd_cb cb;
    void *arg;
    struct req_watch *next;
} req_watch;

/* A file a module opened through the core (host->open_file): released when the request ends. */
typedef struct req_file {
    int fd;
    struct fs_file *ref;
    struct req_file *next;
} req_file;

typedef struct req_timer {
    struct request *r;
    loop_timer *t;
    ws_timer_cb cb;
    void *arg;
    struct req_timer *next;
} req_timer;

typedef struct request {
    ws_request pub;                 /* must stay first: modules get &pub */
    struct conn *c;
    struct arena *pool;
    struct live_config *cfg;
    const server_conf *server;
    const location_conf *loc;
    struct loaded_module *owner;    /* the module that took it, or NULL */
    http_head head;                 /* slices valid only while the head is in c->rbuf */
    char *request_line;             /* for the access log */
    const char *referer, *user_agent;

    /* body */
    body_state body;
    int64_t body_left;              /* Content-Length bytes still to read */
    int64_t body_seen;              /* de-chunked bytes seen so far */
    int chunked;
    chunked_decoder dec;
    const char *pend;               /* a body piece the module has not consumed yet */
    size_t pend_len;
    int sent_continue;

    /* response */
    int status;
    int64_t length;                 /* -1: unknown */
    resp_headers resp_headers;      /* fields set so far (resp_headers.h) */
    char etag[64];
    time_t last_modified;
    int has_validators;
    int head_sent;
    int finished;                   /* the module said finish (or the core answered) */
    int chunked_out;                /* framing chunks */
    int no_body;                    /* HEAD, 304, 204 … : body bytes are dropped */
    int64_t skip, out_left;         /* Range filter: bytes to drop, then bytes to pass (-1 = all) */
    int want_writable;
    int close_after;                /* Connection: close on this response */
    uint64_t body_bytes_sent;       /* for the access log */
    uint64_t content_written;       /* body bytes the handler gave (before HEAD/Range filters) */
    int broken;                     /* the response cannot be completed: close after it */
    int overflow_logged;            /* the handler wrote past its length (logged once) */
    int dec_failed;                 /* the chunked body was malformed */
    int chunk_end;                  /* the chunked body's last-chunk and trailers were read */
    int aborted;                    /* the client went away mid-body */

    /* events owned by the request */
    req_watch *watches;
    req_timer *timers;
    req_file *files;
    int in_module;                  /* depth of module calls on the stack */
    int cleaned;                    /* cleanup has been called */
    int redirects;                  /* internal redirects so far */
    char *redirect_to;              /* pending internal redirect */

    /* ABI 1.2 phases, filters and offload (core/phases) */
    int hook_in;                    /* the HOOK_* being called now, -1 none */
    size_t hook_idx;                /* position in loc->hooks[hook] of the phase under way */
    int hook_wait;                  /* a module said WS_DEFER: waiting for phase_done */
    int hook_resume;                /* phase_done arrived: conn_progress resumes the phase */
    int hook_phase;                 /* the HOOK_* a deferral waits in */
    int hook_result;                /* what phase_done was given */
    int rewrites;                   /* rewrite_uri re-routes so far */
    int rewritten;                  /* rewrite_uri was called in the current hook */
    int dir_redirect;               /* route_map_path asked for the trailing-slash 301 */
    int filters_ran;                /* header filters ran for this response */
    size_t keep_headers;            /* resp_error keeps the first keep_headers response fields */
    struct loaded_module *calling;  /* the phase module being called (log prefix) */
    struct mod_slot *slots;         /* module_ctx slots */
    unsigned offloads;              /* offloaded works not returned yet */
    int orphan;                     /* ended while works ran: freed after the last one */
    int orphan_how;                 /* the enum ws_end it ended with */
    uint64_t start_us;              /* wall clock when the head was parsed */
} request;

typedef union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} sockaddr_any;

typedef struct conn {
    transport tr;                   /* the socket, plain or TLS: every byte goes through it */
    unsigned read_want, write_want; /* loop events a blocked read / flush waits for (transport.h) */
    struct server *srv;
    struct listener *lst;
    conn_state state;
    sockaddr_any local, remote;     /* IPv4 or IPv6: 28 bytes each, not sockaddr_storage's 128 */
    char *rbuf;                     /* read buffer (from the server's pool), NULL while idle */
    size_t rlen, rpos;              /* data is rbuf[rpos..rlen) */
    size_t scan_from;               /* http_parse_head hint */
    unsigned events;                /* loop interest */
    uint64_t deadline;              /* ms; 0 = none */
    int phase;                      /* which timeout the deadline is (enum in conn.c) */
    loop_timer *timer;
    uint64_t timer_at;
    request *req;
    outq out;
    int peer_closed;
    int in_progress;                /* conn_progress on the stack */
    struct conn *prev, *next;       /* server's list of connections */
    uint32_t requests;              /* served on this connection */
} conn;

/* Take over an accepted socket (non-blocking, close-on-exec). */
void conn_new(struct server *s, struct listener *l, int fd, const struct sockaddr *remote, socklen_t rlen);
/* Abort whatever runs and close now (shutdown). */
void conn_close(conn *c);
/* The server is stopping: finish what runs, give an idle connection a short
 * grace for its next request (answered with Connection: close), then close. */
void conn_drain(conn *c);
/* Move the connection forward after something changed (module call returned,
 * I/O ready). Safe to call from anywhere outside a module call. */
void conn_progress(conn *c);

/* ---- used by host.c ---- */
void req_begin_module(request *r);
void req_end_module(request *r);
int req_respond_error(request *r, int status);
int req_write(request *r, const void *data, size_t len);
int req_send_file(request *r, int fd, off_t off, int64_t len);
int req_finish(request *r);
int req_read_body(request *r);
void req_body_resume(request *r);
int req_add_header(request *r, const char *name, const char *value);
int req_internal_redirect(request *r, const char *uri);
ws_watch *req_watch_fd(request *r, int fd, unsigned events, ws_fd_cb cb, void *arg);
int req_watch_set(req_watch *w, unsigned events);
void req_watch_remove(req_watch *w);
ws_timer *req_timer_start(request *r, uint64_t ms, ws_timer_cb cb, void *arg);
void req_timer_stop(req_timer *t);
/* Free a request that ended while offloaded works ran, once the last returned (core/phases/offload_req.c). */
void req_free_orphan(request *r);
void req_child_exited(request *r, pid_t pid, int status, ws_child_cb cb, void *arg);

#endif

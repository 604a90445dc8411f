/*
 * A request, what modules see of it (ws_request is its first member), and
 * its life above the carrier: setup, routing and dispatch (request.c), the
 * body as modules get it (req_body.c), the events it owns (req_events.c), the
 * response (response.c). Nothing here knows the protocol under it: the
 * carrier (carrier.h) writes the response and reads the body.
 */
#ifndef WEBSERV_REQUEST_H
#define WEBSERV_REQUEST_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "carrier.h"
#include "config.h"
#include "http_parse.h"
#include "log.h"
#include "loop.h"
#include "resp_headers.h"
#include "step.h"
#include "webserv/module.h"

struct live_config;
struct arena;
struct loaded_module;
struct fs_file;

typedef enum {
    BODY_NONE,      /* no body */
    BODY_UNREAD,    /* a body follows, nobody asked for it yet */
    BODY_READING,   /* being delivered to the module */
    BODY_PAUSED,    /* the module consumed less than offered */
    BODY_DONE,      /* complete */
} body_state;

/* What the request is waiting for, each with its own deadline (config
 * timeouts): body bytes (between reads), room to send (between writes), or
 * nothing of the core's own while a handler works (timeouts.handler is a
 * request timer, request.c). Reading the head is the connection's business:
 * there is no request before its head. */
typedef enum {
    REQ_WORKING,
    REQ_BODY,
    REQ_SEND,
    REQ_TUNNEL,     /* an upgraded connection (upgrade.c): no byte either way for timeouts.body */
} req_phase;

/* What the request keeps of its parsed head once req_start copied the
 * strings: the rest (slices into the carrier's buffer, up to 100 fields)
 * is only read during req_start, so it is not copied into every request. */
typedef struct req_head_facts {
    int64_t content_length; /* -1: no Content-Length */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* after this request, per version and Connection */
    int expect_continue;    /* Expect: 100-continue */
} req_head_facts;

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

#define REQ_INLINE_SLOTS 4

typedef struct request {
    ws_request pub;                 /* must stay first: modules get &pub */
    const carrier_ops *carrier;     /* how the response leaves and the body comes in */
    void *carrier_ctx;              /* the carrier's own (HTTP/1: its connection) */
    struct arena *pool;
    struct live_config *cfg;
    const bind_conf *bind;          /* the listening address it came in on (routing) */
    const struct sockaddr *local;   /* the local address it came in on (routing) */
    const struct transport *tr;     /* the transport under its carrier: TLS facts, SNI (NULL: none) */
    const server_conf *server;
    const location_conf *loc;
    struct loaded_module *owner;    /* the module that took it, or NULL */
    req_head_facts head;            /* the framing and connection facts of the head (req_start) */
    char *request_line;             /* for the access log and error-log context */
    const char *referer, *user_agent;

    log_ctx logctx;                 /* client, request line, what is being done: for error-log lines */

    /* state and deadline (the connection has its own: idle, head, linger) */
    req_phase phase;
    uint64_t deadline;              /* ms on the loop's clock; 0 = none */

    /* body */
    body_state body;
    int64_t body_seen;              /* body bytes received so far (after the carrier's framing) */
    int aborted;                    /* the client went away mid-body */

    /* response */
    int status;
    int64_t length;                 /* -1: unknown */
    resp_headers resp_headers;      /* fields set so far (resp_headers.h) */
    char etag[64];
    time_t last_modified;
    int has_validators;
    int head_sent;
    int finished;                   /* the module said finish (or the core answered) */
    int no_body;                    /* HEAD, 304, 204 … : body bytes are dropped */
    int64_t skip, out_left;         /* Range filter: bytes to drop, then bytes to pass (-1 = all) */
    int want_writable;
    int close_after;                /* the carrier's transport is not reused after this response */
    uint64_t body_bytes_sent;       /* for the access log */
    uint64_t content_written;       /* body bytes the handler gave (before HEAD/Range filters) */
    int broken;                     /* the response cannot be completed: close after it */
    int overflow_logged;            /* the handler wrote past its length (logged once) */

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
    int hook_resume;                /* phase_done arrived: the carrier's progress resumes the phase */
    int hook_phase;                 /* the HOOK_* a deferral waits in */
    int hook_result;                /* what phase_done was given */
    struct req_timer *hook_timer;   /* the deadline of a deferral (PHASE_DEFER_MS or timeouts.handler) */
    struct req_timer *kick;         /* req_kick_writable's timer (armed while kick->t is set) */
    int rewrites;                   /* rewrite_uri re-routes so far */
    int rewritten;                  /* rewrite_uri was called in the current hook */
    int dir_redirect;               /* route_map_path asked for the trailing-slash 301 */
    int filters_ran;                /* header filters ran for this response */
    int prepared;                   /* conditionals and validators applied to this response */
    int cond_scanned;               /* cond_fields found range/if_range (the late Range reads them) */
    const char *range, *if_range;   /* the request's Range and If-Range, once cond_scanned */
    struct filt_state *filt;        /* the body filter chain, NULL when no filter wants the body (phases/filter.c) */
    size_t keep_headers;            /* resp_error keeps the first keep_headers response fields */
    struct loaded_module *calling;  /* the phase module being called (log prefix) */
    struct {                        /* module_ctx slots of the first REQ_INLINE_SLOTS modules asking: */
        const void *self;           /* no allocation (an access module asks on every request) */
        void *ctx;
    } slot_in[REQ_INLINE_SLOTS];
    struct mod_slot *slots;         /* module_ctx slots past those */
    unsigned offloads;              /* offloaded works not returned yet */
    int orphan;                     /* ended while works ran: freed after the last one */
    int orphan_how;                 /* the enum ws_end it ended with */
    uint64_t start_us;              /* wall clock when the head was parsed */
    uint64_t start_ns;              /* CLOCK_MONOTONIC then, for the duration metric (server/metrics.c) */

    /* ABI 1.3 connection upgrade (upgrade.c) */
    const char *upgrade_proto;      /* the protocol of the 101 being sent: its head says so */
    int upgraded;                   /* raw bytes both ways: input to on_data, output unframed */
    const char *server_field;       /* host->set_server_date: Server instead of the core's, or NULL */
    const char *date_field;         /* … and Date */
} request;

/* ---- life, setup, routing, dispatch (request.c) ---- */
/* A new request on a carrier: pool, config reference, addresses for modules. NULL: out of memory. */
request *req_new(const carrier_ops *carrier, void *ctx, const bind_conf *bind, const struct sockaddr *local,
                 const struct sockaddr *remote);
/* The request's end: the module's cleanup, its files, the access log line;
 * then r is freed. how: WS_END_DONE or WS_END_ABORTED. */
void req_end(request *r, int how);
/* Free a request that ended while offloaded works ran, once the last returned (core/phases/offload_req.c). */
void req_free_orphan(request *r);
/* Drop every watch, timer and child callback the request registered (req_events.c). */
void req_remove_events(request *r);
/* Start a request from its head: h (valid during the call only) when
 * parse_status is HTTP_PARSE_OK, NULL for a refused head (the status). */
void req_start(request *r, int parse_status, const http_head *h);
void req_route(request *r);
void req_restart(request *r, const char *uri);
/* Run what waits for the module's call to return: an internal redirect, or
 * a phase that answered its WS_DEFER. True when something ran. */
int req_take_pending(request *r);
/* The request's deadline passed (r->phase): a stalled body is answered
 * with 408 when nothing was sent yet (STEP_ERROR: the answer is under way),
 * anything else cuts the connection (STEP_CLOSE). */
step req_timed_out(request *r);

/* ---- the body as modules get it (req_body.c) ---- */
int req_read_body(request *r);
void req_body_resume(request *r);
/* The carrier hands up a body piece: bytes the module consumed. */
size_t req_body_in(request *r, const char *p, size_t n);
/* The carrier read the whole body. */
void req_body_end(request *r);
static inline int req_body_unread(const request *r)
{
    return r->body == BODY_UNREAD || r->body == BODY_READING || r->body == BODY_PAUSED;
}

/* ---- connection upgrade (upgrade.c, ABI 1.3) ---- */
/* host->upgrade: 101 Switching Protocols now, then raw bytes. WS_OK or WS_ERROR (nothing sent). */
int req_upgrade(request *r, const char *protocol);
/* Does the comma-separated field value `list` hold `token` (case-insensitive, RFC 9110 §5.6.1)?
 * A token "name/version" also matches its bare name when `token` has no '/'. */

/* ---- module calls and the events a request owns (req_events.c) ---- */
void req_begin_module(request *r);
void req_end_module(request *r);
/* The carrier drained its output: the module's on_writable, if it asked
 * for it (a write answered WS_AGAIN). True when it was called. */
int req_writable(request *r);
/* The carrier's queue ran dry with no event to follow (an HTTP/2 stream whose
 * DATA all went out within one flush): req_writable on the next loop round,
 * for a module waiting for on_writable or body filters with file ranges left. */
void req_kick_writable(request *r);
/* Call the owner's cleanup (once) and drop every watch, timer and child
 * callback the request registered. */
void req_release_module(request *r, int how);
ws_watch *req_watch_fd(request *r, int fd, unsigned events, ws_fd_cb cb, void *arg);
int req_watch_set(req_watch *w, unsigned events);
void req_watch_remove(req_watch *w);
ws_timer *req_timer_start(request *r, uint64_t ms, ws_timer_cb cb, void *arg);
void req_timer_stop(req_timer *t);
void req_child_exited(request *r, pid_t pid, int status, ws_child_cb cb, void *arg);

#endif

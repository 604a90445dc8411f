/*
 * Shared state of the test host's parts (testhost.c: modules, configs and
 * requests; th_host.c: the host table; th_loop.c: events and the body).
 * Not for tests: they use testhost.h.
 */
#ifndef WEBSERV_TH_INTERNAL_H
#define WEBSERV_TH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "testhost.h"
#include "../../core/module/shm_zone.h"

struct arena;

/* One configure() result; kept until th_unload so conf memory stays valid. */
typedef struct th_config {
    struct th_config *next;
    struct arena *arena;   /* settings strings and cfg_alloc memory */
    void *json;            /* json_t *, borrowed by the settings object */
    const void *conf;      /* what configure() stored */
    char *location;        /* location path, e.g. "/" */
    char *root;            /* absolute root without trailing '/', or NULL */
} th_config;

/* Responses outlive their requests (tests check cleanups after th_request_end);
 * they are freed with the module. */
typedef struct th_resp_node {
    struct th_resp_node *next;
    th_response res;
} th_resp_node;

/* The user pointer of a settings object during configure() (host->shm_zone). */
typedef struct th_configuring {
    const char *module;
    shm_zone_set *zones;
} th_configuring;

struct th_module {
    const ws_module *desc;
    shm_zone_set zones;    /* what its configure() calls asked for; released by th_unload */
    void *dl;              /* dlopen handle for th_load_so, else NULL */
    th_config *configs;
    th_resp_node *responses;
};

/* One block of request memory (host->alloc); all freed when the request ends. */
typedef struct th_block {
    struct th_block *next;
    max_align_t data[];
} th_block;

struct ws_watch {
    struct ws_watch *next;
    th_request *t;
    int fd;
    unsigned events;
    ws_fd_cb cb;
    void *arg;
    int removed;           /* kept allocated until the request ends: callers may hold it */
};

struct ws_timer {
    struct ws_timer *next;
    th_request *t;
    uint64_t due_ms;
    ws_timer_cb cb;
    void *arg;
    int done;              /* fired or stopped */
};

typedef struct th_child {
    struct th_child *next;
    th_request *t;         /* NULL once the request ended: reap only */
    pid_t pid;
    ws_child_cb cb;
    void *arg;
    int done;
} th_child;

struct th_request {
    ws_request req;        /* first: a ws_request * is a th_request * */
    th_request *next_live; /* every request not yet ended, for th_run */
    th_module *m;
    th_response *res;
    th_block *blocks;
    ws_header *headers;
    int taken;             /* match said WS_TAKE: cleanup is owed */
    int ended;             /* error() or internal_redirect(): the module is done */
    int head_sent;         /* first body byte or finish: status/headers are frozen */
    size_t body_cap;
    /* output backpressure */
    int output_full;
    int want_writable;     /* a write said WS_AGAIN */
    size_t out_limit;      /* th_set_output_limit, 0 = none */
    size_t out_queued;     /* bytes queued since the last th_drain */
    /* request body: bytes the "client" sent that on_body has not consumed */
    char *in_buf;
    size_t in_len;
    int body_paused;       /* on_body took less than offered: wait for body_resume */
    int body_end;          /* the client sent the last byte */
    int body_end_delivered;
    uint64_t body_consumed; /* total bytes on_body took */
    /* events */
    struct ws_watch *watches;
    struct ws_timer *timers;
    size_t n_children;     /* children still running for this request */
    int opened[8];         /* fds from open_file: the host's, closed when the request ends */
    int n_opened;
    /* ABI 1.2 (th_phase.c) */
    int hook_in;           /* 1 + the hook being called (1 rewrite, 2 access, 3 header filter, 4 body filter), 0 none */
    int phase_waiting;     /* the hook said WS_DEFER */
    int phase_answered;    /* phase_done came */
    int phase_result;
    struct th_slot *slots; /* module_ctx */
    int offloads;          /* works not returned yet */
    int filter_jobs;       /* of them, offloaded from body_filter (0 or 1) */
    /* ABI 1.3: after host->upgrade, fed bytes go to on_data, th_end_body to on_data_end */
    int upgraded;
};

/* Does a module's descriptor (built against some ABI minor) reach `field`? */
#define DESC_HAS(d, field) ((d)->size >= offsetof(ws_module, field) + sizeof((d)->field))

extern th_request *th_live; /* list of requests not yet ended */
/* th_host.c: append to the response body (what write and filter_next collect). 0 or -1. */
int th_body_append(th_request *t, const void *data, size_t len);

/* th_loop.c */
void th_pump_body(th_request *t);     /* offer buffered body bytes, then on_body_end */
void th_events_release(th_request *t);/* drop watches and timers; children become orphans */
void th_reap_once(void);              /* waitpid(WNOHANG) every watched child; runs callbacks */
int th_request_done(const th_request *t);
uint64_t th_now_ms(void);

/* th_phase.c */
int th_offload_poll(void);            /* run done callbacks of finished works; 1 while works run */
void th_offload_settle(th_request *t); /* join the request's works and run their done (body end) */
void th_offload_wait(th_request *t);  /* join the request's works (its end waits for them) */
int th_phase_get_status(const ws_request *r);
const char *th_phase_resp_header(const ws_request *r, const char *name);
int th_phase_set_header(ws_request *r, const char *name, const char *value);
int th_phase_remove_header(ws_request *r, const char *name);
int th_phase_done(ws_request *r, int result);
int th_phase_rewrite_uri(ws_request *r, const char *uri);
int th_phase_set_user(ws_request *r, const char *user, const char *auth_type);
void **th_phase_module_ctx(ws_request *r, const ws_module *self);
int th_phase_offload(ws_request *r, void (*work)(void *), void (*done)(ws_request *, void *), void *arg);
int th_phase_filter_next(ws_request *r, const void *data, size_t len, int last);
int th_phase_filter_next_ref(ws_request *r, const void *data, size_t len, int last, void (*release)(void *), void *arg);

/* th_host.c */
void *th_alloc(ws_request *r, size_t n);

#endif

/*
 * One request's exchange with an upstream, the part the proxy and fastcgi
 * modules share (their protocols differ; the flow around them does not):
 *  - connecting through upstream.h (balancing, health, the pool), and
 *    when nothing came back yet, trying again: a pooled connection the
 *    server had closed meanwhile on a fresh one to the same server (not
 *    counted), a failed fresh one on the next server for idempotent
 *    requests whose body was not consumed (at most `retries` times), else
 *    502 (no server left);
 *  - one fd watch and one timer: the send timeout while bytes wait to go
 *    out, the read timeout otherwise (→ 504), none while the client's queue
 *    is full (the core's send timeout is for that);
 *  - the bytes to the upstream: obuf holds the request head (kept for a
 *    retry until the body starts), then one framed piece of body at a time;
 *    while a piece waits, on_body consumes nothing (the client is paused)
 *    and body_resume follows once it went out;
 *  - reading: into the module's buffer, at most 8 reads a wake-up, not at
 *    all while the client's queue is full (out_paused) or the answer ended.
 * The module frames (the head, body pieces) and parses what comes back.
 */
#ifndef WEBSERV_UP_EXCHANGE_H
#define WEBSERV_UP_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

typedef struct up_exchange up_exchange;

typedef struct up_exchange_ops {
    /* Where the next bytes from the upstream go: returns the room at *buf (0: not now). */
    size_t (*in_buf)(up_exchange *x, char **buf);
    /* n bytes arrived there. */
    void (*input)(up_exchange *x, size_t n);
    /* The upstream closed (err 0) or failed (an errno value) while reading:
     * the module ends the exchange (upx_retry, upx_fail or upx_done). */
    void (*closed)(up_exchange *x, int err);
    /* Optional: called once when the first server is chosen, before any byte
     * goes out (the proxy's head may name that server); -1: out of memory. */
    int (*prepare)(up_exchange *x);
    /* Optional: obuf went out and the body is not done: queue more at
     * obuf[olen] now (return 1) or later (0, then call upx_flush). */
    int (*refill)(up_exchange *x);
    /* Optional: a retry starts; obuf is back to the head. */
    void (*rewind)(up_exchange *x);
} up_exchange_ops;

struct up_exchange {
    /* set by upx_init */
    const ws_host *host;
    ws_request *r;
    const char *name;          /* the module, for log lines */
    const up_exchange_ops *ops;
    void *arg;                 /* the module's request state */
    up_conn up;
    /* the module's settings (after upx_init) */
    uint64_t send_ms, read_ms; /* 0: none */
    unsigned retries;          /* fresh connections tried again for idempotent requests */

    /* to the upstream (the module fills obuf) */
    char *obuf;
    size_t olen, ooff, ocap;
    size_t head_len;   /* obuf[0..head_len): the request head, sent again by a retry */
    int body_started;  /* body bytes were consumed: no retry any more */
    int body_done;     /* the body (and its end) is queued */
    int body_paused;   /* on_body consumed less: body_resume once obuf drains */
    int in_on_body;

    /* state */
    ws_watch *w;       /* on up.fd once connected */
    ws_timer *timer;
    uint64_t timer_due; /* when it fires (monotonic ms) */
    uint64_t last_ms;  /* the last progress: the timeout counts from there */
    unsigned tries;
    int prepared;
    int over;          /* the response ended (finish or error): no more response calls */
    int got_any;       /* an answer byte came: no retry any more */
    int out_paused;    /* the client's queue is full: not reading until on_writable */
    int ended;         /* the answer is complete: not reading */
    void *heap[4];     /* upx_buffer's, freed by upx_cleanup */
};

/* Set up x for request r and upstream group u (x lives in request memory). */
void upx_init(up_exchange *x, const ws_host *host, ws_request *r, const char *name, const ws_upstream *u,
              const up_exchange_ops *ops, void *arg);

/* Pick a server and connect (then obuf is sent). From handle (in_handle 1):
 * 0, or the status to return (502: no server; 500). Later: 0, or -1 when the
 * error was answered. */
int upx_connect(up_exchange *x, int in_handle);

/* Write obuf while the upstream takes it; keeps the watch and the timer right. */
void upx_flush(up_exchange *x);

/* on_body: frame pieces of at most `piece` bytes into obuf (frame appends at
 * obuf[olen]) and send them while the upstream takes them. */
size_t upx_body(up_exchange *x, const char *data, size_t len, size_t piece,
                void (*frame)(up_exchange *x, const char *data, size_t n));
/* on_body_end: `last` appends the body's end (may be NULL: nothing to add). */
void upx_body_end(up_exchange *x, void (*last)(up_exchange *x));

/* The watch's interest and the timer after a change of state. */
void upx_update_watch(up_exchange *x);
void upx_arm_timer(up_exchange *x);

/* Nothing came back yet and the request can go again: 1 if it did. */
int upx_retry(up_exchange *x, const char *why);
/* Log, drop the connection (counted against the server when status >= 502),
 * answer status once (a page, or a cut connection once the head is out). */
void upx_fail(up_exchange *x, int status, const char *why);
/* The answer is complete: the connection goes back to the pool when `reusable`. */
void upx_done(up_exchange *x, int reusable);
/* The request's cleanup: the connection is closed, never reused; the
 * buffers of upx_buffer are freed. */
void upx_cleanup(up_exchange *x);

/* n bytes for the request's big buffers (obuf with a body, what is read from
 * the upstream), not zeroed: host->alloc zeroes, which touched every page of
 * 64 KiB buffers for a 1 KiB answer (cache misses, resident memory). Freed by
 * upx_cleanup; at most 4 a request. NULL when out of memory. */
void *upx_buffer(up_exchange *x, size_t n);

#endif

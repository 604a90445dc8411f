/*
 * The carrier under a request: how its response leaves and how its body
 * comes in. The request code (request.c, response.c, host.c) calls only
 * these operations; it never sees protocol bytes or an output queue. The
 * HTTP/1 connection (core/h1/h1_carrier.c) is the first carrier; an HTTP/2
 * stream will be the second, and a loopback carrier drives the response path
 * in unit tests (tests/unit/test_response.c).
 *
 * Output. The request decides the response (status, r->resp_headers,
 * r->length: -1 unknown, r->no_body: HEAD/304/204, Range and HEAD already
 * applied to the body bytes) and then calls, in this order:
 *   send_head(r)                 once: the carrier writes its status line and
 *                                fields (HTTP/1: plus Server, Date, framing
 *                                and Connection; it may set r->close_after).
 *   send_mem / send_ref / send_file  body pieces, in order, never after finish.
 *                                send_mem copies; send_ref queues the caller's
 *                                memory and calls release(arg) when it is sent
 *                                or dropped (also when the call fails);
 *                                send_file queues a file range: release(arg)
 *                                when done, or close(fd) when release is NULL.
 *   finish(r)                    the body is complete (HTTP/1 chunked: the
 *                                last-chunk). When queued() drops, the
 *                                request's end follows from the carrier.
 * All return 0, or -1 when the response cannot be written (out of memory):
 * the request is then cut.
 *   queued(r)                    bytes accepted and not yet sent: the
 *                                response code answers WS_AGAIN above a high
 *                                water mark and sets r->want_writable; the
 *                                carrier calls the module's on_writable (through
 *                                req_writable) when it drained below its low
 *                                water mark.
 *   abort(r)                     the response cannot be completed (a handler
 *                                that failed after its head went out): the
 *                                carrier ends the request without reusing its
 *                                transport (HTTP/1: close; HTTP/2: RST_STREAM).
 *
 * Input. A body is read only when the module asks (host read_body):
 *   want_body(r)                 start reading the body (HTTP/1: answers an
 *                                Expect: 100-continue first).
 * The carrier then hands body pieces up with req_body_in(r, p, n), which
 * returns how many bytes the module consumed; a short count pauses the body
 * (r->body == BODY_PAUSED) and the carrier keeps the rest and offers it again
 * after host body_resume. req_body_end(r) says the body is complete. Body
 * framing (Content-Length, chunked) and its errors are the carrier's.
 *
 *   upgrade(r)                   (optional; NULL: the carrier cannot, e.g.
 *                                HTTP/2) after a 101 head was sent with
 *                                send_head: the transport now carries raw
 *                                bytes both ways (host->upgrade, ABI 1.3).
 *                                Body pieces go on through req_body_in (the
 *                                request routes them to on_data), the end of
 *                                the client's side through req_body_end; the
 *                                output is unframed; the transport is not
 *                                reused. 0, or -1: refused (nothing changed).
 *
 *   progress(r)                  something changed above the carrier (a module
 *                                callback returned, a redirect is pending):
 *                                move forward. Never called from inside a
 *                                module call (r->in_module).
 */
#ifndef WEBSERV_CARRIER_H
#define WEBSERV_CARRIER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct request;

typedef void (*carrier_release_fn)(void *arg);

typedef struct carrier_ops {
    const char *name;
    int (*send_head)(struct request *r);
    int (*send_mem)(struct request *r, const void *p, size_t n);
    int (*send_ref)(struct request *r, const void *p, size_t n, carrier_release_fn release, void *arg);
    int (*send_file)(struct request *r, int fd, off_t off, uint64_t n, carrier_release_fn release, void *arg);
    int (*finish)(struct request *r);
    size_t (*queued)(const struct request *r);
    void (*abort)(struct request *r);
    void (*want_body)(struct request *r);
    void (*progress)(struct request *r);
    int (*upgrade)(struct request *r);
} carrier_ops;

#endif

/*
 * ABI 1.2 body filters (docs/modules.md "Filters", /work notes in
 * docs/modules.md "Body filters: exact semantics"): the chain of the modules
 * whose header_filter returned 1, between what a handler gives (write,
 * write_ref, send_file, finish) and the carrier.
 *
 * A response with no module wanting its body never comes here: the
 * response code keeps its straight path (sendfile, no copy). Otherwise:
 *   - memory bodies go through the chain at once (the filters' output is
 *     copied into the carrier's queue);
 *   - file ranges, and whatever the handler gives while a file range is still
 *     waiting, wait in an ordered source queue; the pump reads files in
 *     FILTER_PIECE pieces (pread, on the loop) only while the carrier's queue
 *     is under its high-water mark, so a big file to a slow client costs a
 *     bounded amount of memory;
 *   - the head goes out with the chain's first output (or at the end), so a
 *     filter that fails before it passed anything on still gets the client a
 *     500; after that a failure cuts the response.
 */
#ifndef WEBSERV_FILTER_H
#define WEBSERV_FILTER_H

#include <stddef.h>
#include <sys/types.h>

#include "request.h"

#define FILTER_PIECE (64 * 1024) /* bytes of a file read in at a time */
#define FILTER_MAX 32            /* body filters in one chain (more are skipped, logged) */

struct fs_file;

/* A header filter said 1: add its module to the response's chain (in
 * "modules" order, as the header filters run). -1: out of memory. */
int filter_want(request *r, const location_handler *h);
/* Once the head is decided: keep the chain only for a response with a body
 * (HEAD, 1xx, 204, 304 and bodiless answers drop it). True when the body
 * goes through filters. */
int filter_active(request *r);
/* The output window once the head is decided: drop `skip` bytes of the
 * chain's output (a Range's start), then pass `left` (-1: all). */
void filter_window(request *r, int64_t skip, int64_t left);
/* The handler's body, already cut to the Range/Content-Length window. All
 * return a ws code (WS_OK, WS_AGAIN, WS_ERROR). */
int filter_mem(request *r, const void *p, size_t n);
/* release(arg) is called exactly once: after the chain took the bytes, or
 * when they are dropped. */
int filter_ref(request *r, const void *p, size_t n, void (*release)(void *), void *arg);
/* A file range: closed (shared == NULL) or released when read or dropped. */
int filter_file(request *r, int fd, off_t off, uint64_t n, struct fs_file *shared);
/* The handler finished: last = 1 goes through once every source was read. */
int filter_finish(request *r);
/* Sources are waiting, or the end is not through yet. */
int filter_pending(const request *r);
/* The carrier has room: read and filter more. True when something moved
 * (output queued, or the body ended); false when nothing did or the next
 * step waits for the next loop round. */
int filter_pump(request *r);
/* Resp_error before the head went out: forget the chain (the error page
 * goes without filters). True when nothing of the response reached the
 * carrier (the error page may still be sent). */
int filter_cancel(request *r);
/* The request ends: drop every source (close/release). */
void filter_drop(request *r);

/*
 * Asynchronous body filters: a filter that calls host->offload from inside
 * body_filter (or from the done of such a work) holds the chain until the
 * work's done ran; done may pass output on with filter_next as if it were
 * the filter's body_filter. One such work at a time per response.
 */
/* host->offload is being called: the calling filter's index, -1 when the
 * call is not from a body filter (an ordinary work), -2 when that response
 * already has a filter's work running (refused). */
int filter_job_pos(const request *r);
/* The work was submitted: the chain waits for it. */
struct filt_state *filter_job_started(request *r, int pos);
/* On the loop once the work returned (the request still lives): done as a
 * call of filter `pos`, then the pieces held for it, then the chain goes on
 * (the carrier's end, the file pump, the handler's on_writable). */
void filter_job_done(request *r, struct filt_state *f, int pos, void (*done)(ws_request *r, void *arg), void *arg,
                     const void *conf);

#endif

/*
 * A request body whose length is not known up front: HTTP/1.1 chunked
 * (RFC 9112 §7.1), or HTTP/2 DATA without Content-Length (RFC 9113 §8.1.1).
 * FastCGI applications read CONTENT_LENGTH bytes of FCGI_STDIN (PHP does), so
 * the length must be in FCGI_PARAMS before the first STDIN byte. As the cgi
 * module does for its scripts (RFC 3875 §4.1.2), the body is first collected
 * in an unnamed temporary file; once all of it is there, the application is
 * connected, the params carry the learnt CONTENT_LENGTH, and the file is sent
 * as STDIN records.
 *
 * The disk stays off the event loop: the file is created and written through
 * lib/spool (the core's thread pool, the body paused while the disk is
 * behind), and each piece sent is read by a pread on the pool too
 * (host->offload). A body over client_max_body_size is refused by the core
 * (413) as it arrives.
 *
 * The body stays in the file until the request ends, so a connection that
 * fails before any answer byte can be retried with the whole body (the file
 * is read again from its start); the file is closed by cleanup, whatever
 * happened (a client leaving mid-body too).
 */
#include "fastcgi.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- collecting the body (lib/spool events) ---- */

static void spool_failed(ws_request *r, void *arg, int err, int tag)
{
    (void)r;
    (void)tag;
    fcgi_req *c = arg;
    char why[160];
    snprintf(why, sizeof why, "%s: %s",
             c->sp.err_open ? "cannot create a temporary file for the body" : "writing the body to a temporary file",
             strerror(-err));
    fcgi_fail(c, err == -ENOSPC ? 507 : 500, why);
}

/* Every byte is in the file: now the application can be asked. */
static void spool_drained(ws_request *r, void *arg)
{
    (void)r;
    fcgi_req *c = arg;
    if (c->x.over)
        return;
    c->body_length = c->file_off; /* counted as it was spooled */
    c->file_off = 0;
    if (fcgi_build_head(c) < 0) {
        fcgi_fail(c, 500, "out of memory");
        return;
    }
    fcgi_connect(c);
}

int fcgi_spool_start(fcgi_req *c)
{
    ws_request *r = c->r;
    if (!(c->fbuf = upx_buffer(&c->x, FCGI_FILE_PIECE)))
        return 500;
    c->spooled = 1;
    c->has_body = 1;
    static const spool_events ev = {spool_failed, spool_drained};
    spool_init(&c->sp, fcgi_host, r, &ev, c);
    /* The file is created on the pool, in order before the first write
     * (issue 21: no open() on the event loop, as the cgi module does);
     * tmp_fd is read only once the spool is idle (drained). */
    if (spool_open(&c->sp, &c->tmp_fd, spool_tmpfile, (void *)"webserv-fastcgi", 0) < 0)
        return 500;
    return fcgi_host->read_body(r) == WS_OK ? 0 : 500;
}

size_t fcgi_spool_body(fcgi_req *c, const char *data, size_t len)
{
    if (!spool_room(&c->sp))
        return spool_pause(&c->sp); /* the disk is behind: the client waits */
    int rc = spool_write_slot(&c->sp, &c->tmp_fd, data, len, 0);
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof why, "writing the body to a temporary file: %s", strerror(-rc));
        fcgi_fail(c, 500, why);
        return len;
    }
    c->file_off += (int64_t)len; /* the size so far, until spool_drained */
    spool_kick(&c->sp);
    return len;
}

void fcgi_spool_end(fcgi_req *c)
{
    spool_drain(&c->sp); /* then spool_drained connects */
}

/* ---- sending the file as STDIN ---- */

static int use_offload(void)
{
    return fcgi_host->abi_minor >= 2 && fcgi_host->size >= offsetof(ws_host, offload) + sizeof fcgi_host->offload &&
           fcgi_host->offload != NULL;
}

/* On the pool (or inline without one): one piece of the file into fbuf. */
static void read_piece(void *arg)
{
    fcgi_req *c = arg;
    int64_t left = c->body_length - c->fat;
    size_t want = left < FCGI_FILE_PIECE ? (size_t)left : FCGI_FILE_PIECE;
    ssize_t n;
    do
        n = pread(c->tmp_fd, c->fbuf, want, c->fat);
    while (n < 0 && errno == EINTR);
    c->fgot = n < 0 ? -errno : n == 0 && want ? -EIO : n; /* the file cannot have shrunk */
}

/* The piece in fbuf becomes a STDIN record after the head (which stays in
 * obuf for a retry); the empty STDIN record follows the last one. 0, or -1
 * when the request failed. */
static int queue_piece(fcgi_req *c)
{
    if (c->fgot < 0) {
        char why[160];
        snprintf(why, sizeof why, "reading the spooled body: %s", strerror((int)-c->fgot));
        fcgi_fail(c, 500, why);
        return -1;
    }
    c->x.ooff = c->x.olen = c->x.head_len;
    if (c->fgot > 0)
        fcgi_put_record(c, FCGI_STDIN, c->fbuf, (size_t)c->fgot);
    c->file_off = c->fat + c->fgot;
    if (c->file_off == c->body_length) {
        fcgi_put_record(c, FCGI_STDIN, NULL, 0);
        c->x.body_done = 1;
    }
    return 0;
}

static void piece_read(ws_request *r, void *arg)
{
    (void)r;
    fcgi_req *c = arg;
    c->file_reading = 0;
    if (c->x.over)
        return;
    if (c->fgen != c->file_gen) {
        /* A retry came meanwhile: the file goes again from its start once
         * the new connection is up (connected() flushes). */
        if (c->x.w)
            upx_flush(&c->x);
        return;
    }
    if (queue_piece(c) == 0)
        upx_flush(&c->x);
}

int fcgi_spool_next(up_exchange *x)
{
    fcgi_req *c = x->arg;
    if (!c->spooled)
        return 0;
    if (c->x.body_done || c->file_reading || c->x.over)
        return 0;
    c->fat = c->file_off;
    c->fgen = c->file_gen;
    c->fgot = 0;
    if (c->fat < c->body_length && use_offload()) {
        c->file_reading = 1;
        if (fcgi_host->offload(c->r, read_piece, piece_read, c) == WS_OK)
            return 0; /* piece_read queues it */
        c->file_reading = 0;
    }
    if (c->fat < c->body_length)
        read_piece(c); /* no pool: the disk waits here rather than the request failing */
    return queue_piece(c) == 0;
}

void fcgi_spool_rewind(fcgi_req *c)
{
    c->file_gen++;
    c->file_off = 0;
    c->x.body_done = 0;
}

void fcgi_spool_free(fcgi_req *c)
{
    /* cleanup: the pool returned every work of this request by now */
    if (c->tmp_fd >= 0)
        close(c->tmp_fd);
    c->tmp_fd = -1;
    spool_free(&c->sp);
}

/*
 * The request body on its way to the script's stdin (RFC 3875 §4.2).
 *
 * With a Content-Length the script starts at once and the body streams into
 * a non-blocking pipe: when the pipe is full, on_body consumes less, the core
 * pauses the client, and a WS_EV_WRITE watch resumes it. stdin is closed after
 * CONTENT_LENGTH bytes, so the script sees EOF there.
 *
 * A chunked body has no length up front, but CONTENT_LENGTH must be set
 * (§4.1.2), so it is first collected in an unlinked temporary file, which
 * becomes the script's stdin once the body is complete. Its writes run on
 * the core's thread pool (lib/spool), never on the event loop; while the
 * disk is behind, the body is paused.
 *
 * Without a body, stdin is /dev/null.
 */
#include "cgi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Spawn with stdin_fd (or a pipe for -1) and start the timeout. 0 or a status. */
static int start_script(cgi_req *c, int stdin_fd, int64_t content_length)
{
    int rc = cgi_spawn(c, stdin_fd, content_length);
    if (rc) {
        cgi_host->log(WS_LOG_ERROR, c->r, "cgi: cannot run %s: %s", c->script.filename, strerror(rc));
        return rc == EMFILE || rc == ENFILE || rc == EAGAIN || rc == ENOMEM ? 503 : 502;
    }
    cgi_progress(c);
    return 0;
}

/* ---- the chunked body's temporary file (lib/spool events) ---- */

static void body_file_failed(ws_request *r, void *arg, int err, int tag)
{
    (void)tag;
    cgi_req *c = arg;
    if (c->sp.err_open)
        cgi_host->log(WS_LOG_ERROR, r, "cgi: cannot create a temporary file for the body: %s", strerror(-err));
    else
        cgi_host->log(WS_LOG_ERROR, r, "cgi: writing the body to a temporary file: %s", strerror(-err));
    cgi_fail(c, 500);
}

/* Every byte is in the file: it becomes the script's stdin. */
static void body_file_drained(ws_request *r, void *arg)
{
    cgi_req *c = arg;
    if (c->over)
        return;
    if (lseek(c->tmp_fd, 0, SEEK_SET) != 0) {
        cgi_host->log(WS_LOG_ERROR, r, "cgi: rewinding the body file: %s", strerror(errno));
        cgi_fail(c, 500);
        return;
    }
    int status = start_script(c, c->tmp_fd, c->tmp_len);
    cgi_close_fd(&c->tmp_fd, NULL);
    if (status)
        cgi_fail(c, status);
}

int cgi_input_start(cgi_req *c)
{
    ws_request *r = c->r;
    if (r->content_length < 0) {
        c->chunked = 1;
        static const spool_events ev = {body_file_failed, body_file_drained};
        spool_init(&c->sp, cgi_host, r, &ev, c);
        /* The file is created on the pool with the first batch (issue 21:
         * no open() on the event loop); tmp_fd is read here only once the
         * spool is idle (drained). */
        if (spool_open(&c->sp, &c->tmp_fd, spool_tmpfile, (void *)"webserv-cgi", 0) < 0)
            return 500;
        return cgi_host->read_body(r) == WS_OK ? 0 : 500;
    }
    if (r->content_length > 0) {
        c->in_left = r->content_length;
        int status = start_script(c, -1, r->content_length);
        if (status)
            return status;
        return cgi_host->read_body(r) == WS_OK ? 0 : 500;
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) {
        cgi_host->log(WS_LOG_ERROR, r, "cgi: cannot open /dev/null: %s", strerror(errno));
        return 500;
    }
    /* "Content-Length: 0" is a body of length 0: CONTENT_LENGTH=0 (§4.1.2). */
    int status = start_script(c, null, cgi_host->header(r, "Content-Length") ? 0 : -1);
    close(null);
    return status;
}

static void close_stdin(cgi_req *c)
{
    c->in_waiting = 0;
    cgi_close_fd(&c->in_fd, &c->in_watch);
}

static void stdin_writable(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)fd;
    (void)events;
    cgi_req *c = arg;
    if (!c->in_waiting)
        return;
    c->in_waiting = 0;
    cgi_host->watch_set(c->in_watch, 0);
    cgi_host->body_resume(r); /* may call on_body right away */
}

static void wait_for_stdin(cgi_req *c)
{
    c->in_waiting = 1;
    if (c->in_watch) {
        cgi_host->watch_set(c->in_watch, WS_EV_WRITE);
        return;
    }
    c->in_watch = cgi_host->watch_fd(c->r, c->in_fd, WS_EV_WRITE, stdin_writable, c);
    if (!c->in_watch)
        cgi_fail(c, 500);
}

static size_t to_tmpfile(cgi_req *c, const char *data, size_t len)
{
    if (!spool_room(&c->sp))
        return spool_pause(&c->sp); /* the disk is behind: the client waits */
    int rc = spool_write_slot(&c->sp, &c->tmp_fd, data, len, 0);
    if (rc < 0) {
        cgi_host->log(WS_LOG_ERROR, c->r, "cgi: writing the body to a temporary file: %s", strerror(-rc));
        cgi_fail(c, 500);
        return len;
    }
    c->tmp_len += (int64_t)len;
    spool_kick(&c->sp);
    return len;
}

size_t cgi_on_body(ws_request *r, const char *data, size_t len)
{
    cgi_req *c = r->ctx;
    if (c->over)
        return len; /* answered already: the rest is not wanted */
    if (c->chunked)
        return to_tmpfile(c, data, len);
    if (c->in_fd < 0)
        return len; /* the script closed stdin, or has all CONTENT_LENGTH bytes */

    size_t want = (int64_t)len < c->in_left ? len : (size_t)c->in_left;
    ssize_t n;
    do
        n = write(c->in_fd, data, want);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait_for_stdin(c);
            return 0;
        }
        /* EPIPE: the script does not read its body; drop the rest. */
        if (errno != EPIPE)
            cgi_host->log(WS_LOG_WARN, r, "cgi: writing to the script's stdin: %s", strerror(errno));
        close_stdin(c);
        return len;
    }
    c->in_left -= n;
    cgi_progress(c);
    if (c->in_left == 0) {
        close_stdin(c); /* EOF after CONTENT_LENGTH bytes (§4.2) */
        return len;
    }
    if ((size_t)n < want)
        wait_for_stdin(c);
    return (size_t)n;
}

void cgi_on_body_end(ws_request *r)
{
    cgi_req *c = r->ctx;
    if (c->over)
        return;
    if (!c->chunked) {
        close_stdin(c);
        return;
    }
    spool_drain(&c->sp); /* then body_file_drained starts the script */
}

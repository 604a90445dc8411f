/*
 * The script's stdout: first the header block (RFC 3875 §6.2, §6.3), then the
 * body, streamed to the client in CGI_READ_CHUNK pieces. When the host's
 * queue is full (write says WS_AGAIN) stdout is not read until on_writable,
 * so the script blocks on its pipe and memory stays bounded whatever it
 * writes.
 */
#include "cgi.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *cstr(cgi_req *c, cgi_slice s)
{
    char *d = cgi_host->alloc(c->r, s.n + 1);
    if (d)
        memcpy(d, s.p, s.n);
    return d;
}

static void add_header(cgi_req *c, const char *name, cgi_slice value)
{
    char *v = cstr(c, value);
    if (!v || cgi_host->add_header(c->r, name, v) != WS_OK)
        cgi_host->log(WS_LOG_WARN, c->r, "cgi: header %s from the script not passed on", name);
}

/* Status, Content-Type, Location and the other fields to the host. */
static void apply_head(cgi_req *c, const cgi_head *h)
{
    ws_request *r = c->r;
    /* §6.2.3/§6.2.4: a Location without Status is a redirect (302). */
    int status = h->status ? h->status : h->location.p ? 302 : 200;
    cgi_host->set_status(r, status);
    if (h->content_type.p)
        add_header(c, "Content-Type", h->content_type);
    if (h->location.p)
        add_header(c, "Location", h->location);
    for (size_t i = 0; i < h->n_fields; i++) {
        if (cgi_header_dropped(h->name[i]))
            continue; /* hop-by-hop, or the core's own (RFC 3875 §6.3.4 lets the server drop them) */
        char *name = cstr(c, h->name[i]);
        if (name)
            add_header(c, name, h->value[i]);
    }
    if (h->content_length >= 0) {
        c->length = h->content_length;
        cgi_host->set_length(r, h->content_length);
    }
}

static void pause_output(cgi_req *c)
{
    c->out_paused = 1;
    cgi_host->watch_set(c->out_watch, 0);
}

/* Body bytes to the client. 1 to keep reading, 0 to stop. */
static int pass_body(cgi_req *c, const char *data, size_t n)
{
    if (n == 0)
        return 1;
    if (c->pending) {
        /* A local Location with a body is not a local redirect (§6.2.2
         * forbids the body); the client gets it as a 302. */
        apply_head(c, c->pending);
        c->pending = NULL;
    }
    if (c->length >= 0 && (int64_t)n > c->length - c->sent) {
        if (!c->extra_logged)
            cgi_host->log(WS_LOG_WARN, c->r, "cgi: %s wrote more than its Content-Length; the rest is dropped",
                          c->script.filename);
        c->extra_logged = 1;
        n = (size_t)(c->length - c->sent);
        if (n == 0)
            return 1;
    }
    c->wrote = 1;
    c->sent += (int64_t)n;
    int rc = cgi_host->write(c->r, data, n);
    if (rc == WS_AGAIN) {
        pause_output(c);
        return 0;
    }
    if (rc != WS_OK) {
        cgi_fail(c, 500);
        return 0;
    }
    return 1;
}

/* The header block is complete: start the response, or wait for EOF when it
 * may be a local redirect. */
static int head_done(cgi_req *c, const cgi_head *h, size_t blk)
{
    c->head_done = 1;
    if (!h->status && h->location.p && cgi_location_kind(h->location) == CGI_LOCATION_LOCAL) {
        c->pending = cgi_host->alloc(c->r, sizeof *c->pending);
        if (!c->pending) {
            cgi_fail(c, 500);
            return 0;
        }
        *c->pending = *h; /* slices into hbuf, which stays as it is */
    } else {
        apply_head(c, h);
    }
    return pass_body(c, c->hbuf + blk, c->hlen - blk);
}

static void at_eof(cgi_req *c)
{
    cgi_close_fd(&c->out_fd, &c->out_watch);
    c->out_eof = 1;
    /* With its Content-Length complete the response is whole whatever the
     * exit status says; otherwise the exit status decides (a crash must not
     * look like a complete response). */
    if (c->exited || (c->head_done && !c->pending && c->length >= 0 && c->sent == c->length))
        cgi_finalize(c);
    else
        cgi_arm_timer(c, CGI_LINGER_MS); /* the exit status should follow at once */
}

/* One read. 1 to read again, 0 to stop for now. */
static int read_once(cgi_req *c)
{
    char buf[CGI_READ_CHUNK];
    char *dst = c->head_done ? buf : c->hbuf + c->hlen;
    size_t room = c->head_done ? sizeof buf : CGI_HEADER_MAX - c->hlen;
    ssize_t n = read(c->out_fd, dst, room);
    if (n < 0) {
        if (errno == EINTR)
            return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        cgi_host->log(WS_LOG_WARN, c->r, "cgi: reading the script's stdout: %s", strerror(errno));
        n = 0;
    }
    if (n == 0) {
        at_eof(c);
        return 0;
    }
    cgi_progress(c);
    if (c->head_done)
        return pass_body(c, buf, (size_t)n);

    c->hlen += (size_t)n;
    cgi_head h;
    ssize_t blk = cgi_header_parse(c->hbuf, c->hlen, &h);
    if (blk == CGI_HEAD_INCOMPLETE)
        return 1;
    if (blk < 0) {
        cgi_host->log(WS_LOG_ERROR, c->r, "cgi: %s sent an invalid header block", c->script.filename);
        cgi_fail(c, 502);
        return 0;
    }
    return head_done(c, &h, (size_t)blk);
}

void cgi_stdout_cb(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)fd;
    (void)events;
    cgi_req *c = arg;
    /* A few reads per event, then the other connections get their turn. */
    for (int i = 0; i < 4 && !c->over && !c->out_paused && c->out_fd >= 0; i++)
        if (!read_once(c))
            break;
}

void cgi_on_writable(ws_request *r)
{
    cgi_req *c = r->ctx;
    if (c->over || !c->out_paused)
        return;
    c->out_paused = 0;
    cgi_progress(c);
    if (c->out_watch)
        cgi_host->watch_set(c->out_watch, WS_EV_READ);
}

void cgi_finalize(cgi_req *c)
{
    if (c->over)
        return;
    ws_request *r = c->r;
    int st = c->wait_status;
    int crashed = c->exited && WIFSIGNALED(st);
    if (crashed)
        cgi_host->log(WS_LOG_ERROR, r, "cgi: %s killed by signal %d", c->script.filename, WTERMSIG(st));
    else if (c->exited && WEXITSTATUS(st) != 0)
        cgi_host->log(WS_LOG_WARN, r, "cgi: %s exited with status %d", c->script.filename, WEXITSTATUS(st));

    if (!c->head_done) {
        /* §6.2: no response without a header block. */
        cgi_host->log(WS_LOG_ERROR, r, "cgi: %s ended before a complete header block", c->script.filename);
        cgi_fail(c, 502);
        return;
    }
    if (c->pending) {
        /* §6.2.2: a local redirect, served as a GET of that path. */
        char *uri = cstr(c, c->pending->location);
        if (uri && cgi_host->internal_redirect(r, uri) == WS_OK) {
            c->over = 1;
            return;
        }
        cgi_fail(c, 500);
        return;
    }
    if (crashed || (c->length >= 0 && c->sent < c->length)) {
        if (!crashed)
            cgi_host->log(WS_LOG_ERROR, r, "cgi: %s sent %lld of %lld body bytes", c->script.filename,
                          (long long)c->sent, (long long)c->length);
        cgi_fail(c, 502); /* an error page if nothing went out, else the connection is closed */
        return;
    }
    c->over = 1;
    cgi_host->finish(r);
}

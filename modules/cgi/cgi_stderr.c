/*
 * The script's stderr, line by line, to the error log (RFC 3875 §9.9 leaves
 * it to the server; scripts use it for diagnostics). It is read whenever data
 * is there, independently of the client, so a chatty script never blocks on
 * it. Lines are cut at CGI_STDERR_LINE_MAX and control characters are masked,
 * so a script cannot forge log lines.
 */
#include "cgi.h"

#include <errno.h>
#include <unistd.h>

static void emit(cgi_req *c, int cut)
{
    size_t n = c->elen;
    if (n > 0 && c->eline[n - 1] == '\r')
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)c->eline[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            c->eline[i] = '?';
    }
    if (n > 0 || cut)
        cgi_host->log(WS_LOG_WARN, c->r, "cgi: %s: %.*s%s", c->script.name, (int)n, c->eline, cut ? " [cut]" : "");
    c->elen = 0;
}

static void take(cgi_req *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (c->eskip)
                c->eskip = 0;
            else
                emit(c, 0);
            continue;
        }
        if (c->eskip)
            continue;
        if (c->elen == CGI_STDERR_LINE_MAX) {
            emit(c, 1);
            c->eskip = 1;
            continue;
        }
        c->eline[c->elen++] = p[i];
    }
}

/* Read until EAGAIN (1) or EOF/error (0). At most `rounds` reads. */
static int read_some(cgi_req *c, int rounds)
{
    char buf[4096];
    while (rounds-- > 0) {
        ssize_t n = read(c->err_fd, buf, sizeof buf);
        if (n > 0) {
            take(c, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        return 0;
    }
    return 1;
}

static void at_end(cgi_req *c)
{
    if (c->elen > 0 && !c->eskip)
        emit(c, 0);
    cgi_close_fd(&c->err_fd, &c->err_watch);
}

void cgi_stderr_cb(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)fd;
    (void)events;
    cgi_req *c = arg;
    if (c->err_fd >= 0 && !read_some(c, 16))
        at_end(c);
}

void cgi_stderr_drain(cgi_req *c)
{
    if (c->err_fd < 0)
        return;
    read_some(c, 64); /* bounded: a script still writing is about to be killed */
    at_end(c);
}

/*
 * The plain socket transport: read, sendmsg, sendfile and shutdown on the
 * connection's socket, errors mapped onto the transport contract
 * (transport.h).
 */
#include "transport.h"

#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

/* A call that failed (never with EINTR: the callers call again) on the
 * transport contract: TR_AGAIN, waiting for `want`, or TR_ERROR. */
static ssize_t failed(transport *t, int want)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        t->want = want;
        return TR_AGAIN;
    }
    return TR_ERROR;
}

static ssize_t plain_read(transport *t, void *buf, size_t n)
{
    ssize_t k;
    do {
        k = read(t->fd, buf, n);
    } while (k < 0 && errno == EINTR);
    return k >= 0 ? k : failed(t, LOOP_READ);
}

static ssize_t plain_writev(transport *t, const struct iovec *iov, int n, int more)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t k;
    do {
        k = sendmsg(t->fd, &msg, more ? MSG_MORE | MSG_NOSIGNAL : MSG_NOSIGNAL);
        if (k < 0 && errno == ENOTSOCK)
            k = writev(t->fd, iov, n); /* not a socket (a pipe in tests): same bytes, no flags */
    } while (k < 0 && errno == EINTR);
    return k >= 0 ? k : failed(t, LOOP_WRITE);
}

static ssize_t plain_sendfile(transport *t, int fd, off_t *off, size_t n)
{
    ssize_t k;
    do {
        k = sendfile(t->fd, fd, off, n);
    } while (k < 0 && errno == EINTR);
    return k >= 0 ? k : failed(t, LOOP_WRITE);
}

static void plain_shutdown(transport *t)
{
    shutdown(t->fd, SHUT_WR);
}

static void plain_close(transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

const transport_ops transport_plain_ops = {
    .name = "plain",
    .read = plain_read,
    .writev = plain_writev,
    .sendfile = plain_sendfile,
    .pending = NULL,
    .handshake = NULL,
    .shutdown = plain_shutdown,
    .close = plain_close,
};

void transport_init(transport *t, int fd)
{
    t->ops = &transport_plain_ops;
    t->fd = fd;
    t->want = 0;
    t->ready = 1;
    t->ctx = NULL;
}

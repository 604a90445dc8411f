/*
 * The transport under a connection: how bytes get in and out of its socket.
 * The plain socket (transport_plain.c) is the first implementation; TLS is
 * the second. The HTTP/1 connection (core/h1/conn.c) and the output queue
 * (outq.c) never call read, writev, sendfile or shutdown themselves: they go
 * through these calls, so a transport that needs its own framing (records,
 * a handshake, close_notify) slots in without touching them.
 *
 * ---- The contract, for whoever writes a transport ----
 *
 * A transport is a `transport` struct embedded in its connection (no
 * allocation for the plain socket). `ops` and `ctx` are the implementation's:
 * a TLS transport sets ops to its own table and ctx to its session when the
 * connection is accepted (transport_init, then its own attach call). `fd` is
 * the socket; the transport owns it from init to close.
 *
 * Every call is non-blocking and returns at once. The byte calls return:
 *   > 0         bytes moved
 *   0           read: the peer closed its side (orderly EOF, or TLS
 *               close_notify). sendfile: the file ended before n bytes
 *               (the caller treats a shrunk file as an error).
 *   TR_AGAIN    nothing can move now. Before returning it, the transport
 *               sets t->want to the loop event that will let the same call
 *               make progress: LOOP_READ or LOOP_WRITE. A plain socket read
 *               wants LOOP_READ and a write LOOP_WRITE; a TLS read during a
 *               handshake or key update may want LOOP_WRITE and a TLS write
 *               LOOP_READ (OpenSSL's SSL_ERROR_WANT_READ/WANT_WRITE). The
 *               connection adds t->want to its loop interest and retries
 *               the call when that event fires.
 *   TR_ERROR    the connection is unusable (reset, protocol error, alert);
 *               errno says why when it means anything. EINTR is never
 *               returned: the transport retries it.
 *
 * Retrying after TR_AGAIN: the caller offers the same bytes again first
 * (possibly with more after them, possibly from another address: the
 * output queue keeps unsent bytes at its head, and a file range is re-read
 * from the same offset). A TLS transport sets
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER and may write fewer bytes than
 * offered (SSL_MODE_ENABLE_PARTIAL_WRITE): a short write is normal.
 *
 * read(t, buf, n)
 *   Up to n bytes of application data. A transport that decrypts may hold
 *   more than it returned; pending() says how much, because the socket will
 *   not signal readable for bytes already inside the transport.
 * writev(t, iov, n, more)
 *   Bytes from up to n iovecs, in order. `more` is a hint that more bytes
 *   follow at once (a head before its file body): the plain socket passes
 *   MSG_MORE so both share packets; others may ignore it.
 * sendfile(t, fd, &off, n)   (NULL: the transport has no zero-copy path)
 *   Up to n bytes of the file at *off, advancing *off by what was sent.
 *   With NULL, the output queue reads the file range through a buffer and
 *   sends it with writev: a TLS transport leaves it NULL (or uses kTLS).
 * pending(t)   (NULL: never holds bytes)
 *   Bytes already read from the socket and not yet returned by read().
 * handshake(t)   (NULL: nothing to do before the first byte)
 *   Called by the connection before it reads its first request head, until
 *   it returns TR_OK (0). TR_AGAIN with t->want set, TR_ERROR to close. A
 *   transport may instead handshake inside its first read/write.
 * shutdown(t)
 *   End the write side after the last response (lingering close, RFC 9112
 *   §9.6): TLS sends close_notify, then the socket's SHUT_WR. Best effort:
 *   the connection keeps draining input and then closes whatever this said.
 * close(t)
 *   Free the transport's state and close the socket. Called exactly once;
 *   no call follows it.
 *
 * A connection is single-threaded and in one worker: a transport needs no
 * locking of its own per connection.
 */
#ifndef WEBSERV_TRANSPORT_H
#define WEBSERV_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

enum { TR_OK = 0, TR_ERROR = -1, TR_AGAIN = -2 };

typedef struct transport transport;

typedef struct transport_ops {
    const char *name;                                   /* "plain", "tls": for logs */
    ssize_t (*read)(transport *t, void *buf, size_t n);
    ssize_t (*writev)(transport *t, const struct iovec *iov, int n, int more);
    ssize_t (*sendfile)(transport *t, int fd, off_t *off, size_t n); /* may be NULL */
    size_t (*pending)(transport *t);                    /* may be NULL */
    int (*handshake)(transport *t);                     /* may be NULL */
    void (*shutdown)(transport *t);
    void (*close)(transport *t);
} transport_ops;

struct transport {
    const transport_ops *ops;
    int fd;            /* the socket */
    unsigned want;     /* after TR_AGAIN: LOOP_READ or LOOP_WRITE */
    int ready;         /* the handshake is done (always 1 without one) */
    void *ctx;         /* the implementation's state (an SSL *, …) */
};

/* The plain socket transport (transport_plain.c). */
extern const transport_ops transport_plain_ops;

/* Start t as a plain socket transport on fd. */
void transport_init(transport *t, int fd);

static inline ssize_t transport_read(transport *t, void *buf, size_t n)
{
    return t->ops->read(t, buf, n);
}

static inline ssize_t transport_writev(transport *t, const struct iovec *iov, int n, int more)
{
    return t->ops->writev(t, iov, n, more);
}

static inline size_t transport_pending(transport *t)
{
    return t->ops->pending ? t->ops->pending(t) : 0;
}

/* TR_OK when the transport is ready for application bytes. */
static inline int transport_handshake(transport *t)
{
    if (t->ready)
        return TR_OK;
    int rc = t->ops->handshake ? t->ops->handshake(t) : TR_OK;
    if (rc == TR_OK)
        t->ready = 1;
    return rc;
}

static inline void transport_shutdown(transport *t)
{
    t->ops->shutdown(t);
}

static inline void transport_close(transport *t)
{
    t->ops->close(t);
}

#endif

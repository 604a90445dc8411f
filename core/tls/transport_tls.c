/*
 * The TLS transport (core/net/transport.h contract) over OpenSSL: the
 * handshake and every record go through SSL_* on the non-blocking socket,
 * with SSL_ERROR_WANT_READ/WANT_WRITE turned into TR_AGAIN and t->want, so
 * the connection waits on the loop like for any socket.
 *
 * Before the handshake the first bytes are peeked: a TLS connection starts
 * with a handshake record (0x16, RFC 8446 §5.1). A client that speaks plain
 * HTTP to the TLS port gets a 400 saying so, in plain text (as nginx does),
 * and is closed; anything else that is not TLS is closed without a word.
 *
 * Files: with kernel TLS for sending (SSL_OP_ENABLE_KTLS and a kernel with
 * the tls module), the kernel encrypts and SSL_sendfile keeps the zero-copy
 * path; otherwise the output queue reads file ranges through its bounded
 * buffer and they are encrypted here like any other bytes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "loop.h"
#include "router.h"
#include "tls.h"
#include "tls_internal.h"
#include "transport.h"

/* Per connection, kept small (64 bytes with malloc's header): an idle TLS
 * connection is mostly OpenSSL's SSL object, and this adds to it. */
typedef struct tls_tr {
    SSL *ssl;
    tls_route route;
    const bind_conf **bindp; /* the listener's bind: follows reloads */
    unsigned char checked;   /* the first bytes were seen to be TLS */
    unsigned char fatal;     /* a fatal error: no close_notify */
    unsigned char shut;      /* close_notify was sent */
    unsigned char corked;    /* TCP_CORK holds what the handshake's last step wrote (see cork) */
} tls_tr;
/* 432 bytes before (the SNI name and the local address inline): a regression
 * here costs every idle TLS connection (integration/test_tls_memory). */
_Static_assert(sizeof(tls_tr) <= 56, "tls_tr grew: it is kept by every TLS connection");

/* The SSL whose handshake may run now on this thread, and its route
 * (tls_route_of). A worker's connections share its thread, so this is set
 * around each SSL call that may drive a handshake, and cleared after. */
static _Thread_local struct {
    const SSL *ssl;
    tls_route *route;
} current;

tls_route *tls_route_of(const SSL *ssl)
{
    return ssl && current.ssl == ssl ? current.route : NULL;
}

static void enter(tls_tr *s)
{
    current.ssl = s->ssl;
    current.route = &s->route;
}

static void leave(void)
{
    current.ssl = NULL;
    current.route = NULL;
}

static const transport_ops tls_ops, tls_ktls_ops;

/* nginx answers the same way; the client sees why its request failed. */
static const char plain_http_answer[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 100\r\n"
    "Connection: close\r\n"
    "\r\n"
    "<html><body><h1>400 Bad Request</h1>The plain HTTP request was sent to an HTTPS port.</body></html>\n";

/* Map an SSL call's failure onto the contract. */
static ssize_t ssl_fail(transport *t, tls_tr *s, int rc)
{
    int e = SSL_get_error(s->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = LOOP_READ;
        return TR_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->want = LOOP_WRITE;
        return TR_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify */
    case SSL_ERROR_SYSCALL: /* a reset, or an end OpenSSL counts as unclean */
        s->fatal = 1;
        return TR_ERROR;
    default:
        s->fatal = 1;
        return TR_ERROR;
    }
}

/* Is the client speaking TLS? 1 yes, 0 not yet known (TR_AGAIN set), -1 no (answered or dropped). */
static int check_first_bytes(transport *t)
{
    unsigned char b[8];
    ssize_t n;
    do
        n = recv(t->fd, b, sizeof b, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        t->want = LOOP_READ;
        return 0;
    }
    if (n <= 0)
        return -1;
    if (b[0] == 0x16)
        return 1;
    if (b[0] >= 'A' && b[0] <= 'Z') {
        /* Take what the client sent (so the close is not a reset that
         * destroys the answer), answer, and end the write side. */
        char sink[16384];
        while (recv(t->fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
        if (send(t->fd, plain_http_answer, sizeof plain_http_answer - 1, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
            shutdown(t->fd, SHUT_WR);
        log_msg(WS_LOG_INFO, "WS1520", "plain HTTP request on a TLS address: answered 400 and closed");
    }
    return -1;
}

/* The server's last handshake flight (TLS 1.3: the session tickets it sends
 * once the client's Finished is in; TLS 1.2: its Finished) would go out in a
 * TCP segment of its own, and the first response right after it in another,
 * though the client's request usually came with its Finished (RFC 8446 §2).
 * Each segment costs the sender the whole way through the loopback or the
 * network stack, so from the moment the client's Finished arrives (info_cb)
 * the socket is corked (TCP_CORK, tcp(7)), and the cork comes off as soon as nothing more is to be written at
 * once: when a read must wait for the client (tls_read, or a handshake step
 * that waits, as in TLS 1.2 where the client waits for our Finished) or a
 * write has nothing behind it (tls_writev). Closing the socket sends what is
 * held. */
static void cork(int fd, tls_tr *s, int on)
{
    if (s->corked == on)
        return;
    s->corked = on;
    int saved = errno; /* the caller may still read the failed call's errno */
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    errno = saved;
}

/* OpenSSL's state callback, at each step of the handshake, also in the
 * middle of one SSL_do_handshake call (a client that answers at once is read
 * in the same call that wrote our flight). It runs as the state machine
 * enters a state: entering "read the client's Finished" means the client's
 * answer to our flight is in, so our flight is long out and only the last
 * steps remain (TLS 1.3: our tickets; TLS 1.2 full handshake: our Finished). */
static void info_cb(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_ACCEPT_LOOP) || SSL_get_state(ssl) != TLS_ST_SR_FINISHED)
        return;
    tls_route *rt = tls_route_of(ssl);
    if (!rt)
        return;
    tls_tr *s = (tls_tr *)((char *)rt - offsetof(tls_tr, route));
    cork(SSL_get_fd(ssl), s, 1);
}

static int tls_handshake(transport *t)
{
    tls_tr *s = t->ctx;
    if (!s->checked) {
        int k = check_first_bytes(t);
        if (k <= 0)
            return k == 0 ? TR_AGAIN : TR_ERROR;
        s->checked = 1;
    }
    s->route.bind = *s->bindp;
    ERR_clear_error();
    enter(s);
    int rc = SSL_do_handshake(s->ssl);
    leave();
    if (rc != 1 && s->corked && SSL_get_error(s->ssl, rc) == SSL_ERROR_WANT_READ)
        cork(t->fd, s, 0);
    if (rc == 1) {
        /* Kernel TLS took over sending: files keep going out with sendfile. */
        if (BIO_get_ktls_send(SSL_get_wbio(s->ssl)))
            t->ops = &tls_ktls_ops;
        return TR_OK;
    }
    ssize_t r = ssl_fail(t, s, rc);
    if (r == TR_AGAIN)
        return TR_AGAIN;
    unsigned long e = ERR_peek_error();
    if (e && log_level() >= WS_LOG_DEBUG)
        log_msg(WS_LOG_DEBUG, "WS1521", "TLS handshake failed: %s", ERR_reason_error_string(e));
    s->fatal = 1;
    return TR_ERROR;
}

static ssize_t tls_read(transport *t, void *buf, size_t n)
{
    tls_tr *s = t->ctx;
    size_t got = 0;
    ERR_clear_error();
    enter(s); /* a read before the handshake ends would run it */
    int rc = SSL_read_ex(s->ssl, buf, n, &got);
    leave();
    if (rc == 1)
        return (ssize_t)got;
    ssize_t r = ssl_fail(t, s, rc);
    if (r == TR_AGAIN && s->corked)
        cork(t->fd, s, 0); /* waiting for the client: what we hold goes now */
    return r;
}

static ssize_t write_one(transport *t, tls_tr *s, const void *p, size_t n)
{
    size_t w = 0;
    ERR_clear_error();
    enter(s);
    int rc = SSL_write_ex(s->ssl, p, n, &w);
    leave();
    if (rc == 1)
        return (ssize_t)w;
    ssize_t r = ssl_fail(t, s, rc);
    return r == 0 ? TR_ERROR : r; /* a write never sees an orderly end */
}

/* One record per call where the pieces are small (a head and its body):
 * they are gathered into one buffer of a record's size. */
static ssize_t tls_writev_records(transport *t, const struct iovec *iov, int n);

static ssize_t tls_writev(transport *t, const struct iovec *iov, int n, int more)
{
    tls_tr *s = t->ctx;
    ssize_t w = tls_writev_records(t, iov, n);
    if (!more && s->corked)
        cork(t->fd, s, 0); /* the tickets and this response leave together */
    return w;
}

static ssize_t tls_writev_records(transport *t, const struct iovec *iov, int n)
{
    tls_tr *s = t->ctx;
    char buf[16384];
    if (n > 1 && iov[0].iov_len < sizeof buf) {
        size_t len = 0;
        for (int i = 0; i < n && len < sizeof buf; i++) {
            size_t k = iov[i].iov_len < sizeof buf - len ? iov[i].iov_len : sizeof buf - len;
            memcpy(buf + len, iov[i].iov_base, k);
            len += k;
        }
        return write_one(t, s, buf, len);
    }
    /* A record at a time (SSL_MODE_ENABLE_PARTIAL_WRITE): a piece larger than
     * a record goes on until it is all out or the socket is full. */
    ssize_t total = 0;
    for (int i = 0; i < n; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            ssize_t w = write_one(t, s, p, left);
            if (w < 0)
                return total > 0 ? total : w;
            total += w;
            p += w;
            left -= (size_t)w;
        }
    }
    return total;
}

/* Kernel TLS: the kernel encrypts the file's pages itself. */
static ssize_t tls_sendfile(transport *t, int fd, off_t *off, size_t n)
{
    tls_tr *s = t->ctx;
    ERR_clear_error();
    ossl_ssize_t w = SSL_sendfile(s->ssl, fd, *off, n, 0);
    if (s->corked)
        cork(t->fd, s, 0);
    if (w > 0) {
        *off += w;
        return w;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        t->want = LOOP_WRITE;
        return TR_AGAIN;
    }
    return w == 0 ? 0 : TR_ERROR;
}

/* Decrypted bytes that read() returns at once. With read-ahead OpenSSL may
 * also hold whole records it has not opened yet, for which the socket gives
 * no readable event: a one-byte peek opens the next one when it is complete
 * (a partial one waits for the socket like any other). Never during the
 * handshake: a peek would drive it, and its bytes are the handshake's own. */
static size_t tls_pending(transport *t)
{
    tls_tr *s = t->ctx;
    int n = SSL_pending(s->ssl);
    if (n > 0 || !SSL_has_pending(s->ssl) || !SSL_is_init_finished(s->ssl))
        return n > 0 ? (size_t)n : 0;
    unsigned char b;
    size_t k = 0;
    ERR_clear_error();
    if (SSL_peek_ex(s->ssl, &b, 1, &k) != 1) {
        ERR_clear_error();
        return 0;
    }
    n = SSL_pending(s->ssl);
    return n > 0 ? (size_t)n : k;
}

/* close_notify (RFC 8446 §6.1), once, only on a healthy session. */
static void send_close_notify(tls_tr *s)
{
    if (s->shut || s->fatal || !SSL_is_init_finished(s->ssl))
        return;
    s->shut = 1;
    ERR_clear_error();
    SSL_shutdown(s->ssl); /* non-blocking: sent if the socket takes it */
}

static void tls_shutdown(transport *t)
{
    send_close_notify(t->ctx);
    shutdown(t->fd, SHUT_WR);
}

static void tls_close(transport *t)
{
    tls_tr *s = t->ctx;
    if (s) {
        send_close_notify(s);
        SSL_free(s->ssl);
        free(s->route.sni);
        free(s);
        t->ctx = NULL;
    }
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    ERR_clear_error();
}

static const transport_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .sendfile = NULL, /* the output queue encrypts file ranges through its buffer */
    .pending = tls_pending,
    .handshake = tls_handshake,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

static const transport_ops tls_ktls_ops = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .sendfile = tls_sendfile,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

int tls_transport_attach(transport *t, const bind_conf **bindp, const struct sockaddr *local)
{
    const bind_conf *b = *bindp;
    const server_conf *def = b ? router_server(b, local, NULL, 0) : NULL;
    tls_tr *s = def && def->tls_ctx ? calloc(1, sizeof *s) : NULL;
    if (!s)
        return -1;
    s->ssl = SSL_new(def->tls_ctx);
    if (!s->ssl || tls_switch_ctx(s->ssl, def) < 0 || SSL_set_fd(s->ssl, t->fd) != 1) {
        SSL_free(s->ssl);
        free(s);
        ERR_clear_error();
        return -1;
    }
    s->bindp = bindp;
    s->route.local = local;
    SSL_set_info_callback(s->ssl, info_cb);
    SSL_set_accept_state(s->ssl);
    t->ops = &tls_ops;
    t->ctx = s;
    t->ready = 0;
    t->want = LOOP_READ;
    return 0;
}

int tls_transport_is(const transport *t)
{
    return t->ops == &tls_ops || t->ops == &tls_ktls_ops;
}

int tls_transport_alpn_h2(const transport *t)
{
    const tls_tr *s = tls_transport_is(t) ? t->ctx : NULL;
    const unsigned char *p = NULL;
    unsigned int n = 0;
    if (s)
        SSL_get0_alpn_selected(s->ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

int tls_transport_ktls(const transport *t)
{
    return t->ops == &tls_ktls_ops;
}

const char *tls_transport_sni(const transport *t)
{
    const tls_tr *s = tls_transport_is(t) ? t->ctx : NULL;
    return s ? s->route.sni : NULL;
}

int tls_transport_facts(const transport *t, tls_facts *f, char *subject, size_t subject_len)
{
    memset(f, 0, sizeof *f);
    const tls_tr *s = tls_transport_is(t) ? t->ctx : NULL;
    if (!s)
        return -1;
    f->protocol = SSL_get_version(s->ssl);
    f->cipher = SSL_get_cipher_name(s->ssl);
    f->sni = tls_transport_sni(t);
    f->resumed = SSL_session_reused(s->ssl);
    X509 *peer = SSL_get0_peer_certificate(s->ssl);
    if (peer && subject_len && SSL_get_verify_result(s->ssl) == X509_V_OK) {
        BIO *bio = BIO_new(BIO_s_mem());
        if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
            int k = BIO_read(bio, subject, (int)subject_len - 1);
            subject[k > 0 ? k : 0] = '\0';
            if (k > 0)
                f->client_subject = subject;
        }
        BIO_free(bio);
    }
    return 0;
}

const ws_tls_info *tls_request_info(const transport *t, struct arena *pool)
{
    tls_facts f;
    char subject[1024];
    if (tls_transport_facts(t, &f, subject, sizeof subject) < 0)
        return NULL;
    ws_tls_info *i = arena_alloc(pool, sizeof *i);
    if (!i)
        return NULL;
    i->size = sizeof *i;
    i->protocol = f.protocol;
    i->cipher = f.cipher;
    i->sni = f.sni ? arena_strdup(pool, f.sni) : NULL;
    i->client_subject = f.client_subject ? arena_strdup(pool, f.client_subject) : NULL;
    i->resumed = f.resumed;
    return i;
}

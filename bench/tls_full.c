/*
 * The client of the tls-full-* rows: many concurrent TLS 1.3 connections, each a FULL handshake
 * (never a resumed session), one GET with "Connection: close" each. wrk keeps its TLS session
 * across reconnects (SSL_clear), so its new-connection rows measure ticket resumptions; a
 * browser's first visit, a crawler or a client that keeps no session pays a full handshake, and
 * that is what this measures. Every connection gets a new SSL object from an SSL_CTX whose
 * client session cache is off and no session is ever set, so no ticket is ever offered; a
 * connection that the server reports as resumed counts as an error.
 *
 * One thread, one epoll loop, -c connections kept in flight for -d seconds. The server is not
 * verified (the bench's certificates are self-signed), but OpenSSL still checks the server's
 * CertificateVerify signature, as every client does. Prints one line:
 *   TLSJSON {"connections": N, "errors": E, "resumed": R, "duration_us": D, "p50_us": ..,
 *            "p99_us": .., "bytes": B}
 * Not part of the server.
 *
 * Usage: tls_full PORT [-c CONNS] [-d SECONDS] [-p PATH] [-g GROUPS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_SAMPLES (1 << 20)

enum state { CONNECTING, HANDSHAKE, WRITING, READING };

struct conn {
    int fd;
    SSL *ssl;
    enum state st;
    uint64_t t0;
    char buf[4096];
    size_t got;         /* bytes of the head kept in buf */
    long long body;     /* body bytes still expected once the head is read; -1 before */
};

static SSL_CTX *ctx;
static int ep, port;
static char request[512];
static size_t request_len;
static long long n_ok, n_err, n_resumed, n_bytes;
static uint32_t *samples;
static size_t n_samples;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void arm(struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, op, c->fd, &ev);
}

static int start(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->t0 = now_us();
    c->got = 0;
    c->body = -1;
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS) {
        c->st = CONNECTING;
        arm(c, EPOLLOUT, EPOLL_CTL_ADD);
        return 0;
    }
    return -1;
}

static void finish(struct conn *c, int ok)
{
    if (ok) {
        n_ok++;
        if (n_samples < MAX_SAMPLES)
            samples[n_samples++] = (uint32_t)(now_us() - c->t0);
    } else {
        n_err++;
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);   /* no close_notify from us: the server already closes (Connection: close) */
    close(c->fd);
    c->ssl = NULL;
    if (start(c) != 0)
        n_err++;
}

/* Waits for what OpenSSL asked for; 0 when it is a wait, -1 on a real error. */
static int want(struct conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        arm(c, EPOLLIN, EPOLL_CTL_MOD);
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        arm(c, EPOLLOUT, EPOLL_CTL_MOD);
        return 0;
    }
    ERR_clear_error();
    return -1;
}

/* The head's end and its Content-Length; 1 when the whole answer is in. */
static int parse(struct conn *c, const char *data, size_t n)
{
    if (c->body >= 0) {
        c->body -= (long long)n;
        return c->body <= 0;
    }
    size_t room = sizeof c->buf - 1 - c->got, take = n < room ? n : room;
    memcpy(c->buf + c->got, data, take);
    c->got += take;
    c->buf[c->got] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return c->got == sizeof c->buf - 1 ? -1 : 0;
    if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0)
        return -1;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (!cl || cl > end)
        return -1;
    long long len = atoll(cl + 17);
    size_t head = (size_t)(end + 4 - c->buf);
    c->body = len - (long long)(c->got - head) - (long long)(n - take);
    return c->body <= 0;
}

static void step(struct conn *c)
{
    int r;
    if (c->st == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            finish(c, 0);
            return;
        }
        c->st = HANDSHAKE;
    }
    if (c->st == HANDSHAKE) {
        r = SSL_connect(c->ssl);
        if (r != 1) {
            if (want(c, r) != 0)
                finish(c, 0);
            return;
        }
        if (SSL_session_reused(c->ssl))
            n_resumed++;
        c->st = WRITING;
    }
    if (c->st == WRITING) {
        r = SSL_write(c->ssl, request, (int)request_len);
        if (r <= 0) {
            if (want(c, r) != 0)
                finish(c, 0);
            return;
        }
        c->st = READING;
    }
    for (;;) {
        char data[16384];
        r = SSL_read(c->ssl, data, sizeof data);
        if (r <= 0) {
            if (want(c, r) != 0)
                finish(c, 0);   /* closed before the whole answer */
            return;
        }
        n_bytes += r;
        int done = parse(c, data, (size_t)r);
        if (done != 0) {
            finish(c, done > 0);
            return;
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int conns = 50;
    double secs = 3;
    const char *path = "/1k.bin", *groups = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: tls_full PORT [-c CONNS] [-d SECONDS] [-p PATH] [-g GROUPS]\n");
        return 2;
    }
    port = atoi(argv[1]);
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-c"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-d"))
            secs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-p"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "-g"))
            groups = argv[i + 1];
    }
    if (conns < 1 || conns > MAX_CONNS || port <= 0) {
        fprintf(stderr, "tls_full: 1..%d connections and a port\n", MAX_CONNS);
        return 2;
    }
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    /* No client-side session cache and no session ever set: no ticket is offered, every
     * handshake is full. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (groups && SSL_CTX_set1_groups_list(ctx, groups) != 1) {
        fprintf(stderr, "tls_full: bad groups %s\n", groups);
        return 2;
    }
    samples = malloc(sizeof *samples * MAX_SAMPLES);
    ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (!samples || !cs || ep < 0)
        return 1;
    uint64_t t_start = now_us(), t_end = t_start + (uint64_t)(secs * 1e6);
    for (int i = 0; i < conns; i++)
        if (start(&cs[i]) != 0) {
            perror("tls_full: connect");
            return 1;
        }
    struct epoll_event evs[256];
    while (now_us() < t_end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            step(evs[i].data.ptr);
    }
    uint64_t took = now_us() - t_start;
    qsort(samples, n_samples, sizeof *samples, cmp_u32);
    uint32_t p50 = n_samples ? samples[n_samples / 2] : 0;
    uint32_t p99 = n_samples ? samples[n_samples * 99 / 100] : 0;
    printf("TLSJSON {\"connections\": %lld, \"errors\": %lld, \"resumed\": %lld, \"duration_us\": %llu, "
           "\"p50_us\": %u, \"p99_us\": %u, \"bytes\": %lld}\n",
           n_ok, n_err, n_resumed, (unsigned long long)took, p50, p99, n_bytes);
    return 0;
}

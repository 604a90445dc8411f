/* Opening listening sockets for the config's binds, or taking over sockets
 * that a master process opened (see master.c). */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "same_host.h"

typedef struct adopted {
    char *text;
    int fd;
} adopted;

static adopted *adopted_fds;
static size_t n_adopted;

int listen_adopt(const char *text, int fd)
{
    adopted *n = realloc(adopted_fds, (n_adopted + 1) * sizeof *n);
    if (!n)
        return -1;
    adopted_fds = n;
    if (!(n[n_adopted].text = strdup(text)))
        return -1;
    n[n_adopted++].fd = fd;
    return 0;
}

void listen_adopt_clear(void)
{
    for (size_t i = 0; i < n_adopted; i++) {
        close(adopted_fds[i].fd);
        free(adopted_fds[i].text);
    }
    free(adopted_fds);
    adopted_fds = NULL;
    n_adopted = 0;
}

/* Take the adopted socket for text, if there is one. */
static int take_adopted(const char *text)
{
    for (size_t i = 0; i < n_adopted; i++) {
        if (strcmp(adopted_fds[i].text, text) != 0)
            continue;
        int fd = adopted_fds[i].fd;
        free(adopted_fds[i].text);
        adopted_fds[i] = adopted_fds[--n_adopted];
        if (n_adopted == 0) {
            free(adopted_fds);
            adopted_fds = NULL;
        }
        return fd;
    }
    return -1;
}

/* Options every accepted connection needs, set once here: Linux copies a
 * listening socket's TCP options (TCP_NODELAY among them) into each socket
 * accept() returns, which saves a setsockopt per connection (issue 21:
 * `Connection: close` costs; conn.c sets it per connection elsewhere).
 * Responses go out as whole writes (head and body in one sendmsg, MSG_MORE
 * before a file), so Nagle would only delay a last small segment. */
static void tune_listener(int fd, const listen_addr *a)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef TCP_DEFER_ACCEPT
    /* Hand a connection to accept() only once its first bytes are there
     * (an HTTP client always speaks first: the request line, a TLS
     * ClientHello, the HTTP/2 preface). Without it every connection wakes
     * the worker twice, once when the handshake completes and again when the
     * request arrives; the first wake-up is paid by the client's CPU inside
     * its own connect() (the listening socket's wake-up on loopback) and by
     * the worker's sleep and wake. Measured on `Connection: close` 1 KiB, 50
     * connections: worker context switches 0.69 -> 0.06 per request, the
     * worker's CPU 25.5 -> 20 us and the client's 45.6 -> 40.5 us per
     * request (issue 21). A client that connects and sends nothing is still
     * accepted, about a second later (the kernel accepts it when its ACK of
     * the first SYN-ACK retransmission arrives), and then meets the header
     * timeout as before; the 1 is the number of seconds. */
    int defer_seconds = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds);
#endif
    /* Loopback peers only: no pacing (net/same_host.h). Refused: as before. */
    (void)same_host_unpace_listener(fd, (const struct sockaddr *)&a->ss);
}

int listen_defers_accept(int fd)
{
#ifdef TCP_DEFER_ACCEPT
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len) == 0 && v > 0;
#else
    (void)fd;
    return 0;
#endif
}

int listen_bind(const listen_addr *a, int reuseport, char *err, size_t errlen)
{
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", a->text, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        snprintf(err, errlen, "%s: SO_REUSEPORT: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    if (a->family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 4096) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    tune_listener(fd, a);
    return fd;
}

int listen_open(const listen_addr *a, char *err, size_t errlen)
{
    int fd = take_adopted(a->text);
    if (fd >= 0)
        tune_listener(fd, a); /* opened by another process, maybe an older binary */
    return fd >= 0 ? fd : listen_bind(a, 0, err, errlen);
}

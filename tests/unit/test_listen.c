/* Listening sockets (core/server/listen.c): the TCP options set once on the
 * listener reach every accepted socket, for a socket opened here and for one
 * adopted from another process; and the unsent-bytes cap (TCP_NOTSENT_LOWAT,
 * issue 21) really stops a write when a peer does not read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

/* 127.0.0.1 on a port the kernel picks (the text names that port). */
static listen_addr loopback_addr(char *text, size_t len)
{
    listen_addr a;
    memset(&a, 0, sizeof a);
    struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = 0;
    a.len = sizeof *in;
    a.family = AF_INET;
    snprintf(text, len, "127.0.0.1:0");
    a.text = text;
    return a;
}

static int port_of(int fd)
{
    struct sockaddr_in in;
    socklen_t len = sizeof in;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    return ntohs(in.sin_port);
}

/* A blocking client connected to the listener, and the accepted socket. */
static void connect_pair(int lfd, int rcvbuf, int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*client >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(*client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(lfd)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(*client, (struct sockaddr *)&to, sizeof to), 0);
    do
        *server = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    while (*server < 0 && errno == EAGAIN);
    assert_true(*server >= 0);
}

static int int_opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static void test_accepted_socket_has_the_options(void **state)
{
    (void)state;
    char text[32], err[256];
    listen_addr a = loopback_addr(text, sizeof text);
    int lfd = listen_bind(&a, 0, err, sizeof err);
    assert_true(lfd >= 0);
    int c, s;
    connect_pair(lfd, 0, &c, &s);
    assert_int_equal(int_opt(s, IPPROTO_TCP, TCP_NOTSENT_LOWAT), LISTEN_NOTSENT_LOWAT);
    assert_int_not_equal(int_opt(s, IPPROTO_TCP, TCP_NODELAY), 0);
    close(s);
    close(c);
    close(lfd);
}

/* A socket a master (maybe an older binary) opened and handed over gets the
 * same options when a worker takes it. */
static void test_adopted_listener_is_tuned(void **state)
{
    (void)state;
    int raw = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(raw >= 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(raw, (struct sockaddr *)&in, sizeof in), 0);
    assert_int_equal(listen(raw, 16), 0);
    assert_int_not_equal(int_opt(raw, IPPROTO_TCP, TCP_NOTSENT_LOWAT), LISTEN_NOTSENT_LOWAT);
    char text[32], err[256];
    listen_addr a = loopback_addr(text, sizeof text);
    snprintf(text, sizeof text, "127.0.0.1:%d", port_of(raw));
    assert_int_equal(listen_adopt(text, raw), 0);
    int lfd = listen_open(&a, err, sizeof err);
    assert_int_equal(lfd, raw);
    int c, s;
    connect_pair(lfd, 0, &c, &s);
    assert_int_equal(int_opt(s, IPPROTO_TCP, TCP_NOTSENT_LOWAT), LISTEN_NOTSENT_LOWAT);
    close(s);
    close(c);
    close(lfd);
}

/* What the option is for: writing to a peer that reads nothing stops with
 * about LISTEN_NOTSENT_LOWAT unsent (one write past the cap at most), not
 * when an autotuned send buffer of megabytes is full. */
static void test_writes_stop_at_the_cap(void **state)
{
    (void)state;
    char text[32], err[256];
    listen_addr a = loopback_addr(text, sizeof text);
    int lfd = listen_bind(&a, 0, err, sizeof err);
    assert_true(lfd >= 0);
    int c, s;
    connect_pair(lfd, 64 * 1024, &c, &s);
    static char block[64 * 1024];
    size_t written = 0;
    for (int i = 0; i < 1000; i++) {
        ssize_t w = send(s, block, sizeof block, MSG_NOSIGNAL);
        if (w < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            break;
        }
        written += (size_t)w;
    }
    int unsent = -1;
    assert_int_equal(ioctl(s, SIOCOUTQNSD, &unsent), 0);
    assert_true(written > 0);
    assert_true(unsent >= 0);
    assert_true((size_t)unsent <= LISTEN_NOTSENT_LOWAT + sizeof block);
    /* Everything written is either in flight (inside the peer's window) or
     * unsent; the window of a 64 KiB receive buffer is far below the cap. */
    assert_true(written <= (size_t)LISTEN_NOTSENT_LOWAT + sizeof block + 256 * 1024);
    close(s);
    close(c);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_socket_has_the_options),
        cmocka_unit_test(test_adopted_listener_is_tuned),
        cmocka_unit_test(test_writes_stop_at_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

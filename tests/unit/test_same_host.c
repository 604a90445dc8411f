/*
 * Which peers are on this machine (core/net/same_host.h): only they get the
 * small fixed send buffer for a big file, so a remote client must never be
 * taken for one (its throughput would be capped at buffer / RTT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "same_host.h"

typedef union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} addr;

static addr at(const char *text)
{
    addr a;
    memset(&a, 0, sizeof a);
    if (inet_pton(AF_INET, text, &a.in.sin_addr) == 1) {
        a.in.sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &a.in6.sin6_addr), 1);
        a.in6.sin6_family = AF_INET6;
    }
    return a;
}

static int same(const char *local, const char *remote)
{
    addr l = at(local), r = at(remote);
    return peer_on_this_host(&l.sa, &r.sa);
}

/* The addresses a listener can be bound to whose every peer is on this host
 * (server/listen.c gives them a congestion control that does not pace). */
static void test_address_is_loopback(void **state)
{
    (void)state;
    const char *yes[] = {"127.0.0.1", "127.255.3.4", "::1", "::ffff:127.0.0.1"};
    const char *no[] = {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        addr a = at(yes[i]);
        assert_true(address_is_loopback(&a.sa));
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        addr a = at(no[i]);
        assert_false(address_is_loopback(&a.sa));
    }
}

static void test_loopback_peers(void **state)
{
    (void)state;
    assert_true(same("127.0.0.1", "127.0.0.1"));
    assert_true(same("0.0.0.0", "127.0.0.1"));
    assert_true(same("127.0.0.1", "127.255.3.4")); /* all of 127/8 */
    assert_true(same("::1", "::1"));
    assert_true(same("::", "::ffff:127.0.0.1"));    /* a dual-stack listener */
    assert_true(same("::ffff:127.0.0.1", "::ffff:127.9.9.9"));
}

static void test_own_address_is_this_host(void **state)
{
    (void)state;
    assert_true(same("192.0.2.10", "192.0.2.10"));
    assert_true(same("::ffff:192.0.2.10", "192.0.2.10"));
    assert_true(same("2001:db8::5", "2001:db8::5"));
}

static void test_remote_peers(void **state)
{
    (void)state;
    assert_false(same("192.0.2.10", "192.0.2.11"));
    assert_false(same("127.0.0.1", "128.0.0.1"));
    assert_false(same("126.255.255.255", "126.255.255.254"));
    assert_false(same("2001:db8::5", "2001:db8::6"));
    assert_false(same("::1", "::2"));
    assert_false(same("::", "::ffff:10.0.0.1"));
    assert_false(same("192.0.2.10", "::ffff:192.0.2.11"));
    assert_false(same("2001:db8::5", "::ffff:192.0.2.10")); /* different families, different hosts */
    /* Not an IP peer at all. */
    addr l = at("127.0.0.1"), r;
    memset(&r, 0, sizeof r);
    r.sa.sa_family = AF_UNIX;
    assert_false(peer_on_this_host(&l.sa, &r.sa));
}

/* A TCP socket with congestion control `cc`. BBR is a module of Debian's
 * kernel that root's setsockopt loads; a kernel without it cannot run the
 * pacing cases, and says so here rather than pass them untried. */
static int socket_with(const char *cc)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) != 0)
        fail_msg("cannot set TCP congestion control %s: %s (BBR needs the tcp_bbr module and root)", cc,
                 strerror(errno));
    return fd;
}

static void assert_congestion(int fd, const char *want)
{
    char name[16] = "";
    socklen_t len = sizeof name - 1;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    assert_string_equal(name, want);
}

/* A loopback listener that would pace (BBR) is switched to CUBIC; one bound
 * to a wildcard or a routable address keeps BBR (its peers may be far), and
 * one that does not pace is left alone. Both branches, whatever the
 * machine's default. */
static void test_loopback_listener_does_not_pace(void **state)
{
    (void)state;
    const char *bound[] = {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"};
    for (size_t i = 0; i < sizeof bound / sizeof *bound; i++) {
        addr a = at(bound[i]);
        int fd = socket_with("bbr");
        assert_int_equal(same_host_unpace_listener(fd, &a.sa), 1);
        assert_congestion(fd, SAME_HOST_CONGESTION);
        close(fd);
    }
    const char *far[] = {"0.0.0.0", "::", "192.0.2.10", "2001:db8::5"};
    for (size_t i = 0; i < sizeof far / sizeof *far; i++) {
        addr a = at(far[i]);
        int fd = socket_with("bbr");
        assert_int_equal(same_host_unpace_listener(fd, &a.sa), 0);
        assert_congestion(fd, "bbr");
        close(fd);
    }
    addr lo = at("127.0.0.1");
    int fd = socket_with("reno");
    assert_int_equal(same_host_unpace_listener(fd, &lo.sa), 0);
    assert_congestion(fd, "reno");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_peers),
        cmocka_unit_test(test_address_is_loopback),
        cmocka_unit_test(test_own_address_is_this_host),
        cmocka_unit_test(test_remote_peers),
        cmocka_unit_test(test_loopback_listener_does_not_pace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

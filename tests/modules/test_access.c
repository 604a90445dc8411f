/*
 * mod_access on the test host: the CIDR parser (IPv4, IPv6, mapped IPv4,
 * host bits, bad input), and the access hook's first-match-wins rules with a
 * default, loaded as the built shared object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "access/cidr.c"
#include "testhost.h"

static int contains(const char *range, const char *addr)
{
    cidr c;
    uint8_t a[16];
    assert_int_equal(cidr_parse(range, &c), 0);
    assert_int_equal(cidr_addr(addr, a), 0);
    return cidr_contains(&c, a);
}

static void test_cidr_ranges(void **state)
{
    (void)state;
    assert_true(contains("all", "1.2.3.4"));
    assert_true(contains("all", "2001:db8::1"));
    assert_true(contains("10.0.0.0/8", "10.255.1.2"));
    assert_false(contains("10.0.0.0/8", "11.0.0.1"));
    assert_true(contains("10.1.2.3/8", "10.9.9.9")); /* host bits are cleared */
    assert_true(contains("192.168.1.7", "192.168.1.7"));
    assert_false(contains("192.168.1.7", "192.168.1.8"));
    assert_true(contains("192.168.1.0/25", "192.168.1.127"));
    assert_false(contains("192.168.1.0/25", "192.168.1.128"));
    assert_true(contains("0.0.0.0/0", "8.8.8.8"));
    assert_false(contains("0.0.0.0/0", "2001:db8::1")); /* an IPv4 range holds only IPv4 */
    assert_true(contains("10.0.0.0/8", "::ffff:10.1.2.3")); /* a dual-stack socket's view */
    assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(contains("2001:db8::/32", "2001:db9::1"));
    assert_true(contains("::1", "::1"));
    assert_true(contains("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(contains("2001:db8::/33", "2001:db8:8000::1"));
}

static void test_cidr_refuses(void **state)
{
    (void)state;
    cidr c;
    const char *bad[] = {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "10.0.0.0/-1", "10.0.0.0/8/8",
                         "host.example", "10.0.0.0/ 8", "1.2.3.4 ", "ALL", "10.0.0.0/0008",
                         "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cidr_parse(bad[i], &c), -1);
    uint8_t a[16];
    assert_int_equal(cidr_addr("not an address", a), -1);
    assert_int_equal(cidr_addr(NULL, a), -1);
}

static th_module *load(void)
{
    char so[1024];
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(so, sizeof so, "%s/modules/mod_access.so", b ? b : "build");
    th_module *m = th_load_so(so);
    assert_non_null(m);
    return m;
}

static int access_from(th_module *m, const void *conf, const char *addr)
{
    th_request *t = th_request_new(m, conf, "GET", "/x", NULL);
    th_req(t)->remote_addr = addr;
    int rc = th_access(t);
    th_request_end(t);
    return rc;
}

static void test_rules_first_match_wins(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    const void *conf = th_configure(m,
        "{\"rules\": [{\"deny\": \"10.0.0.66\"}, {\"allow\": \"10.0.0.0/8\"}, {\"allow\": \"::1\"}, {\"deny\": \"all\"}]}",
        "/", NULL, err, sizeof err);
    assert_non_null(conf);
    assert_int_equal(access_from(m, conf, "10.1.2.3"), WS_CONTINUE);
    assert_int_equal(access_from(m, conf, "10.0.0.66"), 403);
    assert_int_equal(access_from(m, conf, "::1"), WS_CONTINUE);
    assert_int_equal(access_from(m, conf, "192.0.2.1"), 403);
    assert_int_equal(access_from(m, conf, "garbage"), 403);
    const void *open = th_configure(m, "{\"rules\": [{\"deny\": \"192.0.2.0/24\"}]}", "/", NULL, err, sizeof err);
    assert_int_equal(access_from(m, open, "198.51.100.1"), WS_CONTINUE); /* default allow */
    const void *closed = th_configure(m, "{\"default\": \"deny\"}", "/", NULL, err, sizeof err);
    assert_int_equal(access_from(m, closed, "127.0.0.1"), 403);
    th_unload(m);
}

static void test_config_errors(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    assert_null(th_configure(m, "{\"rules\": [{\"allow\": \"300.0.0.1\"}]}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "rules[0].allow"));
    assert_null(th_configure(m, "{\"rules\": [{}]}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "rules[0]"));
    assert_null(th_configure(m, "{\"rules\": [{\"allow\": \"all\", \"note\": \"x\"}]}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "rules[0].note"));
    assert_null(th_configure(m, "{\"default\": \"no\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "default"));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_ranges),
        cmocka_unit_test(test_cidr_refuses),
        cmocka_unit_test(test_rules_first_match_wins),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

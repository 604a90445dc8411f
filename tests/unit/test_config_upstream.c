/* Top-level "upstreams" (SPEC §6, core/config/config_upstream.c): values, defaults, every error with its JSON path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <sys/un.h>

#include "cfgtest.h"

#define REST "\"servers\": [{\"listen\": \"8080\"}]}"

static void test_values_and_defaults(void **state)
{
    (void)state;
    ws_config *c = cfgtest_load(
        "{\"upstreams\": {\"app\": {\"servers\": [{\"address\": \"127.0.0.1:9000\", \"weight\": 3},"
        " {\"address\": \"[::1]:9001\"}, {\"address\": \"unix:run/php.sock\"}, {\"address\": \"localhost:81\"}],"
        " \"balance\": \"least_conn\", \"keepalive\": 4, \"keepalive_timeout\": 2.5, \"max_fails\": 0,"
        " \"fail_timeout\": 1, \"timeouts\": {\"connect\": 0.5, \"send\": 2, \"read\": 3}},"
        " \"b\": {\"servers\": [{\"address\": \"10.0.0.1:80\"}]}}," REST);
    if (!c)
        fail_msg("%s", cfgtest_err);
    assert_int_equal(c->n_upstreams, 2);
    const ws_upstream *u = config_find_upstream(c->upstreams, c->n_upstreams, "app");
    assert_non_null(u);
    assert_string_equal(u->json_path, "upstreams.app");
    assert_int_equal(u->n_servers, 4);
    assert_int_equal(u->servers[0].weight, 3);
    assert_int_equal(u->servers[1].weight, 1);
    assert_int_equal(u->servers[0].addr->sa_family, AF_INET);
    assert_int_equal(ntohs(((const struct sockaddr_in *)u->servers[0].addr)->sin_port), 9000);
    assert_int_equal(u->servers[1].addr->sa_family, AF_INET6);
    assert_int_equal(u->servers[2].addr->sa_family, AF_UNIX);
    char want[400];
    snprintf(want, sizeof want, "%s/run/php.sock", cfgtest_dir);
    assert_string_equal(((const struct sockaddr_un *)u->servers[2].addr)->sun_path, want);
    assert_string_equal(u->servers[2].address, "unix:run/php.sock");
    assert_int_equal(u->balance, WS_BALANCE_LEAST_CONN);
    assert_int_equal(u->keepalive, 4);
    assert_int_equal(u->keepalive_ms, 2500);
    assert_int_equal(u->max_fails, 0);
    assert_int_equal(u->fail_timeout_ms, 1000);
    assert_int_equal(u->connect_ms, 500);
    assert_int_equal(u->send_ms, 2000);
    assert_int_equal(u->read_ms, 3000);
    u = config_find_upstream(c->upstreams, c->n_upstreams, "b");
    assert_non_null(u);
    assert_int_equal(u->balance, WS_BALANCE_ROUND_ROBIN);
    assert_int_equal(u->keepalive, 16);
    assert_int_equal(u->keepalive_ms, 60000);
    assert_int_equal(u->max_fails, 3);
    assert_int_equal(u->fail_timeout_ms, 10000);
    assert_int_equal(u->connect_ms, 5000);
    assert_int_equal(u->send_ms, 60000);
    assert_int_equal(u->read_ms, 60000);
    assert_null(config_find_upstream(c->upstreams, c->n_upstreams, "c"));
    config_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_err("{\"upstreams\": [], " REST, "upstreams: expected an object");
    expect_err("{\"upstreams\": {\"a\": 1}, " REST, "upstreams.a: expected an object");
    expect_err("{\"upstreams\": {\"a\": {}}, " REST, "upstreams.a.servers: required");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": []}}, " REST, "upstreams.a.servers: required");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [\"1.2.3.4:5\"]}}, " REST,
               "upstreams.a.servers[0]: expected an object");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{}]}}, " REST, "upstreams.a.servers[0].address: required");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"9000\"}]}}, " REST,
               "upstreams.a.servers[0].address: \"9000\" is not HOST:PORT");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"0.0.0.0:80\"}]}}, " REST,
               "upstreams.a.servers[0].address: \"0.0.0.0:80\" is not HOST:PORT");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"example.com:80\"}]}}, " REST,
               "upstreams.a.servers[0].address: \"example.com:80\" is not HOST:PORT");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"unix:\"}]}}, " REST,
               "upstreams.a.servers[0].address: \"unix:\": a socket path");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\", \"weight\": 0}]}}, " REST,
               "upstreams.a.servers[0].weight: must be between 1 and 1000");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\", \"wait\": 1}]}}, " REST,
               "upstreams.a.servers[0].wait: unknown key");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}, {\"address\": \"1.2.3.4:5\"}]}}, " REST,
               "upstreams.a.servers[1]: \"1.2.3.4:5\" is listed twice");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"balance\": \"random\"}}, " REST,
               "upstreams.a.balance: expected \"round_robin\" or \"least_conn\"");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"keepalive\": -1}}, " REST,
               "upstreams.a.keepalive: must be between 0 and 100000");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"max_fails\": \"3\"}}, " REST,
               "upstreams.a.max_fails: expected an integer");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"fail_timeout\": -1}}, " REST,
               "upstreams.a.fail_timeout:");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"timeouts\": {\"connect\": \"x\"}}}, " REST,
               "upstreams.a.timeouts.connect:");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"timeouts\": {\"write\": 1}}}, " REST,
               "upstreams.a.timeouts.write: unknown key");
    expect_err("{\"upstreams\": {\"a\": {\"servers\": [{\"address\": \"1.2.3.4:5\"}], \"pool\": 1}}, " REST,
               "upstreams.a.pool: unknown key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_defaults),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, cfgtest_setup, cfgtest_teardown);
}

/* router_server and router_location (SPEC §3 virtual hosts and location matching). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "cfgtest.h"
#include "router.h"

static const server_conf *route(const bind_conf *b, const struct sockaddr *local, const char *host)
{
    return router_server(b, local, host, host ? strlen(host) : 0);
}

static const char *loc(const server_conf *s, const char *path)
{
    const location_conf *l = router_location(s, path, strlen(path));
    return l ? l->path : NULL;
}

static void test_host_selection(void **state)
{
    (void)state;
    ws_config *c = cfgtest_load("{\"servers\": [{\"listen\": \"80\", \"server_names\": [\"first.test\"]},"
                                " {\"listen\": \"80\", \"server_names\": [\"Example.COM\", \"www.example.com\"]},"
                                " {\"listen\": \"80\", \"server_names\": [\"::1\", \"10.0.0.1\"]}]}");
    if (!c)
        fail_msg("%s", cfgtest_err);
    assert_int_equal(c->n_binds, 1);
    const bind_conf *b = &c->binds[0];
    const server_conf *s0 = &c->servers[0], *s1 = &c->servers[1], *s2 = &c->servers[2];
    assert_ptr_equal(route(b, NULL, "example.com"), s1);
    assert_ptr_equal(route(b, NULL, "EXAMPLE.com:8080"), s1);
    assert_ptr_equal(route(b, NULL, "www.example.com."), s1);
    assert_ptr_equal(route(b, NULL, "[::1]:80"), s2);
    assert_ptr_equal(route(b, NULL, "[::1]"), s2);
    assert_ptr_equal(route(b, NULL, "10.0.0.1:80"), s2);
    /* No match, empty or absent Host: the first server on the address. */
    assert_ptr_equal(route(b, NULL, "other.test"), s0);
    assert_ptr_equal(route(b, NULL, "example.co"), s0);
    assert_ptr_equal(route(b, NULL, "example.comm"), s0);
    assert_ptr_equal(route(b, NULL, ""), s0);
    assert_ptr_equal(route(b, NULL, NULL), s0);
    assert_ptr_equal(route(b, NULL, ":80"), s0);
    /* Only host_len bytes count. */
    assert_ptr_equal(router_server(b, NULL, "example.comXYZ", 11), s1);
    config_free(c);
}

static void test_local_address_picks_group(void **state)
{
    (void)state;
    ws_config *c = cfgtest_load("{\"servers\": [{\"listen\": [\"8080\", \"[::]:8080\"], \"server_names\": [\"any\"]},"
                                " {\"listen\": [\"127.0.0.1:8080\", \"[::1]:8080\"], \"server_names\": [\"lo\"]}]}");
    if (!c)
        fail_msg("%s", cfgtest_err);
    assert_int_equal(c->n_binds, 2);
    const bind_conf *v4 = strcmp(c->binds[0].addr.text, "0.0.0.0:8080") == 0 ? &c->binds[0] : &c->binds[1];
    const bind_conf *v6 = v4 == &c->binds[0] ? &c->binds[1] : &c->binds[0];
    const server_conf *any = &c->servers[0], *lo = &c->servers[1];

    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(8080)};
    inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
    assert_ptr_equal(route(v4, (struct sockaddr *)&a4, "nomatch"), lo);
    assert_ptr_equal(route(v4, (struct sockaddr *)&a4, "any"), lo); /* "any" is not on 127.0.0.1:8080 */
    inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
    assert_ptr_equal(route(v4, (struct sockaddr *)&a4, "lo"), any);
    a4.sin_port = htons(9090);
    inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
    assert_ptr_equal(route(v4, (struct sockaddr *)&a4, NULL), any); /* another port: not that group */

    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
    inet_pton(AF_INET6, "::1", &a6.sin6_addr);
    assert_ptr_equal(route(v6, (struct sockaddr *)&a6, NULL), lo);
    inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
    assert_ptr_equal(route(v6, (struct sockaddr *)&a6, NULL), any);
    /* A v4-mapped local address (dual-stack socket) finds the IPv4 group. */
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
    assert_ptr_equal(route(v4, (struct sockaddr *)&a6, NULL), lo);
    config_free(c);
}

static void test_locations(void **state)
{
    (void)state;
    ws_config *c = cfgtest_load("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/img\"},"
                                " {\"path\": \"/img/icons/\"}, {\"path\": \"/api/v1\"}]}]}");
    if (!c)
        fail_msg("%s", cfgtest_err);
    const server_conf *s = &c->servers[0];
    assert_string_equal(loc(s, "/img"), "/img");
    assert_string_equal(loc(s, "/img/"), "/img");
    assert_string_equal(loc(s, "/img/a.png"), "/img");
    assert_string_equal(loc(s, "/img/icons"), "/img/icons");
    assert_string_equal(loc(s, "/img/icons/x.svg"), "/img/icons");
    assert_string_equal(loc(s, "/img/iconsx"), "/img");
    assert_null(loc(s, "/images"));
    assert_null(loc(s, "/"));
    assert_null(loc(s, "/api"));
    assert_string_equal(loc(s, "/api/v1/users"), "/api/v1");
    assert_null(loc(s, "/api/v10"));
    config_free(c);

    c = cfgtest_load("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\"}, {\"path\": \"/a\"}]}]}");
    s = &c->servers[0];
    assert_string_equal(loc(s, "/"), "/");
    assert_string_equal(loc(s, "/anything/else"), "/");
    assert_string_equal(loc(s, "/ab"), "/");
    assert_string_equal(loc(s, "/a/b"), "/a");
    config_free(c);

    c = cfgtest_load("{\"servers\": [{\"listen\": \"80\"}]}");
    assert_null(loc(&c->servers[0], "/"));
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_selection),
        cmocka_unit_test(test_local_address_picks_group),
        cmocka_unit_test(test_locations),
    };
    return cmocka_run_group_tests(tests, cfgtest_setup, cfgtest_teardown);
}

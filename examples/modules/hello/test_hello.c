/*
 * A cmocka test of mod_hello against the webserv test host: no server, no
 * sockets. Build and run:
 *   cc test_hello.c hello.c $(pkg-config --cflags --libs webserv-testhost) -o test_hello && ./test_hello
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <webserv/testhost.h>

extern const ws_module webserv_module;

static void test_default_greeting(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    assert_non_null(m);
    const void *conf = th_configure(m, "{}", "/", NULL, err, sizeof err);
    assert_non_null(conf);
    th_request *t = th_request_new(m, conf, "GET", "/world", NULL);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 200);
    assert_true(res->finished);
    assert_string_equal(res->body, "Hello from /world\n");
    assert_string_equal(th_header(t, "Content-Type"), "text/plain; charset=utf-8");
    th_request_end(t);
    assert_int_equal(res->cleanups, 1); /* the request ended exactly once */
    th_unload(m);
}

static void test_greeting_setting(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    const void *conf = th_configure(m, "{\"greeting\": \"Hi\"}", "/", NULL, err, sizeof err);
    assert_non_null(conf);
    th_request *t = th_request_new(m, conf, "GET", "/a/b?x=1", NULL);
    th_dispatch(t);
    assert_string_equal(th_response_of(t)->body, "Hi from /a/b\n");
    th_request_end(t);
    th_unload(m);
}

static void test_bad_settings(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    assert_null(th_configure(m, "{\"greeting\": \"\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "greeting"));
    assert_null(th_configure(m, "{\"greeting\": 5}", "/", NULL, err, sizeof err));
    assert_null(th_configure(m, "{\"bogus\": true}", "/", NULL, err, sizeof err)); /* unknown key */
    assert_non_null(strstr(err, "bogus"));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_greeting),
        cmocka_unit_test(test_greeting_setting),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

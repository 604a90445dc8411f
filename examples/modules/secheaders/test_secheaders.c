/*
 * A cmocka test of mod_secheaders against the webserv test host: build a
 * response as a handler would, run the header filter, read the result.
 *   cc test_secheaders.c secheaders.c $(pkg-config --cflags --libs webserv-testhost) -o test_secheaders
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <webserv/testhost.h>

extern const ws_module webserv_module;

static th_request *response(th_module *m, const void *conf, const char *type)
{
    th_request *t = th_request_new(m, conf, "GET", "/", NULL);
    th_host()->set_status(th_req(t), 200);
    th_host()->add_header(th_req(t), "Content-Type", type);
    th_host()->add_header(th_req(t), "X-Powered-By", "PHP/8");
    return t;
}

static void test_html_gets_every_header(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    assert_non_null(m);
    const void *conf = th_configure(m, "{\"csp\": \"default-src 'self'\"}", "/", NULL, err, sizeof err);
    assert_non_null(conf);
    th_request *t = response(m, conf, "text/html; charset=utf-8");
    assert_int_equal(th_header_filter(t), 0);
    assert_string_equal(th_header(t, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(th_header(t, "Content-Security-Policy"), "default-src 'self'");
    assert_null(th_header(t, "X-Powered-By"));
    th_request_end(t);
    th_unload(m);
}

static void test_other_types_get_no_csp(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    const void *conf = th_configure(m, "{\"csp\": \"default-src 'self'\"}", "/", NULL, err, sizeof err);
    th_request *t = response(m, conf, "image/png");
    assert_int_equal(th_header_filter(t), 0);
    assert_string_equal(th_header(t, "X-Content-Type-Options"), "nosniff");
    assert_null(th_header(t, "Content-Security-Policy"));
    th_request_end(t);
    th_unload(m);
}

static void test_bad_setting(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    assert_null(th_configure(m, "{\"csp\": 1}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "csp"));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_gets_every_header),
        cmocka_unit_test(test_other_types_get_no_csp),
        cmocka_unit_test(test_bad_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * mod_headers on the test host: the expiry lookup (extension, type, whole
 * type), the HTTP date, the header filter (set/add/remove, always, expires,
 * CORS) and the preflight answered in the rewrite hook.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headers/cors.c"
#include "headers/expiry.c"
#include "testhost.h"

static void test_expiry_lookup_and_date(void **state)
{
    (void)state;
    hd_expiry rules[] = {{".css", 10}, {"text/html", 20}, {"image/*", 30}};
    hd_conf c = {.expires = rules, .n_expires = 3};
    assert_int_equal(hd_expiry_for(&c, "/a/b.CSS", NULL)->seconds, 10);
    assert_int_equal(hd_expiry_for(&c, "/i.x", "text/html; charset=utf-8")->seconds, 20);
    assert_int_equal(hd_expiry_for(&c, "/p", "image/webp")->seconds, 30);
    assert_null(hd_expiry_for(&c, "/d.v/file", "text/plain"));
    assert_null(hd_expiry_for(&c, "/x", "bogus"));
    char d[32];
    hd_http_date(0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    hd_http_date(1700000000, d);
    assert_string_equal(d, "Tue, 14 Nov 2023 22:13:20 GMT");
}

static th_module *load(void)
{
    char so[1024];
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(so, sizeof so, "%s/modules/mod_headers.so", b ? b : "build");
    th_module *m = th_load_so(so);
    assert_non_null(m);
    return m;
}

static th_request *response(th_module *m, const void *conf, int status, const char *const *hdrs)
{
    th_request *t = th_request_new(m, conf, "GET", "/a.css", hdrs);
    th_host()->set_status(th_req(t), status);
    th_host()->add_header(th_req(t), "Content-Type", "text/css");
    th_host()->add_header(th_req(t), "X-Powered-By", "x");
    return t;
}

static void test_filter(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    const void *conf = th_configure(m,
        "{\"set\": {\"X-A\": \"1\", \"Content-Type\": \"text/plain\"}, \"add\": {\"X-B\": \"2\"},"
        " \"remove\": [\"X-Powered-By\"], \"expires\": {\".css\": 60},"
        " \"cors\": {\"origins\": [\"https://app.example\"], \"credentials\": true}}", "/", NULL, err, sizeof err);
    assert_non_null(conf);
    const char *origin[] = {"Origin: https://app.example", NULL};
    th_request *t = response(m, conf, 200, origin);
    assert_int_equal(th_header_filter(t), 0);
    assert_string_equal(th_header(t, "X-A"), "1");
    assert_string_equal(th_header(t, "Content-Type"), "text/plain");
    assert_string_equal(th_header(t, "X-B"), "2");
    assert_null(th_header(t, "X-Powered-By"));
    assert_string_equal(th_header(t, "Cache-Control"), "max-age=60");
    assert_non_null(th_header(t, "Expires"));
    assert_string_equal(th_header(t, "Access-Control-Allow-Origin"), "https://app.example");
    assert_string_equal(th_header(t, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(th_header(t, "Vary"), "Origin");
    th_request_end(t);

    t = response(m, conf, 404, origin); /* not "always": only CORS */
    assert_int_equal(th_header_filter(t), 0);
    assert_null(th_header(t, "X-A"));
    assert_non_null(th_header(t, "X-Powered-By"));
    assert_string_equal(th_header(t, "Access-Control-Allow-Origin"), "https://app.example");
    th_request_end(t);

    const char *pre[] = {"Origin: https://app.example", "Access-Control-Request-Method: PUT", NULL};
    t = th_request_new(m, conf, "OPTIONS", "/a.css", pre);
    assert_int_equal(th_rewrite(t), 204);
    assert_string_equal(th_header(t, "Access-Control-Allow-Methods"), "GET, HEAD, POST");
    assert_string_equal(th_header(t, "Access-Control-Max-Age"), "600");
    th_request_end(t);
    const char *evil[] = {"Origin: https://evil.example", "Access-Control-Request-Method: PUT", NULL};
    t = th_request_new(m, conf, "OPTIONS", "/a.css", evil);
    assert_int_equal(th_rewrite(t), WS_CONTINUE);
    th_request_end(t);
    th_unload(m);
}

static void test_config_errors(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    assert_null(th_configure(m, "{\"set\": {\"Server\": \"x\"}}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "set"));
    assert_null(th_configure(m, "{\"expires\": {\"image/p*g\": 5}}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "expires"));
    assert_null(th_configure(m, "{\"cors\": {\"origins\": \"*\", \"methods\": [\"G T\"]}}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "methods"));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_lookup_and_date),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

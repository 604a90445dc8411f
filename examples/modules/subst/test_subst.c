/*
 * A cmocka test of mod_subst against the webserv test host: build a response
 * as a handler would, run the header filter, feed the body in pieces with
 * th_body_filter and read what the filter passed on.
 *   cc test_subst.c subst.c $(pkg-config --cflags --libs webserv-testhost) -o test_subst
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <webserv/testhost.h>

extern const ws_module webserv_module;

static th_module *m;
static const void *conf;

static th_request *response(const char *settings, const char *type)
{
    char err[256];
    m = th_load(&webserv_module);
    assert_non_null(m);
    conf = th_configure(m, settings, "/", NULL, err, sizeof err);
    assert_non_null(conf);
    th_request *t = th_request_new(m, conf, "GET", "/page.txt", NULL);
    th_host()->set_status(th_req(t), 200);
    th_host()->add_header(th_req(t), "Content-Type", type);
    th_host()->add_header(th_req(t), "ETag", "\"abc\"");
    th_host()->set_length(th_req(t), 1000);
    return t;
}

static void done(th_request *t)
{
    th_request_end(t);
    th_unload(m);
}

static void test_matches_across_pieces(void **state)
{
    (void)state;
    th_request *t = response("{\"from\": \"world\", \"to\": \"there\"}", "text/plain");
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "ETag"), "W/\"abc\""); /* the bytes differ from the file's */
    assert_string_equal(th_host()->resp_header(th_req(t), "Content-Length"), "1000"); /* same length: kept */
    assert_int_equal(th_body_filter(t, "hello wor", 9, 0), WS_OK);
    assert_int_equal(th_body_filter(t, "ld, worl", 8, 0), WS_OK);
    assert_int_equal(th_body_filter(t, "d! wo", 5, 1), WS_OK);
    th_response *res = th_response_of(t);
    assert_string_equal(res->body, "hello there, there! wo"); /* "wo" at the end was text after all */
    assert_true(res->filter_last);
    done(t);
}

static void test_overlapping_prefix(void **state)
{
    (void)state;
    th_request *t = response("{\"from\": \"aab\", \"to\": \"X\"}", "text/html");
    assert_int_equal(th_header_filter(t), 1);
    assert_null(th_host()->resp_header(th_req(t), "Content-Length")); /* shorter: length unknown */
    assert_int_equal(th_body_filter(t, "aaab", 4, 0), WS_OK);
    assert_int_equal(th_body_filter(t, "aa", 2, 0), WS_OK);
    assert_int_equal(th_body_filter(t, "b", 1, 1), WS_OK);
    assert_string_equal(th_response_of(t)->body, "aXX");
    done(t);
}

static void test_other_types_and_statuses_pass(void **state)
{
    (void)state;
    th_request *t = response("{\"from\": \"a\"}", "image/png");
    assert_int_equal(th_header_filter(t), 0);
    done(t);
    t = response("{\"from\": \"a\"}", "text/plain");
    th_host()->set_status(th_req(t), 206);
    assert_int_equal(th_header_filter(t), 0);
    done(t);
}

static void test_slow_client_gets_everything(void **state)
{
    (void)state;
    th_request *t = response("{\"from\": \"x\", \"to\": \"yy\"}", "text/plain");
    assert_int_equal(th_header_filter(t), 1);
    th_set_output_limit(t, 5000);
    static char piece[65536];
    memset(piece, 'x', sizeof piece);
    /* The core stops feeding once the output says WS_AGAIN, and the filter
     * said so; but every byte of the piece was passed on. */
    assert_int_equal(th_body_filter(t, piece, sizeof piece, 0), WS_AGAIN);
    assert_int_equal(th_response_of(t)->body_len, 2 * sizeof piece);
    th_drain(t);
    assert_int_equal(th_body_filter(t, "", 0, 1), WS_OK); /* drained: room again */
    assert_true(th_response_of(t)->filter_last);
    done(t);
}

static void test_bad_settings(void **state)
{
    (void)state;
    char err[256];
    m = th_load(&webserv_module);
    assert_null(th_configure(m, "{\"to\": \"b\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "from"));
    assert_null(th_configure(m, "{\"from\": \"\"}", "/", NULL, err, sizeof err));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_across_pieces),
        cmocka_unit_test(test_overlapping_prefix),
        cmocka_unit_test(test_other_types_and_statuses_pass),
        cmocka_unit_test(test_slow_client_gets_everything),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

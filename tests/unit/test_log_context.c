/*
 * Log context (log.h): a request-related error-log line ends with the
 * client, the request line and the step; lines outside a request do not;
 * control bytes in a request line are escaped like the rest of the line;
 * WS_TRACE compiles out (its arguments unevaluated) without WEBSERV_TRACE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char path[] = "/tmp/test_log_context_XXXXXX";

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return log_open_error(path, WS_LOG_DEBUG);
}

static int teardown(void **state)
{
    (void)state;
    log_open_error("stderr", WS_LOG_INFO);
    unlink(path);
    return 0;
}

/* The last line written, without its newline. */
static const char *last_line(void)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_true(n > 0 && buf[n - 1] == '\n');
    buf[--n] = '\0';
    char *nl = strrchr(buf, '\n');
    return nl ? nl + 1 : buf;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void test_suffix(void **state)
{
    (void)state;
    log_ctx c = {"127.0.0.1", 51234, "PUT /up HTTP/1.1", "reading the body"};
    assert_null(log_context_set(&c));
    log_msg(WS_LOG_ERROR, "WS0001", "something failed");
    const char *ln = last_line();
    assert_true(ends_with(ln, "[WS0001] something failed, client: 127.0.0.1:51234, request: \"PUT /up HTTP/1.1\", "
                              "while reading the body"));
    /* The step changes as the request goes on; the same context follows. */
    c.doing = "sending the response";
    log_msg(WS_LOG_WARN, "WS0002", "later");
    assert_true(ends_with(last_line(), "later, client: 127.0.0.1:51234, request: \"PUT /up HTTP/1.1\", while sending the response"));
    assert_ptr_equal(log_context_set(NULL), &c);
    log_msg(WS_LOG_ERROR, "WS0003", "no request");
    assert_true(ends_with(last_line(), "[WS0003] no request"));
}

static void test_ipv6_and_partial(void **state)
{
    (void)state;
    log_ctx c = {"::1", 8080, NULL, "reading the request head"};
    log_context_set(&c);
    log_msg(WS_LOG_ERROR, "WS0004", "x");
    assert_true(ends_with(last_line(), "x, client: [::1]:8080, while reading the request head"));
    log_context_set(NULL);
}

static void test_request_line_is_escaped(void **state)
{
    (void)state;
    log_ctx c = {"10.0.0.1", 1, "GET /\x1b[31mred HTTP/1.1", NULL};
    log_context_set(&c);
    log_msg(WS_LOG_ERROR, "WS0005", "y");
    const char *ln = last_line();
    log_context_set(NULL);
    assert_null(strchr(ln, '\x1b'));
    assert_non_null(strstr(ln, "y, client: 10.0.0.1:1, request: \"GET /"));
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void test_trace_compiles_out(void **state)
{
    (void)state;
    evaluated = 0;
    WS_TRACE("value %d", side_effect());
#ifdef WEBSERV_TRACE
    assert_int_equal(evaluated, 1);
    assert_non_null(strstr(last_line(), "[WS0009] value 1"));
#else
    assert_int_equal(evaluated, 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suffix),
        cmocka_unit_test(test_ipv6_and_partial),
        cmocka_unit_test(test_request_line_is_escaped),
        cmocka_unit_test(test_trace_compiles_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* Environment in the config (SPEC §6): "${NAME}", "${NAME:-default}", "$$", errors with their JSON path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cfgtest.h"

/* The expansion itself, on raw text. */
static void expect_text(const char *in, const char *want)
{
    char *out = NULL, why[256] = "";
    size_t len = 0;
    if (config_env_expand(in, strlen(in), &out, &len, why, sizeof why) < 0)
        fail_msg("\"%s\": %s", in, why);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void expect_text_err(const char *in, const char *want)
{
    char *out = (char *)"untouched", why[256] = "";
    size_t len = 0;
    assert_int_equal(config_env_expand(in, strlen(in), &out, &len, why, sizeof why), -1);
    assert_null(out);
    if (!strstr(why, want))
        fail_msg("\"%s\": got \"%s\", want \"%s\"", in, why, want);
}

static void test_expand_text(void **state)
{
    (void)state;
    setenv("WS_T_SET", "value", 1);
    setenv("WS_T_EMPTY", "", 1);
    unsetenv("WS_T_UNSET");
    expect_text("", "");
    expect_text("plain", "plain");
    expect_text("${WS_T_SET}", "value");
    expect_text("a${WS_T_SET}b${WS_T_SET}c", "avaluebvaluec");
    expect_text("${WS_T_UNSET:-fallback}", "fallback");
    expect_text("${WS_T_UNSET:-}", "");
    expect_text("${WS_T_EMPTY:-fallback}", "fallback"); /* ":-" also covers empty, as in the shell */
    expect_text("${WS_T_EMPTY}", "");
    expect_text("${WS_T_SET:-fallback}", "value");
    expect_text("${WS_T_UNSET:-a:b/c d}", "a:b/c d");
    expect_text("$$", "$");
    expect_text("$${WS_T_SET}", "${WS_T_SET}"); /* escaped: not expanded */
    expect_text("$$$$", "$$");
    expect_text("/new/$1", "/new/$1"); /* a lone "$" stays */
    expect_text("cost: 5$", "cost: 5$");
    expect_text("$x$", "$x$");
    /* The value is not expanded again. */
    setenv("WS_T_DOLLAR", "${WS_T_SET}$$", 1);
    expect_text("${WS_T_DOLLAR}", "${WS_T_SET}$$");
    expect_text_err("${WS_T_UNSET}", "environment variable WS_T_UNSET is not set");
    expect_text_err("${}", "must be followed by a variable name");
    expect_text_err("${1A}", "must be followed by a variable name");
    expect_text_err("${WS_T_SET", "expected \"}\"");
    expect_text_err("${WS_T_SET-x}", "expected \"}\"");
    expect_text_err("${WS_T_SET:-x", "has no closing");
    expect_text("$", "$");
}

static void test_expand_in_config(void **state)
{
    (void)state;
    setenv("WS_T_PORT", "8089", 1);
    setenv("WS_T_LEVEL", "debug", 1);
    setenv("WS_T_NAME", "Example.org", 1);
    unsetenv("WS_T_UNSET");
    ws_config *c = must_load("{\"log_level\": \"${WS_T_LEVEL}\", \"error_log\": \"${WS_T_UNSET:-stderr}\","
                             " \"servers\": [{\"listen\": [\"127.0.0.1:${WS_T_PORT}\"],"
                             " \"server_names\": [\"www.${WS_T_NAME}\"],"
                             " \"locations\": [{\"path\": \"/${WS_T_UNSET:-docs}\","
                             "   \"return\": {\"status\": 200, \"body\": \"costs $$5 or $1\"}}]}]}");
    assert_int_equal(c->log_level, WS_LOG_DEBUG);
    assert_string_equal(c->error_log, "stderr");
    assert_string_equal(c->servers[0].listens[0].text, "127.0.0.1:8089");
    assert_string_equal(c->servers[0].names[0], "www.example.org");
    assert_string_equal(c->servers[0].locations[0].path, "/docs");
    assert_string_equal(c->servers[0].locations[0].return_body, "costs $5 or $1");
    config_free(c);
    /* A value that expands to something invalid fails like the literal would. */
    setenv("WS_T_PORT", "notaport", 1);
    expect_err("{\"servers\": [{\"listen\": \"${WS_T_PORT}\"}]}", "servers[0].listen: \"notaport\" is not PORT");
}

static void test_expand_errors_name_path(void **state)
{
    (void)state;
    unsetenv("WS_T_UNSET");
    expect_err("{\"servers\": [{\"listen\": \"8080\", \"locations\": [{\"path\": \"/\"},"
               " {\"path\": \"/x\", \"index\": [\"a\", \"${WS_T_UNSET}.html\"]}]}]}",
               "servers[0].locations[1].index[1]: environment variable WS_T_UNSET is not set");
    expect_err("{\"error_log\": \"${WS_T_UNSET\", \"servers\": [{\"listen\": \"8080\"}]}",
               "error_log: \"${WS_T_UNSET\": expected \"}\"");
    expect_err("{\"mime_types\": {\"md\": \"${}\"}, \"servers\": [{\"listen\": \"8080\"}]}",
               "mime_types.md: \"${\" must be followed by a variable name");
    /* Keys are not expanded: "${X}" as a key is just an unknown key. */
    setenv("WS_T_SET", "workers", 1);
    expect_err("{\"${WS_T_SET}\": 2, \"servers\": [{\"listen\": \"8080\"}]}", "${WS_T_SET}: unknown key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_text),
        cmocka_unit_test(test_expand_in_config),
        cmocka_unit_test(test_expand_errors_name_path),
    };
    return cmocka_run_group_tests(tests, cfgtest_setup, cfgtest_teardown);
}

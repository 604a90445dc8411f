/*
 * The response-field rules shared by the server, the test host and the proxy
 * (core/http/header_rules.c): final statuses, the fields a module may add, and
 * token lists (Connection, Upgrade) as the upgrade API and the proxy read them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "header_rules.h"

static void test_status(void **state)
{
    (void)state;
    assert_false(header_rules_status_ok(101));
    assert_false(header_rules_status_ok(199));
    assert_true(header_rules_status_ok(200));
    assert_true(header_rules_status_ok(599));
    assert_false(header_rules_status_ok(600));
}

static void test_fields(void **state)
{
    (void)state;
    assert_true(header_rules_field_ok("X-Thing", "a value\twith a tab"));
    assert_false(header_rules_field_ok("Content-Length", "5"));    /* the core's own */
    assert_false(header_rules_field_ok("transfer-encoding", "x")); /* case-insensitive */
    assert_false(header_rules_field_ok("Bad Name", "x"));          /* not a token */
    assert_false(header_rules_field_ok("X-Injected", "a\r\nSet-Cookie: x"));
    assert_false(header_rules_field_ok("X-Del", "a\x7f"));
    assert_false(header_rules_field_ok(NULL, "x"));
    assert_false(header_rules_field_ok("X", NULL));
}

static void test_list_has(void **state)
{
    (void)state;
    assert_true(header_rules_list_has("Upgrade", "upgrade"));
    assert_true(header_rules_list_has("keep-alive, Upgrade", "upgrade"));
    assert_true(header_rules_list_has(" ,\tkeep-alive ,upgrade\t, ", "upgrade"));
    assert_false(header_rules_list_has("keep-alive, upgrades", "upgrade"));
    assert_false(header_rules_list_has("keep-alive, upgrad", "upgrade"));
    assert_false(header_rules_list_has("", "upgrade"));
    assert_false(header_rules_list_has(NULL, "upgrade"));
    assert_false(header_rules_list_has("upgrade", NULL));
    /* a name asked bare matches it with a version (RFC 9110 §7.8), not the other way */
    assert_true(header_rules_list_has("h2c, websocket/13", "websocket"));
    assert_true(header_rules_list_has("WebSocket", "websocket"));
    assert_false(header_rules_list_has("websocket", "websocket/13"));
    assert_true(header_rules_list_has("websocket/13", "websocket/13"));
    assert_false(header_rules_list_has("websocketx", "websocket"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_list_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

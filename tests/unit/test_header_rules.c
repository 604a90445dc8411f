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

#include <ctype.h>
#include <string.h>

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

/* The core's own names, refused in any case (looked up by length and first
 * letter, header_rules.c), and names of the same length or near misses that
 * are not theirs, accepted. */
static const char *const owned[] = {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Date",
                                    "Server",         "Upgrade",           "Trailer",    "TE",         "Proxy-Connection"};

static void test_core_fields_refused_in_any_case(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++) {
        char low[64], up[64];
        size_t n = strlen(owned[i]);
        for (size_t k = 0; k <= n; k++) {
            low[k] = (char)tolower((unsigned char)owned[i][k]);
            up[k] = (char)toupper((unsigned char)owned[i][k]);
        }
        assert_false(header_rules_field_ok(owned[i], "x"));
        assert_false(header_rules_field_ok(low, "x"));
        assert_false(header_rules_field_ok(up, "x"));
    }
}

static void test_other_fields_pass(void **state)
{
    (void)state;
    const char *ok[] = {"Content-Type", "Content-Lengtx", "Transfer-Encodinx", "Connectiox", "Keep-Alivx", "Data",
                        "Server-", "Upgrad", "Trailers", "TF", "Proxy-Connectioo", "X-Frame-Options", "ETag",
                        "Content-Range", "Cache-Control", "A", "Uxxxxxx", "Txxxxxx", "Cxxxxxxxxx", "Kxxxxxxxxx"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_true(header_rules_field_ok(ok[i], "value"));
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

/* header_rules_field_len: the same verdict as field_ok for every byte value
 * in the name and in the value (the name by the tchar table, the value by a
 * table of its own), and the lengths it measured. */
static void test_field_len_every_byte(void **state)
{
    (void)state;
    static const char tchars[] = "!#$%&'*+-.^_`|~";
    for (int b = 1; b < 256; b++) {
        char name[8] = "X-Ab", value[8] = "v1 2";
        name[2] = (char)b;
        value[2] = (char)b;
        size_t nl = 99, vl = 99;
        int token = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                    (b < 128 && strchr(tchars, b));
        int ok = header_rules_field_len(name, "v", &nl, &vl);
        assert_int_equal(ok, token);
        assert_int_equal(header_rules_field_ok(name, "v"), token);
        if (ok) {
            assert_int_equal(nl, 4);
            assert_int_equal(vl, 1);
        }
        int printable = b == '\t' || (b >= 0x20 && b != 0x7f);
        nl = vl = 99;
        ok = header_rules_field_len("X-V", value, &nl, &vl);
        assert_int_equal(ok, printable);
        assert_int_equal(header_rules_field_ok("X-V", value), printable);
        if (ok) {
            assert_int_equal(nl, 3);
            assert_int_equal(vl, 4);
        }
    }
    size_t nl, vl;
    assert_true(header_rules_field_len("X", "", &nl, &vl));
    assert_int_equal(vl, 0);
    assert_false(header_rules_field_len("", "v", &nl, &vl)); /* an empty name is no token */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_core_fields_refused_in_any_case),
        cmocka_unit_test(test_other_fields_pass),
        cmocka_unit_test(test_list_has),
        cmocka_unit_test(test_field_len_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

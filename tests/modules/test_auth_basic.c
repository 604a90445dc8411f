/*
 * mod_auth_basic on the test host: the Authorization parser (strict base64,
 * RFC 7617 user-id rules), the htpasswd parser (accepted hashes, errors with
 * line numbers), and the access hook end to end: 401 with the challenge,
 * verification deferred through offload, set_user, and the cache answering a
 * repeated pair at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_basic/basic_header.c"
#include "auth_basic/htpasswd.c"
#include "testhost.h"

static int parse(const char *v, const char **u, const char **p)
{
    static char buf[256];
    return ab_parse_authorization(v, buf, sizeof buf, u, p);
}

static void test_authorization_parser(void **state)
{
    (void)state;
    const char *u, *p;
    assert_int_equal(parse("Basic YWxpY2U6d29uZGVybGFuZA==", &u, &p), 0); /* alice:wonderland */
    assert_string_equal(u, "alice");
    assert_string_equal(p, "wonderland");
    assert_int_equal(parse("basic   YWxpY2U6d29uZGVybGFuZA==  ", &u, &p), 0);
    assert_int_equal(parse("Basic YTpiOmM=", &u, &p), 0); /* a:b:c: the password may hold ':' */
    assert_string_equal(p, "b:c");
    assert_int_equal(parse("Basic YTo=", &u, &p), 0); /* empty password */
    assert_string_equal(p, "");
    const char *bad[] = {
        NULL, "", "Basic", "Basic ", "Basic  ", "Bearer YTpi", "BasicYTpi", "Basic\tYTpi",
        "Basic YTpi=",        /* 5 characters */
        "Basic YTp",          /* not a multiple of 4 */
        "Basic YT=i",         /* data after padding */
        "Basic YTo==",        /* padding too long */
        "Basic Ytpi!",        /* not base64 */
        "Basic YWJj",         /* "abc": no colon */
        "Basic OmI=",         /* ":b": empty user */
        "Basic AToK",         /* NUL in the user */
        "Basic AXU6cA==",     /* control character in the user */
        "Basic YTpiAA==",     /* NUL in the password */
        "Basic YR==",         /* non-canonical padding bits */
        "Basic YTq=",         /* non-canonical */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(parse(bad[i], &u, &p), -1);
    char small[4];
    assert_int_equal(ab_parse_authorization("Basic YWxpY2U6d29uZGVybGFuZA==", small, sizeof small, &u, &p), -1);
}

static const char B12[] = "$2y$12$C6UzMDM.H6dfI/f/IKxGhuQt.vFXWLnbpxjhyNVhy1utC88zx3T5G";

static void test_htpasswd_parser(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "# users\n\nalice:%s\r\nbob:$5$salt$hash\ncarol:$6$rounds=5000$salt$hash\n", B12);
    ab_table t;
    size_t line = 0;
    const char *why = NULL;
    assert_int_equal(ab_parse_htpasswd(text, strlen(text), &t, &line, &why), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(ab_table_find(&t, "alice"), B12);
    assert_string_equal(ab_table_find(&t, "bob"), "$5$salt$hash");
    assert_null(ab_table_find(&t, "Alice"));
    ab_table_free(&t);

    struct {
        const char *entry;
        const char *why;
    } bad[] = {
        {"eve:secret", "unsupported"}, {"eve:$apr1$x$y", "unsupported"}, {"eve:{SHA}abc=", "unsupported"},
        {"eve:$1$salt$hash", "unsupported"}, {"eve:abcDEF123456", "unsupported"}, {"eve", "user:hash"},
        {":$5$a$b", "user:hash"}, {"eve:$2y$12$short", "malformed bcrypt"}, {"eve:$2y$99$C6UzMDM.H6dfI/f/IKxGhuQt.vFXWLnbpxjhyNVhy1utC88zx3T5G", "malformed bcrypt"},
        {"eve:$5$", "malformed SHA-crypt"}, {"eve:$6$salt$", "malformed SHA-crypt"}, {"eve:$5$a$b:extra", "second"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "alice:%s\n# c\n%s\n", B12, bad[i].entry);
        assert_int_equal(ab_parse_htpasswd(text, strlen(text), &t, &line, &why), -1);
        assert_int_equal(line, 3);
        if (!strstr(why, bad[i].why))
            fail_msg("%s: %s", bad[i].entry, why);
    }
}

static th_module *load(void)
{
    char so[1024];
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(so, sizeof so, "%s/modules/mod_auth_basic.so", b ? b : "build");
    th_module *m = th_load_so(so);
    assert_non_null(m);
    return m;
}

static char users_path[] = "/tmp/ab-users-XXXXXX";

static void write_users(void)
{
    int fd = mkstemp(users_path);
    assert_true(fd >= 0);
    struct crypt_data cd = {0};
    char salt[64];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof salt));
    char line[256];
    int n = snprintf(line, sizeof line, "alice:%s\n", crypt_r("wonderland", salt, &cd));
    assert_int_equal(write(fd, line, (size_t)n), n);
    close(fd);
}

static int login(th_module *m, const void *conf, const char *authorization, const char **user)
{
    const char *h[] = {authorization, NULL};
    th_request *t = th_request_new(m, conf, "GET", "/p", authorization ? h : NULL);
    int rc = th_access(t);
    if (rc == WS_DEFER)
        rc = th_phase_wait(t, 5000) | 0x10000; /* mark: it went through offload */
    static char who[64];
    snprintf(who, sizeof who, "%s", th_req(t)->remote_user ? th_req(t)->remote_user : "");
    *user = who;
    if ((rc & 0xffff) == 401)
        assert_string_equal(th_header(t, "WWW-Authenticate"), "Basic realm=\"Zone\", charset=\"UTF-8\"");
    th_request_end(t);
    return rc;
}

static void test_access_hook(void **state)
{
    (void)state;
    write_users();
    th_module *m = load();
    char err[512], json[512];
    snprintf(json, sizeof json, "{\"realm\": \"Zone\", \"user_file\": \"%s\"}", users_path);
    const void *conf = th_configure(m, json, "/", NULL, err, sizeof err);
    assert_non_null(conf);
    const char *user;
    assert_int_equal(login(m, conf, NULL, &user), 401);
    assert_int_equal(login(m, conf, "Authorization: Basic !!", &user), 401);
    /* alice:wrong, through offload */
    assert_int_equal(login(m, conf, "Authorization: Basic YWxpY2U6d3Jvbmc=", &user), 0x10000 | 401);
    /* mallory:wonderland: an unknown user costs a hash too */
    assert_int_equal(login(m, conf, "Authorization: Basic bWFsbG9yeTp3b25kZXJsYW5k", &user), 0x10000 | 401);
    /* alice:wonderland: verified on the pool, then from the cache at once */
    assert_int_equal(login(m, conf, "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==", &user), 0x10000 | WS_CONTINUE);
    assert_string_equal(user, "alice");
    assert_int_equal(login(m, conf, "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==", &user), WS_CONTINUE);
    assert_string_equal(user, "alice");
    /* a request that ends while its work runs: the end waits, no done, no crash */
    const char *h[] = {"Authorization: Basic YWxpY2U6d3Jvbmc=", NULL};
    th_request *t = th_request_new(m, conf, "GET", "/p", h);
    assert_int_equal(th_access(t), WS_DEFER);
    th_request_abort(t);
    th_unload(m);
    unlink(users_path);
}

static void test_config_errors(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    assert_null(th_configure(m, "{\"user_file\": \"/nonexistent/users\", \"realm\": \"x\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/users"));
    assert_null(th_configure(m, "{\"user_file\": \"/etc/hostname\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "realm"));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authorization_parser),
        cmocka_unit_test(test_htpasswd_parser),
        cmocka_unit_test(test_access_hook),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

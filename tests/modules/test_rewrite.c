/*
 * mod_rewrite on the test host: replacement expansion ($N, $$, encoding,
 * overflow), and the rewrite hook: internal rewrites (rewrite_uri, query kept
 * or replaced), redirects with Location, the fallback for missing files only,
 * and configure errors naming the rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rewrite/expand.c"
#include "testhost.h"

static void test_expand(void **state)
{
    (void)state;
    const char *subject = "/a b/c?d";
    size_t ov[] = {0, 8, 1, 4, 5, 8, PCRE2_UNSET, PCRE2_UNSET};
    char out[64];
    assert_int_equal(rw_expand("/x/$1/$2", subject, ov, 4, out, sizeof out), strlen("/x/a%20b/c%3Fd"));
    assert_string_equal(out, "/x/a%20b/c%3Fd");
    assert_true(rw_expand("$$1 $3.", subject, ov, 4, out, sizeof out) >= 0);
    assert_string_equal(out, "$1 .");               /* $$ is a dollar; a group that did not match is empty */
    assert_int_equal(rw_expand("$0$0$0$0$0$0", subject, ov, 4, out, 20), -1); /* does not fit */
    /* A NUL byte in a capture is encoded like any unsafe byte (fuzz_rewrite found it passed raw). */
    const char with_nul[] = {'/', 'a', '\0', 'b'};
    size_t ov_nul[] = {0, 4, 1, 4};
    assert_int_equal(rw_expand("/x/$1", with_nul, ov_nul, 2, out, sizeof out), strlen("/x/a%00b"));
    assert_string_equal(out, "/x/a%00b");
    int bad;
    assert_int_equal(rw_check_refs("/a/$1/$2", 2, &bad), 0);
    assert_int_equal(rw_check_refs("/a/$3", 2, &bad), -1);
    assert_int_equal(bad, 3);
    assert_int_equal(rw_check_refs("/a/$", 2, &bad), -1);
    assert_int_equal(rw_check_refs("/a/$x", 2, &bad), -1);
    assert_int_equal(rw_check_refs("cost: $$5", 0, &bad), 0);
}

static th_module *load(void)
{
    char so[1024];
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(so, sizeof so, "%s/modules/mod_rewrite.so", b ? b : "build");
    th_module *m = th_load_so(so);
    assert_non_null(m);
    return m;
}

static const char *RULES =
    "{\"rules\": [{\"match\": \"^/old/(.*)$\", \"to\": \"/new/$1\", \"redirect\": 301},"
    "             {\"match\": \"^/blog/([0-9]+)$\", \"to\": \"/posts/$1.html\"},"
    "             {\"match\": \"^/q$\", \"to\": \"/search?mine=1\"}],"
    " \"fallback\": \"/index.html\"}";

static void test_rules(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512], root[] = "/tmp/rw-root-XXXXXX";
    assert_non_null(mkdtemp(root));
    char file[600];
    snprintf(file, sizeof file, "%s/exists.txt", root);
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    const void *conf = th_configure(m, RULES, "/", root, err, sizeof err);
    assert_non_null(conf);

    th_request *t = th_request_new(m, conf, "GET", "/old/a?x=1", NULL);
    assert_int_equal(th_rewrite(t), 301);
    assert_string_equal(th_header(t, "Location"), "/new/a?x=1");
    th_request_end(t);

    t = th_request_new(m, conf, "GET", "/blog/7?p=2", NULL);
    assert_int_equal(th_rewrite(t), WS_CONTINUE);
    assert_string_equal(th_response_of(t)->rewrite_uri, "/posts/7.html?p=2");
    assert_string_equal(th_req(t)->path, "/posts/7.html");
    assert_string_equal(th_req(t)->query, "p=2");
    th_request_end(t);

    t = th_request_new(m, conf, "GET", "/q?theirs=1", NULL);
    assert_int_equal(th_rewrite(t), WS_CONTINUE);
    assert_string_equal(th_response_of(t)->rewrite_uri, "/search?mine=1");
    th_request_end(t);

    /* the fallback: only for a GET/HEAD of a path with nothing on disk */
    t = th_request_new(m, conf, "GET", "/exists.txt", NULL);
    assert_int_equal(th_rewrite(t), WS_CONTINUE);
    assert_null(th_response_of(t)->rewrite_uri);
    th_request_end(t);
    t = th_request_new(m, conf, "GET", "/client/route", NULL);
    assert_int_equal(th_rewrite(t), WS_CONTINUE);
    assert_string_equal(th_response_of(t)->rewrite_uri, "/index.html");
    th_request_end(t);
    t = th_request_new(m, conf, "POST", "/client/route", NULL);
    assert_int_equal(th_rewrite(t), WS_CONTINUE);
    assert_null(th_response_of(t)->rewrite_uri);
    th_request_end(t);

    unlink(file);
    rmdir(root);
    th_unload(m);
}

static void test_config_errors(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    assert_null(th_configure(m, "{\"rules\": [{\"match\": \"([a-\", \"to\": \"/x\"}]}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "rules[0].match"));
    assert_non_null(strstr(err, "bad regular expression"));
    assert_null(th_configure(m, "{\"rules\": [{\"match\": \"^/(a)\", \"to\": \"/$2\"}]}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "rules[0].to"));
    assert_null(th_configure(m, "{\"rules\": [{\"match\": \"^/a\", \"to\": \"/b\", \"redirect\": 304}]}", "/", NULL, err,
                             sizeof err));
    assert_non_null(strstr(err, "redirect"));
    assert_null(th_configure(m, "{\"rules\": {\"match\": \"^/a\"}}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "rules"));
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

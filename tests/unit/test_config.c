/* config_load (SPEC §3): defaults, every error with its file and JSON path, inheritance, vhosts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "../testmods/cfgcheck/cfgcheck.h"
#include "cfgtest.h"
#include "modules.h"

#define MIN_REST "\"servers\": [{\"listen\": \"8080\"}]}"
#define MINIMAL "{" MIN_REST

static void test_missing_file(void **state)
{
    (void)state;
    char err[512], want[600];
    assert_null(config_load("/nonexistent/webserv.json", err, sizeof err));
    snprintf(want, sizeof want, "/nonexistent/webserv.json: cannot open: No such file or directory");
    assert_string_equal(err, want);
}

static void test_syntax_error_line_column(void **state)
{
    (void)state;
    ws_config *c = cfgtest_load("{\n  \"workers\": 1,\n  \"servers\": [ ,\n");
    assert_null(c);
    char prefix[400];
    snprintf(prefix, sizeof prefix, "%s:3:", cfgtest_file);
    if (strncmp(cfgtest_err, prefix, strlen(prefix)) != 0)
        fail_msg("got: %s", cfgtest_err);
    int line = 0, col = 0;
    assert_int_equal(sscanf(cfgtest_err + strlen(cfgtest_file), ":%d:%d:", &line, &col), 2);
    assert_int_equal(line, 3);
    assert_true(col > 0);
    /* Duplicate keys are syntax errors too (with a position). */
    assert_null(cfgtest_load("{\"workers\": 1,\n \"workers\": 2}"));
    snprintf(prefix, sizeof prefix, "%s:2:", cfgtest_file);
    assert_int_equal(strncmp(cfgtest_err, prefix, strlen(prefix)), 0);
    expect_err("[1, 2]", "expected a JSON object at the top level");
}

static void test_defaults(void **state)
{
    (void)state;
    ws_config *c = must_load(MINIMAL);
    assert_string_equal(c->file, cfgtest_file);
    assert_string_equal(c->dir, cfgtest_dir);
    assert_int_equal(c->n_modules, 0);
    assert_int_equal(c->workers, 1);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->file_cache_entries, 4096);
    assert_string_equal(c->error_log, "stderr");
    assert_int_equal(c->log_level, WS_LOG_INFO);
    assert_null(c->access_log);
    assert_int_equal(c->server_tokens, 1);
    assert_int_equal(c->timeouts.header_ms, 10000);
    assert_int_equal(c->timeouts.body_ms, 30000);
    assert_int_equal(c->timeouts.keepalive_ms, 15000);
    assert_int_equal(c->timeouts.send_ms, 60000);
    assert_int_equal(c->timeouts.shutdown_ms, 5000);
    assert_int_equal(c->header_size, 16384);
    assert_int_equal(c->n_mime, 0);
    assert_int_equal(c->n_servers, 1);
    const server_conf *s = &c->servers[0];
    assert_string_equal(s->json_path, "servers[0]");
    assert_int_equal(s->n_listens, 1);
    assert_string_equal(s->listens[0].text, "0.0.0.0:8080");
    assert_true(s->listens[0].wildcard);
    assert_int_equal(s->n_names, 0);
    assert_int_equal(s->n_locations, 0);
    assert_int_equal(c->n_binds, 1);
    assert_int_equal(c->binds[0].n_groups, 1);
    assert_ptr_equal(c->binds[0].groups[0].servers[0], s);
    config_free(c);

    /* Location defaults: index.html, 1M, no root, no methods without modules. */
    c = must_load("{\"servers\": [{\"listen\": 8080, \"locations\": [{\"path\": \"/\"}]}]}");
    const location_conf *l = &c->servers[0].locations[0];
    assert_string_equal(l->json_path, "servers[0].locations[0]");
    assert_null(l->root);
    assert_int_equal(l->n_index, 1);
    assert_string_equal(l->index[0], "index.html");
    assert_int_equal(l->max_body, 1024 * 1024);
    assert_int_equal(l->n_methods, 0);
    assert_false(l->any_method);
    assert_string_equal(l->allow, "OPTIONS");
    assert_int_equal(l->return_status, 0);
    assert_int_equal(l->n_handlers, 0);
    config_free(c);
}

static void test_top_level_values(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"workers\": 3, \"max_connections\": 50, \"file_cache_entries\": 20000,"
                             " \"error_log\": \"logs/err.log\","
                             " \"log_level\": \"debug\", \"access_log\": \"stdout\","
                             " \"timeouts\": {\"header\": 2.5, \"body\": 0, \"keepalive\": 1, \"send\": 7, \"shutdown\": 0.001},"
                             " \"limits\": {\"header_size\": \"32K\"},"
                             " \"mime_types\": {\".MD\": \"text/x-md\", \"foo\": \"app/foo\"}," MIN_REST);
    assert_int_equal(c->workers, 3);
    assert_int_equal(c->max_connections, 50);
    assert_int_equal(c->file_cache_entries, 20000);
    char want[400];
    snprintf(want, sizeof want, "%s/logs/err.log", cfgtest_dir);
    assert_string_equal(c->error_log, want);
    assert_int_equal(c->log_level, WS_LOG_DEBUG);
    assert_string_equal(c->access_log, "stdout");
    assert_int_equal(c->timeouts.header_ms, 2500);
    assert_int_equal(c->timeouts.body_ms, 0);
    assert_int_equal(c->timeouts.keepalive_ms, 1000);
    assert_int_equal(c->timeouts.send_ms, 7000);
    assert_int_equal(c->timeouts.shutdown_ms, 1);
    assert_int_equal(c->header_size, 32768);
    assert_int_equal(c->n_mime, 2);
    assert_string_equal(c->mime_pairs[0], "md");
    assert_string_equal(c->mime_pairs[1], "text/x-md");
    assert_string_equal(c->mime_pairs[2], "foo");
    config_free(c);

    c = must_load("{\"workers\": \"auto\", \"access_log\": \"/var/log/a.log\", \"log_level\": \"error\"," MIN_REST);
    assert_true(c->workers >= 1);
    assert_string_equal(c->access_log, "/var/log/a.log");
    assert_int_equal(c->log_level, WS_LOG_ERROR);
    config_free(c);
    c = must_load("{\"access_log\": \"off\", \"log_level\": \"warn\"," MIN_REST);
    assert_null(c->access_log);
    assert_int_equal(c->log_level, WS_LOG_WARN);
    config_free(c);
    c = must_load("{\"server_tokens\": false," MIN_REST);
    assert_int_equal(c->server_tokens, 0);
    config_free(c);
}

static void test_top_level_errors(void **state)
{
    (void)state;
    expect_err("{\"bogus\": 1," MIN_REST, "bogus: unknown key");
    expect_err("{}", "servers: required");
    expect_err("{\"servers\": []}", "servers: required");
    expect_err("{\"servers\": [1]}", "servers[0]: expected an object");
    expect_err("{\"workers\": \"many\"," MIN_REST, "workers: expected a number of processes or \"auto\"");
    expect_err("{\"workers\": 0," MIN_REST, "workers: must be between 1 and");
    expect_err("{\"workers\": 1.5," MIN_REST, "workers: expected a number of processes");
    expect_err("{\"max_connections\": \"x\"," MIN_REST, "max_connections: expected an integer");
    expect_err("{\"file_cache_entries\": 10," MIN_REST, "file_cache_entries: must be between 64 and 1048576");
    expect_err("{\"log_level\": \"loud\"," MIN_REST, "log_level: expected \"error\", \"warn\", \"info\" or \"debug\"");
    expect_err("{\"error_log\": 5," MIN_REST, "error_log: expected a string");
    expect_err("{\"access_log\": \"\"," MIN_REST, "access_log: expected \"off\"");
    expect_err("{\"server_tokens\": \"off\"," MIN_REST, "server_tokens: expected true or false");
    expect_err("{\"timeouts\": 5," MIN_REST, "timeouts: expected an object");
    expect_err("{\"timeouts\": {\"header\": -1}," MIN_REST, "timeouts.header: expected a number of seconds >= 0");
    expect_err("{\"timeouts\": {\"body\": \"30\"}," MIN_REST, "timeouts.body: expected a number of seconds");
    expect_err("{\"timeouts\": {\"idle\": 3}," MIN_REST, "timeouts.idle: unknown key");
    expect_err("{\"limits\": {\"header_size\": \"1X\"}," MIN_REST, "limits.header_size: expected a size");
    expect_err("{\"limits\": {\"header_size\": 10}," MIN_REST, "limits.header_size: must be between");
    expect_err("{\"limits\": {\"body\": 10}," MIN_REST, "limits.body: unknown key");
    expect_err("{\"mime_types\": {\"md\": 1}," MIN_REST, "mime_types.md: expected a string");
    expect_err("{\"mime_types\": {\".\": \"a/b\"}," MIN_REST, "mime_types.: expected an extension");
    expect_err("{\"modules\": \"static\"," MIN_REST, "modules: expected an array of strings");
    expect_err("{\"modules\": [3]," MIN_REST, "modules[0]: expected a string");
}

static void test_sizes(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(config_parse_size("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(config_parse_size("123", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(config_parse_size("10K", &v), 0);
    assert_int_equal(v, 10240);
    assert_int_equal(config_parse_size("1M", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(config_parse_size("2G", &v), 0);
    assert_int_equal(v, 2147483648LL);
    assert_int_equal(config_parse_size("3k", &v), 0);
    assert_int_equal(v, 3072);
    assert_int_equal(config_parse_size("8589934591G", &v), 0); /* 2^63 - 2^30 */
    assert_int_equal(config_parse_size("8589934592G", &v), -1);
    assert_int_equal(config_parse_size("9223372036854775807", &v), 0);
    assert_int_equal(config_parse_size("9223372036854775808", &v), -1);
    assert_int_equal(config_parse_size("99999999999999999999", &v), -1);
    const char *bad[] = {"", "K", "-1", " 1", "1 ", "1KB", "1T", "0x10", "1.5M"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(config_parse_size(bad[i], &v), -1);

    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"client_max_body_size\": \"2G\", \"locations\": ["
                             "{\"path\": \"/a\", \"client_max_body_size\": 0}, {\"path\": \"/b\"},"
                             "{\"path\": \"/c\", \"client_max_body_size\": \"10K\"}]}]}");
    const server_conf *s = &c->servers[0];
    for (size_t i = 0; i < 3; i++) {
        const location_conf *l = &s->locations[i];
        int64_t want = strcmp(l->path, "/a") == 0 ? 0 : strcmp(l->path, "/b") == 0 ? 2147483648LL : 10240;
        assert_int_equal(l->max_body, want);
    }
    config_free(c);
    expect_err("{\"servers\": [{\"listen\": \"80\", \"client_max_body_size\": \"99999999999G\"}]}",
               "servers[0].client_max_body_size: expected a size");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"client_max_body_size\": -5}]}]}",
               "servers[0].locations[0].client_max_body_size: expected a size");
}

static void test_listen_forms(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": [\"127.0.0.1:8080\", \"[::1]:8081\", \"localhost:81\","
                             " 82, \"*:83\", \"[::]:84\", \"[0:0::1]:85\"]}]}");
    const server_conf *s = &c->servers[0];
    const char *want[] = {"127.0.0.1:8080", "[::1]:8081", "127.0.0.1:81", "0.0.0.0:82", "0.0.0.0:83", "[::]:84", "[::1]:85"};
    assert_int_equal(s->n_listens, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(s->listens[i].text, want[i]);
    assert_int_equal(s->listens[0].family, AF_INET);
    assert_int_equal(s->listens[1].family, AF_INET6);
    assert_int_equal(s->listens[1].len, sizeof(struct sockaddr_in6));
    assert_int_equal(s->listens[0].port, 8080);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&s->listens[0].ss)->sin_port), 8080);
    assert_false(s->listens[0].wildcard);
    assert_true(s->listens[5].wildcard);
    config_free(c);

    const char *bad[] = {"\"1.2.3.4\"", "\"example.com:80\"", "\"::1:80\"", "\"[::1]80\"", "\"70000\"", "\"0\"",
                         "\"1.2.3:80\"", "\"[1.2.3.4]:80\"", "\"\"", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"servers\": [{\"listen\": [\"80\", %s]}]}", bad[i]);
        expect_err(json, "servers[0].listen[1]: ");
    }
    expect_err("{\"servers\": [{\"listen\": \"http\"}]}", "servers[0].listen: \"http\" is not PORT");
    expect_err("{\"servers\": [{}]}", "servers[0].listen: required");
    expect_err("{\"servers\": [{\"listen\": []}]}", "servers[0].listen: required");
    expect_err("{\"servers\": [{\"listen\": [\"80\", \"0.0.0.0:80\"]}]}", "servers[0].listen[1]: 0.0.0.0:80 is listed twice");
}

static void test_server_keys(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"server_names\": [\"Example.COM\", \"www.example.com\"]}]}");
    assert_int_equal(c->servers[0].n_names, 2);
    assert_string_equal(c->servers[0].names[0], "example.com");
    config_free(c);
    expect_err("{\"servers\": [{\"listen\": \"80\", \"bogus\": 1}]}", "servers[0].bogus: unknown key");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"server_names\": \"a\"}]}", "servers[0].server_names: expected an array");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"server_names\": [\"a\", \"\"]}]}", "servers[0].server_names[1]: expected a host name");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"root\": 3}]}", "servers[0].root: expected a non-empty path");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"index\": [\"a/b\"]}]}", "servers[0].index[0]: expected a file name");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"methods\": [\"GE T\"]}]}", "servers[0].methods[0]: \"GE T\" is not a method name");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": {}}]}", "servers[0].locations: expected an array");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [\"/\"]}]}", "servers[0].locations[0]: expected an object");
    expect_err("{\"servers\": [{\"listen\": \"80\"}, {\"listen\": \"81\", \"locations\": [{\"path\": \"/\"}, {\"path\": \"/a\", \"x\": 1}]}]}",
               "servers[1].locations[1].x: unknown key");
}

static void test_paths_relative_to_config(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"root\": \"www/\", \"locations\": ["
                             "{\"path\": \"/a\", \"root\": \"../x/./y//\"}, {\"path\": \"/b\", \"root\": \"/srv/b/\"}, {\"path\": \"/c\"}]}]}");
    char want[400];
    for (size_t i = 0; i < 3; i++) {
        const location_conf *l = &c->servers[0].locations[i];
        if (strcmp(l->path, "/a") == 0) {
            snprintf(want, sizeof want, "%s", cfgtest_dir);
            *strrchr(want, '/') = '\0';
            strcat(want, "/x/y");
        } else if (strcmp(l->path, "/b") == 0) {
            strcpy(want, "/srv/b");
        } else {
            snprintf(want, sizeof want, "%s/www", cfgtest_dir);
        }
        assert_string_equal(l->root, want);
    }
    config_free(c);
}

/* SPEC §6: "root": null drops the inherited root; timeouts.handler (issue 19). */
static void test_root_null_and_handler_timeout(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"root\": \"/srv\", \"locations\": ["
                             "{\"path\": \"/none\", \"root\": null, \"timeouts\": {\"handler\": 2.5}},"
                             " {\"path\": \"/kept\"}]}]}");
    for (size_t i = 0; i < 2; i++) {
        const location_conf *l = &c->servers[0].locations[i];
        if (strcmp(l->path, "/none") == 0) {
            assert_null(l->root);
            assert_int_equal(l->handler_ms, 2500);
        } else {
            assert_string_equal(l->root, "/srv");
            assert_int_equal(l->handler_ms, 0);
        }
        assert_int_equal(l->serves_files, 1); /* no module enabled: the core's file rules */
    }
    config_free(c);
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"root\": false}]}]}",
               "servers[0].locations[0].root: expected a non-empty path");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"timeouts\": {\"handler\": -1}}]}]}",
               "servers[0].locations[0].timeouts.handler: expected a number of seconds >= 0");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"timeouts\": {\"handler\": 0}}]}]}",
               "servers[0].locations[0].timeouts.handler: must be more than 0 and at most 86400 seconds");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"timeouts\": {\"body\": 1}}]}]}",
               "servers[0].locations[0].timeouts.body: unknown key");
}

static void test_locations(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"locations\": ["
                             "{\"path\": \"/\"}, {\"path\": \"/img/\"}, {\"path\": \"/img/big\"}, {\"path\": \"/a\"}]}]}");
    const server_conf *s = &c->servers[0];
    assert_int_equal(s->n_locations, 4);
    assert_string_equal(s->locations[0].path, "/img/big");
    assert_string_equal(s->locations[1].path, "/img");
    assert_int_equal(s->locations[1].path_len, 4);
    assert_string_equal(s->locations[1].json_path, "servers[0].locations[1]");
    assert_string_equal(s->locations[2].path, "/a");
    assert_string_equal(s->locations[3].path, "/");
    config_free(c);
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"root\": \"/\"}]}]}", "servers[0].locations[0].path: required");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"img\"}]}]}",
               "servers[0].locations[0].path: must start with '/'");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/a\"}, {\"path\": \"/b\"}, {\"path\": \"/a/\"}]}]}",
               "servers[0].locations[2].path: \"/a\" is already the path of servers[0].locations[0]");
}

static void test_inheritance(void **state)
{
    (void)state;
    cfgtest_write("404.html", "nope");
    cfgtest_write("500.html", "oops");
    cfgtest_write("l404.html", "local nope");
    ws_config *c = must_load(
        "{\"servers\": [{\"listen\": \"80\", \"root\": \"/srv\", \"index\": [\"home.htm\", \"index.html\"],"
        " \"client_max_body_size\": \"5K\", \"methods\": [\"GET\", \"POST\"],"
        " \"error_pages\": {\"404\": \"404.html\", \"500\": \"500.html\"}, \"locations\": ["
        "  {\"path\": \"/in\"},"
        "  {\"path\": \"/own\", \"root\": \"/other\", \"index\": [\"i.txt\"], \"client_max_body_size\": 7,"
        "   \"methods\": [\"DELETE\"], \"error_pages\": {\"404\": \"l404.html\", \"403\": \"404.html\"}}]}]}");
    const server_conf *s = &c->servers[0];
    assert_int_equal(s->n_error_pages, 2);
    const location_conf *in = &s->locations[1], *own = &s->locations[0];
    assert_string_equal(in->path, "/in");
    assert_string_equal(in->root, "/srv");
    assert_int_equal(in->n_index, 2);
    assert_string_equal(in->index[0], "home.htm");
    assert_int_equal(in->max_body, 5120);
    assert_int_equal(in->n_methods, 3);
    assert_string_equal(in->methods[0], "GET");
    assert_string_equal(in->methods[1], "HEAD");
    assert_string_equal(in->methods[2], "POST");
    assert_string_equal(in->allow, "GET, HEAD, POST, OPTIONS");
    assert_int_equal(in->n_error_pages, 2);

    assert_string_equal(own->root, "/other");
    assert_int_equal(own->n_index, 1);
    assert_int_equal(own->max_body, 7);
    assert_string_equal(own->allow, "DELETE, OPTIONS");
    /* The location's own pages first, then the server's that it does not override. */
    assert_int_equal(own->n_error_pages, 3);
    char want[400];
    int seen_500 = 0;
    for (size_t i = 0; i < own->n_error_pages; i++) {
        if (own->error_pages[i].status == 404) {
            assert_true(i < 2);
            snprintf(want, sizeof want, "%s/l404.html", cfgtest_dir);
            assert_string_equal(own->error_pages[i].file, want);
        }
        if (own->error_pages[i].status == 500) {
            assert_int_equal(i, 2);
            seen_500 = 1;
        }
    }
    assert_true(seen_500);
    config_free(c);
}

static void test_error_pages_errors(void **state)
{
    (void)state;
    cfgtest_write("404.html", "nope");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"error_pages\": {\"404\": \"missing.html\"}}]}",
               "servers[0].error_pages.404: cannot read ");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"error_pages\": {\"200\": \"404.html\"}}]}",
               "servers[0].error_pages.200: expected an HTTP status from 300 to 599");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"error_pages\": {\"abc\": \"404.html\"}}]}",
               "servers[0].error_pages.abc: expected an HTTP status");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"error_pages\": {\"404\": 1}}]}", "servers[0].error_pages.404: expected a file path");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"error_pages\": {\"404\": \".\"}}]}", "servers[0].error_pages.404: ");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"error_pages\": [\"404.html\"]}]}", "servers[0].error_pages: expected an object");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"error_pages\": {\"600\": \"404.html\"}}]}]}",
               "servers[0].locations[0].error_pages.600: expected an HTTP status");
}

static void test_methods(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"locations\": ["
                             "{\"path\": \"/a\", \"methods\": [\"GET\"]},"
                             "{\"path\": \"/bb\", \"methods\": [\"POST\", \"OPTIONS\", \"POST\", \"HEAD\", \"GET\"]}]}]}");
    const location_conf *a = &c->servers[0].locations[1], *b = &c->servers[0].locations[0];
    assert_string_equal(a->allow, "GET, HEAD, OPTIONS");
    assert_int_equal(a->n_methods, 2);
    assert_int_equal(b->n_methods, 4);
    assert_string_equal(b->allow, "POST, HEAD, GET, OPTIONS");
    config_free(c);
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"methods\": \"GET\"}]}]}",
               "servers[0].locations[0].methods: expected an array");
    expect_err("{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", \"methods\": [\"\"]}]}]}",
               "servers[0].locations[0].methods[0]: \"\" is not a method name");
}

static void test_return(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"locations\": ["
                             "{\"path\": \"/old\", \"return\": {\"status\": 301, \"location\": \"/new\"}},"
                             "{\"path\": \"/gone\", \"return\": {\"status\": 410, \"body\": \"bye\"}},"
                             "{\"path\": \"/teapot\", \"return\": {\"status\": 418}, \"methods\": [\"GET\"]}]}]}");
    for (size_t i = 0; i < 3; i++) {
        const location_conf *l = &c->servers[0].locations[i];
        if (strcmp(l->path, "/old") == 0) {
            assert_int_equal(l->return_status, 301);
            assert_string_equal(l->return_location, "/new");
            assert_null(l->return_body);
            assert_true(l->any_method);
            assert_string_equal(l->allow, "GET, HEAD, OPTIONS");
        } else if (strcmp(l->path, "/gone") == 0) {
            assert_int_equal(l->return_status, 410);
            assert_string_equal(l->return_body, "bye");
            assert_null(l->return_location);
        } else {
            assert_int_equal(l->return_status, 418);
            assert_null(l->return_body);
            assert_false(l->any_method);
            assert_string_equal(l->allow, "GET, HEAD, OPTIONS");
        }
    }
    config_free(c);
#define LOC(x) "{\"servers\": [{\"listen\": \"80\", \"locations\": [{\"path\": \"/\", " x "}]}]}"
    expect_err(LOC("\"return\": {\"status\": 302}"), "servers[0].locations[0].return.location: required");
    expect_err(LOC("\"return\": {\"status\": 308, \"location\": \"\"}"), "servers[0].locations[0].return.location: required");
    expect_err(LOC("\"return\": {\"status\": 200, \"location\": \"/x\"}"), "servers[0].locations[0].return.location: only used with");
    expect_err(LOC("\"return\": {\"status\": 301, \"location\": \"/x\", \"body\": \"b\"}"), "servers[0].locations[0].return.body: not used");
    expect_err(LOC("\"return\": {\"location\": \"/x\"}"), "servers[0].locations[0].return.status: required");
    expect_err(LOC("\"return\": {\"status\": 99}"), "servers[0].locations[0].return.status: must be between 100 and 599");
    expect_err(LOC("\"return\": {\"status\": \"301\"}"), "servers[0].locations[0].return.status: expected an integer");
    expect_err(LOC("\"return\": {\"status\": 204, \"extra\": 1}"), "servers[0].locations[0].return.extra: unknown key");
    expect_err(LOC("\"return\": 301"), "servers[0].locations[0].return: expected an object");
    expect_err(LOC("\"return\": {\"status\": 200, \"body\": 5}"), "servers[0].locations[0].return.body: expected a string");
}

static void test_vhost_rules(void **state)
{
    (void)state;
    expect_err("{\"servers\": [{\"listen\": \"80\"}, {\"listen\": \"0.0.0.0:80\"}]}",
               "servers[1]: servers[0] and servers[1] both listen on 0.0.0.0:80 without server_names");
    expect_err("{\"servers\": [{\"listen\": [\"81\", \"80\"], \"server_names\": [\"a\", \"Example.com\"]},"
               " {\"listen\": \"82\"}, {\"listen\": \"80\", \"server_names\": [\"EXAMPLE.com\"]}]}",
               "servers[2]: servers[0] and servers[2] both listen on 0.0.0.0:80 with server name \"example.com\"");
    /* Different names on one address: one bind, one group of two servers. */
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"80\", \"server_names\": [\"a\"]},"
                             " {\"listen\": \"80\", \"server_names\": [\"b\"]}, {\"listen\": \"80\", \"server_names\": [\"c\"]}]}");
    assert_int_equal(c->n_binds, 1);
    assert_int_equal(c->binds[0].n_groups, 1);
    assert_int_equal(c->binds[0].groups[0].n_servers, 3);
    assert_ptr_equal(c->binds[0].groups[0].servers[0], &c->servers[0]);
    assert_ptr_equal(c->binds[0].groups[0].servers[2], &c->servers[2]);
    config_free(c);
    /* Different addresses on one port, neither a wildcard: two binds; unnamed servers are fine. */
    c = must_load("{\"servers\": [{\"listen\": \"127.0.0.1:80\"}, {\"listen\": \"127.0.0.2:80\"}]}");
    assert_int_equal(c->n_binds, 2);
    config_free(c);
}

static void test_wildcard_grouping(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": [\"127.0.0.1:80\", \"[::1]:80\"], \"server_names\": [\"local\"]},"
                             " {\"listen\": [\"80\", \"[::]:80\", \"127.0.0.1:81\"]},"
                             " {\"listen\": \"127.0.0.1:80\", \"server_names\": [\"other\"]}]}");
    /* 0.0.0.0:80 carries 127.0.0.1:80; [::]:80 carries [::1]:80; 127.0.0.1:81 stands alone. */
    assert_int_equal(c->n_binds, 3);
    const bind_conf *v4 = NULL, *v6 = NULL, *p81 = NULL;
    for (size_t i = 0; i < c->n_binds; i++) {
        const char *t = c->binds[i].addr.text;
        if (strcmp(t, "0.0.0.0:80") == 0)
            v4 = &c->binds[i];
        else if (strcmp(t, "[::]:80") == 0)
            v6 = &c->binds[i];
        else if (strcmp(t, "127.0.0.1:81") == 0)
            p81 = &c->binds[i];
    }
    assert_non_null(v4);
    assert_non_null(v6);
    assert_non_null(p81);
    assert_int_equal(v4->n_groups, 2);
    assert_string_equal(v4->groups[0].addr.text, "0.0.0.0:80");
    assert_int_equal(v4->groups[0].n_servers, 1);
    assert_ptr_equal(v4->groups[0].servers[0], &c->servers[1]);
    assert_string_equal(v4->groups[1].addr.text, "127.0.0.1:80");
    assert_int_equal(v4->groups[1].n_servers, 2);
    assert_ptr_equal(v4->groups[1].servers[0], &c->servers[0]);
    assert_ptr_equal(v4->groups[1].servers[1], &c->servers[2]);
    assert_int_equal(v6->n_groups, 2);
    assert_string_equal(v6->groups[1].addr.text, "[::1]:80");
    assert_int_equal(p81->n_groups, 1);
    config_free(c);
}

/* ---- modules in locations (tests/testmods/cfgcheck and plain) ---- */

#define MODS "{\"modules_dir\": \"@MODS@\", \"modules\": [\"cfgcheck\", \"plain\"], "
#define MLOC(x) MODS "\"servers\": [{\"listen\": \"80\", \"root\": \"/srv\", \"locations\": [{\"path\": \"/m\", " x "}]}]}"

static void test_module_settings(void **state)
{
    (void)state;
    ws_config *c = must_load(MLOC("\"cfgcheck\": {\"enabled\": true, \"count\": 7, \"limit\": \"3K\", \"timeout\": 1.5,"
                                  " \"name\": \"n\", \"dir\": \"d/e\", \"list\": [\"x\", \"y\"], \"map\": {\"k\": \"v\"}},"
                                  " \"plain\": {}, \"client_max_body_size\": 9"));
    assert_int_equal(c->n_modules, 2);
    assert_string_equal(c->modules[0]->name, "cfgcheck");
    const location_conf *l = &c->servers[0].locations[0];
    assert_int_equal(l->n_handlers, 2);
    assert_ptr_equal(l->handlers[0].mod, c->modules[0]);
    assert_ptr_equal(l->handlers[1].mod, c->modules[1]);
    const cfgcheck_conf *cc = l->handlers[0].conf;
    assert_non_null(cc);
    assert_int_equal(cc->enabled, 1);
    assert_int_equal(cc->count, 7);
    assert_int_equal(cc->limit, 3072);
    assert_true(cc->timeout == 1.5);
    assert_string_equal(cc->name, "n");
    char want[400];
    snprintf(want, sizeof want, "%s/d/e", cfgtest_dir);
    assert_string_equal(cc->dir, want);
    assert_int_equal(cc->n_list, 2);
    assert_string_equal(cc->list[1], "y");
    assert_int_equal(cc->n_map, 1);
    assert_string_equal(cc->map[0], "k");
    assert_string_equal(cc->map[1], "v");
    assert_string_equal(cc->loc_path, "/m");
    assert_string_equal(cc->loc_root, "/srv");
    assert_int_equal(cc->loc_max_body, 9);
    /* Default methods: the union of the enabled modules', GET bringing HEAD. */
    assert_string_equal(l->allow, "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    config_free(c);

    c = must_load(MLOC("\"cfgcheck\": true, \"plain\": false"));
    l = &c->servers[0].locations[0];
    assert_int_equal(l->n_handlers, 1);
    cc = l->handlers[0].conf;
    assert_int_equal(cc->count, 1);
    assert_null(cc->name);
    assert_string_equal(l->allow, "GET, HEAD, POST, OPTIONS");
    config_free(c);

    /* A return location without methods takes any method; Allow lists every loaded module's. */
    c = must_load(MLOC("\"return\": {\"status\": 302, \"location\": \"/\"}"));
    l = &c->servers[0].locations[0];
    assert_true(l->any_method);
    assert_int_equal(l->n_handlers, 0);
    assert_string_equal(l->allow, "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    config_free(c);
}

static void test_module_settings_errors(void **state)
{
    (void)state;
    expect_err(MLOC("\"nosuch\": {}"), "servers[0].locations[0].nosuch: unknown key");
    expect_err(MLOC("\"cfgcheck\": 1"), "servers[0].locations[0].cfgcheck: expected an object");
    expect_err(MLOC("\"cfgcheck\": {\"count\": 101}"), "servers[0].locations[0].cfgcheck.count: must be between 0 and 100");
    expect_err(MLOC("\"cfgcheck\": {\"enabled\": 1}"), "servers[0].locations[0].cfgcheck.enabled: expected true or false");
    expect_err(MLOC("\"cfgcheck\": {\"limit\": \"1Q\"}"), "servers[0].locations[0].cfgcheck.limit: expected a size");
    expect_err(MLOC("\"cfgcheck\": {\"timeout\": -2}"), "servers[0].locations[0].cfgcheck.timeout: expected a number of seconds");
    expect_err(MLOC("\"cfgcheck\": {\"name\": []}"), "servers[0].locations[0].cfgcheck.name: expected a string");
    expect_err(MLOC("\"cfgcheck\": {\"dir\": \"\"}"), "servers[0].locations[0].cfgcheck.dir: expected a non-empty path");
    expect_err(MLOC("\"cfgcheck\": {\"list\": [\"a\", 2]}"), "servers[0].locations[0].cfgcheck.list[1]: expected a string");
    expect_err(MLOC("\"cfgcheck\": {\"map\": {\"a\": 2}}"), "servers[0].locations[0].cfgcheck.map.a: expected a string");
    expect_err(MLOC("\"cfgcheck\": {\"name\": \"bad\"}"), "servers[0].locations[0].cfgcheck.name: must not be \"bad\"");
    expect_err(MLOC("\"cfgcheck\": {\"extra\": 1}"), "servers[0].locations[0].cfgcheck.extra: unknown key");
    expect_err(MLOC("\"cfgcheck\": {\"fail\": true}"), "servers[0].locations[0].cfgcheck: asked to fail");
    expect_err(MLOC("\"cfgcheck\": {\"silentfail\": true}"), "servers[0].locations[0].cfgcheck: refused by module \"cfgcheck\"");
    expect_err(MLOC("\"plain\": {\"x\": 1}"), "servers[0].locations[0].plain.x: unknown key");
}

static void test_module_loading_errors(void **state)
{
    (void)state;
    char want[600];
    snprintf(want, sizeof want, "modules[1]: %s/mod_badabi.so: built for ABI 99.x, this server has %d.%d",
             cfgtest_mods(), WS_ABI_MAJOR, WS_ABI_MINOR);
    expect_err("{\"modules_dir\": \"@MODS@\", \"modules\": [\"plain\", \"badabi\"]," MIN_REST, want);
    expect_err("{\"modules_dir\": \"@MODS@\", \"modules\": [\"cfgcheck\", \"dupname\"]," MIN_REST,
               "modules[1]: two modules are named \"cfgcheck\"");
    expect_err("{\"modules_dir\": \"@MODS@\", \"modules\": [\"plain\", \"plain\"]," MIN_REST,
               "modules[1]: module \"plain\" is listed twice");
    expect_err("{\"modules_dir\": \"@MODS@\", \"modules\": [\"missing\"]," MIN_REST, "modules[0]: ");
    expect_err("{\"modules_dir\": \"@MODS@\", \"modules\": [\"\"]," MIN_REST, "modules[0]: expected a module name");
    /* Nothing stays loaded after a failed config. */
    loaded_module *const *list;
    assert_int_equal(modules_loaded(&list), 0);

    /* A path holding '/' is taken from the config's folder. */
    char json[800];
    snprintf(json, sizeof json, "{\"modules\": [\"%s/mod_plain.so\"]," MIN_REST, cfgtest_mods());
    ws_config *c = must_load(json);
    assert_int_equal(c->n_modules, 1);
    config_free(c);
    assert_int_equal(modules_loaded(&list), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_error_line_column),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_top_level_values),
        cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_server_keys),
        cmocka_unit_test(test_paths_relative_to_config),
        cmocka_unit_test(test_root_null_and_handler_timeout),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_inheritance),
        cmocka_unit_test(test_error_pages_errors),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_return),
        cmocka_unit_test(test_vhost_rules),
        cmocka_unit_test(test_wildcard_grouping),
        cmocka_unit_test(test_module_settings),
        cmocka_unit_test(test_module_settings_errors),
        cmocka_unit_test(test_module_loading_errors),
    };
    return cmocka_run_group_tests(tests, cfgtest_setup, cfgtest_teardown);
}

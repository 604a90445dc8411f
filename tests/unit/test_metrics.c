/* server/metrics.c: series per label set, status classes, histogram, module
 * counters, label escaping, the table limit, sums across forked processes, and
 * the cost of one request's counting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "request.h"
#include "metrics.h"
#include "modules.h"

static char *render(void)
{
    static arena *a;
    if (a)
        arena_free(a);
    a = arena_new(4096);
    size_t len = 0;
    char *t = metrics_render(a, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

/* The value of the sample line that starts with `prefix` (-1: none). */
static long long value(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0 && p[strlen(prefix)] == ' ')
            return atoll(p + strlen(prefix) + 1);
    return -1;
}

static server_conf srv;
static location_conf loc_a, loc_b;
static loaded_module mod;

static void fake_request(request *r, const location_conf *loc, const char *method, int status, uint64_t bytes)
{
    memset(r, 0, sizeof *r);
    r->server = &srv;
    r->loc = loc;
    r->owner = loc == &loc_a ? &mod : NULL;
    r->pub.method = method;
    r->status = status;
    r->body_bytes_sent = bytes;
}

static int setup(void **state)
{
    (void)state;
    static const char *const names[] = {"example.org"};
    srv.names = names;
    srv.n_names = 1;
    srv.json_path = "servers[0]";
    loc_a.path = "/a";
    loc_b.path = "/b\"q\\";
    mod.name = "static";
    return metrics_init();
}

static void test_series_and_classes(void **state)
{
    (void)state;
    request r;
    fake_request(&r, &loc_a, "GET", 200, 10);
    metrics_request(&r, 2000000); /* 2 ms */
    fake_request(&r, &loc_a, "GET", 404, 5);
    metrics_request(&r, 20000000); /* 20 ms */
    fake_request(&r, &loc_a, "BREW", 501, 0);
    metrics_request(&r, 1000);
    fake_request(&r, &loc_b, "POST", 0, 0); /* no status: the client left */
    metrics_request(&r, 30000000000ull); /* 30 s: past the last bucket */
    char *t = render();
    const char *base = "{server=\"example.org\",location=\"/a\",module=\"static\",method=\"GET\"";
    char k[512];
    snprintf(k, sizeof k, "webserv_requests_total%s,status=\"2xx\"}", base);
    assert_int_equal(value(t, k), 1);
    snprintf(k, sizeof k, "webserv_requests_total%s,status=\"4xx\"}", base);
    assert_int_equal(value(t, k), 1);
    assert_int_equal(value(t, "webserv_requests_total{server=\"example.org\",location=\"/a\",module=\"static\","
                             "method=\"other\",status=\"5xx\"}"),
                     1);
    /* Label values escaped; the core as module "-"; no status → "none". */
    assert_int_equal(value(t, "webserv_requests_total{server=\"example.org\",location=\"/b\\\"q\\\\\",module=\"-\","
                             "method=\"POST\",status=\"none\"}"),
                     1);
    snprintf(k, sizeof k, "webserv_response_bytes_total%s}", base);
    assert_int_equal(value(t, k), 15);
    snprintf(k, sizeof k, "webserv_request_duration_seconds_bucket%s,le=\"0.001\"}", base);
    assert_int_equal(value(t, k), 0);
    snprintf(k, sizeof k, "webserv_request_duration_seconds_bucket%s,le=\"0.0025\"}", base);
    assert_int_equal(value(t, k), 1);
    snprintf(k, sizeof k, "webserv_request_duration_seconds_bucket%s,le=\"0.025\"}", base);
    assert_int_equal(value(t, k), 2);
    snprintf(k, sizeof k, "webserv_request_duration_seconds_count%s}", base);
    assert_int_equal(value(t, k), 2);
    const char *b = "{server=\"example.org\",location=\"/b\\\"q\\\\\",module=\"-\",method=\"POST\"";
    snprintf(k, sizeof k, "webserv_request_duration_seconds_bucket%s,le=\"10\"}", b);
    assert_int_equal(value(t, k), 0);
    snprintf(k, sizeof k, "webserv_request_duration_seconds_bucket%s,le=\"+Inf\"}", b);
    assert_int_equal(value(t, k), 1);
}

static void test_module_counters(void **state)
{
    (void)state;
    ws_counter *c = metrics_counter("mod_things_total", "Things\nwith a newline");
    assert_non_null(c);
    assert_ptr_equal(metrics_counter("mod_things_total", "again"), c);
    assert_null(metrics_counter("9bad", "x"));
    assert_null(metrics_counter("bad-name", "x"));
    assert_null(metrics_counter("", "x"));
    metrics_counter_add(c, 5);
    metrics_counter_add(NULL, 5);
    char *t = render();
    assert_int_equal(value(t, "mod_things_total"), 5);
    assert_non_null(strstr(t, "# HELP mod_things_total Things with a newline\n# TYPE mod_things_total counter\n"));
}

/* Four processes add into the same block: the sums are exact. */
static void test_forked_workers_sum(void **state)
{
    (void)state;
    ws_counter *c = metrics_counter("fork_sum_total", "x");
    for (int w = 0; w < 4; w++) {
        pid_t pid = fork();
        if (pid == 0) {
            request r;
            fake_request(&r, &loc_a, "PUT", 201, 1);
            for (int i = 0; i < 10000; i++) {
                metrics_request(&r, 1000);
                metrics_counter_add(c, 1);
            }
            _exit(0);
        }
        assert_true(pid > 0);
    }
    for (int w = 0; w < 4; w++) {
        int st;
        assert_true(wait(&st) > 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    char *t = render();
    assert_int_equal(value(t, "fork_sum_total"), 40000);
    assert_int_equal(value(t, "webserv_requests_total{server=\"example.org\",location=\"/a\",module=\"static\","
                             "method=\"PUT\",status=\"2xx\"}"),
                     40000);
}

/* The cost that every request pays (printed; bounded loosely so a loaded
 * machine does not fail it): a cached series is a probe and a few atomic adds. */
static void test_cost_per_request(void **state)
{
    (void)state;
    request r;
    fake_request(&r, &loc_a, "HEAD", 200, 100);
    struct timespec t0, t1;
    const int n = 1000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++)
        metrics_request(&r, 1000 + (uint64_t)i);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
    printf("metrics_request: %.1f ns per request\n", ns);
    assert_true(ns < 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_and_classes),
        cmocka_unit_test(test_module_counters),
        cmocka_unit_test(test_forked_workers_sum),
        cmocka_unit_test(test_cost_per_request),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

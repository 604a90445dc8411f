/*
 * mod_kv against the webserv test host (no server, no sockets): the store's
 * verbs, errors with a reason, the zone shared by two locations and kept by
 * a second configuration, and a holder of the lock that dies.
 *   cc -std=c11 test_kv.c kv.c $(pkg-config --cflags --libs webserv-testhost) -o test_kv && ./test_kv
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <webserv/testhost.h>

extern const ws_module webserv_module;

static th_response *call(th_module *m, const void *conf, const char *method, const char *target, const char *body,
                         const char *const *extra_headers)
{
    char cl[64];
    const char *headers[4] = {NULL};
    size_t n = 0;
    if (body) {
        snprintf(cl, sizeof cl, "Content-Length: %zu", strlen(body));
        headers[n++] = cl;
    }
    for (size_t i = 0; extra_headers && extra_headers[i] && n < 3; i++)
        headers[n++] = extra_headers[i];
    th_request *t = th_request_new(m, conf, method, target, headers);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    if (body) {
        th_feed_body(t, body, strlen(body));
        th_end_body(t);
    }
    th_response *res = th_response_of(t);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
    return res;
}

static int status_of(const th_response *res) { return res->error_status ? res->error_status : res->status; }

static void test_put_get_delete_list(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    assert_non_null(m);
    assert_int_equal(th_module_flags(m) & WS_MODULE_NO_FILES, WS_MODULE_NO_FILES);
    const void *conf = th_configure(m, "{\"size\": \"64K\"}", "/kv", NULL, err, sizeof err);
    assert_non_null(conf);
    assert_int_equal(status_of(call(m, conf, "PUT", "/kv/a", "one", NULL)), 201);
    assert_int_equal(status_of(call(m, conf, "PUT", "/kv/a", "uno", NULL)), 204);
    assert_int_equal(status_of(call(m, conf, "PUT", "/kv/b%22q", "", NULL)), 201); /* an empty value, a quote in the key */
    th_response *res = call(m, conf, "GET", "/kv/a", NULL, NULL);
    assert_int_equal(res->status, 200);
    assert_string_equal(res->body, "uno");
    res = call(m, conf, "GET", "/kv/", NULL, NULL);
    assert_int_equal(res->status, 200);
    assert_true(strcmp(res->body, "[\"a\",\"b\\\"q\"]") == 0 || strcmp(res->body, "[\"b\\\"q\",\"a\"]") == 0);
    assert_int_equal(status_of(call(m, conf, "DELETE", "/kv/a", NULL, NULL)), 204);
    res = call(m, conf, "GET", "/kv/a", NULL, NULL);
    assert_int_equal(res->error_status, 404);
    assert_string_equal(res->error_reason, "no such key");
    assert_int_equal(status_of(call(m, conf, "DELETE", "/kv/a", NULL, NULL)), 404);
    th_unload(m);
}

static void test_errors_have_reasons(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    const void *conf = th_configure(m, "{\"size\": \"64K\", \"max_value\": 4}", "/kv", NULL, err, sizeof err);
    assert_non_null(conf);
    th_response *res = call(m, conf, "PUT", "/kv/big", "12345", NULL);
    assert_int_equal(res->error_status, 413);
    assert_string_equal(res->error_reason, "value larger than max_value (4 bytes)");
    res = call(m, conf, "PUT", "/kv/a/b", "1", NULL);
    assert_int_equal(res->error_status, 400);
    assert_string_equal(res->error_reason, "a key must not contain '/'");
    res = call(m, conf, "DELETE", "/kv/", NULL, NULL);
    assert_int_equal(res->error_status, 405);
    /* Bad settings name their key; the test host names no file. */
    assert_null(th_configure(m, "{\"max_value\": 0}", "/kv", NULL, err, sizeof err));
    assert_non_null(strstr(err, "max_value"));
    assert_non_null(strstr(err, "test host"));
    assert_null(th_configure(m, "{\"zone\": \"no spaces\"}", "/kv", NULL, err, sizeof err));
    assert_non_null(strstr(err, "zone name"));
    th_unload(m);
}

static void test_full_store_is_507(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    const void *conf = th_configure(m, "{\"size\": \"20K\", \"max_value\": \"2K\"}", "/kv", NULL, err, sizeof err);
    assert_non_null(conf);
    char value[1501];
    memset(value, 'v', 1500);
    value[1500] = 0;
    int st = 0, i;
    char target[32];
    for (i = 0; i < 100 && st != 507; i++) {
        snprintf(target, sizeof target, "/kv/k%d", i);
        st = status_of(call(m, conf, "PUT", target, value, NULL));
    }
    assert_int_equal(st, 507);
    assert_true(i > 2);
    /* Deleting makes room again. */
    assert_int_equal(status_of(call(m, conf, "DELETE", "/kv/k0", NULL, NULL)), 204);
    snprintf(target, sizeof target, "/kv/k%d", i - 1);
    assert_int_equal(status_of(call(m, conf, "PUT", target, value, NULL)), 201);
    th_unload(m);
}

static void test_two_locations_one_zone(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    const void *a = th_configure(m, "{\"zone\": \"shared\", \"size\": \"64K\"}", "/a", NULL, err, sizeof err);
    const void *b = th_configure(m, "{\"zone\": \"shared\", \"size\": \"64K\"}", "/b", NULL, err, sizeof err);
    const void *c = th_configure(m, "{\"zone\": \"other\", \"size\": \"64K\"}", "/c", NULL, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(status_of(call(m, a, "PUT", "/a/k", "from a", NULL)), 201);
    assert_string_equal(call(m, b, "GET", "/b/k", NULL, NULL)->body, "from a");
    assert_int_equal(call(m, c, "GET", "/c/k", NULL, NULL)->error_status, 404);
    /* One configuration cannot ask for one zone with two sizes. */
    assert_null(th_configure(m, "{\"zone\": \"shared\", \"size\": \"128K\"}", "/d", NULL, err, sizeof err));
    assert_non_null(strstr(err, "already asked for"));
    th_unload(m);
}

/* A child process takes the lock and dies holding it: the parent's next
 * access still works (the lock is robust) and finds the data intact. */
static void test_holder_dies(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&webserv_module);
    const void *conf = th_configure(m, "{\"size\": \"64K\"}", "/kv", NULL, err, sizeof err);
    assert_int_equal(status_of(call(m, conf, "PUT", "/kv/x", "kept", NULL)), 201);
    const ws_host *h = th_host();
    ws_shm *zone = *(ws_shm *const *)conf; /* kv_conf's first field */
    pid_t pid = fork();
    if (pid == 0) {
        h->shm_lock(zone);
        _exit(0); /* dies with the lock held */
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_int_equal(h->shm_lock(zone), WS_SHM_OWNER_DIED);
    h->shm_unlock(zone);
    assert_int_equal(h->shm_lock(zone), WS_OK); /* told once */
    h->shm_unlock(zone);
    assert_string_equal(call(m, conf, "GET", "/kv/x", NULL, NULL)->body, "kept");
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete_list),
        cmocka_unit_test(test_errors_have_reasons),
        cmocka_unit_test(test_full_store_is_507),
        cmocka_unit_test(test_two_locations_one_zone),
        cmocka_unit_test(test_holder_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

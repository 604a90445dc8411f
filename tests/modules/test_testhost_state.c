/* The test host's ABI 1.2 parts: zones, write_ref, error_reason, on_reload, flags, and its error prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testhost.h"

static const ws_host *host;
static int releases, reloads;
static const void *seen_old, *seen_new;

typedef struct conf {
    ws_shm *zone;
    int n;
} conf;

static int m_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int m_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    conf *c = host->cfg_alloc(s, sizeof *c);
    long long n = 0;
    if (host->cfg_int(s, "n", 0, 10, &n) < 0)
        return -1;
    c->n = (int)n;
    c->zone = host->shm_zone(s, "z", 4096);
    *out = c;
    return c->zone ? 0 : -1;
}

static void m_on_reload(const void *old_conf, const void *new_conf)
{
    reloads++;
    seen_old = old_conf;
    seen_new = new_conf;
}

static int m_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void released(void *arg)
{
    (void)arg;
    releases++;
}

static int m_handle(ws_request *r)
{
    if (strcmp(r->path, "/bad") == 0)
        return host->error_reason(r, 422, "n must be even"), 0;
    static const char text[] = "by reference";
    host->set_status(r, 200);
    host->write_ref(r, text, sizeof text - 1, released, NULL);
    host->finish(r);
    return 0;
}

static const char *const methods[] = {"GET", NULL};
static const ws_module mod = {
    WS_MODULE_HEADER, .name = "st", .methods = methods, .init = m_init, .configure = m_configure,
    .match = m_match, .handle = m_handle, .on_reload = m_on_reload, .flags = WS_MODULE_NO_FILES,
};

static void test_state_functions(void **state)
{
    (void)state;
    char err[256];
    th_module *m = th_load(&mod);
    assert_int_equal(th_module_flags(m), WS_MODULE_NO_FILES);
    const void *a = th_configure(m, "{\"n\": 1}", "/", NULL, err, sizeof err);
    const void *b = th_configure(m, "{\"n\": 2}", "/", NULL, err, sizeof err);
    assert_non_null(a);
    assert_ptr_equal(((const conf *)a)->zone, ((const conf *)b)->zone); /* one zone per name */
    assert_null(th_configure(m, "{\"n\": 11}", "/", NULL, err, sizeof err));
    assert_string_equal(err, "test host: servers[0].locations[0].st.n: must be between 0 and 10");

    th_request *t = th_request_new(m, a, "GET", "/x", NULL);
    th_dispatch(t);
    th_response *res = th_response_of(t);
    assert_string_equal(res->body, "by reference");
    assert_int_equal(res->write_refs, 1);
    assert_int_equal(res->releases, 1);
    assert_int_equal(releases, 1);
    th_request_end(t);

    t = th_request_new(m, a, "GET", "/bad", NULL);
    th_dispatch(t);
    res = th_response_of(t);
    assert_int_equal(res->error_status, 422);
    assert_string_equal(res->error_reason, "n must be even");
    th_request_end(t);

    th_reload(m, a, b);
    assert_int_equal(reloads, 1);
    assert_ptr_equal(seen_old, a);
    assert_ptr_equal(seen_new, b);

    /* Outside configure() a zone cannot be asked for. */
    assert_null(host->shm_zone(NULL, "z", 4096));
    ws_shm *z = ((const conf *)a)->zone;
    assert_int_equal(host->shm_lock(z), WS_OK);
    assert_int_equal(host->shm_lock(z), WS_ERROR); /* held already: no self-deadlock */
    void **root = host->shm_root(z);
    assert_null(*root);
    *root = host->shm_alloc(z, 100);
    assert_non_null(*root);
    assert_null(host->shm_alloc(z, 1 << 20)); /* larger than the zone */
    host->shm_free(z, *root);
    host->shm_unlock(z);
    th_unload(m);
}

/* A module built for ABI 1.1 (a shorter descriptor): no flags, no on_reload read past its end. */
static void test_older_descriptor(void **state)
{
    (void)state;
    ws_module old = mod;
    old.size = (uint32_t)offsetof(ws_module, flags);
    old.abi_minor = 1;
    th_module *m = th_load(&old);
    assert_int_equal(th_module_flags(m), 0);
    int before = reloads;
    th_reload(m, NULL, NULL);
    assert_int_equal(reloads, before);
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_functions),
        cmocka_unit_test(test_older_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* modules_acquire/release (SPEC §5): the ABI check, refusals naming the file, sharing between configs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"

static char mods[512];
static char err[1024];

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(mods, sizeof mods, "%s/tests/modules", b ? b : "build");
    return 0;
}

/* Loading `name` must fail with "<dir>/mod_<name>.so: <want>…". */
static void expect_refused(const char *name, const char *want)
{
    err[0] = '\0';
    loaded_module *m = modules_acquire(name, mods, NULL, err, sizeof err);
    modules_release(m);
    assert_null(m);
    char full[1200];
    snprintf(full, sizeof full, "%s/mod_%s.so: %s", mods, name, want);
    if (strncmp(err, full, strlen(full)) != 0)
        fail_msg("got:  %s\nwant: %s", err, full);
    assert_null(strchr(err, '\n'));
}

static void test_good_module(void **state)
{
    (void)state;
    loaded_module *m = modules_acquire("cfgcheck", mods, NULL, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    assert_string_equal(m->name, "cfgcheck");
    assert_int_equal(m->refs, 1);
    assert_non_null(m->dl);
    assert_non_null(m->d.configure);
    assert_int_equal(m->d.size, sizeof(ws_module));
    assert_true(module_declares(m, "GET", 3));
    assert_true(module_declares(m, "POST", 4));
    assert_false(module_declares(m, "PUT", 3));
    assert_false(module_declares(m, "GE", 2));
    assert_false(module_declares(m, "get", 3));
    loaded_module *const *list;
    assert_int_equal(modules_loaded(&list), 1);
    assert_ptr_equal(list[0], m);
    modules_release(m);
    assert_int_equal(modules_loaded(&list), 0);
}

static void test_shared_between_configs(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/../modules/mod_plain.so", mods); /* another spelling of the same file */
    loaded_module *a = modules_acquire("plain", mods, NULL, err, sizeof err);
    loaded_module *b = modules_acquire(path, NULL, "/", err, sizeof err);
    loaded_module *c = modules_acquire("cfgcheck", mods, NULL, err, sizeof err);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_int_equal(a->refs, 2);
    assert_int_equal(a->index, 0);
    assert_int_equal(c->index, 1);
    loaded_module *const *list;
    assert_int_equal(modules_loaded(&list), 2);
    modules_release(a);
    assert_int_equal(modules_loaded(&list), 2);
    modules_release(b);
    assert_int_equal(modules_loaded(&list), 1);
    assert_ptr_equal(list[0], c);
    assert_int_equal(c->index, 0);
    modules_release(c);
    modules_release(NULL);
}

static void test_relative_spec(void **state)
{
    (void)state;
    /* A spec holding '/' is taken from config_dir. */
    loaded_module *m = modules_acquire("modules/mod_plain.so", NULL, mods, err, sizeof err);
    assert_null(m);
    assert_non_null(strstr(err, "cannot load module"));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/..", mods);
    m = modules_acquire("modules/mod_plain.so", "/nowhere", dir, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    modules_release(m);
}

static void test_older_descriptor(void **state)
{
    (void)state;
    /* tinydesc's size ends at `methods`: its init (which refuses) must not be seen. */
    loaded_module *m = modules_acquire("tinydesc", mods, NULL, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    assert_null(m->d.init);
    assert_null(m->d.handle);
    assert_true(module_declares(m, "GET", 3));
    modules_release(m);
}

static void test_refusals(void **state)
{
    (void)state;
    char want[200];
    snprintf(want, sizeof want, "built for ABI 99.x, this server has %d.%d", WS_ABI_MAJOR, WS_ABI_MINOR);
    expect_refused("badabi", want);
    snprintf(want, sizeof want, "built for ABI %d.%d, newer than this server's %d.%d", WS_ABI_MAJOR, WS_ABI_MINOR + 7,
             WS_ABI_MAJOR, WS_ABI_MINOR);
    expect_refused("newminor", want);
    expect_refused("nosymbol", "not a webserv module (no symbol \"webserv_module\")");
    expect_refused("initfail", "module \"initfail\" refused to start (init returned 3)");
    expect_refused("smalldesc", "descriptor too small (8 bytes; at least");
    expect_refused("noname", "module has no name");
    expect_refused("nonexistent", "cannot load module: ");
    loaded_module *const *list;
    assert_int_equal(modules_loaded(&list), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_module),
        cmocka_unit_test(test_shared_between_configs),
        cmocka_unit_test(test_relative_spec),
        cmocka_unit_test(test_older_descriptor),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * Helpers for tests that need a config file: a private temp folder, files
 * written into it, and config_load on a JSON text where "@MODS@" stands for
 * the folder of the test modules ($WEBSERV_BUILD/tests/modules); and the two
 * checks the config tests make (expect_err, must_load).
 */
#ifndef CFGTEST_H
#define CFGTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char cfgtest_dir[256];
static char cfgtest_file[300];
static char cfgtest_err[1024];

static const char *cfgtest_mods(void)
{
    static char buf[512];
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(buf, sizeof buf, "%s/tests/modules", b ? b : "build");
    return buf;
}

static void cfgtest_write(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cfgtest_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static int cfgtest_setup(void **state)
{
    (void)state;
    snprintf(cfgtest_dir, sizeof cfgtest_dir, "/tmp/webserv-cfgtest-XXXXXX");
    if (!mkdtemp(cfgtest_dir))
        return -1;
    snprintf(cfgtest_file, sizeof cfgtest_file, "%s/server.json", cfgtest_dir);
    return 0;
}

static int cfgtest_teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cfgtest_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* When WEBSERV_CONFIG_CORPUS names a folder, every config a test loads is
 * kept there with the server's verdict, for the schema agreement test
 * (tests/schema/test_schema_corpus.py): N.json (the text) and N.meta
 * ("accepted", or "refused" and the error on the next line). */
static void cfgtest_record(const char *text, const char *err)
{
    static unsigned n;
    const char *dir = getenv("WEBSERV_CONFIG_CORPUS");
    char path[600];
    if (!dir || !dir[0])
        return;
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    if (system(path) != 0)
        return;
    snprintf(path, sizeof path, "%s/unit-%d-%u.json", dir, (int)getpid(), n);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/unit-%d-%u.meta", dir, (int)getpid(), n++);
    if ((f = fopen(path, "w"))) {
        fprintf(f, err ? "refused\n%s\n" : "accepted\n", err);
        fclose(f);
    }
}

/* Write json (with @MODS@ replaced) as server.json and load it. */
static ws_config *cfgtest_load(const char *json)
{
    const char *mods = cfgtest_mods();
    size_t cap = strlen(json) + 1;
    for (const char *p = json; (p = strstr(p, "@MODS@")); p++)
        cap += strlen(mods);
    char *text = malloc(cap), *o = text;
    for (const char *p = json; *p;) {
        if (strncmp(p, "@MODS@", 6) == 0) {
            o += sprintf(o, "%s", mods);
            p += 6;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    cfgtest_write("server.json", text);
    cfgtest_err[0] = '\0';
    ws_config *c = config_load(cfgtest_file, cfgtest_err, sizeof cfgtest_err);
    cfgtest_record(text, c ? NULL : cfgtest_err);
    free(text);
    return c;
}

/* For cmocka tests (cmocka.h comes before this header): the load must fail
 * with "<file>: <want>…" (want is a prefix of the rest), in one line. */
static inline void expect_err(const char *json, const char *want)
{
    ws_config *c = cfgtest_load(json);
    config_free(c);
    assert_null(c);
    char full[1200];
    snprintf(full, sizeof full, "%s: %s", cfgtest_file, want);
    if (strncmp(cfgtest_err, full, strlen(full)) != 0)
        fail_msg("got:  %s\nwant: %s", cfgtest_err, full);
    assert_null(strchr(cfgtest_err, '\n'));
}

/* The load must succeed; the caller frees the config. */
static inline ws_config *must_load(const char *json)
{
    ws_config *c = cfgtest_load(json);
    if (!c)
        fail_msg("load failed: %s", cfgtest_err);
    return c;
}

#endif

/*
 * libFuzzer target for config_load: the fuzzed bytes become a config file in
 * a temporary folder. Besides crashes, leaks and sanitizer reports it checks
 * the loader's promises: a refused config comes with an error message, an
 * accepted one has at least one server and one socket to open.
 *
 * No shared object is ever loaded: when the input is a JSON object its
 * "modules_dir" is replaced by a folder that does not exist and every module
 * given as a path is moved under it, so module names fail cleanly (the error
 * paths of the loader are what is fuzzed, not dlopen of random files).
 * Input that is not a JSON object is written as it is (syntax errors).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define NOWHERE "/nonexistent-webserv-fuzz"

static char dir[64];
static char path[128];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/webserv-fuzz-config-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/server.json", dir);
    atexit(cleanup);
    return 0;
}

/* Module paths go under NOWHERE ("/nonexistent/../x" fails too: the kernel
 * resolves components in order). */
static void disarm_modules(json_t *root)
{
    json_object_set_new(root, "modules_dir", json_string(NOWHERE));
    json_t *mods = json_object_get(root, "modules");
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m) {
        const char *s = json_string_value(m);
        if (s && strchr(s, '/')) {
            size_t n = strlen(NOWHERE) + strlen(s) + 2;
            char *p = malloc(n);
            if (!p)
                abort();
            snprintf(p, n, "%s/%s", NOWHERE, s);
            json_string_set(m, p);
            free(p);
        }
    }
}

static int write_config(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root && json_is_object(root)) {
        disarm_modules(root);
        if (json_dumpf(root, f, JSON_INDENT(1)) < 0) {
            fclose(f);
            json_decref(root);
            return -1;
        }
    } else if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        json_decref(root);
        return -1;
    }
    json_decref(root);
    return fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    if (write_config(data, size) < 0)
        abort();
    char err[2048];
    err[0] = '\0';
    ws_config *c = config_load(path, err, sizeof err);
    if (!c) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
            abort(); /* every refusal says why, in a terminated string */
        return 0;
    }
    if (c->n_servers == 0 || c->n_binds == 0)
        abort();
    config_free(c);
    return 0;
}

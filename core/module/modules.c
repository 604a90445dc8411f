/*
 * Loading modules (SPEC §5): dlopen, the ABI check, init(), and a registry
 * that shares one loaded copy between configurations, so a SIGHUP reload
 * reuses the modules it still names and unloads the rest at the last release.
 */
#include "modules.h"

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static loaded_module **registry;
static size_t n_registry, cap_registry;

/* The smallest descriptor we can use: up to and including `methods`. */
#define WS_MODULE_MIN_SIZE (offsetof(ws_module, methods) + sizeof(((ws_module *)0)->methods))

static char *resolve_path(const char *spec, const char *modules_dir, const char *config_dir)
{
    char *p = NULL;
    int n;
    if (!strchr(spec, '/'))
        n = asprintf(&p, "%s/mod_%s.so", modules_dir ? modules_dir : ".", spec);
    else if (spec[0] == '/' || !config_dir)
        n = asprintf(&p, "%s", spec);
    else
        n = asprintf(&p, "%s/%s", config_dir, spec);
    return n < 0 ? NULL : p;
}

static loaded_module *registry_find(const char *path)
{
    for (size_t i = 0; i < n_registry; i++)
        if (strcmp(registry[i]->path, path) == 0)
            return registry[i];
    return NULL;
}

static int registry_add(loaded_module *m)
{
    if (n_registry == cap_registry) {
        size_t cap = cap_registry ? 2 * cap_registry : 8;
        loaded_module **r = realloc(registry, cap * sizeof *r);
        if (!r)
            return -1;
        registry = r;
        cap_registry = cap;
    }
    m->index = n_registry;
    registry[n_registry++] = m;
    return 0;
}

/* The ABI and shape checks; returns NULL or why the descriptor is refused. */
static const char *check_descriptor(const ws_module *d, char *why, size_t len)
{
    if (d->abi_major != WS_ABI_MAJOR)
        snprintf(why, len, "built for ABI %u.x, this server has %d.%d", d->abi_major, WS_ABI_MAJOR, WS_ABI_MINOR);
    else if (d->abi_minor > WS_ABI_MINOR)
        snprintf(why, len, "built for ABI %u.%u, newer than this server's %d.%d", d->abi_major, d->abi_minor,
                 WS_ABI_MAJOR, WS_ABI_MINOR);
    else if (d->size < WS_MODULE_MIN_SIZE)
        snprintf(why, len, "descriptor too small (%u bytes; at least %zu needed)", d->size, WS_MODULE_MIN_SIZE);
    else
        return NULL;
    return why;
}

/* dlopen + descriptor copy + init; on failure NULL and err filled. */
static loaded_module *load(const char *path, char *err, size_t errlen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        /* dlerror() usually starts with the path too: say it once. */
        const char *why = dlerror();
        size_t n = strlen(path);
        if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2;
        snprintf(err, errlen, "%s: cannot load module: %s", path, why);
        return NULL;
    }
    const ws_module *d = dlsym(dl, WS_MODULE_SYMBOL);
    char why[256];
    int rc;
    loaded_module *m = NULL;
    if (!d) {
        snprintf(err, errlen, "%s: not a webserv module (no symbol \"%s\")", path, WS_MODULE_SYMBOL);
    } else if (check_descriptor(d, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
    } else if (!(m = calloc(1, sizeof *m)) || !(m->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
    } else {
        /* An older minor's descriptor is shorter: the rest stays zero (absent callbacks). */
        memcpy(&m->d, d, d->size < sizeof m->d ? d->size : sizeof m->d);
        m->d.size = sizeof m->d;
        m->name = m->d.name;
        m->dl = dl;
        if (!m->name || !m->name[0]) {
            snprintf(err, errlen, "%s: module has no name", path);
        } else if (m->d.init && (rc = m->d.init(&ws_core_host)) != 0) {
            snprintf(err, errlen, "%s: module \"%s\" refused to start (init returned %d)", path, m->name, rc);
        } else if (registry_add(m) == 0) {
            m->refs = 1;
            return m;
        } else {
            if (m->d.fini)
                m->d.fini();
            snprintf(err, errlen, "%s: out of memory", path);
        }
    }
    if (m)
        free(m->path);
    free(m);
    dlclose(dl);
    return NULL;
}

loaded_module *modules_acquire(const char *spec, const char *modules_dir, const char *config_dir, char *err,
                               size_t errlen)
{
    char *path = resolve_path(spec, modules_dir, config_dir);
    if (!path) {
        snprintf(err, errlen, "%s: out of memory", spec);
        return NULL;
    }
    /* The canonical path is the registry key, so two spellings share one copy. */
    char real[PATH_MAX];
    const char *key = realpath(path, real) ? real : path;
    loaded_module *m = registry_find(key);
    if (m)
        m->refs++;
    else
        m = load(key, err, errlen);
    free(path);
    return m;
}

void modules_release(loaded_module *m)
{
    if (!m || --m->refs > 0)
        return;
    if (m->d.fini)
        m->d.fini();
    if (m->dl)
        dlclose(m->dl);
    /* Keep the registry dense and in load order; later modules move down one. */
    for (size_t i = m->index + 1; i < n_registry; i++) {
        registry[i - 1] = registry[i];
        registry[i - 1]->index = i - 1;
    }
    if (--n_registry == 0) {
        free(registry);
        registry = NULL;
        cap_registry = 0;
    }
    free(m->path);
    free(m);
}

int module_declares(const loaded_module *m, const char *method, size_t n)
{
    if (!m->d.methods)
        return 0;
    for (const char *const *p = m->d.methods; *p; p++)
        if (strlen(*p) == n && memcmp(*p, method, n) == 0)
            return 1;
    return 0;
}

size_t modules_loaded(loaded_module *const **out)
{
    *out = registry;
    return n_registry;
}

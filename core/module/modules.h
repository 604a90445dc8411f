/*
 * Loading modules: dlopen, the ABI check, the one host table, and a registry
 * that shares a module between the configurations that name it (a SIGHUP
 * reload keeps the modules it still names loaded; the rest are unloaded once
 * no config refers to them).
 */
#ifndef WEBSERV_MODULES_H
#define WEBSERV_MODULES_H

#include <stddef.h>
#include <stdint.h>

#include "webserv/module.h"

typedef struct loaded_module {
    ws_module d;          /* the descriptor, zero-filled past the module's own size */
    const char *name;     /* d.name */
    char *path;           /* the .so as resolved */
    void *dl;             /* dlopen handle; NULL for built-in test modules */
    int refs;             /* configs that use it */
    uint64_t requests;    /* requests it took (for ws_stats) */
    size_t index;         /* position in the registry (stable while loaded) */
} loaded_module;

/* What host functions called from configure() need to know (the settings
 * object's user pointer, settings_set_user): whose configure() this is, and
 * the zones of the configuration being built. */
struct shm_zone_set;
typedef struct module_configuring {
    const loaded_module *m;
    struct shm_zone_set *zones;
    const ws_upstream *upstreams; /* the configuration's "upstreams", for host->cfg_upstream */
    size_t n_upstreams;
} module_configuring;

/* The host function table handed to every module (core/host.c). */
extern const ws_host ws_core_host;

/*
 * Resolve `spec` (a bare name → <modules_dir>/mod_<name>.so; a value holding a
 * '/' → that path, relative to config_dir) and load it, or take another
 * reference to it if already loaded. On failure NULL and one line in err that
 * names the file: wrong ABI major, newer minor, missing symbol, not a module,
 * init refused.
 */
loaded_module *modules_acquire(const char *spec, const char *modules_dir, const char *config_dir, char *err,
                               size_t errlen);
void modules_release(loaded_module *m); /* fini + dlclose at the last reference */

/* True when the module's methods list holds `method` (exact, case-sensitive). */
int module_declares(const loaded_module *m, const char *method, size_t n);

/* Every module currently loaded (for stats). */
size_t modules_loaded(loaded_module *const **out);

#endif

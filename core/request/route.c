#include "route.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "fs_cache.h"
#include "modules.h"

static int method_listed(const location_conf *l, const char *m)
{
    for (size_t i = 0; i < l->n_methods; i++)
        if (strcmp(l->methods[i], m) == 0)
            return 1;
    return 0;
}

/* "A method that no loaded module declares" (SPEC §3) is 501; the core itself
 * knows GET, HEAD and OPTIONS. */
static int method_known(const ws_config *c, const char *m)
{
    size_t n = strlen(m);
    for (size_t i = 0; i < c->n_modules; i++)
        if (module_declares(c->modules[i], m, n))
            return 1;
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0;
}

route_method route_check_method(const ws_config *c, const location_conf *l, const char *method)
{
    if (strcmp(method, "OPTIONS") == 0)
        return ROUTE_OPTIONS;
    if (l->any_method || method_listed(l, method))
        return ROUTE_METHOD_OK;
    return method_known(c, method) ? ROUTE_NOT_ALLOWED : ROUTE_UNKNOWN;
}

static void stat_into(ws_request *p)
{
    if (fs_cache_stat(p->fs_path, &p->fs_stat) < 0) {
        memset(&p->fs_stat, 0, sizeof p->fs_stat);
        p->fs_type = (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG) ? WS_FS_MISSING : WS_FS_OTHER;
        return;
    }
    p->fs_type = S_ISREG(p->fs_stat.st_mode) ? WS_FS_FILE : S_ISDIR(p->fs_stat.st_mode) ? WS_FS_DIR : WS_FS_OTHER;
}

/* The first index file that is a regular file replaces the folder. */
static void apply_index(struct arena *a, const location_conf *l, ws_request *p)
{
    for (size_t i = 0; i < l->n_index; i++) {
        struct stat st;
        const char *cand = arena_printf(a, "%s%s", p->fs_path, l->index[i]);
        if (cand && fs_cache_stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            p->path = arena_printf(a, "%s%s", p->path, l->index[i]);
            p->fs_path = cand;
            p->fs_type = WS_FS_FILE;
            p->fs_stat = st;
            return;
        }
    }
}

int route_map_path(struct arena *a, const location_conf *l, ws_request *p)
{
    p->root = l->root;
    /* Folders, index files and the slash redirect are for modules that serve
     * files; a location whose modules all declared WS_MODULE_NO_FILES gets
     * its path as asked, and no stat. */
    if (!l->root || !l->serves_files) {
        p->fs_type = WS_FS_NONE;
        p->fs_path = NULL;
        return 0;
    }
    /* root + path, joined by hand: this runs for every request (printf's
     * machinery cost more than the rest of the mapping). */
    size_t nr = strlen(l->root), np = strlen(p->path);
    char *fs = arena_alloc_raw(a, nr + np + 1);
    if (fs) {
        memcpy(fs, l->root, nr);
        memcpy(fs + nr, p->path, np + 1);
    }
    p->fs_path = fs;
    if (!p->fs_path) {
        p->fs_type = WS_FS_OTHER;
        return 0;
    }
    stat_into(p);
    if (p->fs_type != WS_FS_DIR)
        return 0;
    int get = strcmp(p->method, "GET") == 0 || strcmp(p->method, "HEAD") == 0;
    if (p->path[strlen(p->path) - 1] != '/')
        return get; /* other methods reach the modules as they are (an upload must not be redirected) */
    if (get || strcmp(p->method, "POST") == 0)
        apply_index(a, l, p);
    return 0;
}

int route_pick_module(const location_conf *l, ws_request *p, route_ask_fn fn, void *arg)
{
    size_t mlen = strlen(p->method);
    for (size_t i = 0; i < l->n_handlers; i++) {
        loaded_module *m = l->handlers[i].mod;
        route_ask outcome;
        if (!module_declares(m, p->method, mlen)) {
            outcome = ASK_NOT_DECLARED;
        } else if (!m->d.match || !m->d.handle) {
            outcome = ASK_NO_HANDLER;
        } else {
            p->conf = l->handlers[i].conf;
            outcome = m->d.match(p) == WS_TAKE ? ASK_TAKEN : ASK_DECLINED;
        }
        if (fn)
            fn(arg, m, outcome);
        if (outcome == ASK_TAKEN)
            return (int)i;
    }
    p->conf = NULL;
    return -1;
}

int route_nobody_status(const ws_request *p)
{
    return p->fs_type == WS_FS_FILE || p->fs_type == WS_FS_DIR || p->fs_type == WS_FS_OTHER ? 403 : 404;
}

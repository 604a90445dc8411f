/*
 * Which file is the script. The path names it directly (/app/x.php), names
 * a folder (its `index` is the script), or, with split_path, runs past it
 * (/app/x.php/extra: PATH_INFO "/extra", RFC 3875 §4.1.5). The script must be
 * a regular file under the root, inside this location, and its name must end
 * with one of `extensions`; anything else is not this module's.
 */
#include "fastcgi.h"

#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_script_name(const fcgi_conf *conf, const char *path, size_t n)
{
    for (size_t i = 0; i < conf->n_extensions; i++) {
        size_t el = strlen(conf->extensions[i]);
        if (n > el && path[n - el - 1] != '/' && strncasecmp(path + n - el, conf->extensions[i], el) == 0)
            return 1;
    }
    return 0;
}

static char *dup_n(ws_request *r, const char *s, size_t n)
{
    char *d = fcgi_host->alloc(r, n + 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int regular(const char *root, const char *path, size_t n)
{
    char buf[PATH_MAX];
    size_t rl = strlen(root);
    if (rl + n >= sizeof buf)
        return 0;
    memcpy(buf, root, rl);
    memcpy(buf + rl, path, n);
    buf[rl + n] = '\0';
    struct stat st;
    return stat(buf, &st) == 0 && S_ISREG(st.st_mode);
}

int fcgi_find_script(ws_request *r, const fcgi_conf *conf, cgi_env_script *out)
{
    if (!r->root || !r->path || r->path[0] != '/')
        return 0;
    const char *path = r->path;
    size_t plen = strlen(path), n = 0;
    if (r->fs_type == WS_FS_DIR) {
        const char *sep = path[plen - 1] == '/' ? "" : "/";
        size_t il = strlen(conf->index), sl = strlen(sep);
        char *p = fcgi_host->alloc(r, plen + sl + il + 1);
        if (!p)
            return 0;
        memcpy(p, path, plen);
        memcpy(p + plen, sep, sl);
        memcpy(p + plen + sl, conf->index, il + 1);
        path = p;
        plen = strlen(p);
        n = is_script_name(conf, path, plen) && regular(r->root, path, plen) ? plen : 0;
    } else if (r->fs_type == WS_FS_FILE) {
        n = is_script_name(conf, path, plen) ? plen : 0;
    } else if (r->fs_type == WS_FS_MISSING && conf->split_path) {
        for (size_t i = 1; i < plen && !n; i++)
            if (path[i] == '/' && is_script_name(conf, path, i) && regular(r->root, path, i))
                n = i;
    }
    if (n == 0 || !cgi_script_in_location(r, n))
        return 0;
    size_t rl = strlen(r->root);
    char *file = fcgi_host->alloc(r, rl + n + 1);
    if (!file)
        return 0;
    memcpy(file, r->root, rl);
    memcpy(file + rl, path, n);
    out->filename = file;
    out->name = dup_n(r, path, n);
    out->path_info = dup_n(r, path + n, plen - n);
    return out->name && out->path_info;
}

/* Request path → upload folder and target; nothing outside the folder. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "upload.h"

static int inside(const char *base, const char *p)
{
    size_t n = strlen(base);
    if (n == 1 && base[0] == '/')
        return p[0] == '/';
    return strncmp(p, base, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* The request path below the location prefix, without leading slashes. */
static const char *relative(const ws_request *r, const up_conf *conf)
{
    const char *path = r->request_path ? r->request_path : r->path;
    size_t n = strlen(conf->location);
    while (n > 0 && conf->location[n - 1] == '/')
        n--;
    if (strncmp(path, conf->location, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return NULL;
    path += n;
    while (*path == '/')
        path++;
    return path;
}

int up_resolve_begin(ws_request *r, const up_conf *conf, int as_folder, up_target *t)
{
    memset(t, 0, sizeof *t);
    const char *rel = relative(r, conf);
    if (!rel)
        return UP_FAILED;
    size_t len = strlen(rel);
    t->slash = len == 0 || rel[len - 1] == '/';
    while (len > 0 && rel[len - 1] == '/')
        len--;
    size_t cut = len; /* start of the last component */
    if (!as_folder) {
        while (cut > 0 && rel[cut - 1] != '/')
            cut--;
    }
    t->name = up_host->strdup(r, rel + cut);
    t->rel = rel;
    t->cut = cut;
    t->base = conf->base;
    /* Room for what up_resolve_fs finds: it may run on a pool thread,
     * where request memory cannot be allocated. */
    t->base_real = up_host->alloc(r, PATH_MAX);
    t->folder = up_host->alloc(r, PATH_MAX);
    t->path = up_host->alloc(r, PATH_MAX);
    return t->name && t->base_real && t->folder && t->path ? UP_RESOLVED : UP_FAILED;
}

/* a + "/" + b[0..blen) into out (PATH_MAX bytes); -1 when too long. */
static int join_into(char *out, const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    if (alen + blen + 2 > PATH_MAX)
        return -1;
    memmove(out, a, alen);
    size_t n = alen;
    if (blen > 0) {
        if (n == 0 || out[n - 1] != '/')
            out[n++] = '/';
        memcpy(out + n, b, blen);
        n += blen;
    }
    out[n] = '\0';
    return 0;
}

int up_resolve_fs(up_target *t)
{
    errno = 0;
    if (!realpath(t->base, t->base_real))
        return errno == ENOENT || errno == ENOTDIR ? UP_NO_FOLDER : UP_FAILED;
    if (join_into(t->path, t->base_real, t->rel, t->cut) < 0)
        return UP_FAILED;
    errno = 0;
    if (!realpath(t->path, t->folder))
        return errno == ENOENT || errno == ENOTDIR ? UP_NO_FOLDER : UP_FAILED;
    if (!inside(t->base_real, t->folder))
        return UP_OUTSIDE;
    struct stat st;
    if (stat(t->folder, &st) < 0 || !S_ISDIR(st.st_mode))
        return UP_NO_FOLDER;
    return join_into(t->path, t->folder, t->name, strlen(t->name)) < 0 ? UP_FAILED : UP_RESOLVED;
}

/* Request path → upload folder and target; nothing outside the folder. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "upload.h"

static char *keep(ws_request *r, char *malloced)
{
    char *s = malloced ? up_host->strdup(r, malloced) : NULL;
    free(malloced);
    return s;
}

static char *join(ws_request *r, const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    char *s = up_host->alloc(r, alen + blen + 2);
    if (!s)
        return NULL;
    memcpy(s, a, alen);
    size_t n = alen;
    if (blen > 0) {
        if (n == 0 || s[n - 1] != '/')
            s[n++] = '/';
        memcpy(s + n, b, blen);
        n += blen;
    }
    s[n] = '\0';
    return s;
}

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

int up_resolve(ws_request *r, const up_conf *conf, int as_folder, up_target *t)
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
    if (!t->name)
        return UP_FAILED;

    errno = 0;
    t->base_real = keep(r, realpath(conf->base, NULL));
    if (!t->base_real)
        return errno == ENOENT || errno == ENOTDIR ? UP_NO_FOLDER : UP_FAILED;
    char *folder = join(r, t->base_real, rel, cut);
    if (!folder)
        return UP_FAILED;
    errno = 0;
    t->folder = keep(r, realpath(folder, NULL));
    if (!t->folder)
        return errno == ENOENT || errno == ENOTDIR ? UP_NO_FOLDER : UP_FAILED;
    if (!inside(t->base_real, t->folder))
        return UP_OUTSIDE;
    struct stat st;
    if (stat(t->folder, &st) < 0 || !S_ISDIR(st.st_mode))
        return UP_NO_FOLDER;
    t->path = join(r, t->folder, t->name, strlen(t->name));
    return t->path ? UP_RESOLVED : UP_FAILED;
}

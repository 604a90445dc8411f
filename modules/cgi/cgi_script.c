/*
 * Finding the script in the request path. RFC 3875 §4.1.13 (SCRIPT_NAME) and
 * §4.1.5 (PATH_INFO): the path splits at the first segment that names a
 * regular file under the root; what follows is the extra path for the script.
 */
#include "cgi.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dup_n(ws_request *r, const char *s, size_t n)
{
    char *d = cgi_host->alloc(r, n + 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Length of the path prefix that is a regular file, 0 when there is none
 * (a missing component, a folder at the end, or something else). */
static size_t script_prefix(const ws_request *r, char *buf, size_t rootlen)
{
    const char *path = r->path;
    size_t plen = strlen(path);
    if (r->fs_type == WS_FS_FILE)
        return plen;
    if (r->fs_type != WS_FS_MISSING)
        return 0;
    for (size_t i = 1; i <= plen; i++) {
        if (i < plen && path[i] != '/')
            continue;
        buf[rootlen + i] = '\0';
        struct stat st;
        int rc = stat(buf, &st);
        buf[rootlen + i] = path[i];
        if (rc != 0)
            return 0;
        if (S_ISREG(st.st_mode))
            return i;
        if (!S_ISDIR(st.st_mode))
            return 0;
    }
    return 0;
}

int cgi_find_script(ws_request *r, const cgi_conf *conf, cgi_script *out)
{
    if (!r->root || !r->path || r->path[0] != '/')
        return 0;
    size_t rootlen = strlen(r->root), plen = strlen(r->path);
    char buf[PATH_MAX];
    if (rootlen + plen >= sizeof buf)
        return 0;
    memcpy(buf, r->root, rootlen);
    memcpy(buf + rootlen, r->path, plen + 1);

    size_t n = script_prefix(r, buf, rootlen);
    if (n == 0)
        return 0;
    if (!cgi_script_in_location(r, n))
        return 0;

    buf[rootlen + n] = '\0';
    const char *interp = cgi_interpreter_for(conf, buf);
    if (access(buf, interp ? R_OK : X_OK) != 0)
        return 0; /* the core answers 403 for a file nobody takes */

    const char *slash = strrchr(buf, '/');
    out->filename = dup_n(r, buf, rootlen + n);
    out->dir = dup_n(r, buf, slash > buf ? (size_t)(slash - buf) : 1);
    out->name = dup_n(r, r->path, n);
    out->path_info = dup_n(r, r->path + n, plen - n);
    out->interpreter = interp;
    return out->filename && out->dir && out->name && out->path_info;
}

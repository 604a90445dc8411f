/*
 * mod_static: regular files under the location's root, with GET and HEAD.
 * The core has already mapped and stat()ed the path (r->fs_type); this module
 * opens the file through the core (host->open_file, cached) and has the core send it with sendfile. Conditional
 * requests and Range are the core's (set_validators makes the response eligible).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_cache.h"
#include "webserv/module.h"

static const ws_host *host;

static int static_init(const ws_host *h)
{
    if (h->abi_minor < 1 || !h->open_file)
        return -1; /* needs open_file (ABI 1.1) */
    host = h;
    return 0;
}

static void static_fini(void)
{
    file_cache_clear();
}

static int static_match(ws_request *r)
{
    return r->fs_type == WS_FS_FILE ? WS_TAKE : WS_DECLINE;
}

static int open_error_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return 404; /* gone between the core's stat and our open */
    case EACCES:
    case EPERM:
    case ELOOP:
        return 403;
    default:
        return 500;
    }
}

static void respond_head(ws_request *r, const struct stat *st)
{
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", host->mime_type(r->fs_path));
    host->set_length(r, st->st_size);
    host->set_validators(r, st);
}

/* Read a small file whole (it is about to be cached); -1 if it changed size meanwhile. */
static int read_small(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static int static_handle(ws_request *r)
{
    /* A hit needs no system call: the core's stat of this request validates it. */
    const char *cached = file_cache_get(r->fs_path, &r->fs_stat);
    if (cached) {
        respond_head(r, &r->fs_stat);
        host->write(r, cached, (size_t)r->fs_stat.st_size);
        host->finish(r);
        return 0;
    }
    /* Through the core's open-file cache: for an unchanged file no open, fstat
     * or close. The fd is the core's; this module never closes it. */
    struct stat st;
    int fd = host->open_file(r, r->fs_path, &st);
    if (fd < 0) {
        if (errno != ENOENT && errno != EACCES)
            host->log(WS_LOG_ERROR, r, "open %s: errno %d", r->fs_path, errno);
        return open_error_status(errno);
    }
    if (!S_ISREG(st.st_mode))
        return 403;
    respond_head(r, &st);
    if (st.st_size <= FILE_CACHE_MAX_FILE) {
        char buf[FILE_CACHE_MAX_FILE];
        if (read_small(fd, buf, (size_t)st.st_size) == 0) {
            file_cache_put(r->fs_path, &st, buf, (size_t)st.st_size);
            host->write(r, buf, (size_t)st.st_size);
            host->finish(r);
            return 0;
        }
    }
    if (host->send_file(r, fd, 0, st.st_size) != WS_OK)
        return 500;
    host->finish(r);
    return 0;
}

static const char *const static_methods[] = {"GET", "HEAD", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "static",
    .methods = static_methods,
    .init = static_init,
    .fini = static_fini,
    .match = static_match,
    .handle = static_handle,
};

/* Words for `webserv --schema` (module.h): static has no settings. */
WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Serves the files under the location's root (GET, HEAD; conditionals and ranges); no settings",
    .keys = (const ws_key_doc[]){{NULL, NULL, NULL, NULL, NULL}},
};

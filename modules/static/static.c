/*
 * mod_static: regular files under the location's root, with GET and HEAD.
 * The core has already mapped and stat()ed the path (r->fs_type); this module
 * opens the file and hands it to the core to send with sendfile. Conditional
 * requests and Range are the core's (set_validators makes the response eligible).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webserv/module.h"

static const ws_host *host;

static int static_init(const ws_host *h)
{
    host = h;
    return 0;
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

static int static_handle(ws_request *r)
{
    int fd = open(r->fs_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno != ENOENT && errno != EACCES)
            host->log(WS_LOG_ERROR, r, "open %s: errno %d", r->fs_path, errno);
        return open_error_status(errno);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 403;
    }
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", host->mime_type(r->fs_path));
    host->set_length(r, st.st_size);
    host->set_validators(r, &st);
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
    .match = static_match,
    .handle = static_handle,
};

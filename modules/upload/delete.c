/* DELETE /loc/name: a file, or an empty folder. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload.h"

int up_delete(ws_request *r, const up_conf *conf)
{
    up_target t;
    switch (up_resolve(r, conf, 0, &t)) {
    case UP_RESOLVED: break;
    case UP_NO_FOLDER: return 404;
    case UP_OUTSIDE: return 403;
    default: return 500;
    }
    if (t.name[0] == '\0')
        return 403; /* never the upload folder itself */
    struct stat st;
    const char *victim = t.path;
    if (lstat(victim, &st) < 0)
        return errno == ENOENT || errno == ENOTDIR ? 404 : up_status_of(-errno);
    int rc;
    if (S_ISDIR(st.st_mode))
        rc = rmdir(victim);
    else if (t.slash)
        return 404; /* "name/" where name is a file */
    else
        rc = unlink(victim);
    if (rc < 0) {
        if (errno == ENOTEMPTY || errno == EEXIST || errno == EBUSY)
            return 409;
        return errno == ENOENT ? 404 : up_status_of(-errno);
    }
    up_host->set_status(r, 204);
    up_host->finish(r);
    return 0;
}

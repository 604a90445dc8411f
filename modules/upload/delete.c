/* DELETE /loc/name: a file, or an empty folder. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload.h"

/* One DELETE, in request memory: what the pool works on and answers with. */
typedef struct up_del {
    up_target t;
    int status; /* 204, or the refusal or failure */
} up_del;

/* The file-system part of a DELETE (realpath of the folders, lstat, unlink
 * or rmdir): on the pool (issue 21: no disk call on the event loop; a
 * rmdir or unlink waits on the folder's lock and the journal, behind any
 * other writer of that folder). No host call, no allocation here. */
static int delete_fs(up_target *t)
{
    switch (up_resolve_fs(t)) {
    case UP_RESOLVED: break;
    case UP_NO_FOLDER: return 404;
    case UP_OUTSIDE: return 403;
    default: return 500;
    }
    if (t->name[0] == '\0')
        return 403; /* never the upload folder itself */
    struct stat st;
    const char *victim = t->path;
    if (lstat(victim, &st) < 0)
        return errno == ENOENT || errno == ENOTDIR ? 404 : up_status_of(-errno);
    int rc;
    if (S_ISDIR(st.st_mode))
        rc = rmdir(victim);
    else if (t->slash)
        return 404; /* "name/" where name is a file */
    else
        rc = unlink(victim);
    if (rc < 0) {
        if (errno == ENOTEMPTY || errno == EEXIST || errno == EBUSY)
            return 409;
        return errno == ENOENT ? 404 : up_status_of(-errno);
    }
    return 204;
}

static void delete_work(void *arg)
{
    up_del *d = arg;
    d->status = delete_fs(&d->t);
}

/* On the loop once the work returned (skipped when the client left: the
 * request's memory, d included, goes with it). */
static void delete_done(ws_request *r, void *arg)
{
    up_del *d = arg;
    if (d->status != 204) {
        up_host->error(r, d->status);
        return;
    }
    up_host->set_status(r, 204);
    up_host->finish(r);
}

int up_delete(ws_request *r, const up_conf *conf)
{
    up_del *d = up_host->alloc(r, sizeof *d);
    if (!d || up_resolve_begin(r, conf, 0, &d->t) != UP_RESOLVED)
        return 500;
    if (up_has_offload && up_host->offload(r, delete_work, delete_done, d) == WS_OK)
        return 0;
    delete_work(d); /* no thread to run it on: here rather than fail */
    if (d->status != 204)
        return d->status;
    delete_done(r, d);
    return 0;
}

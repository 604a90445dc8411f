/* The temporary files of one upload request, and failing cleanly. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tempfile.h"
#include "upload.h"

int up_status_of(int neg_errno)
{
    switch (-neg_errno) {
    case ENOSPC:
    case EDQUOT:
        return 507;
    case EACCES:
    case EPERM:
    case EROFS:
        return 403;
    case ENAMETOOLONG:
        return 414;
    default:
        return 500;
    }
}

int up_file_open(ws_request *r, up_ctx *c, const char *folder, const char *name)
{
    if (c->n_files == c->cap_files) {
        size_t cap = c->cap_files ? c->cap_files * 2 : 4;
        up_file *f = up_host->alloc(r, cap * sizeof *f);
        if (!f)
            return 500;
        if (c->n_files)
            memcpy(f, c->files, c->n_files * sizeof *f);
        c->files = f; /* the old array dies with the request */
        c->cap_files = cap;
    }
    up_file *f = &c->files[c->n_files];
    size_t flen = strlen(folder), nlen = strlen(name);
    f->name = up_host->strdup(r, name);
    f->final = up_host->alloc(r, flen + nlen + 2);
    f->tmp = up_host->alloc(r, flen + TF_NAME_MAX + 2);
    if (!f->name || !f->final || !f->tmp)
        return 500;
    if (flen + nlen + 1 >= PATH_MAX)
        return 414;
    snprintf(f->final, flen + nlen + 2, "%s/%s", folder, name);
    int fd = tf_create(folder, f->tmp, flen + TF_NAME_MAX + 2);
    if (fd < 0) {
        f->tmp[0] = '\0';
        up_host->log(WS_LOG_ERROR, r, "upload: cannot create a temporary file in %s: %s", folder, strerror(-fd));
        return up_status_of(fd);
    }
    c->fd = fd;
    c->n_files++;
    return 0;
}

void up_discard_temps(up_ctx *c)
{
    spool_abandon(&c->sp); /* nothing more to the disk; files handed over get closed */
    if (c->fd >= 0) {
        spool_close(&c->sp, c->fd); /* not before the pool stopped writing to it */
        c->fd = -1;
    }
    for (size_t i = 0; i < c->n_files; i++) {
        if (c->files[i].tmp[0]) {
            tf_discard(-1, c->files[i].tmp);
            c->files[i].tmp[0] = '\0';
        }
    }
}

void up_fail(ws_request *r, up_ctx *c, int status)
{
    up_discard_temps(c);
    if (c->over)
        return;
    c->over = 1;
    up_host->error(r, status);
}

/* ---- the spool's events (lib/spool) ---- */

static void on_spool_failed(ws_request *r, void *arg, int err, int tag)
{
    up_ctx *c = arg;
    const char *tmp = tag >= 0 && (size_t)tag < c->n_files ? c->files[tag].tmp : "";
    up_host->log(WS_LOG_ERROR, r, "upload: writing %s: %s", tmp, strerror(-err));
    up_fail(r, c, err == -ENOSPC || err == -EDQUOT ? 507 : 500);
}

static void on_spool_drained(ws_request *r, void *arg)
{
    up_ctx *c = arg;
    if (c->kind == UP_FORM)
        up_form_drained(r, c);
    else
        up_raw_drained(r, c);
}

void up_spool_init(ws_request *r, up_ctx *c)
{
    static const spool_events ev = {on_spool_failed, on_spool_drained};
    spool_init(&c->sp, up_host, r, &ev, c);
}

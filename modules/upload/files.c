/* The temporary files of one upload request, and failing cleanly. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

/* A new entry in c->files (names and paths in request memory, no disk
 * call); 0 or an HTTP status. */
static int add_file(ws_request *r, up_ctx *c, const char *folder, const char *name, up_file **out)
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
    f->tmp[0] = '\0';
    f->folder = folder;
    f->tmp_cap = flen + TF_NAME_MAX + 2;
    f->size = 0;
    f->placed = 0;
    f->slot = NULL;
    f->exists = 0;
    *out = f;
    return 0;
}

int up_file_adopt(ws_request *r, up_ctx *c, const char *folder, const char *name, int fd, const char *tmp)
{
    up_file *f;
    int status = add_file(r, c, folder, name, &f);
    if (status)
        return status;
    if (strlen(tmp) >= f->tmp_cap)
        return 414; /* never: tf_create made it in a buffer of the same size */
    strcpy(f->tmp, tmp);
    c->fd = fd;
    c->n_files++;
    return 0;
}

/* On the pool (spool_open): the part's temporary file, unless its name is
 * taken in the folder already (known now: no need to read the rest). It
 * writes only f (request memory, read by the loop once the batch is back). */
static int open_part_work(void *arg)
{
    up_file *f = arg;
    int fd = tf_create(f->folder, f->tmp, f->tmp_cap);
    if (fd < 0) {
        f->tmp[0] = '\0';
        return fd;
    }
    struct stat st;
    if (lstat(f->final, &st) == 0) {
        tf_discard(fd, f->tmp); /* a named temporary file (no O_TMPFILE) goes too */
        f->tmp[0] = '\0';
        f->exists = 1;
        return -EEXIST;
    }
    return fd;
}

int up_file_queue_open(ws_request *r, up_ctx *c, const char *folder, const char *name)
{
    up_file *f;
    int status = add_file(r, c, folder, name, &f);
    if (status)
        return status;
    f->slot = up_host->alloc(r, sizeof *f->slot); /* its own memory: c->files may move when it grows */
    if (!f->slot)
        return 500;
    *f->slot = -1;
    c->n_files++;
    return spool_open(&c->sp, f->slot, open_part_work, f, (int)c->n_files - 1) < 0 ? 500 : 0;
}

void up_discard_temps(up_ctx *c, int pool_done)
{
    if (pool_done && c->start_fd >= 0) { /* a raw upload's start whose done never ran */
        tf_discard(c->start_fd, c->start_tmp);
        c->start_fd = -1;
    }
    spool_abandon(&c->sp); /* nothing more to the disk; files handed over get closed */
    if (c->fd >= 0) {
        spool_close(&c->sp, c->fd); /* not before the pool stopped writing to it */
        c->fd = -1;
    }
    for (size_t i = 0; i < c->n_files; i++)
        if (c->files[i].slot)
            spool_close_slot(&c->sp, c->files[i].slot); /* likewise */
    if (spool_busy(&c->sp) && !pool_done)
        return; /* the batch there may still create or name a temporary file */
    for (size_t i = 0; i < c->n_files; i++) {
        if (c->files[i].tmp[0]) {
            tf_discard(-1, c->files[i].tmp);
            c->files[i].tmp[0] = '\0';
        }
    }
}

void up_fail(ws_request *r, up_ctx *c, int status)
{
    up_discard_temps(c, 0);
    if (c->over)
        return;
    c->over = 1;
    up_host->error(r, status);
}

/* ---- the spool's events (lib/spool) ---- */

static void on_spool_failed(ws_request *r, void *arg, int err, int tag)
{
    up_ctx *c = arg;
    up_file *f = tag >= 0 && (size_t)tag < c->n_files ? &c->files[tag] : NULL;
    if (c->sp.err_open && f) { /* a part's file, created on the pool */
        if (f->exists) {
            up_fail(r, c, 409);
            return;
        }
        up_host->log(WS_LOG_ERROR, r, "upload: cannot create a temporary file in %s: %s", f->folder, strerror(-err));
        up_fail(r, c, up_status_of(err));
        return;
    }
    up_host->log(WS_LOG_ERROR, r, "upload: writing %s: %s", f ? f->tmp : "", strerror(-err));
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

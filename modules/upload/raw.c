/* PUT and POST of a raw body to /loc/name: one temporary file, then rename. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "filename.h"
#include "respond.h"
#include "tempfile.h"
#include "upload.h"

static void raw_finish(ws_request *r, up_ctx *c);

/* The start of a raw upload on the pool (issue 21: no realpath, lstat or
 * open on the event loop): resolve the target, refuse a folder (and, for
 * POST, a name taken), create the temporary file. It touches only c
 * (request memory, its buffers allocated on the loop before); start_done
 * answers or reads the body on the loop. The statuses are the ones the
 * loop gave when it did this itself. */
static void start_work(void *arg)
{
    up_ctx *c = arg;
    up_target *t = &c->t;
    c->start_status = 0;
    c->start_errno = 0;
    int rc = c->maybe_form ? up_resolve_fs(&c->probe) : UP_FAILED;
    if (rc == UP_RESOLVED) {
        c->t = c->probe; /* a folder: a form upload (upload.c) */
        c->kind = UP_FORM;
        return;
    }
    if (c->maybe_form != 2) /* 2: the path ends with '/', a folder or nothing */
        rc = up_resolve_fs(t);
    switch (rc) {
    case UP_RESOLVED: break;
    case UP_NO_FOLDER: c->start_status = 409; return; /* as WebDAV: the parent must exist */
    case UP_OUTSIDE: c->start_status = 403; return;
    default: c->start_status = 500; return;
    }
    if (t->name[0] == '\0' || t->slash) {
        c->start_status = 409; /* a folder is no file */
        return;
    }
    if (!upload_plain_name(t->name, strlen(t->name))) {
        c->start_status = 400;
        return;
    }
    struct stat st;
    if (lstat(t->path, &st) == 0) {
        if (S_ISDIR(st.st_mode) || c->kind == UP_RAW_POST) {
            c->start_status = 409;
            return;
        }
    } else if (errno != ENOENT) {
        c->start_status = up_status_of(-errno);
        return;
    }
    int fd = tf_create(t->folder, c->start_tmp, PATH_MAX);
    if (fd < 0) {
        c->start_tmp[0] = '\0';
        c->start_errno = fd;
        c->start_status = up_status_of(fd);
        return;
    }
    c->start_fd = fd;
    /* A body that will go around the page cache (start_done) is copied into
     * huge-page buffers; their pages are faulted in here rather than at the
     * first copy on the loop (lib/spool: spool_direct_prepare says why). A
     * failure only leaves that to the loop. */
    if (c->big_body)
        (void)spool_direct_prepare(&c->sp);
}

static void start_done(ws_request *r, void *arg)
{
    up_ctx *c = arg;
    if (c->kind == UP_FORM) {
        int status = up_form_begin(r, c);
        if (status)
            up_fail(r, c, status);
        return;
    }
    if (c->start_errno)
        up_host->log(WS_LOG_ERROR, r, "upload: cannot create a temporary file in %s: %s", c->t.folder,
                     strerror(-c->start_errno));
    int status = c->start_status;
    if (!status) {
        int fd = c->start_fd;
        c->start_fd = -1;
        status = up_file_adopt(r, c, c->t.folder, c->t.name, fd, c->start_tmp);
        if (status)
            tf_discard(fd, c->start_tmp);
        c->start_tmp[0] = '\0';
    }
    if (status) {
        up_fail(r, c, status);
        return;
    }
    /* A big body (or one of unknown length) goes around the page cache: it
     * is fsync'ed at the end anyway, and this way its bytes reach the disk
     * while they arrive, with no copy into the page cache (lib/spool). Its
     * blocks are reserved ahead of the writes, so that two of them run at
     * once: of a known length up to that length (spool_direct_length); a
     * chunked one 64 MiB ahead as it grows, the file cut to its bytes at
     * the end, on the pool (spool_direct_length_unknown). */
    if (c->big_body && spool_direct(&c->sp, c->fd)) {
        if (r->content_length > 0)
            spool_direct_length(&c->sp, (size_t)r->content_length);
        else
            spool_direct_length_unknown(&c->sp);
    }
    /* An empty body comes to on_body_end at once: its file is synced and
     * placed on the pool like any other (raw_finish). */
    if (up_host->read_body(r) != WS_OK)
        up_fail(r, c, 500);
}

int up_raw_start(ws_request *r, up_ctx *c, const up_conf *conf)
{
    c->start_fd = -1;
    if (up_resolve_begin(r, conf, 0, &c->t) != UP_RESOLVED)
        return 500;
    if (c->maybe_form && up_resolve_begin(r, conf, 1, &c->probe) != UP_RESOLVED)
        return 500;
    c->start_tmp = up_host->alloc(r, PATH_MAX);
    if (!c->start_tmp)
        return 500;
    c->start_tmp[0] = '\0';
    c->big_body = r->content_length < 0 || r->content_length >= SPOOL_DIRECT_BATCH;
    if (up_has_offload && up_host->offload(r, start_work, start_done, c) == WS_OK)
        return 0;
    start_work(c); /* no thread to run it on: here rather than fail */
    start_done(r, c);
    return 0;
}

/* Each piece of the body goes to the spool (lib/spool): the pool writes it
 * while the loop serves others. When the disk is behind (a batch on the
 * pool and the next one full), nothing is consumed: the core stops reading
 * from this client until the spool has room again. */
size_t up_raw_body(ws_request *r, up_ctx *c, const char *data, size_t len)
{
    if (c->over || c->fd < 0)
        return len;
    if (!spool_room(&c->sp))
        return spool_pause(&c->sp);
    int rc = spool_write(&c->sp, c->fd, data, len, 0);
    if (rc < 0) {
        up_host->log(WS_LOG_ERROR, r, "upload: writing %s: %s", c->files[0].tmp, strerror(-rc));
        up_fail(r, c, 500);
        return len;
    }
    c->files[0].size += (int64_t)len;
    spool_kick(&c->sp);
    return len;
}

static int place(up_ctx *c, int *existed)
{
    up_file *f = &c->files[0];
    struct stat st;
    *existed = lstat(f->final, &st) == 0;
    if (*existed && S_ISDIR(st.st_mode))
        return 409;
    int rc = c->kind == UP_RAW_PUT ? tf_replace(f->tmp, f->final) : tf_place_new(f->tmp, f->final);
    if (rc == -EEXIST || rc == -EISDIR || rc == -ENOTEMPTY)
        return 409;
    if (rc < 0)
        return up_status_of(rc);
    f->tmp[0] = '\0';
    f->placed = 1;
    tf_sync_dir(c->t.folder);
    return 0;
}

/* The end of a raw upload: fsync, close and rename can wait long for the
 * disk (a 1 GiB file: half a second), so they run on the core's thread
 * pool (ABI 1.2 offload), never on the event loop that serves the other
 * connections. finish_work touches only c (request memory, kept alive
 * while the work runs); finish_done answers on the loop. When the client
 * goes away meanwhile, done is skipped and cleanup removes the temporary
 * file if it was not placed yet. */
static void finish_work(void *arg)
{
    up_ctx *c = arg;
    c->end_errno = 0;
    int rc = tf_sync_close(c->end_fd, c->files[0].tmp);
    c->end_fd = -1;
    if (rc < 0) {
        c->end_errno = rc;
        c->end_status = rc == -ENOSPC || rc == -EDQUOT ? 507 : 500;
        return;
    }
    c->end_status = place(c, &c->end_existed);
}

static void finish_done(ws_request *r, void *arg)
{
    up_ctx *c = arg;
    if (c->end_errno) {
        up_host->log(WS_LOG_ERROR, r, "upload: syncing %s: %s", c->files[0].tmp, strerror(-c->end_errno));
        up_fail(r, c, c->end_status);
        return;
    }
    if (c->end_status) {
        up_fail(r, c, c->end_status);
        return;
    }
    int existed = c->end_existed;
    c->over = 1;
    up_count_stored(c);
    if (existed) {
        up_host->set_status(r, 204);
        up_host->finish(r);
        return;
    }
    const char *path = r->request_path ? r->request_path : r->path;
    char *location = up_url_encode(r, path);
    size_t cut = location ? strlen(location) : 0;
    while (cut > 0 && location[cut - 1] != '/')
        cut--;
    char *folder_url = location ? up_host->alloc(r, cut + 1) : NULL;
    if (!folder_url) {
        up_host->error(r, 500);
        return;
    }
    memcpy(folder_url, location, cut);
    up_entry e = {c->files[0].name, c->files[0].size};
    if (up_respond_created(r, location, folder_url, &e, 1) < 0)
        up_host->error(r, 500);
}

static void raw_finish(ws_request *r, up_ctx *c)
{
    if (c->over)
        return;
    c->end_fd = c->fd; /* from now on the work owns the fd */
    c->fd = -1;
    if (up_has_offload && up_host->offload(r, finish_work, finish_done, c) == WS_OK)
        return;
    finish_work(c); /* no thread to run it on: do it here rather than fail */
    finish_done(r, c);
}

void up_raw_end(ws_request *r, up_ctx *c)
{
    (void)r;
    if (c->over)
        return;
    spool_drain(&c->sp); /* then up_raw_drained */
}

void up_raw_drained(ws_request *r, up_ctx *c)
{
    raw_finish(r, c);
}

/*
 * POST /loc/folder/ with multipart/form-data: every part with a filename goes
 * to its own temporary file; at the final boundary all of them are placed
 * under their names, or none (any conflict undoes the ones already placed).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filename.h"
#include "respond.h"
#include "tempfile.h"
#include "upload.h"

static int part_begin(void *arg, const mp_part *part)
{
    ws_request *r = arg;
    up_ctx *c = r->ctx;
    c->skipping = part->filename == NULL;
    if (c->skipping)
        return 0;
    if (!upload_plain_name(part->filename, part->filename_len)) {
        c->status = 400;
        return 1;
    }
    for (size_t i = 0; i < c->n_files; i++) {
        if (strcmp(c->files[i].name, part->filename) == 0) {
            c->status = 409; /* twice in one request */
            return 1;
        }
    }
    if (c->n_files >= UP_MAX_FILES) {
        c->status = 413;
        return 1;
    }
    /* The temporary file is created, and the name checked against the
     * folder (409), on the pool (issue 21: no disk call on the loop). */
    int status = up_file_queue_open(r, c, c->t.folder, part->filename);
    c->status = status;
    return status != 0;
}

/* Parser callbacks only queue work on the spool (lib/spool); the pool
 * writes, fsyncs and closes each part's file in order. */
static int part_data(void *arg, const char *data, size_t len)
{
    ws_request *r = arg;
    up_ctx *c = r->ctx;
    if (c->skipping)
        return 0;
    up_file *f = &c->files[c->n_files - 1];
    f->size += (int64_t)len;
    int rc = spool_write_slot(&c->sp, f->slot, data, len, (int)c->n_files - 1);
    if (rc < 0) {
        up_host->log(WS_LOG_ERROR, r, "upload: writing a part of %s: %s", f->final, strerror(-rc));
        c->status = 500;
        return 1;
    }
    return 0;
}

static int part_end(void *arg)
{
    ws_request *r = arg;
    up_ctx *c = r->ctx;
    if (c->skipping)
        return 0;
    /* The file is the spool's now; it names it (tf_name) before closing it. */
    up_file *f = &c->files[c->n_files - 1];
    int rc = spool_sync_close_slot(&c->sp, f->slot, (int)c->n_files - 1, tf_name, f->tmp);
    if (rc < 0) {
        c->status = 500;
        return 1;
    }
    return 0;
}

static const mp_callbacks callbacks = {part_begin, part_data, part_end};

int up_form_start(ws_request *r, up_ctx *c, const char *content_type)
{
    char boundary[MP_BOUNDARY_MAX + 1];
    int blen = mp_boundary_of(content_type, boundary);
    if (blen < 0)
        return 400;
    c->mp = up_host->alloc(r, sizeof *c->mp);
    if (!c->mp)
        return 500;
    mp_init(c->mp, boundary, (size_t)blen, &callbacks, r);
    if (r->content_length == 0)
        return 400; /* not even a final boundary */
    return up_host->read_body(r) == WS_OK ? 0 : 500;
}

static void fail_parse(ws_request *r, up_ctx *c, int rc)
{
    if (rc == MP_ERR_CALLBACK) {
        up_fail(r, c, c->status ? c->status : 500);
        return;
    }
    up_host->log(WS_LOG_INFO, r, "upload: %s", mp_strerror(rc));
    up_fail(r, c, 400);
}

size_t up_form_body(ws_request *r, up_ctx *c, const char *data, size_t len)
{
    if (c->over)
        return len;
    if (!spool_room(&c->sp))
        return spool_pause(&c->sp); /* the disk is behind: the client waits */
    int rc = mp_feed(c->mp, data, len);
    if (rc != MP_OK) {
        fail_parse(r, c, rc);
        return len;
    }
    spool_kick(&c->sp);
    return len;
}

/* Place every file under its name, or none. Returns 0 or an HTTP status. */
static int place_all(up_ctx *c)
{
    int status = 0;
    for (size_t i = 0; i < c->n_files && !status; i++) {
        up_file *f = &c->files[i];
        int rc = tf_place_new(f->tmp, f->final);
        if (rc == 0) {
            f->tmp[0] = '\0';
            f->placed = 1;
        } else {
            status = rc == -EEXIST ? 409 : up_status_of(rc);
        }
    }
    if (status) {
        for (size_t i = 0; i < c->n_files; i++) {
            if (c->files[i].placed) {
                unlink(c->files[i].final);
                c->files[i].placed = 0;
            }
        }
        return status;
    }
    tf_sync_dir(c->t.folder);
    return 0;
}

static void respond(ws_request *r, up_ctx *c)
{
    const char *path = r->request_path ? r->request_path : r->path;
    size_t n = strlen(path);
    char *folder = up_host->alloc(r, n + 2);
    up_entry *e = up_host->alloc(r, c->n_files * sizeof *e);
    if (!folder || !e) {
        up_host->error(r, 500);
        return;
    }
    memcpy(folder, path, n);
    if (n == 0 || folder[n - 1] != '/')
        folder[n] = '/';
    char *url = up_url_encode(r, folder);
    for (size_t i = 0; i < c->n_files; i++) {
        e[i].name = c->files[i].name;
        e[i].size = c->files[i].size;
    }
    if (!url || up_respond_created(r, url, url, e, c->n_files) < 0)
        up_host->error(r, 500);
}

void up_form_end(ws_request *r, up_ctx *c)
{
    if (c->over)
        return;
    int rc = mp_finish(c->mp);
    if (rc != MP_OK) {
        fail_parse(r, c, rc);
        return;
    }
    if (c->n_files == 0) {
        up_fail(r, c, 400); /* nothing to store */
        return;
    }
    spool_drain(&c->sp); /* then up_form_drained */
}

/* Placing links, unlinks and syncs the folder: on the pool too (as a raw
 * upload's end, raw.c); place_work touches only c. */
static void place_work(void *arg)
{
    up_ctx *c = arg;
    c->end_status = place_all(c);
}

static void place_done(ws_request *r, void *arg)
{
    up_ctx *c = arg;
    if (c->end_status) {
        up_fail(r, c, c->end_status);
        return;
    }
    c->over = 1;
    up_count_stored(c);
    respond(r, c);
}

void up_form_drained(ws_request *r, up_ctx *c)
{
    if (c->over)
        return;
    if (up_has_offload && up_host->offload(r, place_work, place_done, c) == WS_OK)
        return;
    place_work(c);
    place_done(r, c);
}

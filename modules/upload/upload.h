/* mod_upload internals shared by its files (not part of any public API). */
#ifndef UPLOAD_UPLOAD_H
#define UPLOAD_UPLOAD_H

#include "webserv/module.h"
#include "multipart.h"
#include "spool.h"

#define UP_MAX_FILES 1000 /* files in one multipart request; over it: 413 */

extern const ws_host *up_host;
extern int up_has_offload; /* the host has ABI 1.2's offload (else the work runs inline) */

typedef struct up_conf {
    const char *base;     /* the upload folder: "dir", or root + location path */
    const char *location; /* the location prefix, stripped from request paths */
} up_conf;

/* Where a request's target lives, all in request memory. */
typedef struct up_target {
    char *base_real; /* realpath of the upload folder */
    char *folder;    /* realpath of the folder that holds the target (or is it) */
    const char *name;/* the last path component (trailing '/' dropped); "" for the upload folder or as_folder */
    char *path;      /* folder + "/" + name, or folder when name is "" */
    int slash;       /* the request path ends with '/' */
    /* What up_resolve_fs works from (set by up_resolve_begin): */
    const char *base;/* the configured upload folder */
    const char *rel; /* the request path below the location */
    size_t cut;      /* where rel's last component starts (its length when as_folder) */
} up_target;

enum { UP_RESOLVED = 0, UP_NO_FOLDER = 1, UP_OUTSIDE = 2, UP_FAILED = 3 };

/* Map r->request_path to the file system. as_folder: the whole path names
 * a folder (multipart POST), else its last component names an entry of the
 * folder before it. In two steps, so that the disk calls (realpath, stat)
 * run on the pool: up_resolve_begin on the loop (names, and PATH_MAX
 * buffers in request memory for the results; UP_RESOLVED or UP_FAILED),
 * then up_resolve_fs anywhere (no host call, no allocation), which returns
 * one of the UP_ values above. */
int up_resolve_begin(ws_request *r, const up_conf *conf, int as_folder, up_target *t);
int up_resolve_fs(up_target *t);

/* One file of an upload: a temporary file until placed under its name. */
typedef struct up_file {
    const char *name;  /* as stored (plain name) */
    char *tmp;         /* temporary path; "" once moved or removed */
    char *final;       /* folder + "/" + name */
    int64_t size;
    int placed;        /* final now exists because of us */
    /* A multipart part's file is created on the pool (up_file_queue_open): */
    const char *folder;/* where */
    size_t tmp_cap;    /* bytes of tmp */
    int *slot;         /* its fd once the pool opened it (lib/spool slot), else -1 */
    int exists;        /* the pool found final taken already (409) */
} up_file;

enum { UP_RAW_PUT, UP_RAW_POST, UP_FORM };

typedef struct up_ctx {
    int kind;
    int over;          /* answered or failed: later body bytes are dropped */
    int fd;            /* the open temporary file, or -1 */
    int status;        /* a failure found inside a parser callback */
    up_target t;
    up_file *files;
    size_t n_files, cap_files;
    int skipping;      /* the current part has no filename */
    mp_parser *mp;
    /* The body's bytes go to the temporary files through the spool: the
     * writes and the fsync of each part run on the core's thread pool. */
    spool sp;
    /* The end of a raw upload, run by an offloaded work (raw.c). */
    int end_fd;        /* the temporary file the work syncs and closes */
    int end_errno;     /* its fsync/close failure (-errno), or 0 */
    int end_status;    /* HTTP status of a failure, or 0 */
    int end_existed;   /* the target existed before (204, not 201) */
    /* The start of a raw upload, run by an offloaded work too (raw.c):
     * resolve the target, look at it, create the temporary file. */
    char *start_tmp;   /* PATH_MAX: the temporary file's future name, until c->files has it */
    int start_fd;      /* the created temporary file, until the done takes it; else -1 */
    int start_status;  /* HTTP status of a refusal or failure, or 0 */
    int start_errno;   /* tf_create's failure (-errno), for the log line */
    int maybe_form;    /* a POST: 1 a form upload if the path is a folder (found on the pool), 2 (ends with '/') a form upload or an error */
    up_target probe;   /* that path taken as a folder */
    int big_body;      /* the body will go around the page cache (raw.c): start_work prepares the spool's buffers */
} up_ctx;

/* Add a file whose temporary file (fd, future name tmp) was created in
 * folder already (raw.c, on the pool); fd goes to c->fd, from then on the
 * request's. Returns 0 or an HTTP status. */
int up_file_adopt(ws_request *r, up_ctx *c, const char *folder, const char *name, int fd, const char *tmp);
/* The same for a multipart part, without touching the disk here: the
 * temporary file is created on the pool, in order with the part's writes
 * (lib/spool's spool_open), and a name already taken in the folder fails
 * the upload with 409 from there (up_spool_init's failed). Returns 0 or an
 * HTTP status; the new file is c->files[c->n_files - 1]. */
int up_file_queue_open(ws_request *r, up_ctx *c, const char *folder, const char *name);
/* HTTP status for a failed file-system call (-errno). */
int up_status_of(int neg_errno);
/* Remove every temporary file (and close the open one). While a batch is
 * on the pool (it may still create, name or write one) the removal waits
 * for cleanup, which calls this again with pool_done = 1. */
void up_discard_temps(up_ctx *c, int pool_done);
/* Stop with an error response; temporary files are removed. */
void up_fail(ws_request *r, up_ctx *c, int status);
/* Set up c->sp (up_handle); its events go to files.c. */
void up_spool_init(ws_request *r, up_ctx *c);

/* Files stored: the metrics counters webserv_upload_files_total and
 * webserv_upload_bytes_total (nothing where the core has no counters). */
void up_count_stored(const up_ctx *c);

/* A raw PUT or POST: the target is resolved, looked at and its temporary
 * file created on the pool; the body is read once that came back. Returns
 * 0 (answered later) or an HTTP status. */
int up_raw_start(ws_request *r, up_ctx *c, const up_conf *conf);
size_t up_raw_body(ws_request *r, up_ctx *c, const char *data, size_t len);
void up_raw_end(ws_request *r, up_ctx *c);
void up_raw_drained(ws_request *r, up_ctx *c); /* every body byte is on the disk */

int up_form_start(ws_request *r, up_ctx *c, const char *content_type);
/* A form upload to the resolved folder c->t: 415 unless multipart/form-data,
 * else up_form_start. 0 or an HTTP status. */
int up_form_begin(ws_request *r, up_ctx *c);
size_t up_form_body(ws_request *r, up_ctx *c, const char *data, size_t len);
void up_form_end(ws_request *r, up_ctx *c);
void up_form_drained(ws_request *r, up_ctx *c);

/* DELETE: the target is resolved and removed on the pool (delete.c).
 * Returns 0 (answered later) or an HTTP status. */
int up_delete(ws_request *r, const up_conf *conf);

#endif

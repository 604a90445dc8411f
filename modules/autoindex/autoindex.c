/*
 * mod_autoindex: lists a folder that has no index file (SPEC §5 autoindex).
 * The core hands it only folders (r->fs_type == WS_FS_DIR) for GET and HEAD,
 * and strips the body for HEAD itself. A listing kept for the folder's
 * current version (listing_cache.c) is answered at once; otherwise the
 * folder is read on the core's offload pool (open, readdir, one fstatat per
 * entry: a big or cold folder would stall every other connection of the
 * worker, issue 21; shared_read.c: one read per folder version for the
 * requests that want it meanwhile) and the loop then renders it in the
 * request pool, keeps it and answers. The body is queued in slices so that a
 * slow client of a huge folder holds at most one slice in the core's output
 * queue at a time.
 *
 * Settings: "show_hidden" (bool, default false), "format": "html" | "json"
 * (default "html"; a request with Accept: application/json gets JSON anyway).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autoindex.h"

#define SLICE (64 * 1024)

const ws_host *ai_host;
static int ai_has_offload; /* the host runs works on its pool (ABI 1.2) */

/* A listing being read, in request memory: the pool step reads `dir` (into
 * a shared read `rd`, or into `l` and `err`); the loop step renders and lets
 * go of the entries. The request (and this) outlives the work even when the
 * client leaves; cleanup lets go of them then. */
typedef struct ai_job {
    const char *dir; /* r->fs_path */
    int show_hidden;
    int json;
    const char *key; /* listing cache key, NULL when the folder has no version */
    const char *read_key; /* the folder and show_hidden, to share its read (with key) */
    uint64_t version;
    const ai_read *rd; /* the shared read, until the loop step or cleanup releases it */
    int err; /* 0 or an errno value (a read of its own) */
    ai_listing l; /* a read of its own: no version, or no memory to share */
} ai_job;

typedef struct ai_state {
    const char *body;
    size_t len, off;
    ai_cached *cached; /* the cached listing body points into, released at cleanup */
    ai_job *job;       /* a cache miss: the folder read on the pool */
} ai_state;

static const ai_conf defaults = {0, 0};

static int ai_init(const ws_host *host)
{
    ai_host = host;
    ai_has_offload = host->abi_minor >= 2 && host->size >= offsetof(ws_host, offload) + sizeof host->offload &&
                     host->offload != NULL;
    return 0;
}

static int ai_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    ai_conf *c = ai_host->cfg_alloc(s, sizeof *c);
    const char *format = "html";
    if (!c || ai_host->cfg_bool(s, "show_hidden", &c->show_hidden) < 0 ||
        ai_host->cfg_string(s, "format", &format) < 0)
        return -1;
    if (strcmp(format, "json") == 0) {
        c->json = 1;
    } else if (strcmp(format, "html") != 0) {
        ai_host->cfg_error(s, "format", "expected \"html\" or \"json\"");
        return -1;
    }
    *out = c;
    return 0;
}

static int ai_match(ws_request *r) { return r->fs_type == WS_FS_DIR ? WS_TAKE : WS_DECLINE; }

/* Does the Accept header name application/json with a q above 0? (RFC 9110 §12.5.1) */
static int accepts_json(const char *accept)
{
    const char *p = accept;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        int match = p - start == 16 && strncasecmp(start, "application/json", 16) == 0;
        double q = 1;
        while (*p && *p != ',') {
            if (*p++ != ';')
                continue;
            while (*p == ' ' || *p == '\t')
                p++;
            if ((*p == 'q' || *p == 'Q') && p[1] == '=')
                q = strtod(p + 2, NULL);
        }
        if (match && q > 0)
            return 1;
    }
    return 0;
}

const char *ai_dir_path(ws_request *r)
{
    size_t n = strlen(r->path);
    if (n > 0 && r->path[n - 1] == '/')
        return r->path;
    char *p = ai_host->alloc(r, n + 2);
    if (!p)
        return "/";
    memcpy(p, r->path, n);
    p[n] = '/';
    return p;
}

/* Queue slices until the core says its queue is full, then wait for on_writable. */
static void ai_pump(ws_request *r)
{
    ai_state *st = r->ctx;
    while (st->off < st->len) {
        size_t n = st->len - st->off < SLICE ? st->len - st->off : SLICE;
        int rc = ai_host->write(r, st->body + st->off, n);
        if (rc == WS_ERROR) {
            ai_host->error(r, 500);
            return;
        }
        st->off += n;
        if (rc == WS_AGAIN)
            return;
    }
    ai_host->finish(r);
}

/* Everything a rendered listing depends on: the folder, the URL it is shown
 * under, the format and whether hidden names are listed. */
static const char *cache_key(ws_request *r, const ai_conf *c, int json)
{
    const char *dir = ai_dir_path(r);
    size_t a = strlen(r->fs_path), b = strlen(dir);
    char *k = ai_host->alloc(r, a + b + 5);
    if (!k)
        return NULL;
    memcpy(k, r->fs_path, a);
    k[a] = '\n';
    memcpy(k + a + 1, dir, b);
    k[a + 1 + b] = '\n';
    k[a + 2 + b] = json ? 'j' : 'h';
    k[a + 3 + b] = c->show_hidden ? 'a' : '-';
    k[a + 4 + b] = '\0';
    return k;
}

/* What a read of the folder depends on: the folder and whether hidden names
 * are read (not the URL nor the format: those are the render's). */
static const char *read_key(ws_request *r, const ai_conf *c)
{
    size_t a = strlen(r->fs_path);
    char *k = ai_host->alloc(r, a + 3);
    if (!k)
        return NULL;
    memcpy(k, r->fs_path, a);
    k[a] = '\n';
    k[a + 1] = c->show_hidden ? 'a' : '-';
    k[a + 2] = '\0';
    return k;
}

static void respond(ws_request *r, ai_state *st, int json, const ai_conf *c)
{
    ai_host->set_status(r, 200);
    ai_host->add_header(r, "Content-Type", json ? "application/json" : "text/html; charset=utf-8");
    if (!c->json)
        ai_host->add_header(r, "Vary", "Accept"); /* the same URL answers HTML or JSON */
    ai_host->add_header(r, "Cache-Control", "no-cache"); /* a listing changes without the folder's own mtime */
    ai_host->set_length(r, (int64_t)st->len);
    ai_pump(r);
}

/* The pool step: file-system work only, no host call. A folder with a
 * version is read once for every request that wants that version meanwhile. */
static void list_work(void *arg)
{
    ai_job *j = arg;
    if (j->read_key && (j->rd = ai_read_shared(j->read_key, j->version, j->dir, j->show_hidden)) != NULL)
        return;
    j->err = ai_list(j->dir, j->show_hidden, &j->l);
}

/* The folder read is no longer needed (idempotent). */
static void job_release(ai_job *j)
{
    ai_read_release(j->rd);
    j->rd = NULL;
    ai_list_free(&j->l);
}

/* The loop step: render the folder read by list_work, keep it for its
 * version, answer. 0, or the status to answer with. */
static int list_answer(ws_request *r, ai_job *j)
{
    ai_state *st = r->ctx;
    const ai_conf *c = r->conf ? r->conf : &defaults;
    int err = j->rd ? ai_read_err(j->rd) : j->err;
    if (err) {
        job_release(j);
        ai_host->log(err == EACCES || err == EPERM ? WS_LOG_INFO : WS_LOG_ERROR, r, "autoindex: cannot list %s: %s",
                     j->dir, strerror(err));
        return err == EACCES || err == EPERM ? 403 : err == ENOENT || err == ENOTDIR ? 404 : 500;
    }
    /* A request that shared this read may have rendered and kept it already. */
    if (j->key && (st->cached = ai_cache_get(j->key, j->version, &st->body, &st->len)) != NULL) {
        job_release(j);
        respond(r, st, j->json, c);
        return 0;
    }
    const ai_listing *l = j->rd ? ai_read_listing(j->rd) : &j->l;
    ai_buf b;
    /* Roughly what a row costs, so a big folder rarely regrows the buffer. */
    ai_buf_init(&b, r, 4096 + l->n * (j->json ? 100 : 330));
    if (j->json)
        ai_render_json(&b, l);
    else
        ai_render_html(&b, r, l);
    job_release(j); /* now, not at the end of a slow client's download */
    if (b.oom)
        return 500;
    st->body = b.p;
    st->len = b.len;
    if (j->key)
        ai_cache_release(ai_cache_put(j->key, j->version, b.p, b.len)); /* this request sends its pool copy */
    respond(r, st, j->json, c);
    return 0;
}

/* On the loop once the work returned; skipped when the client left meanwhile
 * (then cleanup frees the listing). */
static void list_done(ws_request *r, void *arg)
{
    int status = list_answer(r, arg);
    if (status)
        ai_host->error(r, status);
}

static int ai_handle(ws_request *r)
{
    const ai_conf *c = r->conf ? r->conf : &defaults;
    int json = c->json || accepts_json(ai_host->header(r, "Accept"));
    ai_state *st = ai_host->alloc(r, sizeof *st);
    if (!st)
        return 500;
    r->ctx = st;
    /* A folder the core watches closely enough has a version; its listing can
     * be kept, and a kept one is answered here (no disk call). */
    uint64_t version = r->fs_path && ai_host->abi_minor >= 1 ? ai_host->dir_version(r, r->fs_path) : 0;
    const char *key = version ? cache_key(r, c, json) : NULL;
    if (key && (st->cached = ai_cache_get(key, version, &st->body, &st->len)) != NULL) {
        respond(r, st, json, c);
        return 0;
    }
    if (!r->fs_path) {
        ai_host->log(WS_LOG_ERROR, r, "autoindex: nothing to list: the location has no root");
        return 404;
    }
    ai_job *j = ai_host->alloc(r, sizeof *j);
    if (!j)
        return 500;
    *j = (ai_job){.dir = r->fs_path, .show_hidden = c->show_hidden, .json = json, .key = key, .version = version};
    if (key && !(j->read_key = read_key(r, c)))
        return 500;
    st->job = j;
    if (ai_has_offload && ai_host->offload(r, list_work, list_done, j) == WS_OK)
        return 0;
    list_work(j); /* no pool to run it on: here rather than fail */
    return list_answer(r, j);
}

static void ai_on_writable(ws_request *r) { ai_pump(r); }

static void ai_cleanup(ws_request *r, int how)
{
    (void)how;
    ai_state *st = r->ctx;
    if (!st)
        return;
    ai_cache_release(st->cached);
    if (st->job)
        job_release(st->job); /* the client left while the pool read the folder */
}

static void ai_fini(void) { ai_cache_clear(); }

static const char *const ai_methods[] = {"GET", "HEAD", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "autoindex",
    .methods = ai_methods,
    .init = ai_init,
    .configure = ai_configure,
    .match = ai_match,
    .handle = ai_handle,
    .on_writable = ai_on_writable,
    .cleanup = ai_cleanup,
    .fini = ai_fini,
};

/* Words for `webserv --schema` (module.h); the keys themselves come from ai_configure. */
static const char *const ai_formats[] = {"html", "json", NULL};
static const ws_key_doc ai_keys[] = {
    {"show_hidden", "List names that start with a dot", "false", NULL, NULL},
    {"format", "Listing format (JSON is also sent to clients that ask for application/json)", "\"html\"", ai_formats,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Lists folders that have no index file",
    .keys = ai_keys,
};

/*
 * mod_upload: PUT, POST and DELETE of files below an upload folder
 * (SPEC §5 upload). This file holds the descriptor, the configuration and
 * the dispatch; raw.c, form.c and delete.c do the work.
 */
#include <stddef.h>
#include <string.h>

#include "respond.h"
#include "upload.h"

const ws_host *up_host;
int up_has_offload;
static ws_counter *stored_files, *stored_bytes;

static const char *const methods[] = {"POST", "PUT", "DELETE", NULL};

static int up_init(const ws_host *host)
{
    up_host = host;
    up_has_offload = host->abi_minor >= 2 && host->size >= offsetof(ws_host, offload) + sizeof host->offload &&
                     host->offload != NULL;
    /* Counters for the metrics module, where the core has them (ABI 1.2). */
    if (host->abi_minor >= 2 && host->size >= offsetof(ws_host, counter_add) + sizeof host->counter_add &&
        host->counter && host->counter_add) {
        stored_files = host->counter("webserv_upload_files_total", "Files stored by the upload module");
        stored_bytes = host->counter("webserv_upload_bytes_total", "Bytes of the files stored by the upload module");
    }
    return 0;
}

void up_count_stored(const up_ctx *c)
{
    if (!stored_files || !stored_bytes)
        return;
    uint64_t bytes = 0;
    for (size_t i = 0; i < c->n_files; i++)
        bytes += c->files[i].placed ? (uint64_t)c->files[i].size : 0;
    up_host->counter_add(stored_files, c->n_files);
    up_host->counter_add(stored_bytes, bytes);
}

/* Settings: "dir" (a folder; default: the location's root mapping). */
static int up_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    up_conf *conf = up_host->cfg_alloc(s, sizeof *conf);
    const char *dir = NULL;
    if (!conf || up_host->cfg_path(s, "dir", &dir) < 0)
        return -1;
    const char *prefix = loc->path ? loc->path : "/";
    char *location = up_host->cfg_alloc(s, strlen(prefix) + 1);
    if (!location)
        return -1;
    strcpy(location, prefix);
    conf->location = location;
    if (dir) {
        conf->base = dir;
    } else if (loc->root) {
        size_t rlen = strlen(loc->root), plen = strlen(prefix);
        char *base = up_host->cfg_alloc(s, rlen + plen + 1);
        if (!base)
            return -1;
        memcpy(base, loc->root, rlen);
        memcpy(base + rlen, prefix, plen + 1);
        while (plen > 0 && base[rlen + plen - 1] == '/' && rlen + plen > 1)
            base[rlen + --plen] = '\0';
        conf->base = base;
    } else {
        up_host->cfg_error(s, NULL, "upload needs a \"root\" for this location or a \"dir\"");
        return -1;
    }
    *out = conf;
    return 0;
}

static int up_match(ws_request *r)
{
    for (int i = 0; methods[i]; i++)
        if (strcmp(r->method, methods[i]) == 0)
            return WS_TAKE;
    return WS_DECLINE;
}

static int up_handle(ws_request *r)
{
    const up_conf *conf = r->conf;
    if (strcmp(r->method, "DELETE") == 0)
        return up_delete(r, conf);

    up_ctx *c = up_host->alloc(r, sizeof *c);
    if (!c)
        return 500;
    c->fd = -1;
    c->start_fd = -1;
    up_spool_init(r, c);
    r->ctx = c;
    const char *path = r->request_path ? r->request_path : r->path;
    size_t plen = strlen(path);
    /* A POST to a folder, with or without the trailing slash (SPEC §5: an
     * HTML form's action="/upload" must work), is a form upload; a path
     * without the slash is a folder when it resolves to one. The pool
     * finds out, with the rest of an upload's start (raw.c): no realpath,
     * lstat or open on the event loop (issue 21). */
    int post = strcmp(r->method, "POST") == 0;
    int slash = plen > 0 && path[plen - 1] == '/';
    c->kind = post ? UP_RAW_POST : UP_RAW_PUT;
    c->maybe_form = post ? 1 + slash : 0; /* 2: a form upload or an error */
    return up_raw_start(r, c, conf);
}

int up_form_begin(ws_request *r, up_ctx *c)
{
    const char *type = up_host->header(r, "Content-Type");
    if (!mp_is_form_data(type))
        return up_respond_unsupported_type(r) < 0 ? 500 : 0; /* 415, RFC 9110 §15.5.16 */
    return up_form_start(r, c, type);
}

static size_t up_on_body(ws_request *r, const char *data, size_t len)
{
    up_ctx *c = r->ctx;
    if (!c)
        return len;
    return c->kind == UP_FORM ? up_form_body(r, c, data, len) : up_raw_body(r, c, data, len);
}

static void up_on_body_end(ws_request *r)
{
    up_ctx *c = r->ctx;
    if (!c)
        return;
    if (c->kind == UP_FORM)
        up_form_end(r, c);
    else
        up_raw_end(r, c);
}

static void up_cleanup(ws_request *r, int how)
{
    (void)how;
    up_ctx *c = r->ctx;
    if (c) {
        up_discard_temps(c, 1); /* whatever was not placed: aborted, refused or failed */
        spool_free(&c->sp);
    }
    r->ctx = NULL;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "upload",
    .methods = methods,
    .init = up_init,
    .configure = up_configure,
    .match = up_match,
    .handle = up_handle,
    .on_body = up_on_body,
    .on_body_end = up_on_body_end,
    .cleanup = up_cleanup,
};

/* Words for `webserv --schema` (module.h); the keys themselves come from up_configure. */
static const ws_key_doc up_keys[] = {
    {"dir", "Folder that receives the files (default: the location's root + its path)", NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Stores files sent with POST (multipart or raw) and PUT, removes them with DELETE",
    .keys = up_keys,
};

/*
 * mod_filty: a test module for ABI 1.2 body filters (core/phases/filter.c).
 * Settings: "mode" (string):
 *   "identity" passes every piece on unchanged (the same pointer);
 *   "upper"    upper-cases ASCII letters, same length;
 *   "tag"      passes the body on and appends ":<name>" at the end, so the
 *              length becomes unknown (set_length(-1)) and the ETag weak;
 *   "count"    swallows the body and answers "<n> bytes\n" at the end;
 *   "async"    an asynchronous filter: each piece is copied and handed to
 *              host->offload (the work sleeps 2 ms), and its done passes it
 *              on unchanged (body_filter returns WS_DEFER); ?asyncfail: the
 *              done of the second piece fails the response (host->error).
 *              The log hook frees a piece whose done never came.
 * "tag" and "count" filter only 200s (a 206 keeps its Content-Range).
 * Query words: ?nofilter → the header filter says 0; ?failfirst → WS_ERROR
 * on the first piece (nothing passed on yet: the client gets a 500);
 * ?failafter → WS_ERROR once 300000 bytes went through (the response is cut);
 * ?hfail → the header filter fails.
 * The header filter adds "X-<Name>-Saw: <status> <Content-Length or -> <ETag
 * or -> <Accept-Ranges or ->" (what it was shown). Built twice: filtz
 * includes this file with another name, to check the chain's order.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webserv/module.h"

#ifndef FILTY_NAME
#define FILTY_NAME "filty"
#define FILTY_SAW "X-Filty-Saw"
#endif

enum { M_IDENTITY, M_UPPER, M_TAG, M_COUNT, M_ASYNC };

typedef struct conf {
    int mode;
} conf;

typedef struct job {
    struct state *st;
    size_t len;
    int last;
    char data[];
} job;

typedef struct state {
    unsigned long long seen;
    int pieces;
    job *job; /* on the pool (M_ASYNC) */
} state;

static const ws_host *host;
WS_EXPORT const ws_module webserv_module;

static int fy_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int fy_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    conf *c = host->cfg_alloc(s, sizeof *c);
    const char *mode = "identity";
    if (!c || host->cfg_string(s, "mode", &mode) < 0)
        return -1;
    if (strcmp(mode, "identity") == 0)
        c->mode = M_IDENTITY;
    else if (strcmp(mode, "upper") == 0)
        c->mode = M_UPPER;
    else if (strcmp(mode, "tag") == 0)
        c->mode = M_TAG;
    else if (strcmp(mode, "count") == 0)
        c->mode = M_COUNT;
    else if (strcmp(mode, "async") == 0)
        c->mode = M_ASYNC;
    else {
        host->cfg_error(s, "mode", "must be identity, upper, tag, count or async");
        return -1;
    }
    *out = c;
    return 0;
}

static int has(const ws_request *r, const char *word)
{
    return strstr(r->query, word) != NULL;
}

static int fy_header_filter(ws_request *r)
{
    const conf *c = r->conf;
    const char *len = host->resp_header(r, "Content-Length");
    const char *etag = host->resp_header(r, "ETag");
    const char *ar = host->resp_header(r, "Accept-Ranges");
    char saw[200];
    snprintf(saw, sizeof saw, "%d %s %s %s", host->get_status(r), len ? len : "-", etag ? etag : "-", ar ? ar : "-");
    host->add_header(r, FILTY_SAW, saw);
    if (has(r, "hfail"))
        return WS_ERROR;
    if (has(r, "nofilter"))
        return 0;
    if (c->mode == M_TAG || c->mode == M_COUNT) {
        if (host->get_status(r) != 200)
            return 0; /* a 206 keeps its Content-Range: only a whole body changes length */
        host->set_length(r, -1); /* the body changes length */
        host->remove_header(r, "Accept-Ranges");
        if (etag && etag[0] == '"') {
            char weak[100];
            snprintf(weak, sizeof weak, "W/%s", etag);
            host->set_header(r, "ETag", weak);
        }
    }
    return 1;
}

static void async_work(void *arg)
{
    (void)arg;
    struct timespec t = {0, 2000000};
    nanosleep(&t, NULL); /* a slow coder */
}

static void async_done(ws_request *r, void *arg)
{
    job *j = arg;
    state *st = j->st;
    st->job = NULL;
    if (has(r, "asyncfail") && st->pieces >= 2) {
        free(j);
        host->error(r, 500);
        return;
    }
    if (!j->len || host->filter_next(r, j->data, j->len, 0) != WS_ERROR)
        if (j->last)
            host->filter_next(r, "", 0, 1);
    free(j);
}

static int async_piece(ws_request *r, state *st, const void *data, size_t len, int last)
{
    job *j = malloc(sizeof *j + len);
    if (!j)
        return WS_ERROR;
    j->st = st;
    j->len = len;
    j->last = last;
    memcpy(j->data, data, len);
    if (host->offload(r, async_work, async_done, j) != WS_OK) {
        free(j);
        return WS_ERROR;
    }
    st->job = j;
    return WS_DEFER;
}

/* After the response: a piece whose done was skipped (the client left). */
static void fy_log_request(ws_request *r, const ws_log_info *info)
{
    (void)info;
    void **slot = host->module_ctx(r, &webserv_module);
    state *st = slot ? *slot : NULL;
    if (st && st->job) {
        free(st->job);
        st->job = NULL;
    }
}

static int fy_body_filter(ws_request *r, const void *data, size_t len, int last)
{
    const conf *c = r->conf;
    void **slot = host->module_ctx(r, &webserv_module);
    if (!slot)
        return WS_ERROR;
    state *st = *slot;
    if (!st) {
        st = host->alloc(r, sizeof *st);
        if (!st)
            return WS_ERROR;
        *slot = st;
    }
    st->pieces++;
    if (has(r, "failfirst"))
        return WS_ERROR;
    st->seen += len;
    if (has(r, "failafter") && st->seen > 300000)
        return WS_ERROR;
    int rc = WS_OK;
    switch (c->mode) {
    case M_IDENTITY:
        return host->filter_next(r, data, len, last);
    case M_UPPER: {
        char buf[4096];
        const char *p = data;
        while (len) {
            size_t n = len < sizeof buf ? len : sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)toupper((unsigned char)p[i]);
            rc = host->filter_next(r, buf, n, last && n == len);
            if (rc == WS_ERROR)
                return rc;
            p += n;
            len -= n;
        }
        return last && rc != WS_ERROR ? host->filter_next(r, NULL, 0, 1) : rc;
    }
    case M_TAG:
        if (len && (rc = host->filter_next(r, data, len, 0)) == WS_ERROR)
            return rc;
        if (last)
            return host->filter_next(r, ":" FILTY_NAME, strlen(":" FILTY_NAME), 1);
        return rc;
    case M_ASYNC:
        return async_piece(r, st, data, len, last);
    default: /* M_COUNT */
        if (last) {
            char out[64];
            int n = snprintf(out, sizeof out, "%llu bytes\n", st->seen);
            return host->filter_next(r, out, (size_t)n, 1);
        }
        return WS_OK;
    }
}


WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = FILTY_NAME,
    .init = fy_init,
    .configure = fy_configure,
    .header_filter = fy_header_filter,
    .body_filter = fy_body_filter,
    .log_request = fy_log_request,
};

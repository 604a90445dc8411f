/*
 * The body filter: each piece the handler gives is fed to the response's
 * encoder as it arrives, and what comes out goes on with host->filter_next.
 * Memory per response: the encoder's window and its CODEC_OUT buffer; the
 * handler is held back by the core's backpressure (WS_AGAIN) like any
 * writer, so nothing here grows with the body.
 */
#include <string.h>

#include "compress_mod.h"

typedef struct cz_body {
    codec *codec; /* made with the first piece: a response whose body never comes costs none */
    coding kind;
    int level;
    int64_t length;
    int ended;
} cz_body;

static void body_free(void *arg)
{
    cz_body *b = arg;
    codec_free(b->codec);
    b->codec = NULL;
}

int cz_body_start(ws_request *r, const cz_conf *c, coding k, int64_t length)
{
    void **slot = cz_host->module_ctx(r, &webserv_module);
    if (!slot)
        return -1;
    cz_body *b = cz_host->alloc(r, sizeof *b);
    if (!b)
        return -1;
    b->kind = k;
    b->level = c->level[k];
    b->length = length;
    *slot = b;
    return 0;
}

static int to_next(void *arg, const void *data, size_t len)
{
    return cz_host->filter_next(arg, data, len, 0);
}

int cz_body_filter(ws_request *r, const void *data, size_t len, int last)
{
    void **slot = cz_host->module_ctx(r, &webserv_module);
    cz_body *b = slot ? *slot : NULL;
    if (!b || b->ended)
        return cz_host->filter_next(r, data, len, last);
    if (!b->codec && !(b->codec = codec_new(b->kind, b->level, b->length))) {
        cz_host->log(WS_LOG_ERROR, r, "%s encoder: out of memory", coding_name(b->kind));
        return WS_ERROR;
    }
    int rc = codec_write(b->codec, data, len, last, to_next, r);
    if (rc == WS_ERROR) {
        cz_host->log(WS_LOG_ERROR, r, "%s coding stopped: the encoder or the next filter failed", coding_name(b->kind));
        b->ended = 1;
        body_free(b);
        return WS_ERROR;
    }
    if (last) {
        b->ended = 1;
        body_free(b);
        int e = cz_host->filter_next(r, "", 0, 1);
        return e == WS_ERROR ? WS_ERROR : rc == WS_AGAIN ? WS_AGAIN : e;
    }
    return rc;
}

/* After the response, sent or aborted: the encoder of a body cut short. */
void cz_log_request(ws_request *r, const ws_log_info *info)
{
    (void)info;
    void **slot = cz_host->module_ctx(r, &webserv_module);
    if (slot && *slot)
        body_free(*slot);
}

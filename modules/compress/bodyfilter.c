/*
 * The body filter: each piece the handler gives is fed to the response's
 * encoder as it arrives, and what comes out goes on with host->filter_next.
 * Memory per response: the encoder's window and its CODEC_OUT buffer; the
 * handler is held back by the core's backpressure (WS_AGAIN) like any
 * writer, so nothing here grows with the body. A full buffer (at least
 * CODEC_TAKE_MIN bytes of output) goes on with filter_next_ref, queued by
 * the carrier as it is: the output is not copied again on its way out.
 *
 * High levels (cz_offloaded: gzip 7-9, br 5-11, zstd 10-19) cost
 * milliseconds to hundreds of milliseconds per 64 KiB piece: they run on the
 * core's thread pool (host->offload from body_filter makes this filter
 * asynchronous, docs/modules.md "Asynchronous body filters"). One piece at a
 * time: the core holds everything after it until the work's done passed the
 * output on, so the order stays and memory stays one piece in and its output.
 *
 * A piece shorter than the core's file pieces (64 KiB) is flushed: all its
 * output goes out at once as a decodable prefix, so a CGI, proxied or
 * custom handler's body that trickles (a line, then a pause) reaches the
 * client as it comes. File ranges arrive in 64 KiB pieces and flow without
 * flushes (their short last piece completes the known length: no flush); a
 * bulk CGI (16 KiB reads) pays ~1 % of output for them.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "compress_mod.h"

/* One piece on the pool: its bytes in (copied: `data` lives during the
 * body_filter call only) and what the encoder made of them. Kept for the
 * response's next piece. */
typedef struct cz_job {
    struct cz_body *b;
    unsigned char *in;
    size_t in_len, in_cap;
    unsigned char *out;
    size_t out_len, out_cap;
    int how; /* CODEC_MORE, CODEC_FLUSH or CODEC_END */
    int failed;
} cz_job;

typedef struct cz_body {
    codec *codec; /* made with the first piece: a response whose body never comes costs none */
    coding kind;
    int level;
    int64_t length;
    int ended;
    int offload;  /* this level runs on the pool */
    cz_job *job;  /* malloc'd with the first offloaded piece */
} cz_body;

int cz_offloaded(coding k, int level)
{
    switch (k) {
    case CODING_GZIP: return level >= CZ_OFFLOAD_GZIP;
    case CODING_BR: return level >= CZ_OFFLOAD_BR;
    case CODING_ZSTD: return level >= CZ_OFFLOAD_ZSTD;
    default: return 0;
    }
}

static void body_free(void *arg)
{
    cz_body *b = arg;
    codec_free(b->codec);
    b->codec = NULL;
    if (b->job) {
        free(b->job->in);
        free(b->job->out);
        free(b->job);
        b->job = NULL;
    }
}

int cz_body_start(ws_request *r, const cz_conf *c, coding k, int64_t length)
{
    void **slot = cz_host->module_ctx(r, &webserv_module);
    if (!slot)
        return -1;
    cz_body *b = cz_host->alloc(r, sizeof *b);
    if (!b)
        return -1;
    memset(b, 0, sizeof *b);
    b->kind = k;
    b->level = c->level[k];
    b->length = length;
    b->offload = cz_offloaded(k, b->level);
    *slot = b;
    return 0;
}

static int to_next(void *arg, const void *data, size_t len)
{
    return cz_host->filter_next(arg, data, len, 0);
}

/* A full output buffer goes on as it is (no copy into the carrier's queue):
 * the carrier gives it back once sent. */
static int to_next_ref(void *arg, void *buf, size_t len)
{
    return cz_host->filter_next_ref(arg, buf, len, 0, codec_buf_release, buf);
}

/* filter_next_ref: ABI 1.3, not in an older core. */
static codec_take taker(void)
{
    return cz_host->size >= offsetof(ws_host, filter_next_ref) + sizeof cz_host->filter_next_ref &&
                   cz_host->filter_next_ref
               ? to_next_ref
               : NULL;
}

/* ---- on the pool ---- */

static int to_job(void *arg, const void *data, size_t len)
{
    cz_job *j = arg;
    if (len > j->out_cap - j->out_len) {
        size_t cap = j->out_cap ? j->out_cap : CODEC_OUT;
        while (cap - j->out_len < len)
            cap *= 2;
        unsigned char *p = realloc(j->out, cap);
        if (!p)
            return WS_ERROR;
        j->out = p;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, data, len);
    j->out_len += len;
    return WS_OK;
}

/* Touches only the job and the encoder (neither the request nor the host). */
static void job_work(void *arg)
{
    cz_job *j = arg;
    j->out_len = 0;
    j->failed = codec_write(j->b->codec, j->in, j->in_len, j->how, to_job, j) == WS_ERROR;
}

/* Back on the loop, as a call of this filter: the piece's output goes on. */
static void job_done(ws_request *r, void *arg)
{
    cz_job *j = arg;
    cz_body *b = j->b;
    if (j->failed) {
        cz_host->log(WS_LOG_ERROR, r, "%s coding stopped: the encoder failed", coding_name(b->kind));
        b->ended = 1;
        cz_host->error(r, 500); /* a 500 while nothing went out, else the response is cut */
        return;
    }
    if (j->out_len && cz_host->filter_next(r, j->out, j->out_len, 0) == WS_ERROR)
        return; /* the response is gone: log_request frees the encoder */
    if (j->how == CODEC_END) {
        b->ended = 1;
        codec_free(b->codec); /* on the loop: a finished encoder goes back to the idle list */
        b->codec = NULL;
        cz_host->filter_next(r, "", 0, 1);
    }
    /* Shrink a big piece's buffers back (a write() of megabytes). */
    if (j->in_cap > 4 * CODEC_OUT) {
        free(j->in);
        j->in = NULL;
        j->in_cap = 0;
    }
    if (j->out_cap > 4 * CODEC_OUT) {
        free(j->out);
        j->out = NULL;
        j->out_cap = 0;
    }
}

/* The piece to the pool: WS_DEFER (the chain waits for job_done), or
 * WS_ERROR when it could not go (then it is coded here). */
static int offload_piece(ws_request *r, cz_body *b, const void *data, size_t len, int how)
{
    cz_job *j = b->job;
    if (!j) {
        j = b->job = calloc(1, sizeof *j);
        if (!j)
            return WS_ERROR;
        j->b = b;
    }
    if (len > j->in_cap) {
        unsigned char *p = realloc(j->in, len);
        if (!p)
            return WS_ERROR;
        j->in = p;
        j->in_cap = len;
    }
    if (len)
        memcpy(j->in, data, len);
    j->in_len = len;
    j->how = how;
    if (cz_host->offload(r, job_work, job_done, j) != WS_OK)
        return WS_ERROR;
    return WS_DEFER;
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
    /* A short piece is flushed, unless it completes a body of known length
     * (a file's last piece: its end follows at once, with no flush bytes). */
    int completes = b->length >= 0 && codec_in_bytes(b->codec) + len >= (uint64_t)b->length;
    int how = last ? CODEC_END : len && len < CZ_FLUSH_BELOW && !completes ? CODEC_FLUSH : CODEC_MORE;
    if (b->offload && (len || last) && offload_piece(r, b, data, len, how) == WS_DEFER)
        return WS_DEFER;
    int rc = codec_write_take(b->codec, data, len, how, to_next, taker(), r);
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

/* After the response, sent or aborted (and, the core guarantees, after any
 * work of it returned): the encoder of a body cut short, the job's buffers. */
void cz_log_request(ws_request *r, const ws_log_info *info)
{
    (void)info;
    void **slot = cz_host->module_ctx(r, &webserv_module);
    if (slot && *slot)
        body_free(*slot);
}

/*
 * Streaming encoders: gzip over zlib (RFC 1952), br over libbrotli's
 * BrotliEncoderCompressStream (RFC 7932), zstd over ZSTD_compressStream2
 * (RFC 8878). Pieces in, pieces out: each encoder keeps its window and one
 * CODEC_OUT buffer, whatever the body's size, and hands the buffer to the
 * sink each time it fills, and at the end.
 */
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"

/* Windows chosen for on-the-fly use: memory per response stays near a
 * megabyte (a 100 KiB page fits any of them whole). zstd keeps its
 * level's window (≤ 8 MiB up to level 19, the limit RFC 9659 §3 sets for
 * HTTP). */
#define BR_LGWIN 19 /* 512 KiB: about 4.5 MiB of encoder state at quality 4 (20 would be 7.5) */
#define GZIP_WBITS 15
#define GZIP_MEMLEVEL 8

struct codec {
    coding kind;
    int finished; /* the stream's end was written */
    uint64_t in, out;
    union {
        z_stream z;
        BrotliEncoderState *br;
        ZSTD_CCtx *zs;
    } u;
    size_t fill;
    unsigned char buf[CODEC_OUT];
};

const char *coding_name(coding c)
{
    switch (c) {
    case CODING_GZIP: return "gzip";
    case CODING_BR: return "br";
    case CODING_ZSTD: return "zstd";
    default: return "identity";
    }
}

const char *coding_suffix(coding c)
{
    switch (c) {
    case CODING_GZIP: return ".gz";
    case CODING_BR: return ".br";
    case CODING_ZSTD: return ".zst";
    default: return NULL;
    }
}

const char *coding_etag_suffix(coding c)
{
    switch (c) {
    case CODING_GZIP: return "-gz";
    case CODING_BR: return "-br";
    case CODING_ZSTD: return "-zst";
    default: return "";
    }
}

/* Idle encoders kept per worker for the next response (the body filter runs
 * on the worker's loop thread only): making a zlib stream or a zstd context
 * costs more than coding a small page (its tables are allocated and touched
 * again each time: ~170 µs for gzip), while deflateReset / ZSTD_CCtx_reset
 * reuse them. Brotli has no reset: its encoders are made each time. */
#define IDLE_MAX 4
static codec *idle[IDLE_MAX];
static size_t n_idle;

static codec *take_idle(coding kind, int level)
{
    for (size_t i = n_idle; i-- > 0;) {
        codec *c = idle[i];
        if (c->kind != kind)
            continue;
        idle[i] = idle[--n_idle];
        int ok = kind == CODING_GZIP ? deflateReset(&c->u.z) == Z_OK && deflateParams(&c->u.z, level, Z_DEFAULT_STRATEGY) == Z_OK
                                     : !ZSTD_isError(ZSTD_CCtx_reset(c->u.zs, ZSTD_reset_session_and_parameters)) &&
                                           !ZSTD_isError(ZSTD_CCtx_setParameter(c->u.zs, ZSTD_c_compressionLevel, level));
        if (!ok) {
            c->finished = 0; /* not back to the idle list */
            codec_free(c);
            return NULL;
        }
        c->finished = 0;
        c->in = c->out = 0;
        c->fill = 0;
        return c;
    }
    return NULL;
}

codec *codec_new(coding kind, int level, int64_t size_hint)
{
    if (kind == CODING_GZIP || kind == CODING_ZSTD) {
        codec *reused = take_idle(kind, level);
        if (reused)
            return reused;
    }
    codec *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, offsetof(codec, buf));
    c->kind = kind;
    switch (kind) {
    case CODING_GZIP:
        /* windowBits + 16: a gzip wrapper (RFC 1952), not zlib's. */
        if (deflateInit2(&c->u.z, level, Z_DEFLATED, GZIP_WBITS + 16, GZIP_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
            goto fail;
        return c;
    case CODING_BR:
        c->u.br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        if (!c->u.br)
            goto fail;
        BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_QUALITY, (uint32_t)level);
        BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_LGWIN, BR_LGWIN);
        BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
        if (size_hint > 0)
            BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_SIZE_HINT,
                                      size_hint > (1 << 30) ? (1u << 30) : (uint32_t)size_hint);
        return c;
    case CODING_ZSTD:
        c->u.zs = ZSTD_createCCtx();
        if (!c->u.zs || ZSTD_isError(ZSTD_CCtx_setParameter(c->u.zs, ZSTD_c_compressionLevel, level)))
            goto fail;
        (void)size_hint; /* a pledged size would make a handler's miscount an encoder error */
        return c;
    default:
        break;
    }
fail:
    codec_free(c);
    return NULL;
}

void codec_free(codec *c)
{
    if (!c)
        return;
    /* A finished stream is clean: keep it for the next response. One cut
     * short (an aborted response) is let go, as is one past the limit. */
    if (c->finished && (c->kind == CODING_GZIP || c->kind == CODING_ZSTD) && n_idle < IDLE_MAX) {
        idle[n_idle++] = c;
        return;
    }
    switch (c->kind) {
    case CODING_GZIP: deflateEnd(&c->u.z); break;
    case CODING_BR: if (c->u.br) BrotliEncoderDestroyInstance(c->u.br); break;
    case CODING_ZSTD: ZSTD_freeCCtx(c->u.zs); break;
    default: break;
    }
    free(c);
}

void codec_idle_clear(void)
{
    while (n_idle > 0) {
        codec *c = idle[--n_idle];
        c->finished = 0;
        codec_free(c);
    }
}

uint64_t codec_in_bytes(const codec *c) { return c->in; }
uint64_t codec_out_bytes(const codec *c) { return c->out; }

/* Hand the buffer to the sink; remember a WS_AGAIN. */
static int emit(codec *c, codec_sink sink, void *arg, int *again)
{
    if (c->fill == 0)
        return 0;
    int rc = sink(arg, c->buf, c->fill);
    c->out += c->fill;
    c->fill = 0;
    if (rc == WS_AGAIN)
        *again = 1;
    return rc == WS_ERROR ? -1 : 0;
}

static int run_gzip(codec *c, const void *in, size_t len, int last, codec_sink sink, void *arg, int *again)
{
    z_stream *z = &c->u.z;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = 0;
    size_t left = len;
    for (;;) {
        if (z->avail_in == 0 && left) { /* avail_in is a uInt: feed at most 1 GiB at a time */
            z->avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            left -= z->avail_in;
        }
        z->next_out = c->buf + c->fill;
        z->avail_out = (uInt)(CODEC_OUT - c->fill);
        int rc = deflate(z, last && !left ? Z_FINISH : Z_NO_FLUSH);
        c->fill = CODEC_OUT - z->avail_out;
        if (rc == Z_STREAM_ERROR)
            return -1;
        if (c->fill == CODEC_OUT && emit(c, sink, arg, again) < 0)
            return -1;
        if (rc == Z_STREAM_END)
            return emit(c, sink, arg, again);
        if (z->avail_in == 0 && !left && !last)
            return 0; /* all taken; the output waits in buf for more */
    }
}

static int run_br(codec *c, const void *in, size_t len, int last, codec_sink sink, void *arg, int *again)
{
    BrotliEncoderState *s = c->u.br;
    const uint8_t *next_in = in;
    size_t avail_in = len;
    BrotliEncoderOperation op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
    for (;;) {
        uint8_t *next_out = c->buf + c->fill;
        size_t avail_out = CODEC_OUT - c->fill;
        if (!BrotliEncoderCompressStream(s, op, &avail_in, &next_in, &avail_out, &next_out, NULL))
            return -1;
        c->fill = CODEC_OUT - avail_out;
        if (c->fill == CODEC_OUT && emit(c, sink, arg, again) < 0)
            return -1;
        if (avail_in == 0 && !BrotliEncoderHasMoreOutput(s)) {
            if (!last)
                return 0;
            if (BrotliEncoderIsFinished(s))
                return emit(c, sink, arg, again);
        }
    }
}

static int run_zstd(codec *c, const void *in, size_t len, int last, codec_sink sink, void *arg, int *again)
{
    ZSTD_inBuffer ib = {in, len, 0};
    for (;;) {
        ZSTD_outBuffer ob = {c->buf, CODEC_OUT, c->fill};
        size_t rem = ZSTD_compressStream2(c->u.zs, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(rem))
            return -1;
        c->fill = ob.pos;
        if (c->fill == CODEC_OUT && emit(c, sink, arg, again) < 0)
            return -1;
        if (ib.pos == ib.size) {
            if (!last && c->fill < CODEC_OUT)
                return 0;
            if (last && rem == 0)
                return emit(c, sink, arg, again);
        }
    }
}

int codec_write(codec *c, const void *in, size_t len, int last, codec_sink sink, void *arg)
{
    int again = 0, rc;
    static const unsigned char none[1];
    if (c->finished)
        return len || !last ? WS_ERROR : WS_OK;
    if (!in) {
        in = none;
        len = 0;
    }
    c->in += len;
    switch (c->kind) {
    case CODING_GZIP: rc = run_gzip(c, in, len, last, sink, arg, &again); break;
    case CODING_BR: rc = run_br(c, in, len, last, sink, arg, &again); break;
    case CODING_ZSTD: rc = run_zstd(c, in, len, last, sink, arg, &again); break;
    default: rc = -1;
    }
    if (rc < 0)
        return WS_ERROR;
    c->finished = last;
    return again ? WS_AGAIN : WS_OK;
}

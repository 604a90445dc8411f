/*
 * Streaming encoders: gzip over zlib (RFC 1952), br over libbrotli's
 * BrotliEncoderCompressStream (RFC 7932), zstd over ZSTD_compressStream2
 * (RFC 8878). Pieces in, pieces out: each encoder keeps its window and one
 * CODEC_OUT buffer, whatever the body's size, and hands the buffer to the
 * sink each time it fills, and at the end.
 *
 * One exception, for speed: gzip at levels 1-2 on a body whose length is
 * known and at most WHOLE_MAX is gathered and coded in one call by
 * libdeflate (see "whole bodies" below).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"

/* Windows chosen for on-the-fly use. zstd keeps its level's window (≤ 8 MiB
 * up to level 19, the limit RFC 9659 §3 sets for HTTP). Brotli: see br_lgwin. */
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
    size_t mem, mem_peak; /* brotli: bytes its encoder holds (br_alloc) */
    size_t fill;
    unsigned char *buf; /* CODEC_OUT bytes; replaced when a taker keeps it */
    /* gzip: zlib's stream is made when first needed (a whole body never needs it) */
    int z_ready;
    int level;
    /* gzip, whole bodies: the body gathered here until its end */
    int whole;
    int64_t whole_len; /* the length the body announced */
    unsigned char *win, *wout;
    size_t win_len, win_cap, wout_cap;
    struct libdeflate_compressor *ldc;
    int ldc_level;
};

/* Brotli's allocations, counted (codec_mem_peak). */
typedef union br_block {
    size_t n;
    max_align_t align;
} br_block;

static void *br_alloc(void *opaque, size_t n)
{
    codec *c = opaque;
    br_block *b = n <= SIZE_MAX - sizeof *b ? malloc(sizeof *b + n) : NULL;
    if (!b)
        return NULL;
    b->n = n;
    c->mem += n;
    if (c->mem > c->mem_peak)
        c->mem_peak = c->mem;
    return b + 1;
}

static void br_free(void *opaque, void *p)
{
    codec *c = opaque;
    if (!p)
        return;
    br_block *b = (br_block *)p - 1;
    c->mem -= b->n;
    free(b);
}

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

/*
 * Whole bodies. libdeflate codes a buffer in one call, about twice as fast
 * as zlib at the same level, and at levels 1-2 smaller: the bench's 100 KiB
 * page at level 1 19,799 bytes in 188 µs vs zlib's 21,471 in 412, and every
 * other sample tried (docs, C source, JSON, word salad) 3-8 % smaller at
 * levels 1 and 2. From level 3 zlib's output is sometimes the smaller one
 * (level 3 on word salad: 14,669 vs 14,162), so levels 3-9 stay on zlib.
 * It has no streaming, so it only takes a body of known length up to
 * WHOLE_MAX, gathered as it comes (memory: the body, its bound and
 * libdeflate's state, 0.2 MiB at level 1 and 0.65 at level 2, instead of
 * zlib's 0.27 MiB, which is then never made). When such a body must
 * be flushed before its end (a short piece: a handler that trickles), or
 * brings more than it announced, what was gathered goes to a zlib stream and
 * the rest follows there: nothing went out yet, so the client sees one
 * ordinary gzip stream either way.
 */
#define WHOLE_MAX (256 * 1024)
#define WHOLE_LEVEL_MAX 2
#define WHOLE_KEEP (128 * 1024) /* buffers up to this size stay with an idle encoder */

static int whole_fits(int level, int64_t size_hint)
{
    return level >= 1 && level <= WHOLE_LEVEL_MAX && size_hint > 0 && size_hint <= WHOLE_MAX;
}

static int z_start(codec *c)
{
    if (c->z_ready)
        return 0;
    /* windowBits + 16: a gzip wrapper (RFC 1952), not zlib's. */
    if (deflateInit2(&c->u.z, c->level, Z_DEFLATED, GZIP_WBITS + 16, GZIP_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    c->z_ready = 1;
    return 0;
}

static void whole_drop_buffers(codec *c, size_t keep)
{
    if (c->win_cap > keep) {
        free(c->win);
        c->win = NULL;
        c->win_cap = 0;
    }
    if (c->wout_cap > keep) {
        free(c->wout);
        c->wout = NULL;
        c->wout_cap = 0;
    }
    c->win_len = 0;
}

static int grow(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    unsigned char *n = realloc(*p, need);
    if (!n)
        return -1;
    *p = n;
    *cap = need;
    return 0;
}

/* Idle encoders kept per worker for the next response (the body filter runs
 * on the worker's loop thread only): making a zlib stream or a zstd context
 * costs more than coding a small page (its tables are allocated and touched
 * again each time: ~170 µs for gzip), while deflateReset / ZSTD_CCtx_reset
 * reuse them. Brotli has no reset: its encoders are made each time. */
#define IDLE_MAX 4
static codec *idle[IDLE_MAX];
static size_t n_idle;

static codec *take_idle(coding kind, int level, int64_t size_hint)
{
    for (size_t i = n_idle; i-- > 0;) {
        codec *c = idle[i];
        if (c->kind != kind)
            continue;
        idle[i] = idle[--n_idle];
        int ok = kind == CODING_GZIP ? !c->z_ready || (deflateReset(&c->u.z) == Z_OK &&
                                                       deflateParams(&c->u.z, level, Z_DEFAULT_STRATEGY) == Z_OK)
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
        c->level = level;
        c->whole = kind == CODING_GZIP && whole_fits(level, size_hint);
        c->whole_len = size_hint;
        c->win_len = 0;
        return c;
    }
    return NULL;
}

/* Output buffers given to a taker come back through codec_buf_release
 * (the carrier sent them); a few are kept for the next ones. */
#define SPARE_BUFS 4
static void *spare_buf[SPARE_BUFS];
static size_t n_spare_buf;

static unsigned char *buf_get(void)
{
    return n_spare_buf ? spare_buf[--n_spare_buf] : malloc(CODEC_OUT);
}

void codec_buf_release(void *buf)
{
    if (buf && n_spare_buf < SPARE_BUFS)
        spare_buf[n_spare_buf++] = buf;
    else
        free(buf);
}

/* Brotli's window (log2 bytes). Its encoder state grows with the window and,
 * from quality 7, jumps once the window passes 64 KiB (other hashers): peak
 * encoder memory measured on a 4 MiB HTML stream fed in 64 KiB pieces
 * (malloc'd bytes, libbrotli 1.0.9):
 *     quality 4: w16 1.8 MiB, w18 3.4, w19 5.8, w20 10.5
 *     quality 6: w16 1.8 MiB, w18 4.9, w19 7.2, w20 11.5
 *     quality 9: w16 2.6 MiB, w17 34.7 (!)     quality 11: w16 5.7, w17 10.9, w19 24.8
 * while the output grows by about 1 % from w19 to w18 (q4: 759967 → 760047
 * bytes), and by 6 % from w19 to w17 at quality 11. So: 256 KiB up to
 * quality 6, 64 KiB for 7-9, 128 KiB for 10-11; never more than the body
 * when its length is known (a 100 KiB page gets 128 KiB). At 10-11 the
 * input block (lgblock) counts even more (its Zopfli nodes): 1 MiB at q11
 * w17 takes 6.6 MiB with 64 KiB blocks, 20 MiB with 256 KiB, 72 MiB with
 * 1 MiB, for 0.2-0.4 % of output; so 64 KiB blocks there. codec_mem_peak
 * reports what an encoder took (modules/test_compress checks the bounds). */
#define BR_LGWIN_MIN 16
#define BR_LGBLOCK_ZOPFLI 16

static uint32_t br_lgwin(int quality, int64_t size_hint)
{
    uint32_t w = quality <= 6 ? 18 : quality <= 9 ? 16 : 17;
    while (size_hint > 0 && w > BR_LGWIN_MIN && size_hint <= ((int64_t)1 << (w - 1)))
        w--;
    return w;
}

codec *codec_new(coding kind, int level, int64_t size_hint)
{
    if (kind == CODING_GZIP || kind == CODING_ZSTD) {
        codec *reused = take_idle(kind, level, size_hint);
        if (reused)
            return reused;
    }
    codec *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->kind = kind;
    if (!(c->buf = buf_get())) {
        free(c);
        return NULL;
    }
    switch (kind) {
    case CODING_GZIP:
        c->level = level;
        c->whole = whole_fits(level, size_hint);
        c->whole_len = size_hint;
        if (!c->whole && z_start(c) < 0)
            goto fail;
        return c;
    case CODING_BR:
        c->u.br = BrotliEncoderCreateInstance(br_alloc, br_free, c);
        if (!c->u.br)
            goto fail;
        BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_QUALITY, (uint32_t)level);
        uint32_t lgwin = br_lgwin(level, size_hint);
        BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_LGWIN, lgwin);
        BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
        if (level >= 10)
            BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_LGBLOCK, BR_LGBLOCK_ZOPFLI);
        /* The hint only when the body fits the window: for a bigger one it
         * makes quality 4 pick a hasher that doubles the state (4 MiB body:
         * 6.9 MiB instead of 3.4). */
        if (size_hint > 0 && size_hint <= ((int64_t)1 << lgwin))
            BrotliEncoderSetParameter(c->u.br, BROTLI_PARAM_SIZE_HINT, (uint32_t)size_hint);
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
        whole_drop_buffers(c, WHOLE_KEEP);
        idle[n_idle++] = c;
        return;
    }
    switch (c->kind) {
    case CODING_GZIP:
        if (c->z_ready)
            deflateEnd(&c->u.z);
        whole_drop_buffers(c, 0);
        libdeflate_free_compressor(c->ldc);
        break;
    case CODING_BR: if (c->u.br) BrotliEncoderDestroyInstance(c->u.br); break;
    case CODING_ZSTD: ZSTD_freeCCtx(c->u.zs); break;
    default: break;
    }
    codec_buf_release(c->buf);
    free(c);
}

void codec_idle_clear(void)
{
    while (n_idle > 0) {
        codec *c = idle[--n_idle];
        c->finished = 0;
        codec_free(c);
    }
    while (n_spare_buf > 0)
        free(spare_buf[--n_spare_buf]);
}

uint64_t codec_in_bytes(const codec *c) { return c->in; }
uint64_t codec_out_bytes(const codec *c) { return c->out; }
uint64_t codec_mem_peak(const codec *c) { return c->mem_peak; }

/* Where the output goes (codec_write's sink, and a taker or NULL). */
typedef struct out_to {
    codec_sink sink;
    codec_take take;
    void *arg;
} out_to;

/* Hand the buffer to the taker (a fresh one goes on) or the sink; remember
 * a WS_AGAIN. */
static int emit(codec *c, const out_to *o, int *again)
{
    if (c->fill == 0)
        return 0;
    int rc;
    unsigned char *fresh = o->take && c->fill >= CODEC_TAKE_MIN ? buf_get() : NULL;
    if (fresh) {
        unsigned char *full = c->buf;
        c->buf = fresh;
        rc = o->take(o->arg, full, c->fill);
    } else {
        rc = o->sink(o->arg, c->buf, c->fill);
    }
    c->out += c->fill;
    c->fill = 0;
    if (rc == WS_AGAIN)
        *again = 1;
    return rc == WS_ERROR ? -1 : 0;
}

static int gzip_stream(codec *c, const void *in, size_t len, int how, const out_to *o, int *again)
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
        int mode = left ? Z_NO_FLUSH : how == CODEC_END ? Z_FINISH : how == CODEC_FLUSH ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        int rc = deflate(z, mode);
        int room = z->avail_out > 0; /* a flush is complete once deflate leaves room (zlib.h) */
        c->fill = CODEC_OUT - z->avail_out;
        if (rc == Z_STREAM_ERROR)
            return -1;
        if (c->fill == CODEC_OUT && emit(c, o, again) < 0)
            return -1;
        if (rc == Z_STREAM_END)
            return emit(c, o, again);
        if (z->avail_in == 0 && !left) {
            if (how == CODEC_MORE)
                return 0; /* all taken; the output waits in buf for more */
            if (how == CODEC_FLUSH && room)
                return emit(c, o, again);
        }
    }
}

/* The gathered body goes to a zlib stream: from now on this encoder streams. */
static int whole_to_stream(codec *c, const out_to *o, int *again)
{
    c->whole = 0;
    if (z_start(c) < 0)
        return -1;
    int rc = c->win_len ? gzip_stream(c, c->win, c->win_len, CODEC_MORE, o, again) : 0;
    c->win_len = 0;
    return rc;
}

/* The whole body in one call; its output goes on in CODEC_OUT pieces. */
static int whole_code(codec *c, const out_to *o, int *again)
{
    if (!c->ldc || c->ldc_level != c->level) {
        libdeflate_free_compressor(c->ldc);
        c->ldc = libdeflate_alloc_compressor(c->level);
        c->ldc_level = c->level;
    }
    size_t bound = c->ldc ? libdeflate_gzip_compress_bound(c->ldc, c->win_len) : 0;
    size_t n = 0;
    if (c->ldc && grow(&c->wout, &c->wout_cap, bound) == 0)
        n = libdeflate_gzip_compress(c->ldc, c->win, c->win_len, c->wout, c->wout_cap);
    if (n == 0) /* out of memory: zlib codes it */
        return whole_to_stream(c, o, again) < 0 ? -1 : gzip_stream(c, "", 0, CODEC_END, o, again);
    c->win_len = 0;
    for (size_t off = 0; off < n;) {
        size_t k = CODEC_OUT - c->fill < n - off ? CODEC_OUT - c->fill : n - off;
        memcpy(c->buf + c->fill, c->wout + off, k);
        c->fill += k;
        off += k;
        if ((c->fill == CODEC_OUT || off == n) && emit(c, o, again) < 0)
            return -1;
    }
    return 0;
}

static int run_gzip(codec *c, const void *in, size_t len, int how, const out_to *o, int *again)
{
    if (c->whole) {
        /* A flush before the end, or more than announced: stream instead. */
        if (how == CODEC_FLUSH || len > (uint64_t)c->whole_len - c->win_len) {
            if (whole_to_stream(c, o, again) < 0)
                return -1;
        } else {
            if (len && grow(&c->win, &c->win_cap, (size_t)c->whole_len) < 0)
                return whole_to_stream(c, o, again) < 0 ? -1 : gzip_stream(c, in, len, how, o, again);
            if (len)
                memcpy(c->win + c->win_len, in, len);
            c->win_len += len;
            return how == CODEC_END ? whole_code(c, o, again) : 0;
        }
    }
    if (!c->z_ready && z_start(c) < 0) /* a reused encoder that gathered last time */
        return -1;
    return gzip_stream(c, in, len, how, o, again);
}

static int run_br(codec *c, const void *in, size_t len, int how, const out_to *o, int *again)
{
    BrotliEncoderState *s = c->u.br;
    const uint8_t *next_in = in;
    size_t avail_in = len;
    BrotliEncoderOperation op = how == CODEC_END     ? BROTLI_OPERATION_FINISH
                                : how == CODEC_FLUSH ? BROTLI_OPERATION_FLUSH
                                                     : BROTLI_OPERATION_PROCESS;
    for (;;) {
        uint8_t *next_out = c->buf + c->fill;
        size_t avail_out = CODEC_OUT - c->fill;
        if (!BrotliEncoderCompressStream(s, op, &avail_in, &next_in, &avail_out, &next_out, NULL))
            return -1;
        c->fill = CODEC_OUT - avail_out;
        if (c->fill == CODEC_OUT && emit(c, o, again) < 0)
            return -1;
        if (avail_in == 0 && !BrotliEncoderHasMoreOutput(s)) {
            if (how == CODEC_MORE)
                return 0;
            if (how == CODEC_FLUSH || BrotliEncoderIsFinished(s))
                return emit(c, o, again);
        }
    }
}

static int run_zstd(codec *c, const void *in, size_t len, int how, const out_to *o, int *again)
{
    ZSTD_inBuffer ib = {in, len, 0};
    ZSTD_EndDirective op = how == CODEC_END ? ZSTD_e_end : how == CODEC_FLUSH ? ZSTD_e_flush : ZSTD_e_continue;
    for (;;) {
        ZSTD_outBuffer ob = {c->buf, CODEC_OUT, c->fill};
        size_t rem = ZSTD_compressStream2(c->u.zs, &ob, &ib, op);
        if (ZSTD_isError(rem))
            return -1;
        c->fill = ob.pos;
        if (c->fill == CODEC_OUT && emit(c, o, again) < 0)
            return -1;
        if (ib.pos == ib.size) {
            if (how == CODEC_MORE && c->fill < CODEC_OUT)
                return 0;
            if (how != CODEC_MORE && rem == 0) /* flushed (e_flush) or the frame ended (e_end) */
                return emit(c, o, again);
        }
    }
}

int codec_write(codec *c, const void *in, size_t len, int how, codec_sink sink, void *arg)
{
    return codec_write_take(c, in, len, how, sink, NULL, arg);
}

int codec_write_take(codec *c, const void *in, size_t len, int how, codec_sink sink, codec_take take, void *arg)
{
    const out_to o = {sink, take, arg};
    int again = 0, rc;
    static const unsigned char none[1];
    if (c->finished)
        return len || how != CODEC_END ? WS_ERROR : WS_OK;
    if (how != CODEC_MORE && how != CODEC_END && how != CODEC_FLUSH)
        return WS_ERROR;
    if (!in) {
        in = none;
        len = 0;
    }
    c->in += len;
    switch (c->kind) {
    case CODING_GZIP: rc = run_gzip(c, in, len, how, &o, &again); break;
    case CODING_BR: rc = run_br(c, in, len, how, &o, &again); break;
    case CODING_ZSTD: rc = run_zstd(c, in, len, how, &o, &again); break;
    default: rc = -1;
    }
    if (rc < 0)
        return WS_ERROR;
    c->finished = how == CODEC_END;
    return again ? WS_AGAIN : WS_OK;
}

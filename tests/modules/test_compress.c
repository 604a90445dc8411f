/*
 * mod_compress on the test host: the Accept-Encoding table (RFC 9110
 * §12.5.3), the streaming encoders checked by decoding with zlib, libbrotli
 * and libzstd, the header filter's decisions, the body filter piece by piece
 * (with WS_AGAIN from the next filter), settings, and precompressed files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <brotli/decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "compress/accept_encoding.c"
#include "compress/bodyfilter.c"
#include "compress/codec.c"
#include "compress/compress.c"
#include "compress/compress_conf.c"
#include "compress/etag_match.c"
#include "compress/precompressed.c"
#include "testhost.h"

/* ---- the negotiation table ---- */

typedef struct ae_row {
    const char *field; /* NULL: no Accept-Encoding */
    const char *prefs; /* the server's codings, e.g. "zstd br gzip" */
    const char *want;  /* "identity", "gzip", "br", "zstd" */
} ae_row;

#define ALL "zstd br gzip"
static const ae_row ae_table[] = {
    {NULL, ALL, "identity"},                             /* no field: we do not guess */
    {"", ALL, "identity"},                               /* empty: identity only (§12.5.3) */
    {"gzip", ALL, "gzip"},
    {"br", ALL, "br"},
    {"zstd", ALL, "zstd"},
    {"gzip, deflate, br", ALL, "br"},                    /* browsers: the server's order decides */
    {"gzip, deflate, br, zstd", ALL, "zstd"},
    {"gzip;q=1.0, br;q=0.8", ALL, "gzip"},               /* the client's weights first */
    {"br;q=0.9, gzip;q=0.9", ALL, "br"},                 /* equal weights: the server's order */
    {"*", ALL, "zstd"},
    {"*;q=0", ALL, "identity"},
    {"identity", ALL, "identity"},
    {"identity;q=0", ALL, "identity"},                   /* nothing acceptable: identity anyway */
    {"gzip;q=0", ALL, "identity"},
    {"gzip;q=0, *", ALL, "zstd"},
    {"*, zstd;q=0", ALL, "br"},                          /* q=0 excludes */
    {"*, zstd;q=0, br;q=0", ALL, "gzip"},
    {"GZIP", ALL, "gzip"},                               /* case-insensitive (§8.4.1) */
    {"x-gzip", ALL, "gzip"},                             /* §8.4.1.3 */
    {"X-GZip;Q=0.5", ALL, "gzip"},
    {"deflate", ALL, "identity"},
    {"compress, deflate", ALL, "identity"},
    {"gzip;q=0.5, identity;q=1", ALL, "identity"},      /* identity weighed higher */
    {"gzip;q=1, identity;q=1", ALL, "gzip"},             /* equal: the server compresses */
    {"gzip;q=0.5, identity", ALL, "identity"},
    {"gzip;q=0.5", ALL, "gzip"},
    {"gzip ; q=0.5", ALL, "gzip"},                       /* OWS around ';' */
    {"gzip\t;\tq=0.7", ALL, "gzip"},
    {"gzip;q=0.7,\tbr", ALL, "br"},
    {"gzip;q=2", ALL, "identity"},                       /* malformed: identity, never an error */
    {"gzip;q=1.001", ALL, "identity"},
    {"gzip;q=1.5", ALL, "identity"},
    {"gzip;q=0.1234", ALL, "identity"},
    {"gzip;q=", ALL, "identity"},
    {"gzip;q=.5", ALL, "identity"},
    {"gzip;", ALL, "identity"},
    {"gzip;level=9", ALL, "identity"},                   /* no parameter but q */
    {"gzip br", ALL, "identity"},
    {"\"gzip\"", ALL, "identity"},
    {"\xef\xbc\xa7zip", ALL, "identity"},                /* not a token */
    {"gzip;q=1.0000", ALL, "identity"},
    {"gzip,,br", ALL, "br"},                             /* empty list elements (§5.6.1) */
    {" , gzip , ", ALL, "gzip"},
    {",", ALL, "identity"},
    {"gzip;q=0.001", ALL, "gzip"},
    {"gzip;q=0.000", ALL, "identity"},
    {"gzip;q=0.", ALL, "identity"},
    {"gzip;q=1.", ALL, "gzip"},
    {"gzip;q=1.000, br;q=0.999", ALL, "gzip"},
    {"br;q=0.5, gzip;q=0.5, zstd;q=0.4", ALL, "br"},
    {"zstd;q=0.1, *;q=0.2", ALL, "br"},                  /* br through "*" outweighs zstd */
    {"gzip, gzip;q=0", ALL, "gzip"},                     /* a coding named twice: the first */
    {"*;q=0.5, identity;q=0.6", ALL, "identity"},
    {"*;q=0.5", ALL, "zstd"},
    {"identity;q=0.5, br;q=0.5", ALL, "br"},
    {"br;Q=1", ALL, "br"},
    {"br, gzip;q=0.9", "gzip", "gzip"},                  /* only what the server offers */
    {"zstd", "gzip br", "identity"},
    {"*", "gzip", "gzip"},
    {"gzip, br", "gzip br", "gzip"},                     /* the configured order */
    {"gzip, br, zstd", "br zstd", "br"},
    {"gzip, br, zstd", "", "identity"},                  /* nothing configured */
};

static size_t prefs_of(const char *s, coding *out)
{
    size_t n = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        out[n++] = strcmp(t, "gzip") == 0 ? CODING_GZIP : strcmp(t, "br") == 0 ? CODING_BR : CODING_ZSTD;
    return n;
}

static void test_negotiation_table(void **state)
{
    (void)state;
    assert_true(sizeof ae_table / sizeof *ae_table >= 40);
    int bad = 0;
    for (size_t i = 0; i < sizeof ae_table / sizeof *ae_table; i++) {
        const ae_row *row = &ae_table[i];
        coding prefs[CODING_COUNT];
        size_t n = prefs_of(row->prefs, prefs);
        const char *got = coding_name(ae_choose(row->field, prefs, n));
        if (strcmp(got, row->want) != 0) {
            print_error("row %zu: Accept-Encoding \"%s\" (server: %s) → %s, want %s\n", i,
                        row->field ? row->field : "(absent)", row->prefs, got, row->want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_rank_order(void **state)
{
    (void)state;
    coding prefs[] = {CODING_ZSTD, CODING_BR, CODING_GZIP}, out[CODING_COUNT];
    assert_int_equal(ae_rank("gzip;q=0.9, br;q=0.5, zstd;q=0.5", prefs, 3, out), 3);
    assert_int_equal(out[0], CODING_GZIP);
    assert_int_equal(out[1], CODING_ZSTD); /* 0.5 each: the server's order */
    assert_int_equal(out[2], CODING_BR);
    assert_int_equal(ae_rank("br, identity;q=0.5, gzip;q=0.4", prefs, 3, out), 1); /* gzip below identity */
    assert_int_equal(out[0], CODING_BR);
    ae_weights w;
    assert_int_equal(ae_parse("gzip;q=0.25, *;q=0.5, identity", &w), 0);
    assert_int_equal(w.q[CODING_GZIP], 250);
    assert_int_equal(w.star, 500);
    assert_int_equal(w.q[CODING_IDENTITY], 1000);
    assert_int_equal(w.q[CODING_BR], -1);
}

/* ---- the encoders ---- */

typedef struct sink_buf {
    unsigned char *data;
    size_t len, cap, max_piece;
    int calls;
    int say_again; /* answer WS_AGAIN every n-th call */
} sink_buf;

static int collect(void *arg, const void *data, size_t len)
{
    sink_buf *s = arg;
    if (len > s->max_piece)
        s->max_piece = len;
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2 + 1024;
        s->data = realloc(s->data, s->cap);
        assert_non_null(s->data);
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->calls++;
    return s->say_again && s->calls % s->say_again == 0 ? WS_AGAIN : WS_OK;
}

/* Text that compresses like a page: words from a small vocabulary. */
static unsigned char *page_text(size_t n, unsigned seed)
{
    static const char *const words[] = {"<div class=\"item\">", "</div>\n", "the ", "server ", "sends ", "a ",
                                        "response ", "with ", "<a href=\"/docs/\">", "</a>", "content ", "coding "};
    unsigned char *p = malloc(n);
    assert_non_null(p);
    size_t i = 0;
    while (i < n) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % (sizeof words / sizeof *words)];
        for (; *w && i < n; w++)
            p[i++] = (unsigned char)*w;
    }
    return p;
}

static unsigned char *decode(coding k, const unsigned char *in, size_t len, size_t expect, size_t *outlen)
{
    unsigned char *out = malloc(expect + 1);
    assert_non_null(out);
    if (k == CODING_GZIP) {
        z_stream z = {0};
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)expect + 1;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.avail_in, 0); /* nothing after the gzip trailer */
        *outlen = z.total_out;
        inflateEnd(&z);
    } else if (k == CODING_BR) {
        size_t o = expect + 1;
        assert_int_equal(BrotliDecoderDecompress(len, in, &o, out), BROTLI_DECODER_RESULT_SUCCESS);
        *outlen = o;
    } else {
        size_t o = ZSTD_decompress(out, expect + 1, in, len);
        assert_false(ZSTD_isError(o));
        *outlen = o;
    }
    return out;
}

static void roundtrip(coding k, int level, const unsigned char *data, size_t n, size_t piece_max, int say_again)
{
    codec *c = codec_new(k, level, -1);
    assert_non_null(c);
    sink_buf s = {.say_again = say_again};
    size_t off = 0;
    unsigned seed = 7;
    int agains = 0;
    while (off < n) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 8) % piece_max;
        if (piece > n - off)
            piece = n - off;
        int rc = codec_write(c, data + off, piece, 0, collect, &s);
        assert_int_not_equal(rc, WS_ERROR);
        agains += rc == WS_AGAIN;
        off += piece;
    }
    int rc = codec_write(c, NULL, 0, 1, collect, &s);
    assert_int_not_equal(rc, WS_ERROR);
    agains += rc == WS_AGAIN;
    assert_true(s.max_piece <= CODEC_OUT);
    assert_int_equal(codec_in_bytes(c), n);
    assert_int_equal(codec_out_bytes(c), s.len);
    if (say_again)
        assert_true(agains > 0); /* the sink's WS_AGAIN reaches the caller */
    /* After the end nothing more is accepted. */
    assert_int_equal(codec_write(c, "x", 1, 0, collect, &s), WS_ERROR);
    codec_free(c);
    size_t got;
    unsigned char *back = decode(k, s.data, s.len, n, &got);
    assert_int_equal(got, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(s.data);
}

/* ---- codec_write_take: full buffers handed over instead of copied ---- */

typedef struct take_log {
    sink_buf out;          /* every byte, in order */
    void *held[64];        /* buffers not given back yet (the carrier still sends them) */
    unsigned char *copy[64];
    size_t held_len[64];
    size_t n_held;
    int takes, sinks;
} take_log;

static int take_sink(void *arg, const void *data, size_t len)
{
    take_log *t = arg;
    assert_true(len < CODEC_TAKE_MIN || len == 0); /* small output: copied */
    t->sinks++;
    return collect(&t->out, data, len);
}

/* Keeps every other buffer until the end: the codec must not write into a
 * buffer it gave away. */
static int take_keep(void *arg, void *buf, size_t len)
{
    take_log *t = arg;
    assert_true(len >= CODEC_TAKE_MIN && len <= CODEC_OUT);
    t->takes++;
    collect(&t->out, buf, len);
    if (t->takes % 2 || t->n_held == 64) {
        codec_buf_release(buf);
        return WS_OK;
    }
    for (size_t i = 0; i < t->n_held; i++)
        assert_ptr_not_equal(t->held[i], buf);
    t->copy[t->n_held] = malloc(len);
    assert_non_null(t->copy[t->n_held]);
    memcpy(t->copy[t->n_held], buf, len);
    t->held_len[t->n_held] = len;
    t->held[t->n_held++] = buf;
    return WS_OK;
}

/* The same input through codec_write and codec_write_take gives the same
 * bytes; full buffers are taken (no copy), short flushed output is copied. */
static void test_codecs_take(void **state)
{
    (void)state;
    const size_t n = 1 << 20;
    unsigned char *text = page_text(n, 11);
    const coding kinds[] = {CODING_GZIP, CODING_BR, CODING_ZSTD};
    const int levels[] = {1, 4, 3};
    for (size_t k = 0; k < 3; k++) {
        sink_buf ref = {0};
        take_log t = {0};
        for (int pass = 0; pass < 2; pass++) {
            codec *c = codec_new(kinds[k], levels[k], -1);
            assert_non_null(c);
            for (size_t off = 0, i = 0; off < n; i++) {
                /* 64 KiB pieces, and now and then two short flushed ones
                 * (the second's output is short). */
                int flush = i % 5 >= 3;
                size_t piece = flush ? 100 : 64 * 1024;
                if (piece > n - off)
                    piece = n - off;
                int how = flush ? CODEC_FLUSH : CODEC_MORE;
                int rc = pass ? codec_write_take(c, text + off, piece, how, take_sink, take_keep, &t)
                              : codec_write(c, text + off, piece, how, collect, &ref);
                assert_int_not_equal(rc, WS_ERROR);
                off += piece;
            }
            assert_int_not_equal(pass ? codec_write_take(c, NULL, 0, CODEC_END, take_sink, take_keep, &t)
                                      : codec_write(c, NULL, 0, CODEC_END, collect, &ref),
                                 WS_ERROR);
            codec_free(c);
        }
        assert_true(t.takes > 0);
        assert_true(t.sinks > 0); /* the flushes of short pieces */
        assert_int_equal(t.out.len, ref.len);
        assert_memory_equal(t.out.data, ref.data, ref.len);
        for (size_t i = 0; i < t.n_held; i++) {
            assert_memory_equal(t.held[i], t.copy[i], t.held_len[i]); /* untouched while held */
            codec_buf_release(t.held[i]);
            free(t.copy[i]);
        }
        size_t got;
        unsigned char *back = decode(kinds[k], t.out.data, t.out.len, n, &got);
        assert_int_equal(got, n);
        assert_memory_equal(back, text, n);
        free(back);
        free(ref.data);
        free(t.out.data);
    }
    codec_idle_clear();
    free(text);
}

static void test_codecs_roundtrip(void **state)
{
    (void)state;
    size_t n = 3 * 1024 * 1024 + 17;
    unsigned char *text = page_text(n, 1);
    coding kinds[] = {CODING_GZIP, CODING_BR, CODING_ZSTD};
    for (int i = 0; i < 3; i++) {
        roundtrip(kinds[i], kinds[i] == CODING_GZIP ? 1 : kinds[i] == CODING_BR ? 4 : 3, text, n, 70000, 0);
        roundtrip(kinds[i], kinds[i] == CODING_GZIP ? 6 : kinds[i] == CODING_BR ? 6 : 12, text, 300000, 1000, 1);
        roundtrip(kinds[i], kinds[i] == CODING_GZIP ? 9 : kinds[i] == CODING_BR ? 0 : 1, text, 5, 2, 0);
    }
    /* random bytes grow a little, and still come back */
    unsigned char *noise = malloc(200000);
    assert_non_null(noise);
    unsigned seed = 3;
    for (size_t i = 0; i < 200000; i++) {
        seed = seed * 1103515245u + 12345u;
        noise[i] = (unsigned char)(seed >> 16);
    }
    for (int i = 0; i < 3; i++)
        roundtrip(kinds[i], 1, noise, 200000, 65536, 0);
    free(noise);
    free(text);
}

static void test_codecs_empty_body(void **state)
{
    (void)state;
    coding kinds[] = {CODING_GZIP, CODING_BR, CODING_ZSTD};
    for (int i = 0; i < 3; i++) {
        codec *c = codec_new(kinds[i], 1, 0);
        sink_buf s = {0};
        assert_int_equal(codec_write(c, NULL, 0, 1, collect, &s), WS_OK);
        assert_true(s.len > 0); /* a valid, empty stream */
        codec_free(c);
        size_t got = 99;
        unsigned char *back = decode(kinds[i], s.data, s.len, 0, &got);
        assert_int_equal(got, 0);
        free(back);
        free(s.data);
    }
}

static size_t rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

static int discard(void *arg, const void *data, size_t len)
{
    (void)data;
    *(size_t *)arg += len;
    return WS_OK;
}

/* 256 MiB through each encoder in 64 KiB pieces: memory stays the window. */
static void test_codecs_bounded_memory(void **state)
{
    (void)state;
    size_t piece = 65536;
    unsigned char *text = page_text(piece * 4, 9);
    coding kinds[] = {CODING_ZSTD, CODING_GZIP, CODING_BR};
    size_t total[] = {256u << 20, 64u << 20, 64u << 20};
    for (int i = 0; i < 3; i++) {
        size_t before = rss_kib(), out = 0;
        codec *c = codec_new(kinds[i], i == 0 ? 3 : i == 1 ? 1 : 4, -1);
        for (size_t done = 0; done < total[i]; done += piece)
            assert_int_equal(codec_write(c, text + (done / piece % 4) * piece, piece, 0, discard, &out), WS_OK);
        assert_int_equal(codec_write(c, NULL, 0, 1, discard, &out), WS_OK);
        size_t grown = rss_kib() - before;
        codec_free(c);
        print_message("%s: %zu MiB in, %zu KiB out, RSS +%zu KiB\n", coding_name(kinds[i]), total[i] >> 20,
                      out >> 10, grown);
        assert_true(grown < 16 * 1024);
    }
    free(text);
}

/* A streaming decoder of each coding, fed what the encoder gave so far. */
typedef struct stream_dec {
    coding kind;
    z_stream z;
    BrotliDecoderState *br;
    ZSTD_DStream *zs;
    unsigned char out[1 << 20];
    size_t len;
} stream_dec;

static void dec_init(stream_dec *d, coding k)
{
    memset(d, 0, offsetof(stream_dec, out));
    d->kind = k;
    d->len = 0;
    if (k == CODING_GZIP)
        assert_int_equal(inflateInit2(&d->z, 15 + 16), Z_OK);
    else if (k == CODING_BR)
        assert_non_null(d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL));
    else
        assert_non_null(d->zs = ZSTD_createDStream());
}

static void dec_feed(stream_dec *d, const unsigned char *in, size_t n)
{
    if (d->kind == CODING_GZIP) {
        d->z.next_in = (Bytef *)in;
        d->z.avail_in = (uInt)n;
        d->z.next_out = d->out + d->len;
        d->z.avail_out = (uInt)(sizeof d->out - d->len);
        int rc = inflate(&d->z, Z_SYNC_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
        d->len = sizeof d->out - d->z.avail_out;
    } else if (d->kind == CODING_BR) {
        size_t avail_in = n, avail_out = sizeof d->out - d->len;
        const uint8_t *next_in = in;
        uint8_t *next_out = d->out + d->len;
        BrotliDecoderResult rc = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
        assert_true(rc != BROTLI_DECODER_RESULT_ERROR);
        d->len = sizeof d->out - avail_out;
    } else {
        ZSTD_inBuffer ib = {in, n, 0};
        ZSTD_outBuffer ob = {d->out, sizeof d->out, d->len};
        while (ib.pos < ib.size)
            assert_false(ZSTD_isError(ZSTD_decompressStream(d->zs, &ob, &ib)));
        d->len = ob.pos;
    }
}

static void dec_end(stream_dec *d)
{
    if (d->kind == CODING_GZIP)
        inflateEnd(&d->z);
    else if (d->kind == CODING_BR)
        BrotliDecoderDestroyInstance(d->br);
    else
        ZSTD_freeDStream(d->zs);
}

/* CODEC_FLUSH: everything fed so far decodes from what came out so far (a
 * body that trickles reaches the client as it comes), then the stream still
 * ends well. Without the flush, a short piece gives nothing yet. */
static void test_codecs_flush(void **state)
{
    (void)state;
    static stream_dec d;
    coding kinds[] = {CODING_GZIP, CODING_BR, CODING_ZSTD};
    int levels[] = {6, 11, 19};
    const char *lines[] = {"data: first event\n\n", "data: second, a little later\n\n", "data: third\n\n"};
    for (int i = 0; i < 3; i++) {
        codec *c = codec_new(kinds[i], levels[i], -1);
        sink_buf s = {0};
        assert_int_equal(codec_write(c, "held", 4, CODEC_MORE, collect, &s), WS_OK);
        assert_int_equal(s.len, 0); /* held in the encoder and its buffer */
        dec_init(&d, kinds[i]);
        size_t fed = 0, expect = 4;
        for (int k = 0; k < 3; k++) {
            assert_int_equal(codec_write(c, lines[k], strlen(lines[k]), CODEC_FLUSH, collect, &s), WS_OK);
            dec_feed(&d, s.data + fed, s.len - fed);
            fed = s.len;
            expect += strlen(lines[k]);
            assert_int_equal(d.len, expect);
            assert_memory_equal(d.out + d.len - strlen(lines[k]), lines[k], strlen(lines[k]));
        }
        assert_memory_equal(d.out, "held", 4);
        assert_int_equal(codec_write(c, NULL, 0, CODEC_END, collect, &s), WS_OK);
        dec_feed(&d, s.data + fed, s.len - fed);
        assert_int_equal(d.len, expect);
        dec_end(&d);
        codec_free(c);
        size_t got;
        unsigned char *back = decode(kinds[i], s.data, s.len, expect, &got);
        assert_int_equal(got, expect);
        free(back);
        free(s.data);
    }
}

/* ---- gzip of whole bodies (libdeflate, levels 1-4, known length) ---- */

/* A body through a gzip encoder that knows its length: 64 KiB pieces, then
 * the end, through codec_write or (take) codec_write_take. */
static void gzip_known(int level, int64_t hint, const unsigned char *data, size_t n, int take, sink_buf *out)
{
    codec *c = codec_new(CODING_GZIP, level, hint);
    assert_non_null(c);
    take_log t = {0};
    for (size_t off = 0; off < n;) {
        size_t piece = n - off < 64 * 1024 ? n - off : 64 * 1024;
        int rc = take ? codec_write_take(c, data + off, piece, CODEC_MORE, take_sink, take_keep, &t)
                      : codec_write(c, data + off, piece, CODEC_MORE, collect, out);
        assert_int_equal(rc, WS_OK);
        off += piece;
    }
    assert_int_equal(take ? codec_write_take(c, NULL, 0, CODEC_END, take_sink, take_keep, &t)
                          : codec_write(c, NULL, 0, CODEC_END, collect, out),
                     WS_OK);
    codec_free(c);
    if (take) {
        for (size_t i = 0; i < t.n_held; i++) {
            assert_memory_equal(t.held[i], t.copy[i], t.held_len[i]);
            codec_buf_release(t.held[i]);
            free(t.copy[i]);
        }
        collect(out, t.out.data, t.out.len);
        free(t.out.data);
    }
}

static void assert_gzip_of(const sink_buf *s, const unsigned char *data, size_t n)
{
    size_t got;
    unsigned char *back = decode(CODING_GZIP, s->data, s->len, n, &got);
    assert_int_equal(got, n);
    assert_memory_equal(back, data, n);
    free(back);
}

/* Levels 1-2 on a body of known length up to 256 KiB: libdeflate's bytes
 * (the one-shot coding of the whole body), smaller than zlib's at the same
 * level, whether the output is copied or taken; from level 3, and for a
 * longer body, zlib's bytes as before. */
static void test_gzip_whole_body(void **state)
{
    (void)state;
    const size_t n = 100 * 1024;
    unsigned char *text = page_text(n, 5);
    /* something less repetitive than page_text: this very test's source */
    char path[4096];
    const char *src = getenv("WEBSERV_SRC");
    snprintf(path, sizeof path, "%s/tests/modules/test_compress.c", src ? src : ".");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *code = malloc(n);
    assert_non_null(code);
    size_t n_code = fread(code, 1, n, f);
    fclose(f);
    assert_true(n_code > 20000);
    const unsigned char *bodies[] = {text, code};
    const size_t lens[] = {n, n_code};
    for (int b = 0; b < 2; b++) {
        for (int level = 1; level <= 6; level++) {
            sink_buf known = {0}, taken = {0}, stream = {0};
            gzip_known(level, (int64_t)lens[b], bodies[b], lens[b], 0, &known);
            gzip_known(level, (int64_t)lens[b], bodies[b], lens[b], 1, &taken);
            gzip_known(level, -1, bodies[b], lens[b], 0, &stream);
            assert_gzip_of(&known, bodies[b], lens[b]);
            assert_int_equal(taken.len, known.len);
            assert_memory_equal(taken.data, known.data, known.len);
            if (level <= 2) {
                struct libdeflate_compressor *ld = libdeflate_alloc_compressor(level);
                assert_non_null(ld);
                unsigned char *one = malloc(libdeflate_gzip_compress_bound(ld, lens[b]));
                assert_non_null(one);
                size_t m = libdeflate_gzip_compress(ld, bodies[b], lens[b], one, libdeflate_gzip_compress_bound(ld, lens[b]));
                assert_int_equal(known.len, m);
                assert_memory_equal(known.data, one, m);
                assert_true(known.len < stream.len);
                free(one);
                libdeflate_free_compressor(ld);
            } else {
                assert_int_equal(known.len, stream.len);
                assert_memory_equal(known.data, stream.data, stream.len);
            }
            free(known.data);
            free(taken.data);
            free(stream.data);
        }
    }
    /* Longer than 256 KiB: zlib's stream, as with an unknown length. */
    const size_t big = 300 * 1024;
    unsigned char *more = page_text(big, 6);
    sink_buf known = {0}, stream = {0};
    gzip_known(1, (int64_t)big, more, big, 0, &known);
    gzip_known(1, -1, more, big, 0, &stream);
    assert_int_equal(known.len, stream.len);
    assert_memory_equal(known.data, stream.data, stream.len);
    free(known.data);
    free(stream.data);
    free(more);
    free(code);
    free(text);
    codec_idle_clear();
}

/* A gathered body that must be flushed before its end (a short piece), or
 * that brings more or less than it announced: still one good gzip stream,
 * and a flush still makes everything so far decodable at once. Encoders go
 * back and forth between gathering and streaming when reused. */
static void test_gzip_whole_falls_back(void **state)
{
    (void)state;
    static stream_dec d;
    const size_t n = 100 * 1024;
    unsigned char *text = page_text(n, 8);
    /* 64 KiB gathered, then a short flushed piece: both out at once */
    codec *c = codec_new(CODING_GZIP, 1, (int64_t)n);
    sink_buf s = {0};
    assert_int_equal(codec_write(c, text, 64 * 1024, CODEC_MORE, collect, &s), WS_OK);
    assert_int_equal(s.len, 0); /* gathered */
    assert_int_equal(codec_write(c, text + 64 * 1024, 100, CODEC_FLUSH, collect, &s), WS_OK);
    dec_init(&d, CODING_GZIP);
    dec_feed(&d, s.data, s.len);
    assert_int_equal(d.len, 64 * 1024 + 100);
    assert_memory_equal(d.out, text, d.len);
    size_t fed = s.len;
    assert_int_equal(codec_write(c, text + 64 * 1024 + 100, n - 64 * 1024 - 100, CODEC_MORE, collect, &s), WS_OK);
    assert_int_equal(codec_write(c, NULL, 0, CODEC_END, collect, &s), WS_OK);
    dec_feed(&d, s.data + fed, s.len - fed);
    assert_int_equal(d.len, n);
    dec_end(&d);
    codec_free(c);
    assert_gzip_of(&s, text, n);
    free(s.data);

    /* more than announced: the gathered part and the rest through zlib */
    memset(&s, 0, sizeof s);
    c = codec_new(CODING_GZIP, 2, 1000);
    assert_int_equal(codec_write(c, text, 600, CODEC_MORE, collect, &s), WS_OK);
    assert_int_equal(codec_write(c, text + 600, 4000, CODEC_MORE, collect, &s), WS_OK);
    assert_int_equal(codec_write(c, NULL, 0, CODEC_END, collect, &s), WS_OK);
    codec_free(c);
    assert_gzip_of(&s, text, 4600);
    free(s.data);

    /* less than announced: what came, coded at the end */
    memset(&s, 0, sizeof s);
    c = codec_new(CODING_GZIP, 3, 5000);
    assert_int_equal(codec_write(c, text, 1000, CODEC_MORE, collect, &s), WS_OK);
    assert_int_equal(codec_write(c, NULL, 0, CODEC_END, collect, &s), WS_OK);
    codec_free(c);
    assert_gzip_of(&s, text, 1000);
    free(s.data);

    /* reuse: the idle encoders that gathered now stream (zlib made on
     * demand), then gather again at another level */
    for (int round = 0; round < 3; round++) {
        int64_t hint = round == 1 ? -1 : (int64_t)n;
        int level = round == 2 ? 2 : 1;
        codec *cs[IDLE_MAX + 1];
        sink_buf out[IDLE_MAX + 1];
        memset(out, 0, sizeof out);
        for (int i = 0; i <= IDLE_MAX; i++) {
            cs[i] = codec_new(CODING_GZIP, level, hint);
            assert_non_null(cs[i]);
            assert_int_equal(codec_write(cs[i], text, n, CODEC_MORE, collect, &out[i]), WS_OK);
        }
        for (int i = 0; i <= IDLE_MAX; i++) {
            assert_int_equal(codec_write(cs[i], NULL, 0, CODEC_END, collect, &out[i]), WS_OK);
            codec_free(cs[i]);
            assert_gzip_of(&out[i], text, n);
            assert_int_equal(out[i].len, out[0].len);
            free(out[i].data);
        }
    }
    codec_idle_clear();
    free(text);
}

/* Brotli's encoder state per response (codec_mem_peak counts what libbrotli
 * allocated): the window follows the quality and the body's length. Bounds
 * with room over what 1.0.9 takes (q4: 3.4 MiB, q6: 4.8, q9: 2.5, q11: 9.3
 * on 4 MiB; a 100 KiB page at q4: 1.7 MiB); at a 4 MiB window (libbrotli's
 * default 22) q4 took 9.6 MiB and q9 42 MiB, q11 with 1 MiB blocks 72. */
static void test_brotli_memory(void **state)
{
    (void)state;
    size_t n = 4u << 20, piece = 65536;
    unsigned char *text = page_text(n, 11);
    static const struct {
        int quality;
        int64_t hint;
        size_t max_mib;
    } rows[] = {{4, -1, 4}, {6, -1, 6}, {9, -1, 4}, {11, -1, 10}, {4, 100 * 1024, 2}, {11, 100 * 1024, 7}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        size_t len = rows[i].hint > 0 ? (size_t)rows[i].hint : n, out = 0;
        codec *c = codec_new(CODING_BR, rows[i].quality, rows[i].hint);
        assert_non_null(c);
        for (size_t off = 0; off < len; off += piece)
            assert_int_equal(codec_write(c, text + off, len - off < piece ? len - off : piece, 0, discard, &out), WS_OK);
        assert_int_equal(codec_write(c, NULL, 0, 1, discard, &out), WS_OK);
        uint64_t peak = codec_mem_peak(c);
        print_message("br q%d, %zu KiB: encoder peak %.2f MiB, %zu bytes out\n", rows[i].quality, len >> 10,
                      (double)peak / (1 << 20), out);
        assert_true(peak > 0);
        assert_true(peak <= rows[i].max_mib << 20);
        codec_free(c);
    }
    free(text);
}

/* ---- the module on the test host ---- */

static th_module *mod;

static const void *conf_of(const char *json, const char *root)
{
    char err[512] = "";
    const void *c = th_configure(mod, json, "/", root, err, sizeof err);
    if (!c)
        print_error("configure: %s\n", err);
    return c;
}

static th_request *resp(const void *conf, const char *method, const char *path, int status, const char *type,
                        int64_t length, const char *const *hdrs)
{
    th_request *t = th_request_new(mod, conf, method, path, hdrs);
    th_host()->set_status(th_req(t), status);
    if (type)
        th_host()->add_header(th_req(t), "Content-Type", type);
    th_host()->set_length(th_req(t), length);
    return t;
}

static void test_header_decisions(void **state)
{
    (void)state;
    const void *conf = conf_of("{}", NULL);
    assert_non_null(conf);
    const char *gz[] = {"Accept-Encoding: gzip", NULL};
    const char *all[] = {"Accept-Encoding: gzip, deflate, br, zstd", NULL};

    /* compressed: Content-Encoding, Vary, no length, coded ETag */
    th_request *t = resp(conf, "GET", "/a.html", 200, "text/html; charset=utf-8", 5000, gz);
    th_host()->add_header(th_req(t), "ETag", "\"5f-1a\"");
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "Content-Encoding"), "gzip");
    assert_string_equal(th_header(t, "Vary"), "Accept-Encoding");
    assert_string_equal(th_header(t, "ETag"), "\"5f-1a-gz\"");
    assert_int_equal(th_response_of(t)->length, -1);
    th_request_end(t);

    t = resp(conf, "GET", "/a.json", 200, "application/json", -1, all);
    th_host()->add_header(th_req(t), "ETag", "W/\"x\"");
    th_host()->add_header(th_req(t), "Vary", "Origin");
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "Content-Encoding"), "zstd");
    assert_string_equal(th_header(t, "Vary"), "Origin, Accept-Encoding");
    assert_string_equal(th_header(t, "ETag"), "W/\"x-zst\"");
    th_request_end(t);

    const char *br[] = {"Accept-Encoding: br", NULL};
    t = resp(conf, "GET", "/x.svg", 404, "image/svg+xml", -1, br); /* an error page's body too */
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "Content-Encoding"), "br");
    th_request_end(t);

    /* HEAD: the fields a GET would get, no body filter */
    t = resp(conf, "HEAD", "/a.html", 200, "text/html", 5000, gz);
    assert_int_equal(th_header_filter(t), 0);
    assert_string_equal(th_header(t, "Content-Encoding"), "gzip");
    assert_string_equal(th_header(t, "Vary"), "Accept-Encoding");
    assert_int_equal(th_response_of(t)->length, -1);
    th_request_end(t);

    /* compressible type, sent as it is: Vary only */
    const char *rng[] = {"Accept-Encoding: gzip", "Range: bytes=0-10", NULL};
    const char *none[] = {"Accept-Encoding: identity", NULL};
    struct {
        const char *const *hdrs;
        int64_t length;
    } vary_only[] = {{gz, 100} /* below min_length */, {rng, 5000} /* Range: identity with ranges */,
                     {none, 5000}, {NULL, 5000} /* no Accept-Encoding */};
    for (size_t i = 0; i < sizeof vary_only / sizeof *vary_only; i++) {
        t = resp(conf, "GET", "/a.html", 200, "text/html", vary_only[i].length, vary_only[i].hdrs);
        assert_int_equal(th_header_filter(t), 0);
        assert_null(th_header(t, "Content-Encoding"));
        assert_string_equal(th_header(t, "Vary"), "Accept-Encoding");
        assert_int_equal(th_response_of(t)->length, vary_only[i].length);
        th_request_end(t);
    }

    /* not ours at all: no Vary either */
    struct {
        int status;
        const char *type, *extra_name, *extra_value;
    } skip[] = {
        {200, "image/png", NULL, NULL},
        {200, NULL, NULL, NULL},
        {204, "text/html", NULL, NULL},
        {200, "text/html", "Content-Encoding", "gzip"},
        {200, "text/html", "Cache-Control", "public, No-Transform"},
        {200, "application/octet-stream", NULL, NULL},
        {200, "application/jsonx", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++) {
        t = resp(conf, "GET", "/a", skip[i].status, skip[i].type, 5000, gz);
        if (skip[i].extra_name)
            th_host()->add_header(th_req(t), skip[i].extra_name, skip[i].extra_value);
        if (th_header_filter(t) != 0)
            fail_msg("skip row %zu (%d %s) was taken", i, skip[i].status, skip[i].type ? skip[i].type : "-");
        assert_null(th_header(t, "Vary"));
        assert_int_equal(th_response_of(t)->length, 5000);
        if (!skip[i].extra_name)
            assert_null(th_header(t, "Content-Encoding"));
        th_request_end(t);
    }
    /* 1xx never reaches a module's set_status; the decision still refuses it */
    t = resp(conf, "GET", "/a", 200, "text/html", 5000, gz);
    coding k;
    assert_int_equal(cz_decide(th_req(t), conf, 101, &k), CZ_SKIP);
    assert_int_equal(cz_decide(th_req(t), conf, 204, &k), CZ_SKIP);
    /* the core's 304/206/412/416 (its conditionals and Range run first): Vary only */
    assert_int_equal(cz_decide(th_req(t), conf, 206, &k), CZ_VARY);
    assert_int_equal(cz_decide(th_req(t), conf, 304, &k), CZ_VARY);
    assert_int_equal(cz_decide(th_req(t), conf, 412, &k), CZ_VARY);
    assert_int_equal(cz_decide(th_req(t), conf, 200, &k), CZ_CODE);
    assert_int_equal(k, CODING_GZIP);
    th_request_end(t);
    /* a Cache-Control that only mentions no-transform inside another word */
    t = resp(conf, "GET", "/a", 200, "text/css", 5000, gz);
    th_host()->add_header(th_req(t), "Cache-Control", "max-age=60, x-no-transform-ish");
    assert_int_equal(th_header_filter(t), 1);
    th_request_end(t);
}

/* If-None-Match with the coded ETag: this module answers 304 (the core
 * compared it with the identity ETag before the filters). */
static void test_coded_etag_304(void **state)
{
    (void)state;
    const void *conf = conf_of("{}", NULL);
    struct {
        const char *inm, *ae;
        int status;
        const char *encoding;
    } rows[] = {
        {"\"e1-gz\"", "gzip", 304, NULL},
        {"W/\"e1-gz\"", "gzip", 304, NULL},            /* weak comparison */
        {"\"zz\", \"e1-br\"", "br, gzip", 304, NULL},   /* in a list */
        {"\"e1-gz\"", "br", 200, "br"},                /* another coding was chosen */
        {"\"e1\"", "gzip", 200, "gzip"},               /* identity's: the core's business */
        {"*", "gzip", 200, "gzip"},
        {"\"e1-gz", "gzip", 200, "gzip"},               /* malformed */
        {"e1-gz", "gzip", 200, "gzip"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char inm[64], ae[64];
        snprintf(inm, sizeof inm, "If-None-Match: %s", rows[i].inm);
        snprintf(ae, sizeof ae, "Accept-Encoding: %s", rows[i].ae);
        const char *hdrs[] = {inm, ae, NULL};
        th_request *t = resp(conf, "GET", "/a.html", 200, "text/html", 5000, hdrs);
        th_host()->add_header(th_req(t), "ETag", "\"e1\"");
        th_host()->add_header(th_req(t), "Accept-Ranges", "bytes");
        int rc = th_header_filter(t);
        th_response *res = th_response_of(t);
        if (res->status != rows[i].status)
            fail_msg("row %zu: If-None-Match %s → %d, want %d", i, rows[i].inm, res->status, rows[i].status);
        assert_int_equal(rc, rows[i].status == 200 ? 1 : 0);
        assert_string_equal(th_header(t, "Vary"), "Accept-Encoding");
        if (rows[i].encoding)
            assert_string_equal(th_header(t, "Content-Encoding"), rows[i].encoding);
        else {
            assert_null(th_header(t, "Content-Encoding"));
            assert_null(th_header(t, "Accept-Ranges"));
            assert_string_equal(th_header(t, "ETag"), rows[i].ae[0] == 'b' ? "\"e1-br\"" : "\"e1-gz\"");
        }
        th_request_end(t);
    }
}

static void test_settings(void **state)
{
    (void)state;
    const cz_conf *c = conf_of("{\"codings\": [\"gzip\", \"br\"], \"min_length\": \"1K\", \"types\": [\"text/*\","
                               " \"application/*+json\"], \"gzip_level\": 6, \"br_quality\": 11, \"zstd_level\": 19,"
                               " \"precompressed\": true}", NULL);
    assert_non_null(c);
    assert_int_equal(c->n_codings, 2);
    assert_int_equal(c->codings[0], CODING_GZIP);
    assert_int_equal(c->min_length, 1024);
    assert_int_equal(c->level[CODING_GZIP], 6);
    assert_int_equal(c->level[CODING_BR], 11);
    assert_int_equal(c->level[CODING_ZSTD], 19);
    assert_true(c->precompressed);
    assert_true(cz_type_ok(c, "application/ld+json; charset=utf-8"));
    assert_true(cz_type_ok(c, "TEXT/Plain"));
    assert_false(cz_type_ok(c, "application/json")); /* not listed this time */
    assert_false(cz_type_ok(c, "application/+json"));
    const cz_conf *d = conf_of("{}", NULL);
    assert_int_equal(d->n_codings, 3);
    assert_int_equal(d->codings[0], CODING_ZSTD);
    assert_int_equal(d->codings[1], CODING_BR);
    assert_int_equal(d->min_length, 256);
    assert_int_equal(d->level[CODING_GZIP], 1);
    assert_int_equal(d->level[CODING_BR], 4);
    assert_int_equal(d->level[CODING_ZSTD], 3);
    assert_false(d->precompressed);
    const char *types[] = {"text/html", "text/css", "application/javascript", "application/json", "image/svg+xml",
                           "application/wasm", "application/xml", "application/rss+xml", "text/javascript"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        assert_true(cz_type_ok(d, types[i]));
    assert_false(cz_type_ok(d, "image/png"));
    assert_false(cz_type_ok(d, "video/mp4"));
    const char *bad[] = {"{\"codings\": [\"deflate\"]}", "{\"codings\": [\"gzip\", \"gzip\"]}",
                         "{\"codings\": \"gzip\"}",       "{\"gzip_level\": 0}",
                         "{\"gzip_level\": 10}",          "{\"br_quality\": 12}",
                         "{\"zstd_level\": 20}",          "{\"zstd_level\": 0}",
                         "{\"types\": [\"text\"]}",       "{\"types\": [\"*/html\"]}",
                         "{\"types\": [\"text/*x\"]}",    "{\"min_length\": -1}",
                         "{\"precompressed\": 1}",        "{\"level\": 3}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[512] = "";
        assert_null(th_configure(mod, bad[i], "/", NULL, err, sizeof err));
        assert_true(strstr(err, "compress") != NULL);
    }
}

/* ---- the body filter, with a next filter that records ---- */

static ws_host fake_host;
static sink_buf next_out;
static int next_last;

static int fake_filter_next(ws_request *r, const void *data, size_t len, int last)
{
    (void)r;
    assert_int_equal(next_last, 0); /* nothing after the last piece */
    next_last = last;
    if (len)
        return collect(&next_out, data, len);
    return WS_OK;
}

static void body_through(coding k, const char *ae, int again_every)
{
    const void *conf = conf_of("{}", NULL);
    char field[64];
    snprintf(field, sizeof field, "Accept-Encoding: %s", ae);
    const char *hdrs[] = {field, NULL};
    th_request *t = resp(conf, "GET", "/big.txt", 200, "text/plain", -1, hdrs);
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "Content-Encoding"), coding_name(k));
    memset(&next_out, 0, sizeof next_out);
    next_out.say_again = again_every;
    next_last = 0;
    size_t n = 2 * 1024 * 1024;
    unsigned char *text = page_text(n, 5);
    int agains = 0;
    for (size_t off = 0; off < n; off += 10000) {
        size_t piece = n - off < 10000 ? n - off : 10000;
        int rc = cz_body_filter(th_req(t), text + off, piece, 0);
        assert_int_not_equal(rc, WS_ERROR);
        agains += rc == WS_AGAIN;
    }
    assert_int_not_equal(cz_body_filter(th_req(t), NULL, 0, 1), WS_ERROR);
    assert_int_equal(next_last, 1);
    if (again_every)
        assert_true(agains > 0);
    assert_true(next_out.len < n / 3);
    size_t got;
    unsigned char *back = decode(k, next_out.data, next_out.len, n, &got);
    assert_int_equal(got, n);
    assert_memory_equal(back, text, n);
    free(back);
    free(text);
    free(next_out.data);
    th_request_end(t);
}

static void test_body_filter(void **state)
{
    (void)state;
    body_through(CODING_GZIP, "gzip", 0);
    body_through(CODING_BR, "br, gzip", 2);
    body_through(CODING_ZSTD, "*", 5);
}

/* The same through the test host's own filter chain (th_body_filter), with
 * a slow client: filter_next says WS_AGAIN once 64 KiB wait, and the
 * filter hands that on to its caller while passing all its output. */
static void test_body_filter_on_test_host(void **state)
{
    (void)state;
    cz_host = th_host();
    const void *conf = conf_of("{\"codings\": [\"br\"]}", NULL);
    const char *hdrs[] = {"Accept-Encoding: gzip, br", NULL};
    th_request *t = resp(conf, "GET", "/a.js", 200, "application/javascript", 3 << 20, hdrs);
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "Content-Encoding"), "br");
    th_set_output_limit(t, 64 * 1024);
    size_t n = 3 << 20;
    unsigned char *text = page_text(n, 11);
    int agains = 0;
    for (size_t off = 0; off < n; off += 65536) {
        int rc = th_body_filter(t, text + off, n - off < 65536 ? n - off : 65536, 0);
        assert_int_not_equal(rc, WS_ERROR);
        if (rc == WS_AGAIN) {
            agains++;
            th_drain(t);
        }
    }
    assert_int_not_equal(th_body_filter(t, "", 0, 1), WS_ERROR);
    th_response *res = th_response_of(t);
    assert_true(res->filter_last);
    assert_true(agains > 0);
    size_t got;
    unsigned char *back = decode(CODING_BR, (unsigned char *)res->body, res->body_len, n, &got);
    assert_int_equal(got, n);
    assert_memory_equal(back, text, n);
    free(back);
    free(text);
    ws_log_info info = {.size = sizeof info, .status = 200, .how = WS_END_DONE};
    th_log_request(t, &info);
    th_request_end(t);
    cz_host = &fake_host;
}

/* A response cut short (client gone): the encoder is freed by the log hook. */
static void test_body_aborted(void **state)
{
    (void)state;
    const void *conf = conf_of("{}", NULL);
    const char *hdrs[] = {"Accept-Encoding: gzip", NULL};
    th_request *t = resp(conf, "GET", "/a.txt", 200, "text/plain", -1, hdrs);
    assert_int_equal(th_header_filter(t), 1);
    next_last = 0;
    memset(&next_out, 0, sizeof next_out);
    assert_int_not_equal(cz_body_filter(th_req(t), "hello", 5, 0), WS_ERROR);
    ws_log_info info = {.size = sizeof info, .status = 200, .how = WS_END_ABORTED};
    th_log_request(t, &info); /* ASan/valgrind: no leak of the encoder */
    th_request_abort(t);
    free(next_out.data);
}

/* High levels run on the pool (cz_offloaded): each piece is a work whose
 * done passes the output on; the test host, as the core, gives the filter
 * nothing while a work runs, and the output comes only from done. */
static void offloaded_through(const char *json, const char *ae, coding k)
{
    cz_host = th_host();
    const void *conf = conf_of(json, NULL);
    const char *hdrs[] = {ae, NULL};
    th_request *t = resp(conf, "GET", "/a.html", 200, "text/html", -1, hdrs);
    assert_int_equal(th_header_filter(t), 1);
    assert_string_equal(th_header(t, "Content-Encoding"), coding_name(k));
    th_set_output_limit(t, 64 * 1024);
    size_t n = (1 << 20) + 333;
    unsigned char *text = page_text(n, 21);
    th_response *res = th_response_of(t);
    for (size_t off = 0; off < n; off += 65536) {
        size_t before = res->body_len;
        int rc = th_body_filter(t, text + off, n - off < 65536 ? n - off : 65536, 0);
        assert_int_equal(rc, WS_DEFER);
        assert_true(th_filter_busy(t));
        assert_true(res->body_len >= before); /* the previous piece's output, from its done */
        th_drain(t);
    }
    assert_int_equal(th_body_filter(t, "", 0, 1), WS_DEFER);
    assert_false(res->filter_last); /* the end comes from the work's done */
    assert_int_equal(th_filter_wait(t, 60000), 0);
    assert_false(th_filter_busy(t));
    assert_true(res->filter_last);
    size_t got;
    unsigned char *back = decode(k, (unsigned char *)res->body, res->body_len, n, &got);
    assert_int_equal(got, n);
    assert_memory_equal(back, text, n);
    free(back);
    free(text);
    ws_log_info info = {.size = sizeof info, .status = 200, .how = WS_END_DONE};
    th_log_request(t, &info);
    th_request_end(t);
    cz_host = &fake_host;
}

static void test_body_offloaded(void **state)
{
    (void)state;
    assert_false(cz_offloaded(CODING_GZIP, 6));
    assert_true(cz_offloaded(CODING_GZIP, 7));
    assert_false(cz_offloaded(CODING_BR, 4));
    assert_true(cz_offloaded(CODING_BR, 5));
    assert_false(cz_offloaded(CODING_ZSTD, 9));
    assert_true(cz_offloaded(CODING_ZSTD, 10));
    offloaded_through("{\"codings\": [\"gzip\"], \"gzip_level\": 9}", "Accept-Encoding: gzip", CODING_GZIP);
    offloaded_through("{\"br_quality\": 5}", "Accept-Encoding: br", CODING_BR);
    offloaded_through("{\"zstd_level\": 12}", "Accept-Encoding: zstd, br", CODING_ZSTD);
}

/* The client goes away while a piece is on the pool: the request's end waits
 * for the work (its done skipped), the log hook frees the encoder and the
 * work's buffers (ASan/valgrind: no leak, no use after free). */
static void test_body_offloaded_aborted(void **state)
{
    (void)state;
    cz_host = th_host();
    const void *conf = conf_of("{\"br_quality\": 11}", NULL);
    const char *hdrs[] = {"Accept-Encoding: br", NULL};
    th_request *t = resp(conf, "GET", "/a.html", 200, "text/html", -1, hdrs);
    assert_int_equal(th_header_filter(t), 1);
    size_t n = 256 * 1024;
    unsigned char *text = page_text(n, 23);
    assert_int_equal(th_body_filter(t, text, n, 0), WS_DEFER);
    free(text); /* the work has its own copy */
    assert_true(th_filter_busy(t));
    ws_log_info info = {.size = sizeof info, .status = 200, .how = WS_END_ABORTED};
    th_log_request(t, &info);
    assert_false(th_filter_busy(t));
    assert_int_equal(th_response_of(t)->body_len, 0); /* done never ran */
    th_request_abort(t);
    cz_host = &fake_host;
}

/* ---- precompressed files ---- */

static char root[256];

static void write_file_us(const char *name, const char *text, time_t mtime, long usec)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct timeval tv[2] = {{mtime, usec}, {mtime, usec}};
    assert_int_equal(utimes(p, tv), 0);
}

static void write_file(const char *name, const char *text, time_t mtime)
{
    write_file_us(name, text, mtime, 0);
}

static void test_precompressed(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_compress_XXXXXX");
    assert_non_null(mkdtemp(root));
    write_file_us("a.html", "<p>plain</p>", 1000000, 480000);
    write_file("a.html.br", "BR-BYTES", 1000000);   /* the same second (the tools truncate): not older */
    write_file("a.html.gz", "GZ-BYTES", 999999);    /* older: ignored */
    write_file("b.css", "b{}", 1000000);
    write_file("b.css.zst", "ZST", 1000001);
    const void *on = conf_of("{\"precompressed\": true}", root);
    const void *off = conf_of("{}", root);

    const char *br[] = {"Accept-Encoding: gzip, br", NULL};
    th_request *t = th_request_new(mod, on, "GET", "/a.html", br);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_run(t, 1000);
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 200);
    assert_string_equal(res->body, "BR-BYTES");
    assert_string_equal(th_header(t, "Content-Encoding"), "br");
    assert_string_equal(th_header(t, "Content-Type"), th_host()->mime_type("/x/a.html")); /* the original's */
    assert_string_equal(th_header(t, "Vary"), "Accept-Encoding");
    assert_int_equal(res->length, 8);
    assert_true(res->has_validators);
    th_request_end(t);

    const char *gz[] = {"Accept-Encoding: gzip", NULL};
    const char *rng[] = {"Accept-Encoding: br", "Range: bytes=0-1", NULL};
    const char *brq0[] = {"Accept-Encoding: br;q=0, gzip", NULL};
    const char *declined[][3] = {{"/a.html", gz[0], NULL},   /* only an older .gz */
                                 {"/a.html", rng[0], rng[1]}, /* Range: identity */
                                 {"/a.html", brq0[0], NULL},  /* br refused by the client */
                                 {"/b.css", br[0], NULL},     /* .zst only, not accepted */
                                 {"/nope.html", br[0], NULL}};
    for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
        t = th_request_new(mod, on, "GET", declined[i][0], declined[i] + 1);
        assert_int_equal(th_dispatch(t), WS_DECLINE);
        th_request_end(t);
    }
    t = th_request_new(mod, off, "GET", "/a.html", br); /* not enabled */
    assert_int_equal(th_dispatch(t), WS_DECLINE);
    th_request_end(t);

    const char *zs[] = {"Accept-Encoding: zstd", NULL};
    t = th_request_new(mod, on, "HEAD", "/b.css", zs);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_run(t, 1000);
    assert_string_equal(th_header(t, "Content-Encoding"), "zstd");
    assert_string_equal(th_header(t, "Content-Type"), th_host()->mime_type("/x/b.css"));
    th_request_end(t);

    /* A FIFO named like the best variant (zstd, the default's first) is
     * passed over at once (opening it must not wait for a writer): the next
     * acceptable coding answers. */
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/a.html.zst", root);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    const char *zsbr[] = {"Accept-Encoding: zstd, br", NULL};
    t = th_request_new(mod, on, "GET", "/a.html", zsbr);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_run(t, 1000);
    assert_string_equal(th_header(t, "Content-Encoding"), "br");
    assert_string_equal(th_response_of(t)->body, "BR-BYTES");
    th_request_end(t);

    /* its own header filter leaves a coded response alone */
    t = th_request_new(mod, on, "GET", "/b.css", zs);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    assert_int_equal(th_header_filter(t), 0);
    th_request_end(t);

    const char *names[] = {"a.html", "a.html.br", "a.html.gz", "b.css", "b.css.zst", "a.html.zst"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        unlink(p);
    }
    rmdir(root);
}

static int setup(void **state)
{
    (void)state;
    mod = th_load(&webserv_module);
    assert_non_null(mod);
    fake_host = *th_host();
    fake_host.filter_next = fake_filter_next;
    cz_host = &fake_host; /* the module's filter_next goes to the recorder above */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_unload(mod);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation_table),
        cmocka_unit_test(test_rank_order),
        cmocka_unit_test(test_codecs_roundtrip),
        cmocka_unit_test(test_codecs_empty_body),
        cmocka_unit_test(test_codecs_bounded_memory),
        cmocka_unit_test(test_brotli_memory),
        cmocka_unit_test(test_codecs_flush),
        cmocka_unit_test(test_codecs_take),
        cmocka_unit_test(test_gzip_whole_body),
        cmocka_unit_test(test_gzip_whole_falls_back),
        cmocka_unit_test(test_header_decisions),
        cmocka_unit_test(test_coded_etag_304),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_body_filter),
        cmocka_unit_test(test_body_filter_on_test_host),
        cmocka_unit_test(test_body_aborted),
        cmocka_unit_test(test_body_offloaded),
        cmocka_unit_test(test_body_offloaded_aborted),
        cmocka_unit_test(test_precompressed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

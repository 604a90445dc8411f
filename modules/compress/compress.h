/* mod_compress (issue 14, SPEC §6): gzip, Brotli and zstd content codings,
 * on the fly as a response filter and precompressed files served as they are. */
#ifndef MOD_COMPRESS_H
#define MOD_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "webserv/module.h"

/* The content codings this module knows (RFC 9110 §8.4.1, RFC 7932, RFC 8878). */
typedef enum {
    CODING_IDENTITY = 0,
    CODING_GZIP = 1,
    CODING_BR = 2,
    CODING_ZSTD = 3,
    CODING_COUNT = 4
} coding;

/* "gzip", "br", "zstd", "identity". */
const char *coding_name(coding c);
/* The file suffix of a precompressed variant: ".gz", ".br", ".zst" (NULL for identity). */
const char *coding_suffix(coding c);
/* The ETag suffix of a coded variant: "-gz", "-br", "-zst". */
const char *coding_etag_suffix(coding c);

/* ---- accept_encoding.c: RFC 9110 §12.5.3, pure ---- */

/* q-values in thousandths (0..1000); -1 where the field does not name it. */
typedef struct ae_weights {
    int q[CODING_COUNT]; /* gzip (or x-gzip), br, zstd, identity */
    int star;            /* "*": every coding not named */
} ae_weights;

/* Parse an Accept-Encoding value. 0, or -1 when it is malformed (then *w is
 * unspecified and the caller serves identity). */
int ae_parse(const char *value, ae_weights *w);
/* The coding to send: among `prefs` (the server's order, n of them), the one
 * with the highest q > 0, ties going to the earlier; identity when the field
 * is absent (NULL), empty, malformed, names none of them, or prefers identity
 * (its q above the best coding's). Never an error (RFC 9110 §12.5.3 lets a
 * server send identity when nothing else is acceptable). */
coding ae_choose(const char *value, const coding *prefs, size_t n);
/* Every acceptable coding of prefs, best first (by weight, then the server's
 * order), into out (room for CODING_COUNT); how many. 0 means identity. */
size_t ae_rank(const char *value, const coding *prefs, size_t n, coding *out);

/* ---- etag_match.c ---- */

/* Does If-None-Match value `inm` name `etag` (weak comparison)? "*" and a
 * malformed field answer 0 (the core handles "*"; malformed matches nothing). */
int cz_none_match(const char *inm, const char *etag);

/* ---- codec.c: streaming encoders over zlib, libbrotli and libzstd ---- */

typedef struct codec codec;
/* Where the encoder's output goes: WS_OK, WS_AGAIN (taken, but the sink is
 * full) or WS_ERROR. The bytes are only valid during the call. */
typedef int (*codec_sink)(void *arg, const void *data, size_t len);

/* An encoder at `level` (gzip 1..9, br 0..11, zstd 1..19); size_hint is the
 * body's length when known (-1 otherwise). NULL when out of memory. */
codec *codec_new(coding c, int level, int64_t size_hint);
/* codec_write's `how`: more follows; the stream ends here; or flush: all
 * the input so far goes out now as a decodable prefix (gzip Z_SYNC_FLUSH,
 * Brotli's FLUSH, zstd's e_flush), for a body that trickles. */
enum { CODEC_MORE = 0, CODEC_END = 1, CODEC_FLUSH = 2 };
/* Feed len bytes. Output goes to sink in pieces of at most CODEC_OUT bytes
 * as the codec's buffer fills, and all of it at CODEC_END / CODEC_FLUSH.
 * Returns WS_OK, WS_AGAIN (some sink call said so; everything was taken) or
 * WS_ERROR. Memory stays the codec's window and this buffer, whatever len. */
int codec_write(codec *c, const void *in, size_t len, int how, codec_sink sink, void *arg);
/* Where a full output buffer may go without a copy: take(arg, buf, len)
 * owns buf from then on (WS_OK, WS_AGAIN or WS_ERROR, as a sink) and gives
 * it back with codec_buf_release once done with it; the codec goes on in a
 * fresh buffer. Only output of at least CODEC_TAKE_MIN bytes is taken (less
 * goes to sink, copied): a buffer held for a few bytes would let a trickling
 * body's queue pin 32 KiB per piece. On the event loop only (the buffers are
 * recycled per process without a lock); codec_write never takes. */
typedef int (*codec_take)(void *arg, void *buf, size_t len);
int codec_write_take(codec *c, const void *in, size_t len, int how, codec_sink sink, codec_take take, void *arg);
void codec_buf_release(void *buf);
#define CODEC_TAKE_MIN (8 * 1024)
void codec_free(codec *c); /* a finished gzip/zstd encoder is kept for reuse (a few per process) */
/* Free the encoders and output buffers kept for reuse (module unload). */
void codec_idle_clear(void);
/* Bytes in and out so far. */
uint64_t codec_in_bytes(const codec *c);
uint64_t codec_out_bytes(const codec *c);
/* The most bytes the encoder's library held at once (brotli only; 0 for the others). */
uint64_t codec_mem_peak(const codec *c);
#define CODEC_OUT (32 * 1024)

/* ---- compress_conf.c ---- */

typedef struct cz_conf {
    coding codings[CODING_COUNT]; /* preference order */
    size_t n_codings;
    int64_t min_length;
    const char *const *types; /* patterns: "text/html", a type with "*" as subtype, "*+xml" subtypes */
    size_t n_types;
    int level[CODING_COUNT];  /* gzip_level, br_quality, zstd_level */
    int precompressed;
} cz_conf;

int cz_configure(const ws_host *host, const ws_settings *s, const ws_location_info *loc, const void **out);
/* Does Content-Type value `ct` (parameters allowed) match one of the types? */
int cz_type_ok(const cz_conf *c, const char *ct);

#endif

/* mod_compress's own parts (the module, not its pure pieces in compress.h). */
#ifndef MOD_COMPRESS_MOD_H
#define MOD_COMPRESS_MOD_H

#include "compress.h"

extern const ws_host *cz_host;
extern const ws_module webserv_module;

typedef enum {
    CZ_SKIP, /* not ours: leave the response alone (no Vary) */
    CZ_VARY, /* compressible type, sent as it is this time: Vary only */
    CZ_CODE, /* code it with *out */
} cz_decision;

/* The header filter's decision for a response of `status`. */
cz_decision cz_decide(ws_request *r, const cz_conf *c, int status, coding *out);
int64_t cz_length(ws_request *r);
int cz_add_vary(ws_request *r);

/* Levels from which a piece is coded on the core's thread pool instead of
 * the event loop (bodyfilter.c). CPU per 64 KiB of HTML (1 MiB timed with
 * the command-line tools and Python's zlib, loaded machine): gzip 6 3.7 ms,
 * 7 5.5, 9 6.2; br 4 0.6, 5 4.4, 6 5.6, 11 206; zstd 9 3.1, 10 3.7, 19 92.
 * The defaults (gzip 1, br 4, zstd 3) and gzip 6, the usual on-the-fly
 * level, stay on the loop (no hand-over to a thread and back per piece);
 * the levels above them, up to 200 ms a piece, never stall the other
 * connections of the worker. */
#define CZ_OFFLOAD_GZIP 7
#define CZ_OFFLOAD_BR 5
#define CZ_OFFLOAD_ZSTD 10
int cz_offloaded(coding k, int level);
/* A body piece shorter than this is flushed (bodyfilter.c): the core reads
 * files in 64 KiB pieces, so only handlers' pieces that trickle are. */
#define CZ_FLUSH_BELOW (64 * 1024)

/* bodyfilter.c: set up the coder for this response (0, or -1), and the filter. */
int cz_body_start(ws_request *r, const cz_conf *c, coding k, int64_t length);
int cz_body_filter(ws_request *r, const void *data, size_t len, int last);
void cz_log_request(ws_request *r, const ws_log_info *info);

/* precompressed.c: file.br / .zst / .gz served as they are (match/handle). */
int cz_pre_match(ws_request *r);
int cz_pre_handle(ws_request *r);

#endif

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

/* bodyfilter.c: set up the coder for this response (0, or -1), and the filter. */
int cz_body_start(ws_request *r, const cz_conf *c, coding k, int64_t length);
int cz_body_filter(ws_request *r, const void *data, size_t len, int last);
void cz_log_request(ws_request *r, const ws_log_info *info);

/* precompressed.c: file.br / .zst / .gz served as they are (match/handle). */
int cz_pre_match(ws_request *r);
int cz_pre_handle(ws_request *r);

#endif

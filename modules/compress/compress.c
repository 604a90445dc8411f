/*
 * mod_compress (issue 14, SPEC §6): gzip, br and zstd content codings.
 *
 *   "compress": {"codings": ["zstd", "br", "gzip"], "min_length": 256, "types": [...],
 *                "gzip_level": 1, "br_quality": 4, "zstd_level": 3, "precompressed": false}
 *
 * On the fly: the header filter decides (decide() below lists when a
 * response is left alone), says Content-Encoding, drops the length (the core
 * frames chunked on HTTP/1.1, by close on 1.0), gives the coded variant its
 * own ETag ("abc" → "abc-gz": RFC 9110 §8.8.3, a strong validator belongs to
 * one representation) and adds Vary: Accept-Encoding to every response of a
 * compressible type, coded or not (§12.5.5). The body filter compresses each
 * piece as it arrives (bodyfilter.c).
 *
 * Precompressed (precompressed.c): file.html.br / .zst / .gz beside
 * file.html, not older than it, served as they are with sendfile.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compress_mod.h"

const ws_host *cz_host;

static int cz_init(const ws_host *h)
{
    cz_host = h;
    /* header filters, set_header, module_ctx, filter_next, offload: ABI 1.2 */
    return h->abi_minor >= 2 && h->size >= offsetof(ws_host, filter_next) + sizeof h->filter_next ? 0 : -1;
}

static void cz_fini(void)
{
    codec_idle_clear();
}

static int cz_conf_fn(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    return cz_configure(cz_host, s, loc, out);
}

/* Vary: Accept-Encoding, merged into a Vary the response already has. */
int cz_add_vary(ws_request *r)
{
    const char *vary = cz_host->resp_header(r, "Vary");
    if (!vary)
        return cz_host->add_header(r, "Vary", "Accept-Encoding");
    if (strcasestr(vary, "accept-encoding") || strcmp(vary, "*") == 0)
        return WS_OK;
    size_t n = strlen(vary) + sizeof ", Accept-Encoding";
    char *v = cz_host->alloc(r, n);
    if (!v)
        return WS_ERROR;
    snprintf(v, n, "%s, Accept-Encoding", vary);
    return cz_host->set_header(r, "Vary", v);
}

/* "abc" → "abc-gz", W/"abc" → W/"abc-gz": the suffix inside the quotes keeps
 * the entity-tag's syntax (RFC 9110 §8.8.3). A malformed ETag is removed: a
 * validator that could match the identity body must not go with the coded one. */
static int code_etag(ws_request *r, coding k)
{
    const char *etag = cz_host->resp_header(r, "ETag");
    if (!etag)
        return WS_OK;
    size_t n = strlen(etag);
    if (n < 2 || etag[n - 1] != '"' || !strchr(etag, '"') || strchr(etag, '"') == etag + n - 1)
        return cz_host->remove_header(r, "ETag");
    const char *suffix = coding_etag_suffix(k);
    size_t sl = strlen(suffix);
    char *v = cz_host->alloc(r, n + sl + 1);
    if (!v)
        return WS_ERROR;
    memcpy(v, etag, n - 1);
    memcpy(v + n - 1, suffix, sl);
    v[n - 1 + sl] = '"';
    v[n + sl] = '\0';
    return cz_host->set_header(r, "ETag", v);
}

/* Does a Cache-Control value hold the no-transform directive (RFC 9111 §5.2.2.6)? */
static int no_transform(const char *cc)
{
    for (const char *p = cc; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == 12 && strncasecmp(p, "no-transform", 12) == 0)
            return 1;
        p += n;
    }
    return 0;
}

/* The length the handler set, when the core tells it (resp_header
 * "Content-Length" while the head is open); -1 when unknown. */
int64_t cz_length(ws_request *r)
{
    const char *v = cz_host->resp_header(r, "Content-Length");
    if (!v || *v < '0' || *v > '9')
        return -1;
    int64_t n = 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*v - '0');
    }
    return *v ? -1 : n;
}

cz_decision cz_decide(ws_request *r, const cz_conf *c, int status, coding *out)
{
    *out = CODING_IDENTITY;
    /* RFC 9110 §6.4.1: no content. */
    if (status < 200 || status == 204)
        return CZ_SKIP;
    if (!cz_type_ok(c, cz_host->resp_header(r, "Content-Type")))
        return CZ_SKIP;
    /* Already coded (a precompressed file, a CGI's own gzip), or a sender
     * that forbids transformations (RFC 9111 §5.2.2.6: no-transform). */
    if (cz_host->resp_header(r, "Content-Encoding") || no_transform(cz_host->resp_header(r, "Cache-Control")))
        return CZ_SKIP;
    /* The core's conditionals and Range come first: a 304 (the identity
     * ETag matched: the client's copy is the identity body, and its ETag
     * stays) or a 206 (a range of the identity body) still say Vary, as the
     * 200 would (RFC 9110 §15.4.5). */
    if (status == 304 || status == 206 || status == 412 || status == 416)
        return CZ_VARY;
    if (cz_length(r) >= 0 && cz_length(r) < c->min_length)
        return CZ_VARY;
    /* Range (RFC 9110 §14.2) that the core did not apply (an If-Range that
     * did not match): the client still asks about the identity bytes. */
    if (cz_host->header(r, "Range"))
        return CZ_VARY;
    *out = ae_choose(cz_host->header(r, "Accept-Encoding"), c->codings, c->n_codings);
    return *out == CODING_IDENTITY ? CZ_VARY : CZ_CODE;
}

static int cz_header_filter(ws_request *r)
{
    const cz_conf *c = r->conf;
    if (!c)
        return 0;
    coding k;
    switch (cz_decide(r, c, cz_host->get_status(r), &k)) {
    case CZ_SKIP:
        return 0;
    case CZ_VARY:
        return cz_add_vary(r) == WS_OK ? 0 : WS_ERROR;
    case CZ_CODE:
        break;
    }
    if (cz_add_vary(r) != WS_OK || code_etag(r, k) != WS_OK)
        return WS_ERROR;
    int get_or_head = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (get_or_head && cz_none_match(cz_host->header(r, "If-None-Match"), cz_host->resp_header(r, "ETag"))) {
        /* RFC 9110 §13.1.2: the client has this coded variant: 304, with its
         * ETag and Vary, and no representation fields of a body. */
        cz_host->remove_header(r, "Accept-Ranges");
        return cz_host->set_status(r, 304) == WS_OK && cz_host->set_length(r, -1) == WS_OK ? 0 : WS_ERROR;
    }
    int64_t length = cz_length(r);
    if (cz_host->set_header(r, "Content-Encoding", coding_name(k)) != WS_OK || cz_host->set_length(r, -1) != WS_OK)
        return WS_ERROR;
    /* HEAD: the same fields as a GET, no body to code. */
    if (strcmp(r->method, "HEAD") == 0)
        return 0;
    return cz_body_start(r, c, k, length) == 0 ? 1 : WS_ERROR;
}

static const char *const cz_methods[] = {"GET", "HEAD", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "compress",
    .methods = cz_methods,
    .init = cz_init,
    .fini = cz_fini,
    .configure = cz_conf_fn,
    .match = cz_pre_match,
    .handle = cz_pre_handle,
    .header_filter = cz_header_filter,
    .body_filter = cz_body_filter,
    .log_request = cz_log_request,
};

/* Words for `webserv --schema` (module.h). */
WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Compresses responses on the fly (gzip, br, zstd; RFC 9110 §12.5.3 negotiation) and serves "
                   "precompressed files",
    .keys =
        (const ws_key_doc[]){
            {"codings", "Codings offered, in the server's order of preference", "[\"zstd\", \"br\", \"gzip\"]", NULL,
             "{\"items\": {\"enum\": [\"zstd\", \"br\", \"gzip\"]}, \"uniqueItems\": true}"},
            {"min_length", "Responses of a known length below this are sent as they are", "256", NULL, NULL},
            {"types", "Media types compressed: \"type/subtype\", \"type/*\" or \"type/*+suffix\"",
             "[\"text/*\", \"application/json\", \"application/javascript\", \"application/xml\", "
             "\"application/*+json\", \"application/*+xml\", \"image/svg+xml\", \"application/wasm\", "
             "\"application/x-javascript\"]",
             NULL,
             "{\"items\": {\"pattern\": \"^[A-Za-z0-9!#$&^_.+-]+/([A-Za-z0-9!#$&^_.+-]+|\\\\*|\\\\*\\\\+[A-Za-z0-9!#$&^_.+-]+)$\"}}"},
            {"gzip_level", "zlib level for gzip (1 fastest … 9 smallest)", "1", NULL,
             NULL},
            {"br_quality", "Brotli quality (0 … 11)", "4", NULL, NULL},
            {"zstd_level", "zstd level (1 … 19)", "3", NULL, NULL},
            {"precompressed", "Serve file.br / file.zst / file.gz beside a file when present and not older", "false",
             NULL, NULL},
            {NULL, NULL, NULL, NULL, NULL},
        },
};

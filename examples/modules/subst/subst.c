/*
 * mod_subst: a body filter (webserv ABI 1.2) — a streaming text substitution
 * on text responses, whatever module answers them. Enable it beside any handler:
 *
 *   "modules": ["static", "cgi", "subst"],
 *   "locations": [{"path": "/", "static": {}, "subst": {"from": "http://old.example", "to": "https://new.example"}}]
 *
 * Every 200 whose Content-Type starts with one of "types" (default ["text/"])
 * and that is not already encoded (Content-Encoding) has each `from` replaced
 * by `to`, as the body streams by: the body is never held in memory, a match
 * may straddle two pieces (the file is read in 64 KiB pieces), and the output
 * goes on in 4 KiB blocks. When the length changes, the header filter makes it
 * unknown (chunked on HTTP/1.1), drops Accept-Ranges, and weakens the ETag
 * (the bytes differ from the file's).
 *
 * The matching is Knuth–Morris–Pratt over the stream: the only state between
 * pieces is how many bytes of `from` are matched so far, and those bytes are
 * always `from`'s own prefix, so nothing of the input needs to be kept.
 */
#include <stdio.h>
#include <string.h>

#include <webserv/module.h>

#define FROM_MAX 256
#define OUT_BLOCK 4096

static const ws_host *host;
WS_EXPORT const ws_module webserv_module;

typedef struct subst_conf {
    const char *from, *to;
    size_t from_len, to_len;
    const char *const *types; /* Content-Type prefixes */
    size_t n_types;
    size_t fail[FROM_MAX];    /* KMP: longest proper prefix of from[0..i] that is also its suffix */
} subst_conf;

/* Per response, in request memory (host->alloc): dies with the request. */
typedef struct subst_state {
    size_t matched;           /* bytes of `from` matched at the end of the last piece */
    size_t n;                 /* bytes waiting in out */
    int rc;                   /* WS_AGAIN once the output said so */
    char out[OUT_BLOCK];
} subst_state;

static const char *const default_types[] = {"text/"};

static int sb_init(const ws_host *h)
{
    host = h;
    return h->abi_minor >= 2 ? 0 : -1; /* filters need a webserv with ABI 1.2 */
}

static int sb_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    subst_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    c->to = "";
    c->types = default_types;
    c->n_types = 1;
    int rf = host->cfg_string(s, "from", &c->from);
    if (rf < 0 || host->cfg_string(s, "to", &c->to) < 0 || host->cfg_string_list(s, "types", &c->types, &c->n_types) < 0)
        return -1;
    if (rf == 0 || !c->from[0] || strlen(c->from) > FROM_MAX) {
        host->cfg_error(s, "from", "required: 1 to %d bytes", FROM_MAX);
        return -1;
    }
    c->from_len = strlen(c->from);
    c->to_len = strlen(c->to);
    for (size_t i = 1, k = 0; i < c->from_len; i++) {
        while (k > 0 && c->from[i] != c->from[k])
            k = c->fail[k - 1];
        if (c->from[i] == c->from[k])
            k++;
        c->fail[i] = k;
    }
    *out = c;
    return 0;
}

static int wanted_type(const subst_conf *c, const char *type)
{
    for (size_t i = 0; type && i < c->n_types; i++)
        if (strncmp(type, c->types[i], strlen(c->types[i])) == 0)
            return 1;
    return 0;
}

static int sb_header_filter(ws_request *r)
{
    const subst_conf *c = r->conf;
    /* Only whole bodies we can read as text: not a 206 (its Content-Range
     * counts the original bytes), not an already compressed one. */
    if (!c || host->get_status(r) != 200 || !wanted_type(c, host->resp_header(r, "Content-Type")) ||
        host->resp_header(r, "Content-Encoding"))
        return 0;
    if (c->from_len != c->to_len) {
        host->set_length(r, -1);
        host->remove_header(r, "Accept-Ranges");
    }
    const char *etag = host->resp_header(r, "ETag");
    if (etag && etag[0] == '"') {
        char weak[128];
        snprintf(weak, sizeof weak, "W/%s", etag);
        host->set_header(r, "ETag", weak);
    }
    return 1; /* send me the body */
}

/* Pass the block on when it is full (or at the end). */
static int flush(ws_request *r, subst_state *st, int last)
{
    int rc = host->filter_next(r, st->out, st->n, last);
    st->n = 0;
    if (rc == WS_AGAIN)
        st->rc = WS_AGAIN; /* taken; the core stops feeding us until the client drains */
    return rc == WS_ERROR ? WS_ERROR : WS_OK;
}

static int emit(ws_request *r, subst_state *st, const char *p, size_t n)
{
    while (n) {
        size_t k = OUT_BLOCK - st->n < n ? OUT_BLOCK - st->n : n;
        memcpy(st->out + st->n, p, k);
        st->n += k;
        p += k;
        n -= k;
        if (st->n == OUT_BLOCK && flush(r, st, 0) == WS_ERROR)
            return WS_ERROR;
    }
    return WS_OK;
}

static int sb_body_filter(ws_request *r, const void *data, size_t len, int last)
{
    const subst_conf *c = r->conf;
    void **slot = host->module_ctx(r, &webserv_module);
    if (!slot)
        return WS_ERROR;
    subst_state *st = *slot;
    if (!st && !(st = *slot = host->alloc(r, sizeof *st)))
        return WS_ERROR;
    st->rc = WS_OK;
    const char *p = data;
    for (size_t i = 0; i < len; i++) {
        /* A mismatch after a partial match: the bytes that can no longer
         * start a match are `from`'s own, so they are emitted from there. */
        while (st->matched > 0 && c->from[st->matched] != p[i]) {
            size_t k = c->fail[st->matched - 1];
            if (emit(r, st, c->from, st->matched - k) == WS_ERROR)
                return WS_ERROR;
            st->matched = k;
        }
        if (c->from[st->matched] == p[i])
            st->matched++;
        else if (emit(r, st, p + i, 1) == WS_ERROR)
            return WS_ERROR;
        if (st->matched == c->from_len) {
            st->matched = 0;
            if (emit(r, st, c->to, c->to_len) == WS_ERROR)
                return WS_ERROR;
        }
    }
    if (last) {
        /* A partial match at the very end was plain text after all. */
        if (emit(r, st, c->from, st->matched) == WS_ERROR)
            return WS_ERROR;
        st->matched = 0;
        return flush(r, st, 1) == WS_ERROR ? WS_ERROR : st->rc;
    }
    /* What is in the block waits for the next piece, unless the piece is done
     * and the block holds a lot: small pieces go on together. */
    if (st->n >= OUT_BLOCK / 2 && flush(r, st, 0) == WS_ERROR)
        return WS_ERROR;
    return st->rc;
}

static const ws_key_doc keys[] = {
    {"from", "The text to replace (1 to 256 bytes)", NULL, NULL, NULL},
    {"to", "What replaces it", "\"\"", NULL, NULL},
    {"types", "Content-Type prefixes to filter", "[\"text/\"]", NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Streaming text substitution on text responses (a body filter)",
    .keys = keys,
};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "subst",
    .init = sb_init,
    .configure = sb_configure,
    .header_filter = sb_header_filter,
    .body_filter = sb_body_filter,
};

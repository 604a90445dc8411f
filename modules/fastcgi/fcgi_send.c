/*
 * To the application: BEGIN_REQUEST, the meta-variables as FCGI_PARAMS
 * (built by the cgi module's cgi_env.c: the same variables and rules), then
 * the body as FCGI_STDIN records as it arrives (FastCGI §5.1–§5.3). One piece
 * of body at a time is framed into obuf (lib/upstream's up_exchange sends it);
 * until it is written the body stays paused (on_body consumes nothing), so a
 * slow application slows the client.
 */
#include "fastcgi.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

void fcgi_put_record(fcgi_req *c, int type, const void *data, size_t n)
{
    fcgi_put_header((uint8_t *)c->x.obuf + c->x.olen, type, FCGI_REQUEST_ID, (uint16_t)n, 0);
    if (n)
        memcpy(c->x.obuf + c->x.olen + FCGI_HEADER_LEN, data, n);
    c->x.olen += FCGI_HEADER_LEN + n;
}

/* The params stream (§3.4) cut into PARAMS records of at most 65528 bytes
 * (a record holds 65535; a pair may run across records), at obuf's end. */
static void put_params_split(fcgi_req *c, const cgi_pair *p, size_t n, size_t pairs)
{
    uint8_t *pb = fcgi_host->alloc(c->r, pairs);
    size_t at = 0;
    if (!pb)
        return;
    for (size_t i = 0; i < n; i++)
        at += fcgi_put_pair(pb + at, p[i].name, p[i].nlen, p[i].value, p[i].vlen);
    for (size_t off = 0; off < pairs; off += 65528)
        fcgi_put_record(c, FCGI_PARAMS, pb + off, pairs - off < 65528 ? pairs - off : 65528);
}

int fcgi_build_head(fcgi_req *c)
{
    ws_request *r = c->r;
    size_t n;
    cgi_pair *p = cgi_env_pairs(fcgi_host, r, c->conf->env, c->conf->n_env, &c->script, c->body_length, &n);
    if (!p)
        return -1;
    size_t pairs = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sz = fcgi_pair_size(p[i].nlen, p[i].vlen);
        if (!sz)
            return -1;
        pairs += sz;
    }
    size_t n_records = pairs / 65528 + 1;
    size_t head = FCGI_BEGIN_LEN + pairs + (n_records + 2) * FCGI_HEADER_LEN;
    size_t piece = FCGI_HEADER_LEN + FCGI_STDIN_PIECE + FCGI_HEADER_LEN;
    /* Without a body the head is all; a body's STDIN records take turns in
     * one piece's room (a spooled body's go after the head, which stays for
     * a retry). BEGIN_REQUEST, the params and (without a body) the empty
     * STDIN go out in one send: the application wakes once. */
    c->x.ocap = !c->has_body ? head : c->spooled ? head + piece : head > piece ? head : piece;
    if (!(c->x.obuf = c->has_body ? upx_buffer(&c->x, c->x.ocap) : fcgi_host->alloc(r, c->x.ocap)))
        return -1;
    fcgi_put_begin((uint8_t *)c->x.obuf, FCGI_REQUEST_ID, c->keep_conn);
    c->x.olen = FCGI_BEGIN_LEN;
    if (pairs && pairs <= 65528) {
        /* The usual case: one record, the pairs encoded in place. */
        uint8_t *rec = (uint8_t *)c->x.obuf + c->x.olen;
        size_t at = FCGI_HEADER_LEN;
        for (size_t i = 0; i < n; i++)
            at += fcgi_put_pair(rec + at, p[i].name, p[i].nlen, p[i].value, p[i].vlen);
        fcgi_put_header(rec, FCGI_PARAMS, FCGI_REQUEST_ID, (uint16_t)pairs, 0);
        c->x.olen += FCGI_HEADER_LEN + pairs;
    } else if (pairs) {
        size_t before = c->x.olen;
        put_params_split(c, p, n, pairs);
        if (c->x.olen == before)
            return -1;
    }
    fcgi_put_record(c, FCGI_PARAMS, NULL, 0);
    if (!c->has_body) {
        fcgi_put_record(c, FCGI_STDIN, NULL, 0);
        c->x.body_done = 1;
    }
    c->x.head_len = c->x.olen;
    return 0;
}

static void frame(up_exchange *x, const char *data, size_t n)
{
    fcgi_put_record(x->arg, FCGI_STDIN, data, n);
}

size_t fcgi_on_body(ws_request *r, const char *data, size_t len)
{
    fcgi_req *c = r->ctx;
    if (!c || c->x.over || c->x.ended)
        return len; /* the answer is out: the rest of the body is not wanted */
    if (c->spooled)
        return fcgi_spool_body(c, data, len);
    return upx_body(&c->x, data, len, FCGI_STDIN_PIECE, frame);
}

static void stdin_end(up_exchange *x)
{
    fcgi_put_record(x->arg, FCGI_STDIN, NULL, 0); /* an empty STDIN record ends the stream (§5.3) */
}

void fcgi_on_body_end(ws_request *r)
{
    fcgi_req *c = r->ctx;
    if (!c || c->x.over || c->x.ended || c->x.body_done)
        return;
    if (c->spooled) {
        fcgi_spool_end(c);
        return;
    }
    upx_body_end(&c->x, stdin_end);
}

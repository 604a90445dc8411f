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

int fcgi_build_head(fcgi_req *c)
{
    ws_request *r = c->r;
    char **env = cgi_env_build(fcgi_host, r, c->conf->env, c->conf->n_env, &c->script,
                               c->body_length);
    if (!env)
        return -1;
    size_t pairs = 0;
    for (char **e = env; *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t nl = (size_t)(eq - *e), sz = fcgi_pair_size(nl, strlen(eq + 1));
        if (!sz)
            return -1;
        pairs += sz;
    }
    uint8_t *pb = fcgi_host->alloc(r, pairs ? pairs : 1);
    if (!pb)
        return -1;
    size_t at = 0;
    for (char **e = env; *e; e++) {
        const char *eq = strchr(*e, '=');
        at += fcgi_put_pair(pb + at, *e, (size_t)(eq - *e), eq + 1, strlen(eq + 1));
    }
    /* Records hold at most 65535 bytes; the params are one stream (§3.4), so
     * a pair may run across records. */
    size_t n_records = pairs / 65528 + 1;
    size_t head = FCGI_BEGIN_LEN + pairs + (n_records + 2) * FCGI_HEADER_LEN;
    size_t piece = FCGI_HEADER_LEN + FCGI_STDIN_PIECE + FCGI_HEADER_LEN;
    /* Without a body the head is all; a body's STDIN records take turns in
     * one piece's room (a spooled body's go after the head, which stays for
     * a retry). */
    c->x.ocap = !c->has_body ? head : c->spooled ? head + piece : head > piece ? head : piece;
    if (!(c->x.obuf = c->has_body ? upx_buffer(&c->x, c->x.ocap) : fcgi_host->alloc(r, c->x.ocap)))
        return -1;
    fcgi_put_begin((uint8_t *)c->x.obuf, FCGI_REQUEST_ID, c->keep_conn);
    c->x.olen = FCGI_BEGIN_LEN;
    for (size_t off = 0; off < pairs; off += 65528)
        fcgi_put_record(c, FCGI_PARAMS, pb + off, pairs - off < 65528 ? pairs - off : 65528);
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

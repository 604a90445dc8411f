/*
 * To the application: BEGIN_REQUEST, the meta-variables as FCGI_PARAMS
 * (built by the cgi module's cgi_env.c: the same variables and rules), then
 * the body as FCGI_STDIN records as it arrives (FastCGI §5.1–§5.3). One piece
 * of body at a time is framed into obuf; until it is written the body stays
 * paused (on_body consumes nothing), so a slow application slows the client.
 */
#include "fastcgi.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

void fcgi_put_record(fcgi_req *c, int type, const void *data, size_t n)
{
    fcgi_put_header(c->obuf + c->olen, type, FCGI_REQUEST_ID, (uint16_t)n, 0);
    if (n)
        memcpy(c->obuf + c->olen + FCGI_HEADER_LEN, data, n);
    c->olen += FCGI_HEADER_LEN + n;
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
    /* A spooled body's STDIN records go after the head, which stays for a retry. */
    c->ocap = c->spooled ? head + piece : head > piece ? head : piece;
    if (!(c->obuf = fcgi_host->alloc(r, c->ocap)))
        return -1;
    fcgi_put_begin(c->obuf, FCGI_REQUEST_ID, c->keep_conn);
    c->olen = FCGI_BEGIN_LEN;
    for (size_t off = 0; off < pairs; off += 65528)
        fcgi_put_record(c, FCGI_PARAMS, pb + off, pairs - off < 65528 ? pairs - off : 65528);
    fcgi_put_record(c, FCGI_PARAMS, NULL, 0);
    if (!c->has_body) {
        fcgi_put_record(c, FCGI_STDIN, NULL, 0);
        c->body_done = 1;
    }
    c->head_len = c->olen;
    return 0;
}

void fcgi_flush(fcgi_req *c)
{
again:
    while (c->up.fd >= 0 && c->ooff < c->olen) {
        ssize_t n = send(c->up.fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (n > 0) {
            c->ooff += (size_t)n;
            fcgi_arm_timer(c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* Reset or closed: what it already answered may still be readable. */
        if (!fcgi_retry(c, strerror(errno)))
            fcgi_fail(c, 502, "the application closed the connection while the request was sent");
        return;
    }
    if (c->up.fd < 0 || c->over)
        return;
    /* A spooled body: the next STDIN record comes from its file. */
    if (c->spooled && c->ooff == c->olen && c->w && fcgi_spool_next(c))
        goto again;
    if (c->up.fd < 0 || c->over)
        return;
    if (c->ooff == c->olen && c->body_started)
        c->ooff = c->olen = 0;
    fcgi_update_watch(c);
    if (c->ooff == c->olen && c->body_paused && !c->in_on_body) {
        c->body_paused = 0;
        fcgi_host->body_resume(c->r);
    }
}

size_t fcgi_on_body(ws_request *r, const char *data, size_t len)
{
    fcgi_req *c = r->ctx;
    if (!c || c->over || c->ended)
        return len; /* the answer is out: the rest of the body is not wanted */
    if (c->spooled)
        return fcgi_spool_body(c, data, len);
    if (!c->body_started && c->up.fd >= 0 && c->w && c->ooff == c->olen) {
        c->body_started = 1; /* from now on a failure cannot be retried: the body is gone */
        c->olen = c->ooff = 0;
    }
    /* Frame and write pieces while the application takes them. What is not
     * consumed is offered again after body_resume, which fcgi_flush calls
     * once obuf drains (never from in here: the core pauses the body only
     * after this returns). */
    size_t done = 0;
    c->in_on_body = 1;
    while (done < len && c->body_started && c->up.fd >= 0 && !c->over && c->ooff == c->olen) {
        size_t n = len - done < FCGI_STDIN_PIECE ? len - done : FCGI_STDIN_PIECE;
        fcgi_put_record(c, FCGI_STDIN, data + done, n);
        done += n;
        fcgi_flush(c);
    }
    c->in_on_body = 0;
    if (done < len && !c->over)
        c->body_paused = 1;
    return c->over ? len : done;
}

void fcgi_on_body_end(ws_request *r)
{
    fcgi_req *c = r->ctx;
    if (!c || c->over || c->ended || c->body_done)
        return;
    if (c->spooled) {
        fcgi_spool_end(c);
        return;
    }
    if (!c->body_started) {
        c->body_started = 1;
        if (c->ooff == c->olen)
            c->olen = c->ooff = 0;
    }
    fcgi_put_record(c, FCGI_STDIN, NULL, 0);
    c->body_done = 1;
    fcgi_flush(c);
}

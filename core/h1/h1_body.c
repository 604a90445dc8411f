/*
 * A request body on the HTTP/1 byte stream: Content-Length or chunked
 * framing (RFC 9112 §6, §7.1) decoded out of the connection's read buffer
 * into pieces handed up to the request (req_body_in), the body's limits, and
 * discarding what nobody read so the next request on the connection can be
 * parsed.
 */
#include <string.h>

#include "conn.h"
#include "response.h"

void h1_body_start(conn *c, const http_head *h)
{
    h1_body *b = &c->in;
    memset(b, 0, sizeof *b);
    b->chunked = h->chunked;
    if (h->chunked)
        chunked_init(&b->dec);
    else if (h->content_length > 0)
        b->left = h->content_length;
}

int h1_body_complete(const conn *c)
{
    return c->in.chunked ? c->in.chunk_end : c->in.left == 0;
}

/* Answer a body that cannot be read on: the connection cannot be reused. */
static step refuse(request *r, int status)
{
    r->close_after = 1;
    resp_error(r, status);
    return STEP_ERROR;
}

/* Take the next body piece out of rbuf into c->in.pend. STEP_OK: a piece (or
 * the end) is ready; STEP_AGAIN: need more bytes; STEP_ERROR: the body is
 * malformed or too large (answered). */
static step next_piece(conn *c, request *r)
{
    h1_body *b = &c->in;
    size_t avail = c->rlen - c->rpos;
    if (!b->chunked) {
        if (b->left == 0)
            return STEP_OK;
        if (b->raw && avail > 0) { /* upgraded: whatever is there, never an end */
            b->pend = c->rbuf + c->rpos;
            b->pend_len = avail;
            c->rpos += avail;
            r->body_seen += (int64_t)avail;
            return STEP_OK;
        }
        if (avail == 0)
            return STEP_AGAIN;
        size_t take = (uint64_t)b->left < avail ? (size_t)b->left : avail;
        b->pend = c->rbuf + c->rpos;
        b->pend_len = take;
        c->rpos += take;
        b->left -= (int64_t)take;
        r->body_seen += (int64_t)take;
        return STEP_OK;
    }
    for (;;) { /* with no bytes too: the decoder may finish on what it already has */
        size_t used = 0, dlen = 0;
        const char *data = NULL;
        int rc = chunked_decode(&b->dec, c->rbuf + c->rpos, avail, &used, &data, &dlen);
        c->rpos += used;
        avail -= used;
        if (rc == CHUNKED_ERROR)
            return refuse(r, 400);
        if (rc == CHUNKED_DONE) {
            b->chunk_end = 1;
            return STEP_OK;
        }
        if (rc == CHUNKED_DATA && dlen) {
            r->body_seen += (int64_t)dlen;
            if (r->loc && r->loc->max_body > 0 && r->body_seen > r->loc->max_body)
                return refuse(r, 413);
            b->pend = data;
            b->pend_len = dlen;
            return STEP_OK;
        }
        if (rc == CHUNKED_AGAIN)
            return STEP_AGAIN;
    }
}

void h1_body_pump(conn *c)
{
    request *r = c->req;
    h1_body *b = &c->in;
    while (r->body == BODY_READING && !r->finished) {
        if (b->pend_len) {
            size_t n = req_body_in(r, b->pend, b->pend_len);
            b->pend += n;
            b->pend_len -= n;
            if (b->pend_len)
                return; /* paused: offered again after body_resume */
            continue;
        }
        if (h1_body_complete(c)) {
            req_body_end(r);
            return;
        }
        step rc = next_piece(c, r);
        if (rc == STEP_ERROR)
            return;
        if (rc == STEP_AGAIN) {
            if (c->peer_closed && b->raw)
                req_body_end(r); /* upgraded: the client closed its side (on_data_end) */
            else if (c->peer_closed)
                r->aborted = 1;
            return; /* wait for the socket */
        }
    }
}

step h1_body_discard(conn *c)
{
    request *r = c->req;
    for (;;) {
        c->in.pend_len = 0;
        if (h1_body_complete(c)) {
            r->body = BODY_DONE;
            return STEP_OK;
        }
        step rc = next_piece(c, r);
        if (rc != STEP_OK)
            return rc;
    }
}

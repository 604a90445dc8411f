/*
 * A request body as modules get it: read_body starts it, pieces go to the
 * module's on_body (a short count pauses the body until body_resume), and
 * on_body_end closes it. The carrier decodes the framing and hands the
 * pieces up (carrier.h).
 */
#include "modules.h"
#include "request.h"

int req_read_body(request *r)
{
    if (r->body == BODY_NONE) {
        /* An empty body (RFC 9112 §6.3 item 7) still ends: on_body_end comes from the carrier. */
        r->body = BODY_READING;
        return WS_OK;
    }
    if (r->body != BODY_UNREAD)
        return WS_ERROR;
    r->body = BODY_READING;
    r->logctx.doing = "reading the body";
    r->carrier->want_body(r);
    return WS_OK;
}

void req_body_resume(request *r)
{
    if (r->body == BODY_PAUSED)
        r->body = BODY_READING;
}

size_t req_body_in(request *r, const char *p, size_t n)
{
    if (!r->owner || !r->owner->d.on_body)
        return n;
    req_begin_module(r);
    size_t k = r->owner->d.on_body(&r->pub, p, n);
    req_end_module(r);
    if (k > n)
        k = n;
    if (k < n && r->body == BODY_READING)
        r->body = BODY_PAUSED;
    return k;
}

void req_body_end(request *r)
{
    r->body = BODY_DONE;
    if (r->owner && r->owner->d.on_body_end && !r->finished) {
        req_begin_module(r);
        r->owner->d.on_body_end(&r->pub);
        req_end_module(r);
    }
}

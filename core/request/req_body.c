/*
 * A request body as modules get it: read_body starts it, pieces go to the
 * module's on_body (a short count pauses the body until body_resume), and
 * on_body_end closes it. The carrier decodes the framing and hands the
 * pieces up (carrier.h). On an upgraded connection (upgrade.c) the same path
 * carries the client's raw bytes to on_data and its close to on_data_end.
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
    /* After host->upgrade (ABI 1.3) the client's bytes are the new protocol's: on_data. */
    size_t (*in)(ws_request *, const char *, size_t) = r->upgraded ? r->owner ? r->owner->d.on_data : NULL
                                                                   : r->owner ? r->owner->d.on_body : NULL;
    if (!in)
        return n;
    req_begin_module(r);
    size_t k = in(&r->pub, p, n);
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
    void (*end)(ws_request *) = !r->owner ? NULL : r->upgraded ? r->owner->d.on_data_end : r->owner->d.on_body_end;
    if (end && !r->finished) {
        req_begin_module(r);
        end(&r->pub);
        req_end_module(r);
    }
}

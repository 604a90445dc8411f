/*
 * ABI 1.2 response inspection for header filters and handlers: the status and
 * the header fields as they stand (core/request/resp_headers.h), and
 * replacing or removing fields while the head is still open.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arena.h"

#include "request.h"
#include "header_rules.h"
#include "phase.h"
#include "resp_headers.h"

static int status_bodiless(int st)
{
    return st < 200 || st == 204 || st == 304;
}

int phase_host_get_status(const ws_request *p)
{
    const request *r = (const request *)(const void *)p;
    return r->status ? r->status : 200;
}

/* Content-Length is the carrier's field (set_length): shown from the length,
 * so a header filter sees what the head will say. */
const char *phase_host_resp_header(const ws_request *p, const char *name)
{
    const request *r = (const request *)(const void *)p;
    if (name && strcasecmp(name, "Content-Length") == 0) {
        if (r->length < 0 || status_bodiless(r->status))
            return NULL;
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)r->length);
        return arena_strdup(r->pool, buf);
    }
    return name ? resp_header_get(r, name) : NULL;
}

int phase_host_remove_header(ws_request *p, const char *name)
{
    request *r = (request *)(void *)p;
    if (!name || r->head_sent)
        return WS_ERROR;
    if (strcasecmp(name, "Content-Length") == 0) {
        r->length = -1; /* as set_length(r, -1): chunked, close-delimited or plain DATA frames */
        return WS_OK;
    }
    resp_header_remove(r, name);
    return WS_OK;
}

int phase_host_set_header(ws_request *p, const char *name, const char *value)
{
    request *r = (request *)(void *)p;
    size_t n, vn;
    if (r->head_sent || !header_rules_field_len(name, value, &n, &vn))
        return WS_ERROR;
    return resp_header_set_n(r, name, n, value, vn) == 0 ? WS_OK : WS_ERROR;
}

/*
 * ABI 1.2 response inspection for header filters and handlers: the status and
 * the header fields as they stand (core/request/resp_headers.h), and
 * replacing or removing fields while the head is still open.
 */
#include <string.h>

#include "request.h"
#include "header_rules.h"
#include "phase.h"
#include "resp_headers.h"

int phase_host_get_status(const ws_request *p)
{
    const request *r = (const request *)(const void *)p;
    return r->status ? r->status : 200;
}

const char *phase_host_resp_header(const ws_request *p, const char *name)
{
    return name ? resp_header_get((const request *)(const void *)p, name) : NULL;
}

int phase_host_remove_header(ws_request *p, const char *name)
{
    request *r = (request *)(void *)p;
    if (!name || r->head_sent)
        return WS_ERROR;
    resp_header_remove(r, name);
    return WS_OK;
}

int phase_host_set_header(ws_request *p, const char *name, const char *value)
{
    request *r = (request *)(void *)p;
    if (r->head_sent || !header_rules_field_ok(name, value))
        return WS_ERROR;
    return resp_header_set(r, name, value) == 0 ? WS_OK : WS_ERROR;
}

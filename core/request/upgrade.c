/*
 * Connection upgrade (host->upgrade, ABI 1.3): a module answers 101
 * Switching Protocols (RFC 9110 §15.2.2, §7.8) and the connection then
 * carries the module's own protocol (a WebSocket, a proxied tunnel) as raw
 * bytes both ways. The carrier does the switch (carrier.h, upgrade op);
 * here are the rules every carrier shares: which requests may switch, and
 * the 101 head.
 */
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "header_rules.h"
#include "http_parse.h"
#include "log.h"
#include "request.h"
#include "response.h"

int req_upgrade(request *r, const char *protocol)
{
    const ws_request *p = &r->pub;
    /* RFC 9110 §7.8: the 101's Upgrade names what the client offered, and
     * the client said so in Connection (it is hop-by-hop). HTTP/1.0 has no
     * Upgrade; HTTP/2 forbids it (RFC 9113 §8.6): its carrier has no op. */
    if (!protocol || !*protocol || !http_is_token(protocol, strcspn(protocol, "/")) ||
        !header_rules_field_ok("X-Upgrade", protocol))
        return WS_ERROR;
    if (!r->carrier->upgrade || p->http_minor != 1 || r->head_sent || r->finished || r->redirect_to)
        return WS_ERROR;
    if (!header_rules_list_has(req_header(r, "Connection"), "upgrade") ||
        !header_rules_list_has(req_header(r, "Upgrade"), protocol))
        return WS_ERROR;
    /* A body the module did not read would sit between the head and the new
     * protocol's first bytes: read it first (or refuse the upgrade). */
    if (r->body != BODY_NONE && r->body != BODY_DONE)
        return WS_ERROR;
    char *proto = arena_strndup(r->pool, protocol, strlen(protocol));
    if (!proto)
        return WS_ERROR;
    r->upgrade_proto = proto;
    r->status = 101;
    r->length = -1;
    r->has_validators = 0;
    if (resp_commit_head(r) < 0 || r->status != 101) {
        /* a header filter failed or answered by itself: no switch */
        r->upgrade_proto = NULL;
        return WS_ERROR;
    }
    if (r->carrier->upgrade(r) < 0) {
        r->upgrade_proto = NULL;
        r->finished = 1;
        r->carrier->abort(r);
        return WS_ERROR;
    }
    /* The head said 101 (a response without content); what follows is the
     * new protocol's bytes, sent as the module writes them. */
    r->upgraded = 1;
    r->no_body = 0;
    r->out_left = -1;
    r->skip = 0;
    r->body = BODY_READING;
    r->logctx.doing = "carrying an upgraded connection";
    return WS_OK;
}

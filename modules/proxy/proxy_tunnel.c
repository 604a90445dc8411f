/*
 * Upgrade through the proxy (RFC 9110 §7.8; a WebSocket, RFC 6455 §4): a
 * client's HTTP/1.1 request that asks to switch protocols (Connection names
 * "upgrade", an Upgrade field, no body) goes to the upstream with its
 * Upgrade field and "Connection: upgrade". When the upstream answers 101,
 * its end-to-end fields (Sec-WebSocket-Accept …) go with our own 101
 * (host->upgrade, ABI 1.3) and from then on bytes are spliced both ways:
 *  - upstream → client: read into ibuf, written to the client; a full client
 *    queue (WS_AGAIN) stops reading the upstream until on_writable;
 *  - client → upstream: on_data into obuf (at most its size), sent; while
 *    the upstream does not take it, on_data consumes nothing more (the core
 *    stops reading the client) until the send drained (body_resume).
 * Both buffers are bounded (PROXY_IN_BUF, ocap). Either side closing ends
 * both: the client's close ends the upstream connection, the upstream's
 * close ends the client's after what is queued was sent. An answer other
 * than 101 passes through as an ordinary response (its connection is not
 * pooled). Idle: the upstream's timeouts.read, and the client side's
 * timeouts.body (the core's idle timeout of an upgraded connection).
 */
#include "proxy.h"

#include <string.h>
#include <strings.h>

#include "header_rules.h"

const char *proxy_upgrade_wanted(const ws_request *r)
{
    if (r->http_minor != 1 || proxy_host->abi_minor < 3 || !proxy_host->upgrade)
        return NULL; /* HTTP/1.0 has no Upgrade, HTTP/2 forbids it (RFC 9113 §8.6) */
    const char *up = proxy_host->header(r, "Upgrade");
    if (!up || !*up || !header_rules_list_has(proxy_host->header(r, "Connection"), "upgrade"))
        return NULL;
    return up;
}

void proxy_tunnel_start(proxy_req *c, const http_head *h, size_t head_len)
{
    ws_request *r = c->r;
    /* The protocol the upstream switched to: one the client offered. */
    const char *proto = NULL;
    for (size_t i = 0; i < h->n_headers; i++)
        if (h->headers[i].name.n == 7 && strncasecmp(h->headers[i].name.p, "Upgrade", 7) == 0) {
            char *v = proxy_host->alloc(r, h->headers[i].value.n + 1);
            if (v)
                memcpy(v, h->headers[i].value.p, h->headers[i].value.n);
            proxy_host->log(WS_LOG_DEBUG, r, "upstream 101 Upgrade: %s", v ? v : "-");
            proto = v;
            break;
        }
    if (!proto || !*proto || !header_rules_list_has(c->upgrade, proto)) {
        upx_fail(&c->x, 502, "the upstream's 101 names no protocol the client asked for");
        return;
    }
    proxy_pass_fields(c, h);
    if (proxy_host->upgrade(r, proto) != WS_OK) {
        upx_fail(&c->x, 502, "the client's connection cannot be upgraded");
        return;
    }
    up_succeeded(&c->x.up);
    c->tunnel = 1;
    c->head_done = 1;
    c->resp_mode = BODY_CLOSE; /* upstream bytes until its close, passed as they come */
    c->upstream_keep = 0;      /* a switched connection is never pooled */
    c->x.body_started = 1;       /* obuf now holds client bytes only */
    c->x.body_done = 1;
    c->ioff = head_len;        /* what followed the 101 is the new protocol's */
    if (c->x.ooff == c->x.olen)
        c->x.ooff = c->x.olen = 0;
    proxy_host->log(WS_LOG_DEBUG, r, "proxy: tunnel to %s (%s)", c->x.up.server ? c->x.up.server->address : "-", proto);
}

size_t proxy_on_data(ws_request *r, const char *data, size_t len)
{
    proxy_req *c = r->ctx;
    if (!c || c->x.over || !c->tunnel)
        return len;
    size_t done = 0;
    c->x.in_on_body = 1;
    while (done < len && c->x.up.fd >= 0 && !c->x.over && c->x.ooff == c->x.olen) {
        c->x.ooff = c->x.olen = 0;
        size_t n = len - done < c->x.ocap ? len - done : c->x.ocap;
        memcpy(c->x.obuf, data + done, n);
        c->x.olen = n;
        done += n;
        upx_flush(&c->x); /* what the upstream does not take now waits in obuf (bounded) */
    }
    c->x.in_on_body = 0;
    if (c->x.over)
        return len;
    if (done < len)
        c->x.body_paused = 1; /* proxy_flush calls body_resume once obuf drained */
    upx_arm_timer(&c->x);
    return done;
}

void proxy_on_data_end(ws_request *r)
{
    proxy_req *c = r->ctx;
    if (!c || c->x.over)
        return;
    /* The client closed: the upstream connection closes with it (never pooled). */
    c->upstream_keep = 0;
    c->x.ended = 1;
    proxy_done(c);
}

/*
 * mod_metrics (SPEC §6): the whole server's metrics (all workers) in the
 * Prometheus text exposition format 0.0.4, at the location that enables it:
 *
 *     { "path": "/metrics", "metrics": {}, "root": null }
 *
 * The counting is the core's (server/metrics.c: shared memory, every
 * request); this module only serves host->metrics_text. It has no settings.
 */
#include <string.h>

#include "webserv/module.h"

static const ws_host *host;
static const char *const methods[] = {"GET", "HEAD", NULL};

static int mx_init(const ws_host *h)
{
    /* host->metrics_text is ABI 1.2; an older core cannot run this module. */
    if (h->abi_minor < 2 || h->size < offsetof(ws_host, metrics_text) + sizeof h->metrics_text ||
        !h->metrics_text) {
        h->log(WS_LOG_ERROR, NULL, "metrics: this core has no metrics (ABI 1.2 host functions needed)");
        return -1;
    }
    host = h;
    return 0;
}

static int mx_configure(const ws_settings *s, const ws_location_info *loc, const void **conf)
{
    (void)s, (void)loc;
    *conf = NULL; /* no settings: any key is reported as unknown by the core */
    return 0;
}

static int mx_match(ws_request *r)
{
    return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0 ? WS_TAKE : WS_DECLINE;
}

static int mx_handle(ws_request *r)
{
    const char *text;
    size_t len;
    if (host->metrics_text(r, &text, &len) != WS_OK)
        return 500;
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    host->add_header(r, "Cache-Control", "no-store");
    host->set_length(r, (int64_t)len);
    if (host->write(r, text, len) == WS_ERROR)
        return 0; /* the core ends the request */
    host->finish(r);
    return 0;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "metrics",
    .methods = methods,
    .init = mx_init,
    .configure = mx_configure,
    .match = mx_match,
    .handle = mx_handle,
    .flags = WS_MODULE_NO_FILES,
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Prometheus text format 0.0.4 of the whole server (all workers); no settings",
    .keys = (const ws_key_doc[]){{NULL, NULL, NULL, NULL, NULL}},
};

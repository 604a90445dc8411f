/*
 * Test module for on_reload (ABI 1.2). "reloadhook": {"name": "x"}.
 * on_reload logs "on_reload <old name|-> -> <new name>" and carries a counter
 * from the old conf into the new one (state kept across reloads through the
 * hook). GET answers "<name> carried=<n>".
 */
#include <stdio.h>
#include <string.h>

#include "webserv/module.h"

static const ws_host *host;

typedef struct rh_conf {
    const char *name;
    int carried; /* written by on_reload, before any request sees the conf */
} rh_conf;

static int rh_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int rh_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    rh_conf *c = host->cfg_alloc(s, sizeof *c);
    c->name = "none";
    if (host->cfg_string(s, "name", &c->name) < 0)
        return -1;
    *out = c;
    return 0;
}

static void rh_on_reload(const void *old_conf, const void *new_conf)
{
    const rh_conf *o = old_conf;
    rh_conf *n = (rh_conf *)new_conf; /* our own allocation: not yet visible to any request */
    n->carried = o ? o->carried + 1 : 0;
    host->log(WS_LOG_WARN, NULL, "on_reload %s -> %s carried=%d", o ? o->name : "-", n->name, n->carried);
}

static int rh_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static int rh_handle(ws_request *r)
{
    const rh_conf *c = r->conf;
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s carried=%d", c->name, c->carried);
    host->set_status(r, 200);
    host->set_length(r, n);
    host->write(r, buf, (size_t)n);
    host->finish(r);
    return 0;
}

static const char *const rh_methods[] = {"GET", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "reloadhook",
    .methods = rh_methods,
    .init = rh_init,
    .configure = rh_configure,
    .match = rh_match,
    .handle = rh_handle,
    .on_reload = rh_on_reload,
    .flags = WS_MODULE_NO_FILES,
};

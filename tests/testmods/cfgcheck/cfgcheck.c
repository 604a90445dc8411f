/* A test module whose configure() uses every settings getter and rejects bad values. */
#include <string.h>

#include "cfgcheck.h"
#include "webserv/module.h"

static const ws_host *host;
static const char *const methods[] = {"GET", "POST", NULL};

static int cc_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int cc_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    cfgcheck_conf *c = host->cfg_alloc(s, sizeof *c);
    int fail = 0, silent = 0;
    c->count = 1;
    if (host->cfg_bool(s, "enabled", &c->enabled) < 0 || host->cfg_int(s, "count", 0, 100, &c->count) < 0 ||
        host->cfg_size(s, "limit", &c->limit) < 0 || host->cfg_seconds(s, "timeout", &c->timeout) < 0 ||
        host->cfg_string(s, "name", &c->name) < 0 || host->cfg_path(s, "dir", &c->dir) < 0 ||
        host->cfg_string_list(s, "list", &c->list, &c->n_list) < 0 ||
        host->cfg_string_map(s, "map", &c->map, &c->n_map) < 0 || host->cfg_bool(s, "fail", &fail) < 0 ||
        host->cfg_bool(s, "silentfail", &silent) < 0)
        return -1;
    if (c->name && strcmp(c->name, "bad") == 0) {
        host->cfg_error(s, "name", "must not be \"%s\"", c->name);
        return -1;
    }
    if (fail) {
        host->cfg_error(s, NULL, "asked to fail");
        return -1;
    }
    if (silent)
        return -1;
    c->loc_path = loc->path;
    c->loc_root = loc->root;
    c->loc_max_body = loc->max_body;
    *out = c;
    return 0;
}

static int cc_match(ws_request *r) { (void)r; return WS_DECLINE; }
static int cc_handle(ws_request *r) { (void)r; return 500; }

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "cfgcheck",
    .methods = methods,
    .init = cc_init,
    .configure = cc_configure,
    .match = cc_match,
    .handle = cc_handle,
};

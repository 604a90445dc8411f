/*
 * mod_secheaders: a header filter (webserv ABI 1.2), the smallest useful
 * example of a module that changes what ANOTHER module answers. Enable it
 * beside any handler:
 *
 *   "modules": ["static", "secheaders"],
 *   "locations": [{"path": "/", "static": {}, "secheaders": {"csp": "default-src 'self'"}}]
 *
 * Every response of the location (the handler's and the core's own error
 * pages and redirects) gets X-Content-Type-Options: nosniff; HTML ones get the
 * configured Content-Security-Policy; X-Powered-By (which a CGI script may
 * send) is removed.
 */
#include <string.h>

#include <webserv/module.h>

static const ws_host *host;

typedef struct sh_conf {
    const char *csp; /* NULL: none */
} sh_conf;

static int sh_init(const ws_host *h)
{
    host = h;
    return h->abi_minor >= 2 ? 0 : -1; /* filters need a webserv with ABI 1.2 */
}

static int sh_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    sh_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c || host->cfg_string(s, "csp", &c->csp) < 0)
        return -1;
    *out = c;
    return 0;
}

static int sh_header_filter(ws_request *r)
{
    const sh_conf *c = r->conf; /* our config, even though another module answers */
    const char *type = host->resp_header(r, "Content-Type");
    if (host->set_header(r, "X-Content-Type-Options", "nosniff") != WS_OK)
        return WS_ERROR;
    if (c && c->csp && type && strncmp(type, "text/html", 9) == 0)
        host->set_header(r, "Content-Security-Policy", c->csp);
    host->remove_header(r, "X-Powered-By");
    return 0; /* 0: leave the body alone (WS_ERROR would make it a 500) */
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "secheaders",
    .init = sh_init,
    .configure = sh_configure,
    .header_filter = sh_header_filter,
};

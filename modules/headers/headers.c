/*
 * mod_headers (SPEC §6): response headers per location, as a header filter
 * (ABI 1.2) on whatever module or core answer the location gives.
 *
 *   "headers": {"set": {"X-Frame-Options": "DENY"}, "add": {"Link": "</s.css>; rel=preload"},
 *               "remove": ["X-Powered-By"], "always": false,
 *               "expires": {".css": 86400, "text/html": 0},
 *               "cors": {"origins": ["https://app.example"], "methods": ["GET", "POST"],
 *                        "headers": ["Content-Type"], "credentials": true, "max_age": 600}}
 *
 * set/add/remove and expires apply to 2xx and 3xx responses, and to every
 * status with "always": true (nginx's `always`). In order: remove, set, add,
 * then expires (Cache-Control max-age and Expires, by extension or type).
 * cors: a request with an allowed Origin gets Access-Control-Allow-Origin
 * (and -Credentials, Vary: Origin, -Expose-Headers: none) on every status, and
 * a preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 * answered here in the rewrite phase with 204 and the allowed methods,
 * headers and max-age, before the core's own OPTIONS answer.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "headers.h"

static const ws_host *host;

static int hd_init(const ws_host *h)
{
    host = h;
    return h->abi_minor >= 2 && h->size >= offsetof(ws_host, cfg_kind) + sizeof h->cfg_kind ? 0 : -1;
}

/* RFC 9110 §5.6.2 token characters. */
static int token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

/* Fields the core owns (framing, hop, Date/Server): a config cannot touch them. */
static int core_owned(const char *name)
{
    static const char *const owned[] = {"Content-Length", "Transfer-Encoding", "Connection", "Date", "Server",
                                        "Keep-Alive", "Upgrade", "Trailer", "TE"};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        if (strcasecmp(name, owned[i]) == 0)
            return 1;
    return 0;
}

static int value_ok(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 ? *v != '\t' : *v == 0x7f)
            return 0;
    return 1;
}

static int check_names(const ws_settings *s, const char *key, const char *const *list, size_t n, size_t step)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = list[i * step];
        if (!token(name)) {
            host->cfg_error(s, key, "\"%s\" is not a header name", name);
            return -1;
        }
        if (core_owned(name)) {
            host->cfg_error(s, key, "\"%s\" is set by the server itself", name);
            return -1;
        }
        if (step == 2 && !value_ok(list[i * step + 1])) {
            host->cfg_error(s, key, "the value of \"%s\" holds a control character", name);
            return -1;
        }
    }
    return 0;
}

/* "a, b, c" from a list of tokens (methods, header names). */
static const char *join(const ws_settings *s, const char *key, const char *const *list, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        if (!token(list[i])) {
            host->cfg_error(s, key, "\"%s\" is not a token", list[i]);
            return NULL;
        }
        len += strlen(list[i]) + 2;
    }
    char *out = host->cfg_alloc(s, len);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ", ");
        strcat(out, list[i]);
    }
    return out;
}

static int parse_expires(const ws_settings *s, hd_conf *c)
{
    const ws_settings *e;
    int r = host->cfg_object(s, "expires", &e);
    if (r <= 0)
        return r;
    const char *const *keys;
    size_t n;
    host->cfg_keys(e, &keys, &n);
    c->expires = host->cfg_alloc(s, (n ? n : 1) * sizeof *c->expires);
    if (!c->expires)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i];
        int ext = k[0] == '.' && k[1] && !strchr(k + 1, '/') && !strchr(k + 1, '.');
        const char *sl = strchr(k, '/');
        int type = !ext && sl && sl != k && sl[1] && (strcmp(sl + 1, "*") == 0 || !strchr(sl + 1, '*'));
        if (!ext && !type) {
            host->cfg_error(e, k, "expected \".ext\" or \"type/subtype\" (or \"type/*\")");
            return -1;
        }
        if (host->cfg_int(e, k, 0, 10LL * 365 * 86400, &c->expires[i].seconds) < 0)
            return -1;
        c->expires[i].key = k;
    }
    c->n_expires = n;
    return 1;
}

static int parse_cors(const ws_settings *s, hd_cors *cors)
{
    const ws_settings *o;
    int r = host->cfg_object(s, "cors", &o);
    if (r <= 0)
        return r;
    cors->enabled = 1;
    cors->max_age = 600;
    const char *any = NULL;
    if (host->cfg_kind(o, "origins") == WS_CFG_STRING) {
        if (host->cfg_string(o, "origins", &any) < 0)
            return -1;
        if (strcmp(any, "*") != 0) {
            host->cfg_error(o, "origins", "expected \"*\" or a list of origins");
            return -1;
        }
        cors->any_origin = 1;
    } else if ((r = host->cfg_string_list(o, "origins", &cors->origins, &cors->n_origins)) <= 0) {
        if (r == 0)
            host->cfg_error(o, "origins", "required (\"*\" or a list such as [\"https://app.example\"])");
        return -1;
    }
    for (size_t i = 0; i < cors->n_origins; i++)
        if (!strstr(cors->origins[i], "://") || !value_ok(cors->origins[i]) || strchr(cors->origins[i], ' ')) {
            host->cfg_error(o, "origins", "\"%s\" is not an origin (scheme://host[:port])", cors->origins[i]);
            return -1;
        }
    const char *const *methods = NULL, *const *headers = NULL;
    size_t nm = 0, nh = 0;
    if (host->cfg_string_list(o, "methods", &methods, &nm) < 0 || host->cfg_string_list(o, "headers", &headers, &nh) < 0 ||
        host->cfg_bool(o, "credentials", &cors->credentials) < 0 ||
        host->cfg_int(o, "max_age", 0, 86400 * 7, &cors->max_age) < 0)
        return -1;
    if (cors->credentials && cors->any_origin) {
        /* Fetch: a credentialed response may not say "*"; echoing any Origin
         * would hand every site the user's cookies. */
        host->cfg_error(o, "credentials", "cannot be true with \"origins\": \"*\" (list the origins)");
        return -1;
    }
    cors->methods = methods ? join(o, "methods", methods, nm) : "GET, HEAD, POST";
    cors->headers = headers ? join(o, "headers", headers, nh) : NULL;
    return cors->methods && (!headers || cors->headers) ? 1 : -1;
}

static int hd_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    hd_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c || host->cfg_string_map(s, "set", &c->set, &c->n_set) < 0 ||
        host->cfg_string_map(s, "add", &c->add, &c->n_add) < 0 ||
        host->cfg_string_list(s, "remove", &c->remove, &c->n_remove) < 0 || host->cfg_bool(s, "always", &c->always) < 0)
        return -1;
    if (check_names(s, "set", c->set, c->n_set, 2) < 0 || check_names(s, "add", c->add, c->n_add, 2) < 0 ||
        check_names(s, "remove", c->remove, c->n_remove, 1) < 0 || parse_expires(s, c) < 0 || parse_cors(s, &c->cors) < 0)
        return -1;
    *out = c;
    return 0;
}

/* Access-Control-Allow-Origin (+ Credentials, Vary) for an allowed Origin. */
static int allow_origin(ws_request *r, const hd_cors *cors, const char *origin)
{
    if (cors->any_origin && !cors->credentials)
        return host->set_header(r, "Access-Control-Allow-Origin", "*");
    if (host->set_header(r, "Access-Control-Allow-Origin", origin) != WS_OK)
        return WS_ERROR;
    const char *vary = host->resp_header(r, "Vary");
    if (!vary)
        host->add_header(r, "Vary", "Origin");
    else if (!strcasestr(vary, "origin") && strcmp(vary, "*") != 0) {
        char *v = host->alloc(r, strlen(vary) + 9);
        if (v) {
            sprintf(v, "%s, Origin", vary);
            host->set_header(r, "Vary", v);
        }
    }
    if (cors->credentials)
        host->set_header(r, "Access-Control-Allow-Credentials", "true");
    return WS_OK;
}

/* A CORS preflight (Fetch "CORS-preflight request"): answered here with 204. */
static int hd_rewrite(ws_request *r)
{
    const hd_conf *c = r->conf;
    if (!c || !c->cors.enabled || strcmp(r->method, "OPTIONS") != 0)
        return WS_CONTINUE;
    const char *origin = host->header(r, "Origin"), *want = host->header(r, "Access-Control-Request-Method");
    if (!origin || !want || !hd_origin_allowed(&c->cors, origin))
        return WS_CONTINUE; /* a plain OPTIONS, or an origin we do not serve: the core answers */
    const char *hdrs = c->cors.headers ? c->cors.headers : host->header(r, "Access-Control-Request-Headers");
    char age[24];
    snprintf(age, sizeof age, "%lld", c->cors.max_age);
    if (allow_origin(r, &c->cors, origin) != WS_OK ||
        host->add_header(r, "Access-Control-Allow-Methods", c->cors.methods) != WS_OK ||
        (hdrs && hdrs[0] && value_ok(hdrs) && host->add_header(r, "Access-Control-Allow-Headers", hdrs) != WS_OK) ||
        host->add_header(r, "Access-Control-Max-Age", age) != WS_OK)
        return WS_ERROR;
    return 204;
}

static int hd_header_filter(ws_request *r)
{
    const hd_conf *c = r->conf;
    if (!c)
        return 0;
    int status = host->get_status(r);
    if (c->cors.enabled) {
        const char *origin = host->header(r, "Origin");
        if (hd_origin_allowed(&c->cors, origin) && !host->resp_header(r, "Access-Control-Allow-Origin") &&
            allow_origin(r, &c->cors, origin) != WS_OK)
            return WS_ERROR;
    }
    if (!c->always && (status < 200 || status >= 400))
        return 0;
    for (size_t i = 0; i < c->n_remove; i++)
        host->remove_header(r, c->remove[i]);
    for (size_t i = 0; i < c->n_set; i++)
        if (host->set_header(r, c->set[2 * i], c->set[2 * i + 1]) != WS_OK)
            return WS_ERROR;
    for (size_t i = 0; i < c->n_add; i++)
        if (host->add_header(r, c->add[2 * i], c->add[2 * i + 1]) != WS_OK)
            return WS_ERROR;
    /* Without expiry rules, no Content-Type lookup for nothing. */
    const hd_expiry *e = c->n_expires ? hd_expiry_for(c, r->path, host->resp_header(r, "Content-Type")) : NULL;
    if (e) {
        char cc[40], date[32];
        snprintf(cc, sizeof cc, "max-age=%lld", e->seconds);
        hd_http_date((long long)time(NULL) + e->seconds, date);
        if (host->set_header(r, "Cache-Control", cc) != WS_OK || host->set_header(r, "Expires", date) != WS_OK)
            return WS_ERROR;
    }
    return 0;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "headers",
    .init = hd_init,
    .configure = hd_configure,
    .rewrite = hd_rewrite,
    .header_filter = hd_header_filter,
};

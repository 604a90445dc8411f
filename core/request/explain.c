/*
 * `webserv -t` prints the routing table; `webserv -t --explain METHOD URL
 * [HOST]` follows one request through the same steps as request.c (router,
 * method checks, `return`, directories and index files, then each enabled
 * module's match() in dispatch order) and says who would answer and why.
 * Nothing is served: a module that takes the request gets its cleanup() at
 * once, without handle().
 */
#include "explain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "arena.h"
#include "request.h"
#include "http_parse.h"
#include "modules.h"
#include "route.h"
#include "router.h"

/* ---- the routing table ---- */

static void print_module_methods(FILE *out, const loaded_module *m)
{
    fputs(" (", out);
    const char *const *p = m->d.methods;
    for (size_t i = 0; p && p[i]; i++)
        fprintf(out, "%s%s", i ? " " : "", p[i]);
    fputc(')', out);
}

static void print_handlers(FILE *out, const location_conf *l)
{
    fputs("      modules:", out);
    if (!l->n_handlers)
        fputs(" none", out);
    for (size_t i = 0; i < l->n_handlers; i++) {
        fprintf(out, "%s %zu. %s", i ? "," : "", i + 1, l->handlers[i].mod->name);
        print_module_methods(out, l->handlers[i].mod);
    }
    fputc('\n', out);
}

static void print_location(FILE *out, const location_conf *l)
{
    fprintf(out, "    location %s  [%s]\n", l->path, l->json_path);
    fprintf(out, "      methods: %s\n", l->any_method ? "any" : l->allow);
    if (l->return_status) {
        fprintf(out, "      return: %d", l->return_status);
        if (l->return_location)
            fprintf(out, " %s", l->return_location);
        else if (l->return_body)
            fputs(" (with a body)", out);
        fputc('\n', out);
    }
    fprintf(out, "      root: %s\n", l->root ? l->root : "(none)");
    print_handlers(out, l);
}

static void print_server(FILE *out, const server_conf *s, int is_default)
{
    fprintf(out, "  server %s  names:", s->json_path);
    if (!s->n_names)
        fputs(" (none)", out);
    for (size_t i = 0; i < s->n_names; i++)
        fprintf(out, "%s %s", i ? "," : "", s->names[i]);
    fprintf(out, "%s\n", is_default ? "  (default for this address)" : "");
    for (size_t i = 0; i < s->n_locations; i++)
        print_location(out, &s->locations[i]);
}

void explain_routes(FILE *out, const ws_config *c)
{
    fputs("routing table (locations longest prefix first; modules in dispatch order):\n", out);
    for (size_t b = 0; b < c->n_binds; b++) {
        const bind_conf *bc = &c->binds[b];
        for (size_t g = 0; g < bc->n_groups; g++) {
            const vhost_group *vg = &bc->groups[g];
            fprintf(out, "listen %s", vg->addr.text);
            if (g > 0)
                fprintf(out, "  (accepted on the socket of %s)", bc->addr.text);
            fputc('\n', out);
            for (size_t i = 0; i < vg->n_servers; i++)
                print_server(out, vg->servers[i], i == 0);
        }
    }
}

/* ---- one request ---- */

typedef struct target {
    const char *authority; /* from an absolute URL, or NULL */
    size_t authority_len;
    const char *path;      /* raw, up to '?' */
    size_t path_len;
    const char *query;     /* after '?', or "" */
} target;

static int parse_url(arena *a, const char *url, target *t)
{
    memset(t, 0, sizeof *t);
    const char *p = url;
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        const char *auth = strstr(url, "//") + 2;
        size_t n = strcspn(auth, "/?#");
        t->authority = auth;
        t->authority_len = n;
        p = auth + n;
    } else if (url[0] != '/') {
        return -1;
    }
    size_t n = strcspn(p, "?#");
    t->path = n ? p : "/";
    t->path_len = n ? n : 1;
    if (p[n] == '?') {
        size_t q = strcspn(p + n + 1, "#");
        char *query = arena_alloc(a, q + 1);
        if (!query)
            return -1;
        memcpy(query, p + n + 1, q);
        query[q] = '\0';
        t->query = query;
    } else {
        t->query = "";
    }
    return 0;
}

/* Split a Host value into the name (no brackets, no trailing dot) and port (0 if none). */
static void split_host(arena *a, const char *host, size_t len, char **name, int *port)
{
    const char *n = host, *rest;
    size_t nlen;
    if (len > 0 && host[0] == '[') {
        const char *end = memchr(host, ']', len);
        n = host + 1;
        nlen = end ? (size_t)(end - n) : len - 1;
        rest = end ? end + 1 : host + len;
    } else {
        const char *colon = memchr(host, ':', len);
        nlen = colon ? (size_t)(colon - host) : len;
        rest = host + nlen;
    }
    *port = 0;
    if (rest < host + len && *rest == ':') {
        long v = 0;
        for (const char *d = rest + 1; d < host + len && *d >= '0' && *d <= '9' && v < 65536; d++)
            v = v * 10 + (*d - '0');
        *port = v > 0 && v < 65536 ? (int)v : 0;
    }
    if (nlen > 0 && n[nlen - 1] == '.')
        nlen--;
    char *out = arena_alloc(a, nlen + 1);
    if (out) {
        for (size_t i = 0; i < nlen; i++)
            out[i] = (char)((n[i] >= 'A' && n[i] <= 'Z') ? n[i] + 32 : n[i]);
        out[nlen] = '\0';
    }
    *name = out;
}

/* name as an IP address with `port`, for the router's local-address check. */
static int ip_literal(const char *name, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, name, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 1;
    }
    if (inet_pton(AF_INET6, name, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 1;
    }
    return 0;
}

static int same_ip(const listen_addr *a, const struct sockaddr_storage *ss)
{
    if (a->family != ss->ss_family)
        return 0;
    if (a->family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)&a->ss)->sin_addr, &((const struct sockaddr_in *)ss)->sin_addr,
                      4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr, &((const struct sockaddr_in6 *)ss)->sin6_addr,
                  16) == 0;
}

/* The socket the request would come in on: the port (and IP) of the Host if
 * given, else the first listen address. */
static const bind_conf *pick_bind(const ws_config *c, int port, const struct sockaddr_storage *ip)
{
    const bind_conf *best = NULL;
    int best_score = -1;
    for (size_t i = 0; i < c->n_binds; i++) {
        const bind_conf *b = &c->binds[i];
        if (port && b->addr.port != port)
            continue;
        int score = 0;
        if (ip) {
            if (same_ip(&b->addr, ip))
                score = 3;
            for (size_t g = 1; g < b->n_groups && score < 2; g++)
                if (same_ip(&b->groups[g].addr, ip))
                    score = 2;
            if (score == 0 && b->addr.wildcard && b->addr.family == ip->ss_family)
                score = 1;
        }
        if (score > best_score) {
            best = b;
            best_score = score;
        }
    }
    return best;
}

static int server_named(const server_conf *s, const char *name)
{
    for (size_t i = 0; name && name[0] && i < s->n_names; i++)
        if (strcasecmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

typedef struct explain_step {
    FILE *out;
    const char *method;
    size_t n;
} explain_step;

static const char *fs_type_text(int t)
{
    switch (t) {
    case WS_FS_NONE: return "no root in this location: no file system lookup";
    case WS_FS_MISSING: return "nothing there";
    case WS_FS_FILE: return "a regular file";
    case WS_FS_DIR: return "a folder without an index file";
    default: return "not a regular file or folder (or stat() was refused)";
    }
}

/* The core's directory rules (SPEC §3), told as they apply. Returns 1 when the core answers (301). */
static int explain_fs(FILE *out, request *rq)
{
    ws_request *p = &rq->pub;
    const char *asked = p->path;
    if (route_map_path(rq->pool, rq->loc, p)) {
        fprintf(out, "file:     %s: a folder, asked for without the trailing slash\n", p->fs_path);
        fprintf(out, "answer:   301 by the core, Location: %s/%s%s\n", p->path, p->query[0] ? "?" : "", p->query);
        return 1;
    }
    if (p->fs_type == WS_FS_NONE && rq->loc->root && !rq->loc->serves_files) {
        fprintf(out, "file:     no module of this location serves files: no file system lookup\n");
        return 0;
    }
    if (p->fs_type == WS_FS_NONE) {
        fprintf(out, "file:     %s\n", fs_type_text(WS_FS_NONE));
        return 0;
    }
    if (p->path != asked)
        fprintf(out, "index:    %s is the folder's index file; dispatched as %s\n", p->fs_path, p->path);
    fprintf(out, "file:     %s: %s\n", p->fs_path, fs_type_text(p->fs_type));
    return 0;
}

static void tell_outcome(void *arg, const loaded_module *m, route_ask outcome)
{
    explain_step *st = arg;
    FILE *out = st->out;
    fprintf(out, "  %zu. %s: ", ++st->n, m->name);
    switch (outcome) {
    case ASK_NOT_DECLARED: fprintf(out, "not asked: it does not handle %s\n", st->method); break;
    case ASK_NO_HANDLER: fputs("not asked: it has no match() or handle()\n", out); break;
    case ASK_DECLINED: fputs("match() declines\n", out); break;
    case ASK_TAKEN: fputs("match() takes the request\n", out); break;
    }
}

/* Ask the enabled modules in order, exactly as a request is dispatched. */
static void explain_dispatch(FILE *out, request *rq)
{
    ws_request *p = &rq->pub;
    const location_conf *l = rq->loc;
    fputs("modules:  asked in dispatch order (the config's \"modules\" order)\n", out);
    explain_step st = {out, p->method, 0};
    p->ctx = NULL;
    int i = route_pick_module(l, p, tell_outcome, &st);
    if (i >= 0) {
        loaded_module *m = l->handlers[i].mod;
        /* It took the request: it is owed exactly one cleanup, and no handle(). */
        rq->owner = m;
        if (m->d.cleanup) {
            m->d.cleanup(p, WS_END_ABORTED);
            rq->cleaned = 1;
        }
        fprintf(out, "answer:   module %s (its handle() decides the status)\n", m->name);
        return;
    }
    int status = route_nobody_status(p);
    fprintf(out, "answer:   %d by the core: %s\n", status,
            !l->n_handlers ? "no module is enabled here"
                           : status == 403 ? "the path exists but no module takes it" : "no module takes it");
}

/* Location, method checks, `return`, file system, modules (request.c's req_route). */
static void explain_route(FILE *out, const ws_config *c, request *rq)
{
    ws_request *p = &rq->pub;
    const location_conf *l = router_location(rq->server, p->path, strlen(p->path));
    if (!l) {
        fprintf(out, "location: none is a prefix of %s\nanswer:   404 by the core\n", p->path);
        return;
    }
    rq->loc = l;
    p->location = l->path;
    p->root = l->root;
    fprintf(out, "location: %s [%s]: the longest location prefix of %s\n", l->path, l->json_path, p->path);
    switch (route_check_method(c, l, p->method)) {
    case ROUTE_OPTIONS:
        fprintf(out, "answer:   204 by the core, Allow: %s\n", l->allow);
        return;
    case ROUTE_NOT_ALLOWED:
        fprintf(out, "method:   %s is not allowed here\nanswer:   405 by the core, Allow: %s\n", p->method, l->allow);
        return;
    case ROUTE_UNKNOWN:
        fprintf(out, "method:   no loaded module handles %s\nanswer:   501 by the core\n", p->method);
        return;
    case ROUTE_METHOD_OK:
        break;
    }
    fprintf(out, "method:   %s is allowed here (%s)\n", p->method, l->any_method ? "any method" : l->allow);
    if (l->return_status) {
        fprintf(out, "answer:   %d by the core (\"return\")", l->return_status);
        if (l->return_location)
            fprintf(out, ", Location: %s", l->return_location);
        fputc('\n', out);
        return;
    }
    if (explain_fs(out, rq))
        return;
    explain_dispatch(out, rq);
}

/* Listen address and server for the Host. */
static const server_conf *explain_server(FILE *out, const ws_config *c, request *rq, const char *host_value)
{
    ws_request *p = &rq->pub;
    char *name = NULL;
    int port = 0;
    split_host(rq->pool, host_value, strlen(host_value), &name, &port);
    struct sockaddr_storage ip;
    int is_ip = name && name[0] && ip_literal(name, port, &ip);
    const bind_conf *b = pick_bind(c, port, is_ip ? &ip : NULL);
    if (!b) {
        fprintf(out, "listen:   nothing listens on port %d\nanswer:   none (the connection is refused)\n", port);
        return NULL;
    }
    fprintf(out, "listen:   %s: %s\n", b->addr.text,
            port ? (is_ip ? "the listen address for the Host's address and port" : "the listen address on the Host's port")
                 : "the first listen address (put :PORT in HOST or the URL to pick another)");
    if (is_ip && b->addr.port != port) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ip;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ip;
        if (ip.ss_family == AF_INET)
            v4->sin_port = htons((uint16_t)b->addr.port);
        else
            v6->sin6_port = htons((uint16_t)b->addr.port);
    }
    const server_conf *s = router_server(b, is_ip ? (const struct sockaddr *)&ip : NULL, host_value, strlen(host_value));
    if (server_named(s, name))
        fprintf(out, "server:   %s: \"%s\" is one of its server_names\n", s->json_path, name);
    else if (name && name[0])
        fprintf(out, "server:   %s: no server on this address is named \"%s\", so its first server answers\n",
                s->json_path, name);
    else
        fprintf(out, "server:   %s: no Host given, so the address's first server answers\n", s->json_path);

    /* The request as the core builds it (request.c). */
    p->host = name && name[0] ? name : s->n_names ? s->names[0] : b->addr.text;
    p->local_addr = b->addr.text;
    p->local_port = (unsigned)b->addr.port;
    return s;
}

int explain_request(FILE *out, const ws_config *c, const char *method, const char *url, const char *host)
{
    if (!method[0] || !http_is_token(method, strlen(method))) {
        fprintf(stderr, "webserv: --explain: \"%s\" is not a request method\n", method);
        return 2;
    }
    arena *pool = arena_new(4096);
    request *rq = calloc(1, sizeof *rq);
    target t;
    if (!pool || !rq || parse_url(pool, url, &t) < 0) {
        if (pool && rq)
            fprintf(stderr, "webserv: --explain: \"%s\" is not a path (/...) or an http:// URL\n", url);
        free(rq);
        arena_free(pool);
        return 2;
    }
    rq->pool = pool;
    rq->length = -1;
    ws_request *p = &rq->pub;
    const char *host_value = host ? host : t.authority ? arena_printf(pool, "%.*s", (int)t.authority_len, t.authority) : "";
    ws_header *hdr = arena_alloc(pool, sizeof *hdr);
    p->size = sizeof *p;
    p->method = method;
    p->target = url;
    p->query = t.query;
    p->http_minor = 1;
    if (hdr && host_value && host_value[0]) {
        hdr->name = "Host";
        hdr->value = host_value;
        p->headers = hdr;
        p->n_headers = 1;
    }
    p->remote_addr = "127.0.0.1";
    p->remote_port = 40000;

    fprintf(out, "request:  %s %s%s%s%s\n", method, url, host_value && host_value[0] ? " (Host: " : "",
            host_value ? host_value : "", host_value && host_value[0] ? ")" : "");
    rq->server = host_value ? explain_server(out, c, rq, host_value) : NULL;
    if (rq->server) {
        char *path = arena_alloc(pool, t.path_len + 2);
        long n = path ? http_normalize_path(t.path, t.path_len, path, t.path_len + 2) : -1;
        if (n < 0) {
            fputs("path:     cannot be decoded or leaves the root\nanswer:   400 by the core\n", out);
        } else {
            p->path = p->request_path = path;
            if (t.path_len != (size_t)n || memcmp(t.path, path, (size_t)n) != 0)
                fprintf(out, "path:     %s (decoded and normalised)\n", path);
            explain_route(out, c, rq);
        }
    }
    free(rq);
    arena_free(pool);
    return 0;
}

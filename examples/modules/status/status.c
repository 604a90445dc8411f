/*
 * mod_status: a server status page, in the spirit of a "stub status". Every
 * GET/HEAD in the locations that enable it gets the server's counters:
 * connections (active, reading, writing, idle, accepted), requests served,
 * requests per module, and uptime.
 *
 * Text by default; JSON with "format": "json" in its settings, or per request
 * with ?format=json or Accept: application/json.
 *
 *     { "path": "/status", "status": {} }
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <webserv/module.h>

static const ws_host *host;

typedef struct status_conf {
    int json; /* the default format */
} status_conf;

/* A growing text buffer in request memory. */
typedef struct buf {
    ws_request *r;
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->failed ? -1 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        /* Too small: a bigger block (the old one is freed with the request). */
        size_t cap = 2 * b->cap + (size_t)n;
        char *p = host->alloc(b->r, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
}

static int status_init(const ws_host *h)
{
    /* host->stats exists since ABI 1.0; checking the size is how a module
     * asks for a host function added in a later minor version. */
    if (h->size < offsetof(ws_host, stats) + sizeof h->stats)
        return -1;
    host = h;
    return 0;
}

static int status_configure(const ws_settings *s, const ws_location_info *loc, const void **conf)
{
    (void)loc;
    status_conf *c = host->cfg_alloc(s, sizeof *c);
    const char *format = "text";
    if (!c || host->cfg_string(s, "format", &format) < 0)
        return -1;
    if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        host->cfg_error(s, "format", "expected \"text\" or \"json\", not \"%s\"", format);
        return -1;
    }
    c->json = strcmp(format, "json") == 0;
    *conf = c;
    return 0;
}

static int status_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static int wants_json(const ws_request *r)
{
    const status_conf *c = r->conf;
    const char *accept = host->header(r, "Accept");
    if (strstr(r->query, "format=json"))
        return 1;
    if (strstr(r->query, "format=text"))
        return 0;
    if (accept && strstr(accept, "application/json"))
        return 1;
    return c->json;
}

static void render_text(buf *b, const ws_stats *st)
{
    put(b, "Active connections: %" PRIu64 "\n", st->connections_active);
    put(b, "Reading: %" PRIu64 " Writing: %" PRIu64 " Idle: %" PRIu64 "\n", st->connections_reading,
        st->connections_writing, st->connections_idle);
    put(b, "Accepted connections: %" PRIu64 "\n", st->connections_accepted);
    put(b, "Requests: %" PRIu64 "\n", st->requests_total);
    put(b, "Uptime: %.3f s\n", st->uptime_seconds);
    put(b, "Module requests:\n");
    for (size_t i = 0; i < st->n_modules; i++)
        put(b, "  %s %" PRIu64 "\n", st->module_names[i], st->module_requests[i]);
}

/* Module names are plain tokens (letters, digits, '-', '_'): the core refuses
 * anything else, so they need no JSON escaping. */
static void render_json(buf *b, const ws_stats *st)
{
    put(b, "{\"connections\":{\"active\":%" PRIu64 ",\"reading\":%" PRIu64 ",\"writing\":%" PRIu64
           ",\"idle\":%" PRIu64 ",\"accepted\":%" PRIu64 "},",
        st->connections_active, st->connections_reading, st->connections_writing, st->connections_idle,
        st->connections_accepted);
    put(b, "\"requests\":%" PRIu64 ",\"uptime_seconds\":%.3f,\"modules\":{", st->requests_total,
        st->uptime_seconds);
    for (size_t i = 0; i < st->n_modules; i++)
        put(b, "%s\"%s\":%" PRIu64, i ? "," : "", st->module_names[i], st->module_requests[i]);
    put(b, "}}\n");
}

static int status_handle(ws_request *r)
{
    ws_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    host->stats(&st);

    buf b = {.r = r, .cap = 512};
    b.p = host->alloc(r, b.cap);
    if (!b.p)
        return 500;
    int json = wants_json(r);
    if (json)
        render_json(&b, &st);
    else
        render_text(&b, &st);
    if (b.failed)
        return 500;

    host->set_status(r, 200);
    host->add_header(r, "Content-Type", json ? "application/json" : "text/plain; charset=utf-8");
    host->add_header(r, "Cache-Control", "no-store");
    host->set_length(r, (int64_t)b.len);
    host->write(r, b.p, b.len);
    host->finish(r);
    return 0;
}

static const char *const status_methods[] = {"GET", "HEAD", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "status",
    .methods = status_methods,
    .init = status_init,
    .configure = status_configure,
    .match = status_match,
    .handle = status_handle,
};

/*
 * mod_hello: the smallest useful webserv module. It answers every GET (and
 * HEAD) in the locations that enable it with one line of text:
 *
 *     "hello": { "greeting": "Hi" }   ->   GET /x  ->  200 "Hi from /x\n"
 *
 * Build:  cc -shared -fPIC $(pkg-config --cflags webserv) hello.c -o mod_hello.so
 */
#include <stdio.h>
#include <string.h>

#include <webserv/module.h>

static const ws_host *host; /* the server's functions, handed to init() */

typedef struct hello_conf {
    const char *greeting;
} hello_conf;

static int hello_init(const ws_host *h)
{
    host = h;
    return 0;
}

/* Once per location that says "hello": {...}: check the settings, keep them. */
static int hello_configure(const ws_settings *s, const ws_location_info *loc, const void **conf)
{
    (void)loc;
    hello_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    c->greeting = "Hello";
    if (host->cfg_string(s, "greeting", &c->greeting) < 0)
        return -1; /* the host already reported the bad value and its JSON path */
    if (!c->greeting[0]) {
        host->cfg_error(s, "greeting", "must not be empty");
        return -1;
    }
    *conf = c;
    return 0;
}

/* Take every request of the location (only GET and HEAD reach us: see methods). */
static int hello_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static int hello_handle(ws_request *r)
{
    const hello_conf *c = r->conf;
    size_t cap = strlen(c->greeting) + strlen(r->path) + 16;
    char *body = host->alloc(r, cap); /* request memory: freed when the request ends */
    if (!body)
        return 500;
    int n = snprintf(body, cap, "%s from %s\n", c->greeting, r->path);
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", "text/plain; charset=utf-8");
    host->set_length(r, n);
    host->write(r, body, (size_t)n);
    host->finish(r);
    return 0;
}

static const char *const hello_methods[] = {"GET", "HEAD", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "hello",
    .methods = hello_methods,
    .init = hello_init,
    .configure = hello_configure,
    .match = hello_match,
    .handle = hello_handle,
};

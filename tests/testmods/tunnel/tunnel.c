/*
 * Test module for the connection upgrade (ABI 1.3, host->upgrade): a GET
 * asking for "Upgrade: x-echo" gets 101, then every byte the client sends
 * comes back, with backpressure: when write says WS_AGAIN the module stops
 * taking bytes (on_data returns what it took) until on_writable, then
 * body_resume. "quit\n" at the start of a piece ends it with "bye\n"; the
 * client closing its side (on_data_end) ends it with "end\n". When the
 * upgrade is refused (HTTP/1.0, HTTP/2, no Connection: upgrade, a body …)
 * the module answers 400 "refused\n".
 */
#include <string.h>

#include "webserv/module.h"

static const ws_host *host;

typedef struct tun {
    int paused; /* on_data stopped taking bytes: resume on on_writable */
} tun;

static int tun_init(const ws_host *h)
{
    host = h;
    return h->abi_minor >= 3 && h->upgrade ? 0 : -1;
}

static int tun_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void say(ws_request *r, int status, const char *text)
{
    host->set_status(r, status);
    host->add_header(r, "Content-Type", "text/plain");
    host->set_length(r, (int64_t)strlen(text));
    host->write(r, text, strlen(text));
    host->finish(r);
}

static int tun_handle(ws_request *r)
{
    r->ctx = host->alloc(r, sizeof(tun));
    if (!r->ctx)
        return 500;
    host->add_header(r, "X-Tunnel", "yes"); /* module fields go out with the 101 */
    if (host->upgrade(r, "x-echo") != WS_OK) {
        say(r, 400, "refused\n");
        return 0;
    }
    /* a second upgrade, or a status, is refused now */
    if (host->upgrade(r, "x-echo") == WS_OK || host->set_status(r, 200) == WS_OK)
        host->log(WS_LOG_ERROR, r, "tunnel: the head should be closed after upgrade");
    return 0;
}

static size_t tun_on_data(ws_request *r, const char *data, size_t len)
{
    tun *t = r->ctx;
    if (t->paused)
        return 0; /* the client does not read: stop reading it (the core pauses its input) */
    if (len >= 5 && memcmp(data, "quit\n", 5) == 0) {
        host->write(r, "bye\n", 4);
        host->finish(r);
        return len;
    }
    int rc = host->write(r, data, len);
    if (rc == WS_ERROR)
        return len;
    if (rc == WS_AGAIN)
        t->paused = 1; /* this piece is queued; take nothing more until the client reads */
    return len;
}

static void tun_on_writable(ws_request *r)
{
    tun *t = r->ctx;
    if (t && t->paused) {
        t->paused = 0;
        host->body_resume(r);
    }
}

static void tun_on_data_end(ws_request *r)
{
    host->write(r, "end\n", 4);
    host->finish(r);
}

static const char *const tun_methods[] = {"GET", "POST", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "tunnel",
    .methods = tun_methods,
    .init = tun_init,
    .match = tun_match,
    .handle = tun_handle,
    .on_data = tun_on_data,
    .on_data_end = tun_on_data_end,
    .on_writable = tun_on_writable,
};

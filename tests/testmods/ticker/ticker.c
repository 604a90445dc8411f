/*
 * Test module: GET streams "tick N\n" lines, one per 20 ms timer, with no
 * length (chunked for HTTP/1.1, close-delimited for 1.0). ?n=COUNT sets how
 * many (default 5). Logs its cleanup, so tests can see it runs exactly once
 * also when the client goes away mid-stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webserv/module.h"

static const ws_host *host;

typedef struct tick_state {
    int left, n;
} tick_state;

static int tick_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int tick_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void tick(ws_request *r, void *arg)
{
    tick_state *st = arg;
    char line[32];
    int k = snprintf(line, sizeof line, "tick %d\n", ++st->n);
    host->write(r, line, (size_t)k);
    if (--st->left <= 0) {
        host->finish(r);
        return;
    }
    host->timer_start(r, 20, tick, st);
}

static int tick_handle(ws_request *r)
{
    tick_state *st = host->alloc(r, sizeof *st);
    st->left = 5;
    const char *q = strstr(r->query, "n=");
    if (q)
        st->left = atoi(q + 2);
    if (st->left < 1 || st->left > 100000)
        return 400;
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", "text/plain");
    host->timer_start(r, 20, tick, st);
    return 0;
}

static void tick_cleanup(ws_request *r, int how)
{
    host->log(WS_LOG_INFO, r, "cleanup how=%d", how);
}

static const char *const methods[] = {"GET", "HEAD", NULL};

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "ticker",
    .methods = methods,
    .init = tick_init,
    .match = tick_match,
    .handle = tick_handle,
    .cleanup = tick_cleanup,
};

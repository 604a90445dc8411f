/* Test module: answers GET after a timer ("ms" setting, default 100). Logs its cleanup. */
#include <stdio.h>
#include <string.h>

#include "webserv/module.h"

static const ws_host *host;

typedef struct delay_conf {
    long long ms;
} delay_conf;

static int delay_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int delay_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    delay_conf *c = host->cfg_alloc(s, sizeof *c);
    c->ms = 100;
    if (host->cfg_int(s, "ms", 0, 60000, &c->ms) < 0)
        return -1;
    *out = c;
    return 0;
}

static int delay_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void fire(ws_request *r, void *arg)
{
    (void)arg;
    char body[128];
    int n = snprintf(body, sizeof body, "delayed %s\n", r->path);
    if (n < 0 || (size_t)n >= sizeof body)
        n = (int)sizeof body - 1; /* a long path is cut (fuzz_server found the overflow) */
    host->set_status(r, 200);
    host->add_header(r, "Content-Type", "text/plain");
    host->set_length(r, n);
    host->write(r, body, (size_t)n);
    host->finish(r);
}

static int delay_handle(ws_request *r)
{
    const delay_conf *c = r->conf;
    return host->timer_start(r, (uint64_t)c->ms, fire, NULL) ? 0 : 500;
}

static void delay_cleanup(ws_request *r, int how)
{
    host->log(WS_LOG_INFO, r, "cleanup how=%d", how);
}

static const char *const methods[] = {"GET", "HEAD", NULL};

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "delay",
    .methods = methods,
    .init = delay_init,
    .configure = delay_configure,
    .match = delay_match,
    .handle = delay_handle,
    .cleanup = delay_cleanup,
};

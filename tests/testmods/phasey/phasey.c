/*
 * mod_phasey: a test module for the ABI 1.2 phases, driven by the query:
 *   rewrite: ?junk → returns 12345 (a module failure: 500 + log line),
 *            ?loop → rewrite_uri to the same path (the core stops at 10),
 *            ?to=/x → rewrite_uri("/x"), ?teapot → 418 with a header.
 *   access:  ?deny → 429 + Retry-After, ?defer → WS_DEFER answered 50 ms later
 *            by a timer (allow), ?deferdeny → the same with 403,
 *            ?offload → WS_DEFER answered from an offloaded work (allow),
 *            ?forget → WS_DEFER never answered (the client gives up).
 *   header filter: adds "X-Phasey: <status>" to every response; ?filterfail → WS_ERROR.
 *   log: one info line "phasey log status=N bytes=M".
 */
#include <string.h>
#include <unistd.h>

#include "webserv/module.h"

static const ws_host *host;

static int ph_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int has(const ws_request *r, const char *word)
{
    return strstr(r->query, word) != NULL;
}

static int ph_rewrite(ws_request *r)
{
    if (has(r, "junk"))
        return 12345;
    if (has(r, "loop")) {
        size_t n = strlen(r->path);
        char *uri = host->alloc(r, n + 6);
        if (!uri)
            return WS_ERROR;
        memcpy(uri, r->path, n);
        memcpy(uri + n, "?loop", 6);
        return host->rewrite_uri(r, uri) == WS_OK ? WS_CONTINUE : WS_ERROR;
    }
    const char *to = strstr(r->query, "to=");
    if (to && strcmp(r->path, to + 3) != 0)
        return host->rewrite_uri(r, to + 3) == WS_OK ? WS_CONTINUE : WS_ERROR;
    if (has(r, "teapot")) {
        host->add_header(r, "X-Teapot", "short and stout");
        return 418;
    }
    return WS_CONTINUE;
}

static void answer_later(ws_request *r, void *arg)
{
    host->phase_done(r, arg ? 403 : WS_CONTINUE);
}

static void slow_work(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
}

static void work_done(ws_request *r, void *arg)
{
    (void)arg;
    host->phase_done(r, WS_CONTINUE);
}

static int ph_access(ws_request *r)
{
    if (has(r, "deny")) {
        if (has(r, "deferdeny")) {
            host->timer_start(r, 50, answer_later, (void *)1);
            return WS_DEFER;
        }
        host->add_header(r, "Retry-After", "7");
        return 429;
    }
    if (has(r, "defer")) {
        host->timer_start(r, 50, answer_later, NULL);
        return WS_DEFER;
    }
    if (has(r, "offload"))
        return host->offload(r, slow_work, work_done, NULL) == WS_OK ? WS_DEFER : WS_ERROR;
    if (has(r, "forget"))
        return WS_DEFER;
    return WS_CONTINUE;
}

static int ph_header_filter(ws_request *r)
{
    if (has(r, "filterfail"))
        return WS_ERROR;
    char v[16];
    int st = host->get_status(r);
    v[0] = (char)('0' + st / 100);
    v[1] = (char)('0' + st / 10 % 10);
    v[2] = (char)('0' + st % 10);
    v[3] = '\0';
    host->set_header(r, "X-Phasey", v);
    return 0;
}

static void ph_log(ws_request *r, const ws_log_info *info)
{
    host->log(WS_LOG_WARN, r, "phasey log status=%d bytes=%llu", info->status,
              (unsigned long long)info->body_bytes_sent);
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "phasey",
    .init = ph_init,
    .rewrite = ph_rewrite,
    .access = ph_access,
    .header_filter = ph_header_filter,
    .log_request = ph_log,
};

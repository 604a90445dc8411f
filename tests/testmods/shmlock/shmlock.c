/*
 * Test module: holds a shared-memory zone's lock on request, so a test can
 * SIGKILL the worker holding it and check that the others are not wedged.
 *   GET <loc>/hold   take the lock and never give it back; body: our pid
 *   GET <loc>/check  take and release it; body: "ok <n> <pid>", n = 2 when the
 *                    previous holder had died with it (WS_SHM_OWNER_DIED)
 *   GET <loc>/pid    body: our pid
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "webserv/module.h"

static const ws_host *host;

static int sl_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int sl_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    ws_shm **z = host->cfg_alloc(s, sizeof *z);
    *z = host->shm_zone(s, "locktest", 4096);
    if (!*z)
        return -1;
    *out = z;
    return 0;
}

static int sl_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void answer(ws_request *r, const char *text)
{
    host->set_status(r, 200);
    host->set_length(r, (int64_t)strlen(text));
    host->write(r, text, strlen(text));
    host->finish(r);
}

static int sl_handle(ws_request *r)
{
    ws_shm *z = *(ws_shm *const *)r->conf;
    char buf[64];
    const char *leaf = strrchr(r->path, '/');
    if (leaf && strcmp(leaf, "/hold") == 0) {
        if (host->shm_lock(z) == WS_ERROR)
            return 409;
        snprintf(buf, sizeof buf, "%d", (int)getpid());
    } else if (leaf && strcmp(leaf, "/check") == 0) {
        int rc = host->shm_lock(z);
        if (rc == WS_ERROR)
            return 409; /* this worker is the holder */
        host->shm_unlock(z);
        snprintf(buf, sizeof buf, "ok %d %d", rc, (int)getpid());
    } else {
        snprintf(buf, sizeof buf, "%d", (int)getpid());
    }
    answer(r, buf);
    return 0;
}

static const char *const sl_methods[] = {"GET", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "shmlock",
    .methods = sl_methods,
    .init = sl_init,
    .configure = sl_configure,
    .match = sl_match,
    .handle = sl_handle,
    .flags = WS_MODULE_NO_FILES,
};

/*
 * Test module for write_ref (ABI 1.2): GET <loc>/big?<n> sends n bytes of a
 * static pattern without copying, 64 KiB per write_ref, going on in
 * on_writable after WS_AGAIN. GET <loc>/count answers "refs=<a> released=<b>":
 * every queued piece must be released exactly once, whether it was sent or the
 * client went away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webserv/module.h"

#define PIECE 65536

static const ws_host *host;
static char pattern[PIECE];
static unsigned long long refs, released;

typedef struct big {
    long long left;
} big;

static int rw_init(const ws_host *h)
{
    host = h;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (char)('a' + i % 26);
    return 0;
}

static int rw_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void on_release(void *arg)
{
    (void)arg;
    released++;
}

static void pump(ws_request *r)
{
    big *b = r->ctx;
    while (b->left > 0) {
        size_t n = b->left < PIECE ? (size_t)b->left : PIECE;
        b->left -= (long long)n;
        refs++;
        int rc = host->write_ref(r, pattern, n, on_release, NULL);
        if (rc == WS_ERROR) {
            host->error(r, 500);
            return;
        }
        if (rc == WS_AGAIN)
            return; /* on_writable comes back */
    }
    host->finish(r);
}

static int rw_handle(ws_request *r)
{
    const char *leaf = strrchr(r->path, '/');
    if (leaf && strcmp(leaf, "/count") == 0) {
        char buf[96];
        int n = snprintf(buf, sizeof buf, "refs=%llu released=%llu", refs, released);
        host->set_status(r, 200);
        host->set_length(r, n);
        host->write(r, buf, (size_t)n);
        host->finish(r);
        return 0;
    }
    big *b = host->alloc(r, sizeof *b);
    b->left = atoll(r->query);
    r->ctx = b;
    host->set_status(r, 200);
    host->set_length(r, b->left);
    pump(r);
    return 0;
}

static const char *const rw_methods[] = {"GET", "HEAD", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "refwrite",
    .methods = rw_methods,
    .init = rw_init,
    .match = rw_match,
    .handle = rw_handle,
    .on_writable = pump,
    .flags = WS_MODULE_NO_FILES,
};

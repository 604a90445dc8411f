/*
 * Test module for edge cases of the module API, each selected by the query:
 *   ?over      promises 5 bytes and writes 10 (the core must send exactly 5)
 *   ?child     from a timer, starts a child that exits at once, then watches it
 *              (the exit is seen before the watch exists)
 *   ?redirect  internal redirect to /static.txt from handle()
 *   ?bodyend   reads the body, redirects to /static.txt from on_body_end()
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "webserv/module.h"

static const ws_host *host;

static int edges_init(const ws_host *h)
{
    host = h;
    return 0;
}

static int edges_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

static void child_done(ws_request *r, pid_t pid, int status, void *arg)
{
    (void)pid;
    (void)arg;
    host->set_status(r, 200);
    host->set_length(r, 2);
    host->write(r, WIFEXITED(status) && WEXITSTATUS(status) == 7 ? "ok" : "no", 2);
    host->finish(r);
}

static void start_child(ws_request *r, void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    /* Let it exit (and SIGCHLD arrive) before the watch: only for this test. */
    usleep(50000);
    host->watch_child(r, pid, child_done, NULL);
    /* The request must still be alive here: the core never calls back from inside a host function. */
    host->log(WS_LOG_INFO, r, "still alive after watch_child");
}

static int edges_handle(ws_request *r)
{
    if (strcmp(r->query, "over") == 0) {
        host->set_status(r, 200);
        host->set_length(r, 5);
        host->write(r, "0123456789", 10);
        host->finish(r);
        return 0;
    }
    if (strcmp(r->query, "child") == 0)
        return host->timer_start(r, 10, start_child, NULL) ? 0 : 500;
    if (strcmp(r->query, "redirect") == 0)
        return host->internal_redirect(r, "/static.txt") == WS_OK ? 0 : 500;
    if (strcmp(r->query, "bodyend") == 0)
        return host->read_body(r) == WS_OK ? 0 : 500;
    return 404;
}

static size_t edges_body(ws_request *r, const char *data, size_t len)
{
    (void)r;
    (void)data;
    return len;
}

static void edges_body_end(ws_request *r)
{
    host->internal_redirect(r, "/static.txt");
}

static const char *const methods[] = {"GET", "HEAD", "POST", NULL};

__attribute__((visibility("default"))) const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "edges",
    .methods = methods,
    .init = edges_init,
    .match = edges_match,
    .handle = edges_handle,
    .on_body = edges_body,
    .on_body_end = edges_body_end,
};

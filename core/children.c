/*
 * Child processes started by modules: every child is reaped on SIGCHLD (so no
 * zombie is ever left), and the request that asked is told, if it still lives.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "conn.h"
#include "server.h"

typedef struct child_watch {
    pid_t pid;
    void *req;
    ws_child_cb cb;
    void *arg;
} child_watch;

static child_watch *watches;
static size_t n_watches, cap_watches;

int children_watch(pid_t pid, void *req, ws_child_cb cb, void *arg)
{
    if (n_watches == cap_watches) {
        size_t cap = cap_watches ? cap_watches * 2 : 16;
        child_watch *n = realloc(watches, cap * sizeof *n);
        if (!n)
            return -1;
        watches = n;
        cap_watches = cap;
    }
    watches[n_watches++] = (child_watch){pid, req, cb, arg};
    /* It may have exited before we were asked to watch it. */
    children_reap();
    return 0;
}

void children_forget_request(void *req)
{
    for (size_t i = 0; i < n_watches; i++)
        if (watches[i].req == req)
            watches[i].req = NULL;
}

static void drop_watch(size_t i)
{
    watches[i] = watches[--n_watches];
}

void children_reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        for (size_t i = 0; i < n_watches; i++) {
            if (watches[i].pid != pid)
                continue;
            child_watch w = watches[i];
            drop_watch(i);
            if (w.req)
                req_child_exited(w.req, pid, status, w.cb, w.arg);
            break;
        }
    }
    /* Watches for pids already reaped elsewhere (never ours) would linger; drop ones without a request. */
    for (size_t i = 0; i < n_watches;) {
        if (!watches[i].req)
            drop_watch(i);
        else
            i++;
    }
}

void children_free(void)
{
    free(watches);
    watches = NULL;
    n_watches = cap_watches = 0;
}

/*
 * Child processes started by modules: every child is reaped on SIGCHLD (so no
 * zombie is ever left), and the request that asked is told, if it still lives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "request.h"
#include "server.h"

typedef struct child_watch {
    pid_t pid;
    void *req;
    ws_child_cb cb;
    void *arg;
} child_watch;

static child_watch *watches;
static size_t n_watches, cap_watches;

/* Children reaped before anyone watched them (a child can exit, and SIGCHLD be
 * handled, before its module asks to watch it). Kept briefly so the watch,
 * when it comes, still hears of the exit. */
#define EARLY_MAX 64
static struct { pid_t pid; int status; } early[EARLY_MAX];
static size_t n_early;
static loop_timer *deliver_timer;

static void deliver_early(loop *l, void *arg);

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
    /* Never call back from here (we are inside a module's call): an exit
     * already seen is delivered from the loop, a moment later. */
    for (size_t i = 0; i < n_early; i++)
        if (early[i].pid == pid && !deliver_timer && g_server)
            deliver_timer = loop_timer_add(g_server->loop, 0, deliver_early, NULL);
    return 0;
}

static void remember_early(pid_t pid, int status)
{
    if (n_early == EARLY_MAX) {
        memmove(early, early + 1, sizeof early[0] * (EARLY_MAX - 1));
        n_early--;
    }
    early[n_early].pid = pid;
    early[n_early].status = status;
    n_early++;
}

/* Run the callback of watch i for an exit, dropping the watch first. */
static void fire(size_t i, pid_t pid, int status)
{
    child_watch w = watches[i];
    watches[i] = watches[--n_watches];
    if (w.req)
        req_child_exited(w.req, pid, status, w.cb, w.arg);
}

static void deliver_early(loop *l, void *arg)
{
    (void)l;
    (void)arg;
    deliver_timer = NULL;
    for (size_t e = 0; e < n_early;) {
        size_t i = 0;
        while (i < n_watches && watches[i].pid != early[e].pid)
            i++;
        if (i == n_watches) {
            e++;
            continue;
        }
        pid_t pid = early[e].pid;
        int status = early[e].status;
        early[e] = early[--n_early];
        fire(i, pid, status);
    }
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
        size_t i = 0;
        while (i < n_watches && watches[i].pid != pid)
            i++;
        if (i < n_watches)
            fire(i, pid, status);
        else
            remember_early(pid, status);
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
    if (deliver_timer && g_server)
        loop_timer_cancel(g_server->loop, deliver_timer);
    deliver_timer = NULL;
    n_early = 0;
    free(watches);
    watches = NULL;
    n_watches = cap_watches = 0;
}

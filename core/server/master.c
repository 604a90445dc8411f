/*
 * The master process, for "workers" > 1. It binds the listening sockets once,
 * forks workers that run the ordinary server loop (server.c) on inherited
 * copies of them, restarts a worker that dies (with a back-off, so a worker
 * that crashes at once does not spin), and turns signals into work:
 *
 *   SIGHUP          load and check the config; if good, bind its new
 *                   addresses, fork a new generation of workers, then SIGTERM
 *                   the old one, which stops accepting and finishes its
 *                   in-flight requests. A bad config is logged and changes
 *                   nothing.
 *   SIGINT/SIGTERM  SIGTERM every worker, wait for them, exit 0.
 *   SIGUSR1         reopen the master's log, forward to every worker.
 *
 * The master never serves a request and has no event loop: its handlers only
 * set flags, and ppoll() unblocks the signals only while it sleeps, so none
 * is missed. The signals stay blocked in a forked worker until server.c has
 * installed its own handlers, so a SIGTERM sent right after fork() is not lost.
 *
 * Sockets: by default every worker inherits the same listening socket per
 * address (one accept queue, shared). With WEBSERV_REUSEPORT=1 the master opens
 * one SO_REUSEPORT socket per address and worker slot, and the kernel spreads
 * connections over them; a slot's socket outlives its worker, so a restarted
 * or replacement worker takes over the same queue and nothing queued is lost.
 */
#include "master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_MS 10000 /* a worker that lived this long resets its slot's back-off */
#define KILL_GRACE_MS 2000 /* after timeouts.shutdown, before SIGKILL */

typedef struct mlisten {
    char text[64]; /* "127.0.0.1:8080" */
    int slot;      /* -1: shared by every worker; else the one worker slot (reuseport) */
    int fd;
} mlisten;

typedef struct slot {
    pid_t pid;           /* 0: none running */
    uint64_t started_ms;
    uint64_t restart_at; /* when pid == 0: fork again at this time */
    uint64_t backoff_ms;
} slot;

typedef struct draining {
    pid_t pid;
    uint64_t kill_at; /* SIGKILL if still alive then */
} draining;

static struct {
    const char *config_path;
    ws_config *cfg;
    int reuseport;
    pid_t pid;
    mlisten *ls;
    size_t n_ls;
    slot *slots; /* cfg->workers of them: the current generation */
    int n_slots;
    draining *old; /* workers of earlier generations, finishing their requests */
    size_t n_old;
    int stopping;
    uint64_t stop_kill_at;
} M;

static volatile sig_atomic_t got_term, got_hup, got_usr1, got_chld;

static const int master_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD};
#define N_SIGNALS (sizeof master_signals / sizeof master_signals[0])

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    switch (sig) {
    case SIGINT:
    case SIGTERM:
        got_term = 1;
        break;
    case SIGHUP:
        got_hup = 1;
        break;
    case SIGUSR1:
        got_usr1 = 1;
        break;
    case SIGCHLD:
        got_chld = 1;
        break;
    }
}

/* ---- listening sockets ---- */

static void close_listeners(mlisten *ls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ls[i].fd >= 0)
            close(ls[i].fd);
    free(ls);
}

static int find_listener(const char *text, int slot)
{
    for (size_t i = 0; i < M.n_ls; i++)
        if (M.ls[i].fd >= 0 && M.ls[i].slot == slot && strcmp(M.ls[i].text, text) == 0)
            return (int)i;
    return -1;
}

/* Make M.ls match cfg: keep the sockets it still names, bind the new ones,
 * close the rest (workers still draining hold their own copies). On failure
 * nothing changes. */
static int bind_all(const ws_config *cfg, char *err, size_t errlen)
{
    int per_addr = M.reuseport ? cfg->workers : 1;
    size_t n = cfg->n_binds * (size_t)per_addr;
    mlisten *ls = calloc(n ? n : 1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t b = 0; b < cfg->n_binds; b++) {
        for (int s = 0; s < per_addr; s++, k++) {
            const listen_addr *a = &cfg->binds[b].addr;
            int slot = M.reuseport ? s : -1;
            snprintf(ls[k].text, sizeof ls[k].text, "%s", a->text);
            ls[k].slot = slot;
            ls[k].fd = -1;
            int old = find_listener(a->text, slot);
            if (old >= 0)
                continue; /* taken over below, once everything is bound */
            ls[k].fd = listen_bind(a, M.reuseport, err, errlen);
            if (ls[k].fd < 0) {
                close_listeners(ls, k);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (ls[i].fd >= 0)
            continue;
        int old = find_listener(ls[i].text, ls[i].slot);
        ls[i].fd = M.ls[old].fd;
        M.ls[old].fd = -1;
    }
    close_listeners(M.ls, M.n_ls);
    M.ls = ls;
    M.n_ls = n;
    return 0;
}

/* ---- workers ---- */

/* In the child: keep only this slot's sockets, then run the server. */
static void worker_main(int slot_no)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the master is gone: stop gracefully */
    if (getppid() != M.pid)
        kill(getpid(), SIGTERM); /* it went before prctl: pending until server.c unblocks */
    for (size_t i = 0; i < M.n_ls; i++) {
        if (M.ls[i].slot < 0 || M.ls[i].slot == slot_no) {
            if (listen_adopt(M.ls[i].text, M.ls[i].fd) < 0)
                _exit(1);
        } else {
            close(M.ls[i].fd);
        }
    }
    free(M.ls);
    M.ls = NULL;
    M.n_ls = 0;
    free(M.slots);
    M.slots = NULL;
    free(M.old);
    M.old = NULL;
    g_server_worker = 1;
    int status = server_run(M.config_path, M.cfg); /* frees the config */
    M.cfg = NULL;
    listen_adopt_clear();
    exit(status);
}

static void spawn(int i)
{
    slot *s = &M.slots[i];
    uint64_t now = now_ms();
    pid_t pid = fork();
    if (pid == 0)
        worker_main(i);
    if (pid < 0) {
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS)
            s->backoff_ms = BACKOFF_MAX_MS;
        s->restart_at = now + s->backoff_ms;
        log_msg(WS_LOG_ERROR, "WS0501", "cannot start worker %d: fork: %s; retrying in %llu ms", i, strerror(errno),
                (unsigned long long)s->backoff_ms);
        return;
    }
    s->pid = pid;
    s->started_ms = now;
    log_msg(WS_LOG_DEBUG, "WS0502", "worker %d started (pid %d)", i, (int)pid);
}

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "ended (status 0x%x)", (unsigned)status);
}

/* A worker of the current generation ended on its own: start another after
 * the slot's back-off, which doubles while workers die young. */
static void slot_ended(int i, int status)
{
    slot *s = &M.slots[i];
    uint64_t now = now_ms();
    char how[96];
    describe_status(status, how, sizeof how);
    if (now - s->started_ms >= STABLE_MS)
        s->backoff_ms = 0;
    else
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (s->backoff_ms > BACKOFF_MAX_MS)
        s->backoff_ms = BACKOFF_MAX_MS;
    log_msg(WS_LOG_ERROR, "WS0503", "worker %d (pid %d) %s; starting another in %llu ms", i, (int)s->pid, how,
            (unsigned long long)s->backoff_ms);
    s->pid = 0;
    s->restart_at = now + s->backoff_ms;
}

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int found = 0;
        /* Its gauge slot is free; a current worker that died on its own counts as a restart. */
        int restarted = 0;
        for (int i = 0; i < M.n_slots; i++)
            restarted |= M.slots[i].pid == pid && !M.stopping;
        metrics_worker_gone(pid, restarted);
        for (int i = 0; i < M.n_slots && !found; i++) {
            if (M.slots[i].pid != pid)
                continue;
            found = 1;
            if (M.stopping) {
                M.slots[i].pid = 0;
            } else {
                slot_ended(i, status);
            }
        }
        for (size_t i = 0; i < M.n_old && !found; i++) {
            if (M.old[i].pid != pid)
                continue;
            found = 1;
            M.old[i] = M.old[--M.n_old];
            log_msg(WS_LOG_DEBUG, "WS0505", "old worker pid %d finished", (int)pid);
        }
    }
}

static int running(void)
{
    int n = (int)M.n_old;
    for (int i = 0; i < M.n_slots; i++)
        n += M.slots[i].pid > 0;
    return n;
}

static void signal_all(int sig)
{
    for (int i = 0; i < M.n_slots; i++)
        if (M.slots[i].pid > 0)
            kill(M.slots[i].pid, sig);
    for (size_t i = 0; i < M.n_old; i++)
        kill(M.old[i].pid, sig);
}

/* Start a new generation for cfg; the current one is told to finish. */
static int new_generation(ws_config *cfg)
{
    size_t n_old = M.n_old;
    for (int i = 0; i < M.n_slots; i++)
        n_old += M.slots[i].pid > 0;
    draining *old = realloc(M.old, (n_old ? n_old : 1) * sizeof *old);
    slot *slots = calloc((size_t)cfg->workers, sizeof *slots);
    if (!old || !slots) {
        free(slots);
        if (old)
            M.old = old;
        return -1;
    }
    M.old = old;
    uint64_t kill_at = now_ms() + (M.cfg ? M.cfg->timeouts.shutdown_ms : 0) + KILL_GRACE_MS;
    size_t first_new_old = M.n_old;
    for (int i = 0; i < M.n_slots; i++)
        if (M.slots[i].pid > 0)
            M.old[M.n_old++] = (draining){M.slots[i].pid, kill_at};
    free(M.slots);
    M.slots = slots;
    M.n_slots = cfg->workers;
    if (M.cfg)
        config_free(M.cfg);
    M.cfg = cfg;
    for (int i = 0; i < M.n_slots; i++)
        spawn(i);
    /* The new workers take connections from the same queues, so nothing waits
     * on the old ones any more. */
    for (size_t i = first_new_old; i < M.n_old; i++)
        kill(M.old[i].pid, SIGTERM);
    return 0;
}

/* ---- reload, stop, rotation ---- */

static int open_master_log(const ws_config *c, char *err, size_t errlen)
{
    if (log_open_error(c->error_log, c->log_level) < 0) {
        snprintf(err, errlen, "%s: error_log: cannot open %s: %s", c->file, c->error_log, strerror(errno));
        return -1;
    }
    return 0;
}

static void reload(void)
{
    char err[2048];
    ws_config *c = config_load(M.config_path, err, sizeof err);
    if (!c) {
        log_msg(WS_LOG_ERROR, "WS0506", "reload failed, keeping the old configuration and workers: %s", err);
        return;
    }
    if (bind_all(c, err, sizeof err) < 0) {
        log_msg(WS_LOG_ERROR, "WS0507", "reload failed, keeping the old configuration and workers: %s", err);
        config_free(c);
        return;
    }
    if (open_master_log(c, err, sizeof err) < 0)
        log_msg(WS_LOG_ERROR, "WS0508", "reload: %s (master log unchanged)", err);
    size_t before = M.n_old;
    /* Modules' on_reload runs here, in the master, before the new workers
     * are forked: what it sets up in process memory reaches them. */
    config_notify_reload(M.cfg, c);
    if (new_generation(c) < 0) {
        log_msg(WS_LOG_ERROR, "WS0509", "reload failed: out of memory");
        config_free(c);
        return;
    }
    metrics_reload();
    log_msg(WS_LOG_INFO, "WS0510", "configuration reloaded from %s: %d new worker(s), %zu old one(s) finishing",
            c->file, M.n_slots, M.n_old - before);
}

static void begin_stop(void)
{
    if (M.stopping)
        return;
    M.stopping = 1;
    log_msg(WS_LOG_INFO, "WS0511", "stopping: %d worker(s) finishing", running());
    signal_all(SIGTERM);
    uint64_t grace = M.cfg ? M.cfg->timeouts.shutdown_ms : 0;
    M.stop_kill_at = now_ms() + grace + KILL_GRACE_MS;
}

/* SIGKILL what overstayed; returns the time of the next deadline (0 = none). */
static uint64_t enforce_deadlines(uint64_t now)
{
    uint64_t next = 0;
#define NEXT(t) (next = next == 0 || (t) < next ? (t) : next)
    for (size_t i = 0; i < M.n_old; i++) {
        if (now >= M.old[i].kill_at) {
            log_msg(WS_LOG_WARN, "WS0512", "old worker pid %d did not finish in time; killing it", (int)M.old[i].pid);
            kill(M.old[i].pid, SIGKILL);
            M.old[i].kill_at = now + 1000; /* it goes on the list once more, at most each second */
        }
        NEXT(M.old[i].kill_at);
    }
    if (M.stopping) {
        if (now >= M.stop_kill_at && running()) {
            log_msg(WS_LOG_WARN, "WS0513", "%d worker(s) did not stop in time; killing them", running());
            signal_all(SIGKILL);
            M.stop_kill_at = now + 1000;
        }
        NEXT(M.stop_kill_at);
    } else {
        for (int i = 0; i < M.n_slots; i++) {
            if (M.slots[i].pid > 0)
                continue;
            if (now >= M.slots[i].restart_at)
                spawn(i);
            if (M.slots[i].pid == 0)
                NEXT(M.slots[i].restart_at);
        }
    }
#undef NEXT
    return next;
}

/* ---- run ---- */

int master_run(const char *config_path, ws_config *cfg)
{
    char err[2048];
    memset(&M, 0, sizeof M);
    M.config_path = config_path;
    M.pid = getpid();
    const char *rp = getenv("WEBSERV_REUSEPORT");
    M.reuseport = rp && strcmp(rp, "1") == 0;
    if (open_master_log(cfg, err, sizeof err) < 0 || bind_all(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "webserv: %s\n", err);
        config_free(cfg);
        close_listeners(M.ls, M.n_ls);
        return 1;
    }

    sigset_t block, wait_mask;
    sigemptyset(&block);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_SIGNALS; i++)
        sigaddset(&block, master_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    for (size_t i = 0; i < N_SIGNALS; i++) {
        sigaction(master_signals[i], &sa, NULL);
        sigdelset(&wait_mask, master_signals[i]);
    }
    signal(SIGPIPE, SIG_IGN);

    log_msg(WS_LOG_INFO, "WS0500", "webserv %s master (pid %d): %d workers, %s listening sockets", WEBSERV_VERSION,
            (int)M.pid, cfg->workers, M.reuseport ? "SO_REUSEPORT" : "shared");
    if (new_generation(cfg) < 0) {
        fprintf(stderr, "webserv: out of memory\n");
        config_free(cfg);
        M.cfg = NULL;
    }
    while (M.cfg && !(M.stopping && running() == 0)) {
        if (got_chld) {
            got_chld = 0;
            reap();
        }
        if (got_term) {
            got_term = 0;
            begin_stop();
        }
        if (got_hup) {
            got_hup = 0;
            if (!M.stopping)
                reload();
        }
        if (got_usr1) {
            got_usr1 = 0;
            log_reopen();
            signal_all(SIGUSR1);
        }
        uint64_t now = now_ms();
        uint64_t next = enforce_deadlines(now);
        if (M.stopping && running() == 0)
            break;
        uint64_t wait = next ? (next > now ? next - now : 0) : 1000;
        if (wait > 1000)
            wait = 1000;
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        ppoll(NULL, 0, &ts, &wait_mask); /* the only place the signals are let in */
    }
    log_msg(WS_LOG_INFO, "WS0514", "stopped");

    for (size_t i = 0; i < N_SIGNALS; i++)
        signal(master_signals[i], SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    close_listeners(M.ls, M.n_ls);
    free(M.slots);
    free(M.old);
    if (M.cfg)
        config_free(M.cfg);
    memset(&M, 0, sizeof M);
    return 0;
}

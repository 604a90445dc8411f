/*
 * The running server in one process: listening sockets, accepting, signals
 * (through a self-pipe, so handlers stay trivial), reload, graceful stop.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "conn.h"
#include "fs_cache.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "mime.h"
#include "modules.h"
#include "offload.h"
#include "outq.h"

server *g_server;
int g_server_worker;
static int sig_write_fd = -1;

#define MAX_FREE 256
#define ACCEPT_BATCH 64

void children_free(void);

/* ---- free lists ---- */

char *server_get_buf(server *s)
{
    if (s->n_free_bufs) {
        char *b = s->free_bufs[--s->n_free_bufs];
        if (s->n_free_bufs < s->low_free_bufs)
            s->low_free_bufs = s->n_free_bufs;
        return b;
    }
    s->low_free_bufs = 0;
    return malloc(s->rbuf_size);
}

void server_put_buf(server *s, char *b)
{
    if (s->n_free_bufs < MAX_FREE)
        s->free_bufs[s->n_free_bufs++] = b;
    else
        free(b);
}

arena *server_get_pool(server *s)
{
    if (s->n_free_pools) {
        arena *a = s->free_pools[--s->n_free_pools];
        if (s->n_free_pools < s->low_free_pools)
            s->low_free_pools = s->n_free_pools;
        return a;
    }
    s->low_free_pools = 0;
    /* A request's pool: the request itself (~1 KB, core/request/request.c)
     * and 8 KB for what it allocates before a second block is needed. */
    return arena_new(9216);
}

void server_put_pool(server *s, arena *a)
{
    arena_reset(a);
    if (s->n_free_pools < MAX_FREE)
        s->free_pools[s->n_free_pools++] = a;
    else
        arena_free(a);
}

void live_config_unref(live_config *lc)
{
    if (--lc->refs == 0) {
        config_free(lc->c);
        free(lc);
    }
}

/* ---- accepting ---- */

static void accept_pause(server *s, int paused)
{
    if (s->accepting_paused == paused || s->stopping)
        return;
    s->accepting_paused = paused;
    for (listener *l = s->listeners; l; l = l->next)
        if (l->fd >= 0)
            loop_mod(s->loop, l->fd, paused ? 0 : LOOP_READ);
}

static void resume_accept(loop *lp, void *arg)
{
    (void)lp;
    server *s = arg;
    if (s->n_conns < (uint64_t)s->cfg->c->max_connections)
        accept_pause(s, 0);
}

/* Take what the listener has queued, up to ACCEPT_BATCH connections; those
 * of a listener that defers accept go to deferred, to be read. */
static void accept_batch(loop *lp, int fd, listener *l, conn **deferred, int *n_deferred)
{
    server *s = g_server;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (s->n_conns >= (uint64_t)s->cfg->c->max_connections) {
            /* New connections wait in the backlog until one closes. */
            accept_pause(s, 1);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting for a moment rather than spin. */
                log_msg(WS_LOG_ERROR, "WS0200", "accept on %s: %s; pausing for 100 ms", l->text, strerror(errno));
                metrics_connection_dropped();
                accept_pause(s, 1);
                loop_timer_add(lp, 100, resume_accept, s);
            }
            return;
        }
        conn *fresh = conn_new(s, l, c, (struct sockaddr *)&ss, len);
        if (fresh && l->defers_accept)
            deferred[(*n_deferred)++] = fresh;
    }
}

static void on_accept(loop *lp, int fd, unsigned ev, void *arg)
{
    (void)ev;
    listener *l = arg;
    conn *deferred[ACCEPT_BATCH];
    int n = 0;
    accept_batch(lp, fd, l, deferred, &n);
    if (n == 0)
        return;
    /* A listener that defers accept hands over connections whose request is
     * already there: read them now rather than after the next epoll_wait, so
     * a Connection: close exchange ends before the epoll set hears of it (no
     * EPOLL_CTL_ADD, loop_add_later; issue 21).
     * But a request that arrived after this round's events were collected may
     * follow a file change whose inotify event the round did not see: take
     * that event first (one poll() per batch), or the file cache would answer
     * from before the change. A silent client's connection, handed over when
     * the deferral ran out, costs one read that finds nothing. */
    loop_catch_up_first(lp);
    for (int i = 0; i < n; i++)
        conn_read_first(deferred[i]);
}

void server_conn_closed(server *s, struct conn *c)
{
    (void)c;
    if (s->accepting_paused && s->n_conns < (uint64_t)s->cfg->c->max_connections)
        accept_pause(s, 0);
}

/* ---- listeners ---- */

static listener *find_listener(server *s, const char *text)
{
    for (listener *l = s->listeners; l; l = l->next)
        if (l->fd >= 0 && strcmp(l->text, text) == 0)
            return l;
    return NULL;
}

static void close_listener(server *s, listener *l)
{
    if (l->fd < 0)
        return;
    loop_del(s->loop, l->fd);
    close(l->fd);
    l->fd = -1;
}

/* Make the open sockets match cfg's binds. On failure nothing changes. */
static int apply_listeners(server *s, const ws_config *cfg, char *err, size_t errlen)
{
    listener *fresh = NULL;
    for (size_t i = 0; i < cfg->n_binds; i++) {
        const bind_conf *b = &cfg->binds[i];
        if (find_listener(s, b->addr.text))
            continue;
        int fd = listen_open(&b->addr, err, errlen);
        if (fd < 0) {
            while (fresh) {
                listener *n = fresh->next;
                close(fresh->fd);
                free(fresh);
                fresh = n;
            }
            return -1;
        }
        listener *l = calloc(1, sizeof *l);
        l->fd = fd;
        l->defers_accept = listen_defers_accept(fd);
        snprintf(l->text, sizeof l->text, "%s", b->addr.text);
        l->next = fresh;
        fresh = l;
    }
    /* Commit: close what the new config no longer has, add what is new, point binds at cfg. */
    for (listener *l = s->listeners; l; l = l->next) {
        l->bind = NULL;
        for (size_t i = 0; i < cfg->n_binds; i++)
            if (l->fd >= 0 && strcmp(l->text, cfg->binds[i].addr.text) == 0)
                l->bind = &cfg->binds[i];
        if (!l->bind)
            close_listener(s, l);
    }
    while (fresh) {
        listener *n = fresh->next;
        for (size_t i = 0; i < cfg->n_binds; i++)
            if (strcmp(fresh->text, cfg->binds[i].addr.text) == 0)
                fresh->bind = &cfg->binds[i];
        fresh->next = s->listeners;
        s->listeners = fresh;
        loop_add(s->loop, fresh->fd, s->accepting_paused ? 0 : LOOP_READ, on_accept, fresh);
        fresh = n;
    }
    return 0;
}

/* ---- the file-system cache ---- */

/* Look up every location's root once, before requests come: the cache then
 * watches each folder above it. The first watch of a folder with many names
 * cached under it (a busy /tmp) makes the kernel walk them all: 58 ms once on
 * the bench machine, which the first request paid on the event loop (issue
 * 21). Here the worker does not serve yet (or is reloading, a config read on
 * the loop already). Watches outlive flushes, so later lookups find them. */
static void warm_fs_cache(const ws_config *c)
{
    struct stat st;
    for (size_t i = 0; i < c->n_servers; i++)
        for (size_t j = 0; j < c->servers[i].n_locations; j++)
            if (c->servers[i].locations[j].root)
                fs_cache_stat(c->servers[i].locations[j].root, &st);
}

/* ---- logs and reload ---- */

static int open_logs(const ws_config *c, char *err, size_t errlen)
{
    if (log_open_error(c->error_log, c->log_level) < 0) {
        snprintf(err, errlen, "%s: error_log: cannot open %s: %s", c->file, c->error_log, strerror(errno));
        return -1;
    }
    if (log_open_access(c->access_log) < 0) {
        snprintf(err, errlen, "%s: access_log: cannot open %s: %s", c->file, c->access_log, strerror(errno));
        return -1;
    }
    return 0;
}

static void reload(server *s)
{
    char err[1024];
    ws_config *c = config_load(s->config_path, err, sizeof err);
    if (!c) {
        log_msg(WS_LOG_ERROR, "WS0101", "reload failed, keeping the old configuration: %s", err);
        return;
    }
    if (apply_listeners(s, c, err, sizeof err) < 0) {
        log_msg(WS_LOG_ERROR, "WS0102", "reload failed, keeping the old configuration: %s", err);
        config_free(c);
        return;
    }
    if (open_logs(c, err, sizeof err) < 0)
        log_msg(WS_LOG_ERROR, "WS0103", "reload: %s (logs unchanged)", err);
    if (c->workers != s->cfg->c->workers)
        log_msg(WS_LOG_WARN, "WS0108", "reload: a change of \"workers\" takes effect at the next start");
    mime_set_overrides(c->mime_pairs, c->n_mime);
    config_notify_reload(s->cfg->c, c); /* modules' on_reload: old and new confs both alive */
    live_config *lc = calloc(1, sizeof *lc);
    lc->c = c;
    lc->refs = 1;
    live_config_unref(s->cfg);
    s->cfg = lc;
    if (fs_cache_resize((size_t)c->file_cache_entries) < 0)
        log_msg(WS_LOG_WARN, "WS0113", "reload: no memory for a file cache of %d entries; it keeps its old size",
                c->file_cache_entries);
    fs_cache_flush(); /* a reload is also how to say "files changed" where inotify cannot see */
    warm_fs_cache(c);
    metrics_reload();
    log_msg(WS_LOG_INFO, "WS0104", "configuration reloaded from %s", c->file);
}

/* ---- stopping ---- */

static void stop_now(loop *l, void *arg)
{
    (void)l;
    server *s = arg;
    s->stop_timer = NULL;
    while (s->conns)
        conn_close(s->conns);
}

static void begin_stop(server *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    log_msg(WS_LOG_INFO, "WS0105", "stopping: finishing %llu connection(s)", (unsigned long long)s->n_conns);
    for (listener *l = s->listeners; l; l = l->next)
        close_listener(s, l);
    /* Drain rather than close: a client may be sending on an idle keep-alive
     * connection right now (see conn_drain). stop_now bounds it all. */
    for (struct conn *c = s->conns; c; c = c->next)
        conn_drain(c);
    s->stop_timer = loop_timer_add(s->loop, s->cfg->c->timeouts.shutdown_ms, stop_now, s);
}

/* ---- signals ---- */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_write_fd, &b, 1) < 0) {
        /* the pipe is full: a signal of each kind is already pending */
    }
    errno = saved;
}

static void on_signal_pipe(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)ev;
    server *s = arg;
    unsigned char buf[64];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            switch (buf[i]) {
            case SIGINT:
            case SIGTERM:
                begin_stop(s);
                break;
            case SIGHUP:
                if (!s->stopping && !g_server_worker) /* a worker's config is the master's business */
                    reload(s);
                break;
            case SIGUSR1:
                log_reopen();
                break;
            case SIGCHLD:
                children_reap();
                break;
            }
        }
    }
}

static int install_signals(server *s)
{
    if (pipe2(s->sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    sig_write_fd = s->sig_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&set, sigs[i]);
    }
    /* A worker starts with them blocked (see master.c): what came before now is delivered. */
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return loop_add(s->loop, s->sig_pipe[0], LOOP_READ, on_signal_pipe, s);
}

static void restore_signals(server *s)
{
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    loop_del(s->loop, s->sig_pipe[0]);
    close(s->sig_pipe[0]);
    close(s->sig_pipe[1]);
    sig_write_fd = -1;
}

/* ---- stats ---- */

void server_fill_stats(ws_stats *out)
{
    server *s = g_server;
    ws_stats st = s->stats;
    st.size = sizeof st;
    st.connections_active = s->n_conns;
    st.connections_reading = st.connections_writing = st.connections_idle = 0;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->state == CONN_IDLE)
            st.connections_idle++;
        else if (c->state == CONN_HEAD || (c->req && c->req->body == BODY_READING))
            st.connections_reading++;
        else
            st.connections_writing++;
    }
    st.uptime_seconds = (double)(loop_now_ms(s->loop) - s->started_ms) / 1000.0;
    static const char *names[64];
    static uint64_t counts[64];
    loaded_module *const *mods;
    size_t n = modules_loaded(&mods);
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        names[i] = mods[i]->name;
        counts[i] = mods[i]->requests;
    }
    st.n_modules = n;
    st.module_names = names;
    st.module_requests = counts;
    size_t copy = out->size && out->size < sizeof st ? out->size : sizeof st;
    memcpy(out, &st, copy);
    out->size = copy;
}

/* ---- run ---- */

int server_run(const char *config_path, ws_config *cfg)
{
    server s;
    memset(&s, 0, sizeof s);
    g_server = &s;
    s.config_path = config_path;
    char err[1024];
    if (open_logs(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "webserv: %s\n", err);
        config_free(cfg);
        return 1;
    }
    s.loop = loop_new(LOOP_BACKEND_AUTO, cfg->max_connections + 64);
    if (!s.loop) {
        fprintf(stderr, "webserv: cannot create the event loop (WEBSERV_EVENT_BACKEND=%s?): %s\n",
                getenv("WEBSERV_EVENT_BACKEND") ? getenv("WEBSERV_EVENT_BACKEND") : "", strerror(errno));
        config_free(cfg);
        return 1;
    }
    if (fs_cache_start(s.loop, (size_t)cfg->file_cache_entries) == 0) /* when it cannot start, every stat goes to the kernel */
        warm_fs_cache(cfg);
    s.cfg = calloc(1, sizeof *s.cfg);
    s.cfg->c = cfg;
    s.cfg->refs = 1;
    /* The read buffer holds a whole head plus room for pipelined bytes. */
    s.rbuf_size = (cfg->header_size + 1 > 16384 ? cfg->header_size + 1 : 16384) + 16384;
    s.free_bufs = calloc(MAX_FREE, sizeof *s.free_bufs);
    s.free_pools = calloc(MAX_FREE, sizeof *s.free_pools);
    mime_set_overrides(cfg->mime_pairs, cfg->n_mime);
    int status = 0;
    if (install_signals(&s) < 0 || apply_listeners(&s, cfg, err, sizeof err) < 0) {
        fprintf(stderr, "webserv: %s\n", err);
        log_msg(WS_LOG_ERROR, "WS0100", "%s", err);
        status = 1;
    } else {
        s.started_ms = loop_now_ms(s.loop);
        log_msg(WS_LOG_INFO, "WS0106", "webserv %s serving (%s backend, pid %d)", WEBSERV_VERSION,
                loop_backend_name(s.loop), (int)getpid());
        metrics_worker_start();
        uint64_t published = 0;
        while (!(s.stopping && s.n_conns == 0)) {
            /* Wake by the next publish time at the latest, so a scrape never sees gauges
             * older than about a second, even on a worker with nothing to do. */
            uint64_t since = loop_now_ms(s.loop) - published;
            if (loop_run_once(s.loop, since >= 1000 ? 0 : (int)(1000 - since)) < 0 && errno != EINTR)
                break;
            if (loop_now_ms(s.loop) - published >= 1000) { /* this worker's gauges, for every scrape */
                ws_stats st = {.size = sizeof st};
                server_fill_stats(&st);
                metrics_publish(&st);
                published = loop_now_ms(s.loop);
                server_memory_tick(&s, published);
            }
        }
        log_msg(WS_LOG_INFO, "WS0107", "stopped");
    }
    if (s.stop_timer)
        loop_timer_cancel(s.loop, s.stop_timer);
    while (s.conns)
        conn_close(s.conns);
    offload_stop(); /* waits for offloaded works; requests that ended meanwhile are freed here */
    for (listener *l = s.listeners, *n; l; l = n) {
        n = l->next;
        close_listener(&s, l);
        free(l);
    }
    fs_cache_stop(); /* after the connections: their responses held cached files */
    restore_signals(&s);
    /* Children killed by their modules' cleanup are reaped here; none is left behind. */
    for (int i = 0; i < 50 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
        usleep(10000);
    children_free();
    live_config_unref(s.cfg);
    for (size_t i = 0; i < s.n_free_bufs; i++)
        free(s.free_bufs[i]);
    for (size_t i = 0; i < s.n_free_pools; i++)
        arena_free(s.free_pools[i]);
    free(s.free_bufs);
    free(s.free_pools);
    loop_free(s.loop);
    outq_release_spares();
    g_server = NULL;
    return status;
}

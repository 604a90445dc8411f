/*
 * The running server in one process: the loop, the live configuration, the
 * listening sockets, the connections, signals and child processes.
 */
#ifndef WEBSERV_SERVER_H
#define WEBSERV_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "loop.h"
#include "webserv/module.h"

struct conn;
struct arena;

/* A configuration in use; requests hold a reference so a reload never pulls
 * it from under them. */
typedef struct live_config {
    ws_config *c;
    int refs;
} live_config;

typedef struct listener {
    int fd;
    char text[64];        /* the bound address, e.g. "127.0.0.1:8080" */
    const bind_conf *bind;/* in the current config; NULL once closed */
    int defers_accept;    /* TCP_DEFER_ACCEPT is on: an accepted connection's first bytes are there */
    struct listener *next;
} listener;

typedef struct server {
    loop *loop;
    live_config *cfg;     /* current */
    const char *config_path;
    listener *listeners;
    struct conn *conns;   /* every open connection */
    uint64_t n_conns;
    int accepting_paused; /* max_connections reached */
    int stopping;
    uint64_t stop_deadline;
    loop_timer *stop_timer;
    int sig_pipe[2];
    /* free lists: buffers and pools reused across requests */
    char **free_bufs;
    size_t n_free_bufs;
    struct arena **free_pools;
    size_t n_free_pools;
    size_t rbuf_size;
    /* memory given back after a peak (memory_trim.c) */
    size_t low_free_bufs, low_free_pools; /* the lists' low-water marks since the last tick */
    uint64_t peak_conns;                  /* most open connections since the last malloc_trim */
    uint64_t last_trim_ms;
    /* counters */
    ws_stats stats;
    uint64_t started_ms;
} server;

extern server *g_server;
extern int g_server_worker; /* set in a worker process forked by the master */

/* Run the server for config_path until SIGINT/SIGTERM. Returns the exit status. */
int server_run(const char *config_path, ws_config *cfg);

void live_config_unref(live_config *lc);

/* Buffers for reading (size srv->rbuf_size) and request pools, from free lists. */
char *server_get_buf(server *s);
/* Once a second in a worker: free-list surplus freed, malloc_trim after a peak (memory_trim.c). */
void server_memory_tick(server *s, uint64_t now_ms);
void server_put_buf(server *s, char *b);
struct arena *server_get_pool(server *s);
void server_put_pool(server *s, struct arena *a);

/* A connection was closed: update counts, resume accepting if paused. */
void server_conn_closed(server *s, struct conn *c);

/* Counters for ws_host.stats. */
void server_fill_stats(ws_stats *out);

/* Child processes: watch pid for a request; every child is reaped. */
int children_watch(pid_t pid, void *req, ws_child_cb cb, void *arg);
void children_forget_request(void *req); /* the request ended: drop its callbacks */
void children_reap(void);                /* on SIGCHLD */

#endif

/*
 * mod_cgi: runs CGI/1.1 scripts (RFC 3875) — see SPEC §5 and cgi.h for the
 * map of this folder. This file holds the descriptor, the request lifecycle
 * (match, handle, cleanup), the timeout, and the child's exit.
 */
#include "cgi.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

const ws_host *cgi_host;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int cgi_init(const ws_host *host)
{
    if (host->abi_major != WS_ABI_MAJOR || host->size < offsetof(ws_host, watch_child) + sizeof host->watch_child)
        return -1;
    cgi_host = host;
    /* Counters for the metrics module, where the core has them (ABI 1.2). */
    if (host->abi_minor >= 2 && host->size >= offsetof(ws_host, counter_add) + sizeof host->counter_add &&
        host->counter && host->counter_add) {
        cgi_spawns = host->counter("webserv_cgi_spawns_total", "CGI scripts started");
        cgi_timeouts = host->counter("webserv_cgi_timeouts_total", "CGI scripts killed for making no progress");
    }
    return 0;
}

ws_counter *cgi_spawns, *cgi_timeouts;

static void count(ws_counter *c)
{
    if (c)
        cgi_host->counter_add(c, 1);
}

/* Take the request when its path leads to a script: a file with a mapped
 * extension, or an executable one. Otherwise the core answers (404 for a
 * missing file, 403 for a file nobody takes). */
static int cgi_match(ws_request *r)
{
    const cgi_conf *conf = r->conf;
    cgi_script s;
    if (!conf || !cgi_find_script(r, conf, &s))
        return WS_DECLINE;
    cgi_req *c = cgi_host->alloc(r, sizeof *c);
    if (!c)
        return WS_DECLINE;
    c->r = r;
    c->conf = conf;
    c->script = s;
    c->in_fd = c->out_fd = c->err_fd = c->tmp_fd = -1;
    c->length = -1;
    r->ctx = c;
    return WS_TAKE;
}

static int cgi_handle(ws_request *r)
{
    cgi_req *c = r->ctx;
    c->hbuf = cgi_host->alloc(r, CGI_HEADER_MAX);
    c->eline = cgi_host->alloc(r, CGI_STDERR_LINE_MAX);
    if (!c->hbuf || !c->eline)
        return 500;
    return cgi_input_start(c);
}

void cgi_fail(cgi_req *c, int status)
{
    if (c->over)
        return;
    c->over = 1;
    spool_abandon(&c->sp); /* a chunked body: nothing more to its file */
    cgi_kill(c);
    cgi_close_fd(&c->out_fd, &c->out_watch);
    c->in_waiting = 0;
    cgi_close_fd(&c->in_fd, &c->in_watch);
    cgi_host->error(c->r, status);
}

/* The timeout counts time without progress: no output read, no body bytes
 * taken. Time spent waiting for a slow client does not count (the core's send
 * timeout is for that). */
static void on_timer(ws_request *r, void *arg)
{
    cgi_req *c = arg;
    c->timer = NULL;
    if (c->over)
        return;
    if (c->out_eof && !c->exited) {
        /* stdout closed but the process lives on (or its exit is late): the
         * output is complete; cleanup kills what is left of the group. */
        cgi_finalize(c);
        return;
    }
    uint64_t limit = c->conf->timeout_ms;
    if (!limit)
        return;
    if (c->out_paused) {
        cgi_arm_timer(c, limit);
        return;
    }
    uint64_t idle = now_ms() - c->last_ms;
    if (idle < limit) {
        cgi_arm_timer(c, limit - idle);
        return;
    }
    cgi_host->log(WS_LOG_ERROR, r, "cgi: %s timed out after %.1f s", c->script.filename, (double)limit / 1000.0);
    count(cgi_timeouts);
    /* 504 while nothing went out; after that only closing the connection
     * tells the client the response is incomplete. */
    cgi_fail(c, c->wrote ? 500 : 504);
}

void cgi_arm_timer(cgi_req *c, uint64_t ms)
{
    if (c->timer)
        cgi_host->timer_stop(c->timer);
    c->timer = cgi_host->timer_start(c->r, ms, on_timer, c);
}

void cgi_progress(cgi_req *c)
{
    c->last_ms = now_ms();
    if (!c->timer && c->conf->timeout_ms && !c->out_eof)
        cgi_arm_timer(c, c->conf->timeout_ms);
}

void cgi_child_exited(ws_request *r, pid_t pid, int wait_status, void *arg)
{
    (void)r;
    (void)pid;
    cgi_req *c = arg;
    c->exited = 1;
    c->wait_status = wait_status;
    if (c->out_eof)
        cgi_finalize(c);
}

static void cgi_cleanup(ws_request *r, int how)
{
    cgi_req *c = r->ctx;
    if (!c)
        return;
    if (c->timer) {
        cgi_host->timer_stop(c->timer);
        c->timer = NULL;
    }
    if (how != WS_END_DONE && !c->over && c->pid > 0 && !c->exited)
        cgi_host->log(WS_LOG_INFO, r, "cgi: request ended early (client gone or server stopping), killing %s",
                      c->script.filename);
    cgi_kill(c); /* no-op when it has exited */
    cgi_stderr_drain(c);
    cgi_close_fd(&c->in_fd, &c->in_watch);
    cgi_close_fd(&c->out_fd, &c->out_watch);
    cgi_close_fd(&c->err_fd, &c->err_watch);
    cgi_close_fd(&c->tmp_fd, NULL); /* the pool is done with it: cleanup follows the works */
    spool_free(&c->sp);
    c->over = 1;
    r->ctx = NULL;
}

static const char *const cgi_methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", NULL };

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "cgi",
    .methods = cgi_methods,
    .init = cgi_init,
    .configure = cgi_configure,
    .match = cgi_match,
    .handle = cgi_handle,
    .on_body = cgi_on_body,
    .on_body_end = cgi_on_body_end,
    .on_writable = cgi_on_writable,
    .cleanup = cgi_cleanup,
};

/* Words for `webserv --schema` (module.h); the keys themselves come from
 * cgi_configure, and the patterns here are the rules it checks. */
static const ws_key_doc cgi_keys[] = {
    {"interpreters", "File extension (with its dot) → absolute path of the program that runs such scripts", "{}",
     NULL, "{\"propertyNames\": {\"pattern\": \"^[.][^/]+$\"}, \"additionalProperties\": {\"pattern\": \"^/\"}}"},
    {"timeout", "Seconds without progress before the script is killed (504); 0 = none", "30", NULL,
     "{\"maximum\": 31536000}"},
    {"env", "Extra environment variables for every script", "{}", NULL,
     "{\"propertyNames\": {\"pattern\": \"^[A-Za-z_][A-Za-z0-9_]*$\"}}"},
    {NULL, NULL, NULL, NULL, NULL},
};
WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Runs CGI/1.1 scripts (RFC 3875)",
    .keys = cgi_keys,
};

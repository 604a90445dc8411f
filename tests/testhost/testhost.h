/*
 * libwebserv-testhost: drive a module in a test process with synthetic
 * requests, bodies, fd events, timers and child exits — no socket, no core.
 *
 *   th_module *m = th_load(&webserv_module);               // or th_load_so("x.so")
 *   const void *conf = th_configure(m, "{\"show_hidden\":true}", "/", "/tmp/root", err, sizeof err);
 *   th_request *t = th_request_new(m, conf, "GET", "/dir/", NULL);   // headers: "Name: value" strings, NULL-terminated
 *   th_dispatch(t);             // match + handle; returns the match result (WS_TAKE / WS_DECLINE)
 *   th_run(t, 2000);            // run fd watches, timers, child exits until the response is finished (or ms pass)
 *   th_response *res = th_response_of(t);  // status, headers, body as the module produced them
 *   th_request_end(t);          // cleanup (WS_END_DONE if finished, else WS_END_ABORTED) and free
 */
#ifndef WEBSERV_TESTHOST_H
#define WEBSERV_TESTHOST_H

#include <stddef.h>
#include <stdint.h>

#include "webserv/module.h"

typedef struct th_module th_module;
typedef struct th_request th_request;

typedef struct th_response {
    int status;              /* set_status, or the status given to error(); 0 if none */
    int error_status;        /* the status passed to host->error(), 0 if not called */
    int finished;            /* finish() was called */
    int64_t length;          /* set_length, -1 if never set */
    size_t n_headers;
    const char **header_names;
    const char **header_values;
    char *body;              /* everything written, send_file ranges read in; NUL-terminated */
    size_t body_len;
    char *redirect;          /* internal_redirect target, or NULL */
    int has_validators;      /* set_validators called */
    int read_body_called;
    int cleanups;            /* how many times cleanup ran (must end at 1) */
    int cleanup_how;
    /* (ABI 1.2) */
    char *error_reason;      /* the reason given to host->error_reason, or NULL */
    int write_refs;          /* write_ref calls */
    int releases;            /* write_ref release callbacks run (the test host sends at once) */
    /* ABI 1.2 */
    char *rewrite_uri;       /* the last host->rewrite_uri from a rewrite hook, or NULL */
    /* ABI 1.3 */
    char *upgrade;           /* the protocol given to a successful host->upgrade (status is then 101), or NULL */
    /* ABI 1.2 body filters (th_body_filter): what the filter passed on with
     * filter_next is appended to body/body_len as well */
    int filter_passes;       /* filter_next calls */
    int filter_last;         /* filter_next got last = 1 */
    /* ABI 1.3 */
    char *server, *date;     /* host->set_server_date's values, or NULL */
} th_response;

/* The fake host table (a module keeps this pointer from init). */
const ws_host *th_host(void);

th_module *th_load(const ws_module *desc);       /* calls init; NULL if init refuses */
th_module *th_load_so(const char *path);          /* dlopen + descriptor lookup + init */
void th_unload(th_module *m);                    /* fini */

/* (ABI 1.2) Simulate a reload: the module's on_reload(old_conf, new_conf), as
 * the core calls it per location once a new configuration is in place (take
 * both from th_configure). Nothing happens when the module has no on_reload. */
void th_reload(th_module *m, const void *old_conf, const void *new_conf);
/* (ABI 1.2) The module's flags (WS_MODULE_NO_FILES …), 0 for an older module. */
uint32_t th_module_flags(const th_module *m);

/* Run configure() on a JSON settings object. config_dir is taken as the folder
 * for relative paths. NULL with err filled on a configure error or an unknown key.
 * (testhost: config_dir is `root` when given, else the working directory; the
 * result is non-NULL on success even when the module keeps no config, and
 * requests made with it then see r->conf == NULL. Errors name no file:
 * "test host: servers[0].locations[0].<module>.<key>: …". Zones the module
 * asks for with shm_zone live until th_unload.) */
const void *th_configure(th_module *m, const char *settings_json, const char *location_path, const char *root,
                         char *err, size_t errlen);

/* A request. target is the raw request-target (path + optional ?query);
 * headers is a NULL-terminated list of "Name: value" strings (may be NULL).
 * path, query, fs_path (root + path) and fs_type/fs_stat are computed as the core would
 * (without index lookup). content_length comes from a Content-Length header, or -1 with
 * "Transfer-Encoding: chunked". remote 127.0.0.1:40000, local 127.0.0.1:8080. */
th_request *th_request_new(th_module *m, const void *conf, const char *method, const char *target,
                           const char *const *headers);
ws_request *th_req(th_request *t);                /* the ws_request the module sees */
void th_set_http_minor(th_request *t, int minor);

int th_dispatch(th_request *t); /* match, then handle if taken; handle's non-zero return becomes error_status */
/* Deliver body bytes if the module called read_body; returns bytes it consumed.
 * (ABI 1.3) After a successful host->upgrade, the bytes are the client's raw
 * bytes: they go to on_data (same pause/body_resume rule), and th_end_body
 * (the client closed its side) calls on_data_end. host->upgrade checks what
 * the core checks: HTTP/1.1 (th_set_http_minor), "Connection: upgrade", an
 * Upgrade field naming the protocol, nothing sent yet, no unread body. */
size_t th_feed_body(th_request *t, const void *data, size_t len);
/* (testhost addition) Body bytes the host still holds: fed but not consumed,
 * because read_body was not called yet or on_body paused. They are offered
 * again after body_resume, from th_run, th_feed_body or th_end_body. */
size_t th_body_pending(th_request *t);
void th_end_body(th_request *t); /* on_body_end; then (testhost) waits for the works it offloaded and runs their done */
/* Simulate the client: the output queue is full (write returns WS_AGAIN) until th_drain. */
void th_set_output_full(th_request *t, int full);
void th_drain(th_request *t); /* empties the queue and calls on_writable if a write said WS_AGAIN */
/* (testhost addition) A queue of `bytes`: once that much was queued since the
 * last th_drain, the queue is full (write/send_file say WS_AGAIN) until the
 * next th_drain. 0 = unlimited (the default). Models a slow client. */
void th_set_output_limit(th_request *t, size_t bytes);
/* (testhost addition) What host->dir_version answers for every folder from
 * now on (default 0: "cannot be watched", so nothing is kept by version). */
void th_set_dir_version(uint64_t version);
/* Run the loop: fd watches (poll), timers, children (waitpid), until the
 * response is finished or has an error, or `ms` milliseconds pass. 0 = done, -1 = timed out. */
int th_run(th_request *t, int ms);
/* Stays valid after th_request_end/abort (check cleanups), until th_unload. */
th_response *th_response_of(th_request *t);
const char *th_header(th_request *t, const char *name); /* a response header, case-insensitive */
/* Simulate the client going away: cleanup(WS_END_ABORTED) and free. */
void th_request_abort(th_request *t);
void th_request_end(th_request *t);
/* (testhost addition) How many file descriptors this process has open (-1
 * when /proc/self/fd cannot be read): a test counts before and after, so a
 * module that leaks a descriptor on some path fails it. */
int th_open_fds(void);
/* (testhost addition) Wait up to ms milliseconds for *flag, which another
 * thread sets (a gate in a pool job says it arrived): 0 once it is nonzero,
 * -1 if it never was. */
int th_wait_flag(const int *flag, int ms);
/* (testhost addition) Children whose request ended are still reaped: wait up
 * to ms for all watched children to be reaped; returns how many are left. */
int th_reap(int ms);

/*
 * ---- ABI 1.2: phases, filters, offload ----
 * Call the module's hook as the core would (r->conf is the config the request
 * was made with) and return what it returned: WS_CONTINUE, WS_DONE, WS_DEFER
 * or a status. After WS_DEFER, th_phase_wait runs the loop (timers, watches,
 * offloaded works, whose `done` runs on this thread as on the core's loop)
 * until the module calls phase_done, and returns the result it gave (-1000
 * on timeout). host->rewrite_uri lands in th_response.rewrite_uri (and
 * changes r->path/query); host->set_user in th_req(t)->remote_user/auth_type.
 */
int th_rewrite(th_request *t);
int th_access(th_request *t);
int th_phase_wait(th_request *t, int ms);
/* A header filter on the response as it stands: build it first with
 * th_host()->set_status / add_header on th_req(t), then call this and read
 * the result with th_header / th_response_of. Returns the filter's result. */
int th_header_filter(th_request *t);
/* A body filter (after th_header_filter said 1): calls the module's
 * body_filter with one piece, as the core would, and returns its result. What
 * it passes on with host->filter_next is appended to th_response.body
 * (filter_passes counts the calls, filter_last says last = 1 came). The
 * output limit above applies: filter_next answers WS_AGAIN (the bytes are
 * still taken) once th_set_output_limit's bytes were passed on since the last
 * th_drain, or while th_set_output_full is set. filter_next outside a
 * body_filter call, or bytes after last = 1, answer WS_ERROR. */
int th_body_filter(th_request *t, const void *data, size_t len, int last);
/* Asynchronous body filters (host->offload from inside body_filter, which
 * then returns WS_DEFER): th_filter_busy says such a work runs;
 * th_filter_wait waits for it (and any it offloads next) and runs its done
 * as a body_filter call, as the core does (filter_next allowed there): 0, or
 * -1 after ms. th_body_filter waits this way first (the core gives a filter
 * nothing while its work runs); a second such work while one runs is
 * refused (WS_ERROR), as in the core. */
int th_filter_busy(th_request *t);
int th_filter_wait(th_request *t, int ms);
/* The log hook with these facts: the response is over, so (as in the core)
 * the request's offloaded works are waited for first, their done skipped. */
void th_log_request(th_request *t, const ws_log_info *info);
/* A counter a module made with host->counter (ABI 1.2): its value in this
 * process (kept across th_unload, as the core keeps it across reloads), 0
 * for a name never made. */
uint64_t th_counter_value(const char *name);

#endif

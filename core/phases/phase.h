/*
 * The ABI 1.2 phases (docs/modules.md "Phases"): the core's one checker per
 * phase over the location's modules that implement it (location_conf.hooks),
 * in the order of the config's "modules" list.
 *
 *   location found → rewrite → method check → access → "return" / directory
 *   redirect / handler → header filters → body filters (filter.h) →
 *   response → log → cleanup
 *
 * A module that fails in a phase (a result that is not one of the phase's
 * answers) gets the request a 500 and a log line naming it; never a crash or
 * a hang of the others.
 */
#ifndef WEBSERV_PHASE_H
#define WEBSERV_PHASE_H

#include "request.h"

/* How long a deferred rewrite or access phase may wait for phase_done when
 * the location sets no timeouts.handler: then 500 and a WS0922 line. */
#define PHASE_DEFER_MS 60000

/* What a phase came to. */
typedef enum {
    PHASE_NEXT,    /* every module said continue: go on to the next step */
    PHASE_STOP,    /* answered (or being answered by a module) */
    PHASE_WAIT,    /* a module deferred: phase_done will resume */
    PHASE_REROUTE, /* rewrite_uri changed the path: route again */
} phase_outcome;

/* Run hook (HOOK_REWRITE or HOOK_ACCESS) from r->hook_idx on. */
phase_outcome phase_run(request *r, int hook);
/* The carrier's progress (req_take_pending), after a module's phase_done: settle the deferred result and carry on. */
void phase_resume(request *r);
/* Header filters, once per response before its head is built: 0, or -1
 * after a filter failed (the caller answers 500). */
int phase_header_filters(request *r);
/* The log hooks, after the response. */
void phase_log(request *r, int how);

/* ---- host functions (core/module/host.c puts them in the table) ---- */
int phase_host_done(ws_request *p, int result);
int phase_host_rewrite_uri(ws_request *p, const char *uri);
int phase_host_set_user(ws_request *p, const char *user, const char *auth_type);
void **phase_host_module_ctx(ws_request *p, const ws_module *self);
int phase_host_get_status(const ws_request *p);
const char *phase_host_resp_header(const ws_request *p, const char *name);
int phase_host_remove_header(ws_request *p, const char *name);
int phase_host_set_header(ws_request *p, const char *name, const char *value);
int phase_host_filter_next(ws_request *p, const void *data, size_t len, int last);
int phase_host_filter_next_ref(ws_request *p, const void *data, size_t len, int last, void (*release)(void *),
                               void *arg);
int phase_host_offload(ws_request *p, void (*work)(void *arg), void (*done)(ws_request *r, void *arg), void *arg);

/* The continuation after a phase, in core/request/request.c. */
void req_continue(request *r, int hook);
void req_reroute(request *r);

#endif

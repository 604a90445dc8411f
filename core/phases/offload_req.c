/*
 * host->offload for a request (ABI 1.2) on the core's pool (core/event/offload.c).
 *
 * The rule: a request never ends while one of its works runs. Its works are
 * counted (r->offloads); when the request ends meanwhile (the client went
 * away, a timeout, the server stopping), req_end detaches it from its
 * carrier (access log line written, watches and timers gone) and marks it
 * an orphan: `done` is then skipped, and the last returning work frees it
 * (the handler's cleanup, its files, its config reference, its pool). So a
 * work's argument may live in the request's pool, and the module's code and
 * config stay loaded until the work returned, even across a reload. The
 * log hooks of such a request run then too (req_free_orphan), so a module
 * may free in log_request what its work uses.
 *
 * A work offloaded from inside a body filter makes that filter asynchronous
 * (core/phases/filter.h): its done runs as a call of the filter.
 */
#include <stdlib.h>

#include "arena.h"
#include "filter.h"
#include "request.h"
#include "log.h"
#include "modules.h"
#include "offload.h"
#include "phase.h"
#include "server.h"

typedef struct req_job {
    request *r;
    void (*work)(void *arg);
    void (*done)(ws_request *r, void *arg);
    void *arg;
    const void *conf;          /* r->conf of the caller, restored for done */
    struct loaded_module *mod; /* the caller, for log lines */
    struct filt_state *filt;   /* a body filter's work: its chain and index */
    int filt_pos;
} req_job;

static void run_work(void *arg)
{
    req_job *j = arg;
    j->work(j->arg);
}

static void complete(void *arg)
{
    req_job *j = arg;
    request *r = j->r;
    r->offloads--;
    if (r->orphan) {
        if (r->offloads == 0)
            req_free_orphan(r);
        return;
    }
    log_context_set(&r->logctx); /* error-log lines from here say which request */
    if (j->filt) {
        filter_job_done(r, j->filt, j->filt_pos, j->done, j->arg, j->conf);
    } else if (j->done) {
        ws_request *p = &r->pub;
        const void *saved = p->conf;
        struct loaded_module *saved_calling = r->calling;
        p->conf = j->conf;
        r->calling = j->mod;
        req_begin_module(r);
        j->done(p, j->arg);
        req_end_module(r);
        r->calling = saved_calling;
        p->conf = saved;
    }
    r->carrier->progress(r);
    log_context_set(NULL);
}

int phase_host_offload(ws_request *p, void (*work)(void *arg), void (*done)(ws_request *r, void *arg), void *arg)
{
    request *r = (request *)(void *)p;
    if (!work || r->orphan)
        return WS_ERROR;
    int pos = filter_job_pos(r);
    if (pos == -2)
        return WS_ERROR; /* a body filter's work already runs for this response */
    req_job *j = arena_alloc(r->pool, sizeof *j);
    if (!j)
        return WS_ERROR;
    *j = (req_job){.r = r, .work = work, .done = done, .arg = arg, .conf = p->conf,
                   .mod = r->calling ? r->calling : r->owner, .filt_pos = pos};
    if (offload_submit(g_server->loop, run_work, j, complete, j) < 0)
        return WS_ERROR;
    if (pos >= 0)
        j->filt = filter_job_started(r, pos);
    r->offloads++;
    return WS_OK;
}

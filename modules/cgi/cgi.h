/*
 * mod_cgi internals: the per-location config, the per-request state, and the
 * functions the module's files share. One file per job:
 *   mod_cgi.c      descriptor, match/handle/cleanup, timeout, ending a request
 *   cgi_config.c   the "cgi" settings object
 *   cgi_script.c   finding the script in the path (SCRIPT_NAME / PATH_INFO)
 *   cgi_env.c      the meta-variables (RFC 3875 §4.1)
 *   cgi_process.c  pipes, posix_spawn, killing the process group
 *   cgi_input.c    the request body to the script's stdin (§4.2)
 *   cgi_output.c   the script's stdout: header block, then the body (§6)
 *   cgi_stderr.c   the script's stderr to the error log
 *   cgi_header.c   the header block parser (pure)
 */
#ifndef WEBSERV_MOD_CGI_H
#define WEBSERV_MOD_CGI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "webserv/module.h"
#include "cgi_env.h"
#include "cgi_header.h"
#include "spool.h"

#define CGI_READ_CHUNK 16384     /* stdout is read and passed on in pieces of this size */
#define CGI_STDERR_LINE_MAX 1024 /* longer stderr lines are cut */
#define CGI_LINGER_MS 1000       /* after stdout EOF, wait this long for the exit status */
#define CGI_DEFAULT_TIMEOUT_MS 30000

extern const ws_host *cgi_host;
/* Server-wide counters (ABI 1.2 host->counter; NULL on an older core). */
extern ws_counter *cgi_spawns, *cgi_timeouts;

typedef struct cgi_conf {
    const char *const *interpreters; /* pairs: extension (".py"), program */
    size_t n_interpreters;
    const char *const *env;          /* pairs: name, value */
    size_t n_env;
    uint64_t timeout_ms;             /* 0: no timeout */
} cgi_conf;

/* Where the script is, as found by match(). */
typedef struct cgi_script {
    const char *filename;    /* root + name: SCRIPT_FILENAME */
    const char *dir;         /* its folder: the working directory */
    const char *name;        /* SCRIPT_NAME: the URL path up to the script */
    const char *path_info;   /* PATH_INFO: the rest of the path, "" if none */
    const char *interpreter; /* NULL: the file runs itself */
} cgi_script;

typedef struct cgi_req {
    ws_request *r;
    const cgi_conf *conf;
    cgi_script script;
    int over; /* the response ended (finish, error, redirect): no more response calls */

    /* the process */
    pid_t pid; /* also the process group id; 0 before the spawn */
    int exited; /* watch_child reported the exit (the core has reaped it) */
    int wait_status;

    /* the request body */
    int in_fd;          /* write end of the stdin pipe, -1 when closed */
    ws_watch *in_watch; /* for WS_EV_WRITE while the pipe is full */
    int in_waiting;     /* the body is paused until stdin is writable */
    int64_t in_left;    /* body bytes still owed to the script */
    int chunked;        /* a chunked body, collected in tmp_fd first */
    int tmp_fd;         /* stays ours: written through sp, closed at cleanup or once stdin */
    int64_t tmp_len;
    spool sp;           /* writes to tmp_fd on the core's pool (lib/spool), set up for chunked bodies */

    /* stdout */
    int out_fd;
    ws_watch *out_watch;
    int out_paused; /* the client's queue is full: not reading until on_writable */
    int out_eof;
    char *hbuf;     /* the header block as it arrives (CGI_HEADER_MAX) */
    size_t hlen;
    int head_done;  /* the header block is parsed */
    cgi_head *pending; /* a local Location waiting for EOF (§6.2.2), else NULL */
    int wrote;      /* body bytes were handed to the host */
    int64_t length; /* the script's Content-Length, -1 if none */
    int64_t sent;
    int extra_logged;

    /* stderr */
    int err_fd;
    ws_watch *err_watch;
    char *eline;
    size_t elen;
    int eskip; /* the rest of an over-long line is being dropped */

    /* timeout */
    ws_timer *timer;
    uint64_t last_ms; /* last progress, monotonic */
} cgi_req;

/* cgi_config.c */
int cgi_configure(const ws_settings *s, const ws_location_info *loc, const void **conf);
const char *cgi_interpreter_for(const cgi_conf *conf, const char *filename);

/* cgi_script.c: 1 and *out filled when the path leads to a script this
 * location runs, else 0. Allocates from the request. */
int cgi_find_script(ws_request *r, const cgi_conf *conf, cgi_script *out);

/* cgi_env.c (shared with the fastcgi module, cgi_env.h): the script's
 * environment, NULL-terminated; content_length < 0 leaves CONTENT_LENGTH
 * unset (no body). NULL when out of memory. */
static inline char **cgi_build_env(ws_request *r, const cgi_conf *conf, const cgi_script *s, int64_t content_length)
{
    cgi_env_script es = {.filename = s->filename, .name = s->name, .path_info = s->path_info};
    return cgi_env_build(cgi_host, r, conf->env, conf->n_env, &es, content_length);
}

/* cgi_process.c */
/* Start the script. stdin_fd >= 0 becomes its stdin (the parent keeps it);
 * -1 makes a pipe whose write end goes to c->in_fd. 0, or an errno value. */
int cgi_spawn(cgi_req *c, int stdin_fd, int64_t content_length);
void cgi_kill(cgi_req *c); /* SIGKILL to the process group, unless already reaped */
void cgi_close_fd(int *fd, ws_watch **w);

/* cgi_input.c */
int cgi_input_start(cgi_req *c); /* handle(): spawn now, or collect a chunked body first; 0 or a status */
size_t cgi_on_body(ws_request *r, const char *data, size_t len);
void cgi_on_body_end(ws_request *r);

/* cgi_output.c */
void cgi_stdout_cb(ws_request *r, int fd, unsigned events, void *arg);
void cgi_on_writable(ws_request *r);
void cgi_finalize(cgi_req *c); /* stdout is at EOF and the exit is known (or overdue) */

/* cgi_stderr.c */
void cgi_stderr_cb(ws_request *r, int fd, unsigned events, void *arg);
void cgi_stderr_drain(cgi_req *c); /* read what is left and log the last partial line */

/* mod_cgi.c */
void cgi_fail(cgi_req *c, int status); /* kill, then host->error (once) */
void cgi_progress(cgi_req *c);          /* the script made progress: the timeout restarts */
void cgi_arm_timer(cgi_req *c, uint64_t ms);
void cgi_child_exited(ws_request *r, pid_t pid, int wait_status, void *arg);

#endif

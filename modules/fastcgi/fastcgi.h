/*
 * mod_fastcgi internals. One file per job:
 *   mod_fastcgi.c   descriptor, match/handle/cleanup, the exchange's callbacks
 *   fcgi_config.c   the "fastcgi" settings object
 *   fcgi_script.c   which file is the script (index, split_path, extensions)
 *   fcgi_send.c     BEGIN_REQUEST, FCGI_PARAMS (the cgi module's meta-variables), stdin streamed
 *   fcgi_spool.c    a body without a length (chunked, or HTTP/2 without Content-Length):
 *                   collected in an unnamed temporary file, then sent as STDIN from it
 *   fcgi_recv.c     STDOUT as a CGI header block then the body, STDERR to the log, END_REQUEST
 *   fcgi_record.c   the record codec and parser (pure)
 * The connection and the flow around it (balancing, health, pool, retries,
 * timeouts, sending obuf, reading) is lib/upstream (up_exchange.h).
 */
#ifndef WEBSERV_MOD_FASTCGI_H
#define WEBSERV_MOD_FASTCGI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgi_env.h"
#include "cgi_header.h"
#include "fcgi_record.h"
#include "spool.h"
#include "up_exchange.h"
#include "webserv/module.h"

#define FCGI_REQUEST_ID 1        /* one request per connection at a time (no multiplexing) */
#define FCGI_IN_BUF 16384        /* bytes read from the application at a time */
#define FCGI_STDIN_PIECE 32768   /* request body bytes framed per on_body call */
#define FCGI_STDERR_LINE_MAX 1024
#define FCGI_FILE_PIECE FCGI_STDIN_PIECE /* spooled body bytes read (off the loop) per STDIN record */

extern const ws_host *fcgi_host;

typedef struct fcgi_conf {
    const ws_upstream *upstream;
    const char *index;              /* appended to a folder's path */
    int split_path;                 /* PATH_INFO after the script */
    const char *const *extensions;  /* what names a script (".php") */
    size_t n_extensions;
    const char *const *env;         /* extra params: name, value, … */
    size_t n_env;
} fcgi_conf;

typedef struct fcgi_req {
    up_exchange x;     /* connection, retries, timeouts, obuf and its flushing (lib/upstream);
                          x.obuf: BEGIN + PARAMS (+ empty STDIN) as the head, then STDIN records */
    ws_request *r;
    const fcgi_conf *conf;
    cgi_env_script script;
    int keep_conn;     /* FCGI_KEEP_CONN was asked for */

    /* to the application */
    int has_body;
    int64_t body_length; /* CONTENT_LENGTH: the request's, or the spooled body's size; -1 without a body */

    /* a body without a length, spooled first (fcgi_spool.c) */
    int spooled;
    int tmp_fd;        /* the unnamed temporary file, -1 when none */
    spool sp;          /* its writes, on the core's pool */
    int64_t file_off;  /* the next byte of it to send as STDIN */
    int file_reading;  /* a read of the file is on the pool */
    unsigned file_gen; /* bumped by a retry: a read started before it is stale */
    char *fbuf;        /* FCGI_FILE_PIECE: what the read brings */
    ssize_t fgot;      /* its result: bytes, or -errno */
    int64_t fat;       /* its offset */
    unsigned fgen;     /* file_gen when it started */

    /* from the application */
    uint8_t *ibuf;     /* FCGI_IN_BUF (upx_buffer) */
    size_t ilen, ioff;
    fcgi_parser parser; /* x.ended: END_REQUEST seen */
    char *hbuf;        /* the header block as it arrives (CGI_HEADER_MAX) */
    size_t hlen;
    int head_done;
    int64_t length;    /* the application's Content-Length, -1 if none */
    int64_t sent;
    char eline[FCGI_STDERR_LINE_MAX + 1];
    size_t elen;
} fcgi_req;

/* fcgi_config.c */
int fcgi_configure(const ws_settings *s, const ws_location_info *loc, const void **conf);

/* fcgi_script.c: 1 and c->script set when the request names a script here. */
int fcgi_find_script(ws_request *r, const fcgi_conf *conf, cgi_env_script *out);

/* fcgi_send.c */
int fcgi_build_head(fcgi_req *c);   /* BEGIN_REQUEST + PARAMS (+ empty STDIN without a body): 0 or -1 */
size_t fcgi_on_body(ws_request *r, const char *data, size_t len);
void fcgi_on_body_end(ws_request *r);

/* fcgi_spool.c */
int fcgi_spool_start(fcgi_req *c);                  /* the temporary file and read_body: 0 or a status */
size_t fcgi_spool_body(fcgi_req *c, const char *data, size_t len);
void fcgi_spool_end(fcgi_req *c);                   /* all of the body came: connect once it is on the disk */
int fcgi_spool_next(up_exchange *x);                /* obuf drained: 1 if a STDIN record was queued at once */
void fcgi_spool_rewind(fcgi_req *c);                /* a retry: the file is sent again from its start */
void fcgi_spool_free(fcgi_req *c);                  /* cleanup */
void fcgi_put_record(fcgi_req *c, int type, const void *data, size_t n);

/* fcgi_recv.c */
void fcgi_process_input(fcgi_req *c); /* parse ibuf[ioff..ilen) until it is empty or the client is full */
void fcgi_on_writable(ws_request *r);

/* mod_fastcgi.c */
void fcgi_fail(fcgi_req *c, int status, const char *why); /* drop the connection; error once */
void fcgi_done(fcgi_req *c);                               /* END_REQUEST: finish, pool the connection */
void fcgi_connect(fcgi_req *c);                            /* connect once the spooled body is complete */

#endif

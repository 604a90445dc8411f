/*
 * Error log (levelled lines with time, level and a stable message id) and
 * access log (Combined Log Format).
 */
#ifndef WEBSERV_LOG_H
#define WEBSERV_LOG_H

#include <stdarg.h>

#include "webserv/module.h" /* enum ws_log_level */

/* "stderr" or a file path (appended). 0 or -1 with errno. */
int log_open_error(const char *target, int level);
int log_open_access(const char *target); /* NULL = off, "stdout", or a file */
int log_reopen(void);                    /* after rotation (SIGUSR1) */
int log_level(void);

/* One error-log line: "2026-11-30T00:00:00Z [error] [WS1234] message". `id`
 * is a stable, greppable message id such as "WS0100". */
void log_msg(int level, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *id, const char *fmt, va_list ap);

/* The request the worker is working for, so that every error-log line about
 * it says which one and at what step, e.g.
 *   "... request body too large, client: 127.0.0.1:51234, request: "PUT /up HTTP/1.1", while reading the body"
 * The layer that runs a request points the log at the request's own context
 * (log_context_set) and updates `doing` as it goes; NULL when the worker is
 * not working for a request. The strings must live as long as the context. */
typedef struct log_ctx {
    const char *client;     /* address text */
    unsigned port;
    const char *request;    /* the request line */
    const char *doing;      /* "reading the body", "running the handler", … */
} log_ctx;

/* Set the current context; returns the previous one (to restore). */
const log_ctx *log_context_set(const log_ctx *ctx);
const log_ctx *log_context_get(void);

/* A trace of the core's steps for debugging, compiled in only with the CMake
 * option WEBSERV_TRACE (then logged at debug level, message id WS0009).
 * Without it, the call is dead code the compiler drops: the arguments are
 * never evaluated, but still type-checked against the format. */
#ifdef WEBSERV_TRACE
#define WS_TRACE(...) log_msg(WS_LOG_DEBUG, "WS0009", __VA_ARGS__)
#else
#define WS_TRACE(...)                                  \
    do {                                               \
        if (0)                                         \
            log_msg(WS_LOG_DEBUG, "WS0009", __VA_ARGS__); \
    } while (0)
#endif

/* Access-log line already formatted by the caller (access_log.c). */
void log_access_line(const char *line, size_t n);
int log_access_enabled(void);

#endif

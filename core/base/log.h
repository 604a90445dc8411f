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

/* Access-log line already formatted by the caller (access_log.c). */
void log_access_line(const char *line, size_t n);
int log_access_enabled(void);

#endif

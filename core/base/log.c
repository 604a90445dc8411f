/*
 * Error log and access log.
 *
 * Each line goes out in ONE write-type system call, so lines from several
 * worker processes sharing a file opened with O_APPEND (or a pipe, for lines
 * up to PIPE_BUF) never interleave. Logging must never stall the event loop:
 * on a pipe, tty or socket we only write when the fd is writable right now,
 * and a line that cannot be written at once is dropped.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Lines longer than this are cut with "…". 4096 is PIPE_BUF on Linux, the
 * largest write to a pipe that the kernel keeps atomic. */
#define LOG_LINE_MAX 4096

enum sink_kind { SINK_FILE, SINK_PIPE, SINK_SOCKET };

/* Where a log goes. path is set only for files we opened, which are the
 * only ones log_reopen touches. */
typedef struct log_sink {
    int fd; /* -1 = off */
    enum sink_kind kind;
    char *path;
} log_sink;

static log_sink err_sink = {2, SINK_PIPE, NULL};
static log_sink acc_sink = {-1, SINK_FILE, NULL};
static int err_level = WS_LOG_INFO;
static int err_kind_known; /* stderr's kind is looked up on first use */

/* ---- sinks ---- */

/* Regular files never block for long; anything else (pipe, tty, socket)
 * is written only when ready. Sockets get send(MSG_DONTWAIT). */
static enum sink_kind kind_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
        return SINK_FILE;
    return S_ISSOCK(st.st_mode) ? SINK_SOCKET : SINK_PIPE;
}

static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
}

static void sink_close(log_sink *s)
{
    if (s->path && s->fd >= 0)
        close(s->fd);
    free(s->path);
    s->path = NULL;
    s->fd = -1;
}

/* Point s at "stderr"/"stdout" (never closed or reopened) or at a file. */
static int sink_open(log_sink *s, const char *target)
{
    int fd;
    char *path = NULL;
    if (strcmp(target, "stderr") == 0) {
        fd = 2;
    } else if (strcmp(target, "stdout") == 0) {
        fd = 1;
    } else {
        path = strdup(target);
        if (!path)
            return -1;
        fd = open_log_file(target);
        if (fd < 0) {
            int e = errno;
            free(path);
            errno = e;
            return -1; /* the old sink stays in place */
        }
    }
    sink_close(s);
    s->fd = fd;
    s->path = path;
    s->kind = kind_of(fd);
    return 0;
}

/* Writes at most once; retries only on EINTR. Returns 0 or -1. */
static int sink_write(const log_sink *s, const struct iovec *iov, int iovcnt)
{
    if (s->fd < 0)
        return -1;
    if (s->kind == SINK_PIPE) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
        int r;
        while ((r = poll(&pfd, 1, 0)) < 0 && errno == EINTR)
            ;
        if (r <= 0 || !(pfd.revents & POLLOUT))
            return -1; /* full or gone: drop the line */
    }
    ssize_t n;
    if (s->kind == SINK_SOCKET) {
        struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        while ((n = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
            ;
    } else {
        while ((n = writev(s->fd, iov, iovcnt)) < 0 && errno == EINTR)
            ;
    }
    return n < 0 ? -1 : 0;
}

/* ---- error log ---- */

int log_open_error(const char *target, int level)
{
    if (level < WS_LOG_ERROR || level > WS_LOG_DEBUG) {
        errno = EINVAL;
        return -1;
    }
    if (sink_open(&err_sink, target ? target : "stderr") < 0)
        return -1;
    err_kind_known = 1;
    err_level = level;
    return 0;
}

int log_level(void) { return err_level; }

static const char *level_name(int level)
{
    switch (level) {
    case WS_LOG_ERROR:
        return "error";
    case WS_LOG_WARN:
        return "warn";
    case WS_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

/* "2026-11-30T00:08:36Z", reformatted only when the second changes. */
static const char *timestamp(void)
{
    static char buf[80]; /* room for any int the compiler can imagine */
    static time_t cached = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != cached) {
        struct tm tm;
        if (!gmtime_r(&ts.tv_sec, &tm))
            memset(&tm, 0, sizeof tm);
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached = ts.tv_sec;
    }
    return buf;
}

/* Control characters would let a logged value (a path, a header, a CGI
 * stderr line) forge extra log lines, so they are written as \xHH. */
static size_t escape_controls(char *dst, size_t cap, const char *src, size_t n, int *cut)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        int ctl = (c < 0x20 && c != '\t') || c == 0x7f;
        size_t need = ctl ? 4 : 1;
        if (o + need > cap) {
            *cut = 1;
            break;
        }
        if (ctl) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    return o;
}

/* Drop a trailing incomplete UTF-8 sequence so "…" never splits a
 * character: back up over continuation bytes to the lead byte and keep the
 * sequence only if the lead byte says it is complete. */
static size_t utf8_boundary(const char *s, size_t n)
{
    size_t cont = 0;
    while (cont < n && cont < 3 && ((unsigned char)s[n - 1 - cont] & 0xc0) == 0x80)
        cont++;
    if (cont == n)
        return n;
    unsigned char lead = (unsigned char)s[n - 1 - cont];
    size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (want == 1)
        return n - cont; /* ASCII followed by stray continuation bytes */
    return cont + 1 == want ? n : n - cont - 1;
}

static const log_ctx *cur_ctx;

const log_ctx *log_context_set(const log_ctx *ctx)
{
    const log_ctx *old = cur_ctx;
    cur_ctx = ctx;
    return old;
}

const log_ctx *log_context_get(void)
{
    return cur_ctx;
}

static void append(char *out, size_t cap, size_t *o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *out, size_t cap, size_t *o, const char *fmt, ...)
{
    if (*o + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *o, cap - *o, fmt, ap);
    va_end(ap);
    if (n > 0)
        *o += (size_t)n < cap - *o ? (size_t)n : cap - *o - 1;
}

/* ", client: A:P, request: "R", while D" after the message (what is known). */
static size_t context_suffix(char *out, size_t cap, const log_ctx *c)
{
    size_t o = 0;
    if (c->client && strchr(c->client, ':'))
        append(out, cap, &o, ", client: [%s]:%u", c->client, c->port); /* IPv6 */
    else if (c->client)
        append(out, cap, &o, ", client: %s:%u", c->client, c->port);
    if (c->request)
        append(out, cap, &o, ", request: \"%.512s\"", c->request);
    if (c->doing)
        append(out, cap, &o, ", while %s", c->doing);
    return o;
}

void log_vmsg(int level, const char *id, const char *fmt, va_list ap)
{
    /* The level test comes first: debug calls cost one comparison. */
    if (level > err_level)
        return;
    if (!err_kind_known) {
        err_sink.kind = kind_of(err_sink.fd);
        err_kind_known = 1;
    }
    char msg[LOG_LINE_MAX];
    int m = vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    int cut = m >= (int)sizeof msg;
    size_t mlen = m < 0 ? 0 : cut ? sizeof msg - 1 : (size_t)m;
    if (!cut && mlen > 0 && msg[mlen - 1] == '\n')
        mlen--; /* a habitual trailing newline is not part of the message */
    if (cur_ctx && !cut)
        mlen += context_suffix(msg + mlen, sizeof msg - mlen, cur_ctx);

    static const char ellipsis[] = "\xe2\x80\xa6"; /* "…" */
    char line[LOG_LINE_MAX];
    int h = snprintf(line, sizeof line, "%s [%s] [%s] ", timestamp(), level_name(level < 0 ? 0 : level),
                     id && *id ? id : "-");
    if (h < 0 || (size_t)h >= sizeof line / 2)
        return;
    size_t room = sizeof line - (size_t)h - (sizeof ellipsis - 1) - 1; /* keep space for "…\n" */
    size_t o = (size_t)h;
    size_t used = escape_controls(line + o, room, msg, mlen, &cut);
    if (cut)
        used = utf8_boundary(line + o, used);
    o += used;
    if (cut) {
        memcpy(line + o, ellipsis, sizeof ellipsis - 1);
        o += sizeof ellipsis - 1;
    }
    line[o++] = '\n';
    struct iovec iov = {.iov_base = line, .iov_len = o};
    (void)sink_write(&err_sink, &iov, 1);
}

void log_msg(int level, const char *id, const char *fmt, ...)
{
    if (level > err_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, id, fmt, ap);
    va_end(ap);
}

/* ---- access log ---- */

int log_open_access(const char *target)
{
    if (!target || strcmp(target, "off") == 0) {
        sink_close(&acc_sink);
        return 0;
    }
    return sink_open(&acc_sink, target);
}

int log_access_enabled(void) { return acc_sink.fd >= 0; }

void log_access_line(const char *line, size_t n)
{
    if (acc_sink.fd < 0 || !line)
        return;
    /* The newline rides in the same writev when the caller left it off. */
    struct iovec iov[2] = {{.iov_base = (void *)line, .iov_len = n}, {.iov_base = "\n", .iov_len = 1}};
    int cnt = n > 0 && line[n - 1] == '\n' ? 1 : 2;
    (void)sink_write(&acc_sink, iov, cnt);
}

/* ---- rotation ---- */

/* Reopen by path and swap the new file onto the old descriptor number with
 * dup3, so there is no moment without a log fd. On failure the old file
 * keeps receiving lines (better than losing them). */
static int sink_reopen(log_sink *s)
{
    if (!s->path || s->fd < 0)
        return 0;
    int fd = open_log_file(s->path);
    if (fd < 0)
        return -1;
    int r = dup3(fd, s->fd, O_CLOEXEC);
    int e = errno;
    close(fd);
    if (r < 0) {
        errno = e;
        return -1;
    }
    s->kind = kind_of(s->fd);
    return 0;
}

int log_reopen(void)
{
    int r = 0;
    if (sink_reopen(&err_sink) < 0) {
        r = -1;
        log_msg(WS_LOG_ERROR, "WS0010", "cannot reopen error log %s: %s", err_sink.path, strerror(errno));
    }
    if (sink_reopen(&acc_sink) < 0) {
        r = -1;
        log_msg(WS_LOG_ERROR, "WS0011", "cannot reopen access log %s: %s", acc_sink.path, strerror(errno));
    }
    return r;
}

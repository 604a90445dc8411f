/*
 * The flow of one exchange with an upstream (up_exchange.h says what it
 * does). Everything here runs on the event loop of the request's worker.
 */
#include "up_exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void upx_init(up_exchange *x, const ws_host *host, ws_request *r, const char *name, const ws_upstream *u,
              const up_exchange_ops *ops, void *arg)
{
    x->host = host;
    x->r = r;
    x->name = name;
    x->ops = ops;
    x->arg = arg;
    x->up.fd = -1;
    x->up.host = host;
    x->up.r = r;
    x->up.u = u;
    x->up.arg = x;
    x->send_ms = u->send_ms;
    x->read_ms = u->read_ms;
    x->retries = u->n_servers; /* every server once */
}

void upx_update_watch(up_exchange *x)
{
    if (!x->w)
        return;
    unsigned ev = 0;
    if (!x->out_paused && !x->ended)
        ev |= WS_EV_READ;
    if (x->ooff < x->olen)
        ev |= WS_EV_WRITE;
    x->host->watch_set(x->w, ev);
}

static void on_timeout(ws_request *r, void *arg);

static void stop_io(up_exchange *x)
{
    if (x->w)
        x->host->watch_remove(x->w);
    if (x->timer)
        x->host->timer_stop(x->timer);
    x->w = NULL;
    x->timer = NULL;
}

void upx_fail(up_exchange *x, int status, const char *why)
{
    x->host->log(WS_LOG_ERROR, x->r, "%s upstream \"%s\" (%s): %s", x->name, x->up.u->name,
                 x->up.server ? x->up.server->address : "-", why);
    stop_io(x);
    if (status >= 502)
        up_failed(&x->up); /* the server's fault: counts toward max_fails */
    else
        up_release(&x->up, 0);
    if (!x->over) {
        x->over = 1;
        x->host->error(x->r, status); /* a page, or a closed connection once the head is out */
    }
}

void upx_done(up_exchange *x, int reusable)
{
    /* Released while the watch still holds the fd: the pool's idle watch
     * takes it over (stop_io then finds it without an fd). */
    up_succeeded(&x->up);
    up_release(&x->up, reusable);
    stop_io(x);
    x->over = 1;
    x->host->finish(x->r);
}

void upx_cleanup(up_exchange *x)
{
    stop_io(x);
    up_release(&x->up, 0); /* still in flight: closed, never reused */
    for (size_t i = 0; i < sizeof x->heap / sizeof x->heap[0]; i++) {
        free(x->heap[i]);
        x->heap[i] = NULL;
    }
}

void *upx_buffer(up_exchange *x, size_t n)
{
    for (size_t i = 0; i < sizeof x->heap / sizeof x->heap[0]; i++)
        if (!x->heap[i])
            return x->heap[i] = malloc(n);
    return NULL;
}

/* The timeout counts time without progress. Progress only notes the time:
 * restarting a timer for every read and write cost more than the rest of
 * the exchange's bookkeeping. The timer, when it fires, starts again for
 * what is left, or the exchange times out. */
static uint64_t wait_ms(const up_exchange *x)
{
    return x->ooff < x->olen ? x->send_ms : x->read_ms;
}

static void start_timer(up_exchange *x, uint64_t ms)
{
    if (x->timer)
        x->host->timer_stop(x->timer);
    x->timer = x->host->timer_start(x->r, ms, on_timeout, x);
    x->timer_due = x->timer ? up_now_ms() + ms : 0;
}

static void on_timeout(ws_request *r, void *arg)
{
    (void)r;
    up_exchange *x = arg;
    x->timer = NULL;
    if (x->over || x->out_paused)
        return;
    uint64_t ms = wait_ms(x), idle = up_now_ms() - x->last_ms;
    if (!ms)
        return; /* no timeout for this wait; the next progress arms one if due */
    if (idle < ms) {
        start_timer(x, ms - idle);
        return;
    }
    upx_fail(x, 504, x->ooff < x->olen ? "send timeout" : "read timeout");
}

void upx_arm_timer(up_exchange *x)
{
    x->last_ms = up_now_ms();
    if (x->over || x->out_paused) {
        /* waiting for the client is the core's send timeout */
        if (x->timer)
            x->host->timer_stop(x->timer);
        x->timer = NULL;
        return;
    }
    uint64_t ms = wait_ms(x);
    if (ms && (!x->timer || x->timer_due > x->last_ms + ms))
        start_timer(x, ms); /* none yet, or due later than this wait allows */
}

/* ---- to the upstream ---- */

void upx_flush(up_exchange *x)
{
again:
    while (x->up.fd >= 0 && x->ooff < x->olen) {
        ssize_t n = send(x->up.fd, x->obuf + x->ooff, x->olen - x->ooff, MSG_NOSIGNAL);
        if (n > 0) {
            x->ooff += (size_t)n;
            upx_arm_timer(x);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* Reset or closed: what it already answered may still be readable. */
        if (!upx_retry(x, n < 0 ? strerror(errno) : "closed"))
            upx_fail(x, 502, "the upstream closed the connection while the request was sent");
        return;
    }
    if (x->up.fd < 0 || x->over)
        return;
    if (x->ooff == x->olen && !x->body_done && x->w && x->ops->refill && x->ops->refill(x))
        goto again;
    if (x->up.fd < 0 || x->over)
        return;
    if (x->ooff == x->olen && x->body_started)
        x->ooff = x->olen = 0;
    upx_update_watch(x);
    if (x->ooff == x->olen && x->body_paused && !x->in_on_body) {
        x->body_paused = 0;
        x->host->body_resume(x->r); /* never from inside on_body: the core pauses after it returns */
    }
}

size_t upx_body(up_exchange *x, const char *data, size_t len, size_t piece,
                void (*frame)(up_exchange *x, const char *data, size_t n))
{
    if (!x->body_started && x->up.fd >= 0 && x->w && x->ooff == x->olen) {
        x->body_started = 1; /* from now on a failure cannot be retried: the body is gone */
        x->olen = x->ooff = 0;
    }
    /* Frame and write pieces while the upstream takes them. What is not
     * consumed is offered again after body_resume, which upx_flush calls
     * once obuf drains. */
    size_t done = 0;
    x->in_on_body = 1;
    while (done < len && x->body_started && x->up.fd >= 0 && !x->over && x->ooff == x->olen) {
        size_t n = len - done < piece ? len - done : piece;
        frame(x, data + done, n);
        done += n;
        upx_flush(x);
    }
    x->in_on_body = 0;
    if (done < len && !x->over)
        x->body_paused = 1;
    return x->over ? len : done;
}

void upx_body_end(up_exchange *x, void (*last)(up_exchange *x))
{
    if (!last) {
        x->body_done = 1;
        return;
    }
    if (!x->body_started) {
        x->body_started = 1;
        if (x->ooff == x->olen)
            x->olen = x->ooff = 0;
    }
    last(x);
    x->body_done = 1;
    upx_flush(x);
}

/* ---- from the upstream ---- */

static void read_input(up_exchange *x)
{
    for (int rounds = 0; rounds < 8 && !x->over && !x->out_paused && !x->ended; rounds++) {
        char *buf;
        size_t room = x->ops->in_buf(x, &buf);
        if (!room)
            return;
        ssize_t n = recv(x->up.fd, buf, room, 0);
        if (n > 0) {
            x->got_any = 1;
            upx_arm_timer(x);
            x->ops->input(x, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        x->ops->closed(x, n == 0 ? 0 : errno);
        return;
    }
}

static void io_event(ws_request *r, int fd, unsigned events, void *arg)
{
    (void)r;
    (void)fd;
    up_exchange *x = arg;
    if (events & WS_EV_WRITE)
        upx_flush(x);
    if (!x->over && x->w && (events & (WS_EV_READ | WS_EV_ERROR)))
        read_input(x);
}

/* ---- connecting and retrying ---- */

static void connected(up_exchange *x)
{
    x->w = up_watch(&x->up, io_event, x); /* a pooled connection's registration taken over */
    if (!x->w) {
        upx_fail(x, 500, "out of memory");
        return;
    }
    upx_arm_timer(x);
    upx_flush(x);
}

static int start(up_exchange *x, int allow_pooled, int in_handle);

static void connect_done(up_conn *u, int err)
{
    up_exchange *x = u->arg;
    if (err == 0)
        connected(x);
    else
        start(x, 1, 0); /* the next server */
}

static int start(up_exchange *x, int allow_pooled, int in_handle)
{
    x->up.done = connect_done;
    int rc = up_connect(&x->up, allow_pooled);
    if (rc == UP_NONE) {
        x->host->log(WS_LOG_ERROR, x->r, "%s upstream \"%s\": no server could be reached", x->name, x->up.u->name);
        if (in_handle)
            return 502;
        if (!x->over) {
            x->over = 1;
            x->host->error(x->r, 502);
        }
        return -1;
    }
    if (!x->prepared) {
        x->prepared = 1;
        if (x->ops->prepare && x->ops->prepare(x) < 0) {
            if (in_handle)
                return 500; /* cleanup closes the connection */
            upx_fail(x, 500, "out of memory");
            return -1;
        }
    }
    if (rc == UP_READY)
        connected(x);
    return 0;
}

int upx_connect(up_exchange *x, int in_handle)
{
    return start(x, 1, in_handle);
}

static int idempotent(const char *m)
{
    /* RFC 9110 §9.2.2 */
    static const char *const ok[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL};
    for (const char *const *p = ok; *p; p++)
        if (strcmp(m, *p) == 0)
            return 1;
    return 0;
}

/* The connection failed before any answer byte and before any body byte
 * was consumed: the same request can go again. A pooled connection the
 * server had closed meanwhile is retried on a fresh one to the same server
 * (not counted as a failure); a fresh connection only for idempotent
 * methods, on the next server, at most `retries` times. */
int upx_retry(up_exchange *x, const char *why)
{
    if (x->got_any || x->body_started || x->over)
        return 0;
    int reused = x->up.reused;
    if (!reused && (!idempotent(x->r->method) || x->tries >= x->retries))
        return 0;
    x->host->log(reused ? WS_LOG_DEBUG : WS_LOG_WARN, x->r, "%s upstream %s: %s: trying again", x->name,
                 x->up.server ? x->up.server->address : "-", why);
    stop_io(x);
    if (reused) {
        up_release(&x->up, 0);
        up_forget_try(&x->up);
    } else {
        x->tries++;
        up_failed(&x->up);
    }
    x->ooff = 0;
    x->olen = x->head_len;
    if (x->ops->rewind)
        x->ops->rewind(x);
    start(x, !reused, 0);
    return 1;
}

/*
 * Tests of the test host itself, through a tiny inline module whose
 * behaviour is picked by the request path: a synchronous answer, timers, an
 * fd watch on a pipe, a paused and resumed body, output backpressure, and
 * real child processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testhost.h"

static const ws_host *H;
static int pipe_rd = -1;           /* the read end the /pipe handler watches */
static pid_t last_child = -1;      /* the child /child and /sleeper started */
static int cleanup_saw_how = -1;

typedef struct conf {
    const char *greeting;
    long long n;
} conf;

typedef struct state {
    char *buf; /* collected body */
    size_t len, cap;
    int chunks;
    ws_timer *timer;
} state;

static int tm_init(const ws_host *h)
{
    H = h;
    return 0;
}

static int tm_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    conf *c = H->cfg_alloc(s, sizeof *c);
    c->greeting = "hello";
    c->n = 3;
    if (H->cfg_string(s, "greeting", &c->greeting) < 0 || H->cfg_int(s, "n", 1, 100, &c->n) < 0)
        return -1;
    if (strcmp(loc->path, "/refuse") == 0) {
        H->cfg_error(s, NULL, "refused");
        return -1;
    }
    *out = c;
    return 0;
}

static int tm_match(ws_request *r) { return strncmp(r->path, "/no", 3) == 0 ? WS_DECLINE : WS_TAKE; }

static void answer(ws_request *r, const char *text)
{
    H->set_status(r, 200);
    H->add_header(r, "Content-Type", "text/plain");
    H->set_length(r, (int64_t)strlen(text));
    H->write(r, text, strlen(text));
    H->finish(r);
}

static void on_timer(ws_request *r, void *arg)
{
    answer(r, arg);
}

static void on_pipe(ws_request *r, int fd, unsigned ev, void *arg)
{
    (void)arg;
    state *st = r->ctx;
    char buf[64];
    ssize_t n = (ev & WS_EV_READ) ? read(fd, buf, sizeof buf) : 0;
    if (n > 0) {
        H->write(r, buf, (size_t)n);
        return;
    }
    if (n < 0 && errno == EAGAIN)
        return;
    (void)st;
    H->finish(r); /* EOF or hang-up */
}

static void resume_body(ws_request *r, void *arg)
{
    (void)arg;
    H->body_resume(r);
}

static size_t tm_on_body(ws_request *r, const char *data, size_t len)
{
    state *st = r->ctx;
    size_t take = len < 3 ? len : 3; /* take a little, then pause until a timer resumes */
    if (st->len + take > st->cap) {
        size_t cap = (st->cap + take) * 2;
        char *b = H->alloc(r, cap);
        if (st->len)
            memcpy(b, st->buf, st->len);
        st->buf = b;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, data, take);
    st->len += take;
    st->chunks++;
    if (take < len)
        H->timer_start(r, 1, resume_body, NULL);
    return take;
}

static void tm_on_body_end(ws_request *r)
{
    state *st = r->ctx;
    H->set_status(r, 200);
    H->write(r, st->buf ? st->buf : "", st->len);
    H->finish(r);
}

/* Backpressure: write "x" chunks until the queue is full, finish after 5. */
static void tm_on_writable(ws_request *r)
{
    state *st = r->ctx;
    while (st->chunks < 5) {
        st->chunks++;
        if (H->write(r, "x", 1) == WS_AGAIN)
            return;
    }
    H->finish(r);
}

static void on_child(ws_request *r, pid_t pid, int status, void *arg)
{
    (void)arg;
    char text[64];
    snprintf(text, sizeof text, "%d exited %d", pid == last_child, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    answer(r, text);
}

static int tm_handle(ws_request *r)
{
    const conf *c = r->conf;
    state *st = H->alloc(r, sizeof *st);
    r->ctx = st;
    if (strcmp(r->path, "/sync") == 0) {
        char text[64];
        snprintf(text, sizeof text, "%s %lld", c ? c->greeting : "none", c ? c->n : 0);
        answer(r, text);
    } else if (strcmp(r->path, "/timer") == 0) {
        H->timer_start(r, 30, on_timer, "late");
        H->timer_start(r, 10, on_timer, "early");
    } else if (strcmp(r->path, "/stop") == 0) {
        st->timer = H->timer_start(r, 10, on_timer, "never");
        H->timer_stop(st->timer);
    } else if (strcmp(r->path, "/pipe") == 0) {
        if (!H->watch_fd(r, pipe_rd, WS_EV_READ, on_pipe, NULL))
            return 500;
    } else if (strcmp(r->path, "/body") == 0) {
        H->read_body(r);
    } else if (strcmp(r->path, "/bp") == 0) {
        H->set_status(r, 200);
        tm_on_writable(r);
    } else if (strcmp(r->path, "/child") == 0 || strcmp(r->path, "/sleeper") == 0) {
        int sleeper = r->path[1] == 's';
        pid_t pid = fork();
        if (pid == 0) {
            if (sleeper)
                pause();
            _exit(7);
        }
        last_child = pid;
        H->watch_child(r, pid, on_child, NULL);
    } else if (strcmp(r->path, "/error") == 0) {
        H->error(r, 503);
    } else {
        return 404;
    }
    return 0;
}

static void tm_cleanup(ws_request *r, int how)
{
    (void)r;
    cleanup_saw_how = how;
    if (strcmp(r->path, "/sleeper") == 0 && last_child > 0)
        kill(last_child, SIGKILL); /* as the cgi module would: the host reaps it */
}

static const char *const tm_methods[] = {"GET", "POST", NULL};
static const ws_module tm_module = {
    WS_MODULE_HEADER,
    .name = "tm",
    .methods = tm_methods,
    .init = tm_init,
    .configure = tm_configure,
    .match = tm_match,
    .handle = tm_handle,
    .on_body = tm_on_body,
    .on_body_end = tm_on_body_end,
    .on_writable = tm_on_writable,
    .cleanup = tm_cleanup,
};

/* ---- helpers ---- */

static th_module *M;

static int setup(void **s)
{
    (void)s;
    M = th_load(&tm_module);
    return M ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    th_unload(M);
    return 0;
}

static const void *cfg(const char *json)
{
    char err[256];
    const void *c = th_configure(M, json, "/", "/tmp", err, sizeof err);
    if (!c)
        fail_msg("configure: %s", err);
    return c;
}

static th_request *go(const char *method, const char *target, const char *const *headers)
{
    th_request *t = th_request_new(M, cfg("{}"), method, target, headers);
    assert_non_null(t);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    return t;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- tests ---- */

static void test_configure(void **s)
{
    (void)s;
    char err[256];
    const conf *c = th_configure(M, "{\"greeting\":\"hi\",\"n\":5}", "/", NULL, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->greeting, "hi");
    assert_int_equal(c->n, 5);
    assert_null(th_configure(M, "{\"bogus\":1}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "bogus"));
    assert_non_null(strstr(err, "unknown key"));
    assert_null(th_configure(M, "{\"n\":1000}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, ".n"));
    assert_null(th_configure(M, "{}", "/refuse", NULL, err, sizeof err));
    assert_non_null(strstr(err, "refused"));
    assert_null(th_configure(M, "[1]", "/", NULL, err, sizeof err));
}

static void test_sync_response(void **s)
{
    (void)s;
    const void *c = cfg("{\"greeting\":\"hey\",\"n\":9}");
    th_request *t = th_request_new(M, c, "GET", "/sync", NULL);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 200);
    assert_true(res->finished);
    assert_string_equal(res->body, "hey 9");
    assert_int_equal(res->length, 5);
    assert_string_equal(th_header(t, "content-type"), "text/plain");
    assert_int_equal(th_run(t, 100), 0);
    /* After the head went out, the head is frozen. */
    assert_int_equal(th_host()->set_status(th_req(t), 404), WS_ERROR);
    assert_int_equal(th_host()->write(th_req(t), "x", 1), WS_ERROR);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
    assert_int_equal(res->cleanup_how, WS_END_DONE);
    assert_int_equal(cleanup_saw_how, WS_END_DONE);
}

static void test_request_fields(void **s)
{
    (void)s;
    const char *hdrs[] = {"Host: Example.COM:8080", "Content-Length: 12", "X-Thing:   spaced  ", NULL};
    th_request *t = th_request_new(M, cfg("{}"), "POST", "/a/./b//c/../d%20e/?x=1&y=%41", hdrs);
    ws_request *r = th_req(t);
    assert_string_equal(r->path, "/a/b/d e/");
    assert_string_equal(r->query, "x=1&y=%41");
    assert_string_equal(r->host, "example.com");
    assert_int_equal(r->content_length, 12);
    assert_string_equal(th_host()->header(r, "x-thing"), "spaced");
    assert_string_equal(r->root, "/tmp");
    assert_string_equal(r->fs_path, "/tmp/a/b/d e/");
    assert_int_equal(r->fs_type, WS_FS_MISSING);
    th_request_end(t); /* never dispatched: no cleanup owed */

    t = th_request_new(M, cfg("{}"), "GET", "/", (const char *[]){"Transfer-Encoding: chunked", NULL});
    assert_int_equal(th_req(t)->content_length, -1);
    assert_int_equal(th_req(t)->fs_type, WS_FS_DIR);
    th_response *res = th_response_of(t);
    th_request_end(t);
    assert_int_equal(res->cleanups, 0);
}

static void test_methods_and_decline(void **s)
{
    (void)s;
    th_request *t = th_request_new(M, cfg("{}"), "HEAD", "/sync", NULL); /* GET allows HEAD */
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_request_end(t);
    t = th_request_new(M, cfg("{}"), "DELETE", "/sync", NULL);
    assert_int_equal(th_dispatch(t), WS_DECLINE);
    th_request_end(t);
    t = th_request_new(M, cfg("{}"), "GET", "/nope", NULL);
    assert_int_equal(th_dispatch(t), WS_DECLINE);
    th_response *res = th_response_of(t);
    th_request_end(t);
    assert_int_equal(res->cleanups, 0);
}

static void test_timers(void **s)
{
    (void)s;
    uint64_t t0 = now_ms();
    th_request *t = go("GET", "/timer", NULL);
    assert_false(th_response_of(t)->finished);
    assert_int_equal(th_run(t, 2000), 0);
    assert_true(now_ms() - t0 >= 10);
    assert_string_equal(th_response_of(t)->body, "early"); /* the later timer never fires after finish */
    th_request_end(t);

    t = go("GET", "/stop", NULL);
    t0 = now_ms();
    assert_int_equal(th_run(t, 2000), -1); /* nothing left to wait for: returns at once */
    assert_true(now_ms() - t0 < 500);
    th_response *res = th_response_of(t);
    th_request_end(t);
    assert_int_equal(res->cleanup_how, WS_END_ABORTED);
}

static void test_fd_watch(void **s)
{
    (void)s;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pipe_rd = p[0];
    th_request *t = go("GET", "/pipe", NULL);
    assert_int_equal(write(p[1], "ping", 4), 4);
    assert_int_equal(th_run(t, 50), -1); /* data arrives, no EOF yet */
    assert_string_equal(th_response_of(t)->body, "ping");
    close(p[1]);
    assert_int_equal(th_run(t, 2000), 0);
    assert_true(th_response_of(t)->finished);
    th_request_end(t);
    close(p[0]);
}

static void test_body_pause_resume(void **s)
{
    (void)s;
    th_request *t = go("POST", "/body", (const char *[]){"Content-Length: 10", NULL});
    assert_true(th_response_of(t)->read_body_called);
    assert_int_equal(th_feed_body(t, "abcdefgh", 8), 3); /* took 3, paused */
    assert_int_equal(th_body_pending(t), 5);
    assert_int_equal(th_feed_body(t, "ij", 2), 0); /* still paused: buffered */
    th_end_body(t);
    assert_int_equal(th_run(t, 2000), 0);
    assert_string_equal(th_response_of(t)->body, "abcdefghij");
    assert_int_equal(th_body_pending(t), 0);
    th_request_end(t);
}

static void test_body_before_read_body(void **s)
{
    (void)s;
    /* An empty body: on_body_end comes from the loop right away. */
    th_request *t = go("POST", "/body", NULL);
    assert_false(th_response_of(t)->finished);
    assert_int_equal(th_run(t, 1000), 0);
    assert_string_equal(th_response_of(t)->body, "");
    th_request_end(t);
}

static void test_backpressure(void **s)
{
    (void)s;
    th_request *t = th_request_new(M, cfg("{}"), "GET", "/bp", NULL);
    th_set_output_full(t, 1);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    assert_int_equal(res->body_len, 1); /* the first write said WS_AGAIN */
    assert_int_equal(th_run(t, 50), -1);
    th_set_output_full(t, 0);
    th_drain(t); /* on_writable: writes the rest */
    assert_true(res->finished);
    assert_string_equal(res->body, "xxxxx");
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
}

static void test_output_limit(void **s)
{
    (void)s;
    th_request *t = th_request_new(M, cfg("{}"), "GET", "/bp", NULL);
    th_set_output_limit(t, 2); /* the queue takes two bytes per drain */
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    assert_int_equal(res->body_len, 2);
    th_drain(t);
    assert_int_equal(res->body_len, 4);
    assert_false(res->finished);
    th_drain(t);
    assert_true(res->finished);
    assert_string_equal(res->body, "xxxxx");
    th_request_end(t);
}

static void test_child(void **s)
{
    (void)s;
    th_request *t = go("GET", "/child", NULL);
    assert_int_equal(th_run(t, 5000), 0);
    assert_string_equal(th_response_of(t)->body, "1 exited 7");
    th_request_end(t);
    assert_int_equal(th_reap(0), 0);
}

static void test_child_reaped_after_abort(void **s)
{
    (void)s;
    th_request *t = go("GET", "/sleeper", NULL);
    assert_int_equal(th_run(t, 30), -1);
    th_response *res = th_response_of(t);
    th_request_abort(t); /* cleanup kills it; the host still reaps it */
    assert_int_equal(res->cleanups, 1);
    assert_int_equal(res->cleanup_how, WS_END_ABORTED);
    assert_int_equal(th_reap(5000), 0);
    assert_int_equal(kill(last_child, 0), -1); /* no zombie left */
    assert_int_equal(errno, ESRCH);
}

static void test_errors(void **s)
{
    (void)s;
    th_request *t = go("GET", "/missing", NULL);
    th_response *res = th_response_of(t);
    assert_int_equal(res->error_status, 404);
    assert_int_equal(res->status, 404);
    assert_int_equal(th_run(t, 100), 0);
    th_request_end(t);
    assert_int_equal(res->cleanup_how, WS_END_ABORTED);

    t = go("GET", "/error", NULL);
    res = th_response_of(t);
    assert_int_equal(res->error_status, 503);
    assert_false(res->finished);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
}

static void test_headers_refused(void **s)
{
    (void)s;
    th_request *t = th_request_new(M, cfg("{}"), "GET", "/x", NULL);
    ws_request *r = th_req(t);
    assert_int_equal(th_host()->add_header(r, "Content-Length", "3"), WS_ERROR);
    assert_int_equal(th_host()->add_header(r, "transfer-encoding", "chunked"), WS_ERROR);
    assert_int_equal(th_host()->add_header(r, "X-Evil", "a\r\nb: c"), WS_ERROR);
    /* The same rules as the server (core/http/header_rules.c): per-connection fields, bad names, 1xx. */
    assert_int_equal(th_host()->add_header(r, "Connection", "close"), WS_ERROR);
    assert_int_equal(th_host()->add_header(r, "Date", "today"), WS_ERROR);
    assert_int_equal(th_host()->add_header(r, "Bad Name", "x"), WS_ERROR);
    assert_int_equal(th_host()->add_header(r, "X-Ctl", "a\x01b"), WS_ERROR);
    assert_int_equal(th_host()->set_status(r, 101), WS_ERROR);
    assert_int_equal(th_host()->add_header(r, "X-Ok", "fine"), WS_OK);
    assert_string_equal(th_header(t, "x-ok"), "fine");
    th_request_end(t);
}

static void test_send_file(void **s)
{
    (void)s;
    char path[] = "/tmp/th_sendfileXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    th_request *t = th_request_new(M, cfg("{}"), "GET", "/x", NULL);
    assert_int_equal(th_host()->send_file(th_req(t), fd, 2, 5), WS_OK);
    int fd2 = open(path, O_RDONLY);
    assert_int_equal(th_host()->send_file(th_req(t), fd2, 8, -1), WS_OK);
    assert_string_equal(th_response_of(t)->body, "2345689");
    unlink(path);
    th_request_end(t);
}

/* A test that fails midway leaves its requests live (cmocka leaves it at
 * the assertion). Unloading the module ends them as aborted first, so that
 * no work or callback of theirs runs into the next test after the module's
 * code and memory are gone (a failed mod_test_upload test made the tests
 * after it crash until th_unload did this). */
static void test_unload_aborts_live_requests(void **s)
{
    (void)s;
    th_module *m = th_load(&tm_module);
    assert_non_null(m);
    char err[256];
    const void *c = th_configure(m, "{}", "/", "/tmp", err, sizeof err);
    assert_non_null(c);
    const char *h[] = {"Content-Length: 5", NULL};
    th_request *t = th_request_new(m, c, "POST", "/body", h);
    assert_non_null(t);
    assert_int_equal(th_dispatch(t), WS_TAKE); /* waits for a body that never comes */
    cleanup_saw_how = -1;
    th_unload(m);
    assert_int_equal(cleanup_saw_how, WS_END_ABORTED);
}

static void test_load_so_missing(void **s)
{
    (void)s;
    assert_null(th_load_so("/nonexistent/mod_none.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configure),
        cmocka_unit_test(test_sync_response),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_methods_and_decline),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_fd_watch),
        cmocka_unit_test(test_body_pause_resume),
        cmocka_unit_test(test_body_before_read_body),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_child),
        cmocka_unit_test(test_child_reaped_after_abort),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_headers_refused),
        cmocka_unit_test(test_send_file),
        cmocka_unit_test(test_unload_aborts_live_requests),
        cmocka_unit_test(test_load_so_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

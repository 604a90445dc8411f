/*
 * Event loop tests. Every behaviour test runs once per backend: the test's
 * prestate is the backend to use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "loop_backend.h"

static loop_backend backend_epoll = LOOP_BACKEND_EPOLL;
static loop_backend backend_poll = LOOP_BACKEND_POLL;

/* Records what one fd's callback saw. */
struct seen {
    int calls;
    unsigned events;
    int fd;
};

static void record_cb(loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    struct seen *s = arg;
    s->calls++;
    s->events |= events;
    s->fd = fd;
}

static loop *new_loop(void **state)
{
    loop *l = loop_new(*(loop_backend *)*state, 64);
    assert_non_null(l);
    return l;
}

static void make_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void put_byte(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
}

/* ---- backend selection ---- */

static void test_backend_names(void **state)
{
    (void)state;
    loop *l = loop_new(LOOP_BACKEND_EPOLL, 0);
    assert_string_equal(loop_backend_name(l), "epoll");
    loop_free(l);
    l = loop_new(LOOP_BACKEND_POLL, 0);
    assert_string_equal(loop_backend_name(l), "poll");
    loop_free(l);
}

static void expect_auto(const char *env, const char *name)
{
    if (env)
        setenv("WEBSERV_EVENT_BACKEND", env, 1);
    else
        unsetenv("WEBSERV_EVENT_BACKEND");
    loop *l = loop_new(LOOP_BACKEND_AUTO, 16);
    if (name == NULL) {
        assert_null(l);
        assert_int_equal(errno, EINVAL);
    } else {
        assert_non_null(l);
        assert_string_equal(loop_backend_name(l), name);
        loop_free(l);
    }
}

static void test_backend_auto_env(void **state)
{
    (void)state;
    char *saved = getenv("WEBSERV_EVENT_BACKEND");
    saved = saved ? strdup(saved) : NULL;
    expect_auto(NULL, "epoll");
    expect_auto("", "epoll");
    expect_auto("epoll", "epoll");
    expect_auto("poll", "poll");
    expect_auto("kqueue", NULL);
    if (saved)
        setenv("WEBSERV_EVENT_BACKEND", saved, 1);
    else
        unsetenv("WEBSERV_EVENT_BACKEND");
    free(saved);
}

/* ---- fd readiness ---- */

static void test_pipe_readable(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &s), 0);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(s.calls, 0);
    put_byte(p[1]);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.events, LOOP_READ);
    assert_int_equal(s.fd, p[0]);
    /* Level-triggered: unread data is reported again. */
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(s.calls, 2);
    assert_int_equal(loop_del(l, p[0]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

static void test_pipe_writable(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[1], LOOP_WRITE, record_cb, &s), 0);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(s.events, LOOP_WRITE);
    /* Fill the pipe: no longer writable. */
    while (write(p[1], "xxxxxxxxxxxxxxxx", 16) > 0)
        ;
    s = (struct seen){0};
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(loop_del(l, p[1]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

static void test_mod_and_silent(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    put_byte(p[1]);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[0], 0, record_cb, &s), 0);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(loop_mod(l, p[0], LOOP_READ), 0);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(s.events, LOOP_READ);
    assert_int_equal(loop_mod(l, p[0], 0), 0);
    /* A silent fd stays silent even after hang-up (no busy wake-up). */
    close(p[1]);
    assert_int_equal(loop_run_once(l, 20), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(loop_mod(l, p[0], LOOP_READ | LOOP_WRITE), 0);
    assert_int_equal(loop_mod(l, p[0], LOOP_READ), 0);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_true(s.events & LOOP_ERROR);
    assert_int_equal(loop_del(l, p[0]), 0);
    close(p[0]);
    loop_free(l);
}

static void test_hangup_reader(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &s), 0);
    close(p[1]);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_true(s.events & LOOP_ERROR);
    assert_true(s.events & LOOP_READ); /* so the reader calls read() and sees EOF */
    assert_false(s.events & LOOP_WRITE);
    assert_int_equal(loop_del(l, p[0]), 0);
    close(p[0]);
    loop_free(l);
}

static void test_hangup_writer(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[1], LOOP_WRITE, record_cb, &s), 0);
    close(p[0]);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_true(s.events & LOOP_ERROR);
    assert_true(s.events & LOOP_WRITE);
    assert_false(s.events & LOOP_READ);
    assert_int_equal(loop_del(l, p[1]), 0);
    close(p[1]);
    loop_free(l);
}

static void test_errors(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, -1, LOOP_READ, record_cb, &s), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &s), 0);
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &s), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(loop_mod(l, p[1], LOOP_READ), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(loop_del(l, p[1]), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(loop_del(l, 5000), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(loop_del(l, p[0]), 0);
    assert_int_equal(loop_del(l, p[0]), -1);
    /* Registered again after del. */
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &s), 0);
    assert_int_equal(loop_del(l, p[0]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* loop_del_closing, then close: the fd is gone from the loop and from the
 * kernel set (epoll: close did it, with no EPOLL_CTL_DEL), and a new fd that
 * gets the same number is watched on its own, with nothing left over from
 * the old one (issue 21: one system call less per connection). */
static void test_del_closing_then_reuse(void **state)
{
    loop *l = new_loop(state);
    int p[2], q[2];
    make_pipe(p);
    put_byte(p[1]);
    struct seen old = {0}, fresh = {0};
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &old), 0);
    int num = p[0];
    assert_int_equal(loop_del_closing(l, p[0]), 0);
    close(p[0]);
    assert_int_equal(loop_del_closing(l, p[0]), -1); /* not registered any more */
    assert_int_equal(loop_run_once(l, 20), 0);        /* the readable byte is no event now */
    /* The next pipe takes the lowest free number: the old one. */
    make_pipe(q);
    assert_int_equal(q[0], num);
    assert_int_equal(loop_add(l, q[0], LOOP_READ, record_cb, &fresh), 0);
    assert_int_equal(loop_run_once(l, 20), 0); /* q is empty: nothing from p's old byte */
    put_byte(q[1]);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(fresh.calls, 1);
    assert_int_equal(old.calls, 0);
    assert_int_equal(loop_del(l, q[0]), 0);
    close(q[0]);
    close(q[1]);
    close(p[1]);
    loop_free(l);
}

/* ---- changes during a dispatch round ---- */

/* Two readable pipes; whichever callback runs first acts on the other. */
struct pair {
    int rd[2], wr[2];
    int calls[2];
    int reused_fd;
    struct seen reused;
    int close_self;
};

static int pair_index(struct pair *pr, int fd)
{
    return fd == pr->rd[0] ? 0 : 1;
}

static void pair_setup(loop *l, struct pair *pr, loop_io_fn fn)
{
    for (int i = 0; i < 2; i++) {
        int p[2];
        make_pipe(p);
        pr->rd[i] = p[0];
        pr->wr[i] = p[1];
        put_byte(p[1]);
        assert_int_equal(loop_add(l, p[0], LOOP_READ, fn, pr), 0);
    }
}

static void pair_teardown(loop *l, struct pair *pr)
{
    for (int i = 0; i < 2; i++) {
        if (pr->rd[i] >= 0) {
            loop_del(l, pr->rd[i]);
            close(pr->rd[i]);
        }
        close(pr->wr[i]);
    }
}

static void delete_other_cb(loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct pair *pr = arg;
    int me = pair_index(pr, fd), other = !me;
    pr->calls[me]++;
    if (pr->rd[other] >= 0) {
        assert_int_equal(loop_del(l, pr->rd[other]), 0);
        close(pr->rd[other]);
        pr->rd[other] = -1;
    }
}

/* ---- dispatch order ---- */

static int order_log[8], n_order;

static void order_cb(loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)fd, (void)events;
    order_log[n_order++] = *(int *)arg;
}

/* The "first" fd runs before the others of its round, wherever the backend lists it. */
static void test_first_fd_runs_first(void **state)
{
    for (int which = 0; which < 4; which++) {
        loop *l = new_loop(state);
        int p[4][2], id[4];
        for (int i = 0; i < 4; i++) {
            make_pipe(p[i]);
            id[i] = i;
            assert_int_equal(loop_add(l, p[i][0], LOOP_READ, order_cb, &id[i]), 0);
            put_byte(p[i][1]);
        }
        loop_set_first(l, p[which][0]);
        n_order = 0;
        assert_int_equal(loop_run_once(l, 1000), 4);
        assert_int_equal(n_order, 4);
        assert_int_equal(order_log[0], which);
        /* Unset: no fd is special any more, and all still run once. */
        loop_set_first(l, -1);
        n_order = 0;
        assert_int_equal(loop_run_once(l, 1000), 4);
        for (int i = 0; i < 4; i++) {
            loop_del(l, p[i][0]);
            close(p[i][0]);
            close(p[i][1]);
        }
        loop_free(l);
    }
}

static void test_delete_other_in_round(void **state)
{
    loop *l = new_loop(state);
    struct pair pr = {0};
    pair_setup(l, &pr, delete_other_cb);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(pr.calls[0] + pr.calls[1], 1);
    pair_teardown(l, &pr);
    loop_free(l);
}

/* Deletes and closes the other fd, then puts a new readable pipe on the same
 * fd number: the stale event of the old fd must not reach the new one. */
static void reuse_other_cb(loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct pair *pr = arg;
    int me = pair_index(pr, fd), other = !me;
    pr->calls[me]++;
    if (pr->reused_fd >= 0)
        return;
    int num = pr->rd[other];
    assert_int_equal(loop_del(l, num), 0);
    close(num);
    int p[2];
    make_pipe(p);
    if (p[0] != num) { /* usually the lowest free number is num already */
        assert_int_equal(dup3(p[0], num, O_CLOEXEC), num);
        close(p[0]);
    }
    put_byte(p[1]);
    close(p[1]);
    pr->rd[other] = -1;
    pr->reused_fd = num;
    assert_int_equal(loop_add(l, num, LOOP_READ, record_cb, &pr->reused), 0);
}

static void test_fd_reuse_in_round(void **state)
{
    loop *l = new_loop(state);
    struct pair pr = {.reused_fd = -1};
    pair_setup(l, &pr, reuse_other_cb);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(pr.calls[0] + pr.calls[1], 1);
    assert_int_equal(pr.reused.calls, 0);
    /* The new registration is live from the next round. */
    while (pr.reused.calls == 0)
        assert_true(loop_run_once(l, 1000) >= 1);
    assert_int_equal(pr.reused.fd, pr.reused_fd);
    assert_true(pr.reused.events & LOOP_READ);
    loop_del(l, pr.reused_fd);
    close(pr.reused_fd);
    pair_teardown(l, &pr);
    loop_free(l);
}

/* Silences the other fd with loop_mod: its pending event is dropped. */
static void mod_other_cb(loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    struct pair *pr = arg;
    int me = pair_index(pr, fd);
    pr->calls[me]++;
    assert_int_equal(loop_mod(l, pr->rd[!me], 0), 0);
}

static void test_mod_other_in_round(void **state)
{
    loop *l = new_loop(state);
    struct pair pr = {0};
    pair_setup(l, &pr, mod_other_cb);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(pr.calls[0] + pr.calls[1], 1);
    pair_teardown(l, &pr);
    loop_free(l);
}

static void delete_self_cb(loop *l, int fd, unsigned events, void *arg)
{
    struct seen *s = arg;
    record_cb(l, fd, events, arg);
    assert_int_equal(loop_del(l, fd), 0);
    close(fd);
    s->fd = -1;
}

static void test_delete_self(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[0], LOOP_READ, delete_self_cb, &s), 0);
    close(p[1]); /* hang-up: would repeat forever if the fd stayed */
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(loop_run_once(l, 20), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.fd, -1);
    loop_free(l);
}

/* Many pipes: every ready one is delivered in a single round. */
static void test_many_fds(void **state)
{
    enum { N = 300 };
    loop *l = new_loop(state);
    int rd[N], wr[N];
    struct seen s[N];
    memset(s, 0, sizeof s);
    for (int i = 0; i < N; i++) {
        int p[2];
        make_pipe(p);
        rd[i] = p[0];
        wr[i] = p[1];
        assert_int_equal(loop_add(l, rd[i], LOOP_READ, record_cb, &s[i]), 0);
    }
    for (int i = 0; i < N; i += 2)
        put_byte(wr[i]);
    /* Remove some in the middle so the backend's tables get holes. */
    for (int i = 0; i < N; i += 3)
        assert_int_equal(loop_del(l, rd[i]), 0);
    int expected = 0;
    for (int i = 0; i < N; i += 2)
        expected += i % 3 != 0;
    assert_int_equal(loop_run_once(l, 1000), expected);
    for (int i = 0; i < N; i++)
        assert_int_equal(s[i].calls, i % 2 == 0 && i % 3 != 0);
    for (int i = 0; i < N; i++) {
        if (i % 3 != 0)
            assert_int_equal(loop_del(l, rd[i]), 0);
        close(rd[i]);
        close(wr[i]);
    }
    loop_free(l);
}

/* An fd number far above the size hint: 20000, or the highest the hard
 * limit allows. */
static void test_large_fd(void **state)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int big = rl.rlim_max > 20000 ? 20000 : (int)rl.rlim_max - 1;
    if (big < 4096)
        skip();
    if (rl.rlim_cur <= (rlim_t)big) {
        rl.rlim_cur = rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    assert_int_equal(dup3(p[0], big, O_CLOEXEC), big);
    struct seen s = {0}, small = {0};
    assert_int_equal(loop_add(l, big, LOOP_READ, record_cb, &s), 0);
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &small), 0);
    put_byte(p[1]);
    assert_int_equal(loop_run_once(l, 1000), 2);
    assert_int_equal(s.fd, big);
    assert_int_equal(s.events, LOOP_READ);
    assert_int_equal(loop_del(l, big), 0);
    assert_int_equal(loop_del(l, p[0]), 0);
    close(big);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* ---- timers ---- */

enum { NTIMERS = 500 };

struct timer_log {
    loop *l;
    int fired[NTIMERS];
    int nfired;
    uint64_t due[NTIMERS]; /* by timer id */
    int cancelled[NTIMERS];
    loop_timer *handle[NTIMERS];
    uint64_t fired_at[NTIMERS];
};

struct timer_ref {
    struct timer_log *log;
    int id;
};

static void log_timer_cb(loop *l, void *arg)
{
    struct timer_ref *r = arg;
    assert_true(loop_debug_timer_heap_ok(l));
    r->log->fired_at[r->log->nfired] = loop_now_ms(l);
    r->log->fired[r->log->nfired++] = r->id;
}

static void test_timers_order_and_cancel(void **state)
{
    loop *l = new_loop(state);
    static struct timer_log log;
    static struct timer_ref refs[NTIMERS];
    memset(&log, 0, sizeof log);
    srand(12345);
    uint64_t start = loop_now_ms(l);
    for (int i = 0; i < NTIMERS; i++) {
        refs[i] = (struct timer_ref){&log, i};
        log.due[i] = (uint64_t)(rand() % 40);
        log.handle[i] = loop_timer_add(l, log.due[i], log_timer_cb, &refs[i]);
        assert_non_null(log.handle[i]);
        assert_true(loop_debug_timer_heap_ok(l));
    }
    int live = NTIMERS;
    for (int i = 0; i < NTIMERS; i++) {
        if (rand() % 3 == 0) {
            loop_timer_cancel(l, log.handle[i]);
            log.cancelled[i] = 1;
            live--;
            assert_true(loop_debug_timer_heap_ok(l));
        }
    }
    assert_int_equal(loop_debug_timer_count(l), live);
    while (log.nfired < live)
        assert_true(loop_run_once(l, 1000) >= 0);
    assert_int_equal(loop_debug_timer_count(l), 0);
    for (int k = 0; k < log.nfired; k++) {
        int id = log.fired[k];
        assert_false(log.cancelled[id]);
        assert_true(log.fired_at[k] >= start + log.due[id]);
        if (k == 0)
            continue;
        int prev = log.fired[k - 1];
        /* Deadline order; equal deadlines in the order they were added. */
        assert_true(log.due[prev] < log.due[id] || (log.due[prev] == log.due[id] && prev < id));
    }
    loop_free(l);
}

static void count_cb(loop *l, void *arg)
{
    (void)l;
    (*(int *)arg)++;
}

static void test_timer_cancel_all_and_free(void **state)
{
    loop *l = new_loop(state);
    int fired = 0;
    loop_timer *t[64];
    for (int i = 0; i < 64; i++)
        t[i] = loop_timer_add(l, (uint64_t)(i % 5), count_cb, &fired);
    /* Cancel from the back, the front and the middle of the heap. */
    for (int i = 63; i >= 32; i--)
        loop_timer_cancel(l, t[i]);
    for (int i = 0; i < 16; i++)
        loop_timer_cancel(l, t[i]);
    assert_true(loop_debug_timer_heap_ok(l));
    for (int i = 16; i < 32; i++)
        loop_timer_cancel(l, t[i]);
    assert_int_equal(loop_debug_timer_count(l), 0);
    assert_int_equal(loop_run_once(l, 10), 0);
    assert_int_equal(fired, 0);
    /* Pending timers are freed with the loop (ASan checks the leak). */
    loop_timer_add(l, 100000, count_cb, &fired);
    loop_free(l);
}

struct rearm {
    int count;
    int rounds_left;
};

static void rearm_cb(loop *l, void *arg)
{
    struct rearm *r = arg;
    r->count++;
    if (--r->rounds_left > 0)
        assert_non_null(loop_timer_add(l, 0, rearm_cb, r));
}

static void test_timer_zero_ms(void **state)
{
    loop *l = new_loop(state);
    int fired = 0;
    assert_non_null(loop_timer_add(l, 0, count_cb, &fired));
    /* Due now: the wait must not block even with max_wait -1. */
    assert_int_equal(loop_run_once(l, -1), 1);
    assert_int_equal(fired, 1);
    /* A 0 ms timer added by a timer fires in the next round, not this one,
     * so a re-arming timer cannot starve the fds. */
    struct rearm r = {0, 5};
    assert_non_null(loop_timer_add(l, 0, rearm_cb, &r));
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(loop_run_once(l, -1), 1);
        assert_int_equal(r.count, i);
    }
    assert_int_equal(loop_debug_timer_count(l), 0);
    loop_free(l);
}

struct cancel_pair {
    loop_timer *victim;
    int fired_victim;
    int fired_killer;
};

static void victim_cb(loop *l, void *arg)
{
    (void)l;
    ((struct cancel_pair *)arg)->fired_victim++;
}

static void killer_cb(loop *l, void *arg)
{
    struct cancel_pair *c = arg;
    c->fired_killer++;
    loop_timer_cancel(l, c->victim);
}

static void test_timer_cancel_in_callback(void **state)
{
    loop *l = new_loop(state);
    struct cancel_pair c = {0};
    /* Same deadline: the killer was added first, so it runs first. */
    assert_non_null(loop_timer_add(l, 5, killer_cb, &c));
    c.victim = loop_timer_add(l, 5, victim_cb, &c);
    assert_non_null(c.victim);
    while (c.fired_killer == 0)
        assert_true(loop_run_once(l, 1000) >= 0);
    assert_int_equal(loop_run_once(l, 20), 0);
    assert_int_equal(c.fired_victim, 0);
    loop_free(l);
}

static void test_timer_wait_bounds(void **state)
{
    loop *l = new_loop(state);
    int fired = 0;
    uint64_t start = loop_now_ms(l);
    assert_non_null(loop_timer_add(l, 30, count_cb, &fired));
    /* max_wait shorter than the timer: returns without firing it. */
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(fired, 0);
    /* max_wait -1: sleeps until the timer, then fires it. */
    while (fired == 0)
        assert_true(loop_run_once(l, -1) >= 0);
    assert_true(loop_now_ms(l) - start >= 30);
    loop_free(l);
}

static void test_now_monotonic(void **state)
{
    loop *l = new_loop(state);
    uint64_t prev = loop_now_ms(l);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(loop_run_once(l, i % 3), 0);
        uint64_t now = loop_now_ms(l);
        assert_true(now >= prev);
        prev = now;
    }
    /* Cached: unchanged between iterations. */
    assert_int_equal(loop_now_ms(l), prev);
    int64_t wall = loop_wall_time(l);
    int64_t real = (int64_t)time(NULL);
    assert_true(wall >= real - 2 && wall <= real + 2);
    loop_free(l);
}

/* ---- stop ---- */

static void stop_timer_cb(loop *l, void *arg)
{
    (*(int *)arg)++;
    loop_stop(l);
}

static void stop_io_cb(loop *l, int fd, unsigned events, void *arg)
{
    record_cb(l, fd, events, arg);
    loop_stop(l);
}

static void test_loop_stop(void **state)
{
    loop *l = new_loop(state);
    int fired = 0;
    assert_non_null(loop_timer_add(l, 5, stop_timer_cb, &fired));
    loop_run(l);
    assert_int_equal(fired, 1);

    /* From an fd callback. */
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[0], LOOP_READ, stop_io_cb, &s), 0);
    put_byte(p[1]);
    loop_run(l);
    assert_int_equal(s.calls, 1);
    assert_int_equal(loop_del(l, p[0]), 0);

    /* Requested before loop_run: returns at once, and only once. */
    loop_stop(l);
    loop_run(l);
    fired = 0;
    assert_non_null(loop_timer_add(l, 0, stop_timer_cb, &fired));
    loop_run(l);
    assert_int_equal(fired, 1);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* ---- callbacks adding work ---- */

struct cross {
    int p[2];
    struct seen io;
    int timer_fired;
};

static void cross_timer_cb(loop *l, void *arg)
{
    struct cross *c = arg;
    c->timer_fired++;
    assert_int_equal(loop_add(l, c->p[0], LOOP_READ, record_cb, &c->io), 0);
    put_byte(c->p[1]);
}

static void test_timer_adds_fd(void **state)
{
    loop *l = new_loop(state);
    struct cross c = {0};
    make_pipe(c.p);
    assert_non_null(loop_timer_add(l, 1, cross_timer_cb, &c));
    while (c.io.calls == 0)
        assert_true(loop_run_once(l, 1000) >= 0);
    assert_int_equal(c.timer_fired, 1);
    assert_int_equal(loop_del(l, c.p[0]), 0);
    close(c.p[0]);
    close(c.p[1]);
    loop_free(l);
}

static void nested_cb(loop *l, int fd, unsigned events, void *arg)
{
    record_cb(l, fd, events, arg);
    assert_int_equal(loop_run_once(l, 0), -1);
    assert_int_equal(errno, EDEADLK);
}

static void test_nested_run_refused(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_add(l, p[1], LOOP_WRITE, nested_cb, &s), 0);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(loop_del(l, p[1]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* loop_rebind: the registration changes hands (callback, arg, interest)
 * without leaving the set; the new owner gets the next events, the old one
 * none, and loop_owner tells who holds it. An fd not registered is refused. */
static void test_rebind(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen a = {0}, b = {0};
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &a), 0);
    void *arg = NULL;
    assert_ptr_equal(loop_owner(l, p[0], &arg), record_cb);
    assert_ptr_equal(arg, &a);
    put_byte(p[1]);
    assert_int_equal(loop_rebind(l, p[0], LOOP_READ, record_cb, &b), 0);
    assert_ptr_equal(loop_owner(l, p[0], &arg), record_cb);
    assert_ptr_equal(arg, &b);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_true(b.events & LOOP_READ);
    /* A change of interest on the way: silent now, then the write end. */
    assert_int_equal(loop_rebind(l, p[0], 0, record_cb, &a), 0);
    assert_int_equal(loop_run_once(l, 20), 0);
    assert_int_equal(loop_add(l, p[1], 0, record_cb, &b), 0);
    assert_int_equal(loop_rebind(l, p[1], LOOP_WRITE, record_cb, &a), 0);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(a.calls, 1);
    assert_true(a.events & LOOP_WRITE);
    assert_int_equal(loop_rebind(l, 5000, LOOP_READ, record_cb, &a), -1);
    assert_null(loop_owner(l, 5000, NULL));
    assert_int_equal(loop_del(l, p[0]), 0);
    assert_int_equal(loop_rebind(l, p[0], LOOP_READ, record_cb, &a), -1);
    assert_null(loop_owner(l, p[0], NULL));
    assert_int_equal(loop_del(l, p[1]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* loop_add_later: the backend hears of the fd before the next wait, with
 * the interest it has then; readiness that came before is still reported
 * (level-triggered). */
static void test_add_later_reported_at_next_wait(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen r = {0}, w = {0};
    put_byte(p[1]);
    assert_int_equal(loop_add_later(l, p[0], LOOP_READ, record_cb, &r), 0);
    assert_int_equal(loop_add_later(l, p[0], LOOP_READ, record_cb, &r), -1); /* one registration per fd */
    assert_int_equal(errno, EEXIST);
    /* Changed before the wait: silent, then the write end watched instead. */
    assert_int_equal(loop_add_later(l, p[1], LOOP_READ, record_cb, &r), 0);
    assert_int_equal(loop_mod(l, p[1], 0), 0);
    assert_int_equal(loop_rebind(l, p[1], LOOP_WRITE, record_cb, &w), 0);
    assert_int_equal(loop_run_once(l, 1000), 2);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.fd, p[0]);
    assert_true(r.events & LOOP_READ);
    assert_int_equal(w.calls, 1);
    assert_true(w.events & LOOP_WRITE);
    /* In the set now: later changes go to the backend as usual. */
    assert_int_equal(loop_mod(l, p[0], 0), 0);
    assert_int_equal(loop_mod(l, p[1], 0), 0);
    assert_int_equal(loop_run_once(l, 20), 0);
    assert_int_equal(loop_del(l, p[0]), 0);
    assert_int_equal(loop_del(l, p[1]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* loop_catch_up_first dispatches the first fd at once when it is readable,
 * and nothing when it is not, or when there is no first fd. */
static void test_catch_up_first(void **state)
{
    loop *l = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen r = {0};
    loop_catch_up_first(l); /* no first fd: nothing */
    assert_int_equal(loop_add(l, p[0], LOOP_READ, record_cb, &r), 0);
    loop_set_first(l, p[0]);
    loop_catch_up_first(l);
    assert_int_equal(r.calls, 0); /* not readable */
    put_byte(p[1]);
    loop_catch_up_first(l);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.fd, p[0]);
    assert_true(r.events & LOOP_READ);
    loop_set_first(l, -1);
    loop_catch_up_first(l);
    assert_int_equal(r.calls, 1);
    assert_int_equal(loop_del(l, p[0]), 0);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* An fd added later and deleted before the wait never reaches the backend:
 * its number, reused at once by another registration (later or not), gets
 * only that registration's events. */
static void test_add_later_deleted_before_wait(void **state)
{
    loop *l = new_loop(state);
    int p[2], q[2];
    make_pipe(p);
    struct seen gone = {0}, again = {0}, other = {0};
    put_byte(p[1]);
    assert_int_equal(loop_add_later(l, p[0], LOOP_READ, record_cb, &gone), 0);
    assert_int_equal(loop_del_closing(l, p[0]), 0);
    int fd = p[0];
    close(p[0]);
    assert_int_equal(loop_run_once(l, 20), 0);
    assert_int_equal(gone.calls, 0);
    /* The same number, added later twice over (deleted in between): one registration, one call. */
    make_pipe(q);
    assert_int_equal(q[0], fd);
    assert_int_equal(loop_add_later(l, q[0], LOOP_READ, record_cb, &gone), 0);
    assert_int_equal(loop_del(l, q[0]), 0);
    assert_int_equal(loop_add_later(l, q[0], LOOP_READ, record_cb, &again), 0);
    put_byte(q[1]);
    assert_int_equal(loop_add(l, q[1], LOOP_WRITE, record_cb, &other), 0);
    assert_int_equal(loop_run_once(l, 1000), 2);
    assert_int_equal(gone.calls, 0);
    assert_int_equal(again.calls, 1);
    assert_int_equal(other.calls, 1);
    assert_int_equal(loop_run_once(l, 1000), 2); /* level-triggered: both still ready */
    assert_int_equal(again.calls, 2);
    assert_int_equal(loop_del(l, q[0]), 0);
    assert_int_equal(loop_del(l, q[1]), 0);
    close(q[0]);
    close(q[1]);
    close(p[1]);
    loop_free(l);
}

#define BOTH(fn) \
    cmocka_unit_test_prestate(fn, &backend_epoll), cmocka_unit_test_prestate(fn, &backend_poll)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_names),
        cmocka_unit_test(test_backend_auto_env),
        BOTH(test_pipe_readable),
        BOTH(test_pipe_writable),
        BOTH(test_mod_and_silent),
        BOTH(test_hangup_reader),
        BOTH(test_hangup_writer),
        BOTH(test_errors),
        BOTH(test_del_closing_then_reuse),
        BOTH(test_rebind),
        BOTH(test_add_later_reported_at_next_wait),
        BOTH(test_add_later_deleted_before_wait),
        BOTH(test_delete_other_in_round),
        BOTH(test_first_fd_runs_first),
        BOTH(test_catch_up_first),
        BOTH(test_fd_reuse_in_round),
        BOTH(test_mod_other_in_round),
        BOTH(test_delete_self),
        BOTH(test_many_fds),
        BOTH(test_large_fd),
        BOTH(test_timers_order_and_cancel),
        BOTH(test_timer_cancel_all_and_free),
        BOTH(test_timer_zero_ms),
        BOTH(test_timer_cancel_in_callback),
        BOTH(test_timer_wait_bounds),
        BOTH(test_now_monotonic),
        BOTH(test_loop_stop),
        BOTH(test_timer_adds_fd),
        BOTH(test_nested_run_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

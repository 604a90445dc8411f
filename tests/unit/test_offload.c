/*
 * The core's offload pool (core/event/offload.c): works run on other threads,
 * their completions on the loop's thread, in any number, after the loop wakes
 * through the eventfd; offload_stop waits for queued works and runs their
 * completions; the pool starts again after a stop.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "offload.h"

typedef struct job_state {
    pthread_t worked_on;
    pthread_t completed_on;
    atomic_int worked;
    int completed;
    int sleep_ms;
} job_state;

static pthread_t main_thread;
static int completions;

static void work(void *arg)
{
    job_state *j = arg;
    if (j->sleep_ms)
        usleep((useconds_t)j->sleep_ms * 1000);
    j->worked_on = pthread_self();
    atomic_fetch_add(&j->worked, 1);
}

static void complete(void *ctx)
{
    job_state *j = ctx;
    j->completed_on = pthread_self();
    j->completed++;
    completions++;
}

static void run_until(loop *l, int want, int ms)
{
    for (int i = 0; i < ms / 10 && completions < want; i++)
        loop_run_once(l, 10);
}

static void test_works_run_off_the_loop_and_complete_on_it(void **state)
{
    (void)state;
    loop *l = loop_new(LOOP_BACKEND_AUTO, 64);
    assert_non_null(l);
    enum { N = 50 };
    static job_state jobs[N];
    completions = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (job_state){.sleep_ms = i % 5};
        assert_int_equal(offload_submit(l, work, &jobs[i], complete, &jobs[i]), 0);
    }
    assert_int_equal(offload_outstanding(), N);
    run_until(l, N, 5000);
    assert_int_equal(completions, N);
    assert_int_equal(offload_outstanding(), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(atomic_load(&jobs[i].worked), 1);
        assert_int_equal(jobs[i].completed, 1);
        assert_false(pthread_equal(jobs[i].worked_on, main_thread));
        assert_true(pthread_equal(jobs[i].completed_on, main_thread));
    }
    offload_stop();
    loop_free(l);
}

static void test_a_slow_work_does_not_hold_back_the_others(void **state)
{
    (void)state;
    loop *l = loop_new(LOOP_BACKEND_AUTO, 64);
    static job_state slow, fast[3];
    completions = 0;
    slow = (job_state){.sleep_ms = 400};
    assert_int_equal(offload_submit(l, work, &slow, complete, &slow), 0);
    for (int i = 0; i < 3; i++) {
        fast[i] = (job_state){0};
        assert_int_equal(offload_submit(l, work, &fast[i], complete, &fast[i]), 0);
    }
    run_until(l, 3, 300);
    assert_int_equal(completions, 3); /* the fast ones, on the other threads */
    assert_int_equal(slow.completed, 0);
    offload_stop();
    loop_free(l);
}

static void test_stop_waits_and_completes_everything(void **state)
{
    (void)state;
    loop *l = loop_new(LOOP_BACKEND_AUTO, 64);
    static job_state jobs[10];
    completions = 0;
    for (int i = 0; i < 10; i++) {
        jobs[i] = (job_state){.sleep_ms = 20};
        assert_int_equal(offload_submit(l, work, &jobs[i], complete, &jobs[i]), 0);
    }
    offload_stop(); /* no loop turn: stop itself runs the completions */
    assert_int_equal(completions, 10);
    assert_int_equal(offload_outstanding(), 0);
    /* and the pool starts again on the next submit */
    static job_state again;
    again = (job_state){0};
    assert_int_equal(offload_submit(l, work, &again, complete, &again), 0);
    run_until(l, 11, 2000);
    assert_int_equal(again.completed, 1);
    offload_stop();
    loop_free(l);
}

static void test_refuses_without_work(void **state)
{
    (void)state;
    loop *l = loop_new(LOOP_BACKEND_AUTO, 64);
    assert_int_equal(offload_submit(l, NULL, NULL, complete, NULL), -1);
    assert_int_equal(offload_submit(NULL, work, NULL, complete, NULL), -1);
    offload_stop();
    loop_free(l);
}

int main(void)
{
    main_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_works_run_off_the_loop_and_complete_on_it),
        cmocka_unit_test(test_a_slow_work_does_not_hold_back_the_others),
        cmocka_unit_test(test_stop_waits_and_completes_everything),
        cmocka_unit_test(test_refuses_without_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

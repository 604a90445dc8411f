/*
 * The core's thread pool (offload.h). One mutex guards both queues; the
 * worker threads never touch the event loop, they only push finished jobs on
 * the done queue and write to the wake-up fd. The loop thread reads that fd
 * and runs the completions, so every callback a module sees is on the loop.
 */
#include "offload.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct job {
    offload_work_fn work;
    void *arg;
    offload_complete_fn complete;
    void *ctx;
    struct job *next;
} job;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* todo has a job, or stopping */
    job *todo, *todo_tail;      /* waiting for a thread */
    job *done, *done_tail;      /* finished, completion not run yet */
    pthread_t threads[OFFLOAD_THREADS];
    int n_threads;
    int stopping;
    int wake_r, wake_w;         /* eventfd: both the same fd; pipe: two */
    loop *l;
    unsigned outstanding;       /* submitted, completion not yet run (loop thread only) */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .wake_r = -1, .wake_w = -1};

static void wake(void)
{
    uint64_t one = 1;
    /* EAGAIN: the counter (or pipe) already says "wake up": nothing lost. */
    ssize_t n = write(P.wake_w, &one, P.wake_r == P.wake_w ? sizeof one : 1);
    (void)n;
}

static void *thread_main(void *unused)
{
    (void)unused;
    /* Works are the slow, CPU-heavy part (password hashes): below the event
     * loop's priority, so the loop keeps answering while they run. Linux
     * gives each thread its own nice value. */
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, 0);
    if (errno == 0)
        setpriority(PRIO_PROCESS, (id_t)gettid(), nice_now + OFFLOAD_NICE > 19 ? 19 : nice_now + OFFLOAD_NICE);
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.todo && !P.stopping)
            pthread_cond_wait(&P.cv, &P.mu);
        if (!P.todo)
            break; /* stopping, and nothing left to do */
        job *j = P.todo;
        P.todo = j->next;
        if (!P.todo)
            P.todo_tail = NULL;
        pthread_mutex_unlock(&P.mu);
        j->work(j->arg);
        pthread_mutex_lock(&P.mu);
        j->next = NULL;
        if (P.done_tail)
            P.done_tail->next = j;
        else
            P.done = j;
        P.done_tail = j;
        wake();
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

/* Run the completions of finished jobs (loop thread). */
static void run_completions(void)
{
    pthread_mutex_lock(&P.mu);
    job *j = P.done;
    P.done = P.done_tail = NULL;
    pthread_mutex_unlock(&P.mu);
    while (j) {
        job *next = j->next;
        P.outstanding--;
        if (j->complete)
            j->complete(j->ctx);
        free(j);
        j = next;
    }
}

static void on_wake(loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)ev;
    (void)arg;
    char buf[64];
    while (read(fd, buf, P.wake_r == P.wake_w ? 8 : sizeof buf) > 0 && P.wake_r != P.wake_w)
        ;
    run_completions();
}

static int start(loop *l)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) {
        P.wake_r = P.wake_w = fd;
    } else {
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
            return -1;
        P.wake_r = p[0];
        P.wake_w = p[1];
    }
    if (loop_add(l, P.wake_r, LOOP_READ, on_wake, NULL) < 0)
        goto fail;
    P.l = l;
    P.stopping = 0;
    /* The pool's threads take no signals: the loop thread handles them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < OFFLOAD_THREADS; i++)
        if (pthread_create(&P.threads[P.n_threads], NULL, thread_main, NULL) == 0)
            P.n_threads++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (P.n_threads > 0)
        return 0;
    loop_del(l, P.wake_r);
fail:
    close(P.wake_r);
    if (P.wake_w != P.wake_r)
        close(P.wake_w);
    P.wake_r = P.wake_w = -1;
    P.l = NULL;
    return -1;
}

int offload_submit(loop *l, offload_work_fn work, void *arg, offload_complete_fn complete, void *ctx)
{
    if (!work || !l)
        return -1;
    if (P.l && P.l != l)
        return -1; /* one loop per process */
    if (!P.l && start(l) < 0)
        return -1;
    job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    *j = (job){.work = work, .arg = arg, .complete = complete, .ctx = ctx};
    pthread_mutex_lock(&P.mu);
    if (P.todo_tail)
        P.todo_tail->next = j;
    else
        P.todo = j;
    P.todo_tail = j;
    pthread_cond_signal(&P.cv);
    pthread_mutex_unlock(&P.mu);
    P.outstanding++;
    return 0;
}

unsigned offload_outstanding(void)
{
    return P.outstanding;
}

void offload_stop(void)
{
    if (!P.l)
        return;
    pthread_mutex_lock(&P.mu);
    P.stopping = 1; /* threads finish the queue first, then leave */
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < P.n_threads; i++)
        pthread_join(P.threads[i], NULL);
    P.n_threads = 0;
    run_completions();
    loop_del(P.l, P.wake_r);
    close(P.wake_r);
    if (P.wake_w != P.wake_r)
        close(P.wake_w);
    P.wake_r = P.wake_w = -1;
    P.l = NULL;
    P.stopping = 0;
}

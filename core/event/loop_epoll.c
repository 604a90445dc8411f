/*
 * epoll backend, level-triggered: a handler that reads only part of what is
 * available is called again next round, so no handler needs to drain a
 * socket to EAGAIN. Only fds with a non-empty interest are in the kernel
 * set, because epoll reports EPOLLERR/EPOLLHUP even for an empty mask and
 * a silent fd that hung up would otherwise wake every round.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop_backend.h"

#define EPOLL_MIN_EVENTS 64

struct epoll_be {
    int epfd;
    struct epoll_event *evs;
    int evs_cap;
    int count; /* fds in the kernel set */
};

static void *epoll_be_create(int max_fds)
{
    (void)max_fds; /* the buffer grows with the registrations instead */
    struct epoll_be *be = calloc(1, sizeof *be);
    if (be == NULL)
        return NULL;
    be->evs_cap = EPOLL_MIN_EVENTS;
    be->evs = calloc((size_t)be->evs_cap, sizeof *be->evs);
    be->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (be->evs == NULL || be->epfd < 0) {
        int saved = errno;
        if (be->epfd >= 0)
            close(be->epfd);
        free(be->evs);
        free(be);
        errno = saved;
        return NULL;
    }
    return be;
}

static void epoll_be_destroy(void *arg)
{
    struct epoll_be *be = arg;
    close(be->epfd);
    free(be->evs);
    free(be);
}

static uint32_t to_epoll(unsigned events)
{
    return ((events & LOOP_READ) ? EPOLLIN : 0u) | ((events & LOOP_WRITE) ? EPOLLOUT : 0u);
}

static unsigned from_epoll(uint32_t revents)
{
    unsigned ev = 0;
    if (revents & EPOLLIN)
        ev |= LOOP_READ;
    if (revents & EPOLLOUT)
        ev |= LOOP_WRITE;
    if (revents & (EPOLLERR | EPOLLHUP))
        ev |= LOOP_ERROR;
    return ev;
}

/* Room for one event per fd in the set, so one round sees every ready fd. */
static int reserve_events(struct epoll_be *be)
{
    if (be->count < be->evs_cap)
        return 0;
    int cap = be->evs_cap * 2;
    struct epoll_event *evs = realloc(be->evs, (size_t)cap * sizeof *evs);
    if (evs == NULL)
        return -1;
    be->evs = evs;
    be->evs_cap = cap;
    return 0;
}

static int epoll_be_remove(struct epoll_be *be, int fd)
{
    be->count--;
    /* EBADF/ENOENT: already closed, so the kernel dropped it for us. */
    if (epoll_ctl(be->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF && errno != ENOENT)
        return -1;
    return 0;
}

static int epoll_be_set(void *arg, int fd, unsigned old_events, unsigned new_events)
{
    struct epoll_be *be = arg;
    if (old_events == 0 && new_events == 0)
        return 0;
    if (new_events == 0)
        return epoll_be_remove(be, fd);
    struct epoll_event ev = {.events = to_epoll(new_events), .data.fd = fd};
    if (old_events != 0)
        return epoll_ctl(be->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (reserve_events(be) < 0 || epoll_ctl(be->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    be->count++;
    return 0;
}

/* close() takes an fd out of every epoll set once no descriptor refers to
 * its open file description (epoll(7)), so a connection closed right after
 * needs no EPOLL_CTL_DEL: one system call less per connection (issue 21). */
static void epoll_be_forget(void *arg, int fd, unsigned old_events)
{
    (void)fd;
    struct epoll_be *be = arg;
    if (old_events != 0)
        be->count--;
}

static int epoll_be_wait(void *arg, struct loop_event *out, int max_out, int timeout_ms)
{
    struct epoll_be *be = arg;
    int max = max_out < be->evs_cap ? max_out : be->evs_cap;
    int n = epoll_wait(be->epfd, be->evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].fd = be->evs[i].data.fd;
        out[i].events = from_epoll(be->evs[i].events);
    }
    return n;
}

const loop_backend_ops loop_epoll_ops = {
    .name = "epoll",
    .create = epoll_be_create,
    .destroy = epoll_be_destroy,
    .set = epoll_be_set,
    .forget = epoll_be_forget,
    .wait = epoll_be_wait,
};

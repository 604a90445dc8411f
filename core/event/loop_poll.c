/*
 * poll backend: the portable fallback and a cross-check for epoll. The
 * pollfd array stays compact (a removal moves the last entry into the hole)
 * and slot_of[fd] finds an fd's entry, so add, mod and del are O(1); only
 * the poll() call itself is O(n). As with epoll, an fd with an empty
 * interest is left out, since poll reports POLLHUP even for events == 0.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "loop_backend.h"

#define POLL_MIN_FDS 64

struct poll_be {
    struct pollfd *pfds;
    int npfds, pfds_cap;
    int *slot_of; /* fd -> index in pfds, -1 when absent */
    size_t slot_cap;
};

static void *poll_be_create(int max_fds)
{
    struct poll_be *be = calloc(1, sizeof *be);
    if (be == NULL)
        return NULL;
    be->pfds_cap = POLL_MIN_FDS;
    be->slot_cap = max_fds > POLL_MIN_FDS && max_fds <= 65536 ? (size_t)max_fds : POLL_MIN_FDS;
    be->pfds = malloc((size_t)be->pfds_cap * sizeof *be->pfds);
    be->slot_of = malloc(be->slot_cap * sizeof *be->slot_of);
    if (be->pfds == NULL || be->slot_of == NULL) {
        free(be->pfds);
        free(be->slot_of);
        free(be);
        return NULL;
    }
    memset(be->slot_of, 0xff, be->slot_cap * sizeof *be->slot_of); /* all -1 */
    return be;
}

static void poll_be_destroy(void *arg)
{
    struct poll_be *be = arg;
    free(be->pfds);
    free(be->slot_of);
    free(be);
}

static short to_poll(unsigned events)
{
    return (short)(((events & LOOP_READ) ? POLLIN : 0) | ((events & LOOP_WRITE) ? POLLOUT : 0));
}

static unsigned from_poll(short revents)
{
    unsigned ev = 0;
    if (revents & POLLIN)
        ev |= LOOP_READ;
    if (revents & POLLOUT)
        ev |= LOOP_WRITE;
    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        ev |= LOOP_ERROR;
    return ev;
}

static int reserve_slots(struct poll_be *be, int fd)
{
    if ((size_t)fd < be->slot_cap)
        return 0;
    size_t cap = be->slot_cap;
    while (cap <= (size_t)fd)
        cap *= 2;
    int *slot_of = realloc(be->slot_of, cap * sizeof *slot_of);
    if (slot_of == NULL)
        return -1;
    memset(slot_of + be->slot_cap, 0xff, (cap - be->slot_cap) * sizeof *slot_of);
    be->slot_of = slot_of;
    be->slot_cap = cap;
    return 0;
}

static int reserve_pfds(struct poll_be *be)
{
    if (be->npfds < be->pfds_cap)
        return 0;
    int cap = be->pfds_cap * 2;
    struct pollfd *pfds = realloc(be->pfds, (size_t)cap * sizeof *pfds);
    if (pfds == NULL)
        return -1;
    be->pfds = pfds;
    be->pfds_cap = cap;
    return 0;
}

static int poll_be_insert(struct poll_be *be, int fd, unsigned events)
{
    if (reserve_slots(be, fd) < 0 || reserve_pfds(be) < 0)
        return -1;
    be->slot_of[fd] = be->npfds;
    be->pfds[be->npfds++] = (struct pollfd){.fd = fd, .events = to_poll(events)};
    return 0;
}

static void poll_be_remove(struct poll_be *be, int fd)
{
    int slot = be->slot_of[fd];
    struct pollfd last = be->pfds[--be->npfds];
    if (slot != be->npfds) {
        be->pfds[slot] = last;
        be->slot_of[last.fd] = slot;
    }
    be->slot_of[fd] = -1;
}

static int poll_be_set(void *arg, int fd, unsigned old_events, unsigned new_events)
{
    struct poll_be *be = arg;
    if (old_events == 0 && new_events == 0)
        return 0;
    if (old_events == 0)
        return poll_be_insert(be, fd, new_events);
    if (new_events == 0)
        poll_be_remove(be, fd);
    else
        be->pfds[be->slot_of[fd]].events = to_poll(new_events);
    return 0;
}

static int poll_be_wait(void *arg, struct loop_event *out, int max_out, int timeout_ms)
{
    struct poll_be *be = arg;
    int n = poll(be->pfds, (nfds_t)be->npfds, timeout_ms);
    if (n <= 0)
        return n;
    int k = 0;
    /* poll counts ready entries, so the scan can stop at the last one. */
    for (int i = 0; i < be->npfds && k < n && k < max_out; i++) {
        if (be->pfds[i].revents == 0)
            continue;
        out[k].fd = be->pfds[i].fd;
        out[k].events = from_poll(be->pfds[i].revents);
        k++;
    }
    return k;
}

const loop_backend_ops loop_poll_ops = {
    .name = "poll",
    .create = poll_be_create,
    .destroy = poll_be_destroy,
    .set = poll_be_set,
    .wait = poll_be_wait,
};

#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "loop.h"
#include "transport.h"

#define SEG_SIZE 16384
#define MAX_IOV 32

struct outq_seg {
    outq_seg *next;
    int fd;          /* >= 0: a file range */
    off_t off;       /* file: next offset to send */
    uint64_t len;    /* file: bytes left */
    void (*release)(void *); /* file: called instead of close(fd) when set */
    void *release_arg;
    size_t start, end, cap; /* memory: data[start..end) */
    const char *ext; /* memory not ours (outq_append_ref): bytes at ext[start..end), release() when done */
    char data[];
};

/* Where a memory segment's bytes are: its own data, or the caller's (zero-copy). */
static const char *seg_bytes(const outq_seg *s) { return s->ext ? s->ext : s->data; }

/* Standard-size memory segments are recycled: a streaming response allocates
 * and frees one per 16 KiB otherwise, and memory churn shows up as RSS (and as
 * allocator time) on every large body. The process is single-threaded. */
#define SPARE_MAX 64
static outq_seg *spare[SPARE_MAX];
static size_t n_spare;

static void seg_free(outq_seg *s)
{
    if ((s->fd >= 0 || s->ext) && s->release)
        s->release(s->release_arg);
    else if (s->fd >= 0)
        close(s->fd);
    else if (!s->ext && s->cap == SEG_SIZE && n_spare < SPARE_MAX) {
        spare[n_spare++] = s;
        return;
    }
    free(s);
}

static outq_seg *seg_new_mem(size_t need)
{
    size_t cap = need > SEG_SIZE ? need : SEG_SIZE;
    outq_seg *s = cap == SEG_SIZE && n_spare ? spare[--n_spare] : malloc(sizeof *s + cap);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->cap = cap;
    return s;
}

static void push_back(outq *q, outq_seg *s)
{
    if (q->tail)
        q->tail->next = s;
    else
        q->head = s;
    q->tail = s;
}

int outq_append(outq *q, const void *p, size_t n)
{
    const char *src = p;
    while (n > 0) {
        outq_seg *t = q->tail;
        if (!t || t->fd >= 0 || t->end == t->cap) {
            /* Always standard-size segments, so every one can be recycled. */
            t = seg_new_mem(SEG_SIZE);
            if (!t)
                return -1;
            push_back(q, t);
        }
        size_t k = t->cap - t->end < n ? t->cap - t->end : n;
        memcpy(t->data + t->end, src, k);
        t->end += k;
        q->mem_bytes += k;
        src += k;
        n -= k;
    }
    return 0;
}

int outq_prepend(outq *q, const void *p, size_t n)
{
    outq_seg *s = seg_new_mem(n);
    if (!s)
        return -1;
    memcpy(s->data, p, n);
    s->end = n;
    s->next = q->head;
    q->head = s;
    if (!q->tail)
        q->tail = s;
    q->mem_bytes += n;
    return 0;
}

int outq_append_file_shared(outq *q, int fd, off_t off, uint64_t len, void (*release)(void *), void *arg)
{
    outq_seg *s = len ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (release)
            release(arg);
        else
            close(fd);
        return len ? -1 : 0;
    }
    s->fd = fd;
    s->off = off;
    s->len = len;
    s->release = release;
    s->release_arg = arg;
    push_back(q, s);
    q->file_bytes += len;
    return 0;
}

int outq_append_ref(outq *q, const void *p, size_t n, void (*release)(void *), void *arg)
{
    outq_seg *s = n ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (release)
            release(arg);
        return n ? -1 : 0;
    }
    s->fd = -1;
    s->ext = p;
    s->end = s->cap = n; /* full: outq_append never copies into it */
    s->release = release;
    s->release_arg = arg;
    push_back(q, s);
    q->mem_bytes += n;
    return 0;
}

int outq_append_file(outq *q, int fd, off_t off, uint64_t len)
{
    return outq_append_file_shared(q, fd, off, len, NULL, NULL);
}

static void pop_front(outq *q)
{
    outq_seg *s = q->head;
    q->head = s->next;
    if (!q->head)
        q->tail = NULL;
    seg_free(s);
}

/* Send the leading run of memory segments in one call. When a file range
 * follows (a head before its body), MSG_MORE lets the kernel put both into the
 * same packets instead of sending the head alone; when the queue's end is the
 * connection's end (fin_follows), it lets the FIN ride in the last segment. */
static ssize_t flush_mem(outq *q, transport *t)
{
    struct iovec iov[MAX_IOV];
    int n = 0;
    outq_seg *s = q->head;
    for (; s && s->fd < 0 && n < MAX_IOV; s = s->next) {
        iov[n].iov_base = (char *)seg_bytes(s) + s->start;
        iov[n].iov_len = s->end - s->start;
        n++;
    }
    ssize_t w = transport_writev(t, iov, n, s ? s->fd >= 0 : q->fin_follows);
    if (w <= 0)
        return w;
    size_t left = (size_t)w;
    q->mem_bytes -= left;
    while (left > 0) {
        outq_seg *s = q->head;
        size_t have = s->end - s->start;
        if (left < have) {
            s->start += left;
            break;
        }
        left -= have;
        pop_front(q);
    }
    return w;
}

/* A transport without sendfile (TLS): the range goes through a buffer. A
 * write that cannot take it all leaves the offset at the first unsent byte,
 * so the retry re-reads the same bytes (transport.h). 64 KiB: TLS writes it
 * as four records of the largest size (2^14 bytes, RFC 8446 §5.1) in one
 * call, so one pread serves four records instead of one. */
static ssize_t send_file_buffered(transport *t, int fd, off_t *off, size_t n)
{
    char buf[65536];
    ssize_t k;
    do
        k = pread(fd, buf, n < sizeof buf ? n : sizeof buf, *off);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return k < 0 ? TR_ERROR : 0;
    struct iovec iov = {buf, (size_t)k};
    ssize_t w = transport_writev(t, &iov, 1, 0);
    if (w > 0)
        *off += w;
    return w;
}

static ssize_t flush_file(outq *q, transport *t)
{
    outq_seg *s = q->head;
    size_t chunk = s->len > OUTQ_FILE_BURST ? OUTQ_FILE_BURST : (size_t)s->len;
    ssize_t w = t->ops->sendfile ? t->ops->sendfile(t, s->fd, &s->off, chunk)
                                 : send_file_buffered(t, s->fd, &s->off, chunk);
    if (w == 0) {
        /* The file shrank under us: the promised length cannot be kept. */
        errno = EIO;
        return TR_ERROR;
    }
    if (w < 0)
        return w;
    s->len -= (uint64_t)w;
    q->file_bytes -= (uint64_t)w;
    if (s->len == 0)
        pop_front(q);
    return w;
}

ssize_t outq_flush(outq *q, transport *t)
{
    ssize_t total = 0;
    size_t file_sent = 0;
    while (q->head) {
        int file = q->head->fd >= 0;
        ssize_t w = file ? flush_file(q, t) : flush_mem(q, t);
        if (w == TR_AGAIN || w == 0)
            break;
        if (w < 0)
            return -1;
        total += w;
        file_sent += file ? (size_t)w : 0;
        if (file_sent >= OUTQ_FILE_BURST && q->head) {
            /* Enough of a file for one turn: back to the loop, which calls
             * again at once while the socket has room (LOOP_WRITE is level-
             * triggered). Filling the whole send buffer of every connection
             * before anything else (up to 4 MiB each on loopback) cost the
             * receiving side ~40 % more CPU per 10 MiB response than turns of
             * 256 KiB (wrk -c8, issue 21), and a big file no longer keeps the
             * loop from the other connections until the socket is full. */
            t->want = LOOP_WRITE;
            break;
        }
    }
    return total;
}

void outq_clear(outq *q)
{
    while (q->head)
        pop_front(q);
    q->mem_bytes = 0;
    q->file_bytes = 0;
}

void outq_release_spares(void)
{
    while (n_spare)
        free(spare[--n_spare]);
}

/* Request bodies to files with the disk calls on the core's pool; see spool.h. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum spool_kind { SPOOL_WRITE, SPOOL_SYNC_CLOSE, SPOOL_OPEN };

/* The fd an op works on (on the pool: a slot was filled by an earlier op). */
static int op_fd(const spool_op *op)
{
    return op->fdp ? *op->fdp : op->fd;
}

void spool_init(spool *s, const ws_host *host, ws_request *r, const spool_events *ev, void *arg)
{
    memset(s, 0, sizeof *s);
    s->host = host;
    s->r = r;
    s->ev = *ev;
    s->arg = arg;
    for (int i = 0; i < SPOOL_BATCHES; i++)
        s->b[i].s = s;
    s->fill = &s->b[0];
    s->direct_fd = -1;
    s->batch = SPOOL_BATCH;
    s->use_offload = host->abi_minor >= 2 && host->size >= offsetof(ws_host, offload) + sizeof host->offload &&
                     host->offload != NULL;
}

/* ---- filling a batch (on the loop) ---- */

static spool_op *sp_add_op(spool_batch *b)
{
    if (b->n_ops == b->cap_ops) {
        size_t cap = b->cap_ops ? b->cap_ops * 2 : 8;
        spool_op *ops = realloc(b->ops, cap * sizeof *ops);
        if (!ops)
            return NULL;
        b->ops = ops;
        b->cap_ops = cap;
    }
    return &b->ops[b->n_ops++];
}

/* cap bytes (whole huge pages) in a mapping of their own, aligned on a
 * huge page and marked for them; NULL when the mapping fails. */
static char *sp_huge_new(size_t cap)
{
    size_t span = cap + SPOOL_HUGE; /* room to cut an aligned start from */
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *buf = (char *)(((uintptr_t)p + SPOOL_HUGE - 1) & ~(uintptr_t)(SPOOL_HUGE - 1));
    if (buf > p)
        munmap(p, (size_t)(buf - p));
    if (p + span > buf + cap)
        munmap(buf + cap, (size_t)(p + span - (buf + cap)));
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, cap, MADV_HUGEPAGE); /* refused (no THP in the kernel): 4 KiB pages */
#endif
    return buf;
}

/* A buffer of cap bytes aligned for O_DIRECT. In direct mode, a size of
 * whole huge pages is a mapping of its own, aligned on a huge page and
 * marked for them (MADV_HUGEPAGE; spool.h says why: one segment per write
 * instead of one per 4 KiB page). Where the kernel has no huge page to
 * give, the mapping is made of 4 KiB pages and works the same, slower. */
static char *sp_buf_new(const spool *s, size_t cap, int *mapped)
{
    *mapped = 0;
    if (s->direct_fd >= 0 && cap % SPOOL_HUGE == 0) {
        char *buf = sp_huge_new(cap);
        if (buf) {
            *mapped = 1;
            return buf;
        }
    }
    void *buf = NULL;
    return posix_memalign(&buf, SPOOL_ALIGN, cap) == 0 ? buf : NULL;
}

int spool_direct_prepare(spool *s)
{
    for (int i = 0; i < SPOOL_BATCHES; i++) {
        spool_batch *b = &s->b[i];
        if (b->buf)
            continue;
        char *buf = sp_huge_new(SPOOL_HUGE);
        if (!buf)
            return -ENOMEM;
        /* The first touch of each page, here: one write per 4 KiB page
         * faults in the whole huge page (or each small page where the
         * kernel gave none). */
        for (size_t off = 0; off < SPOOL_HUGE; off += SPOOL_ALIGN)
            ((volatile char *)buf)[off] = 0;
        b->buf = buf;
        b->cap = SPOOL_HUGE;
        b->mapped = 1;
    }
    return 0;
}

static void sp_buf_free(spool_batch *b)
{
    if (b->mapped)
        munmap(b->buf, b->cap);
    else
        free(b->buf);
    b->buf = NULL;
    b->mapped = 0;
}

/* Room for `more` bytes in b's buffer. The buffer is aligned for O_DIRECT
 * (so sp_buf_new, and a copy instead of realloc when it grows); its first
 * size holds a full batch plus a piece of body (SPOOL_PIECE), so it rarely
 * grows (in direct mode that size is one huge page). */
static int sp_reserve(spool *s, spool_batch *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : s->batch + SPOOL_PIECE;
    while (cap < b->len + more)
        cap *= 2;
    int mapped;
    char *buf = sp_buf_new(s, cap, &mapped);
    if (!buf)
        return -ENOMEM;
    if (b->len)
        memcpy(buf, b->buf, b->len);
    sp_buf_free(b);
    b->buf = buf;
    b->cap = cap;
    b->mapped = mapped;
    return 0;
}

/* Append len bytes for fd to b: one op for a run of bytes to the same fd. */
static int sp_append(spool *s, spool_batch *b, int fd, int *fdp, const void *data, size_t len, int tag)
{
    if (sp_reserve(s, b, len) < 0)
        return -ENOMEM;
    spool_op *last = b->n_ops ? &b->ops[b->n_ops - 1] : NULL;
    if (last && last->kind == SPOOL_WRITE && last->fd == fd && last->fdp == fdp && last->off + last->len == b->len) {
        last->len += len; /* one write() for the whole run of bytes */
    } else {
        spool_op *op = sp_add_op(b);
        if (!op)
            return -ENOMEM;
        *op = (spool_op){.kind = SPOOL_WRITE, .fd = fd, .fdp = fdp, .tag = tag,
                         .direct = !fdp && fd == s->direct_fd, .off = b->len, .len = len};
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    return 0;
}

/* A write queued for fd, or (slot non-NULL) for the file the slot will hold. */
static int sp_write(spool *s, int fd, int *slot, const void *data, size_t len, int tag)
{
    if (s->err)
        return s->err;
    if (s->abandoned)
        return -ECANCELED;
    if (len == 0)
        return 0;
    return sp_append(s, s->fill, fd, slot, data, len, tag);
}

int spool_write(spool *s, int fd, const void *data, size_t len, int tag)
{
    return sp_write(s, fd, NULL, data, len, tag);
}

int spool_write_slot(spool *s, int *slot, const void *data, size_t len, int tag)
{
    return sp_write(s, -1, slot, data, len, tag);
}

int spool_open(spool *s, int *slot, int (*open_fn)(void *arg), void *arg, int tag)
{
    *slot = -1;
    if (s->err)
        return s->err;
    if (s->abandoned)
        return -ECANCELED;
    spool_op *op = sp_add_op(s->fill);
    if (!op)
        return -ENOMEM;
    *op = (spool_op){.kind = SPOOL_OPEN, .fd = -1, .fdp = slot, .tag = tag, .open_fn = open_fn, .arg = arg};
    return 0;
}

int spool_direct(spool *s, int fd)
{
    if (fd < 0 || s->direct_fd >= 0 || s->busy || s->fill->n_ops || s->err || s->abandoned)
        return 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
        return 0; /* e.g. a file system without O_DIRECT (EINVAL): through the page cache */
    s->direct_fd = fd;
    s->direct_on = 1;
    s->direct_pos = 0;
    s->batch = SPOOL_DIRECT_BATCH;
    return 1;
}

void spool_direct_length(spool *s, size_t len)
{
    if (s->direct_fd >= 0 && !s->busy && !s->fill->n_ops)
        s->direct_len = len;
}

void spool_direct_length_unknown(spool *s)
{
    if (s->direct_fd >= 0 && !s->busy && !s->fill->n_ops) {
        s->direct_len = SIZE_MAX; /* no end: sp_plan_reserve reserves ahead of the writes only */
        s->direct_trim = 1;
        s->direct_unknown = 1;
    }
}

/* A reserve made for a body of unknown length still has to be cut to the
 * bytes written (spool_direct_length_unknown). */
static int sp_owes_trim(const spool *s)
{
    return s->direct_trim == 1 && s->reserved > 0;
}

/* The bytes past the last block boundary where b's direct writes end (the
 * file offset direct_queued plus their lengths). */
static size_t sp_direct_tail(const spool *s, const spool_batch *b)
{
    size_t end = s->direct_queued;
    for (size_t i = 0; i < b->n_ops; i++)
        if (b->ops[i].kind == SPOOL_WRITE && b->ops[i].direct)
            end += b->ops[i].len;
    return end % SPOOL_ALIGN;
}

/* Whether a tail of that many bytes can move to the next batch: b (not
 * empty) ends with a direct write longer than it. */
static int sp_tail_movable(const spool_batch *b, size_t tail)
{
    const spool_op *last = &b->ops[b->n_ops - 1];
    return last->kind == SPOOL_WRITE && last->direct && last->off + last->len == b->len && tail < last->len;
}

/* Before a batch goes to the pool: a direct write that ends off the
 * alignment leaves its last bytes (< SPOOL_ALIGN) to the next batch, so
 * that every direct write but the file's last is whole blocks at a block's
 * offset. The next batch is empty here (it came back and was cleared). */
static void sp_hold_tail(spool *s, spool_batch *b, spool_batch *next)
{
    if (s->direct_fd < 0 || s->draining || b->n_ops == 0 || next->len || next->n_ops)
        return;
    size_t tail = sp_direct_tail(s, b);
    if (tail == 0 || !sp_tail_movable(b, tail))
        return;
    spool_op *op = &b->ops[b->n_ops - 1];
    if (sp_append(s, next, op->fd, NULL, b->buf + b->len - tail, tail, op->tag) < 0)
        return; /* no memory for it: this batch writes the tail through the page cache */
    op->len -= tail;
    b->len -= tail;
}

/* Close fd once the spool is idle (nothing queued, nothing on the pool). */
static void sp_close_later(spool *s, int fd)
{
    if (s->n_later < SPOOL_LATER) {
        s->later[s->n_later++] = fd;
        return;
    }
    /* Never reached with the one or two fds a request hands over. Closing
     * now could let the pool write a file's bytes into whatever reuses the
     * number (another client's socket): keeping the fd open until the
     * worker exits is the lesser harm. */
}

static void sp_close_held(spool *s)
{
    for (int i = 0; i < s->n_later; i++)
        close(s->later[i]);
    s->n_later = 0;
    for (int i = 0; i < s->n_later_slots; i++) {
        int *slot = s->later_slots[i];
        if (*slot >= 0)
            close(*slot);
        *slot = -1;
    }
    s->n_later_slots = 0;
}

int spool_sync_close(spool *s, int fd, int tag)
{
    return spool_sync_close_with(s, fd, tag, NULL, NULL);
}

/* The sync-close of fd, or (slot non-NULL) of the file the slot holds then.
 * On a failure to queue it, the file is closed as spool_close(_slot) does. */
static int sp_sync_close(spool *s, int fd, int *slot, int tag, int (*before_close)(int fd, void *arg), void *arg)
{
    int err = s->err ? s->err : s->abandoned ? -ECANCELED : 0;
    spool_op *op = err ? NULL : sp_add_op(s->fill);
    if (!op) {
        if (slot)
            spool_close_slot(s, slot);
        else
            spool_close(s, fd);
        return err ? err : -ENOMEM;
    }
    *op = (spool_op){.kind = SPOOL_SYNC_CLOSE, .fd = fd, .fdp = slot, .tag = tag, .before_close = before_close,
                     .arg = arg};
    return 0;
}

int spool_sync_close_with(spool *s, int fd, int tag, int (*before_close)(int fd, void *arg), void *arg)
{
    return sp_sync_close(s, fd, NULL, tag, before_close, arg);
}

int spool_sync_close_slot(spool *s, int *slot, int tag, int (*before_close)(int fd, void *arg), void *arg)
{
    return sp_sync_close(s, -1, slot, tag, before_close, arg);
}

void spool_close_slot(spool *s, int *slot)
{
    if (!s->fill || (!s->busy && (s->fill->n_ops == 0 || s->abandoned))) {
        /* Idle: the fill batch will never run (or is empty), so an open
         * queued in it never happens and the slot holds what ran before. */
        if (*slot >= 0)
            close(*slot);
        *slot = -1;
        return;
    }
    for (int i = 0; i < s->n_later_slots; i++)
        if (s->later_slots[i] == slot)
            return;
    if (s->n_later_slots < SPOOL_LATER)
        s->later_slots[s->n_later_slots++] = slot;
    /* else: as sp_close_later, the fd stays open rather than risk a reused number */
}

void spool_close(spool *s, int fd)
{
    if (fd < 0)
        return;
    if (!s->fill || (!s->busy && (s->fill->n_ops == 0 || s->abandoned)))
        close(fd);
    else
        sp_close_later(s, fd);
}

/* Whether the batch's direct writes will end on a block boundary once
 * sp_hold_tail has moved an odd end to the next batch. One that will not
 * (the body's last bytes, while draining) writes them through the page
 * cache, and turning O_DIRECT off for that (sp_write_direct) acts on the
 * open file the batches beside it write through: their blocks would land
 * in the page cache. Such a batch goes alone. */
static int sp_ends_whole(const spool *s, const spool_batch *b)
{
    if (b->n_ops == 0)
        return 1;
    size_t tail = sp_direct_tail(s, b); /* every op is a direct write here (sp_may_go) */
    return tail == 0 || (!s->draining && sp_tail_movable(b, tail));
}

/* The filling batch may go to the pool now: nothing is there, or it holds
 * only direct writes and may run beside what is there (spool.h). */
static int sp_may_go(const spool *s)
{
    if (!s->busy)
        return 1;
    if (s->barrier || !s->direct_parallel || s->busy >= SPOOL_DIRECT_DEPTH)
        return 0;
    if (s->draining && sp_owes_trim(s))
        return 0; /* the batch that cuts the file runs after every reserve and write before it */
    const spool_batch *b = s->fill;
    for (size_t i = 0; i < b->n_ops; i++)
        if (b->ops[i].kind != SPOOL_WRITE || !b->ops[i].direct)
            return 0;
    return sp_ends_whole(s, b);
}

int spool_room(const spool *s)
{
    return s->fill->len < s->batch || sp_may_go(s);
}

size_t spool_pause(spool *s)
{
    s->paused = 1;
    return 0;
}

/* ---- running a batch (on a pool thread, or inline) ---- */

/* All of p to fd: at off (pwrite: direct batches run side by side, each at
 * its own place), or at the file's offset when off < 0 (write). */
static int sp_write_all(int fd, const char *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENOSPC;
        p += n;
        len -= (size_t)n;
        if (off >= 0)
            off += n;
    }
    return 0;
}

/* O_DIRECT on or off for the direct fd (pool side). */
static int sp_set_direct(spool *s, int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0)
        return -1;
    __atomic_store_n(&s->direct_on, on, __ATOMIC_RELAXED);
    return 0;
}

/* A write to the direct fd at foff past direct_base: the whole blocks at a
 * block's offset from an aligned address around the page cache, the rest
 * through it. A file system that refuses a direct write (EINVAL) gets every
 * later byte through the page cache. pwrite at the write's own offset:
 * parallel batches may run on other threads meanwhile. */
static void sp_learn_base(spool *s, int fd)
{
    if (!s->direct_based) { /* the first direct batch, alone on the pool */
        off_t at = lseek(fd, 0, SEEK_CUR);
        s->direct_base = at < 0 ? 0 : (long long)at;
        s->direct_based = 1;
    }
}

/* The blocks of [from, to) past direct_base, reserved (spool_direct_length).
 * Only a full disk (or quota, or a file too big) fails the batch: a file
 * system without fallocate (EOPNOTSUPP) just writes as before. Not so for
 * a body of unknown length (spool_direct_length_unknown): the stretch may
 * be far longer than the body, so a disk without room for it may still
 * hold the body; its writes (past the end of the file, as without a
 * reserve) say whether it fits, and the cut drops whatever part of the
 * stretch was allocated. */
static int sp_reserve_blocks(spool *s, size_t from, size_t to)
{
    int fd = s->direct_fd;
    sp_learn_base(s, fd);
    int rc;
    do
        rc = fallocate(fd, 0, (off_t)(s->direct_base + (long long)from), (off_t)(to - from));
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG) && !s->direct_unknown)
        return -errno;
    return 0;
}

/* The end of a file of unknown length (spool_direct_length_unknown): its
 * size cut to the bytes written, the reserved blocks past them given back.
 * It runs alone on the pool (sp_may_go), so no reserve or write of an
 * earlier batch comes after it. A failure fails the batch (the reserve
 * would stay in the file). */
static void sp_run_trim(spool_batch *b, int tag)
{
    spool *s = b->s;
    if (b->err)
        return;
    sp_learn_base(s, s->direct_fd);
    off_t at = (off_t)(s->direct_base + (long long)b->trim_at);
    while (ftruncate(s->direct_fd, at) < 0) {
        if (errno == EINTR)
            continue;
        b->err = -errno;
        b->err_tag = tag;
        return;
    }
}

static int sp_write_direct(spool *s, int fd, const char *p, size_t len, size_t foff)
{
    sp_learn_base(s, fd);
    off_t off = (off_t)(s->direct_base + (long long)foff);
    size_t whole = 0; /* the spool's own offset aligned: the kernel refuses a file's odd one (EINVAL) */
    if (!__atomic_load_n(&s->direct_failed, __ATOMIC_RELAXED) && (uintptr_t)p % SPOOL_ALIGN == 0 &&
        foff % SPOOL_ALIGN == 0)
        whole = len - len % SPOOL_ALIGN;
    if (whole && !__atomic_load_n(&s->direct_on, __ATOMIC_RELAXED) && sp_set_direct(s, fd, 1) < 0)
        whole = 0;
    while (whole > 0) {
        ssize_t n = pwrite(fd, p, whole, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EINVAL) {
            __atomic_store_n(&s->direct_failed, 1, __ATOMIC_RELAXED); /* the rest, this piece's too, through the page cache */
            break;
        }
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ENOSPC;
        p += n;
        off += n;
        len -= (size_t)n;
        whole -= (size_t)n;
        __atomic_add_fetch(&s->direct_pos, (size_t)n, __ATOMIC_RELAXED);
        if (whole % SPOOL_ALIGN)
            break; /* a short write left the alignment: the rest as below */
    }
    if (len == 0)
        return 0;
    if (__atomic_load_n(&s->direct_on, __ATOMIC_RELAXED) && sp_set_direct(s, fd, 0) < 0)
        return -errno;
    int rc = sp_write_all(fd, p, len, off);
    if (rc == 0)
        __atomic_add_fetch(&s->direct_pos, len, __ATOMIC_RELAXED);
    return rc;
}

/* The work: every op in order; after a failure only the closes. It touches
 * the batch and its spool's direct-mode fields alone (never the request
 * nor the host). */
static void sp_run_batch(void *arg)
{
    spool_batch *b = arg;
    int trimmed = !b->trim;
    if (b->reserve_to > b->reserve_from) {
        int rc = sp_reserve_blocks(b->s, b->reserve_from, b->reserve_to);
        if (rc) {
            b->err = rc;
            b->err_tag = b->n_ops ? b->ops[0].tag : 0;
        }
    }
    for (size_t i = 0; i < b->n_ops; i++) {
        spool_op *op = &b->ops[i];
        int rc = 0;
        int fd = op_fd(op);
        if (!trimmed && op->kind == SPOOL_SYNC_CLOSE && fd >= 0 && fd == b->s->direct_fd) {
            sp_run_trim(b, op->tag); /* before its fsync: the cut is synced with the bytes */
            trimmed = 1;
        }
        if (op->kind == SPOOL_OPEN) {
            if (!b->err) {
                fd = op->open_fn(op->arg);
                if (fd >= 0)
                    *op->fdp = fd;
                else
                    rc = fd; /* -errno */
            }
        } else if (op->kind == SPOOL_WRITE) {
            if (!b->err && fd < 0)
                rc = -EBADF;
            else if (!b->err && op->direct)
                rc = sp_write_direct(b->s, fd, b->buf + op->off, op->len, op->foff);
            else if (!b->err)
                rc = sp_write_all(fd, b->buf + op->off, op->len, -1);
        } else if (fd >= 0) {
            if (!b->err && fsync(fd) < 0)
                rc = -errno;
            if (!b->err && !rc && op->before_close)
                rc = op->before_close(fd, op->arg);
            if (close(fd) < 0 && !rc && !b->err && errno != EINTR)
                rc = -errno; /* NFS reports a failed write back at close */
            if (op->fdp)
                *op->fdp = -1;
        }
        if (rc && !b->err) {
            b->err = rc;
            b->err_tag = op->tag;
            b->err_open = op->kind == SPOOL_OPEN;
        }
    }
    if (!trimmed)
        sp_run_trim(b, b->n_ops ? b->ops[b->n_ops - 1].tag : 0);
}

/* Forget a batch's contents; fds it was handed (not run) are closed. */
static void sp_drop_batch(spool_batch *b, int ran)
{
    if (!ran) {
        for (size_t i = 0; i < b->n_ops; i++) {
            spool_op *op = &b->ops[i];
            if (op->kind != SPOOL_SYNC_CLOSE)
                continue;
            int fd = op_fd(op); /* a slot: filled by a batch that came back, or -1 */
            if (fd >= 0)
                close(fd);
            if (op->fdp)
                *op->fdp = -1;
        }
    }
    b->len = 0;
    b->n_ops = 0;
    b->err = 0;
    b->err_open = 0;
}

static int sp_submit(spool *s);

/* The filling batch has something to do: ops, or (draining, nothing else
 * left) the cut of a file of unknown length, which an empty batch does. */
static int sp_fill_has_work(const spool *s)
{
    return s->fill->n_ops || (s->draining && sp_owes_trim(s));
}

/* A batch came back (its done on the loop, or inline). */
static void sp_batch_done(spool *s, spool_batch *b)
{
    s->busy--;
    b->on_pool = 0;
    if (!b->parallel)
        s->barrier = 0;
    /* A direct batch came back with O_DIRECT still on: the file system takes
     * direct writes, and direct_base is set (that batch ran alone). */
    if (s->direct_fd >= 0 && s->direct_based && !__atomic_load_n(&s->direct_failed, __ATOMIC_RELAXED) &&
        __atomic_load_n(&s->direct_on, __ATOMIC_RELAXED))
        s->direct_parallel = 1;
    int err = b->err, tag = b->err_tag, err_open = b->err_open;
    sp_drop_batch(b, 1);
    if (err && !s->err && !s->abandoned) {
        s->err = err;
        s->err_open = err_open;
        s->abandoned = 1;
        sp_drop_batch(s->fill, 0);
        if (!s->busy) /* else the last batch's return closes them: one there may still use them */
            sp_close_held(s);
        s->ev.failed(s->r, s->arg, err, tag);
        return;
    }
    if (s->abandoned) {
        sp_drop_batch(s->fill, 0);
        if (!s->busy)
            sp_close_held(s);
        return;
    }
    if (sp_fill_has_work(s) && (s->fill->len >= s->batch || s->draining) && sp_may_go(s)) {
        if (!sp_submit(s))
            return; /* it ran here (no pool) and its return did everything */
        goto resume;
    }
    if (s->busy)
        goto resume;
    if (!sp_fill_has_work(s))
        sp_close_held(s);
    if (s->draining && !sp_fill_has_work(s)) {
        s->draining = 0;
        s->ev.drained(s->r, s->arg);
        return;
    }
resume:
    if (s->paused && spool_room(s)) {
        s->paused = 0;
        s->host->body_resume(s->r); /* the rest of the body is offered again */
    }
}

static void sp_on_done(ws_request *r, void *arg)
{
    (void)r;
    spool_batch *b = arg;
    sp_batch_done(b->s, b);
}

/* A batch that takes the direct writes within half of SPOOL_RESERVE_AHEAD
 * of the end of what is reserved reserves the next stretch, before its own
 * writes (spool_direct_length). Batches beside it write below the old end. */
static void sp_plan_reserve(spool *s, spool_batch *b)
{
    b->reserve_from = b->reserve_to = 0;
    if (!s->direct_len || s->reserved >= s->direct_len || s->direct_queued + SPOOL_RESERVE_AHEAD / 2 < s->reserved)
        return;
    size_t to = s->direct_queued + SPOOL_RESERVE_AHEAD;
    if (to > s->direct_len)
        to = s->direct_len;
    b->reserve_from = s->reserved;
    b->reserve_to = to;
    s->reserved = to;
}

/* Whether b syncs and closes the direct fd (then nothing is written to it after b). */
static int sp_closes_direct(const spool *s, const spool_batch *b)
{
    for (size_t i = 0; i < b->n_ops; i++)
        if (b->ops[i].kind == SPOOL_SYNC_CLOSE && !b->ops[i].fdp && b->ops[i].fd == s->direct_fd)
            return 1;
    return 0;
}

/* Send the filling batch (sp_may_go said yes) and take an idle one to fill.
 * 1: it is on the pool; 0: it ran here (no pool) and came back already. */
static int sp_submit(spool *s)
{
    spool_batch *b = s->fill;
    for (int i = 0; i < SPOOL_BATCHES; i++)
        if (&s->b[i] != b && !s->b[i].on_pool) {
            s->fill = &s->b[i]; /* one is idle: at most SPOOL_DIRECT_DEPTH are on the pool */
            break;
        }
    sp_hold_tail(s, b, s->fill);
    b->parallel = b->n_ops > 0;
    for (size_t i = 0; i < b->n_ops; i++) {
        spool_op *op = &b->ops[i];
        if (op->kind == SPOOL_WRITE && op->direct) {
            op->foff = s->direct_queued;
            s->direct_queued += op->len;
        } else {
            b->parallel = 0;
        }
    }
    /* A file of unknown length is cut to its bytes by the batch that ends
     * it: the last one (draining) or the one that syncs and closes it. */
    b->trim = 0;
    if (s->direct_trim == 1 && (s->draining || sp_closes_direct(s, b))) {
        if (s->reserved > 0) {
            b->trim = 1;
            b->trim_at = s->direct_queued; /* every direct byte is queued by now */
            b->parallel = 0;
        }
        s->direct_trim = 2;
        s->direct_len = 0; /* nothing more comes: no reserve from here on */
    }
    sp_plan_reserve(s, b);
    if (!b->parallel)
        s->barrier = 1;
    s->busy++;
    b->on_pool = 1;
    if (s->use_offload && s->host->offload(s->r, sp_run_batch, sp_on_done, b) == WS_OK)
        return 1;
    sp_run_batch(b); /* no pool: the disk waits here rather than the upload failing */
    sp_batch_done(s, b);
    return 0;
}

void spool_kick(spool *s)
{
    if (!s->abandoned && s->fill->len >= s->batch && sp_may_go(s))
        sp_submit(s);
}

void spool_drain(spool *s)
{
    if (s->abandoned)
        return;
    s->draining = 1;
    if (s->busy)
        return; /* the last batch's return sends the rest */
    if (sp_fill_has_work(s)) {
        sp_submit(s);
        return;
    }
    sp_close_held(s);
    s->draining = 0;
    s->ev.drained(s->r, s->arg);
}

void spool_abandon(spool *s)
{
    if (!s->fill)
        return; /* never set up */
    s->abandoned = 1;
    s->draining = 0;
    if (s->busy)
        return; /* the last batch's return closes what was handed over */
    sp_drop_batch(s->fill, 0);
    sp_close_held(s);
}

void spool_free(spool *s)
{
    /* Called from cleanup: the pool returned every work of this request
     * (the core guarantees it), so a batch still marked busy did run and
     * closed its fds; the filling one never ran. */
    if (!s->fill)
        return; /* never set up */
    for (int i = 0; i < SPOOL_BATCHES; i++)
        sp_drop_batch(&s->b[i], &s->b[i] != s->fill); /* the others ran, or hold nothing */
    for (int i = 0; i < SPOOL_BATCHES; i++) {
        sp_buf_free(&s->b[i]);
        free(s->b[i].ops);
        s->b[i].ops = NULL;
        s->b[i].cap = s->b[i].cap_ops = 0;
    }
    sp_close_held(s);
    s->busy = 0;
    s->barrier = 0;
    for (int i = 0; i < SPOOL_BATCHES; i++)
        s->b[i].on_pool = 0;
    s->abandoned = 1;
}

int spool_tmpfile(void *prefix)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* A file system without O_TMPFILE: create, then unlink at once. */
    char name[PATH_MAX];
    if (snprintf(name, sizeof name, "%s/%s-XXXXXX", dir, (const char *)prefix) >= (int)sizeof name)
        return -ENAMETOOLONG;
    fd = mkostemp(name, O_CLOEXEC);
    if (fd < 0)
        return errno ? -errno : -EIO;
    unlink(name);
    return fd;
}

/*
 * A request body on its way to files, with the disk calls (write, fsync,
 * close) on the core's thread pool (ABI 1.2 host->offload) instead of the
 * event loop: a slow or busy disk then delays this upload only, never the
 * other connections of the worker (issue 21).
 *
 * Shape: bytes and file operations are appended, in order, to a batch in
 * memory; a full batch goes to the pool while the next one fills. One batch
 * at most is on the pool per request, so the operations run in the order
 * they were asked for, with one exception (direct mode, spool_direct): once
 * a first batch of direct writes came back, batches that hold nothing but
 * whole-block direct writes go to the pool up to SPOOL_DIRECT_DEPTH at once
 * (each a pwrite at its own file offset, so their order does not matter);
 * any other batch waits until none is there, and none follows it until it
 * came back. When no batch may go and the filling one is full, spool_room()
 * says no: the module's on_body then consumes nothing (spool_pause) and the
 * core stops reading from the client until the pool caught up
 * (body_resume). Memory stays bounded: two batches of about SPOOL_BATCH
 * bytes plus one piece of body each (SPOOL_DIRECT_DEPTH + 1 batches of one
 * huge page each in direct mode).
 *
 * File descriptors: a module writes to its own fd with spool_write and keeps
 * it; it hands it over with spool_sync_close or spool_close, and never closes
 * an fd it wrote through the spool itself (the pool may still be writing).
 * After the first failure (spool_error) nothing more is written or synced;
 * handed-over fds are still closed.
 *
 * Without offload (a core older than ABI 1.2, or a pool that cannot start)
 * a batch runs at once on the caller's thread: slower, never wrong.
 */
#ifndef WEBSERV_LIB_SPOOL_H
#define WEBSERV_LIB_SPOOL_H

#include <stddef.h>

#include "webserv/module.h"

#define SPOOL_BATCH (256 * 1024) /* bytes that make a batch worth a trip to the pool */
#define SPOOL_LATER 8            /* fds spool_close can hold back (a request hands over one or two) */
#define SPOOL_PIECE (256 * 1024) /* the largest piece of body a module gets (HTTP/1 reads a big body 256 KiB
                                    at a time): a batch's buffer holds a full batch plus one */
#define SPOOL_ALIGN 4096         /* O_DIRECT: buffer address, length and file offset multiples of this */
/* A direct batch's buffer is one huge page (SPOOL_HUGE, 2 MiB on x86-64 and
 * arm64 with 4 KiB pages): a full batch plus the piece that filled it. In
 * one huge page the buffer is physically contiguous, so a write of it is one
 * segment for the block layer; from 4 KiB pages it is one segment per page,
 * and a device that takes few segments per request (virtio-blk: 254 here)
 * cuts every 1 MiB write in two requests that it runs one after the other
 * (issue 21: 1.4 GB/s with 1 MiB writes from 4 KiB pages, 2.6-3.0 GB/s from
 * a huge page, the same disk and minute). */
#define SPOOL_HUGE (2 * 1024 * 1024)
#define SPOOL_DIRECT_BATCH (SPOOL_HUGE - SPOOL_PIECE) /* batch size in direct mode (1.75 MiB): a disk write of
                                            1 MiB or more runs near the device's speed where 256 KiB ran at 60 % */
/* Direct batches on the pool at once. One write in flight left the disk idle
 * between writes for the round trip through the event loop and the wake-up
 * of a pool thread (which shares the server's CPU, at a lower priority):
 * 0.4 ms per 1 MiB write, 40 % of a 1 GiB upload's time (issue 21). With
 * two, the disk has the next write queued. They overlap at the disk only
 * where the file system lets two direct writes run at once: ext4 takes the
 * file's lock for the whole of a write past the end of the file, so a
 * module reserves the file's blocks first (fallocate: modules/upload, with
 * spool_direct_length or spool_direct_length_unknown), and the writes then
 * land inside the file.
 * Three buffers of one huge page each bound the memory (6 MiB). */
#define SPOOL_DIRECT_DEPTH 2
#define SPOOL_BATCHES (SPOOL_DIRECT_DEPTH + 1)
/* spool_direct_length(_unknown): how far ahead of the written bytes the file's blocks
 * are reserved. Far enough that the batch that reserves more runs long
 * before the writes get there; short enough that a client announcing a
 * huge body and sending little holds little of the disk. */
#define SPOOL_RESERVE_AHEAD (64 * 1024 * 1024)

typedef struct spool_op {
    int kind; /* enum spool_kind (spool.c) */
    int fd;
    int *fdp;   /* a slot (spool_open): the fd is *fdp when the op runs; NULL: fd */
    int (*open_fn)(void *arg); /* SPOOL_OPEN: runs on the pool, returns an fd or -errno */
    int direct; /* a write to the spool's direct fd (aligned where it can be) */
    int tag;  /* the module's name for the file (an index), reported with a failure */
    size_t off, len;
    size_t foff; /* a direct write: its offset in the file past direct_base (set when the batch goes) */
    int (*before_close)(int fd, void *arg); /* sync-close: after fsync, before close; 0 or -errno */
    void *arg;
} spool_op;

typedef struct spool_batch {
    struct spool *s;
    char *buf;
    size_t len, cap;
    spool_op *ops;
    size_t n_ops, cap_ops;
    int err;     /* set by the work: -errno of the first failure, or 0 */
    int err_tag;
    int err_open; /* that failure was a spool_open's */
    int on_pool;  /* sent to the pool, not come back yet */
    int mapped;   /* buf is a mapping of its own (a huge page, sp_buf_new): munmap, not free */
    int parallel; /* only whole-block direct writes: may run beside other such batches */
    size_t reserve_from, reserve_to; /* spool_direct_length: blocks to reserve first (past direct_base) */
    int trim;        /* spool_direct_length_unknown: cut the direct file to trim_at past direct_base */
    size_t trim_at;  /* (before a sync-close of the direct fd in this batch, else after its last op) */
} spool_batch;

/* What the spool tells its module, on the loop (from the done of a batch or
 * from spool_kick/spool_drain when no pool is used). */
typedef struct spool_events {
    /* The first failure: err is -errno (-ENOSPC: the disk is full), tag names
     * the file. The module answers (fails the request); later writes are dropped. */
    void (*failed)(ws_request *r, void *arg, int err, int tag);
    /* Everything asked before spool_drain is on the disk (and synced where asked). */
    void (*drained)(ws_request *r, void *arg);
} spool_events;

typedef struct spool {
    const ws_host *host;
    ws_request *r;
    spool_events ev;
    void *arg;
    spool_batch b[SPOOL_BATCHES];
    spool_batch *fill;   /* the batch being filled */
    int busy;            /* batches on the pool */
    int barrier;         /* the one on the pool is not parallel: nothing else may go */
    int direct_parallel; /* direct batches may go beside each other (a first one came back direct) */
    int use_offload;     /* the host has offload (ABI 1.2) */
    int paused;          /* on_body consumed less: body_resume once there is room */
    int draining;        /* spool_drain was called: drained() when all is done */
    int err;             /* the first failure, sticky */
    int err_open;        /* it was a spool_open's open_fn (not a write, sync or close) */
    int abandoned;       /* spool_abandon: write nothing more, close what was handed over */
    int later[SPOOL_LATER]; /* spool_close'd fds, closed when the spool is idle */
    int n_later;
    int *later_slots[SPOOL_LATER]; /* spool_close_slot'd slots, likewise */
    int n_later_slots;
    /* Direct mode (spool_direct): writes to direct_fd bypass the page cache. */
    int direct_fd;       /* -1: none */
    size_t direct_queued;/* bytes of direct writes sent to the pool (the loop's side) */
    /* The pool's side (parallel batches run on several threads at once: the
     * flags and the count are read and written atomically there; every write
     * is a pwrite at its own offset, so a race on the flags can only make a
     * write go through the page cache, never put bytes in the wrong place): */
    int direct_on;       /* O_DIRECT is set on direct_fd now */
    int direct_failed;   /* a direct write was refused: the page cache from then on */
    size_t direct_pos;   /* bytes written to direct_fd */
    long long direct_base; /* direct_fd's offset before the first direct write (the first batch runs alone) */
    int direct_based;    /* direct_base is set */
    size_t batch;        /* bytes that make a batch full (SPOOL_BATCH, or SPOOL_DIRECT_BATCH) */
    size_t direct_len;   /* spool_direct_length: bytes the direct file will hold past direct_base, or 0 */
    size_t reserved;     /* bytes reserved so far, or asked of a batch on the pool (the loop's side) */
    int direct_trim;     /* spool_direct_length_unknown: 1 the file is cut to its bytes at the end, 2 done */
    int direct_unknown;  /* spool_direct_length_unknown was called (set before any batch, read on the pool) */
} spool;

/* Set up s for request r (s lives in request memory, e.g. the module's ctx).
 * spool_close, spool_abandon and spool_free accept a zeroed spool never set up. */
void spool_init(spool *s, const ws_host *host, ws_request *r, const spool_events *ev, void *arg);

/* Write fd around the page cache (O_DIRECT) where its file system allows:
 * fd is a new file written only through this spool, from offset 0, in
 * order, and synced at the end (spool_sync_close). An upload that is
 * fsync'ed anyway then costs no copy into the page cache (half the CPU of a
 * big upload) and no flush of a gigabyte of dirty pages at its end: the
 * bytes go to the disk while the body flows. The spool keeps every direct
 * write aligned (SPOOL_ALIGN: the unaligned tail of a batch moves to the
 * next one; the last piece is written through the page cache); a file
 * system that refuses O_DIRECT, or one write of it, is written as before.
 * Returns 1 when direct mode is on, 0 when not (nothing changed). Call it
 * before the first spool_write to fd. */
int spool_direct(spool *s, int fd);

/* The buffers of direct batches (one huge page each), mapped and their
 * pages faulted in now. For a module's offloaded work before the body comes
 * (modules/upload: start_work), so that the event loop never takes the
 * first touch of fresh huge pages: the kernel zeroes 2 MiB there, and where
 * the memory is fresh to a virtual machine's host that took 19-27 ms per
 * page on the loop here, three times at the start of a worker's first big
 * upload (a static GET beside it waited 20 ms; issue 21). Call it before the
 * spool is used, from one thread; buffers left unused are freed with the
 * spool. 0, or -ENOMEM (the loop then maps them as before). */
int spool_direct_prepare(spool *s);

/* The direct file will hold exactly len bytes (a body of known length):
 * the spool reserves its blocks ahead of the writes, SPOOL_RESERVE_AHEAD at
 * a time (fallocate, on the pool, with the batch that gets near the end of
 * what is reserved). Direct writes then land inside the file, which lets
 * ext4 run two of them at once (SPOOL_DIRECT_DEPTH), and a full disk says
 * so up to that much earlier (failed() with -ENOSPC). A file system without
 * fallocate is written as before. Call it after spool_direct said 1, before
 * the first write; the module must then write exactly len bytes or fail
 * the request (the file's size is len from the first reservation on). */
void spool_direct_length(spool *s, size_t len);

/* The direct file's length is not known (a chunked body: RFC 9112 §7.1
 * gives no total): its blocks are reserved ahead as spool_direct_length
 * does, SPOOL_RESERVE_AHEAD past the bytes queued, stretch by stretch as
 * the body grows, so its direct writes land inside the file too. The
 * reserve makes the file longer than its bytes; the batch that ends the
 * file (the one spool_drain sends, or the one that sync-closes the direct
 * fd) cuts it to exactly the bytes written (ftruncate, on the pool, once
 * no other batch is there, before that fsync), which gives the unwritten
 * blocks back. A body that never filled a batch before spool_drain
 * reserves nothing. A stretch the disk has no room for fails nothing (the
 * body may be far smaller than it): the writes go on past the end of the
 * file, and only a write that finds the disk full fails the request. A
 * request that fails drops the file as before (its blocks go with it).
 * Call it where spool_direct_length would be called. */
void spool_direct_length_unknown(spool *s);

/* Append a write of data (copied) to fd. 0, or -ENOMEM, or the sticky error. */
int spool_write(spool *s, int fd, const void *data, size_t len, int tag);
/* Hand fd over: fsync then close it, in order after the writes before. On a
 * failure to queue it, fd is closed at once and a negative errno returned. */
int spool_sync_close(spool *s, int fd, int tag);
/* The same, calling before_close(fd, arg) on the pool between the fsync and
 * the close (e.g. to give an O_TMPFILE file its name: it must be done while
 * the fd is open). arg must live until the batch ran (request memory). */
int spool_sync_close_with(spool *s, int fd, int tag, int (*before_close)(int fd, void *arg), void *arg);
/* Hand fd over: close it (no fsync), its data not wanted: at once when the
 * spool is idle, else once nothing queued or on the pool can use it. */
void spool_close(spool *s, int fd);

/* ---- files the pool opens (issue 21: no open() on the event loop) ----
 * spool_open queues open_fn(arg) in order with the other ops; it runs on the
 * pool and returns an fd (or -errno: then failed() reports it with
 * s->err_open set, and nothing after it runs). The fd lands in *slot, an int
 * in request memory that the module keeps (set to -1 here); the _slot calls
 * below name the file by that slot, so a module writes to a file before it
 * exists. The module reads *slot only while the spool is idle (e.g. in
 * drained()), never while a batch is on the pool. A slot not handed over by
 * spool_sync_close_slot belongs to the module, which closes it after the
 * request's works are done (cleanup), or hands it to spool_close_slot. */
int spool_open(spool *s, int *slot, int (*open_fn)(void *arg), void *arg, int tag);
int spool_write_slot(spool *s, int *slot, const void *data, size_t len, int tag);
/* fsync, before_close (may be NULL), close; *slot is -1 afterwards. */
int spool_sync_close_slot(spool *s, int *slot, int tag, int (*before_close)(int fd, void *arg), void *arg);
/* Close the slot's file (if it was opened) once nothing queued or on the
 * pool can use it: at once when the spool is idle; *slot is -1 then. */
void spool_close_slot(spool *s, int *slot);

/* Room for another piece of body: no batch on the pool, or the filling one
 * is not full yet. When 0, on_body returns spool_pause(s). */
int spool_room(const spool *s);
/* Remember that the body is paused; returns 0 (bytes consumed). */
size_t spool_pause(spool *s);
/* Send a full batch to the pool if none is there. Call it at the end of
 * on_body, outside any parser callback: without a pool the batch runs here,
 * and failed() may be called from it. */
void spool_kick(spool *s);
/* Send what is left; drained() follows once everything is done (maybe at
 * once, from inside this call). */
void spool_drain(spool *s);
/* The request failed: nothing more is written; the fds handed over are
 * closed (now, or after the batch on the pool came back). */
void spool_abandon(spool *s);
/* The request's cleanup (the pool is done with this request by then):
 * close what was handed over and free the batches. */
void spool_free(spool *s);

/* An unnamed temporary file for a body, as spool_open's open_fn (so it is
 * created on the pool, in order before the body's first write): O_TMPFILE in
 * $TMPDIR or /tmp, so nothing is left behind even if the worker is killed;
 * where the file system lacks it, a file created and unlinked at once, named
 * after `prefix` (a const char *, e.g. "webserv-cgi"). Read-write,
 * close-on-exec. The fd, or -errno. Used by the cgi and fastcgi modules. */
int spool_tmpfile(void *prefix);

/* A batch is on the pool (the module must not close fds it wrote). */
static inline int spool_busy(const spool *s) { return s->busy > 0; }

#endif

/*
 * The output queue through the transport seam (core/net/transport.h): a fake
 * transport that takes a few bytes per call, says TR_AGAIN with a `want` of
 * its choosing, may have no sendfile, and fails on demand. Whatever the
 * transport does, the bytes that come out are the bytes queued, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "outq.h"
#include "transport.h"

typedef struct fake {
    char out[1 << 20];
    size_t n;             /* bytes taken so far */
    size_t per_call;      /* at most this many per call */
    int again_every;      /* every Nth call says TR_AGAIN (0: never) */
    unsigned again_want;  /* what it then wants */
    int calls;
    int fail;             /* the next call fails */
    int more_seen;        /* a writev was told more follows */
    int last_more;        /* what the last writev was told */
    int writev_calls;
    int sendfile_calls;
} fake;

static int stall(transport *t, fake *f)
{
    f->calls++;
    if (f->again_every && f->calls % f->again_every == 0) {
        t->want = f->again_want;
        return 1;
    }
    return 0;
}

static ssize_t fake_writev(transport *t, const struct iovec *iov, int n, int more)
{
    fake *f = t->ctx;
    if (f->fail)
        return TR_ERROR;
    if (stall(t, f))
        return TR_AGAIN;
    f->more_seen |= more;
    f->last_more = more;
    f->writev_calls++;
    size_t room = f->per_call;
    for (int i = 0; i < n && room; i++) {
        size_t k = iov[i].iov_len < room ? iov[i].iov_len : room;
        memcpy(f->out + f->n, iov[i].iov_base, k);
        f->n += k;
        room -= k;
    }
    return (ssize_t)(f->per_call - room);
}

static ssize_t fake_sendfile(transport *t, int fd, off_t *off, size_t n)
{
    fake *f = t->ctx;
    f->sendfile_calls++;
    if (stall(t, f))
        return TR_AGAIN;
    size_t k = n < f->per_call ? n : f->per_call;
    ssize_t r = pread(fd, f->out + f->n, k, *off);
    if (r > 0) {
        f->n += (size_t)r;
        *off += r;
    }
    return r;
}

static void fake_noop(transport *t)
{
    (void)t;
}

static transport_ops ops_with_sendfile = {
    .name = "fake", .writev = fake_writev, .sendfile = fake_sendfile, .shutdown = fake_noop, .close = fake_noop};
static transport_ops ops_no_sendfile = {
    .name = "fake", .writev = fake_writev, .sendfile = NULL, .shutdown = fake_noop, .close = fake_noop};

static int fcntl_nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int temp_file(const char *content, size_t n)
{
    char path[] = "/tmp/test_outq_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    return fd;
}

/* Flush until empty, counting the rounds a real loop would wait in. */
static int drain(outq *q, transport *t, unsigned *wants)
{
    int rounds = 0;
    *wants = 0;
    while (!outq_empty(q)) {
        ssize_t w = outq_flush(q, t);
        if (w < 0)
            return -1;
        if (!outq_empty(q))
            *wants |= t->want;
        assert_true(++rounds < 100000);
    }
    return rounds;
}

static void run_case(const transport_ops *ops, int again_every, unsigned again_want)
{
    static fake f;
    memset(&f, 0, sizeof f);
    f.per_call = 7;
    f.again_every = again_every;
    f.again_want = again_want;
    transport t = {.ops = ops, .fd = -1, .ready = 1, .ctx = &f};
    outq q = {0};

    char big[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    const char file_body[] = "0123456789file-range-body";
    int fd = temp_file(file_body, sizeof file_body - 1);

    assert_int_equal(outq_append(&q, "HEAD\r\n", 6), 0);
    assert_int_equal(outq_append_file(&q, fd, 4, 10), 0); /* "456789file" */
    assert_int_equal(outq_append(&q, big, sizeof big), 0);
    assert_int_equal(outq_prepend(&q, ">", 1), 0);

    unsigned wants;
    assert_true(drain(&q, &t, &wants) > 0);
    assert_int_equal(f.n, 1 + 6 + 10 + sizeof big);
    assert_memory_equal(f.out, ">HEAD\r\n456789file", 17);
    assert_memory_equal(f.out + 17, big, sizeof big);
    assert_true(f.more_seen); /* the head before the file was sent with "more follows" */
    if (again_every)
        assert_int_equal(wants, again_want);
    if (ops->sendfile)
        assert_true(f.sendfile_calls > 0);
    assert_int_equal(q.mem_bytes, 0);
    assert_int_equal(q.file_bytes, 0);
}

static void test_short_writes(void **state)
{
    (void)state;
    run_case(&ops_with_sendfile, 0, 0);
}

static void test_again_wants_write(void **state)
{
    (void)state;
    run_case(&ops_with_sendfile, 3, LOOP_WRITE);
}

/* A TLS write during a renegotiation-free key update may wait for readable. */
static void test_again_wants_read(void **state)
{
    (void)state;
    run_case(&ops_with_sendfile, 2, LOOP_READ);
}

/* No sendfile (TLS): the file range goes through a buffer and writev. */
static void test_no_sendfile(void **state)
{
    (void)state;
    run_case(&ops_no_sendfile, 0, 0);
    run_case(&ops_no_sendfile, 4, LOOP_WRITE);
}

static void test_error_is_fatal(void **state)
{
    (void)state;
    static fake f;
    memset(&f, 0, sizeof f);
    f.per_call = 100;
    f.fail = 1;
    transport t = {.ops = &ops_with_sendfile, .fd = -1, .ready = 1, .ctx = &f};
    outq q = {0};
    assert_int_equal(outq_append(&q, "abc", 3), 0);
    assert_int_equal(outq_flush(&q, &t), -1);
    outq_clear(&q);
    assert_true(outq_empty(&q));
}

/* A file that is shorter than its range cannot keep the promised length. */
static void test_shrunk_file(void **state)
{
    (void)state;
    const transport_ops *all[] = {&ops_with_sendfile, &ops_no_sendfile};
    for (int i = 0; i < 2; i++) {
        static fake f;
        memset(&f, 0, sizeof f);
        f.per_call = 100;
        transport t = {.ops = all[i], .fd = -1, .ready = 1, .ctx = &f};
        outq q = {0};
        int fd = temp_file("short", 5);
        assert_int_equal(outq_append_file(&q, fd, 0, 50), 0);
        assert_int_equal(outq_flush(&q, &t), -1);
        assert_int_equal(errno, EIO);
        outq_clear(&q);
    }
}

/* Issue 21: one flush sends at most OUTQ_FILE_BURST bytes of files, though
 * the transport would take more (a socket with a large buffer), and says it
 * wants LOOP_WRITE for the rest; the memory before the file is not counted;
 * the next flushes send the rest in order. */
static void test_file_burst_per_flush(void **state)
{
    (void)state;
    static fake f;
    memset(&f, 0, sizeof f);
    size_t len = sizeof f.out - 100;
    f.per_call = len; /* takes everything it is given */
    transport t = {.ops = &ops_with_sendfile, .fd = -1, .ready = 1, .ctx = &f};
    outq q = {0};
    char *body = malloc(len);
    assert_non_null(body);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)(i * 31 + i / 4093);
    int fd = temp_file(body, len);
    assert_int_equal(outq_append(&q, "HEAD\r\n", 6), 0);
    assert_int_equal(outq_append_file(&q, fd, 0, len), 0);
    assert_int_equal(outq_append(&q, "END", 3), 0);

    assert_int_equal(outq_flush(&q, &t), 6 + OUTQ_FILE_BURST);
    assert_false(outq_empty(&q));
    assert_int_equal(t.want, LOOP_WRITE);
    assert_int_equal(q.file_bytes, len - OUTQ_FILE_BURST);
    int flushes = 1;
    while (!outq_empty(&q)) {
        t.want = 0;
        ssize_t w = outq_flush(&q, &t);
        assert_true(w > 0 && (size_t)w <= OUTQ_FILE_BURST + 3);
        if (!outq_empty(&q))
            assert_int_equal(t.want, LOOP_WRITE);
        assert_true(++flushes < 100);
    }
    assert_int_equal(flushes, (int)((len + OUTQ_FILE_BURST - 1) / OUTQ_FILE_BURST));
    assert_int_equal(f.n, 6 + len + 3);
    assert_memory_equal(f.out + 6, body, len);
    assert_memory_equal(f.out + 6 + len, "END", 3);
    free(body);
}

/* The plain transport on a pipe: bytes through writev, AGAIN when full. */
/* fin_follows (issue 21): the write that empties the queue says "more
 * follows", so the FIN of the close right after rides in its segment; without
 * it, the last write pushes (a keep-alive response must never be held). */
static void test_fin_follows(void **state)
{
    (void)state;
    static fake f;
    for (int fin = 0; fin <= 1; fin++) {
        memset(&f, 0, sizeof f);
        f.per_call = 1 << 20;
        transport t = {.ops = &ops_with_sendfile, .fd = -1, .ready = 1, .ctx = &f};
        outq q = {0};
        q.fin_follows = fin;
        assert_int_equal(outq_append(&q, "HEAD\r\n\r\n", 8), 0);
        assert_int_equal(outq_append(&q, "body", 4), 0);
        assert_int_equal(outq_flush(&q, &t), 12);
        assert_true(outq_empty(&q));
        assert_int_equal(f.writev_calls, 1);
        assert_int_equal(f.last_more, fin);

        /* A file range then a memory tail: the head says "more" either way
         * (the file follows); the tail, last, says it only with fin_follows. */
        memset(&f, 0, sizeof f);
        f.per_call = 1 << 20;
        int fd = temp_file("0123456789", 10);
        assert_int_equal(outq_append(&q, "H", 1), 0);
        assert_int_equal(outq_append_file(&q, fd, 0, 10), 0);
        assert_int_equal(outq_append(&q, "T", 1), 0);
        unsigned wants;
        assert_true(drain(&q, &t, &wants) > 0);
        assert_int_equal(f.n, 12);
        assert_memory_equal(f.out, "H0123456789T", 12);
        assert_true(f.more_seen);
        assert_int_equal(f.writev_calls, 2);
        assert_int_equal(f.last_more, fin);

        /* Short writes: each call holds the whole rest, so each says what
         * the last says; without fin_follows none holds anything. */
        memset(&f, 0, sizeof f);
        f.per_call = 3;
        assert_int_equal(outq_append(&q, "0123456789", 10), 0);
        assert_true(drain(&q, &t, &wants) > 0);
        assert_int_equal(f.n, 10);
        assert_int_equal(f.writev_calls, 4);
        assert_int_equal(f.last_more, fin);
        assert_int_equal(f.more_seen, fin);
    }
}

static void test_plain_on_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    transport t;
    transport_init(&t, p[1]);
    assert_int_equal(transport_handshake(&t), TR_OK);
    struct iovec iov = {"hello", 5};
    assert_int_equal(transport_writev(&t, &iov, 1, 0), 5);
    char buf[8];
    transport r;
    transport_init(&r, p[0]);
    assert_int_equal(transport_read(&r, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    /* Non-blocking and empty: TR_AGAIN, wanting readable. */
    assert_int_equal(fcntl_nonblock(p[0]), 0);
    assert_int_equal(transport_read(&r, buf, sizeof buf), TR_AGAIN);
    assert_int_equal(r.want, LOOP_READ);
    transport_close(&t);
    assert_int_equal(transport_read(&r, buf, sizeof buf), 0); /* EOF */
    transport_close(&r);
    assert_int_equal(r.fd, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_writes),
        cmocka_unit_test(test_again_wants_write),
        cmocka_unit_test(test_again_wants_read),
        cmocka_unit_test(test_no_sendfile),
        cmocka_unit_test(test_error_is_fatal),
        cmocka_unit_test(test_shrunk_file),
        cmocka_unit_test(test_plain_on_pipe),
        cmocka_unit_test(test_file_burst_per_flush),
        cmocka_unit_test(test_fin_follows),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    outq_release_spares();
    return rc;
}

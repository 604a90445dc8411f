/*
 * mod_upload through the test host: raw PUT/POST, multipart POST, DELETE,
 * and that nothing (not even a temporary file) is left behind on refusal,
 * conflict or abort.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <cmocka.h>

#include "testhost.h"

/* The spool's file writes, watched (issue 21): how many direct writes (a
 * whole number of blocks) are in the kernel at once. With gate_parallel
 * set, such a write waits (at most a second) until another one is in
 * flight too, so that a test sees batches overlap however the threads are
 * scheduled; the spool must never need that to make progress. */
static int direct_inflight, direct_inflight_max, gate_parallel;
/* And how many of them wrote past the end of the file (ext4 runs such a
 * write alone: spool_direct_length reserves the blocks to avoid them). */
static int direct_writes, direct_extending;
static ssize_t watched_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || !(fl & O_DIRECT) || len % 4096)
        return pwrite(fd, buf, len, off);
    struct stat st;
    __atomic_add_fetch(&direct_writes, 1, __ATOMIC_SEQ_CST);
    if (fstat(fd, &st) == 0 && off + (off_t)len > st.st_size)
        __atomic_add_fetch(&direct_extending, 1, __ATOMIC_SEQ_CST);
    int now = __atomic_add_fetch(&direct_inflight, 1, __ATOMIC_SEQ_CST);
    for (int max = __atomic_load_n(&direct_inflight_max, __ATOMIC_SEQ_CST); now > max;)
        if (__atomic_compare_exchange_n(&direct_inflight_max, &max, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
    for (int i = 0; i < 1000 && __atomic_load_n(&gate_parallel, __ATOMIC_SEQ_CST) &&
                    __atomic_load_n(&direct_inflight, __ATOMIC_SEQ_CST) < 2;
         i++)
        usleep(1000);
    ssize_t n = pwrite(fd, buf, len, off);
    int err = errno;
    __atomic_sub_fetch(&direct_inflight, 1, __ATOMIC_SEQ_CST);
    errno = err;
    return n;
}
/* The spool's reserves (fallocate), failing with fallocate_fails (an errno) when set. */
static int fallocate_fails, fallocate_calls;
static int watched_fallocate(int fd, int mode, off_t off, off_t len)
{
    __atomic_add_fetch(&fallocate_calls, 1, __ATOMIC_SEQ_CST);
    int err = __atomic_load_n(&fallocate_fails, __ATOMIC_SEQ_CST);
    if (err) {
        errno = err;
        return -1;
    }
    return fallocate(fd, mode, off, len);
}
/* The spool's cut (ftruncate), failing with ftruncate_fails when set. */
static int ftruncate_fails;
static int watched_ftruncate(int fd, off_t len)
{
    int err = __atomic_load_n(&ftruncate_fails, __ATOMIC_SEQ_CST);
    if (err) {
        errno = err;
        return -1;
    }
    return ftruncate(fd, len);
}
#define pwrite watched_pwrite
#define fallocate watched_fallocate
#define ftruncate watched_ftruncate
#include "spool.c"
#undef ftruncate
#undef fallocate
#undef pwrite
#include <sys/syscall.h>

#include "upload/tempfile.c"

/* Where the module creates files, looks for taken names, resolves paths
 * and places files: counted per thread (issue 21: these run on the pool,
 * never on the event loop, which is this test's main thread). */
static pid_t main_tid;
static int creates_on_loop, creates_on_pool, lstats_on_loop, lstats_on_pool;
static int realpaths_on_loop, realpaths_on_pool, places_on_loop, places_on_pool;
static int stats_on_loop, stats_on_pool, unlinks_on_loop, unlinks_on_pool, rmdirs_on_loop, rmdirs_on_pool;
/* A gate for the pool (a pipe, -1 when open): an unlink or rmdir there
 * first says it arrived (gate_reached) and waits for a byte, so that a test
 * can act while a DELETE surely runs on the pool. */
static int gate_in = -1, gate_reached;
static int on_loop(void)
{
    return (pid_t)syscall(SYS_gettid) == main_tid;
}
static void count(int *loop_n, int *pool_n)
{
    __atomic_add_fetch(on_loop() ? loop_n : pool_n, 1, __ATOMIC_SEQ_CST);
}
static int counted_tf_create(const char *dir, char *path, size_t cap)
{
    count(&creates_on_loop, &creates_on_pool);
    return tf_create(dir, path, cap);
}
static int counted_lstat(const char *path, struct stat *st)
{
    count(&lstats_on_loop, &lstats_on_pool);
    return lstat(path, st);
}
static char *counted_realpath(const char *path, char *resolved)
{
    count(&realpaths_on_loop, &realpaths_on_pool);
    return realpath(path, resolved);
}
static int counted_stat(const char *path, struct stat *st)
{
    count(&stats_on_loop, &stats_on_pool);
    return stat(path, st);
}
static void pass_gate(void)
{
    if (gate_in < 0 || on_loop())
        return;
    __atomic_store_n(&gate_reached, 1, __ATOMIC_SEQ_CST);
    char b;
    while (read(gate_in, &b, 1) < 0 && errno == EINTR)
        ;
}
static int counted_unlink(const char *path)
{
    count(&unlinks_on_loop, &unlinks_on_pool);
    pass_gate();
    return unlink(path);
}
static int counted_rmdir(const char *path)
{
    count(&rmdirs_on_loop, &rmdirs_on_pool);
    pass_gate();
    return rmdir(path);
}
static int counted_tf_replace(const char *tmp, const char *final)
{
    count(&places_on_loop, &places_on_pool);
    return tf_replace(tmp, final);
}
static int counted_tf_place_new(const char *tmp, const char *final)
{
    count(&places_on_loop, &places_on_pool);
    return tf_place_new(tmp, final);
}
static void reset_counts(void)
{
    creates_on_loop = creates_on_pool = lstats_on_loop = lstats_on_pool = 0;
    realpaths_on_loop = realpaths_on_pool = places_on_loop = places_on_pool = 0;
    stats_on_loop = stats_on_pool = unlinks_on_loop = unlinks_on_pool = rmdirs_on_loop = rmdirs_on_pool = 0;
}
#define tf_create counted_tf_create
#define lstat counted_lstat
#define realpath counted_realpath
#define tf_replace counted_tf_replace
#define tf_place_new counted_tf_place_new
#define stat(path, st) counted_stat(path, st) /* the call, not struct stat */
#define unlink counted_unlink
#define rmdir counted_rmdir
#include "upload/files.c"
#include "upload/form.c"
#include "upload/paths.c"
#include "upload/raw.c"
#include "upload/delete.c"
#undef tf_create
#undef lstat
#undef realpath
#undef tf_replace
#undef tf_place_new
#undef stat
#undef unlink
#undef rmdir
#include "upload/filename.c"
#include "upload/multipart.c"
#include "upload/respond.c"
#include "upload/upload.c"

static char root[256];   /* a fresh temporary folder per test */
static char folder[300]; /* root/up: the upload folder of location /up */
static th_module *mod;
static const void *conf;

/* ---- helpers ---- */

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static const char *at(const char *rel)
{
    static char buf[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", root, rel);
    return buf[i];
}

static void put_file(const char *rel, const char *content)
{
    FILE *f = fopen(at(rel), "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

/* The file's content (malloced), or NULL if it does not exist. */
static char *slurp(const char *rel)
{
    FILE *f = fopen(at(rel), "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char tmp[4096];
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, tmp, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    buf[len] = '\0';
    return buf;
}

static int exists(const char *rel)
{
    struct stat st;
    return lstat(at(rel), &st) == 0;
}

static void assert_content(const char *rel, const char *want)
{
    char *got = slurp(rel);
    if (!got)
        fail_msg("%s does not exist", rel);
    assert_string_equal(got, want);
    free(got);
}

/* Entries of a folder below root, "." and ".." left out. */
static int entries(const char *rel)
{
    DIR *d = opendir(at(rel));
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* Temporary files anywhere below root. */
static int temps_in(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (!strncmp(e->d_name, ".upload-", 8))
            n++;
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            n += temps_in(sub);
    }
    closedir(d);
    return n;
}

static int temps(void)
{
    return temps_in(root);
}

/* Files being written that have no name yet (O_TMPFILE): open descriptors
 * of this process on "<root>/…/#<inode> (deleted)". A worker killed now
 * leaves nothing behind. */
static int unnamed_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    size_t rlen = strlen(root);
    while ((e = readdir(d))) {
        char link[300], target[1024];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        if (!strncmp(target, root, rlen) && strstr(target, "/#") && strstr(target, " (deleted)"))
            n++;
    }
    closedir(d);
    return n;
}

static void wait_started(th_request *t)
{
    th_response *res = th_response_of(t);
    for (int spins = 0; !res->read_body_called && !res->error_status && !res->finished; spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
}

/* A request dispatched; a raw upload's start runs on the pool (issue 21):
 * the loop runs until it came back (the body is read, or the answer given). */
static th_request *start(const char *method, const char *target, const char *const *headers)
{
    th_request *t = th_request_new(mod, conf, method, target, headers);
    assert_non_null(t);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    wait_started(t);
    return t;
}

/* A whole request: headers, then the body in pieces of `piece` bytes. */
static th_request *send_req(const char *method, const char *target, const char *const *headers, const char *body,
                            size_t len, size_t piece)
{
    th_request *t = start(method, target, headers);
    th_response *res = th_response_of(t);
    if (res->error_status || res->finished)
        return t;
    assert_true(res->read_body_called);
    for (size_t i = 0; i < len && !res->error_status && !res->finished; i += piece) {
        size_t n = len - i < piece ? len - i : piece;
        assert_int_equal(th_feed_body(t, body + i, n), n); /* never paused: these bodies fit in the spool's first batch */
    }
    if (!res->error_status && !res->finished)
        th_end_body(t);
    return t;
}

static int status_of(th_request *t)
{
    th_response *res = th_response_of(t);
    return res->error_status ? res->error_status : res->status;
}

static void end(th_request *t)
{
    th_response *res = th_response_of(t);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
}

static char cl_buf[8][64];
static const char *content_length(size_t n)
{
    static int i;
    i = (i + 1) % 8;
    snprintf(cl_buf[i], sizeof cl_buf[i], "Content-Length: %zu", n);
    return cl_buf[i];
}

/* One request with a body; returns its status and ends it. */
static int raw(const char *method, const char *target, const char *body)
{
    const char *h[] = {content_length(strlen(body)), NULL};
    th_request *t = send_req(method, target, h, body, strlen(body), 3);
    int st = status_of(t);
    end(t);
    return st;
}

static int simple(const char *method, const char *target)
{
    th_request *t = start(method, target, NULL);
    int st = status_of(t);
    assert_false(th_response_of(t)->read_body_called);
    end(t);
    return st;
}

/* ---- multipart bodies ---- */

#define BOUNDARY "--------------------------631254724589857935214018"
#define CT_FORM "Content-Type: multipart/form-data; boundary=" BOUNDARY

typedef struct part {
    const char *name;     /* NULL: no name parameter */
    const char *filename; /* NULL: no filename parameter */
    const char *content;
} part;

static char *form(const part *parts, size_t n, int final, size_t *len)
{
    size_t cap = 4096;
    for (size_t i = 0; i < n; i++)
        cap += strlen(parts[i].content) + 512;
    char *b = malloc(cap);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        o += (size_t)sprintf(b + o, "--%s\r\nContent-Disposition: form-data", BOUNDARY);
        if (parts[i].name)
            o += (size_t)sprintf(b + o, "; name=\"%s\"", parts[i].name);
        if (parts[i].filename)
            o += (size_t)sprintf(b + o, "; filename=\"%s\"", parts[i].filename);
        o += (size_t)sprintf(b + o, "\r\nContent-Type: application/octet-stream\r\n\r\n%s\r\n", parts[i].content);
    }
    if (final)
        o += (size_t)sprintf(b + o, "--%s--\r\n", BOUNDARY);
    *len = o;
    return b;
}

static th_request *post_form(const char *target, const part *parts, size_t n, int final, const char *accept,
                             size_t piece)
{
    size_t len;
    char *body = form(parts, n, final, &len);
    const char *h[] = {CT_FORM, content_length(len), accept, NULL};
    th_request *t = send_req("POST", target, h, body, len, piece);
    free(body);
    return t;
}

static int post_form_status(const char *target, const part *parts, size_t n)
{
    th_request *t = post_form(target, parts, n, 1, NULL, 7);
    int st = status_of(t);
    end(t);
    return st;
}

/* ---- fixtures ---- */

/* Where the tests' folders go: the first of /tmp, /var/tmp and the current
 * folder (ctest runs the test in the build folder) on a disk whose file
 * system takes O_DIRECT and fallocate (the upload module's fast path; /tmp
 * may be a tmpfs), else /tmp (require_direct then fails the direct tests). */
#define BASE_CANDIDATES_TEXT "/tmp, /var/tmp and the build folder"
static int dir_takes_direct(const char *dir);
static int dir_takes_fallocate(const char *dir);

/* A tmpfs (Linux 6.6 and later) takes O_DIRECT too, but its pages are the
 * page cache and it takes unaligned direct writes: not what the direct
 * tests look at (the page cache left alone, a refused write's fallback). */
static int on_a_disk(const char *dir)
{
    struct statfs fs;
    return statfs(dir, &fs) == 0 && fs.f_type != TMPFS_MAGIC;
}

static int direct_folder_found; /* base_folder found one on a disk with O_DIRECT and fallocate */

static const char *base_folder(void)
{
    static const char *chosen;
    if (!chosen) {
        static char cwd[200];
        const char *const candidates[] = {"/tmp", "/var/tmp", getcwd(cwd, sizeof cwd)};
        chosen = "/tmp";
        for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
            if (candidates[i] && on_a_disk(candidates[i]) && dir_takes_direct(candidates[i]) &&
                dir_takes_fallocate(candidates[i])) {
                chosen = candidates[i];
                direct_folder_found = 1;
                break;
            }
    }
    return chosen;
}

static int setup(void **state)
{
    (void)state;
    main_tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&fallocate_fails, 0, __ATOMIC_SEQ_CST); /* a test that failed midway left them set */
    __atomic_store_n(&ftruncate_fails, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&gate_parallel, 0, __ATOMIC_SEQ_CST);
    snprintf(root, sizeof root, "%s/test_upload.XXXXXX", base_folder());
    if (!mkdtemp(root))
        return -1;
    snprintf(folder, sizeof folder, "%s/up", root);
    mkdir(folder, 0755);
    mkdir(at("up/sub"), 0755);
    mod = th_load(&webserv_module);
    char err[256];
    conf = th_configure(mod, "{}", "/up", root, err, sizeof err);
    if (!conf) {
        fprintf(stderr, "configure: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_unload(mod);
    rm_rf(root);
    return 0;
}

/* ---- raw PUT and POST ---- */

static void test_put_create(void **state)
{
    (void)state;
    const char *h[] = {"Content-Length: 11", NULL};
    th_request *t = send_req("PUT", "/up/a%20b.txt", h, "hello world", 11, 4);
    assert_int_equal(status_of(t), 201);
    assert_true(th_response_of(t)->finished);
    assert_string_equal(th_header(t, "Location"), "/up/a%20b.txt");
    assert_non_null(strstr(th_response_of(t)->body, "a b.txt"));
    end(t);
    assert_content("up/a b.txt", "hello world");
    assert_int_equal(temps(), 0);
}

static void test_put_replace_keeps_old_until_complete(void **state)
{
    (void)state;
    put_file("up/f.txt", "old bytes");
    const char *h[] = {"Content-Length: 9", NULL};
    th_request *t = start("PUT", "/up/f.txt", h);
    assert_int_equal(th_feed_body(t, "new", 3), 3);
    assert_content("up/f.txt", "old bytes");
    assert_int_equal(temps(), 0); /* being written: no name yet */
    assert_int_equal(unnamed_open(), 1);
    assert_int_equal(th_feed_body(t, " content", 6), 6);
    assert_content("up/f.txt", "old bytes");
    th_end_body(t);
    assert_int_equal(status_of(t), 204);
    assert_true(th_response_of(t)->finished);
    end(t);
    assert_content("up/f.txt", "new conte");
    assert_int_equal(temps(), 0);
}

static void test_put_chunked_and_empty(void **state)
{
    (void)state;
    const char *h[] = {"Transfer-Encoding: chunked", NULL};
    th_request *t = send_req("PUT", "/up/sub/c.bin", h, "0123456789abcdef", 16, 5);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_content("up/sub/c.bin", "0123456789abcdef");

    assert_int_equal(raw("PUT", "/up/empty", ""), 201);
    assert_content("up/empty", "");
    assert_int_equal(raw("PUT", "/up/empty", ""), 204);
    assert_int_equal(temps(), 0);
}

static void test_post_raw(void **state)
{
    (void)state;
    assert_int_equal(raw("POST", "/up/new.txt", "first"), 201);
    assert_content("up/new.txt", "first");
    /* existing: refused before the body is read */
    const char *h[] = {"Content-Length: 6", NULL};
    th_request *t = start("POST", "/up/new.txt", h);
    assert_int_equal(status_of(t), 409);
    assert_false(th_response_of(t)->read_body_called);
    end(t);
    assert_content("up/new.txt", "first");
    assert_int_equal(temps(), 0);
}

static void test_post_raw_conflict_at_commit(void **state)
{
    (void)state;
    const char *h[] = {"Content-Length: 4", NULL};
    th_request *t = start("POST", "/up/race.txt", h);
    th_feed_body(t, "mine", 4);
    put_file("up/race.txt", "theirs"); /* someone else was faster */
    th_end_body(t);
    assert_int_equal(status_of(t), 409);
    end(t);
    assert_content("up/race.txt", "theirs");
    assert_int_equal(temps(), 0);
}

static void test_raw_refusals(void **state)
{
    (void)state;
    assert_int_equal(raw("PUT", "/up/missing/x.txt", "x"), 409);  /* no parent folder */
    assert_int_equal(raw("PUT", "/up/sub", "x"), 409);            /* a folder */
    assert_int_equal(raw("POST", "/up/sub", "x"), 415);            /* raw body to a folder (SPEC §5) */
    assert_int_equal(raw("PUT", "/up/new/", "x"), 409);           /* a folder path */
    assert_int_equal(raw("PUT", "/up", "x"), 409);                /* the upload folder itself */
    assert_int_equal(raw("PUT", "/up/bad%01name", "x"), 400);     /* a control character */
    assert_int_equal(raw("PUT", "/up/back%5Cslash", "x"), 400);
    assert_int_equal(raw("POST", "/up/", "not a form"), 415);     /* raw body to a folder (SPEC §5) */
    assert_int_equal(raw("POST", "/up/nope/", "x"), 409);         /* a folder path that does not exist */
    put_file("up/file", "f");
    assert_int_equal(raw("PUT", "/up/file/x", "x"), 409);          /* parent is a file */
    assert_false(exists("up/missing"));
    assert_false(exists("up/new"));
    assert_int_equal(temps(), 0);
}

static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    put_file("up/keep.txt", "precious");
    const char *h[] = {"Content-Length: 100", NULL};
    th_request *t = start("PUT", "/up/keep.txt", h);
    th_feed_body(t, "partial", 7);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 1);
    th_response *res = th_response_of(t);
    th_request_abort(t);
    assert_int_equal(res->cleanups, 1);
    assert_int_equal(res->cleanup_how, WS_END_ABORTED);
    assert_content("up/keep.txt", "precious");
    assert_int_equal(temps(), 0);

    t = start("PUT", "/up/never.txt", h);
    th_feed_body(t, "partial", 7);
    th_request_abort(t);
    assert_false(exists("up/never.txt"));
    assert_int_equal(temps(), 0);
}

/* A client that sends as fast as the module consumes: each piece is fed,
 * then the loop runs (offloaded writes come back) until the module took it. */
static void feed_paced(th_request *t, const char *data, size_t len, size_t piece)
{
    th_response *res = th_response_of(t);
    for (size_t i = 0; i < len && !res->error_status && !res->finished; i += piece) {
        size_t n = len - i < piece ? len - i : piece;
        th_feed_body(t, data + i, n);
        for (int spins = 0; th_body_pending(t) > 0 && !res->error_status && !res->finished; spins++) {
            assert_true(spins < 1000);
            th_run(t, 10);
        }
    }
}

static char *pattern(size_t len)
{
    char *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(i * 7 + i / 65521);
    return buf;
}

static void assert_file_equals(const char *rel, const char *want, size_t len)
{
    FILE *f = fopen(at(rel), "rb");
    assert_non_null(f);
    char *got = malloc(len + 1);
    assert_non_null(got);
    assert_int_equal(fread(got, 1, len + 1, f), len);
    fclose(f);
    assert_memory_equal(got, want, len);
    free(got);
}

static void test_large_body_streams(void **state)
{
    (void)state;
    size_t piece = 65536, total = 8 * 1024 * 1024;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/big.bin", h);
    feed_paced(t, buf, total, piece);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_file_equals("up/big.bin", buf, total);
    free(buf);
}

/* Issue 21: the body's writes run on the pool. While a batch is there (its
 * done not run yet: this test runs no loop), the module stops consuming once
 * the next batch is full, so memory stays bounded however fast the client
 * sends; the rest comes once the disk caught up, in order. */
static void test_body_backpressure(void **state)
{
    (void)state;
    size_t piece = 65536, total = 4 * 1024 * 1024;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/paced.bin", h);
    size_t consumed = 0;
    for (size_t i = 0; i < total; i += piece)
        consumed += th_feed_body(t, buf + i, piece);
    assert_true(consumed < total);                         /* paused */
    up_ctx *c = th_req(t)->ctx;
    assert_true(consumed <= 2 * c->sp.batch + 2 * piece);  /* two batches at most in memory */
    assert_int_equal(th_body_pending(t), total - consumed); /* nothing lost: the host holds the rest */
    th_end_body(t); /* the works come back, the body resumes, and ends */
    assert_int_equal(th_body_pending(t), 0);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_file_equals("up/paced.bin", buf, total);
    assert_int_equal(temps(), 0);
    free(buf);
}

/* Does the file system of dir take O_DIRECT writes? (ext4 and xfs do;
 * an old tmpfs does not: the spool then writes through the page cache.) */
static int dir_takes_direct(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    void *blk = NULL;
    int ok = posix_memalign(&blk, SPOOL_ALIGN, SPOOL_ALIGN) == 0 && write(fd, memset(blk, 1, SPOOL_ALIGN), SPOOL_ALIGN) ==
                                                                      SPOOL_ALIGN;
    free(blk);
    close(fd);
    return ok;
}

/* Does the file system of dir reserve blocks (fallocate)? ext4 and xfs do. */
static int dir_takes_fallocate(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    int ok = fallocate(fd, 0, 0, 4096) == 0;
    close(fd);
    return ok;
}

static int root_takes_direct(void) { return dir_takes_direct(root); }
static int root_takes_fallocate(void) { return dir_takes_fallocate(root); }

/* The tests of the direct paths (O_DIRECT writes, reserved blocks) need a
 * file system that has them: setup() puts root on one where it finds one.
 * Where none is, those tests fail, saying so: a test that returned early
 * would count as a pass for paths that never ran. */
static void require_direct(void)
{
    if (!direct_folder_found)
        fail_msg("no folder among %s is on a disk that takes O_DIRECT and fallocate: the direct paths cannot be "
                 "tested on this machine", BASE_CANDIDATES_TEXT);
}

/* Pages of a file that are in the page cache (mincore). */
static size_t cached_pages(const char *rel, size_t len)
{
    int fd = open(at(rel), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, in = 0;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore(map, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(map, len);
    close(fd);
    return in;
}

/* Issue 21: a big raw body goes around the page cache (O_DIRECT): whole
 * blocks only, the unaligned end of each batch carried to the next, the
 * file's last bytes through the page cache. Byte-exact with pieces that
 * never line up with a block, and almost none of the file in the page
 * cache afterwards (read nothing before looking). */
static void test_direct_put_exact_and_uncached(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536 + 17, total = 3 * SPOOL_DIRECT_BATCH + 12345;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/direct.bin", h);
    up_ctx *c = th_req(t)->ctx;
    assert_int_equal(c->sp.direct_fd, c->fd);
    assert_int_equal(c->sp.batch, SPOOL_DIRECT_BATCH);
    feed_paced(t, buf, total, piece);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    assert_false(c->sp.direct_failed);
    assert_int_equal(c->sp.direct_pos, total);
    assert_int_equal(c->sp.direct_queued, total);
    end(t);
    assert_true(cached_pages("up/direct.bin", total) <= 2); /* the tail's page(s) at most */
    assert_file_equals("up/direct.bin", buf, total);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* Issue 21: once a first direct batch came back, up to SPOOL_DIRECT_DEPTH
 * batches of whole-block direct writes are on the pool at once, each
 * written at its own offset: the disk has the next write queued while the
 * loop's round trip and a pool thread's wake-up happen. Byte-exact in any
 * order the threads finish; memory bounded by the depth (the body pauses
 * beyond it); the unaligned end is written last, alone. */
static void test_direct_batches_in_parallel(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536 + 17, total = 10 * SPOOL_DIRECT_BATCH + 12345;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/parallel.bin", h);
    up_ctx *c = th_req(t)->ctx;
    assert_int_equal(c->sp.direct_fd, c->fd);
    /* The first batch goes alone (it learns that the file system takes
     * direct writes); nothing else may go before it came back. */
    size_t sent = 0;
    while (sent < total && c->sp.busy == 0)
        sent += th_feed_body(t, buf + sent, piece);
    assert_int_equal(c->sp.busy, 1);
    assert_false(c->sp.direct_parallel);
    size_t held = 0; /* fed but not consumed: the host offers it again */
    while (held == 0 && sent < total) {
        size_t n = total - sent < piece ? total - sent : piece, k = th_feed_body(t, buf + sent, n);
        sent += n;
        held = n - k;
    }
    assert_true(held > 0);             /* paused behind the lone first batch */
    assert_int_equal(c->sp.busy, 1);
    /* Now overlap: the gate holds each direct write until another is in flight. */
    __atomic_store_n(&direct_inflight_max, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&gate_parallel, 1, __ATOMIC_SEQ_CST);
    for (int spins = 0; th_body_pending(t) > 0; spins++) { /* the first batch comes back, the body resumes */
        assert_true(spins < 1000);
        th_run(t, 10);
    }
    assert_true(c->sp.direct_parallel);
    /* Without running the loop, the body is taken until SPOOL_DIRECT_DEPTH
     * batches are on the pool and one more is full: then it pauses. */
    size_t consumed = 0;
    held = 0;
    while (held == 0 && sent < total) {
        size_t n = total - sent < piece ? total - sent : piece, k = th_feed_body(t, buf + sent, n);
        sent += n;
        consumed += k;
        held = n - k;
    }
    assert_true(held > 0);
    assert_int_equal(c->sp.busy, SPOOL_DIRECT_DEPTH);
    assert_true(consumed <= (SPOOL_DIRECT_DEPTH + 1) * c->sp.batch + 2 * piece);
    for (int spins = 0; th_body_pending(t) > 0; spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
    feed_paced(t, buf + sent, total - sent, piece);
    th_end_body(t);
    __atomic_store_n(&gate_parallel, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(status_of(t), 201);
    int max = __atomic_load_n(&direct_inflight_max, __ATOMIC_SEQ_CST);
    assert_true(max >= 2);
    assert_true(max <= SPOOL_DIRECT_DEPTH);
    assert_false(c->sp.direct_failed);
    assert_int_equal(c->sp.direct_pos, total);
    end(t);
    assert_true(cached_pages("up/parallel.bin", total) <= 2); /* the tail's page(s) at most */
    assert_file_equals("up/parallel.bin", buf, total);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}


/* Run the loop until no batch of the upload is on the pool. */
static void wait_spool_idle(th_request *t, up_ctx *c)
{
    for (int spins = 0; spool_busy(&c->sp); spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
}

/* Feed len bytes of an upload whose blocks are reserved ahead, past the
 * point where a second stretch is reserved; then, the pool idle: every
 * direct write landed inside the file, and the file holds (blocks, not a
 * hole) a second stretch and never more than SPOOL_RESERVE_AHEAD past
 * what was queued. Its size. */
static size_t feed_reserved_ahead(th_request *t, up_ctx *c, const char *buf, size_t len, size_t piece)
{
    __atomic_store_n(&direct_writes, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&direct_extending, 0, __ATOMIC_SEQ_CST);
    feed_paced(t, buf, len, piece);
    wait_spool_idle(t, c);
    assert_false(th_response_of(t)->error_status);
    assert_true(__atomic_load_n(&direct_writes, __ATOMIC_SEQ_CST) >= 10);
    assert_int_equal(__atomic_load_n(&direct_extending, __ATOMIC_SEQ_CST), 0); /* all inside the file */
    struct stat st;
    assert_int_equal(fstat(c->fd, &st), 0);
    size_t written = c->sp.direct_queued;
    assert_true(written > SPOOL_RESERVE_AHEAD / 2);
    assert_true((size_t)st.st_size > SPOOL_RESERVE_AHEAD);            /* a second stretch was reserved */
    assert_true((size_t)st.st_size <= written + SPOOL_RESERVE_AHEAD); /* never further ahead */
    assert_true((size_t)st.st_blocks * 512 >= (size_t)st.st_size);   /* blocks, not a hole */
    return (size_t)st.st_size;
}

/* Issue 21: a body of known length gets its file's blocks reserved ahead of
 * the direct writes (spool_direct_length: fallocate on the pool,
 * SPOOL_RESERVE_AHEAD at a time), so that every direct write lands inside
 * the file: ext4 holds the file's lock for the whole of a write past the
 * end, and two of those never run at once. And never further ahead than
 * that: a client that announces a huge body and sends little holds little
 * of the disk. */
static void test_direct_blocks_reserved_ahead(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536 + 17, announced = (size_t)1 << 30;
    size_t sent = SPOOL_RESERVE_AHEAD / 2 + 3 * SPOOL_DIRECT_BATCH; /* past the point of the second stretch */
    char *buf = pattern(sent);
    const char *h[] = {content_length(announced), NULL};
    th_request *t = start("PUT", "/up/reserved.bin", h);
    up_ctx *c = th_req(t)->ctx;
    assert_true(feed_reserved_ahead(t, c, buf, sent, piece) < announced);
    th_response *res = th_response_of(t);
    th_request_abort(t); /* the client leaves: nothing is kept */
    assert_int_equal(res->cleanups, 1);
    assert_false(exists("up/reserved.bin"));
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* Blocks a file holds past its bytes (a reserve left in it): st_blocks
 * against its size rounded up to whole blocks. */
static long long blocks_past_size(const char *rel)
{
    struct stat st;
    assert_int_equal(stat(at(rel), &st), 0);
    long long whole = ((long long)st.st_size + 4095) / 4096 * 4096;
    return (long long)st.st_blocks * 512 - whole;
}

/* A chunked PUT (no length: RFC 9112 §7.1) through the test host. */
static th_request *start_chunked(const char *target)
{
    static const char *const h[] = {"Transfer-Encoding: chunked", NULL};
    return start("PUT", target, h);
}

/* Issue 21: a chunked body has no length, yet its file's blocks are
 * reserved ahead of the direct writes too (spool_direct_length_unknown):
 * SPOOL_RESERVE_AHEAD past the bytes queued, a new stretch as the body
 * grows, so every direct write lands inside the file. At the end the file
 * is cut to its bytes, on the pool, before its fsync: its size is the
 * body's and no reserved block is left in it. */
static void test_direct_chunked_reserved_then_cut(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536 + 17, tail = 12345;
    size_t total = SPOOL_RESERVE_AHEAD / 2 + 3 * SPOOL_DIRECT_BATCH + tail; /* past the second stretch's point */
    char *buf = pattern(total);
    th_request *t = start_chunked("/up/chunked.bin");
    up_ctx *c = th_req(t)->ctx;
    assert_int_equal(c->sp.direct_fd, c->fd);
    assert_int_equal(c->sp.direct_trim, 1);
    feed_reserved_ahead(t, c, buf, total - tail, piece);
    feed_paced(t, buf + total - tail, tail, piece);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    assert_int_equal(c->sp.direct_trim, 2); /* cut */
    assert_int_equal(c->sp.direct_queued, total);
    end(t);
    assert_file_equals("up/chunked.bin", buf, total); /* and not one byte more (fread of total + 1) */
    assert_true(blocks_past_size("up/chunked.bin") <= 0);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* The cut when the body ends on a batch's end: the last batch went full,
 * nothing is left to write when the body ends, and an empty batch cuts the
 * file. And a chunked body under a batch reserves nothing (no fallocate
 * for a small file, no cut either): byte-exact as before. */
static void test_direct_chunked_cut_alone_and_small(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536, total = 2 * SPOOL_DIRECT_BATCH; /* whole pieces, whole batches */
    char *buf = pattern(total);
    th_request *t = start_chunked("/up/whole.bin");
    up_ctx *c = th_req(t)->ctx;
    feed_paced(t, buf, total, piece);
    for (int spins = 0; spool_busy(&c->sp) || c->sp.fill->n_ops; spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
    struct stat st;
    assert_int_equal(fstat(c->fd, &st), 0);
    assert_true((size_t)st.st_size > total); /* reserved ahead */
    assert_int_equal(c->sp.fill->n_ops, 0);  /* nothing left for the end but the cut */
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    assert_int_equal(c->sp.direct_trim, 2);
    end(t);
    assert_file_equals("up/whole.bin", buf, total);
    assert_true(blocks_past_size("up/whole.bin") <= 0);
    free(buf);

    size_t small = SPOOL_DIRECT_BATCH - 1;
    buf = pattern(small);
    t = start_chunked("/up/small-chunked.bin");
    c = th_req(t)->ctx;
    feed_paced(t, buf, small, piece);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    assert_int_equal(c->sp.reserved, 0); /* one batch, the last: nothing reserved */
    assert_int_equal(c->sp.direct_trim, 2);
    end(t);
    assert_file_equals("up/small-chunked.bin", buf, small);
    assert_true(blocks_past_size("up/small-chunked.bin") <= 0);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* A chunked upload the client leaves mid-body, with blocks reserved far
 * past its bytes: nothing is kept (no file, no temporary file, no open
 * unnamed one holding the reserve). */
static void test_direct_chunked_abort_keeps_nothing(void **state)
{
    (void)state;
    size_t piece = 65536 + 17, sent = 3 * SPOOL_DIRECT_BATCH + 999;
    char *buf = pattern(sent);
    th_request *t = start_chunked("/up/left.bin");
    up_ctx *c = th_req(t)->ctx;
    feed_paced(t, buf, sent, piece);
    wait_spool_idle(t, c);
    if (root_takes_direct() && root_takes_fallocate()) {
        struct stat st;
        assert_int_equal(fstat(c->fd, &st), 0);
        assert_true((size_t)st.st_size > sent); /* the reserve is there to be dropped */
    }
    th_response *res = th_response_of(t);
    th_request_abort(t);
    assert_int_equal(res->cleanups, 1);
    assert_false(exists("up/left.bin"));
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* A disk without room for a reserve (fallocate: ENOSPC). A body of known
 * length cannot fit: 507 before its bytes are written, nothing left. A
 * chunked body may be far smaller than the 64 MiB stretch and fit where
 * the stretch does not: it is stored, byte-exact and cut to its bytes (its
 * writes, past the end of the file, say whether the disk is full). */
static void test_direct_reserve_refused(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536 + 17, total = 3 * SPOOL_DIRECT_BATCH + 4321;
    char *buf = pattern(total);
    __atomic_store_n(&fallocate_calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fallocate_fails, ENOSPC, __ATOMIC_SEQ_CST);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/known.bin", h);
    feed_paced(t, buf, total, piece);
    th_end_body(t);
    assert_int_equal(status_of(t), 507);
    end(t);
    assert_false(exists("up/known.bin"));
    assert_true(__atomic_load_n(&fallocate_calls, __ATOMIC_SEQ_CST) >= 1);

    __atomic_store_n(&fallocate_calls, 0, __ATOMIC_SEQ_CST);
    t = start_chunked("/up/unknown.bin");
    up_ctx *c = th_req(t)->ctx;
    feed_paced(t, buf, total, piece);
    th_end_body(t);
    __atomic_store_n(&fallocate_fails, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(status_of(t), 201);
    assert_true(__atomic_load_n(&fallocate_calls, __ATOMIC_SEQ_CST) >= 1); /* asked, refused */
    assert_int_equal(c->sp.direct_trim, 2);
    end(t);
    assert_file_equals("up/unknown.bin", buf, total);
    assert_true(blocks_past_size("up/unknown.bin") <= 0);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* A cut that fails (EIO) would leave the reserve in the file: the upload
 * fails (500) and nothing is kept, the target's old bytes neither touched. */
static void test_direct_chunked_cut_fails(void **state)
{
    (void)state;
    require_direct();
    put_file("up/old.bin", "old bytes");
    size_t piece = 65536 + 17, total = 2 * SPOOL_DIRECT_BATCH + 99;
    char *buf = pattern(total);
    th_request *t = start_chunked("/up/old.bin");
    __atomic_store_n(&ftruncate_fails, EIO, __ATOMIC_SEQ_CST);
    feed_paced(t, buf, total, piece);
    th_end_body(t);
    __atomic_store_n(&ftruncate_fails, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(status_of(t), 500);
    end(t);
    assert_content("up/old.bin", "old bytes");
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    free(buf);
}

/* lib/spool alone (no request, no pool: every batch runs inline). */
static int spool_t_drained, spool_t_err;
static void spool_t_failed(ws_request *r, void *arg, int err, int tag)
{
    (void)r, (void)arg, (void)tag;
    spool_t_err = err;
}
static void spool_t_drained_cb(ws_request *r, void *arg)
{
    (void)r, (void)arg;
    spool_t_drained++;
}
static const spool_events spool_t_events = {spool_t_failed, spool_t_drained_cb};

/* The batch that cuts a file of unknown length waits until no batch is on
 * the pool (a reserve or write of one there could land after the cut),
 * where a batch of whole direct writes of a known length goes beside them. */
static void test_spool_cut_goes_alone(void **state)
{
    (void)state;
    ws_host host;
    memset(&host, 0, sizeof host);
    spool s;
    spool_init(&s, &host, NULL, &spool_t_events, NULL);
    s.direct_fd = 1000; /* never written: the batch is only looked at */
    static char blocks[4 * SPOOL_ALIGN];
    assert_int_equal(spool_write(&s, s.direct_fd, blocks, sizeof blocks, 0), 0);
    s.busy = 1;
    s.direct_parallel = 1;
    s.draining = 1;
    s.reserved = SPOOL_RESERVE_AHEAD;
    assert_true(sp_may_go(&s)); /* a known length: beside the one on the pool */
    s.direct_trim = 1;
    assert_false(sp_may_go(&s)); /* unknown: the cut is owed, it goes alone */
    s.reserved = 0;
    assert_true(sp_may_go(&s)); /* nothing was reserved: nothing to cut */
    s.busy = 0;
    s.direct_fd = -1;
    spool_free(&s);
}

/* A module that hands the direct file to spool_sync_close before the body
 * ends: the batch that syncs and closes it cuts it first (the fd is gone
 * after it), even when it goes before spool_drain. */
static void test_spool_cut_before_sync_close(void **state)
{
    (void)state;
    require_direct();
    ws_host host;
    memset(&host, 0, sizeof host);
    spool s;
    spool_init(&s, &host, NULL, &spool_t_events, NULL);
    spool_t_drained = spool_t_err = 0;
    int fd = open(at("up/spooled.bin"), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(spool_direct(&s, fd), 1);
    spool_direct_length_unknown(&s);
    size_t first = 2 * SPOOL_DIRECT_BATCH, total = first + SPOOL_DIRECT_BATCH + 777;
    char *buf = pattern(total);
    for (size_t i = 0; i < first; i += 65536) {
        assert_int_equal(spool_write(&s, fd, buf + i, 65536, 0), 0);
        spool_kick(&s);
    }
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true((size_t)st.st_size > total); /* reserved ahead */
    assert_int_equal(spool_write(&s, fd, buf + first, total - first, 0), 0); /* a full batch, not sent */
    assert_int_equal(spool_sync_close(&s, fd, 0), 0);
    spool_kick(&s); /* not draining: it goes as a full batch */
    assert_int_equal(s.fill->n_ops, 0);
    assert_int_equal(spool_t_err, 0);
    assert_int_equal(s.direct_trim, 2);
    assert_int_equal(stat(at("up/spooled.bin"), &st), 0);
    assert_int_equal((size_t)st.st_size, total); /* cut, then synced and closed */
    spool_drain(&s);
    assert_int_equal(spool_t_drained, 1);
    assert_int_equal(spool_t_err, 0);
    assert_file_equals("up/spooled.bin", buf, total);
    assert_true(blocks_past_size("up/spooled.bin") <= 0);
    spool_free(&s);
    free(buf);
}

/* Whether the mapping that holds addr has the VmFlags flag (smaps). */
static int mapping_has_flag(const void *addr, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[512];
    int in = 0, found = 0;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];
            snprintf(want, sizeof want, " %s", flag);
            for (char *p = strstr(line, want); p; p = strstr(p + 1, want))
                if (p[strlen(want)] == ' ' || p[strlen(want)] == '\n')
                    found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Issue 21: the first touch of a fresh huge page (the kernel zeroes 2 MiB;
 * in a virtual machine whose host has not backed that memory yet, 19-27 ms
 * each) is taken by the pool in the upload's start (start_work ->
 * spool_direct_prepare), not by the loop's first copy of the body: before
 * any byte of a big body every batch has its huge page, every page of it
 * resident, and the body goes through those very buffers. A small body
 * (not direct) gets none ahead. */
static void test_direct_buffers_faulted_in_before_the_body(void **state)
{
    (void)state;
    size_t total = 4 * SPOOL_DIRECT_BATCH + 777;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/early.bin", h);
    up_ctx *c = th_req(t)->ctx;
    unsigned char vec[SPOOL_HUGE / SPOOL_ALIGN];
    char *prepared[SPOOL_BATCHES];
    for (int i = 0; i < SPOOL_BATCHES; i++) {
        spool_batch *b = &c->sp.b[i];
        assert_non_null(b->buf);
        assert_true(b->mapped);
        assert_int_equal(b->cap, SPOOL_HUGE);
        assert_int_equal((uintptr_t)b->buf % SPOOL_HUGE, 0);
        assert_int_equal(mincore(b->buf, SPOOL_HUGE, vec), 0);
        for (size_t p = 0; p < sizeof vec; p++)
            assert_true(vec[p] & 1);
        prepared[i] = b->buf;
    }
    feed_paced(t, buf, total - 777, 65536);
    for (int i = 0; i < SPOOL_BATCHES; i++)
        assert_ptr_equal(c->sp.b[i].buf, prepared[i]);
    feed_paced(t, buf + total - 777, 777, 777);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_file_equals("up/early.bin", buf, total);
    free(buf);

    size_t small = SPOOL_DIRECT_BATCH - 1;
    buf = pattern(small);
    const char *hs[] = {content_length(small), NULL};
    t = start("PUT", "/up/early-small.bin", hs);
    c = th_req(t)->ctx;
    for (int i = 0; i < SPOOL_BATCHES; i++)
        assert_null(c->sp.b[i].buf);
    feed_paced(t, buf, small, 65536);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_file_equals("up/early-small.bin", buf, small);
    free(buf);
}

/* Issue 21: a direct batch's buffer is one huge page of its own (aligned
 * on it, marked MADV_HUGEPAGE): physically contiguous, a write of it is one
 * segment for the block layer instead of one per 4 KiB page (virtio-blk cut
 * every 1 MiB write in two requests run one after the other). A body in
 * the page cache keeps ordinary buffers. */
static void test_direct_buffers_in_huge_pages(void **state)
{
    (void)state;
    require_direct();
    size_t piece = 65536, total = 4 * SPOOL_DIRECT_BATCH;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/huge.bin", h);
    up_ctx *c = th_req(t)->ctx;
    feed_paced(t, buf, total - piece, piece);
    int seen = 0;
    /* THP in the kernel (the folder exists only then): the mapping is marked */
    int thp = access("/sys/kernel/mm/transparent_hugepage", F_OK) == 0;
    for (int i = 0; i < SPOOL_BATCHES; i++) {
        spool_batch *b = &c->sp.b[i];
        if (!b->buf)
            continue;
        seen++;
        assert_true(b->mapped);
        assert_int_equal(b->cap, SPOOL_HUGE);
        assert_int_equal((uintptr_t)b->buf % SPOOL_HUGE, 0);
        if (thp)
            assert_true(mapping_has_flag(b->buf, "hg"));
    }
    assert_true(seen >= 2);
    feed_paced(t, buf + total - piece, piece, piece);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_file_equals("up/huge.bin", buf, total);
    free(buf);

    size_t small = SPOOL_DIRECT_BATCH - 1;
    buf = pattern(small);
    const char *hs[] = {content_length(small), NULL};
    t = start("PUT", "/up/small-huge.bin", hs);
    c = th_req(t)->ctx;
    th_feed_body(t, buf, 65536);
    assert_non_null(c->sp.fill->buf);
    assert_false(c->sp.fill->mapped); /* not direct: an ordinary buffer */
    feed_paced(t, buf + 65536, small - 65536, 65536);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    free(buf);
}

/* A body under a batch stays in the page cache (one write, as before). */
static void test_small_put_not_direct(void **state)
{
    (void)state;
    size_t total = SPOOL_DIRECT_BATCH - 1;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/small.bin", h);
    up_ctx *c = th_req(t)->ctx;
    assert_int_equal(c->sp.direct_fd, -1);
    feed_paced(t, buf, total, 65536);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    assert_file_equals("up/small.bin", buf, total);
    free(buf);
}

/* A file system that refuses a direct write (EINVAL) gets the whole body
 * through the page cache, byte-exact. Made here by putting the file's
 * offset off the block behind the spool's back (one byte written first),
 * which the kernel refuses for O_DIRECT as a file system would refuse it. */
static void test_direct_refused_falls_back(void **state)
{
    (void)state;
    require_direct();
    size_t total = 2 * SPOOL_DIRECT_BATCH + 4096 * 3;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/refused.bin", h);
    up_ctx *c = th_req(t)->ctx;
    assert_int_equal(c->sp.direct_fd, c->fd);
    int fl = fcntl(c->fd, F_GETFL);
    assert_int_equal(fcntl(c->fd, F_SETFL, fl & ~O_DIRECT), 0);
    assert_int_equal(write(c->fd, "x", 1), 1);
    assert_int_equal(fcntl(c->fd, F_SETFL, fl), 0);
    feed_paced(t, buf, total, 65536);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    assert_true(c->sp.direct_failed);
    end(t);
    char *want = malloc(total + 1);
    assert_non_null(want);
    want[0] = 'x';
    memcpy(want + 1, buf, total);
    assert_file_equals("up/refused.bin", want, total + 1);
    free(want);
    free(buf);
}

/* "Nothing lost": a write that fails on the pool (the disk is full) still
 * answers 507, and neither the temporary file nor the target is left. The
 * temporary file's fd is swapped for /dev/full, which fails every write
 * with ENOSPC. */
static void test_disk_full_on_the_pool(void **state)
{
    (void)state;
    size_t piece = 65536, total = 1024 * 1024;
    char *buf = pattern(total);
    const char *h[] = {content_length(total), NULL};
    th_request *t = start("PUT", "/up/full.bin", h);
    up_ctx *c = th_req(t)->ctx;
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(full >= 0);
    assert_true(dup2(full, c->fd) >= 0);
    close(full);
    feed_paced(t, buf, total, piece);
    if (!th_response_of(t)->error_status)
        th_end_body(t);
    assert_int_equal(status_of(t), 507);
    end(t);
    assert_false(exists("up/full.bin"));
    assert_int_equal(temps(), 0);
    free(buf);
}

/* The same for a part of a multipart form: its write fails on the pool. */
static void test_form_disk_full_on_the_pool(void **state)
{
    (void)state;
    size_t total = 3 * SPOOL_BATCH;
    char *content = pattern(total);
    const char *head = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"full.bin\"\r\n\r\n";
    const char *tail = "\r\n--" BOUNDARY "--\r\n";
    size_t len = strlen(head) + total + strlen(tail);
    const char *h[] = {"Content-Type: multipart/form-data; boundary=" BOUNDARY, content_length(len), NULL};
    th_request *t = start("POST", "/up/", h);
    assert_int_equal(th_feed_body(t, head, strlen(head)), strlen(head));
    up_ctx *c = th_req(t)->ctx;
    /* The part's temporary file is created on the pool with its first
     * batch: once that came back, the rest of the writes fail. */
    feed_paced(t, content, SPOOL_BATCH, 65536);
    for (int spins = 0; spool_busy(&c->sp); spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
    assert_int_equal(c->n_files, 1);
    assert_true(*c->files[0].slot >= 0); /* the part's temporary file is open */
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(dup2(full, *c->files[0].slot) >= 0);
    close(full);
    feed_paced(t, content + SPOOL_BATCH, total - SPOOL_BATCH, 65536);
    feed_paced(t, tail, strlen(tail), 65536);
    if (!th_response_of(t)->error_status)
        th_end_body(t);
    assert_int_equal(status_of(t), 507);
    end(t);
    assert_false(exists("up/full.bin"));
    assert_int_equal(temps(), 0);
    free(content);
}

/* A large multipart upload with several files, fed in odd pieces: every
 * file byte-exact (the writes and fsyncs of all parts went through the pool
 * in order). */
static void test_form_large_parts_exact(void **state)
{
    (void)state;
    size_t sizes[3] = {SPOOL_BATCH * 2 + 17, 5, SPOOL_BATCH - 3};
    const char *names[3] = {"a.bin", "b.bin", "c.bin"};
    char *content[3];
    size_t cap = 4096;
    for (int i = 0; i < 3; i++) {
        content[i] = pattern(sizes[i] + i);
        content[i] += i; /* a different pattern per file */
        cap += sizes[i] + 256;
    }
    char *body = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        len += (size_t)sprintf(body + len, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"f%d\"; "
                                           "filename=\"%s\"\r\n\r\n", i, names[i]);
        memcpy(body + len, content[i], sizes[i]);
        len += sizes[i];
        len += (size_t)sprintf(body + len, "\r\n");
    }
    len += (size_t)sprintf(body + len, "--" BOUNDARY "--\r\n");
    const char *h[] = {"Content-Type: multipart/form-data; boundary=" BOUNDARY, content_length(len), NULL};
    th_request *t = start("POST", "/up/", h);
    feed_paced(t, body, len, 40000);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    end(t);
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "up/%s", names[i]);
        assert_file_equals(rel, content[i], sizes[i]);
        free(content[i] - i);
    }
    assert_int_equal(temps(), 0);
    free(body);
}

/* ---- multipart ---- */

/* Content may hold the boundary, just not on a line of its own after a CRLF. */
static const char script[] = "#!/usr/bin/env python3\nimport cgi\r\n\r\nprint('--" BOUNDARY "')\r\n--"
                             "--------------------------63125472458985793521401\r\n";

static void test_form_create(void **state)
{
    (void)state;
    part parts[] = {
        {"", "form.py", script},
        {"comment", NULL, "a text field, ignored"},
        {"f2", "second.txt", "two"},
        {NULL, "third", ""},
    };
    th_request *t = post_form("/up/sub/", parts, 4, 1, NULL, 1);
    assert_int_equal(status_of(t), 201);
    assert_string_equal(th_header(t, "Location"), "/up/sub/");
    const char *body = th_response_of(t)->body;
    assert_non_null(strstr(body, "<a href=\"/up/sub/form.py\">form.py</a>"));
    assert_non_null(strstr(body, "second.txt"));
    assert_null(strstr(body, "comment"));
    assert_non_null(strstr(th_header(t, "Content-Type"), "text/html"));
    end(t);
    assert_content("up/sub/form.py", script);
    assert_content("up/sub/second.txt", "two");
    assert_content("up/sub/third", "");
    assert_int_equal(entries("up/sub"), 3);
    assert_int_equal(temps(), 0);
}

static void test_form_json_and_split_everywhere(void **state)
{
    (void)state;
    part parts[] = {{"file", "a&b \\\"q\\\".txt", "x\r\n--y"}}; /* quotes escaped on the wire */
    size_t len;
    char *body = form(parts, 1, 1, &len);
    /* every split of the body in two pieces gives the same file */
    for (size_t cut = 0; cut <= len; cut++) {
        const char *h[] = {CT_FORM, content_length(len), "Accept: application/json", NULL};
        th_request *t = start("POST", "/up/", h);
        assert_int_equal(status_of(t), 0);
        th_feed_body(t, body, cut);
        th_feed_body(t, body + cut, len - cut);
        th_end_body(t);
        assert_int_equal(status_of(t), 201);
        assert_string_equal(th_header(t, "Content-Type"), "application/json");
        assert_string_equal(th_response_of(t)->body,
                            "[{\"name\": \"a&b \\\"q\\\".txt\", \"size\": 6, \"url\": \"/up/a&b%20%22q%22.txt\"}]\n");
        end(t);
        assert_content("up/a&b \"q\".txt", "x\r\n--y");
        unlink(at("up/a&b \"q\".txt"));
    }
    free(body);
    assert_int_equal(temps(), 0);
}

static void test_form_bad_filenames(void **state)
{
    (void)state;
    const char *bad[] = {"../evil", "a/b", "a\\\\b", ".", "..", "", "tab\there", "del\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        part parts[] = {{"ok", "good.txt", "good"}, {"bad", bad[i], "bad"}};
        assert_int_equal(post_form_status("/up/", parts, 2), 400);
        assert_false(exists("up/good.txt"));
        assert_int_equal(temps(), 0);
    }
    assert_int_equal(entries("up"), 1); /* only sub/ */
    assert_false(exists("evil"));
}

static void test_form_existing_name(void **state)
{
    (void)state;
    put_file("up/taken.txt", "original");
    part parts[] = {{"a", "fresh.txt", "fresh"}, {"b", "taken.txt", "overwrite?"}};
    assert_int_equal(post_form_status("/up/", parts, 2), 409);
    assert_false(exists("up/fresh.txt"));
    assert_content("up/taken.txt", "original");
    assert_int_equal(temps(), 0);

    /* the same name twice in one request */
    part twice[] = {{"a", "dup.txt", "1"}, {"b", "dup.txt", "2"}};
    assert_int_equal(post_form_status("/up/", twice, 2), 409);
    assert_false(exists("up/dup.txt"));
    assert_int_equal(temps(), 0);
}

static void test_form_conflict_at_the_end_undoes_all(void **state)
{
    (void)state;
    part parts[] = {{"a", "one.txt", "1"}, {"b", "two.txt", "2"}, {"c", "three.txt", "3"}};
    size_t len;
    char *body = form(parts, 3, 1, &len);
    const char *h[] = {CT_FORM, content_length(len), NULL};
    th_request *t = start("POST", "/up/", h);
    th_feed_body(t, body, len - 10);
    put_file("up/three.txt", "someone else's"); /* appears while the body is still arriving */
    th_feed_body(t, body + len - 10, 10);
    th_end_body(t);
    assert_int_equal(status_of(t), 409);
    end(t);
    free(body);
    assert_false(exists("up/one.txt"));
    assert_false(exists("up/two.txt"));
    assert_content("up/three.txt", "someone else's");
    assert_int_equal(temps(), 0);
}

static void test_form_malformed(void **state)
{
    (void)state;
    part parts[] = {{"a", "cut.txt", "data"}};
    th_request *t = post_form("/up/", parts, 1, 0, NULL, 5); /* no final boundary */
    assert_int_equal(status_of(t), 400);
    end(t);
    assert_false(exists("up/cut.txt"));

    part fields[] = {{"a", NULL, "only a field"}};
    assert_int_equal(post_form_status("/up/", fields, 1), 400); /* no file at all */

    const char *h[] = {"Content-Type: multipart/form-data", "Content-Length: 10", NULL};
    t = start("POST", "/up/", h); /* no boundary */
    assert_int_equal(status_of(t), 400);
    end(t);

    const char *h2[] = {CT_FORM, "Content-Length: 0", NULL};
    t = start("POST", "/up/", h2);
    assert_int_equal(status_of(t), 400);
    end(t);

    static const char garbage[] = "--" BOUNDARY "\r\nno colon\r\n\r\nx\r\n--" BOUNDARY "--\r\n";
    const char *h3[] = {CT_FORM, content_length(sizeof garbage - 1), NULL};
    t = send_req("POST", "/up/", h3, garbage, sizeof garbage - 1, 4);
    assert_int_equal(status_of(t), 400);
    end(t);
    assert_int_equal(temps(), 0);
    assert_int_equal(entries("up"), 1);
}

/* SPEC §5: a multipart POST to a folder works with or without the trailing
 * slash (an HTML form's action="/up" is the usual way to write it). */
static void test_form_folder_without_slash(void **state)
{
    (void)state;
    const char *targets[] = {"/up", "/up/sub", "/up/sub/"};
    const char *stored[] = {"up/a.txt", "up/sub/a.txt", "up/sub/b.txt"};
    const char *location[] = {"/up/", "/up/sub/", "/up/sub/"};
    for (size_t i = 0; i < 3; i++) {
        part parts[] = {{"", stored[i] + strlen(stored[i]) - 5, "data"}};
        th_request *t = post_form(targets[i], parts, 1, 1, NULL, 3);
        assert_int_equal(status_of(t), 201);
        assert_string_equal(th_header(t, "Location"), location[i]);
        end(t);
        assert_content(stored[i], "data");
    }
    assert_int_equal(temps(), 0);
}

/* SPEC §5: a POST to a folder with another body type is 415 with
 * Accept-Post, and reads (and stores) nothing. */
static void test_post_to_folder_not_a_form(void **state)
{
    (void)state;
    const char *types[] = {"Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
                           "Content-Type: multipart/mixed; boundary=x", NULL};
    const char *targets[] = {"/up", "/up/", "/up/sub"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        for (size_t j = 0; j < 3; j++) {
            const char *h[] = {"Content-Length: 5", types[i], NULL};
            th_request *t = start("POST", targets[j], h);
            th_response *res = th_response_of(t);
            assert_int_equal(status_of(t), 415);
            assert_string_equal(th_header(t, "Accept-Post"), "multipart/form-data");
            assert_true(res->finished);
            assert_false(res->read_body_called);
            end(t);
        }
    }
    assert_int_equal(entries("up"), 1); /* only sub/ */
    assert_int_equal(entries("up/sub"), 0);
    assert_int_equal(temps(), 0);
    /* A raw POST to a new name is still a file. */
    assert_int_equal(raw("POST", "/up/sub2", "x"), 201);
    assert_content("up/sub2", "x");
}

static void test_form_missing_folder(void **state)
{
    (void)state;
    part parts[] = {{"a", "x.txt", "x"}};
    assert_int_equal(post_form_status("/up/nope/", parts, 1), 409);
    assert_false(exists("up/nope"));
}

static void test_form_abort(void **state)
{
    (void)state;
    /* Parts over a batch each, so that their files exist by now (they are
     * created on the pool with the batch that first writes them). */
    char *one = malloc(SPOOL_BATCH + 1001), *two = malloc(2 * SPOOL_BATCH + 1);
    assert_non_null(one);
    assert_non_null(two);
    memset(one, '1', SPOOL_BATCH + 1000);
    one[SPOOL_BATCH + 1000] = '\0';
    memset(two, '2', 2 * SPOOL_BATCH);
    two[2 * SPOOL_BATCH] = '\0';
    part parts[] = {{"a", "one.txt", one}, {"b", "two.txt", two}};
    size_t len;
    char *body = form(parts, 2, 1, &len);
    const char *h[] = {CT_FORM, content_length(len), NULL};
    th_request *t = start("POST", "/up/", h);
    feed_paced(t, body, len - 20, 65536); /* the first file complete, the second begun */
    up_ctx *c = th_req(t)->ctx;
    for (int spins = 0; spool_busy(&c->sp); spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
    free(one);
    free(two);
    /* The first is synced and named on the pool, the second unnamed. */
    assert_int_equal(temps() + unnamed_open(), 2);
    assert_true(unnamed_open() >= 1);
    th_request_abort(t);
    free(body);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    assert_int_equal(entries("up"), 1);
}

/* Issue 21: a raw PUT or POST resolves its target (realpath), looks at it
 * (lstat), creates its temporary file and places it on the pool only, an
 * empty body too; the answers stay what they were. */
static void test_raw_start_on_the_pool(void **state)
{
    (void)state;
    reset_counts();
    assert_int_equal(raw("PUT", "/up/r1.txt", "one"), 201);
    assert_int_equal(raw("PUT", "/up/r1.txt", "two"), 204);
    assert_int_equal(raw("PUT", "/up/sub/empty", ""), 201);
    assert_int_equal(raw("PUT", "/up/sub/empty", ""), 204);
    assert_int_equal(raw("POST", "/up/r2.txt", "new"), 201);
    assert_int_equal(raw("POST", "/up/r2.txt", "taken"), 409);
    assert_int_equal(raw("PUT", "/up/sub", "a folder"), 409);
    assert_int_equal(raw("PUT", "/up/missing/x", "x"), 409);
    assert_content("up/r1.txt", "two");
    assert_content("up/sub/empty", "");
    assert_content("up/r2.txt", "new");
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    assert_int_equal(creates_on_loop, 0);
    assert_int_equal(lstats_on_loop, 0);
    assert_int_equal(realpaths_on_loop, 0);
    assert_int_equal(places_on_loop, 0);
    assert_int_equal(creates_on_pool, 5);  /* the five that got as far as a file */
    assert_int_equal(places_on_pool, 5);   /* each placed there (the empty ones too) */
    assert_true(realpaths_on_pool >= 2 * 8); /* upload folder and target folder, each request */
    assert_true(lstats_on_pool >= 7);

    /* A form upload finds its folder there too, with or without the '/'. */
    part parts[] = {{"a", "f1.txt", "f"}};
    assert_int_equal(post_form_status("/up/sub", parts, 1), 201);
    part parts2[] = {{"a", "f2.txt", "f"}};
    assert_int_equal(post_form_status("/up/sub/", parts2, 1), 201);
    assert_content("up/sub/f2.txt", "f");
    assert_int_equal(realpaths_on_loop + lstats_on_loop + creates_on_loop + places_on_loop, 0);

    /* The client leaves while the start is on the pool: nothing is left,
     * no fd stays open. */
    const char *h[] = {"Content-Length: 10", NULL};
    th_request *t = th_request_new(mod, conf, "PUT", "/up/left.txt", h);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_request_abort(t);
    assert_false(exists("up/left.txt"));
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
}

/* Issue 21: a multipart upload creates its parts' temporary files, and
 * looks whether their names are taken, on the pool only; the answers stay
 * what they were: 201, 409 for a taken name (nothing left), 403 for a
 * folder the worker cannot write (nothing left). */
static void test_form_files_created_on_the_pool(void **state)
{
    (void)state;
    reset_counts();
    part parts[] = {{"a", "p1.txt", "one"}, {"b", "p2.txt", "two"}, {"c", "p3.txt", "three"}};
    assert_int_equal(post_form_status("/up/", parts, 3), 201);
    assert_content("up/p3.txt", "three");
    assert_int_equal(creates_on_loop, 0);
    assert_int_equal(lstats_on_loop, 0);
    assert_int_equal(creates_on_pool, 3);
    assert_int_equal(lstats_on_pool, 3);

    put_file("up/taken.txt", "original");
    part taken[] = {{"a", "fresh.txt", "fresh"}, {"b", "taken.txt", "overwrite?"}};
    assert_int_equal(post_form_status("/up/", taken, 2), 409);
    assert_content("up/taken.txt", "original");
    assert_false(exists("up/fresh.txt"));
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
    assert_int_equal(creates_on_loop + lstats_on_loop, 0);

    if (geteuid() != 0) { /* root writes anywhere: no refusal to see */
        assert_int_equal(chmod(at("up/sub"), 0555), 0);
        part denied[] = {{"a", "no.txt", "no"}};
        assert_int_equal(post_form_status("/up/sub/", denied, 1), 403);
        assert_int_equal(chmod(at("up/sub"), 0755), 0);
        assert_false(exists("up/sub/no.txt"));
        assert_int_equal(temps(), 0);
    }
    assert_int_equal(creates_on_loop + lstats_on_loop, 0);
}

/* A part's file that cannot be created (the folder vanished under the
 * request) fails on the pool with the status its error maps to, as when it
 * was created on the loop, and nothing is left. */
static void test_form_create_fails_on_the_pool(void **state)
{
    (void)state;
    mkdir(at("up/gone"), 0755);
    part parts[] = {{"a", "x.txt", "x"}};
    size_t len;
    char *body = form(parts, 1, 1, &len);
    const char *h[] = {CT_FORM, content_length(len), NULL};
    th_request *t = start("POST", "/up/gone/", h);
    assert_int_equal(rmdir(at("up/gone")), 0); /* after resolving, before the part's file */
    assert_int_equal(th_feed_body(t, body, len), len);
    th_end_body(t);
    assert_int_equal(status_of(t), 500); /* ENOENT, as up_status_of maps it */
    up_ctx *c = th_req(t)->ctx;
    assert_true(c->sp.err_open);
    end(t);
    free(body);
    assert_int_equal(temps(), 0);
    assert_int_equal(unnamed_open(), 0);
}

/* ---- DELETE ---- */

static void test_delete(void **state)
{
    (void)state;
    put_file("up/gone.txt", "x");
    assert_int_equal(simple("DELETE", "/up/gone.txt"), 204);
    assert_false(exists("up/gone.txt"));
    assert_int_equal(simple("DELETE", "/up/gone.txt"), 404);
    assert_int_equal(simple("DELETE", "/up/nodir/x"), 404);
    put_file("up/sub/inner", "x");
    assert_int_equal(simple("DELETE", "/up/sub"), 409); /* not empty */
    assert_int_equal(simple("DELETE", "/up/sub/"), 409);
    assert_true(exists("up/sub/inner"));
    unlink(at("up/sub/inner"));
    assert_int_equal(simple("DELETE", "/up/sub/"), 204); /* empty: removed */
    assert_false(exists("up/sub"));
    assert_int_equal(simple("DELETE", "/up/"), 403);    /* never the upload folder */
    assert_int_equal(simple("DELETE", "/up"), 403);
    put_file("up/f", "x");
    assert_int_equal(simple("DELETE", "/up/f/"), 404);  /* a file named as a folder */
    assert_true(exists("up/f"));
}

/* Issue 21: a DELETE resolves its target (realpath, stat), looks at it
 * (lstat) and removes it (unlink, rmdir) on the pool only; the answers are
 * the ones test_delete knows, with the same fields. */
static void test_delete_on_the_pool(void **state)
{
    (void)state;
    reset_counts();
    put_file("up/gone.txt", "x");
    put_file("up/sub/inner", "x");
    th_request *t = start("DELETE", "/up/gone.txt", NULL);
    assert_int_equal(th_response_of(t)->status, 204);
    assert_true(th_response_of(t)->finished);
    assert_int_equal(th_response_of(t)->body_len, 0);
    assert_null(th_header(t, "Content-Type"));
    end(t);
    assert_false(exists("up/gone.txt"));
    assert_int_equal(simple("DELETE", "/up/gone.txt"), 404);
    assert_int_equal(simple("DELETE", "/up/nodir/x"), 404);
    assert_int_equal(simple("DELETE", "/up/sub"), 409);
    assert_int_equal(simple("DELETE", "/up/sub/"), 409);
    assert_true(exists("up/sub/inner"));
    unlink(at("up/sub/inner"));
    assert_int_equal(simple("DELETE", "/up/sub/"), 204);
    assert_int_equal(simple("DELETE", "/up/"), 403);
    put_file("up/f", "x");
    assert_int_equal(simple("DELETE", "/up/f/"), 404);
    assert_true(exists("up/f"));
    assert_int_equal(realpaths_on_loop + stats_on_loop + lstats_on_loop + unlinks_on_loop + rmdirs_on_loop, 0);
    assert_int_equal(unlinks_on_pool, 1); /* gone.txt */
    assert_int_equal(rmdirs_on_pool, 3);  /* sub twice while not empty, then once empty */
    assert_true(realpaths_on_pool >= 2 * 6); /* upload folder and target folder of the six that resolved */
    assert_true(lstats_on_pool >= 6);
}

/* The client leaves while its DELETE is on the pool (stopped at the gate
 * in unlink): no answer is given, the request ends only after the work
 * returned (ASan and valgrind see any use after free), and no descriptor
 * stays open. */
static void test_delete_client_leaves(void **state)
{
    (void)state;
    put_file("up/mid.txt", "x");
    int fds = th_open_fds();
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    gate_in = gate[0];
    gate_reached = 0;
    th_request *t = th_request_new(mod, conf, "DELETE", "/up/mid.txt", NULL);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    assert_int_equal(th_wait_flag(&gate_reached, 30000), 0); /* generous: the pool is one thread away */
    assert_false(res->finished); /* the work waits at the gate */
    assert_int_equal(res->error_status, 0);
    assert_int_equal(write(gate[1], "x", 1), 1);
    th_request_abort(t); /* waits for the work, skips its done */
    gate_in = -1;
    close(gate[0]);
    close(gate[1]);
    assert_false(res->finished);
    assert_int_equal(res->error_status, 0);
    assert_int_equal(res->status, 0);
    assert_int_equal(res->cleanups, 1);
    assert_false(exists("up/mid.txt")); /* the work went through */
    assert_int_equal(th_open_fds(), fds);
    /* The module serves the next one. */
    put_file("up/next.txt", "x");
    assert_int_equal(simple("DELETE", "/up/next.txt"), 204);
    assert_int_equal(th_open_fds(), fds);
}

/* ---- confinement and configuration ---- */

static void test_symlink_escape(void **state)
{
    (void)state;
    char outside[300];
    snprintf(outside, sizeof outside, "%s/outside", root);
    mkdir(outside, 0755);
    assert_int_equal(symlink(outside, at("up/link")), 0);
    assert_int_equal(raw("PUT", "/up/link/x.txt", "x"), 403);
    part parts[] = {{"a", "x.txt", "x"}};
    assert_int_equal(post_form_status("/up/link/", parts, 1), 403);
    put_file("outside/victim", "v");
    assert_int_equal(simple("DELETE", "/up/link/victim"), 403);
    assert_int_equal(entries("outside"), 1);
    assert_int_equal(temps(), 0);
}

static void test_dir_option(void **state)
{
    (void)state;
    mkdir(at("store"), 0755);
    char err[256];
    const void *c2 = th_configure(mod, "{\"dir\": \"store\"}", "/files", root, err, sizeof err);
    assert_non_null(c2);
    const char *h[] = {"Content-Length: 3", NULL};
    th_request *t = th_request_new(mod, c2, "PUT", "/files/d.txt", h);
    th_dispatch(t);
    wait_started(t);
    th_feed_body(t, "abc", 3);
    th_end_body(t);
    assert_int_equal(status_of(t), 201);
    assert_string_equal(th_header(t, "Location"), "/files/d.txt");
    end(t);
    assert_content("store/d.txt", "abc");
    assert_false(exists("files"));

    t = th_request_new(mod, c2, "DELETE", "/files/d.txt", NULL);
    th_dispatch(t);
    wait_started(t);
    assert_int_equal(status_of(t), 204);
    end(t);
    assert_false(exists("store/d.txt"));
}

static void test_configure_errors_and_match(void **state)
{
    (void)state;
    char err[256];
    assert_null(th_configure(mod, "{}", "/x", NULL, err, sizeof err));
    assert_non_null(strstr(err, "dir"));
    assert_null(th_configure(mod, "{\"bogus\": 1}", "/x", root, err, sizeof err));
    assert_non_null(strstr(err, "bogus"));
    assert_null(th_configure(mod, "{\"dir\": 5}", "/x", root, err, sizeof err));
    assert_non_null(th_configure(mod, "{\"dir\": \"/tmp\"}", "/x", NULL, err, sizeof err));

    th_request *t = th_request_new(mod, conf, "GET", "/up/x", NULL);
    assert_int_equal(th_dispatch(t), WS_DECLINE);
    th_request_end(t);
    assert_int_equal(webserv_module.abi_major, WS_ABI_MAJOR);
    assert_string_equal(webserv_module.methods[0], "POST");
}

static void test_plain_name(void **state)
{
    (void)state;
    assert_true(upload_plain_name("a.txt", 5));
    assert_true(upload_plain_name(".hidden", 7));
    assert_true(upload_plain_name("\xc3\xa9t\xc3\xa9", 5));
    assert_true(upload_plain_name("...", 3));
    assert_false(upload_plain_name("a\0b", 3));
    assert_false(upload_plain_name("", 0));
    assert_false(upload_plain_name(NULL, 0));
    char long_name[300];
    memset(long_name, 'x', sizeof long_name);
    assert_true(upload_plain_name(long_name, 255));
    assert_false(upload_plain_name(long_name, 256));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_put_create),
        T(test_put_replace_keeps_old_until_complete),
        T(test_put_chunked_and_empty),
        T(test_post_raw),
        T(test_post_raw_conflict_at_commit),
        T(test_raw_refusals),
        T(test_raw_start_on_the_pool),
        T(test_abort_leaves_nothing),
        T(test_large_body_streams),
        T(test_body_backpressure),
        T(test_direct_put_exact_and_uncached),
        T(test_direct_batches_in_parallel),
        T(test_direct_blocks_reserved_ahead),
        T(test_direct_chunked_reserved_then_cut),
        T(test_direct_chunked_cut_alone_and_small),
        T(test_direct_chunked_abort_keeps_nothing),
        T(test_direct_reserve_refused),
        T(test_direct_chunked_cut_fails),
        T(test_spool_cut_goes_alone),
        T(test_spool_cut_before_sync_close),
        T(test_direct_buffers_in_huge_pages),
        T(test_direct_buffers_faulted_in_before_the_body),
        T(test_small_put_not_direct),
        T(test_direct_refused_falls_back),
        T(test_disk_full_on_the_pool),
        T(test_form_disk_full_on_the_pool),
        T(test_form_large_parts_exact),
        T(test_form_create),
        T(test_form_json_and_split_everywhere),
        T(test_form_bad_filenames),
        T(test_form_existing_name),
        T(test_form_conflict_at_the_end_undoes_all),
        T(test_form_malformed),
        T(test_form_missing_folder),
        T(test_form_folder_without_slash),
        T(test_post_to_folder_not_a_form),
        T(test_form_abort),
        T(test_form_files_created_on_the_pool),
        T(test_form_create_fails_on_the_pool),
        T(test_delete),
        T(test_delete_on_the_pool),
        T(test_delete_client_leaves),
        T(test_symlink_escape),
        T(test_dir_option),
        T(test_configure_errors_and_match),
        cmocka_unit_test(test_plain_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

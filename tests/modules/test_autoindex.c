/*
 * mod_autoindex against the test host: order, hidden names, escaping (HTML,
 * URL, JSON, invalid UTF-8), JSON by option and by Accept, HEAD, 403, output
 * backpressure, a 10,000-entry folder, and (issue 21) that a folder is read
 * on the offload pool only, also when the client leaves meanwhile. The
 * module's .c files are included to reach its helpers (lighttpd's src/t/
 * habit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* listing.c's file-system calls, counted per thread: the test's own (the
 * event loop's) and the pool's. */
static pid_t main_tid;
static int fs_on_loop, fs_on_pool, readdirs_on_pool;
/* A gate for the pool (a pipe, -1 when open): a readdir there first says it
 * arrived (gate_reached) and waits for a byte, so that a test can act while
 * a listing surely runs on the pool. */
static int gate_in = -1, gate_reached;
static int on_loop(void)
{
    return (pid_t)syscall(SYS_gettid) == main_tid;
}
static void count(void)
{
    __atomic_add_fetch(on_loop() ? &fs_on_loop : &fs_on_pool, 1, __ATOMIC_SEQ_CST);
}
static int counted_open(const char *path, int flags)
{
    count();
    return open(path, flags);
}
static DIR *counted_fdopendir(int fd)
{
    count();
    return fdopendir(fd);
}
static struct dirent *counted_readdir(DIR *d)
{
    count();
    if (!on_loop()) {
        __atomic_add_fetch(&readdirs_on_pool, 1, __ATOMIC_SEQ_CST);
        int fd = __atomic_load_n(&gate_in, __ATOMIC_SEQ_CST);
        if (fd >= 0) {
            __atomic_store_n(&gate_reached, 1, __ATOMIC_SEQ_CST);
            char b;
            while (read(fd, &b, 1) < 0 && errno == EINTR)
                ;
        }
    }
    return readdir(d);
}
static int counted_fstatat(int dirfd, const char *name, struct stat *st, int flags)
{
    count();
    return fstatat(dirfd, name, st, flags);
}
static int counted_closedir(DIR *d)
{
    count();
    return closedir(d);
}
static void reset_counts(void)
{
    __atomic_store_n(&fs_on_loop, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fs_on_pool, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&readdirs_on_pool, 0, __ATOMIC_SEQ_CST);
}

#include "autoindex/autoindex.c"
#include "autoindex/escape.c"
#define open counted_open
#define fdopendir counted_fdopendir
#define readdir counted_readdir
#define fstatat counted_fstatat
#define closedir counted_closedir
#include "autoindex/listing.c"
#undef open
#undef fdopendir
#undef readdir
#undef fstatat
#undef closedir
#include "autoindex/listing_cache.c"
#include "autoindex/render_html.c"
#include "autoindex/render_json.c"
#include "autoindex/shared_read.c"
#include "testhost.h"

static th_module *M;
static char root[64];

/* 2026-11-30T12:00:00Z */
#define FIXED_TIME ((time_t)1796040000)

static void make_file(const char *rel, size_t size)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    for (size_t i = 0; i < size; i++)
        assert_int_equal(write(fd, "x", 1), 1);
    struct timespec ts[2] = {{FIXED_TIME, 0}, {FIXED_TIME, 0}};
    assert_int_equal(futimens(fd, ts), 0);
    close(fd);
}

static void make_dir(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
    struct timespec ts[2] = {{FIXED_TIME, 0}, {FIXED_TIME, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)f;
    if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
        chmod(p, 0755); /* a locked test folder must still go */
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int setup(void **s)
{
    (void)s;
    strcpy(root, "/tmp/ai_testXXXXXX");
    if (!mkdtemp(root))
        return -1;
    chmod(root, 0755);
    main_tid = (pid_t)syscall(SYS_gettid);
    M = th_load(&webserv_module);
    return M ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    th_unload(M);
    return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const void *cfg(const char *json)
{
    char err[256];
    const void *c = th_configure(M, json, "/", root, err, sizeof err);
    if (!c)
        fail_msg("configure: %s", err);
    return c;
}

/* Run one request to the end; the caller ends it. */
static th_request *get(const char *conf_json, const char *method, const char *target, const char *const *headers)
{
    th_request *t = th_request_new(M, cfg(conf_json), method, target, headers);
    assert_non_null(t);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    assert_int_equal(th_run(t, 5000), 0);
    return t;
}

/* The body of a finished 200, checked for the invariants every listing has. */
static const char *body_of(th_request *t)
{
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 200);
    assert_int_equal(res->error_status, 0);
    assert_true(res->finished);
    assert_int_equal(res->length, (int64_t)res->body_len);
    return res->body;
}

static void assert_before(const char *body, const char *a, const char *b)
{
    const char *pa = strstr(body, a), *pb = strstr(body, b);
    if (!pa || !pb || pa >= pb)
        fail_msg("expected \"%s\" before \"%s\"", a, b);
}

/* ---- helpers of the module ---- */

static void test_human_size(void **s)
{
    (void)s;
    char out[16];
    ai_human_size(0, out);
    assert_string_equal(out, "0 B");
    ai_human_size(1023, out);
    assert_string_equal(out, "1023 B");
    ai_human_size(1024, out);
    assert_string_equal(out, "1.0 KiB");
    ai_human_size(1234, out);
    assert_string_equal(out, "1.2 KiB");
    ai_human_size(1048575, out);
    assert_string_equal(out, "1.0 MiB");
    ai_human_size(5LL * 1024 * 1024 * 1024, out);
    assert_string_equal(out, "5.0 GiB");
    ai_human_size(INT64_MAX, out);
    assert_string_equal(out, "8.0 EiB");
}

static void test_utf8(void **s)
{
    (void)s;
    struct { const char *in; size_t len; } ok[] = {{"a", 1}, {"\xC3\xA9", 2}, {"\xE2\x82\xAC", 3}, {"\xF0\x9F\x98\x80", 4},
                                                {"\xED\x9F\xBF", 3}, {"\xF4\x8F\xBF\xBF", 4}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_int_equal(ai_utf8_len((const unsigned char *)ok[i].in, strlen(ok[i].in)), ok[i].len);
    const char *bad[] = {"\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF", "\xF4\x90\x80\x80",
                         "\xF5\x80\x80\x80", "\xFF", "\x80", "\xC3", "\xE2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ai_utf8_len((const unsigned char *)bad[i], strlen(bad[i])), 0);
    char when[21];
    ai_iso8601(FIXED_TIME, when);
    assert_string_equal(when, "2026-11-30T12:00:00Z");
}

/* ---- listings ---- */

static void test_sorted_folders_first(void **s)
{
    (void)s;
    make_dir("zeta");
    make_dir("Alpha");
    make_file("b.txt", 3);
    make_file("a.txt", 1234);
    make_file("B.txt", 0);
    make_file(".hidden", 1);
    make_dir(".git");
    th_request *t = get("{}", "GET", "/", NULL);
    const char *body = body_of(t);
    assert_before(body, ">Alpha/</a>", ">zeta/</a>");
    assert_before(body, ">zeta/</a>", ">B.txt</a>");
    assert_before(body, ">B.txt</a>", ">a.txt</a>");
    assert_before(body, ">a.txt</a>", ">b.txt</a>");
    assert_non_null(strstr(body, "href=\"/zeta/\""));
    assert_non_null(strstr(body, "href=\"/a.txt\""));
    assert_null(strstr(body, "hidden"));
    assert_null(strstr(body, ".git"));
    assert_null(strstr(body, ">../<")); /* no parent at "/" */
    assert_null(strstr(body, "<script"));
    assert_non_null(strstr(body, "<title>Index of /</title>"));
    assert_non_null(strstr(body, "<style>"));
    /* Size: human and exact; time: ISO 8601 UTC. */
    assert_non_null(strstr(body, "title=\"1234 bytes\">1.2 KiB<"));
    assert_non_null(strstr(body, "<time datetime=\"2026-11-30T12:00:00Z\">2026-11-30T12:00:00Z</time>"));
    assert_string_equal(th_header(t, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(th_header(t, "Vary"), "Accept");
    th_response *res = th_response_of(t);
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
    assert_int_equal(res->cleanup_how, WS_END_DONE);
}

static void test_show_hidden(void **s)
{
    (void)s;
    th_request *t = get("{\"show_hidden\": true}", "GET", "/", NULL);
    const char *body = body_of(t);
    assert_non_null(strstr(body, ">.git/</a>"));
    assert_non_null(strstr(body, ">.hidden</a>"));
    assert_before(body, ">.git/</a>", ">Alpha/</a>");
    assert_null(strstr(body, "href=\"/./\""));
    assert_null(strstr(body, "href=\"/../\""));
    th_request_end(t);
}

static void test_subfolder_and_parent(void **s)
{
    (void)s;
    make_dir("sub");
    make_dir("sub/inner");
    make_file("sub/f", 5);
    th_request *t = get("{}", "GET", "/sub/", NULL);
    const char *body = body_of(t);
    assert_non_null(strstr(body, "<title>Index of /sub/</title>"));
    assert_non_null(strstr(body, "<a href=\"/\">../</a>"));
    assert_non_null(strstr(body, "href=\"/sub/inner/\">inner/</a>"));
    assert_non_null(strstr(body, "href=\"/sub/f\">f</a>"));
    th_request_end(t);

    /* Without the trailing slash (the core redirects first, but be safe). */
    t = get("{}", "GET", "/sub/inner", NULL);
    body = body_of(t);
    assert_non_null(strstr(body, "<a href=\"/sub/\">../</a>"));
    assert_non_null(strstr(body, "This folder is empty."));
    th_request_end(t);
}

static void test_escaping_html(void **s)
{
    (void)s;
    make_dir("esc");
    make_file("esc/a<b>&\"'.txt", 1);
    make_file("esc/sp ace%#?.txt", 1);
    make_file("esc/caf\xC3\xA9.txt", 1);
    make_file("esc/bad\xFF\xFE.txt", 1);
    make_file("esc/new\nline", 1);
    make_dir("esc/x&y");
    th_request *t = get("{}", "GET", "/esc/", NULL);
    const char *body = body_of(t);
    assert_non_null(strstr(body, "href=\"/esc/a%3Cb%3E%26%22%27.txt\">a&lt;b&gt;&amp;&quot;&#39;.txt</a>"));
    assert_non_null(strstr(body, "href=\"/esc/sp%20ace%25%23%3F.txt\">sp ace%#?.txt</a>"));
    assert_non_null(strstr(body, "href=\"/esc/caf%C3%A9.txt\">caf\xC3\xA9.txt</a>"));
    assert_non_null(strstr(body, "href=\"/esc/bad%FF%FE.txt\">bad\xEF\xBF\xBD\xEF\xBF\xBD.txt</a>"));
    assert_non_null(strstr(body, "href=\"/esc/new%0Aline\">new\xEF\xBF\xBDline</a>"));
    assert_non_null(strstr(body, "href=\"/esc/x%26y/\">x&amp;y/</a>"));
    assert_null(strstr(body, "<b>"));
    assert_null(strstr(body, "\xFF"));
    assert_null(strstr(body, "new\nline"));
    th_request_end(t);
}

static json_t *parse(const char *body)
{
    json_error_t e;
    json_t *j = json_loads(body, 0, &e); /* jansson refuses invalid UTF-8 */
    if (!j)
        fail_msg("bad JSON: %s at %d:%d", e.text, e.line, e.column);
    assert_true(json_is_array(j));
    return j;
}

static json_t *find(json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0) return e;
    fail_msg("no entry %s", name);
    return NULL;
}

static void test_escaping_json(void **s)
{
    (void)s;
    th_request *t = get("{\"format\": \"json\"}", "GET", "/esc/", NULL);
    const char *body = body_of(t);
    assert_string_equal(th_header(t, "Content-Type"), "application/json");
    assert_null(th_header(t, "Vary"));
    json_t *j = parse(body);
    assert_int_equal(json_array_size(j), 6);
    find(j, "a<b>&\"'.txt");
    find(j, "sp ace%#?.txt");
    find(j, "caf\xC3\xA9.txt");
    find(j, "bad\xEF\xBF\xBD\xEF\xBF\xBD.txt");
    find(j, "new\nline");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "name")), "x&y"); /* folder first */
    assert_non_null(strstr(body, "new\\u000aline"));
    json_decref(j);
    th_request_end(t);
}

static void test_json_fields(void **s)
{
    (void)s;
    th_request *t = get("{\"format\": \"json\"}", "GET", "/", NULL);
    json_t *j = parse(body_of(t));
    json_t *f = find(j, "a.txt"), *d = find(j, "zeta");
    assert_string_equal(json_string_value(json_object_get(f, "type")), "file");
    assert_int_equal(json_integer_value(json_object_get(f, "size")), 1234);
    assert_string_equal(json_string_value(json_object_get(f, "mtime")), "2026-11-30T12:00:00Z");
    assert_string_equal(json_string_value(json_object_get(d, "type")), "directory");
    assert_true(json_is_integer(json_object_get(d, "size")));
    assert_int_equal(json_object_size(f), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "name")), "Alpha");
    json_decref(j);
    th_request_end(t);
}

static void test_json_via_accept(void **s)
{
    (void)s;
    th_request *t = get("{}", "GET", "/", (const char *[]){"Accept: text/html;q=0.5, Application/JSON", NULL});
    assert_string_equal(th_header(t, "Content-Type"), "application/json");
    json_decref(parse(body_of(t)));
    th_request_end(t);

    t = get("{}", "GET", "/", (const char *[]){"Accept: application/json;q=0, text/html", NULL});
    assert_string_equal(th_header(t, "Content-Type"), "text/html; charset=utf-8");
    th_request_end(t);

    t = get("{}", "GET", "/", (const char *[]){"Accept: application/jsonx", NULL});
    assert_string_equal(th_header(t, "Content-Type"), "text/html; charset=utf-8");
    th_request_end(t);
}

static void test_empty_json(void **s)
{
    (void)s;
    th_request *t = get("{\"format\": \"json\"}", "GET", "/sub/inner/", NULL);
    assert_string_equal(body_of(t), "[]\n");
    th_request_end(t);
}

static void test_head(void **s)
{
    (void)s;
    th_request *g = get("{}", "GET", "/", NULL);
    th_request *h = get("{}", "HEAD", "/", NULL);
    th_response *rg = th_response_of(g), *rh = th_response_of(h);
    assert_int_equal(rh->status, 200);
    assert_true(rh->finished);
    assert_int_equal(rh->length, rg->length);
    assert_string_equal(th_header(h, "Content-Type"), th_header(g, "Content-Type"));
    th_request_end(g);
    th_request_end(h);
}

static void test_declines_non_folders(void **s)
{
    (void)s;
    const char *targets[] = {"/a.txt", "/missing/", "/missing"};
    for (size_t i = 0; i < 3; i++) {
        th_request *t = th_request_new(M, cfg("{}"), "GET", targets[i], NULL);
        assert_int_equal(th_dispatch(t), WS_DECLINE);
        th_request_end(t);
    }
    th_request *t = th_request_new(M, cfg("{}"), "POST", "/", NULL);
    assert_int_equal(th_dispatch(t), WS_DECLINE); /* GET and HEAD only */
    th_request_end(t);
}

static void test_config_errors(void **s)
{
    (void)s;
    char err[256];
    assert_null(th_configure(M, "{\"format\": \"xml\"}", "/", root, err, sizeof err));
    assert_non_null(strstr(err, "autoindex.format"));
    assert_null(th_configure(M, "{\"show_hidden\": \"yes\"}", "/", root, err, sizeof err));
    assert_non_null(strstr(err, "show_hidden"));
    assert_null(th_configure(M, "{\"sort\": \"size\"}", "/", root, err, sizeof err));
    assert_non_null(strstr(err, "unknown key"));
}

/* An unreadable folder: 403. Root reads anything, so the request runs in a
 * child that drops to nobody first. */
static void test_unreadable_403(void **s)
{
    (void)s;
    make_dir("locked");
    char p[512];
    snprintf(p, sizeof p, "%s/locked", root);
    assert_int_equal(chmod(p, 0311), 0); /* enter, but not read */
    const void *c = cfg("{}");
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        th_request *t = th_request_new(M, c, "GET", "/locked/", NULL);
        int ok = th_dispatch(t) == WS_TAKE && th_run(t, 5000) == 0 /* the pool's answer */ &&
                 th_response_of(t)->error_status == 403 &&
                 th_response_of(t)->status == 403 && !th_response_of(t)->finished;
        th_request_end(t);
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    chmod(p, 0755);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A slow client: slices wait for on_writable; the whole body still arrives. */
static void test_backpressure(void **s)
{
    (void)s;
    th_request *t = th_request_new(M, cfg("{}"), "GET", "/big/", NULL);
    th_set_output_limit(t, SLICE * 3 / 2);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    th_run(t, 5000); /* the folder is read on the pool; its done queues the first slices */
    assert_int_equal(res->body_len, 2 * SLICE); /* the second slice said WS_AGAIN */
    assert_false(res->finished);
    assert_int_equal(th_run(t, 50), -1); /* nothing until the client reads */
    int rounds = 0;
    while (!res->finished && rounds < 1000) {
        th_drain(t);
        rounds++;
    }
    assert_true(res->finished);
    assert_true(rounds > 5);
    assert_int_equal(res->length, (int64_t)res->body_len);
    assert_non_null(strstr(res->body, "</html>"));
    th_request_end(t);
    assert_int_equal(res->cleanups, 1);
}

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* 10,000 entries, created in an order unlike the sorted one. */
static void test_ten_thousand(void **s)
{
    (void)s;
    enum { N = 10000 };
    make_dir("big");
    for (unsigned i = 0; i < N; i++) {
        char rel[64];
        unsigned k = (i * 7919u) % N; /* 7919 is prime: a permutation */
        snprintf(rel, sizeof rel, k % 100 == 0 ? "big/d%05u" : "big/f%05u", k);
        if (k % 100 == 0)
            make_dir(rel);
        else
            make_file(rel, 0);
    }
    const char *formats[] = {"{\"format\": \"json\"}", "{}"};
    for (int f = 0; f < 2; f++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        th_request *t = get(formats[f], "GET", "/big/", NULL);
        double ms = elapsed_ms(&t0);
        const char *body = body_of(t);
        print_message("10,000-entry %s listing: %.1f ms, %zu bytes\n", f ? "HTML" : "JSON", ms,
                      th_response_of(t)->body_len);
        if (f == 0) {
            json_t *j = parse(body);
            assert_int_equal(json_array_size(j), N);
            for (unsigned i = 0; i < N; i++) {
                /* 100 folders d00000…d09900 first, then the files in order. */
                unsigned k = i < 100 ? i * 100 : (i - 100) / 99 * 100 + (i - 100) % 99 + 1;
                char want[16];
                snprintf(want, sizeof want, i < 100 ? "d%05u" : "f%05u", k);
                assert_string_equal(json_string_value(json_object_get(json_array_get(j, i), "name")), want);
            }
            json_decref(j);
        } else {
            assert_before(body, ">d09900/</a>", ">f00001</a>");
            assert_before(body, ">f09998</a>", ">f09999</a>");
        }
        th_request_end(t);
    }
}

/* Issue 21: a listing's file-system work (open, fdopendir, readdir, one
 * fstatat per entry, closedir) runs on the offload pool only, never on the
 * loop, for a listing, a JSON one, two at once, and a folder gone between
 * the core's stat and the listing (404); the answers are the usual ones. */
static void test_listed_on_the_pool(void **s)
{
    (void)s;
    make_dir("pool");
    make_dir("pool/inner");
    make_file("pool/a.txt", 3);
    make_dir("vanishing");
    reset_counts();
    th_request *t = get("{}", "GET", "/pool/", NULL);
    const char *body = body_of(t);
    assert_before(body, ">inner/</a>", ">a.txt</a>");
    th_request_end(t);
    t = get("{\"format\": \"json\"}", "GET", "/pool/", NULL);
    json_t *j = parse(body_of(t));
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    th_request_end(t);
    /* Two at once: both on the pool, each answered. */
    th_request *a = th_request_new(M, cfg("{}"), "GET", "/pool/", NULL);
    th_request *b = th_request_new(M, cfg("{}"), "GET", "/pool/inner/", NULL);
    assert_int_equal(th_dispatch(a), WS_TAKE);
    assert_int_equal(th_dispatch(b), WS_TAKE);
    assert_int_equal(th_run(b, 5000), 0);
    assert_int_equal(th_run(a, 5000), 0);
    assert_non_null(strstr(body_of(a), ">a.txt</a>"));
    assert_null(strstr(body_of(b), ">a.txt</a>"));
    th_request_end(a);
    th_request_end(b);
    /* The core saw a folder; it is gone when the pool opens it. */
    t = th_request_new(M, cfg("{}"), "GET", "/vanishing/", NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/vanishing", root);
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    assert_int_equal(th_run(t, 5000), 0);
    assert_int_equal(th_response_of(t)->error_status, 404);
    assert_false(th_response_of(t)->finished);
    th_request_end(t);
    assert_int_equal(fs_on_loop, 0);
    /* 4 listings of 1 or 2 entries (and the failed open): open, fdopendir, readdir per entry and
     * the end, fstatat per entry, closedir. */
    assert_true(fs_on_pool >= 4 * 5 + 1);
    assert_true(readdirs_on_pool >= 4 * 2);
}

/* The client leaves while its listing is on the pool (held at the gate in
 * readdir): no answer is given, the request ends only after the work
 * returned (ASan and valgrind see any use after free or leak of the
 * entries read), cleanup runs once, and no descriptor stays open. */
static void test_client_leaves_while_listing(void **s)
{
    (void)s;
    int fds = th_open_fds();
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    __atomic_store_n(&gate_reached, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&gate_in, gate[0], __ATOMIC_SEQ_CST);
    th_request *t = th_request_new(M, cfg("{}"), "GET", "/big/", NULL);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    th_response *res = th_response_of(t);
    assert_int_equal(th_wait_flag(&gate_reached, 30000), 0); /* generous: the pool is one thread away */
    assert_false(res->finished); /* the work waits at the gate */
    assert_int_equal(res->status, 0);
    assert_int_equal(res->body_len, 0);
    /* Open the gate for good: every later readdir passes too. */
    __atomic_store_n(&gate_in, -1, __ATOMIC_SEQ_CST);
    close(gate[1]);
    th_request_abort(t); /* waits for the work (10,000 entries read), skips its done */
    close(gate[0]);
    assert_false(res->finished);
    assert_int_equal(res->error_status, 0);
    assert_int_equal(res->status, 0);
    assert_int_equal(res->body_len, 0);
    assert_int_equal(res->cleanups, 1);
    assert_int_equal(th_open_fds(), fds);
    /* The module serves the next one. */
    th_request *n = get("{}", "GET", "/big/", NULL);
    assert_non_null(strstr(body_of(n), ">f09999</a>"));
    th_request_end(n);
    assert_int_equal(th_open_fds(), fds);
}

/* Requests for one folder version while its read runs share that read: the
 * second neither reads the folder (readdir counted) nor waits on the loop;
 * both are answered, each in its own format. Then the reader's client
 * leaves while a second request shares the read: the second is still
 * answered, cleanup runs once each, nothing leaks (ASan, valgrind). */
static void test_one_read_per_folder_version(void **s)
{
    (void)s;
    int fds = th_open_fds();
    int gate[2];
    for (int leaves = 0; leaves < 2; leaves++) {
        th_set_dir_version(leaves ? 42 : 41);
        reset_counts();
        assert_int_equal(pipe(gate), 0);
        __atomic_store_n(&gate_reached, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&gate_in, gate[0], __ATOMIC_SEQ_CST);
        th_request *a = th_request_new(M, cfg("{}"), "GET", "/pool/", NULL);
        assert_int_equal(th_dispatch(a), WS_TAKE);
        assert_int_equal(th_wait_flag(&gate_reached, 30000), 0);
        th_request *b = th_request_new(M, cfg("{\"format\": \"json\"}"), "GET", "/pool/", NULL);
        assert_int_equal(th_dispatch(b), WS_TAKE);
        th_response *ra = th_response_of(a), *rb = th_response_of(b);
        assert_int_equal(rb->status, 0); /* it waits for the read */
        /* b's work joined a's read (shared_read.c's table: two holders) before a can let go. */
        for (int ms = 0;; ms++) {
            pthread_mutex_lock(&mu);
            unsigned holders = reads ? reads->refs : 0;
            pthread_mutex_unlock(&mu);
            if (holders == 2)
                break;
            assert_true(ms < 30000);
            usleep(1000);
        }
        __atomic_store_n(&gate_in, -1, __ATOMIC_SEQ_CST);
        close(gate[1]);
        if (leaves) {
            th_request_abort(a); /* waits for its work, skips its done */
            assert_int_equal(ra->status, 0);
            assert_int_equal(ra->cleanups, 1);
        } else {
            assert_int_equal(th_run(a, 5000), 0);
            assert_non_null(strstr(body_of(a), ">a.txt</a>"));
            th_request_end(a);
        }
        assert_int_equal(th_run(b, 5000), 0);
        json_t *j = parse(body_of(b));
        assert_int_equal(json_array_size(j), 2);
        json_decref(j);
        th_request_end(b);
        assert_int_equal(rb->cleanups, 1);
        close(gate[0]);
        /* One read: a readdir per entry (".", "..", inner, a.txt) and the end. */
        assert_int_equal(readdirs_on_pool, 5);
        assert_int_equal(fs_on_loop, 0);
    }
    /* The version kept the rendered listing: no read at all now. */
    reset_counts();
    th_request *c = get("{\"format\": \"json\"}", "GET", "/pool/", NULL);
    assert_non_null(strstr(body_of(c), "\"a.txt\""));
    th_request_end(c);
    assert_int_equal(fs_on_loop + fs_on_pool, 0);
    th_set_dir_version(0);
    assert_int_equal(th_open_fds(), fds);
}

/* The built module exports its descriptor and works through dlopen. */
static void test_shared_object(void **s)
{
    (void)s;
    const char *build = getenv("WEBSERV_BUILD");
    char so[512];
    snprintf(so, sizeof so, "%s/modules/mod_autoindex.so", build ? build : "build");
    if (access(so, R_OK) != 0)
        fail_msg("%s is missing: the module tests depend on it being built", so);
    th_module *m = th_load_so(so);
    assert_non_null(m);
    char err[256];
    const void *c = th_configure(m, "{\"format\": \"json\"}", "/", root, err, sizeof err);
    assert_non_null(c);
    th_request *t = th_request_new(m, c, "GET", "/sub/", NULL);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    assert_int_equal(th_run(t, 5000), 0);
    json_t *j = parse(body_of(t));
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    th_request_end(t);
    th_unload(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_size),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_sorted_folders_first),
        cmocka_unit_test(test_show_hidden),
        cmocka_unit_test(test_subfolder_and_parent),
        cmocka_unit_test(test_escaping_html),
        cmocka_unit_test(test_escaping_json),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_via_accept),
        cmocka_unit_test(test_empty_json),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_declines_non_folders),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_unreadable_403),
        cmocka_unit_test(test_ten_thousand),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_listed_on_the_pool),
        cmocka_unit_test(test_client_leaves_while_listing),
        cmocka_unit_test(test_one_read_per_folder_version),
        cmocka_unit_test(test_shared_object),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

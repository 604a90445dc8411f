/*
 * The response path without a socket. A loopback carrier (carrier.h) records
 * what the request code decides: status, fields, length, body bytes, finish,
 * abort, backpressure; it covers HEAD, 304/412, Range 206/416, error pages
 * and WS_AGAIN then on_writable. The HTTP/1 carrier (h1_carrier.c) on a
 * connection held in memory, its output queue flushed through a capturing
 * transport, covers the wire framing: Content-Length, chunked, HTTP/1.0
 * close-delimited and keep-alive, HEAD, 304 without framing, long field
 * lists, 100 Continue and error responses that close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "arena.h"
#include "cfgtest.h"
#include "conn.h"
#include "mime.h"
#include "filter.h"
#include "modules.h"
#include "offload.h"
#include "outq.h"
#include "phase.h"
#include "request.h"
#include "response.h"
#include "router.h"
#include "server.h"
#include "transport.h"

/* ---- the loopback carrier ---- */

typedef struct loopback {
    int heads;
    int status;
    int64_t length;
    int no_body;
    char fields[8192];   /* "name: value\n" per field, as sent */
    char body[512 * 1024];
    size_t body_len;
    int finished, aborted, want_body;
    size_t queued;       /* bytes "not yet sent": the test drains by setting 0 */
} loopback;

static loopback lb;

static loopback *LB(const request *r)
{
    return r->carrier_ctx;
}

static int lb_send_head(request *r)
{
    loopback *l = LB(r);
    l->heads++;
    l->status = r->status;
    l->length = r->length;
    l->no_body = r->no_body;
    l->fields[0] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < r->resp_headers.n; i++)
        n += (size_t)snprintf(l->fields + n, sizeof l->fields - n, "%s: %s\n", r->resp_headers.v[i].name,
                              r->resp_headers.v[i].value);
    return 0;
}

static void lb_take(loopback *l, const void *p, size_t n)
{
    assert_true(l->body_len + n <= sizeof l->body);
    memcpy(l->body + l->body_len, p, n);
    l->body_len += n;
    l->queued += n;
}

static int lb_send_mem(request *r, const void *p, size_t n)
{
    assert_false(LB(r)->finished);
    lb_take(LB(r), p, n);
    return 0;
}

static int lb_send_ref(request *r, const void *p, size_t n, carrier_release_fn release, void *arg)
{
    lb_take(LB(r), p, n);
    if (release)
        release(arg);
    return 0;
}

static int lb_send_file(request *r, int fd, off_t off, uint64_t n, carrier_release_fn release, void *arg)
{
    char buf[65536];
    assert_true(n <= sizeof buf);
    assert_int_equal(pread(fd, buf, (size_t)n, off), (ssize_t)n);
    lb_take(LB(r), buf, (size_t)n);
    if (release)
        release(arg);
    else
        close(fd);
    return 0;
}

static int lb_finish(request *r)
{
    LB(r)->finished++;
    return 0;
}

static size_t lb_queued(const request *r)
{
    return LB(r)->queued;
}

static void lb_abort(request *r)
{
    LB(r)->aborted++;
    r->close_after = 1;
    r->broken = 1;
}

static void lb_want_body(request *r)
{
    LB(r)->want_body++;
}

static void lb_progress(request *r)
{
    (void)r;
}

static const carrier_ops loopback_carrier = {
    .name = "loopback",
    .send_head = lb_send_head,
    .send_mem = lb_send_mem,
    .send_ref = lb_send_ref,
    .send_file = lb_send_file,
    .finish = lb_finish,
    .queued = lb_queued,
    .abort = lb_abort,
    .want_body = lb_want_body,
    .progress = lb_progress,
};

/* ---- requests ---- */

static ws_config *cfg;
static live_config live;
static char page_path[400];

static int setup(void **state)
{
    if (cfgtest_setup(state) < 0)
        return -1;
    cfgtest_write("404.html", "<p>custom not found</p>\n");
    snprintf(page_path, sizeof page_path, "%s/404.html", cfgtest_dir);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"servers\": [{\"listen\": \"127.0.0.1:8080\", \"root\": \"%s\","
             " \"error_pages\": {\"404\": \"%s\"}, \"locations\": [{\"path\": \"/\"}]}]}",
             cfgtest_dir, page_path);
    cfg = cfgtest_load(json);
    if (!cfg) {
        fprintf(stderr, "config: %s\n", cfgtest_err);
        return -1;
    }
    live.c = cfg;
    live.refs = 1;
    return 0;
}

static int teardown(void **state)
{
    config_free(cfg);
    outq_release_spares();
    return cfgtest_teardown(state);
}

static ws_header hdrs[8];

/* A GET (or method) with the given "Name", "value" pairs, on the loopback carrier. */
static request *new_req(const char *method, int minor, const char *const *fields, size_t n_fields)
{
    memset(&lb, 0, sizeof lb);
    /* In its own pool, as req_new makes it: req_end gives the pool back
     * and with it the request. */
    arena *pool = arena_new(4096);
    assert_non_null(pool);
    request *r = arena_alloc(pool, sizeof *r);
    assert_non_null(r);
    r->pool = pool;
    r->carrier = &loopback_carrier;
    r->carrier_ctx = &lb;
    r->cfg = &live;
    r->length = -1;
    r->out_left = -1;
    r->head.keep_alive = 1;
    r->pub.size = sizeof r->pub;
    r->pub.method = method;
    r->pub.http_minor = minor;
    r->pub.path = "/x";
    for (size_t i = 0; i < n_fields; i++) {
        hdrs[i].name = fields[2 * i];
        hdrs[i].value = fields[2 * i + 1];
    }
    r->pub.headers = hdrs;
    r->pub.n_headers = n_fields;
    return r;
}

static void free_req(request *r)
{
    arena_free(r->pool); /* r was in it */
}

/* Validators as host set_validators would give them. */
static void set_validators(request *r, const char *etag, time_t mtime)
{
    snprintf(r->etag, sizeof r->etag, "%s", etag);
    r->last_modified = mtime;
    r->has_validators = 1;
}

static int has_field(const char *name_value)
{
    char line[512];
    snprintf(line, sizeof line, "%s\n", name_value);
    return strstr(lb.fields, line) != NULL;
}

static void test_length_and_body(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    r->length = 5;
    resp_header_add_ref(r, "Content-Type", "text/plain");
    assert_int_equal(resp_write(r, "hel", 3), WS_OK);
    assert_int_equal(resp_write(r, "lo", 2), WS_OK);
    assert_int_equal(resp_finish(r), WS_OK);
    assert_int_equal(lb.heads, 1);
    assert_int_equal(lb.status, 200);
    assert_int_equal(lb.length, 5);
    assert_true(has_field("Content-Type: text/plain"));
    assert_int_equal(lb.body_len, 5);
    assert_memory_equal(lb.body, "hello", 5);
    assert_int_equal(lb.finished, 1);
    assert_false(r->broken);
    /* Past the promised length: dropped, so the next response cannot be corrupted. */
    free_req(r);
    r = new_req("GET", 1, NULL, 0);
    r->length = 3;
    assert_int_equal(resp_write(r, "abcdef", 6), WS_OK);
    resp_finish(r);
    assert_int_equal(lb.body_len, 3);
    assert_memory_equal(lb.body, "abc", 3);
    free_req(r);
}

static void test_short_body_is_broken(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    r->length = 10;
    resp_write(r, "abc", 3);
    resp_finish(r);
    assert_true(r->broken);
    assert_true(r->close_after);
    free_req(r);
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    request *r = new_req("HEAD", 1, NULL, 0);
    r->length = 5;
    assert_int_equal(resp_write(r, "hello", 5), WS_OK);
    resp_finish(r);
    assert_int_equal(lb.status, 200);
    assert_int_equal(lb.length, 5); /* GET's Content-Length */
    assert_true(lb.no_body);
    assert_int_equal(lb.body_len, 0);
    assert_int_equal(r->content_written, 5);
    free_req(r);
}

static void test_not_modified(void **state)
{
    (void)state;
    const char *f[] = {"If-None-Match", "\"abc\""};
    request *r = new_req("GET", 1, f, 1);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 5;
    resp_write(r, "hello", 5);
    resp_finish(r);
    assert_int_equal(lb.status, 304);
    assert_true(lb.no_body);
    assert_int_equal(lb.body_len, 0);
    assert_true(has_field("ETag: \"abc\""));
    assert_true(has_field("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT"));
    assert_false(strstr(lb.fields, "Accept-Ranges")); /* not on a 304 */
    free_req(r);
    /* A different tag: the full 200, with its validators. */
    const char *g[] = {"If-None-Match", "\"zzz\""};
    r = new_req("GET", 1, g, 1);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 5;
    resp_write(r, "hello", 5);
    resp_finish(r);
    assert_int_equal(lb.status, 200);
    assert_int_equal(lb.body_len, 5);
    assert_true(has_field("Accept-Ranges: bytes"));
    free_req(r);
}

/* The precondition and Range fields are found in one pass (response.c
 * cond_fields): any case, the first of a name wins, look-alike names are
 * not them. */
/* GET of a 5-byte "hello" with ETag "abc" and a fixed Last-Modified, with
 * these request fields (name, value pairs); the test loopback records the
 * answer in lb. */
static void get_hello(const char *const *fields, size_t n)
{
    request *r = new_req("GET", 1, fields, n);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 5;
    resp_write(r, "hello", 5);
    resp_finish(r);
    free_req(r);
}

static void test_conditional_fields_found_in_one_pass(void **state)
{
    (void)state;
    const char *a[] = {"X-Other", "1", "if-none-match", "\"abc\"", "IF-NONE-MATCH", "\"zzz\""};
    get_hello(a, 3);
    assert_int_equal(lb.status, 304);
    const char *b[] = {"If-None-Matches", "\"abc\"", "if-match-x", "\"no\"", "Rangex", "bytes=0-1", "If-", "x"};
    get_hello(b, 4);
    assert_int_equal(lb.status, 200);
    assert_int_equal(lb.body_len, 5);
    const char *c[] = {"if-unmodified-since", "Sun, 06 Nov 1994 08:49:36 GMT"};
    get_hello(c, 1);
    assert_int_equal(lb.status, 412);
    const char *d[] = {"if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"};
    get_hello(d, 1);
    assert_int_equal(lb.status, 304);
    const char *e[] = {"range", "bytes=0-1", "if-range", "\"abc\""};
    get_hello(e, 2);
    assert_int_equal(lb.status, 206);
    assert_int_equal(lb.body_len, 2);
    const char *f[] = {"If-Range", "\"other\"", "Range", "bytes=0-1"};
    get_hello(f, 2);
    assert_int_equal(lb.status, 200); /* If-Range false: the whole representation */
    assert_int_equal(lb.body_len, 5);
}

static void test_precondition_failed(void **state)
{
    (void)state;
    const char *f[] = {"If-Match", "\"other\""};
    request *r = new_req("GET", 1, f, 1);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 5;
    resp_write(r, "hello", 5);
    resp_finish(r);
    assert_int_equal(lb.status, 412);
    assert_int_equal(lb.length, 0);
    assert_int_equal(lb.body_len, 0);
    free_req(r);
}

static void test_range_206(void **state)
{
    (void)state;
    const char *f[] = {"Range", "bytes=2-5"};
    request *r = new_req("GET", 1, f, 1);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 10;
    /* The window crosses the handler's pieces. */
    resp_write(r, "012", 3);
    resp_write(r, "3456789", 7);
    resp_finish(r);
    assert_int_equal(lb.status, 206);
    assert_int_equal(lb.length, 4);
    assert_true(has_field("Content-Range: bytes 2-5/10"));
    assert_int_equal(lb.body_len, 4);
    assert_memory_equal(lb.body, "2345", 4);
    assert_false(r->broken);
    free_req(r);

    /* The same from a file: the carrier gets the range, not the file. */
    cfgtest_write("ten.txt", "0123456789");
    char path[512];
    snprintf(path, sizeof path, "%s/ten.txt", cfgtest_dir);
    const char *g[] = {"Range", "bytes=-3"};
    r = new_req("GET", 1, g, 1);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 10;
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_int_equal(resp_send_file(r, dup(fileno(fp)), 0, 10), WS_OK);
    fclose(fp);
    resp_finish(r);
    assert_int_equal(lb.status, 206);
    assert_true(has_field("Content-Range: bytes 7-9/10"));
    assert_int_equal(lb.body_len, 3);
    assert_memory_equal(lb.body, "789", 3);
    free_req(r);
}

static void test_range_416(void **state)
{
    (void)state;
    const char *f[] = {"Range", "bytes=20-"};
    request *r = new_req("GET", 1, f, 1);
    set_validators(r, "\"abc\"", 784111777);
    r->length = 10;
    resp_write(r, "0123456789", 10);
    resp_finish(r);
    assert_int_equal(lb.status, 416);
    assert_true(has_field("Content-Range: bytes */10"));
    assert_int_equal(lb.body_len, 0);
    free_req(r);
}

static void test_error_page_builtin(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    resp_header_add_ref(r, "X-Before", "dropped");
    r->status = 200;
    assert_int_equal(resp_error(r, 503), WS_OK);
    assert_int_equal(lb.status, 503);
    assert_null(strstr(lb.fields, "X-Before")); /* the error replaces what was set */
    assert_true(has_field("Content-Type: text/html; charset=utf-8"));
    assert_int_equal(lb.length, (int64_t)lb.body_len);
    lb.body[lb.body_len] = '\0';
    assert_non_null(strstr(lb.body, "503 Service Unavailable"));
    assert_int_equal(lb.finished, 1);
    assert_false(r->close_after); /* a 503 keeps the connection */
    free_req(r);
    /* Framing errors end the connection. */
    r = new_req("GET", 1, NULL, 0);
    resp_error(r, 400);
    assert_true(r->close_after);
    free_req(r);
    /* Out-of-range statuses become 500. */
    r = new_req("GET", 1, NULL, 0);
    resp_error(r, 200);
    assert_int_equal(lb.status, 500);
    free_req(r);
}

static void test_error_page_configured(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    r->server = &cfg->servers[0];
    r->loc = router_location(r->server, "/x", 2);
    assert_non_null(r->loc);
    resp_error(r, 404);
    assert_int_equal(lb.status, 404);
    assert_string_equal(resp_header_get(r, "Content-Type"), mime_lookup(page_path));
    assert_int_equal(lb.length, 24);
    assert_int_equal(lb.body_len, 24);
    assert_memory_equal(lb.body, "<p>custom not found</p>\n", 24);
    free_req(r);
}

static void test_error_after_head_cuts(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    resp_write(r, "partial", 7);
    assert_int_equal(lb.heads, 1);
    resp_error(r, 500);
    assert_int_equal(lb.heads, 1); /* no second head */
    assert_int_equal(lb.aborted, 1);
    assert_true(r->broken);
    assert_true(r->finished);
    free_req(r);
}

static int writable_calls;
static void on_writable(ws_request *p)
{
    (void)p;
    writable_calls++;
}

static void test_backpressure(void **state)
{
    (void)state;
    static loaded_module mod;
    memset(&mod, 0, sizeof mod);
    mod.name = "test";
    mod.d.on_writable = on_writable;
    request *r = new_req("GET", 1, NULL, 0);
    r->owner = &mod;
    static char piece[16384];
    memset(piece, 'x', sizeof piece);
    int rc = WS_OK, writes = 0;
    while (rc == WS_OK) {
        rc = resp_write(r, piece, sizeof piece);
        writes++;
        assert_true(writes < 100);
    }
    assert_int_equal(rc, WS_AGAIN);
    assert_int_equal(writes, 16); /* 256 KiB, the high-water mark */
    assert_true(r->want_writable);
    assert_int_equal(lb.body_len, 16 * sizeof piece); /* WS_AGAIN still took the bytes */
    /* The carrier drains and calls back once. */
    writable_calls = 0;
    lb.queued = 0;
    assert_true(req_writable(r));
    assert_int_equal(writable_calls, 1);
    assert_false(r->want_writable);
    assert_false(req_writable(r)); /* not asked again */
    assert_int_equal(writable_calls, 1);
    assert_int_equal(resp_write(r, piece, 10), WS_OK);
    free_req(r);
}

/* ---- body filters (core/phases/filter.c) ---- */

/* A filter's behaviour, as its per-location config. */
typedef struct filt_conf {
    int upper;       /* upper-case the bytes */
    int tag;         /* append "!" at the end; length made unknown */
    int fail_at;     /* WS_ERROR on this call (1 = the first), 0 = never */
    int ref;         /* pass the output on with filter_next_ref (a malloc'd copy) */
    int async;       /* upper-case each piece on the core's pool (host->offload, WS_DEFER) */
    int fail_in_done;/* async: host->error(500) from this work's done (1 = the first) */
} filt_conf;

static int async_body_filter(ws_request *p, const void *data, size_t len, int last);

static int ref_releases;
static void ref_release(void *arg)
{
    free(arg);
    ref_releases++;
}

static int hf_calls, bf_calls;
static char saw_length[32];

static int t_header_filter(ws_request *p)
{
    const filt_conf *c = p->conf;
    hf_calls++;
    const char *cl = ws_core_host.resp_header(p, "Content-Length");
    snprintf(saw_length, sizeof saw_length, "%s", cl ? cl : "-");
    if (c->tag)
        ws_core_host.set_length(p, -1);
    return 1;
}

static int t_body_filter(ws_request *p, const void *data, size_t len, int last)
{
    const filt_conf *c = p->conf;
    if (c->async)
        return async_body_filter(p, data, len, last);
    if (c->fail_at && ++bf_calls >= c->fail_at)
        return WS_ERROR;
    if (!c->fail_at)
        bf_calls++;
    char buf[70000];
    assert_true(len <= sizeof buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = c->upper && ((const char *)data)[i] >= 'a' && ((const char *)data)[i] <= 'z'
                     ? (char)(((const char *)data)[i] - 32) : ((const char *)data)[i];
    int rc;
    if (c->ref) {
        char *own = malloc(len ? len : 1);
        assert_non_null(own);
        memcpy(own, buf, len);
        rc = ws_core_host.filter_next_ref(p, own, len, last && !c->tag, ref_release, own);
    } else {
        rc = ws_core_host.filter_next(p, buf, len, last && !c->tag);
    }
    if (rc == WS_ERROR || !last || !c->tag)
        return rc;
    return ws_core_host.filter_next(p, "!", 1, 1);
}

static loaded_module fmods[2];
static location_handler fhandlers[2];
static filt_conf fconfs[2];
static location_conf floc;

/* A request whose location has n filter modules with these behaviours. */
static request *filtered_req(const char *method, size_t n, const filt_conf *confs)
{
    request *r = new_req(method, 1, NULL, 0);
    memset(&floc, 0, sizeof floc);
    for (size_t i = 0; i < n; i++) {
        memset(&fmods[i], 0, sizeof fmods[i]);
        fmods[i].name = i ? "second" : "first";
        fmods[i].d.header_filter = t_header_filter;
        fmods[i].d.body_filter = t_body_filter;
        fconfs[i] = confs[i];
        fhandlers[i] = (location_handler){&fmods[i], &fconfs[i]};
    }
    floc.hooks[HOOK_HEADER_FILTER] = fhandlers;
    floc.n_hooks[HOOK_HEADER_FILTER] = n;
    r->loc = &floc;
    r->hook_in = -1;
    hf_calls = bf_calls = 0;
    return r;
}

static void test_filter_chain_in_order(void **state)
{
    (void)state;
    filt_conf c[2] = {{.upper = 1}, {.tag = 1}};
    request *r = filtered_req("GET", 2, c);
    r->length = 6;
    assert_int_equal(resp_write(r, "abc", 3), WS_OK);
    assert_int_equal(lb.heads, 1); /* the chain gave output: the head went with it */
    assert_int_equal(resp_write(r, "def", 3), WS_OK);
    assert_int_equal(resp_finish(r), WS_OK);
    assert_int_equal(hf_calls, 2);
    assert_string_equal(saw_length, "6"); /* the second saw what the first left: 6 still */
    assert_int_equal(lb.length, -1);      /* the second made it unknown */
    assert_int_equal(lb.body_len, 7);
    assert_memory_equal(lb.body, "ABCDEF!", 7);
    assert_int_equal(lb.finished, 1);
    assert_false(r->broken);
    free_req(r);
}

static void test_filter_head_and_304_get_no_body_filter(void **state)
{
    (void)state;
    filt_conf c[1] = {{.upper = 1}};
    request *r = filtered_req("HEAD", 1, c);
    r->length = 3;
    resp_write(r, "abc", 3);
    resp_finish(r);
    assert_int_equal(hf_calls, 1);
    assert_int_equal(bf_calls, 0);
    assert_int_equal(lb.body_len, 0);
    assert_int_equal(lb.finished, 1);
    free_req(r);
    const char *inm[] = {"If-None-Match", "\"v1\""};
    r = filtered_req("GET", 1, c);
    r->pub.headers = hdrs;
    hdrs[0].name = inm[0];
    hdrs[0].value = inm[1];
    r->pub.n_headers = 1;
    set_validators(r, "\"v1\"", 1000);
    r->length = 3;
    resp_write(r, "abc", 3);
    resp_finish(r);
    assert_int_equal(lb.status, 304);
    assert_int_equal(hf_calls, 1); /* the header filter saw the 304 */
    assert_string_equal(saw_length, "-");
    assert_int_equal(bf_calls, 0);
    free_req(r);
}

static void test_filter_range_cut_from_the_output(void **state)
{
    (void)state;
    filt_conf c[1] = {{.upper = 1}};
    request *r = filtered_req("GET", 1, c);
    hdrs[0].name = "Range";
    hdrs[0].value = "bytes=1-3";
    r->pub.n_headers = 1;
    set_validators(r, "\"v1\"", 1000);
    r->length = 6;
    resp_write(r, "ab", 2);
    resp_write(r, "cdef", 4);
    resp_finish(r);
    assert_int_equal(lb.status, 206);
    assert_string_equal(saw_length, "6"); /* the filter saw the whole 200 */
    assert_true(has_field("Content-Range: bytes 1-3/6"));
    assert_int_equal(lb.length, 3);
    assert_int_equal(lb.body_len, 3);
    assert_memory_equal(lb.body, "BCD", 3);
    assert_false(r->broken);
    free_req(r);
    /* A filter that makes the length unknown: no Range, the whole body. */
    filt_conf t[1] = {{.tag = 1}};
    r = filtered_req("GET", 1, t);
    r->pub.n_headers = 1;
    set_validators(r, "\"v1\"", 1000);
    r->length = 6;
    resp_write(r, "abcdef", 6);
    resp_finish(r);
    assert_int_equal(lb.status, 200);
    assert_int_equal(lb.body_len, 7);
    assert_memory_equal(lb.body, "abcdef!", 7);
    free_req(r);
}

/* The late Range (after the filters) takes Range and If-Range from the one
 * pass over the request's fields made for the conditionals: an If-Range that
 * does not match gives the whole body, one that matches the 206. */
static void test_filter_range_late_if_range(void **state)
{
    (void)state;
    filt_conf c[1] = {{.upper = 1}};
    for (int match = 0; match <= 1; match++) {
        request *r = filtered_req("GET", 1, c);
        hdrs[0].name = "if-range"; /* any case */
        hdrs[0].value = match ? "\"v1\"" : "\"v0\"";
        hdrs[1].name = "RANGE";
        hdrs[1].value = "bytes=2-3";
        r->pub.n_headers = 2;
        set_validators(r, "\"v1\"", 1000);
        r->length = 6;
        resp_write(r, "abcdef", 6);
        resp_finish(r);
        assert_int_equal(lb.status, match ? 206 : 200);
        assert_int_equal(lb.body_len, match ? 2 : 6);
        assert_memory_equal(lb.body, match ? "CD" : "ABCDEF", lb.body_len);
        free_req(r);
    }
}

/* host->module_ctx: one slot per module (the first four inside the request,
 * more in its pool), each NULL at first, the same slot on every call. */
static void test_module_ctx_slots(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    ws_module mods[7];
    void **slots[7];
    for (int i = 0; i < 7; i++) {
        slots[i] = phase_host_module_ctx(&r->pub, &mods[i]);
        assert_non_null(slots[i]);
        assert_null(*slots[i]);
        *slots[i] = &mods[i];
        for (int k = 0; k < i; k++)
            assert_ptr_not_equal(slots[k], slots[i]);
    }
    for (int i = 6; i >= 0; i--) {
        assert_ptr_equal(phase_host_module_ctx(&r->pub, &mods[i]), slots[i]);
        assert_ptr_equal(*slots[i], &mods[i]);
    }
    assert_null(phase_host_module_ctx(&r->pub, NULL));
    free_req(r);
}

/* host->set_user: copies (one piece of the pool), printable values only. */
static void test_set_user(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    char user[] = "alice \xc3\xa9", type[] = "Basic";
    assert_int_equal(phase_host_set_user(&r->pub, user, type), WS_OK);
    user[0] = 'X';
    type[0] = 'X';
    assert_string_equal(r->pub.remote_user, "alice \xc3\xa9");
    assert_string_equal(r->pub.auth_type, "Basic");
    assert_int_equal(phase_host_set_user(&r->pub, "bob", NULL), WS_OK);
    assert_string_equal(r->pub.remote_user, "bob");
    assert_null(r->pub.auth_type);
    assert_int_equal(phase_host_set_user(&r->pub, "", "Basic"), WS_OK);
    assert_string_equal(r->pub.remote_user, "");
    /* A CTL anywhere in either (CGI's environment, the access log): refused, nothing changed. */
    assert_int_equal(phase_host_set_user(&r->pub, "ev\nil", "Basic"), WS_ERROR);
    assert_int_equal(phase_host_set_user(&r->pub, "evil\x7f", "Basic"), WS_ERROR);
    assert_int_equal(phase_host_set_user(&r->pub, "carol", "Ba\tsic"), WS_ERROR);
    assert_int_equal(phase_host_set_user(&r->pub, NULL, "Basic"), WS_ERROR);
    assert_string_equal(r->pub.remote_user, "");
    free_req(r);
}

static int releases;
static void count_release(void *arg)
{
    (void)arg;
    releases++;
}

static void test_filter_write_ref_released_once(void **state)
{
    (void)state;
    filt_conf c[1] = {{0}};
    request *r = filtered_req("GET", 1, c);
    releases = 0;
    assert_int_equal(resp_write_ref(r, "hello", 5, count_release, NULL), WS_OK);
    assert_int_equal(releases, 1); /* the chain's output is the carrier's copy */
    resp_finish(r);
    assert_memory_equal(lb.body, "hello", 5);
    assert_int_equal(releases, 1);
    free_req(r);
}

static void test_filter_file_read_as_output_drains(void **state)
{
    (void)state;
    static char content[400 * 1024];
    for (size_t i = 0; i < sizeof content; i++)
        content[i] = (char)('a' + i % 26);
    char path[400];
    snprintf(path, sizeof path, "%s/big.txt", cfgtest_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, sizeof content, f), sizeof content);
    fclose(f);
    filt_conf c[1] = {{.upper = 1}};
    request *r = filtered_req("GET", 1, c);
    r->length = sizeof content + 1;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(resp_send_file(r, fd, 0, (int64_t)sizeof content), WS_OK);
    /* Read up to the high-water mark only: 4 pieces of 64 KiB. */
    assert_int_equal(lb.body_len, 256 * 1024);
    assert_int_equal(resp_write(r, "x", 1), WS_AGAIN); /* waits behind the file */
    assert_int_equal(resp_finish(r), WS_OK);
    assert_int_equal(lb.finished, 0); /* last = 1 waits for the file */
    lb.queued = 0;                    /* the client read it */
    req_writable(r);
    assert_int_equal(lb.finished, 1);
    assert_int_equal(lb.body_len, sizeof content + 1); /* the file, then the write behind it */
    for (size_t i = 0; i < sizeof content; i += 4096)
        assert_int_equal(lb.body[i], content[i] - 32);
    assert_int_equal(lb.body[sizeof content], 'X');
    assert_false(r->broken);
    free_req(r);
}

/* A Range whose bytes are out: the rest of the file is not read. */
static void test_filter_range_stops_reading(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/big.txt", cfgtest_dir); /* written by the test above */
    filt_conf c[1] = {{.upper = 1}};
    request *r = filtered_req("GET", 1, c);
    hdrs[0].name = "Range";
    hdrs[0].value = "bytes=0-9";
    r->pub.n_headers = 1;
    r->length = 400 * 1024;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(resp_send_file(r, fd, 0, 400 * 1024), WS_OK);
    assert_int_equal(bf_calls, 1);            /* one piece read, not seven */
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* and the file let go at once */
    assert_int_equal(resp_finish(r), WS_OK);
    assert_int_equal(lb.finished, 1);
    assert_int_equal(lb.status, 206);
    assert_int_equal(lb.body_len, 10);
    assert_memory_equal(lb.body, "ABCDEFGHIJ", 10);
    free_req(r);
}

static void test_filter_failure_before_and_after_head(void **state)
{
    (void)state;
    filt_conf c[1] = {{.upper = 1, .fail_at = 1}};
    request *r = filtered_req("GET", 1, c);
    r->length = 3;
    assert_int_equal(resp_write(r, "abc", 3), WS_ERROR);
    assert_int_equal(lb.heads, 1);
    assert_int_equal(lb.status, 500); /* nothing had gone out: a 500 page instead */
    assert_non_null(strstr(lb.body, "500"));
    assert_int_equal(lb.aborted, 0);
    assert_true(r->finished);
    free_req(r);
    c[0].fail_at = 2;
    r = filtered_req("GET", 1, c);
    assert_int_equal(resp_write(r, "abc", 3), WS_OK);
    assert_int_equal(lb.status, 200);
    assert_int_equal(resp_write(r, "def", 3), WS_ERROR);
    assert_int_equal(lb.heads, 1);
    assert_int_equal(lb.aborted, 1); /* after the head: cut */
    assert_true(r->broken);
    free_req(r);
}

static void test_reset(void **state)
{
    (void)state;
    request *r = new_req("GET", 1, NULL, 0);
    r->status = 201;
    r->length = 7;
    r->finished = 1;
    r->want_writable = 1;
    r->redirect_to = "/elsewhere";
    set_validators(r, "\"a\"", 1);
    resp_header_add_ref(r, "Location", "/x");
    resp_reset(r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->length, -1);
    assert_false(r->finished);
    assert_false(r->want_writable);
    assert_null(r->redirect_to);
    assert_false(r->has_validators);
    assert_int_equal(r->resp_headers.n, 0);
    free_req(r);
}

/* ---- the HTTP/1 carrier on a connection in memory ---- */

static char wire[1 << 20];
static size_t wire_len;

static ssize_t cap_writev(transport *t, const struct iovec *iov, int n, int more)
{
    (void)t;
    (void)more;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(wire + wire_len, iov[i].iov_base, iov[i].iov_len);
        wire_len += iov[i].iov_len;
        k += iov[i].iov_len;
    }
    return (ssize_t)k;
}

static void cap_noop(transport *t)
{
    (void)t;
}

static const transport_ops capture_ops = {.name = "capture", .writev = cap_writev, .shutdown = cap_noop, .close = cap_noop};

static server srv;
static conn cn;

/* r on the HTTP/1 carrier of a connection held in memory. */
static void h1_attach(request *r, int keep_alive)
{
    if (!srv.loop)
        srv.loop = loop_new(LOOP_BACKEND_AUTO, 16);
    assert_non_null(srv.loop);
    srv.cfg = &live;
    memset(&cn, 0, sizeof cn);
    cn.srv = &srv;
    cn.tr = (transport){.ops = &capture_ops, .fd = -1, .ready = 1};
    r->carrier = &h1_carrier;
    r->carrier_ctx = &cn;
    r->head.keep_alive = keep_alive;
    wire_len = 0;
}

static request *h1_req(const char *method, int minor, int keep_alive)
{
    request *r = new_req(method, minor, NULL, 0);
    h1_attach(r, keep_alive);
    return r;
}

/* Everything queued on the connection, as text. */
static const char *wire_text(void)
{
    assert_true(outq_flush(&cn.out, &cn.tr) >= 0);
    assert_true(outq_empty(&cn.out));
    wire[wire_len] = '\0';
    return wire;
}

static const char *body_of(const char *w)
{
    const char *e = strstr(w, "\r\n\r\n");
    assert_non_null(e);
    return e + 4;
}

static void test_h1_content_length(void **state)
{
    (void)state;
    request *r = h1_req("GET", 1, 1);
    r->length = 5;
    resp_header_add_ref(r, "Content-Type", "text/plain");
    resp_write(r, "hello", 5);
    resp_finish(r);
    const char *w = wire_text();
    assert_memory_equal(w, "HTTP/1.1 200 OK\r\nServer: webserv", 32);
    assert_non_null(strstr(w, "\r\nDate: "));
    assert_non_null(strstr(w, "\r\nContent-Length: 5\r\n"));
    assert_non_null(strstr(w, "\r\nContent-Type: text/plain\r\n"));
    assert_null(strstr(w, "Connection:"));
    assert_null(strstr(w, "Transfer-Encoding"));
    assert_string_equal(body_of(w), "hello");
    assert_false(r->close_after);
    free_req(r);
}

static void test_h1_chunked(void **state)
{
    (void)state;
    request *r = h1_req("GET", 1, 1);
    resp_write(r, "hello", 5);
    resp_write(r, "", 0);
    resp_write(r, "0123456789abcdefXYZ", 19);
    resp_finish(r);
    const char *w = wire_text();
    assert_non_null(strstr(w, "\r\nTransfer-Encoding: chunked\r\n"));
    assert_null(strstr(w, "Content-Length"));
    assert_string_equal(body_of(w), "5\r\nhello\r\n13\r\n0123456789abcdefXYZ\r\n0\r\n\r\n");
    free_req(r);
    /* HEAD: GET's framing header, no body, no last-chunk. */
    r = h1_req("HEAD", 1, 1);
    resp_write(r, "hello", 5);
    resp_finish(r);
    w = wire_text();
    assert_non_null(strstr(w, "\r\nTransfer-Encoding: chunked\r\n"));
    assert_string_equal(body_of(w), "");
    free_req(r);
}

static void test_h1_http10(void **state)
{
    (void)state;
    /* Unknown length: the body ends with the connection. */
    request *r = h1_req("GET", 0, 0);
    resp_write(r, "hello", 5);
    resp_finish(r);
    const char *w = wire_text();
    assert_memory_equal(w, "HTTP/1.1 200 OK\r\n", 17);
    assert_null(strstr(w, "Transfer-Encoding"));
    assert_null(strstr(w, "Content-Length"));
    assert_non_null(strstr(w, "\r\nConnection: close\r\n"));
    assert_string_equal(body_of(w), "hello");
    assert_true(r->close_after);
    free_req(r);
    /* Keep-alive asked for and a known length: kept, and said so. */
    r = h1_req("GET", 0, 1);
    r->length = 2;
    resp_write(r, "ok", 2);
    resp_finish(r);
    w = wire_text();
    assert_non_null(strstr(w, "\r\nConnection: keep-alive\r\n"));
    assert_false(r->close_after);
    free_req(r);
    /* Unknown length even with keep-alive asked for: close-delimited. */
    r = h1_req("GET", 0, 1);
    resp_write(r, "ok", 2);
    resp_finish(r);
    w = wire_text();
    assert_non_null(strstr(w, "\r\nConnection: close\r\n"));
    assert_true(r->close_after);
    free_req(r);
}

static void test_h1_not_modified_has_no_framing(void **state)
{
    (void)state;
    request *r = h1_req("GET", 1, 1);
    hdrs[0].name = "If-None-Match";
    hdrs[0].value = "\"abc\"";
    r->pub.n_headers = 1;
    set_validators(r, "\"abc\"", 784111777);
    r->length = 5;
    resp_write(r, "hello", 5);
    resp_finish(r);
    const char *w = wire_text();
    assert_memory_equal(w, "HTTP/1.1 304 Not Modified\r\n", 27);
    assert_null(strstr(w, "Content-Length"));
    assert_null(strstr(w, "Transfer-Encoding"));
    assert_non_null(strstr(w, "\r\nETag: \"abc\"\r\n"));
    assert_string_equal(body_of(w), "");
    free_req(r);
}

static void test_h1_many_and_long_fields(void **state)
{
    (void)state;
    request *r = h1_req("GET", 1, 1);
    r->length = 0;
    char name[32], value[64];
    for (int i = 0; i < 60; i++) {
        int nn = snprintf(name, sizeof name, "X-Field-%02d", i);
        int vn = snprintf(value, sizeof value, "value-%02d-0123456789", i);
        resp_header_add(r, name, (size_t)nn, value, (size_t)vn);
    }
    static char big[3000];
    memset(big, 'v', sizeof big - 1);
    resp_header_add_ref(r, "X-Big", big);
    resp_header_add_ref(r, "X-Last", "end");
    resp_finish(r);
    const char *w = wire_text();
    const char *prev = w;
    for (int i = 0; i < 60; i++) {
        char line[96];
        snprintf(line, sizeof line, "\r\nX-Field-%02d: value-%02d-0123456789\r\n", i, i);
        const char *at = strstr(w, line);
        assert_non_null(at);
        assert_true(at >= prev); /* in the order set */
        prev = at;
    }
    const char *bigat = strstr(w, "\r\nX-Big: vvvv");
    assert_non_null(bigat);
    assert_int_equal(strspn(bigat + 9, "v"), sizeof big - 1);
    assert_non_null(strstr(w, "\r\nX-Last: end\r\n\r\n"));
    free_req(r);
}

static void test_h1_continue_and_errors(void **state)
{
    (void)state;
    request *r = h1_req("POST", 1, 1);
    r->head.expect_continue = 1;
    r->body = BODY_UNREAD;
    assert_int_equal(req_read_body(r), WS_OK);
    assert_int_equal(r->body, BODY_READING);
    assert_string_equal(wire_text(), "HTTP/1.1 100 Continue\r\n\r\n");
    free_req(r);
    /* Not asked for the body after an Expect we did not answer: close after the response. */
    r = h1_req("POST", 1, 1);
    r->head.expect_continue = 1;
    r->body = BODY_UNREAD;
    r->length = 0;
    resp_finish(r);
    assert_non_null(strstr(wire_text(), "\r\nConnection: close\r\n"));
    free_req(r);
    /* A 413 ends the connection and says so. */
    r = h1_req("POST", 1, 1);
    resp_error(r, 413);
    const char *w = wire_text();
    assert_memory_equal(w, "HTTP/1.1 413 Content Too Large\r\n", 32);
    assert_non_null(strstr(w, "\r\nConnection: close\r\n"));
    free_req(r);
    /* A draining server closes after every response. */
    srv.stopping = 1;
    r = h1_req("GET", 1, 1);
    r->length = 0;
    resp_finish(r);
    assert_non_null(strstr(wire_text(), "\r\nConnection: close\r\n"));
    srv.stopping = 0;
    free_req(r);
}

/* filter_next_ref: the filter's memory is queued as it is and given back
 * once sent (or dropped), exactly once; cut by a Range like any output;
 * released right after the next filter when one follows. */
static void test_filter_next_ref_queued_without_copy(void **state)
{
    (void)state;
    filt_conf c[2] = {{.ref = 1}, {.upper = 1}};
    request *r = filtered_req("GET", 1, c);
    h1_attach(r, 1);
    ref_releases = 0;
    assert_int_equal(resp_write(r, "hello", 5), WS_OK);
    assert_int_equal(resp_write(r, " world", 6), WS_OK);
    assert_int_equal(ref_releases, 0); /* in the queue as they are */
    assert_int_equal(resp_finish(r), WS_OK);
    assert_int_equal(ref_releases, 1); /* the empty last piece: nothing to queue */
    const char *w = wire_text();
    assert_int_equal(ref_releases, 3); /* sent: given back */
    assert_string_equal(body_of(w), "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    free_req(r);

    /* A Range cut from the output. */
    r = filtered_req("GET", 1, c);
    h1_attach(r, 1);
    hdrs[0].name = "Range";
    hdrs[0].value = "bytes=1-3";
    r->pub.n_headers = 1;
    set_validators(r, "\"v1\"", 1000);
    r->length = 6;
    ref_releases = 0;
    resp_write(r, "ab", 2);
    resp_write(r, "cdef", 4);
    resp_finish(r);
    w = wire_text();
    assert_non_null(strstr(w, "HTTP/1.1 206 "));
    assert_string_equal(body_of(w), "bcd");
    assert_int_equal(ref_releases, 3);
    free_req(r);

    /* Another filter after it: released once that filter returned. */
    r = filtered_req("GET", 2, c);
    h1_attach(r, 1);
    ref_releases = 0;
    assert_int_equal(resp_write(r, "abc", 3), WS_OK);
    assert_int_equal(ref_releases, 1);
    resp_finish(r);
    assert_string_equal(body_of(wire_text()), "3\r\nABC\r\n0\r\n\r\n");
    assert_int_equal(ref_releases, 2);
    free_req(r);

    /* Dropped (the client went away before it was sent): released once. */
    r = filtered_req("GET", 1, c);
    h1_attach(r, 1);
    ref_releases = 0;
    resp_write(r, "lost", 4);
    assert_int_equal(ref_releases, 0);
    outq_clear(&cn.out);
    assert_int_equal(ref_releases, 1);
    free_req(r);

    /* Outside a body filter: refused, and released at once. */
    r = filtered_req("GET", 1, c);
    ref_releases = 0;
    char *own = malloc(1);
    assert_int_equal(ws_core_host.filter_next_ref(&r->pub, own, 1, 0, ref_release, own), WS_ERROR);
    assert_int_equal(ref_releases, 1);
    free_req(r);
}

/* ---- asynchronous body filters (host->offload from body_filter) ---- */

/* One piece on the pool; the work waits at the gate (a pipe) while the
 * test holds it, so the test acts while the work surely runs. */
typedef struct async_job {
    char in[64], out[64];
    size_t n;
    int last;
} async_job;

static async_job ajob;
static int gate[2] = {-1, -1};
static int a_works, a_dones, a_logs, a_gate_failed;

static void a_work(void *arg)
{
    async_job *j = arg;
    char c;
    if (read(gate[0], &c, 1) != 1) /* (no cmocka assert off the test's thread) */
        __atomic_store_n(&a_gate_failed, 1, __ATOMIC_SEQ_CST);
    for (size_t i = 0; i < j->n; i++)
        j->out[i] = j->in[i] >= 'a' && j->in[i] <= 'z' ? (char)(j->in[i] - 32) : j->in[i];
    __atomic_add_fetch(&a_works, 1, __ATOMIC_SEQ_CST);
}

static void a_done(ws_request *p, void *arg)
{
    async_job *j = arg;
    const filt_conf *c = p->conf;
    if (c->fail_in_done && ++a_dones == c->fail_in_done) {
        ws_core_host.error(p, 500);
        return;
    }
    if (!c->fail_in_done)
        a_dones++;
    ws_core_host.filter_next(p, j->out, j->n, j->last);
}

static int async_body_filter(ws_request *p, const void *data, size_t len, int last)
{
    assert_true(len <= sizeof ajob.in);
    memcpy(ajob.in, data, len);
    ajob.n = len;
    ajob.last = last;
    if (ws_core_host.offload(p, a_work, a_done, &ajob) != WS_OK)
        return WS_ERROR;
    return WS_DEFER;
}

static void a_log_request(ws_request *p, const ws_log_info *info)
{
    (void)p;
    (void)info;
    a_logs++;
}

static arena *test_pools[256];

/* A loopback request with one asynchronous filter; the works need the
 * server's loop (their done comes through it). */
static request *async_req(const filt_conf *c)
{
    if (!srv.loop)
        srv.loop = loop_new(LOOP_BACKEND_AUTO, 16);
    assert_non_null(srv.loop);
    srv.free_pools = test_pools;
    g_server = &srv;
    if (gate[0] < 0)
        assert_int_equal(pipe(gate), 0);
    a_works = a_dones = a_logs = 0;
    return filtered_req("GET", 1, c);
}

static void open_gate(int works)
{
    for (int i = 0; i < works; i++)
        assert_int_equal(write(gate[1], "g", 1), 1);
}

/* Turn the loop until every work's done ran (bounded: 30 s). */
static void run_works(void)
{
    for (int i = 0; i < 3000 && offload_outstanding() > 0; i++)
        loop_run_once(srv.loop, 10);
    assert_int_equal(offload_outstanding(), 0);
    assert_false(a_gate_failed);
}

/* While the work runs the core feeds nothing: the handler's writes wait in
 * order (WS_AGAIN), its finish waits; after done the chain goes on. */
static void test_async_filter_holds_the_chain(void **state)
{
    (void)state;
    filt_conf c[1] = {{.async = 1}};
    request *r = async_req(c);
    r->length = 6;
    assert_int_equal(resp_write(r, "abc", 3), WS_AGAIN); /* the filter's work runs */
    assert_true(r->want_writable);
    assert_int_equal(resp_write(r, "de", 2), WS_AGAIN); /* queued behind it, in order */
    assert_int_equal(resp_write(r, "f", 1), WS_AGAIN);
    assert_int_equal(resp_finish(r), WS_OK);
    assert_true(filter_pending(r));
    assert_int_equal(lb.heads, 0); /* nothing went out yet */
    assert_int_equal(lb.body_len, 0);
    assert_int_equal(lb.finished, 0);
    assert_int_equal(a_dones, 0);
    open_gate(4); /* abc, de, f, then the last (empty) piece */
    run_works();
    assert_int_equal(a_works, 4);
    assert_int_equal(a_dones, 4);
    assert_int_equal(lb.heads, 1);
    assert_int_equal(lb.status, 200);
    assert_int_equal(lb.body_len, 6);
    assert_memory_equal(lb.body, "ABCDEF", 6);
    assert_int_equal(lb.finished, 1);
    assert_false(filter_pending(r));
    assert_false(r->broken);
    free_req(r);
}

/* host->error from done: a 500 page while nothing went out, else the cut. */
static void test_async_filter_fails_in_done(void **state)
{
    (void)state;
    filt_conf c[1] = {{.async = 1, .fail_in_done = 1}};
    request *r = async_req(c);
    assert_int_equal(resp_write(r, "abc", 3), WS_AGAIN);
    assert_int_equal(resp_finish(r), WS_OK);
    open_gate(1);
    run_works();
    assert_int_equal(lb.heads, 1);
    assert_int_equal(lb.status, 500);
    assert_non_null(strstr(lb.body, "500"));
    assert_int_equal(lb.aborted, 0);
    assert_true(r->finished);
    free_req(r);

    c[0].fail_in_done = 2;
    r = async_req(c);
    assert_int_equal(resp_write(r, "abc", 3), WS_AGAIN);
    assert_int_equal(resp_write(r, "def", 3), WS_AGAIN);
    assert_int_equal(resp_finish(r), WS_OK);
    open_gate(2);
    run_works();
    assert_int_equal(lb.heads, 1);
    assert_int_equal(lb.status, 200);
    assert_memory_equal(lb.body, "ABC", 3);
    assert_int_equal(lb.body_len, 3);
    assert_int_equal(lb.aborted, 1); /* after the head: cut */
    assert_true(r->broken);
    assert_int_equal(lb.finished, 0);
    free_req(r);
}

/* The request ends (client gone) while the work runs: done is skipped, the
 * request is freed after the work, and the log hooks run then. */
static void test_async_filter_request_ends_meanwhile(void **state)
{
    (void)state;
    filt_conf c[1] = {{.async = 1}};
    request *r = async_req(c);
    fmods[0].d.log_request = a_log_request;
    floc.hooks[HOOK_LOG] = fhandlers;
    floc.n_hooks[HOOK_LOG] = 1;
    live.refs++; /* the request's reference, given back when it is freed */
    assert_int_equal(resp_write(r, "abc", 3), WS_AGAIN);
    req_end(r, WS_END_ABORTED);
    assert_int_equal(a_logs, 0); /* not while the work may use the module's state */
    assert_int_equal(live.refs, 2);
    open_gate(1);
    run_works(); /* frees r */
    assert_int_equal(a_works, 1);
    assert_int_equal(a_dones, 0);
    assert_int_equal(a_logs, 1);
    assert_int_equal(live.refs, 1);
    assert_int_equal(lb.body_len, 0);
    assert_int_equal(lb.heads, 0);
    floc.n_hooks[HOOK_LOG] = 0;
    fmods[0].d.log_request = NULL;
    while (srv.n_free_pools)
        arena_free(test_pools[--srv.n_free_pools]);
}

static void test_h1_backpressure(void **state)
{
    (void)state;
    request *r = h1_req("GET", 1, 1);
    static char piece[16384];
    memset(piece, 'y', sizeof piece);
    int rc = WS_OK, writes = 0;
    while (rc == WS_OK && writes < 100) {
        rc = resp_write(r, piece, sizeof piece);
        writes++;
    }
    assert_int_equal(rc, WS_AGAIN);
    assert_true(r->want_writable);
    assert_true(cn.out.mem_bytes >= 256 * 1024);
    wire_text();
    assert_int_equal(h1_carrier.queued(r), 0);
    free_req(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_and_body),
        cmocka_unit_test(test_short_body_is_broken),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_not_modified),
        cmocka_unit_test(test_precondition_failed),
        cmocka_unit_test(test_range_206),
        cmocka_unit_test(test_range_416),
        cmocka_unit_test(test_error_page_builtin),
        cmocka_unit_test(test_error_page_configured),
        cmocka_unit_test(test_error_after_head_cuts),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_filter_chain_in_order),
        cmocka_unit_test(test_filter_head_and_304_get_no_body_filter),
        cmocka_unit_test(test_conditional_fields_found_in_one_pass),
        cmocka_unit_test(test_filter_range_cut_from_the_output),
        cmocka_unit_test(test_filter_range_late_if_range),
        cmocka_unit_test(test_module_ctx_slots),
        cmocka_unit_test(test_set_user),
        cmocka_unit_test(test_filter_write_ref_released_once),
        cmocka_unit_test(test_filter_file_read_as_output_drains),
        cmocka_unit_test(test_filter_range_stops_reading),
        cmocka_unit_test(test_filter_failure_before_and_after_head),
        cmocka_unit_test(test_h1_content_length),
        cmocka_unit_test(test_h1_chunked),
        cmocka_unit_test(test_h1_http10),
        cmocka_unit_test(test_h1_not_modified_has_no_framing),
        cmocka_unit_test(test_h1_many_and_long_fields),
        cmocka_unit_test(test_h1_continue_and_errors),
        cmocka_unit_test(test_h1_backpressure),
        cmocka_unit_test(test_filter_next_ref_queued_without_copy),
        cmocka_unit_test(test_async_filter_holds_the_chain),
        cmocka_unit_test(test_async_filter_fails_in_done),
        cmocka_unit_test(test_async_filter_request_ends_meanwhile),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    offload_stop();
    if (gate[0] >= 0) {
        close(gate[0]);
        close(gate[1]);
    }
    if (srv.loop)
        loop_free(srv.loop);
    return rc;
}

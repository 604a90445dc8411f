/*
 * mod_cgi through the test host, running real scripts (Python 3 and sh) that
 * the test writes into a temporary root: meta-variables, the PATH_INFO split,
 * the body to stdin (Content-Length and chunked), the header block and
 * status rules, timeouts, killing the process group, reaping, stderr to the
 * log, and backpressure both ways.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testhost.h"

#include "cgi/cgi_config.c"
#include "cgi/cgi_env.c"
#include "cgi/cgi_header.c"
#include <sys/syscall.h>
/* open() of an unnamed file (O_TMPFILE) counted per thread: issue 21 wants
 * the chunked body's file created on the pool, never on the event loop
 * (this test's main thread). The opener is lib/spool's spool_tmpfile, run
 * by spool_open; cgi_input.c is counted too. */
static pid_t main_tid;
static int tmpfile_opens_on_loop, tmpfile_opens_on_pool;
static int counted_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        if ((pid_t)syscall(SYS_gettid) == main_tid)
            __atomic_add_fetch(&tmpfile_opens_on_loop, 1, __ATOMIC_SEQ_CST);
        else
            __atomic_add_fetch(&tmpfile_opens_on_pool, 1, __ATOMIC_SEQ_CST);
    }
    return open(path, flags, mode);
}
#define open(...) counted_open(__VA_ARGS__)
#include "spool.c"
#include "cgi/cgi_input.c"
#undef open
#include "cgi/cgi_output.c"
#include "cgi/cgi_process.c"
#include "cgi/cgi_script.c"
#include "cgi/cgi_stderr.c"
#include "cgi/mod_cgi.c"

#define PY "/usr/bin/python3"

/* In the test host's loop; reaps children whose request has ended. */
extern int th_reap(int ms) __attribute__((weak));

static char root[256];
static th_module *M;
static const void *CONF;       /* .py → python3, timeout 5, env EXTRA_VAR */
static const void *CONF_QUICK; /* the same with timeout 0.5 */

/* ---- helpers ---- */

static void write_file(const char *rel, const char *text, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static th_request *start(const void *conf, const char *method, const char *target, const char *const *headers)
{
    th_request *t = th_request_new(M, conf, method, target, headers);
    assert_non_null(t);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    return t;
}

static th_request *run(const void *conf, const char *method, const char *target, const char *const *headers)
{
    th_request *t = start(conf, method, target, headers);
    assert_int_equal(th_run(t, 10000), 0);
    return t;
}

/* The value of NAME in env.py's output, or NULL when it is not set. */
static const char *var(th_request *t, const char *name)
{
    static char val[4096];
    const char *body = th_response_of(t)->body;
    char key[256];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strncmp(body, key + 1, strlen(key + 1)) == 0 ? body - 1 : strstr(body, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\n");
    if (n >= sizeof val)
        n = sizeof val - 1;
    memcpy(val, p, n);
    val[n] = '\0';
    return val;
}

static pid_t pid_of(th_request *t)
{
    cgi_req *c = th_req(t)->ctx;
    assert_non_null(c);
    return c->pid;
}

/* The host reaped the script: it is nobody's zombie. */
static void assert_reaped(pid_t pid)
{
    assert_true(pid > 0);
    if (th_reap)
        th_reap(3000);
    errno = 0;
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Nothing of the process group is left (this test is the subreaper, so it
 * reaps the grandchildren itself). */
static void assert_group_gone(pid_t pgid)
{
    for (int i = 0; i < 300; i++) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ;
        if (kill(-pgid, 0) == -1 && errno == ESRCH)
            return;
        usleep(10000);
    }
    fail_msg("process group %d still exists", (int)pgid);
}

/* Catch what the host logs (it writes to stderr). */
static int saved_stderr = -1, capture_fd = -1;

static void capture_start(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    capture_fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    assert_true(capture_fd >= 0);
    dup2(capture_fd, 2);
}

static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    off_t n = lseek(capture_fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(capture_fd, buf, (size_t)n, 0), n);
    close(capture_fd);
    return buf;
}

static uint32_t byte_sum(const unsigned char *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* ---- scripts ---- */

static const char ENV_PY[] =
    "#!/usr/bin/python3\n"
    "import os, sys\n"
    "data = sys.stdin.buffer.read()\n"
    "out = ['Content-Type: text/plain', '']\n"
    "for k in sorted(os.environ): out.append(k + '=' + os.environ[k])\n"
    "out.append('CWD=' + os.getcwd())\n"
    "out.append('PGID=%d' % os.getpgid(0))\n"
    "out.append('PID=%d' % os.getpid())\n"
    "out.append('STDIN=' + data.decode('latin-1'))\n"
    "sys.stdout.write('\\n'.join(out) + '\\n')\n";

/* Writes <query>.out from its folder verbatim: any header block the test wants. */
static const char SAY_PY[] =
    "import os, sys\n"
    "sys.stdout.buffer.write(open(os.environ['QUERY_STRING'] + '.out', 'rb').read())\n";

static const char STATUS_PY[] =
    "import os, urllib.parse\n"
    "print('Status: ' + urllib.parse.unquote(os.environ['QUERY_STRING']))\n"
    "print('Content-Type: text/plain')\n"
    "print()\n"
    "print('status body')\n";

static const char BODY_PY[] =
    "import os, sys\n"
    "n = os.environ.get('CONTENT_LENGTH', '-')\n"
    "data = sys.stdin.buffer.read()\n" /* to EOF: EOF must come after CONTENT_LENGTH bytes */
    "sys.stdout.write('Content-Type: text/plain\\n\\n%s %d %d' % (n, len(data), sum(data) & 0xffffffff))\n";

static const char CRASH_PY[] =
    "import os, sys\n"
    "if os.environ['QUERY_STRING'] == 'late':\n"
    "    sys.stdout.write('Content-Type: text/plain\\n\\npartial')\n"
    "    sys.stdout.flush()\n"
    "os.abort()\n";

static const char SLEEP_PY[] =
    "import os, subprocess, sys, time\n"
    "subprocess.Popen(['sleep', '30'])\n" /* a grandchild in the same process group */
    "if os.environ['QUERY_STRING'] == 'late':\n"
    "    sys.stdout.write('Content-Type: text/plain\\n\\npartial')\n"
    "    sys.stdout.flush()\n"
    "time.sleep(30)\n";

static const char BIG_PY[] =
    "import sys\n"
    "sys.stdout.buffer.write(b'Content-Type: application/octet-stream\\n\\n')\n"
    "chunk = b'x' * 65536\n"
    "for i in range(160): sys.stdout.buffer.write(chunk)\n";

static const char STDERR_PY[] =
    "import sys\n"
    "sys.stderr.write('first line\\nsecond\\tline\\x1b[31m\\n' + 'E' * 5000 + '\\n')\n"
    "for i in range(300): sys.stderr.write('noise %d ' % i + 'n' * 1000 + '\\n')\n"
    "sys.stderr.write('last without newline')\n"
    "sys.stdout.write('Content-Type: text/plain\\n\\nok')\n";

static const char SIGNALS_SH[] =
    "#!/bin/sh\n"
    "printf 'Content-Type: text/plain\\n\\n'\n"
    "ls /proc/self/fd | tr '\\n' ' '\n"
    "echo\n"
    "exec grep -E '^(SigIgn|SigBlk)' /proc/self/status\n";

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as the server does */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    snprintf(root, sizeof root, "/tmp/cgi-test-XXXXXX");
    assert_non_null(mkdtemp(root));
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/cgi-bin", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/cgi-bin/sub", root);
    assert_int_equal(mkdir(p, 0755), 0);
    write_file("cgi-bin/env.py", ENV_PY, 0644);
    write_file("cgi-bin/say.py", SAY_PY, 0644);
    write_file("cgi-bin/status.py", STATUS_PY, 0644);
    write_file("cgi-bin/body.py", BODY_PY, 0644);
    write_file("cgi-bin/crash.py", CRASH_PY, 0644);
    write_file("cgi-bin/sleep.py", SLEEP_PY, 0644);
    write_file("cgi-bin/big.py", BIG_PY, 0644);
    write_file("cgi-bin/stderr.py", STDERR_PY, 0644);
    write_file("cgi-bin/signals", SIGNALS_SH, 0755);
    write_file("cgi-bin/data.txt", "not a script\n", 0644);
    write_file("cgi-bin/sub/inner.py", ENV_PY, 0644);
    M = th_load(&webserv_module);
    assert_non_null(M);
    char err[512];
    CONF = th_configure(M,
                        "{\"interpreters\": {\".py\": \"" PY "\"}, \"timeout\": 5,"
                        " \"env\": {\"EXTRA_VAR\": \"extra value\"}}",
                        "/", root, err, sizeof err);
    if (!CONF)
        fail_msg("configure: %s", err);
    CONF_QUICK = th_configure(M, "{\"interpreters\": {\".py\": \"" PY "\"}, \"timeout\": 0.5}", "/", root, err,
                              sizeof err);
    if (!CONF_QUICK)
        fail_msg("configure: %s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_unload(M);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* The output file for say.py?<name>. */
static void say(const char *name, const char *out)
{
    char rel[256];
    snprintf(rel, sizeof rel, "cgi-bin/%s.out", name);
    write_file(rel, out, 0644);
}

/* ---- configuration ---- */

static void test_config_errors(void **state)
{
    (void)state;
    char err[512];
    const char *bad[] = {
        "{\"interpreters\": {\"py\": \"" PY "\"}}",
        "{\"interpreters\": {\".py\": \"python3\"}}",
        "{\"interpreters\": {\".py\": \"/nonexistent/python\"}}",
        "{\"interpreters\": [\".py\"]}",
        "{\"timeout\": \"soon\"}",
        "{\"timeout\": -1}",
        "{\"env\": {\"BAD-NAME\": \"x\"}}",
        "{\"env\": {\"1X\": \"x\"}}",
        "{\"bogus\": 1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        capture_start();
        const void *c = th_configure(M, bad[i], "/", root, err, sizeof err);
        free(capture_end());
        if (c)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    const void *c = th_configure(M, "{}", "/", root, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(((const cgi_conf *)c)->timeout_ms, 30000);
    assert_null(th_configure(M, "{}", "/", NULL, err, sizeof err)); /* no root */
}

/* ---- match ---- */

static void test_match(void **state)
{
    (void)state;
    struct {
        const char *target;
        int want;
    } cases[] = {
        { "/cgi-bin/env.py", WS_TAKE },
        { "/cgi-bin/env.py/a/b", WS_TAKE },
        { "/cgi-bin/sub/inner.py", WS_TAKE },
        { "/cgi-bin/signals", WS_TAKE },          /* executable, no interpreter needed */
        { "/cgi-bin/missing.py", WS_DECLINE },    /* the core answers 404 */
        { "/cgi-bin/missing/env.py", WS_DECLINE },
        { "/cgi-bin/data.txt", WS_DECLINE },      /* not executable, no interpreter: 403 */
        { "/cgi-bin/data.txt/x", WS_DECLINE },
        { "/cgi-bin/", WS_DECLINE },              /* a folder */
        { "/cgi-bin/sub", WS_DECLINE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        th_request *t = th_request_new(M, CONF, "GET", cases[i].target, NULL);
        int got = th_dispatch(t);
        if (got != cases[i].want)
            fail_msg("%s: match %d, want %d", cases[i].target, got, cases[i].want);
        if (got == WS_TAKE) {
            th_run(t, 10000);
            pid_t pid = pid_of(t);
            th_request_end(t);
            assert_reaped(pid);
        } else {
            th_request_end(t);
        }
    }
    /* A method the module does not declare is never offered. */
    th_request *t = th_request_new(M, CONF, "OPTIONS", "/cgi-bin/env.py", NULL);
    assert_int_equal(th_dispatch(t), WS_DECLINE);
    th_request_end(t);
}

/* ---- meta-variables ---- */

static void test_env(void **state)
{
    (void)state;
    const char *headers[] = { "Host: Example.COM:8080", "User-Agent: test/1", "Proxy: http://evil:1/",
                              "X-Multi: a", "X-Multi: b", "Cookie: a=1", "Cookie: b=2", "X_Under: sneaky",
                              "Authorization: Basic dTpw", NULL };
    th_request *t = run(CONF, "GET", "/cgi-bin/env.py", headers);
    th_response *res = th_response_of(t);
    if (getenv("CGI_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", res->body);
    assert_int_equal(res->status, 200);
    assert_true(res->finished);
    assert_string_equal(th_header(t, "Content-Type"), "text/plain");

    char buf[PATH_MAX];
    assert_string_equal(var(t, "GATEWAY_INTERFACE"), "CGI/1.1");
    assert_string_equal(var(t, "SERVER_SOFTWARE"), th_host()->server_software);
    assert_string_equal(var(t, "SERVER_NAME"), "example.com");
    assert_string_equal(var(t, "SERVER_PORT"), "8080");
    assert_string_equal(var(t, "SERVER_PROTOCOL"), "HTTP/1.1");
    assert_string_equal(var(t, "SERVER_ADDR"), "127.0.0.1");
    assert_string_equal(var(t, "REQUEST_METHOD"), "GET");
    assert_string_equal(var(t, "SCRIPT_NAME"), "/cgi-bin/env.py");
    assert_string_equal(var(t, "PATH_INFO"), "");
    assert_null(var(t, "PATH_TRANSLATED")); /* §4.1.6: unset without PATH_INFO */
    assert_string_equal(var(t, "QUERY_STRING"), "");  /* present though empty */
    assert_string_equal(var(t, "REMOTE_ADDR"), "127.0.0.1");
    assert_string_equal(var(t, "REMOTE_PORT"), "40000");
    assert_string_equal(var(t, "AUTH_TYPE"), "");
    assert_string_equal(var(t, "REMOTE_USER"), "");
    assert_null(var(t, "CONTENT_LENGTH")); /* no body */
    assert_null(var(t, "CONTENT_TYPE"));
    snprintf(buf, sizeof buf, "%s/cgi-bin/env.py", root);
    assert_string_equal(var(t, "SCRIPT_FILENAME"), buf);
    assert_string_equal(var(t, "DOCUMENT_ROOT"), root);
    assert_string_equal(var(t, "REQUEST_URI"), "/cgi-bin/env.py");
    assert_string_equal(var(t, "REDIRECT_STATUS"), "200");
    assert_string_equal(var(t, "EXTRA_VAR"), "extra value");
    assert_non_null(var(t, "PATH"));
    /* Header fields. */
    assert_string_equal(var(t, "HTTP_HOST"), "Example.COM:8080");
    assert_string_equal(var(t, "HTTP_USER_AGENT"), "test/1");
    assert_string_equal(var(t, "HTTP_X_MULTI"), "a, b");
    assert_string_equal(var(t, "HTTP_COOKIE"), "a=1; b=2");
    assert_string_equal(var(t, "HTTP_AUTHORIZATION"), "Basic dTpw");
    assert_null(var(t, "HTTP_PROXY")); /* httpoxy */
    assert_null(var(t, "HTTP_X_UNDER"));
    /* Its own folder, its own process group, stdin /dev/null. */
    snprintf(buf, sizeof buf, "%s/cgi-bin", root);
    assert_string_equal(var(t, "CWD"), buf);
    assert_string_equal(var(t, "PGID"), var(t, "PID") ? var(t, "PGID") : "?");
    char pid[32];
    snprintf(pid, sizeof pid, "%s", var(t, "PID"));
    assert_string_equal(var(t, "PGID"), pid);
    assert_string_equal(var(t, "STDIN"), "");
    /* Nothing of the test's own environment leaks in. */
    assert_null(var(t, "HOME"));
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);
}

static void test_env_path_info_and_query(void **state)
{
    (void)state;
    const char *headers[] = { "Content-Type: application/x-www-form-urlencoded", "Content-Length: 3", NULL };
    th_request *t = start(CONF, "POST", "/cgi-bin/env.py/extra/path%20x/?a=b%20c&d", headers);
    th_set_http_minor(t, 1);
    th_feed_body(t, "x=1", 3);
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    char buf[PATH_MAX];
    assert_string_equal(var(t, "SCRIPT_NAME"), "/cgi-bin/env.py");
    assert_string_equal(var(t, "PATH_INFO"), "/extra/path x/");
    snprintf(buf, sizeof buf, "%s/extra/path x/", root);
    assert_string_equal(var(t, "PATH_TRANSLATED"), buf);
    assert_string_equal(var(t, "QUERY_STRING"), "a=b%20c&d");
    assert_string_equal(var(t, "REQUEST_URI"), "/cgi-bin/env.py/extra/path%20x/?a=b%20c&d");
    assert_string_equal(var(t, "REQUEST_METHOD"), "POST");
    assert_string_equal(var(t, "CONTENT_LENGTH"), "3");
    assert_string_equal(var(t, "CONTENT_TYPE"), "application/x-www-form-urlencoded");
    assert_null(var(t, "HTTP_CONTENT_LENGTH"));
    assert_null(var(t, "HTTP_CONTENT_TYPE"));
    assert_string_equal(var(t, "STDIN"), "x=1");
    th_request_end(t);

    /* HTTP/1.0, HEAD, and a script in a subfolder. */
    t = th_request_new(M, CONF, "HEAD", "/cgi-bin/sub/inner.py/p", NULL);
    th_set_http_minor(t, 0);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    assert_int_equal(th_run(t, 10000), 0);
    assert_string_equal(var(t, "SERVER_PROTOCOL"), "HTTP/1.0");
    assert_string_equal(var(t, "REQUEST_METHOD"), "HEAD");
    assert_string_equal(var(t, "SCRIPT_NAME"), "/cgi-bin/sub/inner.py");
    assert_string_equal(var(t, "PATH_INFO"), "/p");
    snprintf(buf, sizeof buf, "%s/cgi-bin/sub", root);
    assert_string_equal(var(t, "CWD"), buf);
    th_request_end(t);
}

/* The child starts with an empty signal mask and no standard signal
 * ignored, although the server ignores SIGPIPE (and here SIGUSR2 too); and
 * with no fd beyond 0, 1, 2. */
static void test_signals_and_fds(void **state)
{
    (void)state;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    signal(SIGUSR2, SIG_IGN);
    int leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
    assert_true(leaked >= 0);
    th_request *t = run(CONF, "GET", "/cgi-bin/signals", NULL);
    close(leaked);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR2, SIG_DFL);
    const char *body = th_response_of(t)->body;
    if (getenv("CGI_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", body);
    /* Signals 1..31; glibc's spawn shows its internal 32 and 33 as ignored,
     * and its own startup takes them back. */
    const char *ign = strstr(body, "SigIgn:\t"), *blk = strstr(body, "SigBlk:\t");
    assert_non_null(ign);
    assert_non_null(blk);
    assert_int_equal(strtoull(ign + 8, NULL, 16) & 0x7fffffffu, 0);
    assert_int_equal(strtoull(blk + 8, NULL, 16), 0);
    /* ls sees 0, 1, 2 and the folder it opened: not the fd the server leaked. */
    assert_int_equal(strncmp(body, "0 1 2 3 \n", 9), 0);
    th_request_end(t);
}

/* ---- the body ---- */

static void test_body_streams_with_backpressure(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu", n);
    const char *headers[] = { cl, NULL };
    th_request *t = start(CONF, "POST", "/cgi-bin/body.py", headers);
    assert_true(th_response_of(t)->read_body_called);
    assert_true(pid_of(t) > 0); /* started before the body arrived */
    size_t took = th_feed_body(t, data, n);
    assert_true(took < n); /* the pipe is full: the body pauses */
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    char want[128];
    snprintf(want, sizeof want, "%zu %zu %u", n, n, byte_sum(data, n));
    assert_string_equal(th_response_of(t)->body, want);
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);
    free(data);
}

static void test_body_not_read_by_script(void **state)
{
    (void)state;
    say("plain", "Content-Type: text/plain\n\nignored your body");
    size_t n = 1 << 20;
    char *data = calloc(1, n);
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu", n);
    const char *headers[] = { cl, NULL };
    th_request *t = start(CONF, "POST", "/cgi-bin/say.py?plain", headers);
    th_feed_body(t, data, n);
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    assert_string_equal(th_response_of(t)->body, "ignored your body");
    th_request_end(t);
    free(data);
}

static void test_chunked_body_via_tmpfile(void **state)
{
    (void)state;
    const char *headers[] = { "Transfer-Encoding: chunked", NULL };
    main_tid = (pid_t)syscall(SYS_gettid);
    tmpfile_opens_on_loop = tmpfile_opens_on_pool = 0;
    th_request *t = start(CONF, "POST", "/cgi-bin/body.py", headers);
    cgi_req *c = th_req(t)->ctx;
    assert_int_equal(c->pid, 0); /* waits for the whole body */
    assert_int_equal(c->tmp_fd, -1); /* not created on the loop: the pool does it with the first batch */
    th_feed_body(t, "hello ", 6);
    th_feed_body(t, "chunked ", 8);
    th_feed_body(t, "world", 5);
    assert_int_equal(th_run(t, 50), -1);
    assert_int_equal(c->pid, 0);
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    char want[64];
    snprintf(want, sizeof want, "19 19 %u", byte_sum((const unsigned char *)"hello chunked world", 19));
    assert_string_equal(th_response_of(t)->body, want);
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);
    assert_int_equal(tmpfile_opens_on_loop, 0);
    assert_int_equal(tmpfile_opens_on_pool, 1);

    /* A body over a batch: its file exists, unnamed, once the first batch
     * came back from the pool; the script gets every byte. */
    size_t big = SPOOL_BATCH + 4321;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 13 + 1);
    t = start(CONF, "POST", "/cgi-bin/body.py", headers);
    c = th_req(t)->ctx;
    assert_int_equal(th_feed_body(t, data, big), big);
    for (int spins = 0; spool_busy(&c->sp); spins++) {
        assert_true(spins < 1000);
        th_run(t, 10);
    }
    assert_true(c->tmp_fd >= 0);
    struct stat st;
    assert_int_equal(fstat(c->tmp_fd, &st), 0);
    assert_int_equal(st.st_nlink, 0); /* no name on disk */
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    snprintf(want, sizeof want, "%zu %zu %u", big, big, byte_sum((const unsigned char *)data, big));
    assert_string_equal(th_response_of(t)->body, want);
    th_request_end(t);
    free(data);
    assert_int_equal(tmpfile_opens_on_loop, 0);
    assert_int_equal(tmpfile_opens_on_pool, 2);

    /* The file cannot be created (TMPDIR is no folder): 500 from the pool's
     * answer, as when it was created on the loop; no script runs. */
    const char *saved = getenv("TMPDIR");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("TMPDIR", "/nonexistent-webserv-test", 1);
    t = start(CONF, "POST", "/cgi-bin/body.py", headers);
    c = th_req(t)->ctx;
    th_feed_body(t, "abc", 3);
    th_end_body(t);
    th_run(t, 1000);
    assert_int_equal(th_response_of(t)->error_status, 500);
    assert_true(c->sp.err_open);
    assert_int_equal(c->pid, 0);
    assert_int_equal(c->tmp_fd, -1);
    th_request_end(t);
    if (keep)
        setenv("TMPDIR", keep, 1);
    else
        unsetenv("TMPDIR");
    free(keep);
    assert_int_equal(tmpfile_opens_on_loop, 0);

    /* An empty chunked body: CONTENT_LENGTH=0. */
    t = start(CONF, "POST", "/cgi-bin/body.py", headers);
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    assert_string_equal(th_response_of(t)->body, "0 0 0");
    th_request_end(t);
}

/* ---- the response ---- */

static void test_status_passed_on(void **state)
{
    (void)state;
    struct {
        const char *q;
        int status, error;
    } cases[] = {
        { "201", 201, 0 }, { "404%20Gone", 404, 0 }, { "503%20Busy", 503, 0 }, { "599", 599, 0 },
        { "700", 502, 502 }, { "99", 502, 502 }, { "600", 502, 502 }, { "20", 502, 502 }, { "abc", 502, 502 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char target[128];
        snprintf(target, sizeof target, "/cgi-bin/status.py?%s", cases[i].q);
        capture_start();
        th_request *t = run(CONF, "GET", target, NULL);
        free(capture_end());
        th_response *res = th_response_of(t);
        if (res->status != cases[i].status || res->error_status != cases[i].error)
            fail_msg("Status: %s gave %d/%d", cases[i].q, res->status, res->error_status);
        if (!cases[i].error)
            assert_string_equal(res->body, "status body\n");
        pid_t p = pid_of(t);
        th_request_end(t);
        assert_reaped(p);
    }
}

static void test_bad_output_is_502(void **state)
{
    (void)state;
    say("noheader", "Hello, world!\n");
    say("nocgi", "X-Only: 1\n\nbody");
    say("early", "Content-Type: text/plain\n");
    say("empty", "");
    const char *q[] = { "noheader", "nocgi", "early", "empty" };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char target[128];
        snprintf(target, sizeof target, "/cgi-bin/say.py?%s", q[i]);
        capture_start();
        th_request *t = run(CONF, "GET", target, NULL);
        free(capture_end());
        if (th_response_of(t)->error_status != 502)
            fail_msg("%s: error %d", q[i], th_response_of(t)->error_status);
        pid_t p = pid_of(t);
        th_request_end(t);
        assert_reaped(p);
    }
    /* A header block that never ends within the limit. */
    char *big = malloc(CGI_HEADER_MAX + 64);
    strcpy(big, "Content-Type: text/plain\nX-Big: ");
    size_t n = strlen(big);
    memset(big + n, 'a', CGI_HEADER_MAX);
    strcpy(big + n + CGI_HEADER_MAX, "\n\nbody");
    say("huge", big);
    free(big);
    capture_start();
    th_request *t = run(CONF, "GET", "/cgi-bin/say.py?huge", NULL);
    free(capture_end());
    assert_int_equal(th_response_of(t)->error_status, 502);
    th_request_end(t);
}

static void test_crash_is_502(void **state)
{
    (void)state;
    capture_start();
    th_request *t = run(CONF, "GET", "/cgi-bin/crash.py", NULL);
    char *log = capture_end();
    assert_int_equal(th_response_of(t)->error_status, 502);
    assert_int_equal(th_response_of(t)->status, 502);
    assert_non_null(strstr(log, "signal"));
    free(log);
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);

    /* After the head went out, a crash still ends with an error (the core
     * closes the connection) rather than a response that looks complete. */
    capture_start();
    t = run(CONF, "GET", "/cgi-bin/crash.py?late", NULL);
    free(capture_end());
    assert_int_equal(th_response_of(t)->error_status, 502);
    assert_false(th_response_of(t)->finished);
    th_request_end(t);
}

static void test_headers_and_length(void **state)
{
    (void)state;
    say("hdrs", "Content-Type: text/html; charset=utf-8\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
                "X-Keep: yes\r\nSet-Cookie: a=1\r\nContent-Length: 5\r\n\r\nhello");
    th_request *t = run(CONF, "GET", "/cgi-bin/say.py?hdrs", NULL);
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 200);
    assert_string_equal(th_header(t, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(th_header(t, "X-Keep"), "yes");
    assert_string_equal(th_header(t, "Set-Cookie"), "a=1");
    assert_null(th_header(t, "Connection"));
    assert_null(th_header(t, "Transfer-Encoding"));
    assert_int_equal(res->length, 5);
    assert_string_equal(res->body, "hello");
    assert_true(res->finished);
    th_request_end(t);

    /* No Content-Length: the length stays unknown (the core frames it). */
    say("nolen", "Content-Type: text/plain\n\nabc");
    t = run(CONF, "GET", "/cgi-bin/say.py?nolen", NULL);
    assert_int_equal(th_response_of(t)->length, -1);
    assert_string_equal(th_response_of(t)->body, "abc");
    th_request_end(t);

    /* Fewer bytes than promised: an error, not a finished response. */
    say("short", "Content-Type: text/plain\nContent-Length: 10\n\nhello");
    capture_start();
    t = run(CONF, "GET", "/cgi-bin/say.py?short", NULL);
    free(capture_end());
    assert_int_equal(th_response_of(t)->error_status, 502);
    assert_false(th_response_of(t)->finished);
    th_request_end(t);

    /* More bytes than promised: cut to the length. */
    say("long", "Content-Type: text/plain\nContent-Length: 2\n\nhello");
    capture_start();
    t = run(CONF, "GET", "/cgi-bin/say.py?long", NULL);
    free(capture_end());
    assert_string_equal(th_response_of(t)->body, "he");
    assert_true(th_response_of(t)->finished);
    th_request_end(t);
}

static void test_location(void **state)
{
    (void)state;
    /* §6.2.2: a local path alone is served internally. */
    say("local", "Location: /cgi-bin/env.py?from=redirect\n\n");
    th_request *t = run(CONF, "GET", "/cgi-bin/say.py?local", NULL);
    assert_non_null(th_response_of(t)->redirect);
    assert_string_equal(th_response_of(t)->redirect, "/cgi-bin/env.py?from=redirect");
    assert_int_equal(th_response_of(t)->body_len, 0);
    th_request_end(t);

    /* §6.2.3: an absolute URL without Status is a 302. */
    say("abs", "Location: https://example.com/x\n\n");
    t = run(CONF, "GET", "/cgi-bin/say.py?abs", NULL);
    assert_int_equal(th_response_of(t)->status, 302);
    assert_string_equal(th_header(t, "Location"), "https://example.com/x");
    assert_null(th_response_of(t)->redirect);
    th_request_end(t);

    /* §6.2.4: with Status and a document. */
    say("doc", "Status: 301 Moved\nLocation: /new\nContent-Type: text/html\n\n<a href=/new>moved</a>");
    t = run(CONF, "GET", "/cgi-bin/say.py?doc", NULL);
    assert_int_equal(th_response_of(t)->status, 301);
    assert_string_equal(th_header(t, "Location"), "/new");
    assert_string_equal(th_response_of(t)->body, "<a href=/new>moved</a>");
    th_request_end(t);

    /* A local path with a body is not a local redirect. */
    say("localbody", "Location: /elsewhere\nContent-Type: text/plain\n\ngo elsewhere");
    t = run(CONF, "GET", "/cgi-bin/say.py?localbody", NULL);
    assert_null(th_response_of(t)->redirect);
    assert_int_equal(th_response_of(t)->status, 302);
    assert_string_equal(th_header(t, "Location"), "/elsewhere");
    assert_string_equal(th_response_of(t)->body, "go elsewhere");
    th_request_end(t);
}

/* ---- timeouts, aborts, the process group ---- */

static void test_timeout_504_kills_group(void **state)
{
    (void)state;
    capture_start();
    th_request *t = run(CONF_QUICK, "GET", "/cgi-bin/sleep.py", NULL);
    char *log = capture_end();
    assert_int_equal(th_response_of(t)->error_status, 504);
    assert_int_equal(th_response_of(t)->status, 504);
    assert_non_null(strstr(log, "timed out"));
    free(log);
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);
    assert_group_gone(p);
}

static void test_timeout_after_output(void **state)
{
    (void)state;
    capture_start();
    th_request *t = run(CONF_QUICK, "GET", "/cgi-bin/sleep.py?late", NULL);
    free(capture_end());
    th_response *res = th_response_of(t);
    assert_int_equal(res->status, 200); /* the head was out: the connection just closes */
    assert_int_equal(res->error_status, 500);
    assert_string_equal(res->body, "partial");
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);
    assert_group_gone(p);
}

static void test_client_goes_away(void **state)
{
    (void)state;
    th_request *t = start(CONF, "GET", "/cgi-bin/sleep.py", NULL);
    assert_int_equal(th_run(t, 300), -1);
    pid_t p = pid_of(t);
    assert_int_equal(kill(-p, 0), 0);
    capture_start();
    th_request_abort(t);
    free(capture_end());
    assert_reaped(p);
    assert_group_gone(p);
}

/* ---- stderr ---- */

static void test_stderr_logged(void **state)
{
    (void)state;
    capture_start();
    th_request *t = run(CONF, "GET", "/cgi-bin/stderr.py", NULL);
    pid_t p = pid_of(t);
    th_response *res = th_response_of(t); /* outlives the request */
    th_request_end(t);
    char *log = capture_end();
    assert_string_equal(res->body, "ok");
    assert_non_null(strstr(log, "first line\n"));
    assert_non_null(strstr(log, "second\tline?[31m\n")); /* no escape sequence reaches the log */
    assert_non_null(strstr(log, "[cut]"));
    assert_null(strstr(log, "EEEEE\n")); /* the over-long line was cut, not split */
    assert_non_null(strstr(log, "noise 299 "));
    assert_non_null(strstr(log, "last without newline"));
    /* No log line is much longer than the cap. */
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
        assert_true(strlen(line) < CGI_STDERR_LINE_MAX + 200);
    free(log);
    assert_reaped(p);
}

/* ---- backpressure on the output ---- */

static void test_output_backpressure(void **state)
{
    (void)state;
    th_request *t = th_request_new(M, CONF, "GET", "/cgi-bin/big.py", NULL);
    th_set_output_full(t, 1);
    assert_int_equal(th_dispatch(t), WS_TAKE);
    assert_int_equal(th_run(t, 300), -1);
    th_response *res = th_response_of(t);
    cgi_req *c = th_req(t)->ctx;
    assert_true(c->out_paused);
    assert_true(res->body_len <= CGI_READ_CHUNK); /* one piece, then it waits */
    assert_false(c->exited);                      /* the script is blocked on its pipe */
    /* A slow reader: each drain lets about one piece through. */
    for (int i = 0; i < 20; i++) {
        size_t before = res->body_len;
        th_drain(t);
        th_set_output_full(t, 1);
        th_run(t, 30);
        assert_true(res->body_len - before <= CGI_READ_CHUNK);
    }
    assert_true(res->body_len < (size_t)22 * CGI_READ_CHUNK);
    /* Then a fast one. */
    th_drain(t);
    assert_int_equal(th_run(t, 10000), 0);
    assert_true(res->finished);
    assert_int_equal(res->body_len, (size_t)160 * 65536);
    pid_t p = pid_of(t);
    th_request_end(t);
    assert_reaped(p);
}

/* ---- the demo site's script ---- */

static void test_demo_hello(void **state)
{
    (void)state;
    const char *src = getenv("WEBSERV_SRC");
    char www[PATH_MAX], err[512];
    snprintf(www, sizeof www, "%s/www", src && *src ? src : ".");
    char hello[PATH_MAX + 32];
    snprintf(hello, sizeof hello, "%s/cgi-bin/hello.py", www);
    if (access(hello, R_OK) != 0)
        skip();
    const void *conf = th_configure(M, "{\"interpreters\": {\".py\": \"" PY "\"}}", "/cgi-bin", www, err, sizeof err);
    assert_non_null(conf);
    th_request *t = run(conf, "GET", "/cgi-bin/hello.py?name=Ada%3Cb%3E", NULL);
    assert_int_equal(th_response_of(t)->status, 200);
    assert_string_equal(th_header(t, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(strstr(th_response_of(t)->body, "Hello, <strong>Ada&lt;b&gt;</strong>! (sent by GET)"));
    assert_int_equal(th_response_of(t)->length, (int64_t)th_response_of(t)->body_len);
    th_request_end(t);

    const char *headers[] = { "Content-Type: application/x-www-form-urlencoded", "Content-Length: 8", NULL };
    t = start(conf, "POST", "/cgi-bin/hello.py", headers);
    th_feed_body(t, "name=Bob", 8);
    th_end_body(t);
    assert_int_equal(th_run(t, 10000), 0);
    assert_non_null(strstr(th_response_of(t)->body, "Hello, <strong>Bob</strong>! (sent by POST)"));
    th_request_end(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_env_path_info_and_query),
        cmocka_unit_test(test_signals_and_fds),
        cmocka_unit_test(test_body_streams_with_backpressure),
        cmocka_unit_test(test_body_not_read_by_script),
        cmocka_unit_test(test_chunked_body_via_tmpfile),
        cmocka_unit_test(test_status_passed_on),
        cmocka_unit_test(test_bad_output_is_502),
        cmocka_unit_test(test_crash_is_502),
        cmocka_unit_test(test_headers_and_length),
        cmocka_unit_test(test_location),
        cmocka_unit_test(test_timeout_504_kills_group),
        cmocka_unit_test(test_timeout_after_output),
        cmocka_unit_test(test_client_goes_away),
        cmocka_unit_test(test_stderr_logged),
        cmocka_unit_test(test_output_backpressure),
        cmocka_unit_test(test_demo_hello),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* Error and access logs: line format, level filtering, one write per line,
 * truncation, escaping, reopen after rotation, never blocking. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char dir[64];
static char path_a[128], path_b[128], path_rot[128];
static char content[65536];

/* ---- helpers ---- */

static const char *slurp(const char *path)
{
    content[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return content;
    ssize_t n = read(fd, content, sizeof content - 1);
    close(fd);
    content[n > 0 ? n : 0] = '\0';
    return content;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* "YYYY-MM-DDTHH:MM:SSZ" within a few seconds of now. */
static void assert_timestamp(const char *line)
{
    struct tm tm = {0};
    char *end = strptime(line, "%Y-%m-%dT%H:%M:%SZ", &tm);
    assert_non_null(end);
    assert_int_equal(end - line, 20);
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    assert_true(t >= now - 5 && t <= now + 1);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_log.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path_a, sizeof path_a, "%s/error.log", dir);
    snprintf(path_b, sizeof path_b, "%s/access.log", dir);
    snprintf(path_rot, sizeof path_rot, "%s/rotated.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* Back to the defaults, so the next test starts clean. */
    log_open_error("stderr", WS_LOG_INFO);
    log_open_access(NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- before log_open_error ---- */

static void test_default_is_stderr_at_info(void **state)
{
    (void)state;
    /* Must run first: nothing has configured the log yet. */
    assert_int_equal(log_level(), WS_LOG_INFO);
    int saved = dup(2);
    int fd = open(path_a, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    log_msg(WS_LOG_INFO, "WS0001", "early %d", 1);
    log_msg(WS_LOG_DEBUG, "WS0002", "dropped");
    dup2(saved, 2);
    close(saved);
    const char *s = slurp(path_a);
    assert_int_equal(count_lines(s), 1);
    assert_timestamp(s);
    assert_string_equal(s + 20, " [info] [WS0001] early 1\n");
}

/* ---- error log ---- */

static void test_line_format_and_levels(void **state)
{
    (void)state;
    assert_int_equal(log_open_error(path_a, WS_LOG_WARN), 0);
    assert_int_equal(log_level(), WS_LOG_WARN);
    log_msg(WS_LOG_ERROR, "WS0100", "disk %s is %d%% full", "/var", 99);
    log_msg(WS_LOG_WARN, "WS0101", "careful");
    log_msg(WS_LOG_INFO, "WS0102", "not shown");
    log_msg(WS_LOG_DEBUG, "WS0103", "not shown");
    const char *s = slurp(path_a);
    assert_int_equal(count_lines(s), 2);
    assert_timestamp(s);
    assert_memory_equal(s + 20, " [error] [WS0100] disk /var is 99% full\n", 40);
    const char *second = strchr(s, '\n') + 1;
    assert_timestamp(second);
    assert_string_equal(second + 20, " [warn] [WS0101] careful\n");
}

static void test_every_level(void **state)
{
    (void)state;
    static const int levels[] = {WS_LOG_ERROR, WS_LOG_WARN, WS_LOG_INFO, WS_LOG_DEBUG};
    for (int lv = 0; lv < 4; lv++) {
        assert_int_equal(log_open_error(path_a, levels[lv]), 0);
        for (int m = 0; m < 4; m++)
            log_msg(levels[m], "WS0110", "m");
        assert_int_equal(log_open_error("stderr", WS_LOG_INFO), 0);
    }
    /* 1 + 2 + 3 + 4 lines, appended across reopenings. */
    const char *s = slurp(path_a);
    assert_int_equal(count_lines(s), 10);
    assert_non_null(strstr(s, " [debug] [WS0110] m\n"));
    assert_non_null(strstr(s, " [info] [WS0110] m\n"));
}

static void via_vmsg(int level, const char *id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, id, fmt, ap);
    va_end(ap);
}

static void test_vmsg_and_null_id(void **state)
{
    (void)state;
    assert_int_equal(log_open_error(path_a, WS_LOG_DEBUG), 0);
    via_vmsg(WS_LOG_DEBUG, "WS0111", "v%s %d", "msg", 7);
    via_vmsg(WS_LOG_INFO, NULL, "no id");
    log_msg(WS_LOG_WARN, "", "empty id");
    via_vmsg(WS_LOG_ERROR, "WS0112", "%s", "");
    const char *s = slurp(path_a);
    assert_int_equal(count_lines(s), 4);
    assert_timestamp(s);
    assert_non_null(strstr(s, " [debug] [WS0111] vmsg 7\n"));
    assert_non_null(strstr(s, " [info] [-] no id\n"));
    assert_non_null(strstr(s, " [warn] [-] empty id\n"));
    assert_non_null(strstr(s, " [error] [WS0112] \n"));
}

static void test_escapes_and_trailing_newline(void **state)
{
    (void)state;
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    /* A logged value must not forge a second line. */
    log_msg(WS_LOG_INFO, "WS0120", "path=%s", "/a\nFAKE [error] b\r\x1b[31m\x7f\tc");
    log_msg(WS_LOG_INFO, "WS0121", "habit\n");
    log_msg(WS_LOG_INFO, "WS0122", "%s", "utf8 caf\xc3\xa9");
    const char *s = slurp(path_a);
    assert_int_equal(count_lines(s), 3);
    assert_non_null(strstr(s, "[WS0120] path=/a\\x0aFAKE [error] b\\x0d\\x1b[31m\\x7f\tc\n"));
    assert_non_null(strstr(s, "[WS0121] habit\n"));
    assert_non_null(strstr(s, "[WS0122] utf8 caf\xc3\xa9\n"));
}

static void check_truncated(const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(count_lines(s), 1);
    assert_true(n <= 4096);
    assert_true(n > 4000);
    assert_string_equal(s + n - 4, "\xe2\x80\xa6\n");
}

static void test_long_message_truncated(void **state)
{
    (void)state;
    static char big[20000];
    memset(big, 'x', sizeof big - 1);
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    log_msg(WS_LOG_INFO, "WS0130", "%s", big);
    check_truncated(slurp(path_a));
}

static void test_truncation_keeps_utf8_whole(void **state)
{
    (void)state;
    /* 2-, 3- and 4-byte characters: the cut never splits one. */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (int c = 0; c < 3; c++) {
        size_t w = strlen(chars[c]);
        static char big[12000];
        size_t n = 0;
        while (n + w < sizeof big) {
            memcpy(big + n, chars[c], w);
            n += w;
        }
        big[n] = '\0';
        for (int shift = 0; shift < 4; shift++) {
            assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
            unlink(path_a);
            assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
            /* Shift the cut point with a prefix of 0..3 ASCII bytes. */
            log_msg(WS_LOG_INFO, "WS0131", "%.*s%s", shift, "abc", big);
            const char *s = slurp(path_a);
            check_truncated(s);
            const char *body = strstr(s, "[WS0131] ") + 9 + shift;
            size_t body_len = strlen(body) - 4; /* minus "…\n" */
            assert_int_equal(body_len % w, 0);
        }
    }
}

static void test_message_with_only_controls_truncated(void **state)
{
    (void)state;
    static char big[3000];
    memset(big, '\n', sizeof big - 1); /* each becomes 4 bytes */
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    log_msg(WS_LOG_INFO, "WS0132", "%s!", big);
    const char *s = slurp(path_a);
    check_truncated(s);
    assert_non_null(strstr(s, "\\x0a\\x0a\xe2\x80\xa6\n"));
}

static void test_open_errors(void **state)
{
    (void)state;
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    errno = 0;
    assert_int_equal(log_open_error("/nonexistent-dir/x/error.log", WS_LOG_DEBUG), -1);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(log_open_error(path_b, 7), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(log_open_error(path_b, -1), -1);
    /* The old file and level stay in force. */
    assert_int_equal(log_level(), WS_LOG_INFO);
    log_msg(WS_LOG_INFO, "WS0140", "still here");
    assert_non_null(strstr(slurp(path_a), "[WS0140] still here\n"));
    assert_int_equal(access(path_b, F_OK), -1);
}

static void test_file_mode_and_cloexec(void **state)
{
    (void)state;
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    log_msg(WS_LOG_INFO, "WS0150", "x");
    struct stat st;
    assert_int_equal(stat(path_a, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    /* Find the fd by comparing inodes; it must be close-on-exec and
     * append-only, so CGI children never inherit it. */
    int found = 0;
    for (int fd = 3; fd < 1024; fd++) {
        struct stat fs;
        if (fstat(fd, &fs) == 0 && fs.st_ino == st.st_ino && fs.st_dev == st.st_dev) {
            assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
            assert_true(fcntl(fd, F_GETFL) & O_APPEND);
            found = 1;
        }
    }
    assert_true(found);
}

/* ---- access log ---- */

static void test_access_log(void **state)
{
    (void)state;
    assert_int_equal(log_access_enabled(), 0);
    log_access_line("ignored\n", 8); /* off: nothing, no crash */
    assert_int_equal(log_open_access(path_b), 0);
    assert_int_equal(log_access_enabled(), 1);
    log_access_line("first\n", 6);
    log_access_line("second", 6); /* the newline is added */
    log_access_line("thirdXXX", 5);
    assert_string_equal(slurp(path_b), "first\nsecond\nthird\n");
    assert_int_equal(log_open_access(NULL), 0);
    assert_int_equal(log_access_enabled(), 0);
    log_access_line("after\n", 6);
    assert_string_equal(slurp(path_b), "first\nsecond\nthird\n");
    assert_int_equal(log_open_access(path_b), 0);
    assert_int_equal(log_open_access("off"), 0);
    assert_int_equal(log_access_enabled(), 0);
    assert_int_equal(log_open_access("/nonexistent-dir/access.log"), -1);
    assert_int_equal(log_access_enabled(), 0);
}

static void test_access_log_stdout(void **state)
{
    (void)state;
    int saved = dup(1);
    int fd = open(path_b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    assert_int_equal(log_open_access("stdout"), 0);
    log_access_line("to stdout\n", 10);
    /* Turning it off must not close stdout. */
    assert_int_equal(log_open_access(NULL), 0);
    assert_true(fcntl(1, F_GETFD) >= 0);
    dup2(saved, 1);
    close(saved);
    assert_string_equal(slurp(path_b), "to stdout\n");
}

/* ---- rotation ---- */

static void test_reopen_after_rename(void **state)
{
    (void)state;
    char rot_b[160];
    snprintf(rot_b, sizeof rot_b, "%s.1", path_b);
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    assert_int_equal(log_open_access(path_b), 0);
    log_msg(WS_LOG_INFO, "WS0160", "before");
    log_access_line("a1\n", 3);
    /* logrotate: rename, then SIGUSR1 → log_reopen. */
    assert_int_equal(rename(path_a, path_rot), 0);
    assert_int_equal(rename(path_b, rot_b), 0);
    log_msg(WS_LOG_INFO, "WS0161", "between"); /* still the old file */
    assert_int_equal(log_reopen(), 0);
    log_msg(WS_LOG_INFO, "WS0162", "after");
    log_access_line("a2\n", 3);

    const char *old = slurp(path_rot);
    assert_non_null(strstr(old, "[WS0160] before\n"));
    assert_non_null(strstr(old, "[WS0161] between\n"));
    assert_null(strstr(old, "after"));
    const char *cur = slurp(path_a);
    assert_int_equal(count_lines(cur), 1);
    assert_non_null(strstr(cur, "[WS0162] after\n"));
    assert_string_equal(slurp(rot_b), "a1\n");
    assert_string_equal(slurp(path_b), "a2\n");
}

static void test_reopen_failure_keeps_old_fd(void **state)
{
    (void)state;
    assert_int_equal(log_open_error(path_a, WS_LOG_INFO), 0);
    assert_int_equal(rename(path_a, path_rot), 0);
    /* A directory where the file was: open() fails even for root. */
    assert_int_equal(mkdir(path_a, 0700), 0);
    assert_int_equal(log_reopen(), -1);
    log_msg(WS_LOG_INFO, "WS0170", "kept");
    const char *s = slurp(path_rot);
    assert_non_null(strstr(s, "[error] [WS0010] cannot reopen error log"));
    assert_non_null(strstr(s, "[WS0170] kept\n"));
    rmdir(path_a);
}

static void test_reopen_leaves_std_streams(void **state)
{
    (void)state;
    assert_int_equal(log_open_error("stderr", WS_LOG_INFO), 0);
    assert_int_equal(log_open_access("stdout"), 0);
    assert_int_equal(log_reopen(), 0);
    assert_true(fcntl(1, F_GETFD) >= 0);
    assert_true(fcntl(2, F_GETFD) >= 0);
    assert_int_equal(log_open_access(NULL), 0);
}

/* ---- never blocking ---- */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "log write blocked\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(2);
    _exit(1);
}

/* Fill a pipe or socket, then make the write end blocking again: a naive
 * write() would now hang until the alarm fires. */
static void fill(int wfd)
{
    int fl = fcntl(wfd, F_GETFL);
    fcntl(wfd, F_SETFL, fl | O_NONBLOCK);
    char junk[4096];
    memset(junk, 'j', sizeof junk);
    while (write(wfd, junk, sizeof junk) > 0)
        ;
    while (write(wfd, junk, 1) > 0)
        ;
    fcntl(wfd, F_SETFL, fl);
}

static void test_full_pipe_drops_lines(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(2);
    dup2(p[1], 2);
    assert_int_equal(log_open_error("stderr", WS_LOG_INFO), 0);
    log_msg(WS_LOG_INFO, "WS0180", "fits");
    fill(2);
    signal(SIGALRM, on_alarm);
    alarm(5);
    for (int i = 0; i < 100; i++)
        log_msg(WS_LOG_ERROR, "WS0181", "dropped %d", i);
    alarm(0);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(log_open_error("stderr", WS_LOG_INFO), 0);
    char head[128] = {0};
    assert_true(read(p[0], head, sizeof head - 1) > 0);
    assert_non_null(strstr(head, "[WS0180] fits\n"));
    close(p[0]);
    close(p[1]);
}

static void test_full_socket_and_closed_reader(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int saved = dup(1);
    dup2(sv[0], 1);
    assert_int_equal(log_open_access("stdout"), 0);
    fill(1);
    signal(SIGALRM, on_alarm);
    alarm(5);
    for (int i = 0; i < 100; i++)
        log_access_line("dropped\n", 8);
    /* Reader gone: no SIGPIPE, no crash. */
    close(sv[1]);
    log_access_line("nobody\n", 7);
    alarm(0);
    dup2(saved, 1);
    close(saved);
    close(sv[0]);
    assert_int_equal(log_open_access(NULL), 0);
}

static void test_closed_pipe_reader_no_sigpipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    int saved = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    /* The server ignores SIGPIPE (SPEC §2); with it ignored the line is
     * dropped (EPIPE) and logging carries on. */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    assert_int_equal(log_open_error("stderr", WS_LOG_INFO), 0);
    log_msg(WS_LOG_ERROR, "WS0190", "nobody reads this");
    signal(SIGPIPE, old);
    dup2(saved, 2);
    close(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_is_stderr_at_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_format_and_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmsg_and_null_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes_and_trailing_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_keeps_utf8_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_with_only_controls_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode_and_cloexec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_log_stdout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_old_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_leaves_std_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_pipe_drops_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_socket_and_closed_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_pipe_reader_no_sigpipe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

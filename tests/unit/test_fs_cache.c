/*
 * The file-system cache: answers stay those of stat(), a change is seen after
 * one loop round, paths it cannot keep fresh are never cached, and cached
 * descriptors live exactly as long as their references. A folder's version
 * comes only once the offload pool has watched every entry, and never from a
 * watching that a flush overtook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_cache.h"
#include "loop.h"
#include "offload.h"

static char dir[64];
static loop *L;

static const char *at(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Folder name with n files f000, f001, ... of one byte each. */
static void make_folder(const char *name, int n)
{
    assert_int_equal(mkdir(at(name), 0755), 0);
    char entry[64];
    for (int i = 0; i < n; i++) {
        snprintf(entry, sizeof entry, "%s/f%03d", name, i);
        put(entry, "x");
    }
}

/* Every file make_folder(name, n) made is there, by the cache's stat. */
static void stat_each(const char *name, int n)
{
    char entry[64];
    struct stat st;
    for (int i = 0; i < n; i++) {
        snprintf(entry, sizeof entry, "%s/f%03d", name, i);
        assert_int_equal(fs_cache_stat(at(entry), &st), 0);
    }
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/fscache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    L = loop_new(LOOP_BACKEND_EPOLL, 64);
    assert_non_null(L);
    unsetenv("WEBSERV_FS_CACHE");
    assert_int_equal(fs_cache_start(L, FS_CACHE_DEFAULT_ENTRIES), 0);
    return 0;
}

static void gate_open(void);

static int teardown(void **state)
{
    (void)state;
    gate_open(); /* a test that failed with works held at the gate */
    offload_stop();
    fs_cache_stop();
    loop_free(L);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static fs_cache_counters counters(void)
{
    fs_cache_counters c;
    fs_cache_counters_get(&c);
    return c;
}

/* Let the loop deliver whatever inotify has queued. */
static void settle(void)
{
    loop_run_once(L, 0);
}

static void assert_same_as_kernel(const char *path)
{
    struct stat a, b;
    int ra = fs_cache_stat(path, &a), ea = errno;
    int rb = stat(path, &b), eb = errno;
    assert_int_equal(ra, rb);
    if (ra == 0) {
        assert_int_equal(a.st_ino, b.st_ino);
        assert_int_equal(a.st_size, b.st_size);
        assert_int_equal(a.st_mode, b.st_mode);
        assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
    } else {
        assert_int_equal(ea, eb);
    }
}

/* The watches of this process's inotify instance (from /proc/self/fdinfo);
 * *fd_out gets the instance's fd (-1 if none; the highest when a folder's
 * watch job holds a second descriptor of it, which lists the same watches). */
static int inotify_watches(int *fd_out)
{
    *fd_out = -1;
    int watches = 0;
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:inotify") != 0)
            continue;
        *fd_out = fd;
        snprintf(link, sizeof link, "/proc/self/fdinfo/%d", fd);
        FILE *f = fopen(link, "r");
        assert_non_null(f);
        char line[512];
        watches = 0;
        while (fgets(line, sizeof line, f))
            watches += strncmp(line, "inotify wd:", 11) == 0;
        fclose(f);
    }
    return watches;
}

/* Issue 21: a flush empties the table but keeps the instance and its
 * watches. Dropping and re-adding them costs the kernel a walk over every
 * name under each watched folder (/tmp holds many), and the document root
 * of a busy machine's /tmp saw a flush per file anyone created there. The
 * answers stay right: a later change is still seen. */
static void a_flush_keeps_the_watches(void **state)
{
    (void)state;
    put("a.txt", "one");
    struct stat st;
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    settle();
    int fd1, fd2;
    int before = inotify_watches(&fd1);
    assert_true(before >= 3); /* "/", …, the folder, the file */
    uint64_t flushes = counters().flushes;
    put("other.txt", "x"); /* a name appears in a watched folder */
    settle();
    assert_true(counters().flushes > flushes);
    assert_int_equal(inotify_watches(&fd2), before);
    assert_int_equal(fd2, fd1);
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    assert_int_equal(st.st_size, 3);
    put("a.txt", "four"); /* still watched: the change is seen */
    settle();
    assert_same_as_kernel(at("a.txt"));
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    assert_int_equal(st.st_size, 4);
}

static void second_stat_is_a_hit(void **state)
{
    (void)state;
    put("a.txt", "one");
    struct stat st;
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    fs_cache_counters before = counters();
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    fs_cache_counters after = counters();
    assert_int_equal(after.hits, before.hits + 1);
    assert_int_equal(after.misses, before.misses);
    assert_int_equal(st.st_size, 3);
    assert_same_as_kernel(at("a.txt"));
}

static void a_write_is_seen_after_one_round(void **state)
{
    (void)state;
    put("a.txt", "one");
    struct stat st;
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    int fd = open(at("a.txt"), O_WRONLY | O_APPEND);
    assert_true(write(fd, "more", 4) == 4);
    close(fd);
    settle();
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    assert_int_equal(st.st_size, 7);
}

static void rename_over_delete_and_create_are_seen(void **state)
{
    (void)state;
    put("a.txt", "one");
    struct stat st, old;
    assert_int_equal(fs_cache_stat(at("a.txt"), &old), 0);
    put("new.tmp", "replacement");
    assert_int_equal(rename(at("new.tmp"), at("a.txt")), 0);
    settle();
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    assert_int_not_equal(st.st_ino, old.st_ino);
    assert_int_equal(st.st_size, 11);

    assert_int_equal(unlink(at("a.txt")), 0);
    settle();
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), -1);
    assert_int_equal(errno, ENOENT);
    /* The miss is cached too (its folder is watched) ... */
    fs_cache_counters before = counters();
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), -1);
    assert_int_equal(counters().hits, before.hits + 1);
    /* ... and ends when the file appears. */
    put("a.txt", "back");
    settle();
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    assert_int_equal(st.st_size, 4);
}

static void chmod_and_folder_rename_are_seen(void **state)
{
    (void)state;
    assert_int_equal(mkdir(at("sub"), 0755), 0);
    put("sub/f", "x");
    struct stat st;
    assert_int_equal(fs_cache_stat(at("sub/f"), &st), 0);
    assert_int_equal(chmod(at("sub/f"), 0600), 0);
    settle();
    assert_int_equal(fs_cache_stat(at("sub/f"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(rename(at("sub"), at("moved")), 0);
    settle();
    assert_int_equal(fs_cache_stat(at("sub/f"), &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_same_as_kernel(at("moved/f"));
}

/* Whether appending to another file in the folder, then reading a cached
 * one, left the cache alone. */
static int quiet_round(void)
{
    struct stat st;
    assert_int_equal(fs_cache_stat(at("a.txt"), &st), 0);
    settle();
    uint64_t flushes = counters().flushes;
    int fd = open(at("log"), O_WRONLY | O_APPEND);
    for (int i = 0; i < 10; i++)
        assert_true(write(fd, "line\n", 5) == 5);
    close(fd);
    char buf[8];
    fd = open(at("a.txt"), O_RDONLY);
    assert_true(read(fd, buf, sizeof buf) == 3);
    close(fd);
    settle();
    return counters().flushes == flushes;
}

static void writes_to_other_files_keep_the_cache(void **state)
{
    (void)state;
    put("log", "");
    put("a.txt", "one");
    /* Other processes creating files in /tmp (a watched folder) also empty
     * the cache, so one quiet round in five proves it; a cache that empties
     * on these writes never has one. */
    int quiet = 0;
    for (int i = 0; i < 5 && !quiet; i++)
        quiet = quiet_round();
    assert_true(quiet);
}

static void paths_through_a_symlink_are_not_cached(void **state)
{
    (void)state;
    assert_int_equal(mkdir(at("real"), 0755), 0);
    put("real/f", "x");
    assert_int_equal(symlink(at("real"), at("link")), 0);
    struct stat st;
    assert_int_equal(fs_cache_stat(at("link/f"), &st), 0);
    fs_cache_counters before = counters();
    assert_int_equal(fs_cache_stat(at("link/f"), &st), 0);
    assert_int_equal(counters().hits, before.hits + 1); /* only the folder above the link */
    /* Re-pointing the link is seen at once, with no event needed. */
    assert_int_equal(mkdir(at("other"), 0755), 0);
    put("other/f", "longer");
    assert_int_equal(unlink(at("link")), 0);
    assert_int_equal(symlink(at("other"), at("link")), 0);
    assert_int_equal(fs_cache_stat(at("link/f"), &st), 0);
    assert_int_equal(st.st_size, 6);
}

static void same_answers_as_stat(void **state)
{
    (void)state;
    put("file", "x");
    assert_int_equal(mkdir(at("d"), 0755), 0);
    const char *paths[] = {"file", "file/", "file/x", "d", "d/", "d//", "missing", "missing/x", "d/missing"};
    for (int round = 0; round < 2; round++) /* a miss, then a hit */
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            assert_same_as_kernel(at(paths[i]));
    assert_same_as_kernel("relative/path");
    assert_same_as_kernel("/");
}

static void open_reuses_the_fd_until_the_file_changes(void **state)
{
    (void)state;
    put("big", "0123456789");
    struct stat known, st;
    assert_int_equal(fs_cache_stat(at("big"), &known), 0);
    fs_file *r1, *r2;
    int fd1 = fs_cache_open(at("big"), &known, &st, &r1);
    assert_true(fd1 >= 0);
    int fd2 = fs_cache_open(at("big"), &known, &st, &r2);
    assert_int_equal(fd2, fd1);
    assert_int_equal(counters().open_files, 1);
    fs_file_release(r1);
    fs_file_release(r2);
    assert_true(fcntl(fd1, F_GETFD) >= 0); /* still cached */

    /* Held across a change: valid until the last release, then closed. */
    int fd3 = fs_cache_open(at("big"), &known, &st, &r1);
    assert_int_equal(fd3, fd1);
    assert_int_equal(unlink(at("big")), 0);
    settle();
    assert_true(fcntl(fd1, F_GETFD) >= 0);
    char c;
    assert_int_equal(pread(fd1, &c, 1, 3), 1);
    assert_int_equal(c, '3');
    fs_file_release(r1);
    assert_int_equal(fcntl(fd1, F_GETFD), -1);
    assert_int_equal(counters().open_files, 0);
}

/* Without a known stat (a precompressed variant, an error page) the cache's
 * own entry decides: the second open is the first one's fd, and a change to
 * the file (inotify) gives the next open the new file. */
static void open_without_a_known_stat_uses_the_cache_entry(void **state)
{
    (void)state;
    put("f", "abc");
    settle();
    struct stat st;
    fs_file *r1, *r2;
    int fd1 = fs_cache_open(at("f"), NULL, &st, &r1);
    assert_true(fd1 >= 0);
    assert_int_equal(st.st_size, 3);
    int fd2 = fs_cache_open(at("f"), NULL, &st, &r2);
    assert_int_equal(fd2, fd1);
    assert_int_equal(counters().open_files, 1);
    fs_file_release(r1);
    fs_file_release(r2);
    assert_true(fcntl(fd1, F_GETFD) >= 0); /* kept by the cache */

    assert_int_equal(unlink(at("f")), 0);
    put("f", "longer");
    settle();
    int fd3 = fs_cache_open(at("f"), NULL, &st, &r1);
    assert_true(fd3 >= 0);
    assert_int_equal(st.st_size, 6);
    char c;
    assert_int_equal(pread(fd3, &c, 1, 0), 1);
    assert_int_equal(c, 'l');
    fs_file_release(r1);
    /* A missing name: the cache's own answer (ENOENT, no open tried the
     * second time), until the name comes. */
    assert_int_equal(fs_cache_open(at("nope"), NULL, &st, &r1), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(fs_cache_open(at("nope"), NULL, &st, &r1), -1);
    assert_int_equal(errno, ENOENT);
    put("nope", "now");
    settle();
    int fd4 = fs_cache_open(at("nope"), NULL, &st, &r1);
    assert_true(fd4 >= 0);
    assert_int_equal(st.st_size, 3);
    fs_file_release(r1);
}

/* Names found missing keep to their share of the table (nothing leaves it
 * before a flush): past it they are asked of the kernel, and answered as it
 * does, and a file that is there still gets an entry after more misses
 * than the whole table holds. */
static void missing_names_keep_to_their_share(void **state)
{
    (void)state;
    put("there", "x");
    settle();
    char name[32];
    struct stat st;
    for (int i = 0; i < 4 * FS_CACHE_MISSING_SHARE(FS_CACHE_DEFAULT_ENTRIES) + 100; i++) {
        snprintf(name, sizeof name, "missing-%05d", i);
        assert_int_equal(fs_cache_stat(at(name), &st), -1);
        assert_int_equal(errno, ENOENT);
    }
    assert_int_equal(counters().missing, FS_CACHE_MISSING_SHARE(FS_CACHE_DEFAULT_ENTRIES));
    assert_same_as_kernel(at("missing-00001"));  /* kept */
    assert_same_as_kernel(at("missing-04000")); /* asked of the kernel */
    assert_int_equal(fs_cache_stat(at("there"), &st), 0);
    uint64_t hits = counters().hits;
    assert_int_equal(fs_cache_stat(at("there"), &st), 0);
    assert_true(counters().hits > hits); /* it was kept */
    fs_cache_flush();
    assert_int_equal(counters().missing, 0);
}

/* Once the table is full nothing more is kept, so a path it does not hold is
 * asked of the kernel in one call: not by walking up its folders, which on a
 * tree larger than the table are mostly not kept either (one lstat each). */
static void a_full_table_asks_the_kernel_once(void **state)
{
    (void)state;
    assert_int_equal(mkdir(at("deep"), 0755), 0);
    assert_int_equal(mkdir(at("deep/a"), 0755), 0);
    assert_int_equal(mkdir(at("deep/a/b"), 0755), 0);
    put("deep/a/b/leaf", "x");
    make_folder("many", FS_CACHE_DEFAULT_ENTRIES);
    settle();
    stat_each("many", FS_CACHE_DEFAULT_ENTRIES);
    assert_int_equal(counters().entries, FS_CACHE_DEFAULT_ENTRIES);
    uint64_t misses = counters().misses;
    assert_same_as_kernel(at("deep/a/b/leaf"));
    assert_int_equal(counters().misses, misses + 1); /* not 4: deep, a, b, leaf */
    assert_same_as_kernel(at("deep/a/b/none"));
    assert_same_as_kernel(at("deep/a/b/leaf/"));    /* ENOTDIR */
    assert_same_as_kernel(at("many/f000/x"));       /* ENOTDIR, through a kept file */
    assert_int_equal(counters().entries, FS_CACHE_DEFAULT_ENTRIES);
}

/* "file_cache_entries": a smaller table keeps that many paths, a quarter of
 * them for missing names; a reload's new size empties the table and holds. */
static void the_table_keeps_its_configured_size(void **state)
{
    (void)state;
    fs_cache_stop();
    assert_int_equal(fs_cache_start(L, 64), 0);
    make_folder("m", 100);
    settle();
    char name[32];
    struct stat st;
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "m/f%03d", i);
        assert_int_equal(fs_cache_stat(at(name), &st), 0);
        snprintf(name, sizeof name, "m/none%03d", i);
        assert_int_equal(fs_cache_stat(at(name), &st), -1);
    }
    assert_int_equal(counters().entries, 64);
    assert_int_equal(counters().missing, FS_CACHE_MISSING_SHARE(64));
    assert_same_as_kernel(at("m/f099"));

    assert_int_equal(fs_cache_resize(64), 0); /* the same size: nothing to do */
    assert_int_equal(counters().entries, 64);
    fs_file *ref;
    int fd = fs_cache_open(at("m/f000"), NULL, &st, &ref); /* held across the resize */
    assert_true(fd >= 0);
    assert_int_equal(fs_cache_resize(256), 0);
    assert_int_equal(counters().entries, 0);
    char c = 0;
    assert_int_equal(pread(fd, &c, 1, 0), 1);
    assert_int_equal(c, 'x');
    fs_file_release(ref);
    stat_each("m", 100);
    assert_true(counters().entries >= 100); /* and the folders above them */
    assert_int_equal(fs_cache_resize(0), -1);
    assert_true(counters().entries >= 100); /* refused: kept as it was */
    assert_same_as_kernel(at("m/f050"));
}

/* The smallest table still has an empty slot for every probe: a path whose
 * folders alone outnumber the entries is answered, and so is the next one. */
static void a_table_of_one_entry_answers(void **state)
{
    (void)state;
    fs_cache_stop();
    assert_int_equal(fs_cache_start(L, 1), 0);
    assert_int_equal(mkdir(at("a"), 0755), 0);
    assert_int_equal(mkdir(at("a/b"), 0755), 0);
    put("a/b/c", "x");
    put("d", "x");
    settle();
    assert_same_as_kernel(at("a/b/c"));
    assert_same_as_kernel(at("d"));
    assert_same_as_kernel(at("a/b/none"));
    assert_same_as_kernel(at("a/b/c"));
}

/* The cache restarted as WEBSERV_FS_CACHE=off leaves it: not running. */
static void restart_with_the_cache_off(void)
{
    fs_cache_stop();
    setenv("WEBSERV_FS_CACHE", "off", 1);
    assert_int_equal(fs_cache_start(L, FS_CACHE_DEFAULT_ENTRIES), -1);
    unsetenv("WEBSERV_FS_CACHE");
}

/* With the cache off an open is the caller's alone: closed at its release. */
static void open_with_the_cache_off_is_the_callers_until_release(void **state)
{
    (void)state;
    restart_with_the_cache_off();
    put("f", "abc");
    struct stat st;
    fs_file *ref;
    int fd = fs_cache_open(at("f"), NULL, &st, &ref);
    assert_true(fd >= 0);
    assert_non_null(ref);
    assert_int_equal(st.st_size, 3);
    fs_file_release(ref);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(fs_cache_open(at("nope"), NULL, &st, &ref), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(fs_cache_start(L, FS_CACHE_DEFAULT_ENTRIES), 0); /* for teardown */
}

static void off_by_environment(void **state)
{
    (void)state;
    restart_with_the_cache_off();
    put("a", "x");
    struct stat st;
    assert_int_equal(fs_cache_stat(at("a"), &st), 0);
    assert_int_equal(fs_cache_stat(at("a"), &st), 0);
    assert_int_equal(counters().active, 0);
    assert_int_equal(fs_cache_start(L, FS_CACHE_DEFAULT_ENTRIES), 0); /* for teardown */
}

/* A flush empties every entry however many there are (the table keeps a
 * dense list of them that grows as they come, so emptying walks the entries,
 * not all the slots), keeps a referenced file open until its release, and
 * every answer after it is the kernel's again. */
static void a_flush_empties_every_entry(void **state)
{
    (void)state;
    enum { N = 300 }; /* past the list's first sizes */
    char name[32];
    struct stat st;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "f%03d", i);
        put(name, "x");
    }
    settle();
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "f%03d", i);
        assert_int_equal(fs_cache_stat(at(name), &st), 0);
    }
    assert_true(counters().entries >= N + 1); /* and the folders above */
    fs_file *ref;
    int fd = fs_cache_open(at("f007"), NULL, &st, &ref);
    assert_true(fd >= 0);
    fs_cache_flush();
    assert_int_equal(counters().entries, 0);
    char c;
    assert_int_equal(pread(fd, &c, 1, 0), 1); /* still open: held */
    assert_int_equal(c, 'x');
    fs_file_release(ref);
    /* changed meanwhile: the cache answers as the kernel does */
    put("f001", "longer");
    assert_int_equal(unlink(at("f002")), 0);
    assert_same_as_kernel(at("f001"));
    assert_same_as_kernel(at("f002"));
    uint64_t hits = counters().hits;
    assert_same_as_kernel(at("f003"));
    assert_same_as_kernel(at("f003"));
    assert_true(counters().hits > hits); /* cached again */
}


/* ---- folder versions: the entries are watched on the offload pool ---- */

/* Every pool thread held in a work until gate_open, so what is queued after
 * them cannot have run: whatever the loop does meanwhile is the loop's. */
static int gate[2] = {-1, -1};
static int gates_held;

static void gate_work(void *arg)
{
    (void)arg;
    char c;
    while (read(gate[0], &c, 1) < 0 && errno == EINTR)
        ;
}

static void gate_close(void)
{
    if (gate[0] < 0)
        assert_int_equal(pipe(gate), 0);
    for (int i = 0; i < OFFLOAD_THREADS; i++)
        assert_int_equal(offload_submit(L, gate_work, NULL, NULL, NULL), 0);
    gates_held += OFFLOAD_THREADS;
}

static void gate_open(void)
{
    for (; gates_held > 0; gates_held--)
        assert_int_equal(write(gate[1], "x", 1), 1);
}

/* Run the loop until every pool work is back (bounded). */
static void wait_jobs(void)
{
    for (int i = 0; i < 400 && offload_outstanding() > 0; i++)
        loop_run_once(L, 50);
    assert_int_equal(offload_outstanding(), 0);
}

/* The folder's version once the pool has watched its entries. Retried: any
 * file created in /tmp (a folder above) by another process flushes, which
 * drops a watching under way, as it must. */
static uint64_t version_when_ready(const char *path)
{
    for (int i = 0; i < 100; i++) {
        uint64_t v = fs_cache_dir_version(path);
        if (v)
            return v;
        wait_jobs();
    }
    fail_msg("no version for %s", path);
    return 0;
}

/* Issue 21: the first call for a folder adds no watch on the loop (every
 * pool thread is held, so nothing else could have added them) and answers 0
 * ("keep nothing"); a second call joins the same work; once it is back, the
 * version holds until an entry changes. Fails with the entries watched on the
 * loop (a version at the first call, 40 watches more at once). */
static void dir_version_watches_on_the_pool(void **state)
{
    (void)state;
    enum { N = 40 };
    make_folder("d", N);
    struct stat st;
    assert_int_equal(fs_cache_stat(at("d"), &st), 0); /* the folder and those above it are watched */
    int fd, before = inotify_watches(&fd);
    gate_close();
    uint64_t flushes = counters().flushes;
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    assert_int_equal(inotify_watches(&fd), before);
    if (counters().flushes == flushes) /* a flush from /tmp meanwhile starts a second work, rightly */
        assert_int_equal(offload_outstanding(), OFFLOAD_THREADS + 1);
    gate_open();
    uint64_t v = version_when_ready(at("d"));
    assert_int_equal(inotify_watches(&fd), before + N);
    /* An entry's content changes (no event on the folder itself): the version moves on. */
    flushes = counters().flushes;
    uint64_t again = fs_cache_dir_version(at("d"));
    if (counters().flushes == flushes)
        assert_int_equal(again, v); /* holds while nothing changes */
    int w = open(at("d/f007"), O_WRONLY | O_APPEND);
    assert_true(w >= 0);
    assert_int_equal(write(w, "more", 4), 4);
    close(w);
    settle();
    uint64_t after = fs_cache_dir_version(at("d"));
    assert_true(after != v);
    assert_true(version_when_ready(at("d")) > v);
}

/* fs_cache_flush while the work runs (what a reload does: "forget
 * everything"; its fs_file is freed, and the folder is cached again before
 * the work is back) leaves no version: the work's result is dropped. Under
 * ASan a work that kept its fs_file would write to freed memory. Fails when
 * the work marks the folder by path alone (the next call returns a version
 * without a new watching). */
static void a_flush_during_the_watching_drops_it(void **state)
{
    (void)state;
    make_folder("d", 20);
    gate_close();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    fs_cache_flush(); /* what an event does */
    struct stat st;
    assert_int_equal(fs_cache_stat(at("d"), &st), 0); /* cached again, not yet watched closely */
    gate_open();
    wait_jobs();
    assert_int_equal(fs_cache_dir_version(at("d")), 0); /* a new watching, not a version */
    assert_true(version_when_ready(at("d")) > 0);
}

/* A name created while the pool watches the folder (here after the work has
 * watched every earlier entry) is watched before a version comes: a change
 * to its content moves the version on. */
static void a_name_created_during_the_watching_is_watched(void **state)
{
    (void)state;
    enum { N = 30 };
    make_folder("d", N);
    struct stat st;
    assert_int_equal(fs_cache_stat(at("d"), &st), 0);
    int fd, before = inotify_watches(&fd);
    gate_close();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    gate_open();
    for (int i = 0; i < 2000 && inotify_watches(&fd) < before + N; i++)
        usleep(1000);
    assert_int_equal(inotify_watches(&fd), before + N);
    put("d/late", "x"); /* after the work's readdir, before it is back on the loop */
    uint64_t v = version_when_ready(at("d"));
    int w = open(at("d/late"), O_WRONLY | O_APPEND);
    assert_true(w >= 0);
    assert_int_equal(write(w, "more", 4), 4);
    close(w);
    settle();
    assert_true(fs_cache_dir_version(at("d")) != v);
}

/* At most MAX_WATCH_JOBS (2) folders are watched at once; a folder asked for
 * beyond that gets 0 and no work, and a later call starts it. */
static void watch_works_are_bounded(void **state)
{
    (void)state;
    make_folder("a", 3);
    make_folder("b", 3);
    make_folder("c", 3);
    gate_close();
    assert_int_equal(fs_cache_dir_version(at("a")), 0);
    assert_int_equal(fs_cache_dir_version(at("b")), 0);
    assert_int_equal(fs_cache_dir_version(at("c")), 0);
    assert_int_equal(offload_outstanding(), OFFLOAD_THREADS + 2); /* even if a flush dropped a's work */
    gate_open();
    wait_jobs();
    assert_true(version_when_ready(at("c")) > 0);
}

/* The cache stopped and started again while a work runs: its result is for
 * an instance that is gone, and dropped (no crash, nothing leaked). */
static void a_restart_during_the_watching_drops_it(void **state)
{
    (void)state;
    make_folder("d", 10);
    gate_close();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    fs_cache_stop();
    assert_int_equal(fs_cache_start(L, FS_CACHE_DEFAULT_ENTRIES), 0);
    gate_open();
    wait_jobs();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    assert_true(version_when_ready(at("d")) > 0);
}

static void noop_work(void *arg) { (void)arg; }

/* Without a pool for this loop (the process's pool serves another loop), the
 * first call watches the entries itself and answers the version at once. */
static void without_a_pool_the_loop_watches(void **state)
{
    (void)state;
    enum { N = 12 };
    make_folder("d", N);
    loop *other = loop_new(LOOP_BACKEND_EPOLL, 16);
    assert_non_null(other);
    assert_int_equal(offload_submit(other, noop_work, NULL, NULL, NULL), 0); /* one loop per process */
    struct stat st;
    assert_int_equal(fs_cache_stat(at("d"), &st), 0);
    int fd, before = inotify_watches(&fd);
    uint64_t v = fs_cache_dir_version(at("d"));
    int watched = inotify_watches(&fd);
    offload_stop();
    loop_free(other);
    assert_true(v > 0);
    assert_int_equal(watched, before + N);
}

/* A flush caused elsewhere (a name created beside the folder, like any file
 * created in a busy /tmp above a document root) needs no new watching: the
 * folder's own watch saw no name come in, so every entry still has one. The
 * next call answers the new version at once, with no work on the pool. A name
 * created in the folder, the folder replaced at its path, or an explicit
 * flush (a reload) each mean watching again. Fails when every flush starts a
 * new watching (0 after the unrelated flush). */
static void a_flush_elsewhere_keeps_the_folder_watched(void **state)
{
    (void)state;
    make_folder("d", 10);
    uint64_t v = version_when_ready(at("d"));
    uint64_t flushes = counters().flushes;
    put("beside", "x");
    settle();
    assert_true(counters().flushes > flushes);
    uint64_t after = fs_cache_dir_version(at("d"));
    assert_int_equal(offload_outstanding(), 0);
    assert_true(after > v);
    /* A name comes into the folder: watched again, and the new name with it. */
    put("d/new", "x");
    settle();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    v = version_when_ready(at("d"));
    int w = open(at("d/new"), O_WRONLY | O_APPEND);
    assert_true(w >= 0);
    assert_int_equal(write(w, "more", 4), 4);
    close(w);
    settle();
    assert_true(fs_cache_dir_version(at("d")) != v);
    wait_jobs();
    /* The folder replaced at its path by another one. */
    version_when_ready(at("d"));
    assert_int_equal(rename(at("d"), at("old")), 0);
    make_folder("d", 3);
    settle();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    version_when_ready(at("d"));
    /* A reload's flush forgets everything. */
    fs_cache_flush();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
}

/* A folder holding a symbolic link never gets a version (its target's
 * folders are not watched). The pool looks once; until a flush the answer is
 * 0 with no new work (before, every call read the folder again, on the loop);
 * with the link gone it gets a version. */
static void a_folder_with_a_link_is_looked_at_once_per_flush(void **state)
{
    (void)state;
    make_folder("d", 5);
    assert_int_equal(symlink("/", at("d/link")), 0);
    settle();
    for (int tries = 0;; tries++) {
        assert_true(tries < 100);
        uint64_t flushes = counters().flushes;
        assert_int_equal(fs_cache_dir_version(at("d")), 0);
        wait_jobs();
        assert_int_equal(fs_cache_dir_version(at("d")), 0);
        if (counters().flushes == flushes) { /* no flush from /tmp meanwhile */
            assert_int_equal(offload_outstanding(), 0);
            break;
        }
    }
    assert_int_equal(unlink(at("d/link")), 0);
    settle();
    assert_true(version_when_ready(at("d")) > 0);
}

/* A flush caused elsewhere while the work runs (a name created beside the
 * folder; its fs_file is freed and cached again) does not waste the work:
 * the folder's own watch saw no name come in, so the call after it is back
 * answers a version with no new watching. Fails when any flush drops it. */
static void a_flush_elsewhere_during_the_watching_keeps_it(void **state)
{
    (void)state;
    make_folder("d", 20);
    gate_close();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    uint64_t flushes = counters().flushes;
    put("beside", "x");
    settle();
    assert_true(counters().flushes > flushes);
    struct stat st;
    assert_int_equal(fs_cache_stat(at("d"), &st), 0);
    gate_open();
    wait_jobs();
    assert_true(fs_cache_dir_version(at("d")) > 0);
    assert_int_equal(offload_outstanding(), 0);
}

/* A name created in the folder while the work runs spoils it (the work's
 * readdir may have passed before the name came): the call after it is back
 * answers 0 and watches again. Fails when only the flush count or nothing
 * at all is checked. */
static void a_name_created_during_the_watching_spoils_it(void **state)
{
    (void)state;
    make_folder("d", 20);
    gate_close();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    put("d/late", "x");
    settle();
    gate_open();
    wait_jobs();
    assert_int_equal(fs_cache_dir_version(at("d")), 0);
    assert_true(version_when_ready(at("d")) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(second_stat_is_a_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(a_write_is_seen_after_one_round, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_over_delete_and_create_are_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(chmod_and_folder_rename_are_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(writes_to_other_files_keep_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_keeps_the_watches, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_empties_every_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(paths_through_a_symlink_are_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(same_answers_as_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(open_reuses_the_fd_until_the_file_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(open_without_a_known_stat_uses_the_cache_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(open_with_the_cache_off_is_the_callers_until_release, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_names_keep_to_their_share, setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_table_asks_the_kernel_once, setup, teardown),
        cmocka_unit_test_setup_teardown(the_table_keeps_its_configured_size, setup, teardown),
        cmocka_unit_test_setup_teardown(a_table_of_one_entry_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(off_by_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(dir_version_watches_on_the_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_during_the_watching_drops_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_name_created_during_the_watching_is_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(watch_works_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(a_restart_during_the_watching_drops_it, setup, teardown),
        cmocka_unit_test_setup_teardown(without_a_pool_the_loop_watches, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_elsewhere_keeps_the_folder_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(a_folder_with_a_link_is_looked_at_once_per_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_elsewhere_during_the_watching_keeps_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_name_created_during_the_watching_spoils_it, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

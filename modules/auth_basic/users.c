/*
 * User files, one loaded copy per path for the process (every location and
 * every configuration naming the file shares it), refreshed when the file
 * changes: each request opens it through the core's open-file cache
 * (host->open_file, kept fresh by inotify, so an unchanged file costs no
 * system call) and compares inode, size and modification time with the copy.
 * A file that turns bad at run time keeps the last good copy and logs why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_basic.h"

#define AB_MAX_FILE (4 * 1024 * 1024)

struct ab_file {
    ab_file *next;
    char *path;
    ab_table table;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec failed_mtime; /* the version already reported as bad (logged once) */
    uint64_t checked_ms;          /* when a request last looked at the file (0: never) */
    uint64_t version;             /* this load's number: a credential cache key includes it */
};

static ab_file *files;
/* Loads so far, in any file: each load gets the next number, so a version
 * names one content of one file for the life of the process. */
static uint64_t loads;

static int same_version(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Read and parse an open file. */
static int load(ab_file *f, int fd, const struct stat *st, char *err, size_t errlen)
{
    if (st->st_size > AB_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %d bytes", f->path, AB_MAX_FILE);
        return -1;
    }
    char *text = malloc((size_t)st->st_size + 1);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", f->path);
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)st->st_size) {
        ssize_t n = pread(fd, text + got, (size_t)st->st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    ab_table t;
    size_t line = 0;
    const char *why = NULL;
    int rc = ab_parse_htpasswd(text, got, &t, &line, &why);
    free(text);
    if (rc < 0) {
        snprintf(err, errlen, "%s:%zu: %s", f->path, line, why);
        return -1;
    }
    ab_table_free(&f->table);
    f->table = t;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    f->version = ++loads;
    return 0;
}

ab_file *ab_file_get(const char *path, char *err, size_t errlen)
{
    ab_file *f;
    for (f = files; f; f = f->next)
        if (strcmp(f->path, path) == 0)
            break;
    int fresh = !f;
    if (fresh) {
        f = calloc(1, sizeof *f);
        if (!f || !(f->path = strdup(path))) {
            free(f);
            snprintf(err, errlen, "%s: out of memory", path);
            return NULL;
        }
    }
    /* Configure time (startup, reload): read it now, so a bad file stops the config. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc = -1;
    if (fd < 0 || fstat(fd, &st) < 0)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(err, errlen, "%s: not a regular file", path);
    else
        rc = load(f, fd, &st, err, errlen);
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        if (fresh) {
            free(f->path);
            free(f);
        }
        return NULL;
    }
    if (fresh) {
        f->next = files;
        files = f;
    }
    return f;
}

int ab_file_refresh(ab_file *f, int fd, const struct stat *st, char *err, size_t errlen)
{
    if (st->st_dev == f->dev && st->st_ino == f->ino && st->st_size == f->size && same_version(&st->st_mtim, &f->mtime))
        return 0;
    if (same_version(&st->st_mtim, &f->failed_mtime) && st->st_size != 0)
        return 1; /* known bad: keep the last good copy, already logged */
    if (load(f, fd, st, err, errlen) < 0) {
        f->failed_mtime = st->st_mtim;
        return -1;
    }
    return 0;
}

int ab_file_checked_since(const ab_file *f, uint64_t now_ms, uint64_t period_ms)
{
    return f->checked_ms && now_ms - f->checked_ms < period_ms;
}

void ab_file_checked(ab_file *f, uint64_t now_ms) { f->checked_ms = now_ms; }

const ab_table *ab_file_table(const ab_file *f) { return &f->table; }
uint64_t ab_file_version(const ab_file *f) { return f->version; }
const char *ab_file_path(const ab_file *f) { return f->path; }

void ab_files_free(void)
{
    while (files) {
        ab_file *f = files;
        files = f->next;
        ab_table_free(&f->table);
        free(f->path);
        free(f);
    }
}

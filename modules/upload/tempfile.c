/* Temporary files for atomic uploads; see tempfile.h. */
#include "tempfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t random_bits(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    /* No entropy yet (early boot): uniqueness is what matters, O_EXCL does the rest. */
    static uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^ ++counter;
    return v * 0x9e3779b97f4a7c15u;
}

/* dir/.upload-<16 hex>.tmp into path. */
static int temp_name(const char *dir, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/.upload-%016llx.tmp", dir, (unsigned long long)random_bits());
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int tf_create(const char *dir, char *path, size_t cap)
{
    int rc = temp_name(dir, path, cap);
    if (rc < 0)
        return rc;
    /* An unnamed file first (O_TMPFILE): a worker killed in the middle of an
     * upload (SIGKILL, a crash, the power) leaves nothing behind, where a
     * named temporary file would stay in the folder for good. It is given
     * its name only when complete (tf_name), through /proc/self/fd, so that
     * /proc is needed; without it, or on a file system without O_TMPFILE, a
     * named file as before. */
    if (access("/proc/self/fd", X_OK) == 0) {
        int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0)
            return fd;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        if (attempt > 0 && (rc = temp_name(dir, path, cap)) < 0)
            return rc;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int tf_name(int fd, void *path_arg)
{
    char *path = path_arg;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_nlink > 0)
        return 0;
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    char *slash = strrchr(path, '/');
    for (int attempt = 0; attempt < 16; attempt++) {
        if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST || !slash)
            return -errno;
        /* Same length: the buffer holds it. */
        snprintf(slash, strlen(slash) + 1, "/.upload-%016llx.tmp", (unsigned long long)random_bits());
    }
    return -EEXIST;
}

int tf_sync_close(int fd, char *path)
{
    int rc = 0;
    if (fsync(fd) < 0)
        rc = -errno;
    if (rc == 0)
        rc = tf_name(fd, path);
    if (close(fd) < 0 && rc == 0 && errno != EINTR)
        rc = -errno;
    return rc;
}

int tf_replace(const char *tmp, const char *final)
{
    return rename(tmp, final) < 0 ? -errno : 0;
}

int tf_place_new(const char *tmp, const char *final)
{
    if (link(tmp, final) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno == EEXIST)
        return -EEXIST;
    /* File systems without hard links: an exclusive rename does the same. */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
        return 0;
    return -errno;
}

void tf_discard(int fd, const char *path)
{
    if (fd >= 0)
        close(fd);
    if (path && path[0])
        unlink(path);
}

int tf_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

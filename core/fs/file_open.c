#include "file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int file_open_read(const char *path, struct stat *st)
{
    /* O_NONBLOCK: a FIFO (or a device) where a file was expected opens at
     * once instead of holding the worker until some writer comes; the
     * caller sees its type in *st and refuses it. On a regular file Linux
     * ignores the flag: reads and sendfile block on the disk as before. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

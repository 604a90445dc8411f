/*
 * Opening a file to serve it: read-only, close-on-exec, never becoming the
 * controlling terminal, never waiting (a FIFO opens at once), with its
 * stat. One place for the core's open-file cache, its error pages and the
 * test host's open_file.
 */
#ifndef WEBSERV_FILE_OPEN_H
#define WEBSERV_FILE_OPEN_H

#include <sys/stat.h>

/* The fd, with *st filled; or -1 with errno from open or fstat (nothing left open). */
int file_open_read(const char *path, struct stat *st);

#endif

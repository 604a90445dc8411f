/* Plain file names: what an upload may be stored under. */
#ifndef UPLOAD_FILENAME_H
#define UPLOAD_FILENAME_H

#include <stddef.h>

/* 1 when name[0, len) is a plain name: not empty, not "." or "..", at most
 * 255 bytes, and free of '/', '\\', NUL and control characters (< 0x20, 0x7f). */
int upload_plain_name(const char *name, size_t len);

#endif

/*
 * Temporary files for atomic uploads: created with O_EXCL under a random
 * hidden name in the target folder (so the final rename or link stays on
 * one file system), written, synced, then moved into place.
 * Functions return 0 or a negative errno.
 */
#ifndef UPLOAD_TEMPFILE_H
#define UPLOAD_TEMPFILE_H

#include <stddef.h>

#define TF_NAME_MAX 32 /* ".upload-" + 16 hex + ".tmp" + NUL, rounded up */

/* Create dir/.upload-<random>.tmp; its path goes to path (cap bytes).
 * Returns the open fd (O_WRONLY, O_CLOEXEC, mode 0644 before umask) or -errno. */
int tf_create(const char *dir, char *path, size_t cap);

/* fsync and close (the fd is closed whatever happens). */
int tf_sync_close(int fd);

/* Rename tmp over final (replacing a file there), atomically. */
int tf_replace(const char *tmp, const char *final);

/* Move tmp to final only if final does not exist (-EEXIST otherwise). On
 * success tmp is gone. */
int tf_place_new(const char *tmp, const char *final);

/* Close fd (if >= 0) and remove path (if not NULL or empty). */
void tf_discard(int fd, const char *path);

/* fsync a folder, so that a rename in it is durable. */
int tf_sync_dir(const char *dir);

#endif

/*
 * Temporary files for atomic uploads, in the target folder (so the final
 * rename or link stays on one file system): unnamed (O_TMPFILE) while being
 * written, so a killed worker leaves nothing behind; named with a random
 * hidden name once synced (or from the start where O_TMPFILE or /proc is
 * missing, with O_EXCL); then moved into place.
 * Functions return 0 or a negative errno.
 */
#ifndef UPLOAD_TEMPFILE_H
#define UPLOAD_TEMPFILE_H

#include <stddef.h>

#define TF_NAME_MAX 32 /* ".upload-" + 16 hex + ".tmp" + NUL, rounded up */

/* Create the temporary file of dir; its future name dir/.upload-<random>.tmp
 * goes to path (cap bytes). Returns the open fd (O_WRONLY, O_CLOEXEC, mode
 * 0644 before umask) or -errno. */
int tf_create(const char *dir, char *path, size_t cap);

/* Give an unnamed (O_TMPFILE) file the name path (a char *; redrawn, same
 * length, if taken); a file that has a name already is left alone. Call it
 * after fsync and before close. Safe on a pool thread. */
int tf_name(int fd, void *path);

/* fsync, tf_name and close (the fd is closed whatever happens). After it,
 * path names the file. */
int tf_sync_close(int fd, char *path);

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

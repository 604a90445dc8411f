/* MIME types by file extension: a built-in table plus the config's mime_types. */
#ifndef WEBSERV_MIME_H
#define WEBSERV_MIME_H

#include <stddef.h>

/* Use these extra pairs (extension without dot, type; …) on top of the
 * built-in table; they win. The array must outlive later lookups. */
void mime_set_overrides(const char *const *pairs, size_t n_pairs);

/* Type for a path or file name, by its last extension, case-insensitive;
 * "application/octet-stream" when unknown. Never NULL. */
const char *mime_lookup(const char *path);

#endif

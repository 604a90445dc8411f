/*
 * The typed settings getters handed to modules (ws_host.cfg_*). A ws_settings
 * wraps one JSON object and its JSON path; every key read through a getter is
 * marked known, so the core can report the keys nobody read as unknown.
 */
#ifndef WEBSERV_SETTINGS_H
#define WEBSERV_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "webserv/module.h"

int settings_bool(const ws_settings *s, const char *key, int *out);
int settings_int(const ws_settings *s, const char *key, long long min, long long max, long long *out);
int settings_size(const ws_settings *s, const char *key, int64_t *out);
int settings_seconds(const ws_settings *s, const char *key, double *out);
int settings_string(const ws_settings *s, const char *key, const char **out);
int settings_path(const ws_settings *s, const char *key, const char **out);
int settings_string_list(const ws_settings *s, const char *key, const char *const **out, size_t *n);
int settings_string_map(const ws_settings *s, const char *key, const char *const **out, size_t *n);
void settings_error(const ws_settings *s, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void *settings_alloc(const ws_settings *s, size_t n);

#endif

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
/* ABI 1.2 */
int settings_object(const ws_settings *s, const char *key, const ws_settings **out);
int settings_object_list(const ws_settings *s, const char *key, const ws_settings *const **out, size_t *n);
int settings_keys(const ws_settings *s, const char *const **keys, size_t *n);
int settings_kind(const ws_settings *s, const char *key);

/* ---- Added for the core (config.c) and the test host (tests/testhost/) ----
 * settings.c depends only on arena.c and jansson, so the test host can build
 * it on its own. */
struct arena;
struct json_t;

/*
 * Wrap `obj` (a JSON object, borrowed: it must outlive the getter calls) whose
 * path is `json_path` ("" for the top level). Strings the getters return are
 * copied into `a`. The first error reported through this settings object is
 * written into err as "<config_file>: <json path>.<key>: <message>"; later
 * ones are dropped. config_dir (may be NULL) is where relative paths start.
 * NULL only when out of memory.
 */
ws_settings *settings_new(struct arena *a, struct json_t *obj, const char *json_path, const char *config_file,
                          const char *config_dir, char *err, size_t errlen);

/* A nested object as its own settings (path "<parent>.<key>"): 1 present,
 * 0 absent, -1 present but not an object (reported). Marks the key known. */
int settings_child(const ws_settings *s, const char *key, ws_settings **out);

/* The raw JSON value of `key` (borrowed), or NULL; marks the key known. */
struct json_t *settings_raw(const ws_settings *s, const char *key);

/* Report the first key no getter read as "<path>.<key>: unknown key";
 * returns -1 then, else 0. */
int settings_report_unknown(const ws_settings *s);

/* True once an error was reported through s (by a getter or settings_error). */
int settings_failed(const ws_settings *s);

/* A context pointer for whoever runs configure() (the core: which module and
 * configuration it is for, so host->shm_zone knows whose zone it makes);
 * nested objects made by settings_child inherit it. NULL by default. */
void settings_set_user(ws_settings *s, void *user);
void *settings_user(const ws_settings *s);

const char *settings_json_path(const ws_settings *s);
struct arena *settings_arena(const ws_settings *s);

/* ---- The describe pass (webserv --schema, core/config/schema.c) ----
 * A recorder is a settings object with no JSON behind it: every getter
 * (module getters through ws_host.cfg_*, and settings_raw/settings_child)
 * records the key it was asked for, with its kind and, for integers, its
 * range, and answers "absent". Running a module's configure() against one
 * lists the module's keys exactly as its validation reads them. */
enum settings_kind {
    SETTINGS_ANY = 0, /* read raw: any JSON value */
    SETTINGS_BOOL,
    SETTINGS_INT,     /* min, max */
    SETTINGS_SIZE,
    SETTINGS_SECONDS,
    SETTINGS_STRING,
    SETTINGS_PATH,
    SETTINGS_STRING_LIST,
    SETTINGS_STRING_MAP,
    SETTINGS_OBJECT,
    SETTINGS_OBJECT_LIST, /* an array of objects */
};
typedef struct settings_record {
    const char *key;
    int kind; /* enum settings_kind */
    long long min, max;
} settings_record;
ws_settings *settings_new_recorder(struct arena *a, const char *json_path, const char *config_file,
                                   const char *config_dir);
/* The keys recorded so far, in the order they were first asked for. */
size_t settings_recorded(const ws_settings *s, const settings_record **out);

/* The keys of the wrapped JSON object (valid while it lives). */
size_t settings_key_list(const ws_settings *s, const char *const **keys);

/* Lexically normalised absolute path: `p` taken from `dir` when relative
 * ("." and ".." segments resolved, no repeated or trailing '/'). */
char *settings_abs_path(struct arena *a, const char *dir, const char *p);

#endif

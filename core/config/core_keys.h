/*
 * The core's config keys, declared once (core_keys.c): scope, key, kind,
 * range, allowed values, default and a one-line description. Validation
 * takes its ranges and allowed values from here (core_key_int, core_key_enum)
 * and refuses any core key missing from the table (core_keys_check), and
 * `webserv --schema` builds the JSON Schema from the same table (schema.c),
 * so the two cannot drift apart. A new core key is one row here plus the
 * code that reads it.
 */
#ifndef WEBSERV_CORE_KEYS_H
#define WEBSERV_CORE_KEYS_H

#include "settings.h"

/* The objects of the config that hold core keys. */
typedef enum core_scope {
    SCOPE_TOP = 0,
    SCOPE_TIMEOUTS, /* top.timeouts */
    SCOPE_LIMITS,   /* top.limits */
    SCOPE_SERVER,   /* top.servers[] */
    SCOPE_LOCATION, /* server.locations[] (plus one key per loaded module) */
    SCOPE_RETURN,   /* location.return */
    SCOPE_LOC_TIMEOUTS, /* location.timeouts */
    SCOPE_LISTEN,   /* server.listen[] objects */
    SCOPE_TLS,      /* server.tls */
    SCOPE_COUNT
} core_scope;

typedef struct core_key {
    core_scope scope;
    const char *key;
    int kind;              /* enum settings_kind; SETTINGS_ANY: `schema` says it all */
    long long min, max;    /* SETTINGS_INT and SETTINGS_SIZE (when max > 0) */
    const char *const *values; /* allowed strings (NULL-terminated), or NULL */
    int sub;               /* SETTINGS_OBJECT: the scope it opens; -1 none */
    int array_of;          /* 1: an array of `sub` objects */
    const char *schema;    /* JSON Schema text merged into the generated one, or NULL */
    const char *def;       /* JSON text of the default, or NULL (none or computed) */
    int required;
    const char *description;
} core_key;

extern const core_key core_keys[];
extern const size_t n_core_keys;
/* Schema text applied to a whole scope object (cross-key rules), or NULL. */
extern const char *const core_scope_schema[SCOPE_COUNT];
extern const char *const core_scope_description[SCOPE_COUNT];

const core_key *core_key_find(core_scope scope, const char *key);

/* settings_int with the table's range. */
int core_key_int(const ws_settings *s, core_scope scope, const char *key, long long *out);
/* A string that must be one of the table's values: 1 and its index, 0 absent, -1 reported. */
int core_key_enum(const ws_settings *s, core_scope scope, const char *key, int *index);
/* A size with the table's range. */
int core_key_size(const ws_settings *s, core_scope scope, const char *key, int64_t *out);

/* Every key of s's object must be in the table for `scope` (or be one of
 * `extra`, e.g. loaded module names); a key some code read but nobody
 * declared is a bug, reported like an unknown key. -1 reported, else 0. */
int core_keys_check(const ws_settings *s, core_scope scope, const char *const *extra, size_t n_extra);

#endif

/*
 * Typed settings getters over one JSON object (SPEC §3, module.h ws_host.cfg_*).
 *
 * Every getter marks its key as read, so whoever owns the object can report
 * the keys nobody read as unknown: modules never list their keys twice. The
 * first error goes into the caller's buffer with the key's full JSON path.
 * Only arena.c and jansson are needed here (the test host builds this file on
 * its own), which is why config_parse_size lives here too.
 */
#include "settings.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"

struct ws_settings {
    arena *a;
    json_t *obj;
    const char *json_path;
    const char *file;
    const char *dir;
    char *err;
    size_t errlen;
    int *failed; /* shared between a settings object and its children */
    const char **keys;
    unsigned char *seen;
    size_t n_keys;
    void *user; /* the caller's context (settings_set_user), inherited by children */
    struct ws_settings *kids, *next_kid; /* nested objects handed out (ABI 1.2): checked with the parent */
    settings_record *rec; /* describe pass: getters record instead of reading */
    size_t n_rec, cap_rec;
};

/* Getters take a const pointer (the module API promises not to change the
 * object), but marking keys read is bookkeeping on memory we allocated
 * ourselves as mutable, so casting the const away is well defined. */
static ws_settings *mut(const ws_settings *s) { return (ws_settings *)s; }

/* Describe pass (webserv --schema): a recorder has no JSON object; each
 * getter notes the key with its kind and range and answers "absent", so the
 * module keeps its defaults and goes on to its next key. A later getter for
 * the same key does not change what the first one recorded, except that a
 * typed getter replaces an untyped settings_raw. */
static int record(const ws_settings *s, const char *key, int kind, long long min, long long max)
{
    ws_settings *m = mut(s);
    for (size_t i = 0; i < m->n_rec; i++)
        if (strcmp(m->rec[i].key, key) == 0) {
            if (m->rec[i].kind == SETTINGS_ANY && kind != SETTINGS_ANY)
                m->rec[i] = (settings_record){m->rec[i].key, kind, min, max};
            return 0;
        }
    if (m->n_rec == m->cap_rec) {
        size_t cap = m->cap_rec ? 2 * m->cap_rec : 16;
        settings_record *r = arena_alloc(m->a, cap * sizeof *r);
        if (!r)
            return 0;
        if (m->n_rec)
            memcpy(r, m->rec, m->n_rec * sizeof *r);
        m->rec = r;
        m->cap_rec = cap;
    }
    const char *k = arena_strdup(m->a, key);
    if (k)
        m->rec[m->n_rec++] = (settings_record){k, kind, min, max};
    return 0;
}

#define RECORD(s, key, kind, min, max)                                                                             \
    do {                                                                                                           \
        if ((s)->cap_rec)                                                                                          \
            return record((s), (key), (kind), (min), (max));                                                       \
    } while (0)


static ws_settings *settings_make(arena *a, json_t *obj, const char *json_path, const char *file, const char *dir,
                                  char *err, size_t errlen, int *failed)
{
    ws_settings *s = arena_alloc(a, sizeof *s);
    if (!s)
        return NULL;
    s->a = a;
    s->obj = obj;
    s->json_path = arena_strdup(a, json_path ? json_path : "");
    s->file = arena_strdup(a, file ? file : "config");
    s->dir = dir ? arena_strdup(a, dir) : NULL;
    s->err = err;
    s->errlen = errlen;
    s->failed = failed ? failed : arena_alloc(a, sizeof *s->failed);
    s->n_keys = json_object_size(obj);
    s->keys = arena_alloc(a, (s->n_keys + 1) * sizeof *s->keys);
    s->seen = arena_alloc(a, s->n_keys + 1);
    if (!s->json_path || !s->file || (dir && !s->dir) || !s->failed || !s->keys || !s->seen)
        return NULL;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) s->keys[i++] = k;
    return s;
}

ws_settings *settings_new(arena *a, json_t *obj, const char *json_path, const char *config_file,
                          const char *config_dir, char *err, size_t errlen)
{
    return settings_make(a, obj, json_path, config_file, config_dir, err, errlen, NULL);
}

static void key_path(const ws_settings *s, const char *key, char *buf, size_t len)
{
    if (!key)
        snprintf(buf, len, "%s", s->json_path);
    else if (!s->json_path[0])
        snprintf(buf, len, "%s", key);
    else
        snprintf(buf, len, "%s%s%s", s->json_path, key[0] == '[' ? "" : ".", key);
}

static void settings_verror(const ws_settings *s, const char *key, const char *fmt, va_list ap)
{
    if (*s->failed)
        return; /* the first error is the one worth reading */
    *s->failed = 1;
    if (!s->err || !s->errlen)
        return;
    char path[512], msg[512];
    key_path(s, key, path, sizeof path);
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (path[0])
        snprintf(s->err, s->errlen, "%s: %s: %s", s->file, path, msg);
    else
        snprintf(s->err, s->errlen, "%s: %s", s->file, msg);
}

void settings_error(const ws_settings *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    settings_verror(s, key, fmt, ap);
    va_end(ap);
}

/* settings_error that returns -1, for getters. */
static int bad(const ws_settings *s, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const ws_settings *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    settings_verror(s, key, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(const ws_settings *s, const char *key) { return bad(s, key, "out of memory"); }

json_t *settings_raw(const ws_settings *s, const char *key)
{
    if (s->cap_rec) {
        record(s, key, SETTINGS_ANY, 0, 0);
        return NULL;
    }
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i], key) == 0) {
            mut(s)->seen[i] = 1;
            return json_object_get(s->obj, key);
        }
    return NULL;
}

int settings_report_unknown(const ws_settings *s)
{
    for (size_t i = 0; i < s->n_keys; i++)
        if (!s->seen[i])
            return bad(s, s->keys[i], "unknown key");
    for (const ws_settings *k = s->kids; k; k = k->next_kid)
        if (settings_report_unknown(k) < 0)
            return -1;
    return 0;
}

/* A nested object at `path`, whose unread keys its parent reports. */
static ws_settings *adopt(const ws_settings *s, json_t *v, const char *path)
{
    ws_settings *k = settings_make(s->a, v, path, s->file, s->dir, s->err, s->errlen, s->failed);
    if (k) {
        k->user = s->user;
        k->next_kid = s->kids;
        mut(s)->kids = k;
    }
    return k;
}

int settings_object(const ws_settings *s, const char *key, const ws_settings **out)
{
    RECORD(s, key, SETTINGS_OBJECT, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad(s, key, "expected an object");
    char path[512];
    key_path(s, key, path, sizeof path);
    *out = adopt(s, v, path);
    return *out ? 1 : oom(s, key);
}

int settings_object_list(const ws_settings *s, const char *key, const ws_settings *const **out, size_t *n)
{
    RECORD(s, key, SETTINGS_OBJECT_LIST, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return bad(s, key, "expected an array of objects");
    size_t cnt = json_array_size(v);
    const ws_settings **list = arena_alloc(s->a, (cnt + 1) * sizeof *list);
    if (!list)
        return oom(s, key);
    for (size_t i = 0; i < cnt; i++) {
        char sub[256], path[512];
        snprintf(sub, sizeof sub, "%s[%zu]", key, i);
        json_t *e = json_array_get(v, i);
        if (!json_is_object(e))
            return bad(s, sub, "expected an object");
        key_path(s, sub, path, sizeof path);
        if (!(list[i] = adopt(s, e, path)))
            return oom(s, key);
    }
    *out = list;
    *n = cnt;
    return 1;
}

int settings_keys(const ws_settings *s, const char *const **keys, size_t *n)
{
    /* Copies in the config's memory: the JSON text they come from is freed
     * after loading, and the module keeps them as long as its config. */
    const char **copy = arena_alloc(s->a, (s->n_keys + 1) * sizeof *copy);
    if (!copy)
        return oom(s, NULL);
    for (size_t i = 0; i < s->n_keys; i++)
        if (!(copy[i] = arena_strdup(s->a, s->keys[i])))
            return oom(s, NULL);
    *keys = copy;
    *n = s->n_keys;
    return 1;
}

int settings_kind(const ws_settings *s, const char *key)
{
    json_t *v = json_object_get(s->obj, key);
    if (!v)
        return WS_CFG_ABSENT;
    switch (json_typeof(v)) {
    case JSON_NULL: return WS_CFG_NULL;
    case JSON_TRUE: case JSON_FALSE: return WS_CFG_BOOL;
    case JSON_INTEGER: case JSON_REAL: return WS_CFG_NUMBER;
    case JSON_STRING: return WS_CFG_STRING;
    case JSON_ARRAY: return WS_CFG_ARRAY;
    default: return WS_CFG_OBJECT;
    }
}

int settings_failed(const ws_settings *s) { return *s->failed; }
const char *settings_json_path(const ws_settings *s) { return s->json_path; }
arena *settings_arena(const ws_settings *s) { return s->a; }
void *settings_alloc(const ws_settings *s, size_t n) { return arena_alloc(s->a, n ? n : 1); }

void settings_set_user(ws_settings *s, void *user) { s->user = user; }
void *settings_user(const ws_settings *s) { return s->user; }

int settings_child(const ws_settings *s, const char *key, ws_settings **out)
{
    RECORD(s, key, SETTINGS_OBJECT, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad(s, key, "expected an object");
    char path[512];
    key_path(s, key, path, sizeof path);
    *out = settings_make(s->a, v, path, s->file, s->dir, s->err, s->errlen, s->failed);
    if (*out)
        (*out)->user = s->user;
    return *out ? 1 : oom(s, key);
}

int settings_bool(const ws_settings *s, const char *key, int *out)
{
    RECORD(s, key, SETTINGS_BOOL, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bad(s, key, "expected true or false");
    *out = json_is_true(v);
    return 1;
}

int settings_int(const ws_settings *s, const char *key, long long min, long long max, long long *out)
{
    RECORD(s, key, SETTINGS_INT, min, max);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return bad(s, key, "expected an integer");
    long long n = json_integer_value(v);
    if (n < min || n > max)
        return bad(s, key, "must be between %lld and %lld", min, max);
    *out = n;
    return 1;
}

int config_parse_size(const char *s, int64_t *out)
{
    int64_t n = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        n = n * 10 + (*p - '0');
    }
    int shift = 0;
    switch (*p) {
    case 'K': case 'k': shift = 10; p++; break;
    case 'M': case 'm': shift = 20; p++; break;
    case 'G': case 'g': shift = 30; p++; break;
    default: break;
    }
    if (*p || n > (INT64_MAX >> shift))
        return -1;
    *out = n << shift;
    return 0;
}

int settings_size(const ws_settings *s, const char *key, int64_t *out)
{
    RECORD(s, key, SETTINGS_SIZE, 0, INT64_MAX);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_string(v) && config_parse_size(json_string_value(v), out) == 0)
        return 1;
    return bad(s, key, "expected a size: bytes >= 0, or a string such as \"512K\", \"10M\", \"1G\"");
}

int settings_seconds(const ws_settings *s, const char *key, double *out)
{
    RECORD(s, key, SETTINGS_SECONDS, 0, 1000000000);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    double d = json_is_number(v) ? json_number_value(v) : -1;
    /* A cap keeps later conversions to milliseconds far from overflow. */
    if (!(d >= 0 && d <= 1e9))
        return bad(s, key, "expected a number of seconds >= 0");
    *out = d;
    return 1;
}

int settings_string(const ws_settings *s, const char *key, const char **out)
{
    RECORD(s, key, SETTINGS_STRING, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return bad(s, key, "expected a string");
    const char *c = arena_strdup(s->a, json_string_value(v));
    if (!c)
        return oom(s, key);
    *out = c;
    return 1;
}

/* Append segment [p, p+n) to the normalised path in buf (length *len). */
static void push_segment(char *buf, size_t *len, const char *p, size_t n)
{
    if (n == 0 || (n == 1 && p[0] == '.'))
        return;
    if (n == 2 && p[0] == '.' && p[1] == '.') {
        while (*len > 0 && buf[*len - 1] != '/')
            (*len)--;
        if (*len > 0)
            (*len)--; /* drop the '/' too; the root stays "" → "/" */
        return;
    }
    buf[(*len)++] = '/';
    memcpy(buf + *len, p, n);
    *len += n;
}

static void push_all(char *buf, size_t *len, const char *p)
{
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        push_segment(buf, len, p, n);
        p += n;
        if (*p)
            p++;
    }
}

char *settings_abs_path(arena *a, const char *dir, const char *p)
{
    char cwd[PATH_MAX];
    if (p[0] != '/' && !dir)
        dir = getcwd(cwd, sizeof cwd) ? cwd : "/";
    size_t cap = strlen(p) + (p[0] == '/' ? 0 : strlen(dir)) + 3;
    char *buf = arena_alloc(a, cap);
    if (!buf)
        return NULL;
    size_t len = 0;
    if (p[0] != '/')
        push_all(buf, &len, dir);
    push_all(buf, &len, p);
    if (len == 0)
        buf[len++] = '/';
    buf[len] = '\0';
    return buf;
}

int settings_path(const ws_settings *s, const char *key, const char **out)
{
    RECORD(s, key, SETTINGS_PATH, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || !json_string_length(v))
        return bad(s, key, "expected a non-empty path");
    char *abs = settings_abs_path(s->a, s->dir, json_string_value(v));
    if (!abs)
        return oom(s, key);
    *out = abs;
    return 1;
}

int settings_string_list(const ws_settings *s, const char *key, const char *const **out, size_t *n)
{
    RECORD(s, key, SETTINGS_STRING_LIST, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return bad(s, key, "expected an array of strings");
    size_t cnt = json_array_size(v);
    const char **list = arena_alloc(s->a, (cnt + 1) * sizeof *list);
    if (!list)
        return oom(s, key);
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(v, i);
        char sub[256];
        snprintf(sub, sizeof sub, "%s[%zu]", key, i);
        if (!json_is_string(e))
            return bad(s, sub, "expected a string");
        if (!(list[i] = arena_strdup(s->a, json_string_value(e))))
            return oom(s, key);
    }
    *out = list; /* NULL-terminated as a bonus */
    *n = cnt;
    return 1;
}

int settings_string_map(const ws_settings *s, const char *key, const char *const **out, size_t *n)
{
    RECORD(s, key, SETTINGS_STRING_MAP, 0, 0);
    json_t *v = settings_raw(s, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad(s, key, "expected an object of strings");
    const char **pairs = arena_alloc(s->a, (2 * json_object_size(v) + 1) * sizeof *pairs);
    if (!pairs)
        return oom(s, key);
    size_t i = 0;
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) {
        if (!json_is_string(e)) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s.%s", key, k);
            return bad(s, sub, "expected a string");
        }
        pairs[i++] = arena_strdup(s->a, k);
        pairs[i++] = arena_strdup(s->a, json_string_value(e));
        if (!pairs[i - 1] || !pairs[i - 2])
            return oom(s, key);
    }
    *out = pairs;
    *n = i / 2;
    return 1;
}

size_t settings_key_list(const ws_settings *s, const char *const **keys)
{
    *keys = s->keys;
    return s->n_keys;
}

ws_settings *settings_new_recorder(arena *a, const char *json_path, const char *config_file, const char *config_dir)
{
    json_t *empty = json_object();
    ws_settings *s = empty ? settings_make(a, empty, json_path, config_file, config_dir, NULL, 0, NULL) : NULL;
    json_decref(empty); /* no key is ever looked up in it: n_keys is 0 */
    if (!s)
        return NULL;
    s->obj = NULL;
    s->cap_rec = 16;
    s->rec = arena_alloc(a, s->cap_rec * sizeof *s->rec);
    return s->rec ? s : NULL;
}

size_t settings_recorded(const ws_settings *s, const settings_record **out)
{
    *out = s->rec;
    return s->n_rec;
}

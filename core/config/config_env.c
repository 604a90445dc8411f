/*
 * Environment in the config (SPEC §6): inside any JSON string value,
 * "${NAME}" is the variable's value, "${NAME:-default}" its value or the
 * default when it is unset or empty (as in the POSIX shell, XCU §2.6.2), and
 * "$$" is one "$". Any other "$" stays as it is, so a rewrite target such as
 * "/new/$1" needs no escaping. An unset variable without a default is an error
 * naming the string's JSON path.
 *
 * It runs once per load (start, -t, reload) on the parsed JSON tree, before any
 * key is read: the validated config only ever holds the expanded text and the
 * request path never sees a "$". Object keys are not expanded (a key names a
 * setting; it is not data).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* A growing output buffer; on allocation failure `oom` is set and writes stop. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

/* One "${…}" starting at s ("${" already seen at s[0..1]). Appends its value
 * and returns the number of bytes consumed, or -1 with why set. */
static long expand_one(const char *s, size_t n, strbuf *b, char *why, size_t whylen)
{
    size_t i = 2, start = 2;
    if (i >= n || !name_start(s[i])) {
        snprintf(why, whylen, "\"${\" must be followed by a variable name (write \"$$\" for a literal \"$\")");
        return -1;
    }
    while (i < n && name_char(s[i]))
        i++;
    size_t name_len = i - start;
    const char *def = NULL;
    size_t def_len = 0;
    if (i + 1 < n && s[i] == ':' && s[i + 1] == '-') {
        def = s + i + 2;
        const char *close = memchr(def, '}', n - (i + 2));
        if (!close) {
            snprintf(why, whylen, "\"${%.*s:-\" has no closing \"}\"", (int)(name_len > 64 ? 64 : name_len),
                     s + start);
            return -1;
        }
        def_len = (size_t)(close - def);
        i = (size_t)(close - s);
    }
    if (i >= n || s[i] != '}') {
        snprintf(why, whylen, "\"${%.*s\": expected \"}\" or \":-default}\" after the variable name",
                 (int)(name_len > 64 ? 64 : name_len), s + start);
        return -1;
    }
    char name[256];
    if (name_len >= sizeof name) {
        snprintf(why, whylen, "variable name longer than %zu characters", sizeof name - 1);
        return -1;
    }
    memcpy(name, s + start, name_len);
    name[name_len] = '\0';
    const char *val = getenv(name);
    if (def && (!val || !val[0]))
        sb_add(b, def, def_len);
    else if (val)
        sb_add(b, val, strlen(val));
    else {
        snprintf(why, whylen, "environment variable %s is not set (use \"${%s:-default}\" for a default)", name,
                 name);
        return -1;
    }
    return (long)(i + 1);
}

int config_env_expand(const char *in, size_t n, char **out, size_t *out_len, char *why, size_t whylen)
{
    strbuf b = {0};
    size_t i = 0;
    *out = NULL;
    while (i < n) {
        const char *d = memchr(in + i, '$', n - i);
        size_t lit = d ? (size_t)(d - (in + i)) : n - i;
        sb_add(&b, in + i, lit);
        i += lit;
        if (!d)
            break;
        if (i + 1 < n && in[i + 1] == '$') {
            sb_add(&b, "$", 1);
            i += 2;
        } else if (i + 1 < n && in[i + 1] == '{') {
            long used = expand_one(in + i, n - i, &b, why, whylen);
            if (used < 0) {
                free(b.p);
                return -1;
            }
            i += (size_t)used;
        } else {
            sb_add(&b, "$", 1);
            i++;
        }
    }
    sb_add(&b, "", 0); /* so an empty result is a buffer too */
    if (b.oom) {
        free(b.p);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

/* Walk the tree; path holds the JSON path of v (the SPEC §2 spelling). */
static int expand_value(cfg_ctx *x, json_t *v, char *path, size_t plen, size_t cap)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (!memchr(s, '$', n))
            return 0;
        char *res, why[512];
        size_t res_len;
        if (config_env_expand(s, n, &res, &res_len, why, sizeof why) < 0)
            return cfg_fail(x, path, "%s", why);
        int rc = json_string_setn(v, res, res_len);
        free(res);
        return rc == 0 ? 0 : cfg_fail(x, path, "out of memory");
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            snprintf(path + plen, cap - plen, "[%zu]", i);
            if (expand_value(x, e, path, strlen(path), cap) < 0)
                return -1;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", k);
            if (expand_value(x, e, path, strlen(path), cap) < 0)
                return -1;
        }
    }
    path[plen] = '\0';
    return 0;
}

int cfg_expand_env(cfg_ctx *x, json_t *root)
{
    char path[1024] = "";
    return expand_value(x, root, path, 0, sizeof path);
}

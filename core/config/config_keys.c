/*
 * Config keys that servers and locations share (index, methods, error_pages),
 * and the error helper of config_load.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"

int cfg_fail(cfg_ctx *x, const char *json_path, const char *fmt, ...)
{
    if (x->err[0])
        return -1; /* the first error is the one worth reading */
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json_path && json_path[0])
        snprintf(x->err, x->errlen, "%s: %s: %s", x->file, json_path, msg);
    else
        snprintf(x->err, x->errlen, "%s: %s", x->file, msg);
    return -1;
}

int cfg_index(ws_settings *s, const char *const **out, size_t *n)
{
    int r = settings_string_list(s, "index", out, n);
    for (size_t i = 0; r == 1 && i < *n; i++)
        if (!(*out)[i][0] || strchr((*out)[i], '/')) {
            char key[32];
            snprintf(key, sizeof key, "index[%zu]", i);
            settings_error(s, key, "expected a file name (not empty, no '/')");
            return -1;
        }
    return r;
}

/* RFC 9110 §5.6.2 token characters: a method is a token. */
static int is_token(const char *m)
{
    if (!*m)
        return 0;
    for (; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *m)))
            return 0;
    return 1;
}

static int has(const char *const *list, size_t n, const char *m)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], m) == 0)
            return 1;
    return 0;
}

/* methods: tokens, duplicates dropped, HEAD added right after GET (SPEC: GET allows HEAD). */
int cfg_methods(ws_settings *s, const char *const **out, size_t *n)
{
    const char *const *in;
    size_t cnt;
    int r = settings_string_list(s, "methods", &in, &cnt);
    if (r != 1)
        return r;
    const char **list = settings_alloc(s, (2 * cnt + 1) * sizeof *list);
    if (!list)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        char key[32];
        snprintf(key, sizeof key, "methods[%zu]", i);
        if (!is_token(in[i])) {
            settings_error(s, key, "\"%s\" is not a method name", in[i]);
            return -1;
        }
        if (!has(list, k, in[i]))
            list[k++] = in[i];
        if (strcmp(in[i], "GET") == 0 && !has(list, k, "HEAD"))
            list[k++] = "HEAD";
    }
    *out = list;
    *n = k;
    return 1;
}

static int parse_status_key(const char *k)
{
    int st = 0;
    if (strlen(k) != 3)
        return -1;
    for (const char *p = k; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        st = st * 10 + (*p - '0');
    }
    return st >= 300 && st <= 599 ? st : -1;
}

/* error_pages: { "404": "file", … }; every file must be a readable regular file now,
 * so a typo fails at startup instead of at the first error. */
int cfg_error_pages(cfg_ctx *x, ws_settings *s, error_page **out, size_t *n)
{
    json_t *obj = settings_raw(s, "error_pages");
    if (!obj)
        return 0;
    if (!json_is_object(obj)) {
        settings_error(s, "error_pages", "expected an object of status → file");
        return -1;
    }
    error_page *pages = arena_alloc(x->a, (json_object_size(obj) + 1) * sizeof *pages);
    if (!pages)
        return cfg_fail(x, settings_json_path(s), "out of memory");
    size_t cnt = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        char key[300];
        snprintf(key, sizeof key, "error_pages.%.200s", k);
        int st = parse_status_key(k);
        if (st < 0) {
            settings_error(s, key, "expected an HTTP status from 300 to 599 as the key");
            return -1;
        }
        if (!json_is_string(v) || !json_string_length(v)) {
            settings_error(s, key, "expected a file path");
            return -1;
        }
        const char *file = settings_abs_path(x->a, x->c->dir, json_string_value(v));
        struct stat st_buf;
        if (!file)
            return cfg_fail(x, settings_json_path(s), "out of memory");
        if (stat(file, &st_buf) < 0 || access(file, R_OK) < 0) {
            settings_error(s, key, "cannot read %s: %s", file, strerror(errno));
            return -1;
        }
        if (!S_ISREG(st_buf.st_mode)) {
            settings_error(s, key, "%s is not a regular file", file);
            return -1;
        }
        pages[cnt].status = st;
        pages[cnt++].file = file;
    }
    *out = pages;
    *n = cnt;
    return 1;
}

/*
 * Variables in "return.location" (SPEC §6): {scheme}, {host}, {port}, {uri},
 * {request_uri}, {query}, so "https://{host}{request_uri}" redirects HTTP to
 * HTTPS without a module. The config checks the names when it loads
 * (return_vars_check); requests expand them (return_vars_expand).
 */
#include "return_vars.h"

#include <stdio.h>
#include <string.h>

#include "arena.h"

static const char *const names[] = {"scheme", "host", "port", "uri", "request_uri", "query"};

/* The variable at p ("{name}..."): its index, and its length in *len; -1 if none. */
static int var_at(const char *p, size_t *len)
{
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(p + 1, names[i], n) == 0 && p[1 + n] == '}') {
            *len = n + 2;
            return (int)i;
        }
    }
    return -1;
}

int return_vars_check(const char *location, const char **bad)
{
    for (const char *p = location; (p = strchr(p, '{')) != NULL; p++) {
        size_t len;
        if (var_at(p, &len) < 0) {
            *bad = p;
            return -1;
        }
    }
    return 0;
}

int return_vars_present(const char *location)
{
    return strchr(location, '{') != NULL;
}

/* Percent-encode a decoded path for a URI (RFC 3986 §3.3). */
static size_t encoded_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("/-._~!$&'()*+,;=:@", *p)) ? 1 : 3;
    return n;
}

static char *encode(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~!$&'()*+,;=:@", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    return o;
}

char *return_vars_expand(struct arena *a, const char *location, const return_vars *v)
{
    char port[8];
    snprintf(port, sizeof port, "%u", v->port);
    const char *val[] = {v->scheme, v->host, port, v->uri, v->request_uri, v->query};
    size_t total = 1;
    for (const char *p = location; *p; p++) {
        size_t len;
        int k = *p == '{' ? var_at(p, &len) : -1;
        if (k < 0) {
            total++;
            continue;
        }
        total += k == 3 ? encoded_len(val[k]) : strlen(val[k]);
        p += len - 1;
    }
    char *out = arena_alloc(a, total), *o = out;
    if (!out)
        return NULL;
    for (const char *p = location; *p; p++) {
        size_t len;
        int k = *p == '{' ? var_at(p, &len) : -1;
        if (k < 0) {
            *o++ = *p;
            continue;
        }
        if (k == 3) {
            o = encode(o, val[k]);
        } else {
            memcpy(o, val[k], strlen(val[k]));
            o += strlen(val[k]);
        }
        p += len - 1;
    }
    *o = '\0';
    return out;
}

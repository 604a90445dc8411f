/* Response header fields as a list in the request's pool (resp_headers.h). */
#include "resp_headers.h"

#include <string.h>
#include <strings.h>

#include "arena.h"
#include "request.h"

/* Most responses have a handful of fields: one allocation covers them. */
#define FIRST_CAP 8

static resp_header *slot(request *r)
{
    resp_headers *h = &r->resp_headers;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : FIRST_CAP;
        resp_header *v = arena_alloc(r->pool, cap * sizeof *v);
        if (!v)
            return NULL;
        if (h->n)
            memcpy(v, h->v, h->n * sizeof *v);
        h->v = v;
        h->cap = cap;
    }
    return &h->v[h->n++];
}

int resp_header_add(request *r, const char *name, size_t name_len, const char *value, size_t value_len)
{
    char *s = arena_alloc_raw(r->pool, name_len + value_len + 2); /* filled below */
    if (!s)
        return -1;
    resp_header *f = slot(r);
    if (!f)
        return -1;
    memcpy(s, name, name_len);
    s[name_len] = '\0';
    memcpy(s + name_len + 1, value, value_len);
    s[name_len + 1 + value_len] = '\0';
    *f = (resp_header){s, s + name_len + 1, name_len, value_len};
    return 0;
}

int resp_header_add_ref(request *r, const char *name, const char *value)
{
    resp_header *f = slot(r);
    if (!f)
        return -1;
    *f = (resp_header){name, value, strlen(name), strlen(value)};
    return 0;
}

/* Is field f named name (n bytes)? The stored length rules out most fields
 * without a case-insensitive compare (header filters look names up often). */
static int named(const resp_header *f, const char *name, size_t n)
{
    return f->name_len == n && strcasecmp(f->name, name) == 0;
}

const char *resp_header_get(const request *r, const char *name)
{
    const resp_headers *h = &r->resp_headers;
    size_t n = strlen(name);
    for (size_t i = 0; i < h->n; i++)
        if (named(&h->v[i], name, n))
            return h->v[i].value;
    return NULL;
}

/* Remove fields named name from index `from` on, keeping the order of the rest. */
static size_t remove_from(resp_headers *h, size_t from, const char *name)
{
    size_t k = from, gone = 0, n = strlen(name);
    for (size_t i = from; i < h->n; i++) {
        if (named(&h->v[i], name, n))
            gone++;
        else
            h->v[k++] = h->v[i];
    }
    h->n = k;
    return gone;
}

int resp_header_set_n(request *r, const char *name, size_t n, const char *value, size_t vn)
{
    resp_headers *h = &r->resp_headers;
    for (size_t i = 0; i < h->n; i++) {
        if (!named(&h->v[i], name, n))
            continue;
        char *v = arena_strndup(r->pool, value, vn);
        if (!v)
            return -1;
        h->v[i].value = v;
        h->v[i].value_len = vn;
        remove_from(h, i + 1, name);
        return 0;
    }
    return resp_header_add(r, name, n, value, vn);
}

int resp_header_set(request *r, const char *name, const char *value)
{
    return resp_header_set_n(r, name, strlen(name), value, strlen(value));
}

size_t resp_header_remove(request *r, const char *name)
{
    return remove_from(&r->resp_headers, 0, name);
}

void resp_headers_clear(request *r)
{
    r->resp_headers.n = 0;
}

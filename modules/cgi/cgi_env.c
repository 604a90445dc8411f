/*
 * The script's environment: the meta-variables of RFC 3875 §4.1, the usual
 * extras (SCRIPT_FILENAME, DOCUMENT_ROOT, REQUEST_URI, REDIRECT_STATUS), the
 * request's header fields as HTTP_* (§4.1.18), PATH and the configured "env".
 * Nothing else of the server's own environment reaches the script.
 */
#include "cgi_env.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* The pairs are built without copying: names and values point at literals,
 * the request's own strings and the config; only numbers, HTTP_* names and
 * joined values get memory of their own. (Building "NAME=value" strings and
 * splitting them again was a third of a PHP request's instructions.) */
typedef struct env_builder {
    const ws_host *host;
    ws_request *r;
    cgi_pair *v;
    size_t n, cap;
    size_t scan;      /* a set replaces among the first `scan` entries (PATH and configured) ... */
    size_t http_from; /* ... and those from here on (the HTTP_* ones, once they start) */
    int oom;
} env_builder;

static char *join3(const ws_host *host, ws_request *r, const char *a, size_t an, const char *b, size_t bn,
                   const char *c, size_t cn)
{
    char *s = host->alloc(r, an + bn + cn + 1);
    if (!s)
        return NULL;
    memcpy(s, a, an);
    memcpy(s + an, b, bn);
    memcpy(s + an + bn, c, cn);
    s[an + bn + cn] = '\0';
    return s;
}

/* The entry named NAME, or NULL. Meta-variables are set once, so only the
 * entries that a set may replace are searched. */
static cgi_pair *env_find(const env_builder *e, const char *name, size_t nlen)
{
    size_t first = e->scan < e->n ? e->scan : e->n;
    for (size_t i = 0; i < first; i++)
        if (e->v[i].nlen == nlen && memcmp(e->v[i].name, name, nlen) == 0)
            return &e->v[i];
    for (size_t i = e->http_from; i < e->n; i++)
        if (e->v[i].nlen == nlen && memcmp(e->v[i].name, name, nlen) == 0)
            return &e->v[i];
    return NULL;
}

/* Set NAME=value; a later value replaces an earlier one in its place. */
static void env_setn(env_builder *e, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (e->oom)
        return;
    cgi_pair *at = env_find(e, name, nlen);
    if (at) {
        at->value = value;
        at->vlen = vlen;
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 48;
        cgi_pair *v = e->host->alloc(e->r, cap * sizeof *v);
        if (!v) {
            e->oom = 1;
            return;
        }
        if (e->n)
            memcpy(v, e->v, e->n * sizeof *v);
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (cgi_pair){.name = name, .nlen = nlen, .value = value, .vlen = vlen};
}

static void env_set(env_builder *e, const char *name, const char *value)
{
    if (!value)
        value = "";
    env_setn(e, name, strlen(name), value, strlen(value));
}

/* A literal name: its length known at compile time. */
#define ENV_SET(e, lit, value) env_set_lit(e, lit, sizeof lit - 1, value)
static void env_set_lit(env_builder *e, const char *name, size_t nlen, const char *value)
{
    if (!value)
        value = "";
    env_setn(e, name, nlen, value, strlen(value));
}

static void env_setnum(env_builder *e, const char *name, size_t nlen, int64_t n)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (n < 0)
        *--p = '-';
    size_t len = (size_t)(tmp + sizeof tmp - p);
    char *v = e->host->alloc(e->r, len + 1);
    if (!v) {
        e->oom = 1;
        return;
    }
    memcpy(v, p, len);
    v[len] = '\0';
    env_setn(e, name, nlen, v, len);
}
#define ENV_SETNUM(e, lit, n) env_setnum(e, lit, sizeof lit - 1, n)

/* §4.1.18: HTTP_ + the name upper-cased with "-" as "_". Names holding any
 * other character are skipped, so "X_Foo" cannot pose as "X-Foo". The name
 * in request memory and its length in *len; NULL to skip (or out of memory:
 * e->oom). */
static char *http_var_name(env_builder *e, const char *field, size_t *len)
{
    size_t n = strlen(field);
    if (n == 0 || n + 6 > 512)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (field[i] != '-' && !isalnum((unsigned char)field[i]))
            return NULL;
    char *out = e->host->alloc(e->r, n + 6);
    if (!out) {
        e->oom = 1;
        return NULL;
    }
    memcpy(out, "HTTP_", 5);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)field[i];
        out[5 + i] = ch == '-' ? '_' : (char)toupper(ch);
    }
    out[5 + n] = '\0';
    *len = 5 + n;
    return out;
}

static int header_skipped(const char *name)
{
    /* Proxy: httpoxy (CVE-2016-5385) — a script would take it for HTTP_PROXY.
     * Content-Length/Type: already CONTENT_LENGTH and CONTENT_TYPE (§4.1.18).
     * Transfer-Encoding: the body reaches the script de-chunked. */
    switch (strlen(name)) {
    case 5:
        return strcasecmp(name, "Proxy") == 0;
    case 12:
        return strcasecmp(name, "Content-Type") == 0;
    case 14:
        return strcasecmp(name, "Content-Length") == 0;
    case 17:
        return strcasecmp(name, "Transfer-Encoding") == 0;
    default:
        return 0;
    }
}

/* The user an access module (auth_basic, ABI 1.2) verified, or NULL. */
static const char *verified_user(const ws_request *r)
{
    return r->size >= offsetof(ws_request, auth_type) + sizeof r->auth_type ? r->remote_user : NULL;
}

/* Several fields of one name become one value (§4.1.18), joined as HTTP
 * joins them; Cookie uses "; " (RFC 6265 §5.4). */
static void add_headers(env_builder *e, const ws_request *r)
{
    /* Once the server checked the credentials they stay with it: the script
     * gets REMOTE_USER and AUTH_TYPE, never the password (§4.1.18 "SHOULD NOT"
     * pass authentication fields). Without server authentication a script
     * that checks the field itself still finds it. */
    int authenticated = verified_user(r) != NULL;
    e->http_from = e->n;
    for (size_t i = 0; i < r->n_headers && !e->oom; i++) {
        const ws_header *h = &r->headers[i];
        if (header_skipped(h->name))
            continue;
        if (authenticated && (strcasecmp(h->name, "Authorization") == 0 || strcasecmp(h->name, "Proxy-Authorization") == 0))
            continue;
        size_t nlen;
        char *var = http_var_name(e, h->name, &nlen);
        if (!var)
            continue;
        cgi_pair *at = env_find(e, var, nlen);
        int seen = 0;
        for (size_t j = 0; at && j < i && !seen; j++)
            seen = strcasecmp(r->headers[j].name, h->name) == 0;
        if (at && seen) {
            int cookie = strcasecmp(h->name, "Cookie") == 0;
            char *joined = join3(e->host, e->r, at->value, at->vlen, cookie ? "; " : ", ", 2, h->value, strlen(h->value));
            if (!joined) {
                e->oom = 1;
                return;
            }
            at->value = joined;
            at->vlen = strlen(joined);
        } else {
            env_setn(e, var, nlen, h->value, strlen(h->value));
        }
    }
}

/* REQUEST_URI: the target as sent, path and query; an absolute-form target
 * is cut to its path. */
static const char *request_uri(const ws_request *r)
{
    const char *t = r->target ? r->target : r->path;
    if (t[0] == '/' || t[0] == '*')
        return t;
    const char *scheme = strstr(t, "://");
    if (!scheme)
        return t;
    const char *p = strpbrk(scheme + 3, "/?");
    return p ? (*p == '/' ? p : r->path) : "/";
}

cgi_pair *cgi_env_pairs(const ws_host *host, ws_request *r, const char *const *env, size_t n_env,
                        const cgi_env_script *s, int64_t content_length, size_t *n)
{
    env_builder e = { .host = host, .r = r, .scan = (size_t)-1, .http_from = (size_t)-1 };
    const char *path = getenv("PATH");
    ENV_SET(&e, "PATH", path && *path ? path : DEFAULT_PATH);
    for (size_t i = 0; i < n_env; i++)
        env_set(&e, env[2 * i], env[2 * i + 1]);
    /* Each meta-variable below is set once: it can only replace PATH or a
     * configured one, so only those are searched. */
    e.scan = e.n;

    /* §4.1, in the RFC's order. AUTH_TYPE and REMOTE_USER (§4.1.1, §4.1.11)
     * name what an access module verified (auth_basic: "Basic"), else empty. */
    const char *user = verified_user(r);
    ENV_SET(&e, "AUTH_TYPE", user && r->auth_type ? r->auth_type : "");
    if (content_length >= 0)
        ENV_SETNUM(&e, "CONTENT_LENGTH", content_length); /* §4.1.2: only with a body */
    const char *ctype = host->header(r, "Content-Type");
    if (ctype)
        ENV_SET(&e, "CONTENT_TYPE", ctype); /* §4.1.3 */
    ENV_SET(&e, "GATEWAY_INTERFACE", "CGI/1.1");
    ENV_SET(&e, "PATH_INFO", s->path_info); /* §4.1.5: "" when there is no extra path */
    if (s->path_info[0]) {
        /* §4.1.6: PATH_INFO mapped like a request path; only when PATH_INFO is not empty. */
        char *pt = join3(host, r, r->root, strlen(r->root), s->path_info, strlen(s->path_info), "", 0);
        if (pt)
            ENV_SET(&e, "PATH_TRANSLATED", pt);
        else
            e.oom = 1;
    }
    ENV_SET(&e, "QUERY_STRING", r->query ? r->query : ""); /* §4.1.7: never unset */
    ENV_SET(&e, "REMOTE_ADDR", r->remote_addr);
    ENV_SETNUM(&e, "REMOTE_PORT", r->remote_port);
    ENV_SET(&e, "REMOTE_USER", user ? user : "");
    ENV_SET(&e, "REQUEST_METHOD", r->method);
    ENV_SET(&e, "SCRIPT_NAME", s->name);
    ENV_SET(&e, "SERVER_NAME", r->host ? r->host : r->local_addr);
    ENV_SETNUM(&e, "SERVER_PORT", r->local_port);
    ENV_SET(&e, "SERVER_PROTOCOL", r->http_minor == WS_HTTP2_MINOR ? "HTTP/2" : r->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
    ENV_SET(&e, "SERVER_SOFTWARE", host->server_software);

    /* HTTPS (RFC 3875 §4.1.17 leaves the protocol's own variables to it):
     * the names Apache's mod_ssl gives, which scripts and php-cgi read to
     * build their own URLs. A core older than ABI 1.2 says nothing: http. */
    int has_tls = r->size >= offsetof(ws_request, tls) + sizeof r->tls;
    const char *scheme = has_tls && r->scheme ? r->scheme : "http";
    ENV_SET(&e, "REQUEST_SCHEME", scheme);
    if (strcmp(scheme, "https") == 0)
        ENV_SET(&e, "HTTPS", "on");
    const ws_tls_info *tls = has_tls ? r->tls : NULL;
    if (tls && tls->size >= offsetof(ws_tls_info, resumed) + sizeof tls->resumed) {
        ENV_SET(&e, "SSL_PROTOCOL", tls->protocol);
        ENV_SET(&e, "SSL_CIPHER", tls->cipher);
        if (tls->sni)
            ENV_SET(&e, "SSL_TLS_SNI", tls->sni);
        if (tls->client_subject)
            ENV_SET(&e, "SSL_CLIENT_S_DN", tls->client_subject);
        ENV_SET(&e, "SSL_SESSION_RESUMED", tls->resumed ? "Resumed" : "Initial");
    }

    /* What scripts and interpreters (php-cgi) expect beyond the RFC. */
    ENV_SET(&e, "SERVER_ADDR", r->local_addr);
    ENV_SET(&e, "SCRIPT_FILENAME", s->filename);
    ENV_SET(&e, "DOCUMENT_ROOT", r->root);
    ENV_SET(&e, "REQUEST_URI", request_uri(r));
    ENV_SET(&e, "REDIRECT_STATUS", "200");

    add_headers(&e, r); /* HTTP_* may meet a configured name or each other */
    if (e.oom || !e.v)
        return NULL;
    *n = e.n;
    return e.v;
}

char **cgi_env_build(const ws_host *host, ws_request *r, const char *const *env, size_t n_env,
                     const cgi_env_script *s, int64_t content_length)
{
    size_t n, bytes = 0;
    cgi_pair *p = cgi_env_pairs(host, r, env, n_env, s, content_length, &n);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        bytes += p[i].nlen + 1 + p[i].vlen + 1;
    char **v = host->alloc(r, (n + 1) * sizeof *v);
    char *at = host->alloc(r, bytes ? bytes : 1);
    if (!v || !at)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i] = at;
        memcpy(at, p[i].name, p[i].nlen);
        at += p[i].nlen;
        *at++ = '=';
        memcpy(at, p[i].value, p[i].vlen);
        at += p[i].vlen;
        *at++ = '\0';
    }
    v[n] = NULL;
    return v;
}

int cgi_script_in_location(const ws_request *r, size_t n)
{
    size_t loclen = r->location ? strlen(r->location) : 0;
    while (loclen > 0 && r->location[loclen - 1] == '/')
        loclen--;
    return n >= loclen;
}

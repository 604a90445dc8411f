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

typedef struct env_builder {
    const ws_host *host;
    ws_request *r;
    char **v;
    size_t *nlen; /* the name's length of each entry: most lookups end on it */
    size_t n, cap;
    size_t scan;  /* a set replaces among the first `scan` entries only (see cgi_env_build) */
    int oom;
} env_builder;

static char *concat3(const ws_host *host, ws_request *r, const char *a, size_t an, const char *b, const char *c)
{
    size_t bn = strlen(b), cn = strlen(c);
    char *s = host->alloc(r, an + bn + cn + 1);
    if (!s)
        return NULL;
    memcpy(s, a, an);
    memcpy(s + an, b, bn);
    memcpy(s + an + bn, c, cn);
    return s;
}

/* Index of NAME in the list, or -1. */
static long env_find(const env_builder *e, const char *name, size_t nlen)
{
    for (size_t i = 0; i < e->n && i < e->scan; i++)
        if (e->nlen[i] == nlen && memcmp(e->v[i], name, nlen) == 0)
            return (long)i;
    return -1;
}

/* Set NAME=value; a later value replaces an earlier one. */
static void env_set(env_builder *e, const char *name, const char *value)
{
    if (e->oom)
        return;
    size_t nlen = strlen(name);
    char *entry = concat3(e->host, e->r, name, nlen, "=", value ? value : "");
    if (!entry) {
        e->oom = 1;
        return;
    }
    long at = env_find(e, name, nlen);
    if (at >= 0) {
        e->v[at] = entry;
        return;
    }
    if (e->n + 1 >= e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        char **v = e->host->alloc(e->r, cap * sizeof *v);
        size_t *nl = e->host->alloc(e->r, cap * sizeof *nl);
        if (!v || !nl) {
            e->oom = 1;
            return;
        }
        if (e->n) {
            memcpy(v, e->v, e->n * sizeof *v);
            memcpy(nl, e->nlen, e->n * sizeof *nl);
        }
        e->v = v;
        e->nlen = nl;
        e->cap = cap;
    }
    e->nlen[e->n] = nlen;
    e->v[e->n++] = entry;
}

static void env_setnum(env_builder *e, const char *name, int64_t n)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, n);
    env_set(e, name, num);
}

/* §4.1.18: HTTP_ + the name upper-cased with "-" as "_". Names holding any
 * other character are skipped, so "X_Foo" cannot pose as "X-Foo". 0 = skip. */
static int http_var_name(const char *field, char *out, size_t outlen)
{
    size_t n = strlen(field);
    if (n == 0 || n + 6 > outlen)
        return 0;
    memcpy(out, "HTTP_", 5);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)field[i];
        if (ch == '-')
            out[5 + i] = '_';
        else if (isalnum(ch))
            out[5 + i] = (char)toupper(ch);
        else
            return 0;
    }
    out[5 + n] = '\0';
    return 1;
}

static int header_skipped(const char *name)
{
    /* Proxy: httpoxy (CVE-2016-5385) — a script would take it for HTTP_PROXY.
     * Content-Length/Type: already CONTENT_LENGTH and CONTENT_TYPE (§4.1.18).
     * Transfer-Encoding: the body reaches the script de-chunked. */
    return strcasecmp(name, "Proxy") == 0 || strcasecmp(name, "Content-Length") == 0 ||
           strcasecmp(name, "Content-Type") == 0 || strcasecmp(name, "Transfer-Encoding") == 0;
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
    char var[512];
    /* Once the server checked the credentials they stay with it: the script
     * gets REMOTE_USER and AUTH_TYPE, never the password (§4.1.18 "SHOULD NOT"
     * pass authentication fields). Without server authentication a script
     * that checks the field itself still finds it. */
    int authenticated = verified_user(r) != NULL;
    for (size_t i = 0; i < r->n_headers && !e->oom; i++) {
        const ws_header *h = &r->headers[i];
        if (header_skipped(h->name) || !http_var_name(h->name, var, sizeof var))
            continue;
        if (authenticated && (strcasecmp(h->name, "Authorization") == 0 || strcasecmp(h->name, "Proxy-Authorization") == 0))
            continue;
        long at = env_find(e, var, strlen(var));
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(r->headers[j].name, h->name) == 0)
                seen = 1;
        if (at >= 0 && seen) {
            const char *sep = strcasecmp(h->name, "Cookie") == 0 ? "; " : ", ";
            char *joined = concat3(e->host, e->r, e->v[at], strlen(e->v[at]), sep, h->value);
            if (!joined)
                e->oom = 1;
            else
                e->v[at] = joined;
        } else {
            env_set(e, var, h->value);
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

char **cgi_env_build(const ws_host *host, ws_request *r, const char *const *env, size_t n_env,
                     const cgi_env_script *s, int64_t content_length)
{
    env_builder e = { .host = host, .r = r, .scan = (size_t)-1 };
    const char *path = getenv("PATH");
    env_set(&e, "PATH", path && *path ? path : DEFAULT_PATH);
    for (size_t i = 0; i < n_env; i++)
        env_set(&e, env[2 * i], env[2 * i + 1]);
    /* Each meta-variable below is set once: it can only replace PATH or a
     * configured one, so only those are searched. */
    e.scan = e.n;

    /* §4.1, in the RFC's order. AUTH_TYPE and REMOTE_USER (§4.1.1, §4.1.11)
     * name what an access module verified (auth_basic: "Basic"), else empty. */
    const char *user = verified_user(r);
    env_set(&e, "AUTH_TYPE", user && r->auth_type ? r->auth_type : "");
    if (content_length >= 0)
        env_setnum(&e, "CONTENT_LENGTH", content_length); /* §4.1.2: only with a body */
    const char *ctype = host->header(r, "Content-Type");
    if (ctype)
        env_set(&e, "CONTENT_TYPE", ctype); /* §4.1.3 */
    env_set(&e, "GATEWAY_INTERFACE", "CGI/1.1");
    env_set(&e, "PATH_INFO", s->path_info); /* §4.1.5: "" when there is no extra path */
    if (s->path_info[0]) {
        /* §4.1.6: PATH_INFO mapped like a request path; only when PATH_INFO is not empty. */
        char *pt = concat3(host, r, r->root, strlen(r->root), s->path_info, "");
        if (pt)
            env_set(&e, "PATH_TRANSLATED", pt);
        else
            e.oom = 1;
    }
    env_set(&e, "QUERY_STRING", r->query ? r->query : ""); /* §4.1.7: never unset */
    env_set(&e, "REMOTE_ADDR", r->remote_addr);
    env_setnum(&e, "REMOTE_PORT", r->remote_port);
    env_set(&e, "REMOTE_USER", user ? user : "");
    env_set(&e, "REQUEST_METHOD", r->method);
    env_set(&e, "SCRIPT_NAME", s->name);
    env_set(&e, "SERVER_NAME", r->host ? r->host : r->local_addr);
    env_setnum(&e, "SERVER_PORT", r->local_port);
    env_set(&e, "SERVER_PROTOCOL", r->http_minor == WS_HTTP2_MINOR ? "HTTP/2" : r->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
    env_set(&e, "SERVER_SOFTWARE", host->server_software);

    /* HTTPS (RFC 3875 §4.1.17 leaves the protocol's own variables to it):
     * the names Apache's mod_ssl gives, which scripts and php-cgi read to
     * build their own URLs. A core older than ABI 1.2 says nothing: http. */
    int has_tls = r->size >= offsetof(ws_request, tls) + sizeof r->tls;
    const char *scheme = has_tls && r->scheme ? r->scheme : "http";
    env_set(&e, "REQUEST_SCHEME", scheme);
    if (strcmp(scheme, "https") == 0)
        env_set(&e, "HTTPS", "on");
    const ws_tls_info *tls = has_tls ? r->tls : NULL;
    if (tls && tls->size >= offsetof(ws_tls_info, resumed) + sizeof tls->resumed) {
        env_set(&e, "SSL_PROTOCOL", tls->protocol);
        env_set(&e, "SSL_CIPHER", tls->cipher);
        if (tls->sni)
            env_set(&e, "SSL_TLS_SNI", tls->sni);
        if (tls->client_subject)
            env_set(&e, "SSL_CLIENT_S_DN", tls->client_subject);
        env_set(&e, "SSL_SESSION_RESUMED", tls->resumed ? "Resumed" : "Initial");
    }

    /* What scripts and interpreters (php-cgi) expect beyond the RFC. */
    env_set(&e, "SERVER_ADDR", r->local_addr);
    env_set(&e, "SCRIPT_FILENAME", s->filename);
    env_set(&e, "DOCUMENT_ROOT", r->root);
    env_set(&e, "REQUEST_URI", request_uri(r));
    env_set(&e, "REDIRECT_STATUS", "200");

    e.scan = (size_t)-1; /* HTTP_* may meet a configured name or each other */
    add_headers(&e, r);
    if (e.oom || !e.v)
        return NULL;
    e.v[e.n] = NULL;
    return e.v;
}

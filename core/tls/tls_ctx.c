/*
 * One SSL_CTX per server with a "tls" key (SPEC §6), built while the config
 * loads: a certificate that cannot be read, has expired, or does not match
 * its key fails the load naming the file, so `webserv -t` catches it and a
 * reload with a broken certificate keeps the old one serving.
 *
 * Every context has: TLS 1.2 and 1.3 only (whatever "protocols" says, never
 * older); renegotiation off (RFC 5746 is moot when nobody renegotiates);
 * the TLS 1.2 cipher list and ECDH groups; the shared rotating ticket keys
 * (tls_tickets.c) and the session cache the workers share (tls_cache.c);
 * ALPN; kernel TLS when the kernel has
 * it. SNI is read in the client hello callback, before version and cipher
 * negotiation, so the chosen server's whole context applies (tls_switch_ctx).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "router.h"
#include "tls.h"
#include "tls_internal.h"

#define EXPIRY_WARN_DAYS 14

/* The staple of one server, handed to OpenSSL per handshake (it frees it). */
typedef struct ocsp_staple {
    unsigned char *der;
    long len;
} ocsp_staple;

static int staple_index = -1;

typedef struct build {
    ws_config *c;
    const char *file; /* config file, for messages */
    char *err;
    size_t errlen;
    int ktls; /* kernel TLS may be there */
} build;

static int fail(build *b, const tls_conf *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(build *b, const tls_conf *t, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    char ossl[256] = "";
    if (e)
        snprintf(ossl, sizeof ossl, " (%s)", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "OpenSSL error");
    ERR_clear_error();
    snprintf(b->err, b->errlen, "%s: %s.%s: %s%s", b->file, t->json_path, key, msg, ossl);
    return -1;
}

/* An unreadable file gets errno's words, which say more than OpenSSL's. */
static int readable(build *b, const tls_conf *t, const char *key, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(b, t, key, "%s: %s", path, strerror(errno));
    fclose(f);
    return 0;
}

/* Expired → error; expiring within 14 days → a warning; not yet valid → a warning. */
static int check_dates(build *b, const tls_conf *t, SSL_CTX *ctx)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x)
        return fail(b, t, "certificate", "%s: no certificate", t->certificate);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
        return fail(b, t, "certificate", "%s: the certificate has expired", t->certificate);
    time_t soon = time(NULL) + EXPIRY_WARN_DAYS * 86400;
    if (X509_cmp_time(X509_get0_notAfter(x), &soon) <= 0)
        log_msg(WS_LOG_WARN, "WS1501", "%s: %s.certificate: %s expires within %d days", b->file, t->json_path,
                t->certificate, EXPIRY_WARN_DAYS);
    if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        log_msg(WS_LOG_WARN, "WS1502", "%s: %s.certificate: %s is not valid yet", b->file, t->json_path,
                t->certificate);
    return 0;
}

/* No passphrase prompts: a server starts unattended, so an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

static int load_cert_and_key(build *b, const tls_conf *t, SSL_CTX *ctx)
{
    if (readable(b, t, "certificate", t->certificate) < 0 || readable(b, t, "key", t->key) < 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1)
        return fail(b, t, "certificate", "%s: not a PEM certificate chain", t->certificate);
    FILE *f = fopen(t->key, "r");
    EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, no_passphrase, NULL) : NULL;
    if (f)
        fclose(f);
    if (!pk)
        return fail(b, t, "key", "%s: not a PEM private key (or one with a passphrase)", t->key);
    int ok = SSL_CTX_use_PrivateKey(ctx, pk) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(pk);
    if (!ok)
        return fail(b, t, "key", "%s does not match the certificate %s", t->key, t->certificate);
    return check_dates(b, t, ctx);
}

static void staple_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    ocsp_staple *s = ptr;
    if (s) {
        OPENSSL_free(s->der);
        OPENSSL_free(s);
    }
}

/* RFC 6066 §8: hand the stapled OCSP response to a client that asks. */
static int status_cb(SSL *ssl, void *arg)
{
    (void)arg;
    const ocsp_staple *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), staple_index);
    if (!s || SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_memdup(s->der, (size_t)s->len);
    if (!copy || SSL_set_tlsext_status_ocsp_resp(ssl, copy, s->len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int load_staple(build *b, const tls_conf *t, SSL_CTX *ctx)
{
    if (!t->ocsp_staple)
        return 0;
    FILE *f = fopen(t->ocsp_staple, "rb");
    if (!f)
        return fail(b, t, "ocsp_staple", "%s: %s", t->ocsp_staple, strerror(errno));
    static unsigned char buf[65536]; /* an OCSP response is a few KiB */
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const unsigned char *p = buf;
    OCSP_RESPONSE *resp = got < sizeof buf ? d2i_OCSP_RESPONSE(NULL, &p, (long)got) : NULL;
    if (!resp)
        return fail(b, t, "ocsp_staple", "%s: not a DER OCSP response", t->ocsp_staple);
    ocsp_staple *s = OPENSSL_zalloc(sizeof *s);
    unsigned char *der = NULL;
    int len = i2d_OCSP_RESPONSE(resp, &der);
    OCSP_RESPONSE_free(resp);
    if (!s || len <= 0) {
        OPENSSL_free(s);
        OPENSSL_free(der);
        return fail(b, t, "ocsp_staple", "%s: out of memory", t->ocsp_staple);
    }
    s->der = der;
    s->len = len;
    SSL_CTX_set_ex_data(ctx, staple_index, s);
    SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
    return 0;
}

static int load_client_ca(build *b, const tls_conf *t, SSL_CTX *ctx)
{
    if (!t->client_ca)
        return 0;
    if (readable(b, t, "client_ca", t->client_ca) < 0)
        return -1;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
    if (!names || SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return fail(b, t, "client_ca", "%s: no PEM CA certificate in it", t->client_ca);
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

/* RFC 7301: the first of the address's protocols (SPEC §6 "protocols": h2
 * before http/1.1) that the client offers; a client that offers only
 * protocols we do not speak gets no_application_protocol (§3.2). */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    (void)arg;
    const tls_route *rt = tls_route_of(ssl);
    unsigned protos = rt && rt->bind ? rt->bind->addr.protocols : LISTEN_PROTO_HTTP1;
    /* Static: OpenSSL's selection points into this list. */
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    const unsigned char *ours = both + ((protos & LISTEN_PROTO_H2) ? 0 : 3);
    unsigned int n = (protos & LISTEN_PROTO_H2 ? 3 : 0) + (protos & LISTEN_PROTO_HTTP1 ? 9 : 0);
    unsigned char *sel = NULL;
    if (!n || SSL_select_next_proto(&sel, outlen, ours, n, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The server_name extension (RFC 6066 §3) of a ClientHello: the host_name
 * entry, copied into out ("" when absent or malformed: the default server).
 * The callback runs before OpenSSL parses the extensions, so the name is
 * read here rather than with SSL_get_servername. */
static void sni_from_hello(SSL *ssl, char *out, size_t outlen)
{
    const unsigned char *p;
    size_t len;
    out[0] = '\0';
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
        return;
    size_t list = (size_t)p[0] << 8 | p[1];
    if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name)
        return;
    size_t n = (size_t)p[3] << 8 | p[4];
    if (n == 0 || n + 5 > len || n >= outlen || memchr(p + 5, '\0', n))
        return;
    memcpy(out, p + 5, n);
    out[n] = '\0';
}

static int client_hello_cb(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    tls_route *rt = tls_route_of(ssl);
    if (!rt || !rt->bind) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    char name[256];
    sni_from_hello(ssl, name, sizeof name);
    /* A second ClientHello (after a HelloRetryRequest, RFC 8446 §4.1.4)
     * runs this again: its name is the one that counts. */
    free(rt->sni);
    rt->sni = NULL;
    if (name[0] && !(rt->sni = strdup(name))) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    const server_conf *s = router_server(rt->bind, rt->local, name, strlen(name));
    if (!s->tls_ctx || tls_switch_ctx(ssl, s) < 0) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Kernel TLS (SSL_OP_ENABLE_KTLS) costs two failing system calls per
 * handshake (TCP_ULP, then SOL_TLS) on a kernel without the tls module, so
 * ask the kernel once per config load: setting the "tls" ULP on an unconnected
 * TCP socket says ENOENT when no such ULP exists (after the kernel's own
 * attempt to load the module), ENOTCONN when it does. Anything else (no
 * socket, an older kernel without TCP_ULP): let OpenSSL try per connection. */
static int kernel_may_have_tls(void)
{
#if defined(__linux__) && defined(TCP_ULP)
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    int rc = setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls");
    int e = errno;
    close(fd);
    return rc == 0 || e != ENOENT;
#else
    return 1;
#endif
}

static int proto_bounds(const tls_conf *t, int *min, int *max)
{
    *min = t->protocols & TLS_PROTO_V12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    *max = t->protocols & TLS_PROTO_V13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    return 0;
}

int tls_switch_ctx(SSL *ssl, const server_conf *s)
{
    SSL_CTX *ctx = s->tls_ctx;
    if (SSL_get_SSL_CTX(ssl) == ctx)
        return 0;
    const tls_conf *t = s->tls;
    int min, max;
    proto_bounds(t, &min, &max);
    if (!SSL_set_SSL_CTX(ssl, ctx) || !SSL_set_min_proto_version(ssl, min) || !SSL_set_max_proto_version(ssl, max) ||
        !SSL_set_cipher_list(ssl, t->ciphers) || !SSL_set1_groups_list(ssl, t->groups))
        return -1;
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
    SSL_clear_options(ssl, SSL_OP_NO_TICKET);
    SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    return 0;
}

/* Stable across workers, reloads and restarts for one server: a session is
 * resumed only by the server (names and certificate) that made it. */
static void set_session_id_context(SSL_CTX *ctx, const server_conf *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < s->n_names; i++)
        ok = EVP_DigestUpdate(h, s->names[i], strlen(s->names[i]) + 1) == 1;
    ok = ok && EVP_DigestUpdate(h, s->tls->certificate, strlen(s->tls->certificate)) == 1 &&
         EVP_DigestFinal_ex(h, md, &n) == 1;
    EVP_MD_CTX_free(h);
    if (ok)
        SSL_CTX_set_session_id_context(ctx, md, n < SSL_MAX_SID_CTX_LENGTH ? n : SSL_MAX_SID_CTX_LENGTH);
}

static SSL_CTX *build_ctx(build *b, const server_conf *s)
{
    const tls_conf *t = s->tls;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fail(b, t, "certificate", "cannot create a TLS context");
        return NULL;
    }
    int min, max;
    proto_bounds(t, &min, &max);
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 (b->ktls ? SSL_OP_ENABLE_KTLS : 0) | (t->session_tickets ? 0 : SSL_OP_NO_TICKET));
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Take what the socket holds in one read instead of a read for each
     * record's header and one for its body: a handshake flight, or a request
     * that came with the client's Finished, is one system call. The bytes
     * OpenSSL then holds beyond a record are found by tls_pending. */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        fail(b, t, "ciphers", "\"%s\" names no usable TLS 1.2 cipher", t->ciphers);
        goto bad;
    }
    if (SSL_CTX_set1_groups_list(ctx, t->groups) != 1) {
        fail(b, t, "groups", "\"%s\": unknown group", t->groups);
        goto bad;
    }
    if (load_cert_and_key(b, t, ctx) < 0 || load_staple(b, t, ctx) < 0 || load_client_ca(b, t, ctx) < 0)
        goto bad;
    char why[256];
    if (tls_cache_attach(ctx, &b->c->zones, why, sizeof why) < 0) {
        fail(b, t, "session_tickets", "the session cache: %s", why);
        goto bad;
    }
    /* A session lives as long as a ticket key can open it: two periods. */
    SSL_CTX_set_timeout(ctx, (long)(2 * tls_ticket_period_seconds()));
    set_session_id_context(ctx, s);
    tls_tickets_attach(ctx);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, NULL);
    return ctx;
bad:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_config_build(ws_config *c, const char *file, char *err, size_t errlen)
{
    if (staple_index < 0)
        staple_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, staple_free);
    tls_tickets_init();
    build b = {.c = c, .file = file, .err = err, .errlen = errlen, .ktls = kernel_may_have_tls()};
    server_conf *servers = (server_conf *)c->servers; /* still ours: the load is not finished */
    for (size_t i = 0; i < c->n_servers; i++) {
        if (!servers[i].tls)
            continue;
        ERR_clear_error();
        if (!(servers[i].tls_ctx = build_ctx(&b, &servers[i])))
            return -1;
    }
    return 0;
}

void tls_config_free(ws_config *c)
{
    for (size_t i = 0; c && i < c->n_servers; i++)
        if (c->servers[i].tls_ctx)
            SSL_CTX_free(c->servers[i].tls_ctx);
}

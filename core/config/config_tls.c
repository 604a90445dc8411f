/*
 * A server's "tls" object (SPEC §6): the certificate chain and key, and the
 * optional protocol versions, TLS 1.2 ciphers, ECDH groups, session tickets,
 * OCSP staple and client CA. Only shapes are checked here; core/tls reads the
 * files and builds the SSL_CTX once every server is parsed (config.c), so a
 * certificate that does not load fails the load like any other bad key.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "core_keys.h"

/* TLS 1.2 only: AEAD ciphers with ECDHE key exchange (forward secrecy), ECDSA
 * certificates first. TLS 1.3 suites are all AEAD and stay OpenSSL's default. */
#define DEFAULT_CIPHERS                                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                   \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_GROUPS "X25519:P-256"

static int tls_protocols(ws_settings *ts, tls_conf *t)
{
    const char *const *p;
    size_t n;
    int r = settings_string_list(ts, "protocols", &p, &n);
    t->protocols = TLS_PROTO_V12 | TLS_PROTO_V13;
    if (r <= 0)
        return r;
    if (n == 0) {
        settings_error(ts, "protocols", "expected at least one of \"TLSv1.2\", \"TLSv1.3\"");
        return -1;
    }
    t->protocols = 0;
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "protocols[%zu]", i);
        if (strcmp(p[i], "TLSv1.2") == 0)
            t->protocols |= TLS_PROTO_V12;
        else if (strcmp(p[i], "TLSv1.3") == 0)
            t->protocols |= TLS_PROTO_V13;
        else {
            settings_error(ts, key, "\"%s\": expected \"TLSv1.2\" or \"TLSv1.3\" (nothing older can be enabled)",
                           p[i]);
            return -1;
        }
    }
    return 0;
}

/* "groups": "X25519:P-256" or ["X25519", "P-256"]; kept as OpenSSL's colon list. */
static int tls_groups(cfg_ctx *x, ws_settings *ts, tls_conf *t)
{
    t->groups = DEFAULT_GROUPS;
    json_t *v = settings_raw(ts, "groups");
    if (!v)
        return 0;
    if (json_is_string(v) && json_string_length(v) && !strpbrk(json_string_value(v), " ,")) {
        t->groups = arena_strdup(x->a, json_string_value(v));
        return t->groups ? 0 : cfg_fail(x, t->json_path, "out of memory");
    }
    const char *const *p;
    size_t n;
    if (!json_is_array(v) || settings_string_list(ts, "groups", &p, &n) < 0 || n == 0) {
        if (!settings_failed(ts))
            settings_error(ts, "groups", "expected a list of group names (\"X25519\", \"P-256\", …)");
        return -1;
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        if (!p[i][0] || strpbrk(p[i], ": ,")) {
            char key[32];
            snprintf(key, sizeof key, "groups[%zu]", i);
            settings_error(ts, key, "expected a group name");
            return -1;
        }
        len += strlen(p[i]) + 1;
    }
    char *list = arena_alloc(x->a, len);
    if (!list)
        return cfg_fail(x, t->json_path, "out of memory");
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(list, ":");
        strcat(list, p[i]);
    }
    t->groups = list;
    return 0;
}

static int tls_file(ws_settings *ts, const char *key, int required, const char **out)
{
    json_t *v = settings_raw(ts, key);
    if (!v && !required)
        return 0;
    if (!v || !json_is_string(v) || !json_string_length(v)) {
        settings_error(ts, key, required ? "required: a PEM file" : "expected a file path");
        return -1;
    }
    return settings_path(ts, key, out) < 0 ? -1 : 0;
}

int cfg_tls(cfg_ctx *x, ws_settings *ss, server_conf *out)
{
    ws_settings *ts = NULL;
    int r = settings_child(ss, "tls", &ts);
    if (r < 0)
        return -1;
    if (r == 0) {
        for (size_t i = 0; i < out->n_listens; i++)
            if (out->listens[i].tls)
                return cfg_fail(x, settings_json_path(ss), "listens on the TLS address %s but has no \"tls\" key "
                                "with its certificate and key", out->listens[i].text);
        return 0;
    }
    tls_conf *t = arena_alloc(x->a, sizeof *t);
    if (!t)
        return cfg_fail(x, settings_json_path(ss), "out of memory");
    memset(t, 0, sizeof *t);
    t->json_path = settings_json_path(ts);
    t->ciphers = DEFAULT_CIPHERS;
    t->session_tickets = 1;
    if (tls_file(ts, "certificate", 1, &t->certificate) < 0 || tls_file(ts, "key", 1, &t->key) < 0 ||
        tls_protocols(ts, t) < 0 || tls_groups(x, ts, t) < 0 || settings_bool(ts, "session_tickets", &t->session_tickets) < 0 ||
        tls_file(ts, "ocsp_staple", 0, &t->ocsp_staple) < 0 || tls_file(ts, "client_ca", 0, &t->client_ca) < 0)
        return -1;
    const char *ciphers = NULL;
    if (settings_string(ts, "ciphers", &ciphers) < 0)
        return -1;
    if (ciphers && !ciphers[0]) {
        settings_error(ts, "ciphers", "expected an OpenSSL cipher list");
        return -1;
    }
    if (ciphers)
        t->ciphers = ciphers;
    if (settings_report_unknown(ts) < 0 || core_keys_check(ts, SCOPE_TLS, NULL, 0) < 0)
        return -1;
    out->tls = t;
    return 0;
}

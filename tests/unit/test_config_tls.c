/* SPEC §6 TLS config: listen objects, the server's "tls" key, and the
 * certificate checks core/tls makes while the config loads (certificates made
 * here with the openssl command). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/ssl.h>
#include <sys/stat.h>

#include "cfgtest.h"

/* The error must contain `part` too (a file name after the JSON path). */
static void expect_err_with(const char *json, const char *want, const char *part)
{
    expect_err(json, want);
    if (!strstr(cfgtest_err, part))
        fail_msg("got: %s\nwanted it to name: %s", cfgtest_err, part);
}

static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[1400];
    snprintf(full, sizeof full, "cd '%s' && (%s) >/dev/null 2>&1", cfgtest_dir, cmd);
    if (system(full) != 0)
        fail_msg("command failed: %s", cmd);
}

static int setup(void **state)
{
    if (cfgtest_setup(state) < 0)
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ("
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key -out a.crt -days 90 -subj /CN=a.test &&"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout b.key -out b.crt -days 90 -subj /CN=b.test &&"
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout soon.key -out soon.crt -days 3 -subj /CN=soon.test &&"
             "openssl x509 -in a.crt -signkey a.key -days -1 -out expired.crt"
             ") >/dev/null 2>&1",
             cfgtest_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define TLS_OK "\"tls\": {\"certificate\": \"a.crt\", \"key\": \"a.key\"}"

static void test_listen_objects(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": [\"8080\", {\"address\": \"127.0.0.1:8443\", \"tls\": true},"
                             " {\"address\": \"127.0.0.1:8081\", \"protocols\": [\"http/1.1\", \"h2c\"]}], " TLS_OK "}]}");
    const server_conf *s = &c->servers[0];
    assert_int_equal(s->n_listens, 3);
    assert_int_equal(s->listens[0].tls, 0);
    assert_int_equal(s->listens[0].protocols, LISTEN_PROTO_HTTP1);
    assert_int_equal(s->listens[1].tls, 1);
    assert_string_equal(s->listens[1].text, "127.0.0.1:8443");
    assert_int_equal(s->listens[1].protocols, LISTEN_PROTO_HTTP1 | LISTEN_PROTO_H2); /* SPEC default with TLS */
    assert_int_equal(s->listens[2].tls, 0);
    assert_int_equal(s->listens[2].protocols, LISTEN_PROTO_HTTP1 | LISTEN_PROTO_H2C);
    assert_int_equal(c->has_tls, 1);
    assert_non_null(s->tls);
    assert_non_null(s->tls_ctx);
    assert_int_equal(s->tls->protocols, TLS_PROTO_V12 | TLS_PROTO_V13);
    assert_int_equal(s->tls->session_tickets, 1);
    assert_string_equal(s->tls->groups, "X25519:P-256");
    assert_non_null(strstr(s->tls->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256"));
    assert_null(strstr(s->tls->ciphers, "CBC"));
    char want[600];
    snprintf(want, sizeof want, "%s/a.crt", cfgtest_dir);
    assert_string_equal(s->tls->certificate, want);
    /* The context enforces TLS 1.2 as the floor. */
    assert_int_equal(SSL_CTX_get_min_proto_version((SSL_CTX *)s->tls_ctx), TLS1_2_VERSION);
    config_free(c);
    /* A plain config has no TLS at all. */
    c = must_load("{\"servers\": [{\"listen\": {\"address\": \"8080\"}}]}");
    assert_int_equal(c->has_tls, 0);
    assert_null(c->servers[0].tls_ctx);
    config_free(c);
}

static void test_listen_object_errors(void **state)
{
    (void)state;
    expect_err("{\"servers\": [{\"listen\": [{\"tls\": true}]}]}", "servers[0].listen[0].address: required");
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"1.2.3:80\"}]}]}", "servers[0].listen[0].address: ");
    expect_err("{\"servers\": [{\"listen\": {\"address\": \"80\", \"bogus\": 1}}]}", "servers[0].listen.bogus: unknown key");
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"80\", \"tls\": \"yes\"}]}]}", "servers[0].listen[0].tls: ");
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"80\", \"tls\": true, \"protocols\": [\"h2c\"]}], " TLS_OK "}]}",
               "servers[0].listen[0].protocols[0]: \"h2c\": expected \"h2\" or \"http/1.1\" on a TLS address");
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"80\", \"protocols\": [\"h2\"]}]}]}",
               "servers[0].listen[0].protocols[0]: \"h2\": expected \"h2c\" or \"http/1.1\" on a cleartext address");
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"80\", \"protocols\": [\"spdy/3\"]}]}]}",
               "servers[0].listen[0].protocols[0]: \"spdy/3\"");
    /* HTTP/2 is served (core/h2): an address may speak h2 alone, but not nothing. */
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"80\", \"tls\": true, \"protocols\": []}], " TLS_OK "}]}",
               "servers[0].listen[0].protocols: expected at least one protocol");
    expect_err("{\"servers\": [{\"listen\": [true]}]}", "servers[0].listen[0]: expected");
}

static void test_tls_required_and_consistent(void **state)
{
    (void)state;
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"127.0.0.1:8443\", \"tls\": true}]}]}",
               "servers[0]: listens on the TLS address 127.0.0.1:8443 but has no \"tls\" key");
    /* The second server shares the TLS address by name, but has no certificate. */
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"8443\", \"tls\": true}], \"server_names\": [\"a\"], " TLS_OK "},"
               " {\"listen\": [{\"address\": \"8443\", \"tls\": true}], \"server_names\": [\"b\"]}]}",
               "servers[1]: listens on the TLS address 0.0.0.0:8443 but has no \"tls\" key");
    /* One address, TLS in one server and plain in the other. */
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"8443\", \"tls\": true}], \"server_names\": [\"a\"], " TLS_OK "},"
               " {\"listen\": \"8443\", \"server_names\": [\"b\"]}]}",
               "servers[1]: 0.0.0.0:8443 is TLS in servers[0] and not in servers[1]");
    /* A specific address riding on a wildcard's socket must agree with it. */
    expect_err("{\"servers\": [{\"listen\": [{\"address\": \"8443\", \"tls\": true}], \"server_names\": [\"a\"], " TLS_OK "},"
               " {\"listen\": \"127.0.0.1:8443\", \"server_names\": [\"b\"]}]}",
               "servers[1]: 127.0.0.1:8443 shares the socket of 0.0.0.0:8443 (servers[0]): both must be TLS or neither");
    /* A "tls" key without any TLS address is allowed (the certificate is still checked). */
    ws_config *c = must_load("{\"servers\": [{\"listen\": \"8080\", " TLS_OK "}]}");
    assert_non_null(c->servers[0].tls_ctx);
    config_free(c);
}

static void test_tls_keys(void **state)
{
    (void)state;
    ws_config *c = must_load("{\"servers\": [{\"listen\": [{\"address\": \"8443\", \"tls\": true}], \"tls\": {"
                             "\"certificate\": \"a.crt\", \"key\": \"a.key\", \"protocols\": [\"TLSv1.3\"],"
                             " \"ciphers\": \"ECDHE-ECDSA-AES256-GCM-SHA384\", \"groups\": [\"P-256\", \"X25519\"],"
                             " \"session_tickets\": false, \"client_ca\": \"b.crt\"}}]}");
    const tls_conf *t = c->servers[0].tls;
    assert_int_equal(t->protocols, TLS_PROTO_V13);
    assert_string_equal(t->ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384");
    assert_string_equal(t->groups, "P-256:X25519");
    assert_int_equal(t->session_tickets, 0);
    assert_non_null(strstr(t->client_ca, "/b.crt"));
    SSL_CTX *ctx = c->servers[0].tls_ctx;
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    config_free(c);
    c = must_load("{\"servers\": [{\"listen\": \"8080\", \"tls\": {\"certificate\": \"a.crt\", \"key\": \"a.key\","
                  " \"groups\": \"P-256\"}}]}");
    assert_string_equal(c->servers[0].tls->groups, "P-256");
    config_free(c);

#define S1 "{\"servers\": [{\"listen\": \"8080\", \"tls\": "
    expect_err(S1 "true}]}", "servers[0].tls: expected an object");
    expect_err(S1 "{\"key\": \"a.key\"}}]}", "servers[0].tls.certificate: required");
    expect_err(S1 "{\"certificate\": \"a.crt\"}}]}", "servers[0].tls.key: required");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"bogus\": 1}}]}", "servers[0].tls.bogus: unknown key");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"protocols\": [\"TLSv1.1\"]}}]}",
               "servers[0].tls.protocols[0]: \"TLSv1.1\": expected \"TLSv1.2\" or \"TLSv1.3\" (nothing older can be enabled)");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"protocols\": [\"SSLv3\", \"TLSv1.2\"]}}]}",
               "servers[0].tls.protocols[0]: \"SSLv3\"");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"protocols\": []}}]}",
               "servers[0].tls.protocols: expected at least one");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"ciphers\": \"NOPE-NOTHING\"}}]}",
               "servers[0].tls.ciphers: \"NOPE-NOTHING\" names no usable TLS 1.2 cipher");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"ciphers\": \"\"}}]}",
               "servers[0].tls.ciphers: expected an OpenSSL cipher list");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"groups\": \"bogus-curve\"}}]}",
               "servers[0].tls.groups: \"bogus-curve\": unknown group");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"groups\": [1]}}]}", "servers[0].tls.groups");
    expect_err(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"session_tickets\": 1}}]}",
               "servers[0].tls.session_tickets: ");
    expect_err_with(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"ocsp_staple\": \"a.crt\"}}]}",
                    "servers[0].tls.ocsp_staple: ", "a.crt: not a DER OCSP response");
    expect_err_with(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.key\", \"client_ca\": \"a.key\"}}]}",
                    "servers[0].tls.client_ca: ", "a.key: no PEM CA certificate");
}

static void test_certificate_checks(void **state)
{
    (void)state;
    expect_err_with(S1 "{\"certificate\": \"missing.crt\", \"key\": \"a.key\"}}]}", "servers[0].tls.certificate: ",
                    "missing.crt: No such file or directory");
    expect_err_with(S1 "{\"certificate\": \"a.crt\", \"key\": \"missing.key\"}}]}", "servers[0].tls.key: ",
                    "missing.key: No such file or directory");
    expect_err_with(S1 "{\"certificate\": \"a.key\", \"key\": \"a.key\"}}]}", "servers[0].tls.certificate: ",
                    "a.key: not a PEM certificate chain");
    expect_err_with(S1 "{\"certificate\": \"a.crt\", \"key\": \"a.crt\"}}]}", "servers[0].tls.key: ",
                    "a.crt: not a PEM private key");
    expect_err_with(S1 "{\"certificate\": \"a.crt\", \"key\": \"b.key\"}}]}", "servers[0].tls.key: ",
                    "b.key does not match the certificate");
    expect_err_with(S1 "{\"certificate\": \"expired.crt\", \"key\": \"a.key\"}}]}", "servers[0].tls.certificate: ",
                    "expired.crt: the certificate has expired");
    /* Unreadable (when not root: root reads anything). */
    if (geteuid() != 0) {
        sh("cp a.key locked.key && chmod 000 locked.key");
        expect_err_with(S1 "{\"certificate\": \"a.crt\", \"key\": \"locked.key\"}}]}", "servers[0].tls.key: ",
                        "locked.key: Permission denied");
    }
    /* Expiring within 14 days: a warning, and it loads. */
    ws_config *c = must_load(S1 "{\"certificate\": \"soon.crt\", \"key\": \"soon.key\"}}]}");
    config_free(c);
    /* The error names the server whose certificate is bad. */
    expect_err_with("{\"servers\": [{\"listen\": \"8080\", " TLS_OK "}, {\"listen\": \"8081\", \"tls\": "
                    "{\"certificate\": \"b.crt\", \"key\": \"a.key\"}}]}",
                    "servers[1].tls.key: ", "does not match");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_objects),
        cmocka_unit_test(test_listen_object_errors),
        cmocka_unit_test(test_tls_required_and_consistent),
        cmocka_unit_test(test_tls_keys),
        cmocka_unit_test(test_certificate_checks),
    };
    return cmocka_run_group_tests(tests, setup, cfgtest_teardown);
}

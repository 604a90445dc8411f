/*
 * Session ticket keys (RFC 5077 §4, RFC 8446 §4.6.1) that every worker
 * shares without shared memory: a random secret made once, before the master
 * forks (and kept across reloads: it is process state, not config), from
 * which each rotation period's key is derived with HKDF (RFC 5869). A worker
 * forked at any time derives the same keys as its siblings, so a ticket one
 * worker issued resumes on any other. Tickets are sealed with the current
 * period's key; the previous period's key still opens them (and the client
 * gets a fresh ticket), so a rotation never forces a full handshake on a
 * client that came back within one period.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tls.h"
#include "tls_internal.h"

#define DEFAULT_PERIOD (12 * 3600)

typedef struct ticket_key {
    uint64_t period; /* which period it belongs to (UINT64_MAX: not derived yet) */
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
} ticket_key;

static unsigned char secret[32];
static int have_secret;
static uint64_t period_s;
static ticket_key keys[2]; /* a small cache: the current and previous periods */
/* Fetched once: EVP_aes_256_cbc() in an Init call is fetched again from the
 * provider on every ticket (OpenSSL 3). NULL: fall back to that. */
static EVP_CIPHER *aes_cbc;

void tls_tickets_init(void)
{
    if (have_secret)
        return;
    const char *env = getenv("WEBSERV_TLS_TICKET_SECONDS");
    long long v = env ? atoll(env) : 0;
    period_s = v > 0 ? (uint64_t)v : DEFAULT_PERIOD;
    if (RAND_bytes(secret, sizeof secret) != 1)
        log_msg(WS_LOG_ERROR, "WS1510", "no random bytes for the session ticket secret: tickets disabled");
    else
        have_secret = 1;
    keys[0].period = keys[1].period = UINT64_MAX;
    aes_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

uint64_t tls_ticket_period_seconds(void)
{
    return period_s ? period_s : DEFAULT_PERIOD;
}

/* HKDF-SHA256(secret, info = "webserv ticket key" || period) → name, AES, HMAC keys. */
static int derive(uint64_t period, ticket_key *k)
{
    unsigned char info[26], out[80];
    memcpy(info, "webserv ticket key", 18);
    for (int i = 0; i < 8; i++)
        info[18 + i] = (unsigned char)(period >> (56 - 8 * i));
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!kctx)
        return -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret, sizeof secret),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, out, sizeof out, params) == 1;
    EVP_KDF_CTX_free(kctx);
    if (!ok)
        return -1;
    k->period = period;
    memcpy(k->name, out, 16);
    memcpy(k->aes, out + 16, 32);
    memcpy(k->hmac, out + 48, 32);
    OPENSSL_cleanse(out, sizeof out);
    return 0;
}

static const ticket_key *key_for(uint64_t period)
{
    for (int i = 0; i < 2; i++)
        if (keys[i].period == period)
            return &keys[i];
    /* Replace the older of the two. */
    ticket_key *k = keys[0].period == UINT64_MAX || (keys[1].period != UINT64_MAX && keys[0].period < keys[1].period)
                        ? &keys[0]
                        : &keys[1];
    return derive(period, k) == 0 ? k : NULL;
}

static uint64_t current_period(void)
{
    return (uint64_t)time(NULL) / tls_ticket_period_seconds();
}

static int set_keys(const ticket_key *k, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, const unsigned char *iv, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    const EVP_CIPHER *c = aes_cbc ? aes_cbc : EVP_aes_256_cbc();
    if (enc)
        return EVP_EncryptInit_ex(cctx, c, NULL, k->aes, iv) == 1 ? 0 : -1;
    return EVP_DecryptInit_ex(cctx, c, NULL, k->aes, iv) == 1 ? 0 : -1;
}

/* OpenSSL's ticket key callback: seal with the current key; open with the
 * current or the previous one. 0: unknown key, a full handshake follows.
 * Opened, it answers 2 ("issue a new ticket") for the previous key and for
 * every TLS 1.3 resumption: a TLS 1.3 client uses a ticket once (RFC 8446
 * §4.6.1, Appendix C.4), and OpenSSL sends no NewSessionTicket after a
 * resumption whose ticket callback said 1, so such a client made a full
 * handshake every other connection. 1 only for a TLS 1.2 ticket under the
 * current key, which the client may offer again (RFC 5077 §3.3). */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                     int enc)
{
    if (!have_secret)
        return enc ? -1 : 0;
    uint64_t now = current_period();
    if (enc) {
        const ticket_key *k = key_for(now);
        if (!k || RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
        memcpy(name, k->name, 16);
        return set_keys(k, cctx, hctx, iv, 1) == 0 ? 1 : -1;
    }
    for (uint64_t back = 0; back < 2 && back <= now; back++) {
        const ticket_key *k = key_for(now - back);
        if (k && memcmp(name, k->name, 16) == 0)
            return set_keys(k, cctx, hctx, iv, 0) == 0 ? (back || SSL_version(ssl) >= TLS1_3_VERSION ? 2 : 1) : -1;
    }
    return 0;
}

void tls_tickets_attach(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

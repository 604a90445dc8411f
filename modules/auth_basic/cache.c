/*
 * Verified (user, password) pairs, so a browser's repeated requests do not
 * pay the slow hash each time. Only a keyed hash of the pair is kept
 * (HMAC-SHA-256 under a random key drawn at start, never written anywhere):
 * the cache holds no password, and its entries are useless outside this
 * process. The stored hash is part of the key, so a password changed in the
 * user file stops matching at once. A fixed table with short probes: an
 * attacker filling it only evicts entries, it cannot grow memory.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

#include "auth_basic.h"

#define SLOTS 1024
#define PROBE 8

typedef struct slot {
    unsigned char key[AB_KEY_LEN];
    uint64_t expires_ms; /* 0: empty */
} slot;

static slot table[SLOTS];
static unsigned char secret[32];

/* HMAC-SHA-256 keyed once with the secret: each key is a copy of it fed the
 * pair (EVP_MAC_fetch and the key set-up per request cost more than the rest
 * of a cached request). Read-only once made, so copies may be taken from
 * any thread. NULL when OpenSSL could not make it: no caching then. */
static EVP_MAC_CTX *keyed;

static void drop_keyed(void)
{
    EVP_MAC_CTX_free(keyed);
    keyed = NULL;
}

int ab_cache_init(void)
{
    ab_cache_clear();
    drop_keyed();
    if (RAND_bytes(secret, sizeof secret) != 1)
        return -1;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    keyed = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context holds its own reference */
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
    if (keyed && !EVP_MAC_init(keyed, secret, sizeof secret, params))
        drop_keyed();
    return 0;
}

void ab_cache_free(void)
{
    drop_keyed();
    OPENSSL_cleanse(secret, sizeof secret);
}

void ab_cache_clear(void)
{
    memset(table, 0, sizeof table);
}

void ab_cache_key(const char *user, const char *pass, const char *hash, unsigned char out[AB_KEY_LEN])
{
    /* Lengths first, so ("ab", "c") and ("a", "bc") never collide. */
    size_t lens[3] = {strlen(user), strlen(pass), strlen(hash)};
    EVP_MAC_CTX *ctx = keyed ? EVP_MAC_CTX_dup(keyed) : NULL;
    size_t outl = 0;
    if (!ctx || !EVP_MAC_update(ctx, (void *)lens, sizeof lens) || !EVP_MAC_update(ctx, (const void *)user, lens[0]) ||
        !EVP_MAC_update(ctx, (const void *)pass, lens[1]) || !EVP_MAC_update(ctx, (const void *)hash, lens[2]) ||
        !EVP_MAC_final(ctx, out, &outl, AB_KEY_LEN) || outl != AB_KEY_LEN)
        RAND_bytes(out, AB_KEY_LEN); /* a key nothing will ever match: no caching, still correct */
    EVP_MAC_CTX_free(ctx);
}

static size_t home(const unsigned char key[AB_KEY_LEN])
{
    return ((size_t)key[0] | (size_t)key[1] << 8) % SLOTS;
}

int ab_cache_hit(const unsigned char key[AB_KEY_LEN], uint64_t now_ms)
{
    size_t h = home(key);
    int hit = 0;
    for (size_t i = 0; i < PROBE; i++) {
        const slot *s = &table[(h + i) % SLOTS];
        /* Constant time in the key's bytes: how much of a guess matched is not observable. */
        if (s->expires_ms > now_ms && CRYPTO_memcmp(s->key, key, AB_KEY_LEN) == 0)
            hit = 1;
    }
    return hit;
}

void ab_cache_put(const unsigned char key[AB_KEY_LEN], uint64_t expires_ms)
{
    size_t h = home(key), victim = h;
    for (size_t i = 0; i < PROBE; i++) {
        size_t k = (h + i) % SLOTS;
        if (CRYPTO_memcmp(table[k].key, key, AB_KEY_LEN) == 0 || table[k].expires_ms < table[victim].expires_ms) {
            victim = k;
            if (table[k].expires_ms == 0 || CRYPTO_memcmp(table[k].key, key, AB_KEY_LEN) == 0)
                break;
        }
    }
    memcpy(table[victim].key, key, AB_KEY_LEN);
    table[victim].expires_ms = expires_ms;
}

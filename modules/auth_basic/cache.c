/*
 * Verified (user, password) pairs, so a browser's repeated requests do not
 * pay the slow hash each time. Only a keyed hash of the pair is kept
 * (SipHash-2-4-128, siphash.c, under a random key drawn at start, never
 * written anywhere): the cache holds no password, and its entries are useless
 * outside this process. The user file's version (users.c: a new number at
 * every load) is part of the key, so a password changed or removed in the
 * file stops matching at once (any change re-verifies every user once). A fixed table with short
 * probes: an attacker filling it only evicts entries, it cannot grow memory.
 *
 * Why SipHash and not HMAC-SHA-256 (which this was): the key is computed on
 * every request with credentials, and OpenSSL 3's EVP HMAC (a context copy,
 * provider calls, allocations) made a cached request cost 2.7 times a plain
 * one. SipHash is a keyed PRF made for exactly this (short inputs, secret
 * key); with 128 bits out, a wrong password matching a cached entry by chance
 * is a 2^-118 event per try even with the whole table full.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "auth_basic.h"
#include "siphash.h"

#define SLOTS 1024
#define PROBE 8

typedef struct slot {
    unsigned char key[AB_KEY_LEN];
    uint64_t expires_ms; /* 0: empty */
} slot;

static slot table[SLOTS];
static unsigned char secret[SIPHASH_KEY_LEN];
static int have_secret; /* 0 when no random key could be drawn: no caching then */

int ab_cache_init(void)
{
    ab_cache_clear();
    have_secret = RAND_bytes(secret, sizeof secret) == 1;
    return have_secret ? 0 : -1;
}

void ab_cache_free(void)
{
    OPENSSL_cleanse(secret, sizeof secret);
    have_secret = 0;
}

void ab_cache_clear(void)
{
    memset(table, 0, sizeof table);
}

void ab_cache_key(uint64_t version, const char *user, const char *pass, unsigned char out[AB_KEY_LEN])
{
    if (!have_secret) {
        RAND_bytes(out, AB_KEY_LEN); /* a key nothing will ever match: no caching, still correct */
        return;
    }
    /* One message, hashed in whole words: the version, both lengths (so
     * ("ab", "c") and ("a", "bc") never collide), the user, the password. */
    size_t nu = strlen(user), np = strlen(pass);
    if (nu > AB_MAX_USER || np > AB_MAX_PASS) {
        RAND_bytes(out, AB_KEY_LEN);
        return;
    }
    unsigned char msg[16 + AB_MAX_USER + AB_MAX_PASS];
    uint64_t head[2] = {version, (uint64_t)nu << 32 | (uint64_t)np};
    memcpy(msg, head, sizeof head);
    memcpy(msg + 16, user, nu);
    memcpy(msg + 16 + nu, pass, np);
    size_t n = 16 + nu + np;
    siphash_state st;
    siphash_init(&st, secret);
    siphash_update(&st, msg, n);
    siphash_final(&st, out); /* also wipes st */
    explicit_bzero(msg, n);  /* it held the password */
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

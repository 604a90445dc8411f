/*
 * Verified credentials, so a browser's repeated requests do not pay the slow
 * hash each time. Only a keyed hash of the credential is kept (SipHash-2-4-128,
 * siphash.c, under a random key drawn at start, never written anywhere), with
 * the user-id it verified: the cache holds no password, and its entries are
 * useless outside this process. What is hashed is the token68 as it came (the
 * encoded "user:password"), so a hit needs no base64 decoding and no user
 * lookup; the same pair spelled another way is simply another entry. The user
 * file's version (users.c: a new number at every load) is part of the key, so
 * a password changed or removed in the file stops matching at once (any change
 * re-verifies every user once). A fixed table with short probes: an attacker
 * filling it only evicts entries, it cannot grow memory.
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
    char user[AB_CACHE_USER]; /* whom the credential verified (not secret: it is logged) */
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

void ab_cache_key(uint64_t version, const char *token, size_t n, unsigned char out[AB_KEY_LEN])
{
    if (!have_secret || n > AB_MAX_TOKEN) {
        RAND_bytes(out, AB_KEY_LEN); /* a key nothing will ever match: no caching, still correct */
        return;
    }
    /* One message: the file version and the length in one word (versions
     * count loads: 48 bits never run out; the length is under 2^16), then
     * the token as it stands in the request (the encoded "user:password": a
     * hit decodes nothing), hashed where it is: no copy of the credential. */
    siphash_word_then(secret, version << 16 | (uint64_t)n, token, n, out);
}

static size_t home(const unsigned char key[AB_KEY_LEN])
{
    return ((size_t)key[0] | (size_t)key[1] << 8) % SLOTS;
}

/* Equal keys, in time independent of where they differ (as CRYPTO_memcmp,
 * inlined: this runs for every probe of every request with credentials). */
static int same_key(const unsigned char a[AB_KEY_LEN], const unsigned char b[AB_KEY_LEN])
{
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&a1, a + 8, 8);
    memcpy(&b0, b, 8);
    memcpy(&b1, b + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

const char *ab_cache_hit(const unsigned char key[AB_KEY_LEN], uint64_t now_ms)
{
    size_t h = home(key);
    const char *user = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        const slot *s = &table[(h + i) % SLOTS];
        /* Every probe, each in constant time in the key's bytes: how much of
         * a guess matched is not observable. */
        if (s->expires_ms > now_ms && same_key(s->key, key))
            user = s->user;
    }
    return user;
}

void ab_cache_put(const unsigned char key[AB_KEY_LEN], uint64_t expires_ms, const char *user)
{
    size_t len = strlen(user);
    if (len >= AB_CACHE_USER)
        return;
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
    memcpy(table[victim].user, user, len + 1);
    table[victim].expires_ms = expires_ms;
}

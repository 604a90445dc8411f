/*
 * mod_auth_basic's credential cache: SipHash-2-4-128 (siphash.c) against the
 * reference vectors and OpenSSL's own SipHash, the cache keys (what they
 * depend on), hits with their user, expiry and eviction (cache.c), the user file's
 * version that every key includes (users.c): a changed file gets a new one,
 * so no pair verified against the old file is taken from the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_basic/basic_header.c"
#include "auth_basic/cache.c"
#include "auth_basic/htpasswd.c"
#include "auth_basic/siphash.c"
#include "auth_basic/users.c"

static void sip(const unsigned char *key, const unsigned char *msg, size_t n, size_t split, unsigned char out[16])
{
    siphash_state s;
    siphash_init(&s, key);
    siphash_update(&s, msg, split);
    siphash_update(&s, msg + split, n - split);
    siphash_final(&s, out);
}

static void test_siphash_vectors(void **state)
{
    (void)state;
    unsigned char key[16], msg[64], out[16];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    /* The reference implementation's 128-bit vectors (key 00..0f, message 00..n-1). */
    static const unsigned char v0[16] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                         0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
    static const unsigned char v15[16] = {0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11,
                                          0x7e, 0x08, 0xec, 0x0f, 0x97, 0xcf, 0xc3, 0xd9};
    sip(key, msg, 0, 0, out);
    assert_memory_equal(out, v0, 16);
    sip(key, msg, 15, 7, out);
    assert_memory_equal(out, v15, 16);
}

static void test_siphash_agrees_with_openssl(void **state)
{
    (void)state;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    if (!mac)
        fail_msg("OpenSSL has no SIPHASH MAC to compare with");
    unsigned char key[16], msg[200];
    srand(7);
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof key; i++)
            key[i] = (unsigned char)rand();
        for (size_t i = 0; i < sizeof msg; i++)
            msg[i] = (unsigned char)rand();
        size_t n = (size_t)rand() % sizeof msg;
        unsigned char ours[16], theirs[16];
        /* Fed in two pieces split anywhere: pieces must not matter. */
        sip(key, msg, n, n ? (size_t)rand() % n : 0, ours);
        EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
        size_t size = 16, outl = 0;
        OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t("size", &size), OSSL_PARAM_construct_end()};
        assert_true(c && EVP_MAC_init(c, key, sizeof key, p) && EVP_MAC_update(c, msg, n) &&
                    EVP_MAC_final(c, theirs, &outl, sizeof theirs));
        EVP_MAC_CTX_free(c);
        assert_int_equal(outl, 16);
        assert_memory_equal(ours, theirs, 16);
    }
    EVP_MAC_free(mac);
}

/* The one-call form the cache uses (a word, then the token where it stands):
 * the same tag as the streaming form over the word's 8 bytes and the data,
 * for every length around the word boundaries. */
static void test_siphash_word_then(void **state)
{
    (void)state;
    unsigned char key[16], msg[8 + 64], ours[16], theirs[16];
    srand(11);
    for (size_t n = 0; n <= 64; n++) {
        for (size_t i = 0; i < sizeof key; i++)
            key[i] = (unsigned char)rand();
        uint64_t word = (uint64_t)rand() << 32 ^ (uint64_t)rand();
        for (int i = 0; i < 8; i++)
            msg[i] = (unsigned char)(word >> (8 * i)); /* little-endian, as the hash reads it */
        for (size_t i = 0; i < n; i++)
            msg[8 + i] = (unsigned char)rand();
        siphash_word_then(key, word, msg + 8, n, ours);
        sip(key, msg, 8 + n, (8 + n) / 2, theirs);
        assert_memory_equal(ours, theirs, 16);
    }
}

static void test_basic_token(void **state)
{
    (void)state;
    const char *t;
    size_t n;
    assert_int_equal(ab_basic_token("Basic YWxpY2U6cHc=", &t, &n), 0);
    assert_int_equal(n, 12);
    assert_memory_equal(t, "YWxpY2U6cHc=", 12);
    assert_int_equal(ab_basic_token("bAsIc    YWxp  ", &t, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(t, "YWxp", 4);
    assert_int_equal(ab_basic_token("Basic ", &t, &n), 0);
    assert_int_equal(n, 0); /* empty: the decoder refuses it later */
    assert_int_equal(ab_basic_token("Basic", &t, &n), -1);
    assert_int_equal(ab_basic_token("Basicx YWxp", &t, &n), -1);
    assert_int_equal(ab_basic_token("Bearer YWxp", &t, &n), -1);
    assert_int_equal(ab_basic_token(NULL, &t, &n), -1);
    /* The scheme in any case, compared letter by letter; never read past a short value. */
    assert_int_equal(ab_basic_token("BASIC YWxp", &t, &n), 0);
    assert_int_equal(ab_basic_token("basic YWxp", &t, &n), 0);
    assert_int_equal(ab_basic_token("Bas", &t, &n), -1);
    assert_int_equal(ab_basic_token("", &t, &n), -1);
    assert_int_equal(ab_basic_token("Basi\x03 YWxp", &t, &n), -1); /* 'c' | 0x20 is 'c', 0x03 | 0x20 is not */
    assert_int_equal(ab_basic_token("Basic\tYWxp", &t, &n), -1);
    assert_int_equal(ab_basic_token("BAsic YWxp", &t, &n), 0);
    assert_int_equal(ab_basic_token("B@sic YWxp", &t, &n), -1); /* '@' | 0x20 is '`', not 'a' */
}

/* Keys of tokens (the encoded "user:password"), as ab_access makes them. */
static void key_of(uint64_t version, const char *token, unsigned char out[AB_KEY_LEN])
{
    ab_cache_key(version, token, strlen(token), out);
}

static void test_cache_keys(void **state)
{
    (void)state;
    assert_int_equal(ab_cache_init(), 0);
    unsigned char a[AB_KEY_LEN], b[AB_KEY_LEN];
    key_of(1, "YWxpY2U6d29uZGVybGFuZA==", a); /* alice:wonderland */
    key_of(1, "YWxpY2U6d29uZGVybGFuZA==", b);
    assert_memory_equal(a, b, AB_KEY_LEN); /* the same credential, the same file version */
    key_of(2, "YWxpY2U6d29uZGVybGFuZA==", b);
    assert_memory_not_equal(a, b, AB_KEY_LEN); /* the file changed */
    key_of(1, "YWxpY2U6V29uZGVybGFuZA==", b); /* alice:Wonderland */
    assert_memory_not_equal(a, b, AB_KEY_LEN);
    /* Only the given bytes count, and the length is part of the message. */
    ab_cache_key(1, "YWxpY2U6d29uZGVybGFuZA==xyz", 24, b);
    assert_memory_equal(a, b, AB_KEY_LEN);
    ab_cache_key(1, "YWxpY2U6d29uZGVybGFuZA==\0", 25, b);
    assert_memory_not_equal(a, b, AB_KEY_LEN);
    /* A new secret (a new process): the old keys mean nothing. */
    assert_int_equal(ab_cache_init(), 0);
    key_of(1, "YWxpY2U6d29uZGVybGFuZA==", b);
    assert_memory_not_equal(a, b, AB_KEY_LEN);
    /* Past the longest possible credential: a random key each time, which nothing matches. */
    static char big[AB_MAX_TOKEN + 2];
    memset(big, 'Q', sizeof big - 1);
    key_of(1, big, a);
    key_of(1, big, b);
    assert_memory_not_equal(a, b, AB_KEY_LEN);
    ab_cache_free();
}

static void test_cache_hits_expiry_eviction(void **state)
{
    (void)state;
    assert_int_equal(ab_cache_init(), 0);
    unsigned char k[AB_KEY_LEN], other[AB_KEY_LEN];
    key_of(3, "YWxpY2U6d29uZGVybGFuZA==", k);
    key_of(3, "YWxpY2U6d3Jvbmc=", other); /* alice:wrong */
    assert_null(ab_cache_hit(k, 1000)); /* nothing verified yet */
    ab_cache_put(k, 2000, "alice");
    assert_string_equal(ab_cache_hit(k, 1000), "alice");
    assert_string_equal(ab_cache_hit(k, 1999), "alice");
    assert_null(ab_cache_hit(k, 2000)); /* expired */
    assert_null(ab_cache_hit(other, 1000)); /* a wrong password is never a hit */
    ab_cache_put(k, 5000, "alice"); /* put again: refreshed in place */
    assert_string_equal(ab_cache_hit(k, 4000), "alice");
    ab_cache_clear();
    assert_null(ab_cache_hit(k, 1000));
    /* A user-id too long to keep: verified every time instead. */
    char longname[AB_CACHE_USER + 1];
    memset(longname, 'u', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ab_cache_put(k, 5000, longname);
    assert_null(ab_cache_hit(k, 1000));
    longname[AB_CACHE_USER - 1] = '\0'; /* the longest kept */
    ab_cache_put(k, 5000, longname);
    assert_string_equal(ab_cache_hit(k, 1000), longname);
    /* Far more credentials than slots: the table only evicts, and recent ones stay findable. */
    char tok[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(tok, sizeof tok, "Ym9iOnAl%d", i);
        unsigned char x[AB_KEY_LEN];
        key_of(3, tok, x);
        ab_cache_put(x, 10000 + (uint64_t)i, "bob");
    }
    unsigned char last[AB_KEY_LEN];
    key_of(3, "Ym9iOnAl19999", last);
    assert_string_equal(ab_cache_hit(last, 100), "bob");
    ab_cache_free();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int refresh(ab_file *f, const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char err[256];
    int rc = ab_file_refresh(f, fd, &st, err, sizeof err);
    close(fd);
    return rc;
}

static void test_user_file_version(void **state)
{
    (void)state;
    char path[] = "/tmp/ab-version-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "alice:$2y$05$abcdefghijklmnopqrstuuT9MXa1bD9ZUCd3qnBzJ5BXb1bMTz3WW\n");
    char err[256];
    ab_file *f = ab_file_get(path, err, sizeof err);
    assert_non_null(f);
    uint64_t v1 = ab_file_version(f);
    assert_int_equal(refresh(f, path), 0);
    assert_int_equal(ab_file_version(f), v1); /* unchanged file: same version, cached pairs stay */
    /* alice's password changed in the file: a new version, so every key differs */
    write_file(path, "alice:$5$rounds=1000$saltsalt$rEgiSvI.NxGhy0T.vWK7bX84Wr6K5kdXzjUXWNUP1xB\nbob:$6$salt$x\n");
    assert_int_equal(refresh(f, path), 0);
    uint64_t v2 = ab_file_version(f);
    assert_true(v2 != v1);
    unsigned char a[AB_KEY_LEN], b[AB_KEY_LEN];
    assert_int_equal(ab_cache_init(), 0);
    key_of(v1, "YWxpY2U6cHc=", a); /* alice:pw */
    ab_cache_put(a, UINT64_MAX, "alice");
    key_of(v2, "YWxpY2U6cHc=", b);
    assert_null(ab_cache_hit(b, 1));
    /* A file that turns bad keeps the last good copy and its version. */
    write_file(path, "alice:plain-text-is-refused\n");
    assert_true(refresh(f, path) < 0);
    assert_int_equal(ab_file_version(f), v2);
    ab_cache_free();
    ab_files_free();
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_siphash_word_then),
        cmocka_unit_test(test_siphash_agrees_with_openssl),
        cmocka_unit_test(test_basic_token),
        cmocka_unit_test(test_cache_keys),
        cmocka_unit_test(test_cache_hits_expiry_eviction),
        cmocka_unit_test(test_user_file_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

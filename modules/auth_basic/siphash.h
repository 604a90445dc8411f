/*
 * SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, "SipHash: a
 * fast short-input PRF", 2012; the 128-bit variant of their reference code),
 * fed in pieces. The credential cache's keyed hash (cache.c): OpenSSL offers
 * SipHash only through the EVP_MAC layer, whose context copy and provider
 * calls cost more than a whole cached request, and no other library on the
 * build machine has it.
 */
#ifndef AB_SIPHASH_H
#define AB_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16
#define SIPHASH_OUT_LEN 16

typedef struct siphash_state {
    uint64_t v0, v1, v2, v3;
    uint64_t tail;  /* the bytes of an unfinished 8-byte word, little-endian */
    size_t total;   /* bytes fed so far */
} siphash_state;

void siphash_init(siphash_state *s, const unsigned char key[SIPHASH_KEY_LEN]);
void siphash_update(siphash_state *s, const void *data, size_t len);
/* The 16-byte tag; the state is wiped. */
void siphash_final(siphash_state *s, unsigned char out[SIPHASH_OUT_LEN]);

/* The tag of one message made of a word (its 8 bytes little-endian) and then
 * len bytes of data, in one call: the same tag as init, update with both
 * pieces and final, without copying the message anywhere (nothing to wipe
 * but registers) and with the state in registers throughout. */
void siphash_word_then(const unsigned char key[SIPHASH_KEY_LEN], uint64_t word, const void *data, size_t len,
                       unsigned char out[SIPHASH_OUT_LEN]);

#endif

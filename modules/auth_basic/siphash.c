/* SipHash-2-4-128 (siphash.h), written from the paper's description. */
#include "siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* One SipRound (paper §2), on the four words held in locals v0..v3 (so the
 * compiler keeps them in registers across rounds). */
#define SIPROUND                                                                                                       \
    do {                                                                                                               \
        v0 += v1;                                                                                                      \
        v1 = ROTL(v1, 13);                                                                                             \
        v1 ^= v0;                                                                                                      \
        v0 = ROTL(v0, 32);                                                                                             \
        v2 += v3;                                                                                                      \
        v3 = ROTL(v3, 16);                                                                                             \
        v3 ^= v2;                                                                                                      \
        v0 += v3;                                                                                                      \
        v3 = ROTL(v3, 21);                                                                                             \
        v3 ^= v0;                                                                                                      \
        v2 += v1;                                                                                                      \
        v1 = ROTL(v1, 17);                                                                                             \
        v1 ^= v2;                                                                                                      \
        v2 = ROTL(v2, 32);                                                                                             \
    } while (0)

/* Compression of one message word: c = 2 rounds. */
#define COMPRESS(m)                                                                                                    \
    do {                                                                                                               \
        v3 ^= (m);                                                                                                     \
        SIPROUND;                                                                                                      \
        SIPROUND;                                                                                                      \
        v0 ^= (m);                                                                                                     \
    } while (0)

#define LOAD(s) uint64_t v0 = (s)->v0, v1 = (s)->v1, v2 = (s)->v2, v3 = (s)->v3
#define STORE(s) ((s)->v0 = v0, (s)->v1 = v1, (s)->v2 = v2, (s)->v3 = v3)

/* Little-endian words as single loads and stores (memcpy: any alignment),
 * swapped on a big-endian machine: built from bytes, the compiler did not
 * merge them and the loads cost a fifth of a whole hash. */
static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static void store_le64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

void siphash_init(siphash_state *s, const unsigned char key[SIPHASH_KEY_LEN])
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    s->v0 = k0 ^ 0x736f6d6570736575ULL; /* "somepseudorandomlygeneratedbytes" */
    s->v1 = k1 ^ 0x646f72616e646f6dULL;
    s->v2 = k0 ^ 0x6c7967656e657261ULL;
    s->v3 = k1 ^ 0x7465646279746573ULL;
    s->v1 ^= 0xee; /* the 128-bit output variant */
    s->tail = 0;
    s->total = 0;
}

void siphash_update(siphash_state *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t have = s->total & 7;
    s->total += len;
    LOAD(s);
    if (have) {
        /* Complete the word left unfinished by the previous piece. */
        while (have < 8 && len) {
            s->tail |= (uint64_t)*p++ << (8 * have++);
            len--;
        }
        if (have < 8)
            return; /* v0..v3 unchanged */
        COMPRESS(s->tail);
        s->tail = 0;
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t m = load_le64(p);
        COMPRESS(m);
    }
    for (size_t i = 0; i < len; i++)
        s->tail |= (uint64_t)p[i] << (8 * i);
    STORE(s);
}

/* Finalization of SipHash-2-4-128: d = 4 rounds per output half. */
static void finish128(uint64_t v0, uint64_t v1, uint64_t v2, uint64_t v3, unsigned char out[SIPHASH_OUT_LEN])
{
    v2 ^= 0xee;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    store_le64(out, v0 ^ v1 ^ v2 ^ v3);
    v1 ^= 0xdd;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    store_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

void siphash_final(siphash_state *s, unsigned char out[SIPHASH_OUT_LEN])
{
    LOAD(s);
    /* The last word: the remaining bytes, and the length mod 256 in the top byte. */
    uint64_t b = s->tail | (uint64_t)(s->total & 0xff) << 56;
    COMPRESS(b);
    finish128(v0, v1, v2, v3, out);
    /* The state held key-derived values: leave none behind. */
    memset(s, 0, sizeof *s);
    __asm__ __volatile__("" : : "r"(s) : "memory");
}

void siphash_word_then(const unsigned char key[SIPHASH_KEY_LEN], uint64_t word, const void *data, size_t len,
                       unsigned char out[SIPHASH_OUT_LEN])
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL ^ 0xee;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    COMPRESS(word);
    const unsigned char *p = data;
    size_t n = len;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t m = load_le64(p);
        COMPRESS(m);
    }
    uint64_t b = (uint64_t)((8 + len) & 0xff) << 56;
    switch (n) { /* the last 0..7 bytes */
    case 7: b |= (uint64_t)p[6] << 48; /* fall through */
    case 6: b |= (uint64_t)p[5] << 40; /* fall through */
    case 5: b |= (uint64_t)p[4] << 32; /* fall through */
    case 4: b |= (uint64_t)p[3] << 24; /* fall through */
    case 3: b |= (uint64_t)p[2] << 16; /* fall through */
    case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)p[0];       /* fall through */
    default: break;
    }
    COMPRESS(b);
    finish128(v0, v1, v2, v3, out);
}

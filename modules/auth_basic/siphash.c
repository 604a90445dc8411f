/* SipHash-2-4-128 (siphash.h), written from the paper's description. */
#include "siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* One SipRound (paper §2, "SipRound"). */
#define SIPROUND(s)                                                                                                    \
    do {                                                                                                               \
        s->v0 += s->v1;                                                                                                \
        s->v1 = ROTL(s->v1, 13);                                                                                       \
        s->v1 ^= s->v0;                                                                                                \
        s->v0 = ROTL(s->v0, 32);                                                                                       \
        s->v2 += s->v3;                                                                                                \
        s->v3 = ROTL(s->v3, 16);                                                                                       \
        s->v3 ^= s->v2;                                                                                                \
        s->v0 += s->v3;                                                                                                \
        s->v3 = ROTL(s->v3, 21);                                                                                       \
        s->v3 ^= s->v0;                                                                                                \
        s->v2 += s->v1;                                                                                                \
        s->v1 = ROTL(s->v1, 17);                                                                                       \
        s->v1 ^= s->v2;                                                                                                \
        s->v2 = ROTL(s->v2, 32);                                                                                       \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void store_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Compression: c = 2 rounds per message word. */
static void compress(siphash_state *s, uint64_t m)
{
    s->v3 ^= m;
    SIPROUND(s);
    SIPROUND(s);
    s->v0 ^= m;
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
    if (have) {
        /* Complete the word left unfinished by the previous piece. */
        while (have < 8 && len) {
            s->tail |= (uint64_t)*p++ << (8 * have++);
            len--;
        }
        if (have < 8)
            return;
        compress(s, s->tail);
        s->tail = 0;
    }
    for (; len >= 8; p += 8, len -= 8)
        compress(s, load_le64(p));
    for (size_t i = 0; i < len; i++)
        s->tail |= (uint64_t)p[i] << (8 * i);
}

void siphash_final(siphash_state *s, unsigned char out[SIPHASH_OUT_LEN])
{
    /* The last word: the remaining bytes, and the length mod 256 in the top byte. */
    compress(s, s->tail | (uint64_t)(s->total & 0xff) << 56);
    /* Finalization: d = 4 rounds per output half. */
    s->v2 ^= 0xee;
    for (int i = 0; i < 4; i++)
        SIPROUND(s);
    store_le64(out, s->v0 ^ s->v1 ^ s->v2 ^ s->v3);
    s->v1 ^= 0xdd;
    for (int i = 0; i < 4; i++)
        SIPROUND(s);
    store_le64(out + 8, s->v0 ^ s->v1 ^ s->v2 ^ s->v3);
    /* The state held key-derived values: leave none behind. */
    memset(s, 0, sizeof *s);
    __asm__ __volatile__("" : : "r"(s) : "memory");
}

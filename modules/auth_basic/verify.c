/*
 * One password against one crypt(3) hash, through the system's crypt_r
 * (libxcrypt: bcrypt and SHA-crypt). Runs on the core's offload pool, so the
 * state is on the caller's stack-free heap block, never static. The result is
 * compared in constant time.
 */
#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "auth_basic.h"

int ab_verify(const char *pass, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof *cd); /* ~32 KiB: not on a pool thread's stack */
    if (!cd)
        return 0;
    const char *out = crypt_r(pass, hash, cd);
    size_t n = strlen(hash);
    int ok = out && out[0] != '*' && strlen(out) == n && CRYPTO_memcmp(out, hash, n) == 0;
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

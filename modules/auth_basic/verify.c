/*
 * One password against one crypt(3) hash, through the system's crypt_r
 * (libxcrypt: bcrypt and SHA-crypt; crypt_rn is its crypt_r). Runs on the core's offload pool, so the
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
    /* crypt_rn, not crypt_r: the same function, but it is not wrapped by
     * AddressSanitizer's interceptor, which cannot find crypt_r in a library
     * loaded after start (this module's libcrypt) and would crash. */
    const char *out = crypt_rn(pass, hash, cd, (int)sizeof *cd);
    size_t n = strlen(hash);
    int ok = out && out[0] != '*' && strlen(out) == n && CRYPTO_memcmp(out, hash, n) == 0;
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

/*
 * htpasswd files: one "user:hash" per line; blank lines and lines starting
 * with '#' are skipped. Only hashes the system's crypt_r verifies safely are
 * accepted: bcrypt ($2y$, $2b$) and SHA-crypt ($5$ SHA-256, $6$ SHA-512).
 * Anything else (plain text, DES crypt, Apache's $apr1$ MD5, {SHA}) is an
 * error naming the line: silently never matching would look like a wrong
 * password, silently comparing plain text would be worse.
 */
#include <stdlib.h>
#include <string.h>

#include "auth_basic.h"

static int bcrypt_ok(const char *h, size_t n)
{
    /* $2y$NN$ + 22 characters of salt + 31 of hash. */
    if (n != 60 || h[6] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9')
        return 0;
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return 0;
    for (size_t i = 7; i < n; i++)
        if (!strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", h[i]))
            return 0;
    return 1;
}

static int shacrypt_ok(const char *h, size_t n)
{
    /* $5$[rounds=N$]salt$hash: at least the salt's '$' after the prefix, and a hash. */
    const char *last = memrchr(h, '$', n);
    return last && last > h + 2 && (size_t)(last - h) + 1 < n;
}

static const char *hash_problem(const char *h, size_t n)
{
    if ((n >= 4 && (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0)))
        return bcrypt_ok(h, n) ? NULL : "malformed bcrypt hash";
    if (n >= 3 && (strncmp(h, "$5$", 3) == 0 || strncmp(h, "$6$", 3) == 0))
        return shacrypt_ok(h, n) ? NULL : "malformed SHA-crypt hash";
    return "unsupported password hash (use bcrypt $2y$/$2b$ or SHA-crypt $5$/$6$, e.g. htpasswd -B)";
}

void ab_table_free(ab_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->users[i].name);
        free(t->users[i].hash);
    }
    free(t->users);
    t->users = NULL;
    t->n = 0;
}

int ab_parse_htpasswd(const char *text, size_t len, ab_table *out, size_t *bad_line, const char **why)
{
    ab_table t = {0};
    size_t cap = 0, line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r')
            n--;
        const char *s = p;
        p = eol ? eol + 1 : end;
        if (n == 0 || s[0] == '#')
            continue;
        const char *colon = memchr(s, ':', n);
        *why = NULL;
        if (!colon || colon == s)
            *why = "expected user:hash";
        else if (memchr(s, '\0', n))
            *why = "NUL byte";
        else if (memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
            *why = "expected user:hash (a second ':')";
        else
            *why = hash_problem(colon + 1, n - (size_t)(colon + 1 - s));
        if (*why) {
            *bad_line = line;
            ab_table_free(&t);
            return -1;
        }
        if (t.n == cap) {
            cap = cap ? cap * 2 : 16;
            ab_user *u = realloc(t.users, cap * sizeof *u);
            if (!u) {
                *why = "out of memory";
                *bad_line = line;
                ab_table_free(&t);
                return -1;
            }
            t.users = u;
        }
        ab_user *u = &t.users[t.n];
        u->name = strndup(s, (size_t)(colon - s));
        u->hash = strndup(colon + 1, n - (size_t)(colon + 1 - s));
        t.n++;
        if (!u->name || !u->hash) {
            *why = "out of memory";
            *bad_line = line;
            ab_table_free(&t);
            return -1;
        }
    }
    *out = t;
    return 0;
}

const char *ab_table_find(const ab_table *t, const char *user)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->users[i].name, user) == 0)
            return t->users[i].hash;
    return NULL;
}

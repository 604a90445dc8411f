/*
 * libFuzzer target for mod_auth_basic's parsers: the Authorization field
 * (modules/auth_basic/basic_header.c) and htpasswd files (htpasswd.c).
 * Input: the first line is an Authorization value, the rest a user file.
 * Checks: a parsed user-id holds no ':' and no control character, and both
 * strings lie inside the buffer; every parsed user can be found again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_basic/basic_header.c"
#include "auth_basic/htpasswd.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char *value = malloc(first + 1);
    if (!value)
        return 0;
    memcpy(value, data, first);
    value[first] = '\0';
    char buf[512];
    const char *user = NULL, *pass = NULL;
    if (ab_parse_authorization(value, buf, sizeof buf, &user, &pass) == 0) {
        if (user < buf || user >= buf + sizeof buf || pass < buf || pass >= buf + sizeof buf || !user[0] ||
            strchr(user, ':'))
            abort();
        for (const char *p = user; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
    }
    free(value);
    if (nl) {
        ab_table t;
        size_t line = 0;
        const char *why = NULL;
        const char *text = (const char *)nl + 1;
        size_t n = size - first - 1;
        if (ab_parse_htpasswd(text, n, &t, &line, &why) == 0) {
            for (size_t i = 0; i < t.n; i++)
                if (!t.users[i].name[0] || strchr(t.users[i].name, ':') || !ab_table_find(&t, t.users[i].name))
                    abort();
            ab_table_free(&t);
        } else if (!why || line == 0) {
            abort();
        }
    }
    return 0;
}

#include "header_rules.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

int header_rules_status_ok(int status)
{
    return status >= 200 && status <= 599;
}

/* Fields the core writes itself (framing, hop-by-hop, Date/Server). Runs for
 * every field a module sets (Content-Type of each static response): the
 * length and the first letter (any case) pick the one name worth comparing. */
static int core_owned(const char *name, size_t len)
{
    int first = name[0] | 0x20;
    switch (len) {
    case 2: return first == 't' && strcasecmp(name, "TE") == 0;
    case 4: return first == 'd' && strcasecmp(name, "Date") == 0;
    case 6: return first == 's' && strcasecmp(name, "Server") == 0;
    case 7: return first == 'u' ? strcasecmp(name, "Upgrade") == 0 : first == 't' && strcasecmp(name, "Trailer") == 0;
    case 10: return first == 'c' ? strcasecmp(name, "Connection") == 0 : first == 'k' && strcasecmp(name, "Keep-Alive") == 0;
    case 14: return first == 'c' && strcasecmp(name, "Content-Length") == 0;
    case 16: return first == 'p' && strcasecmp(name, "Proxy-Connection") == 0;
    case 17: return first == 't' && strcasecmp(name, "Transfer-Encoding") == 0;
    default: return 0;
    }
}

/* Field value bytes (RFC 9110 §5.5): 1 for a CTL other than HTAB (refused,
 * no header injection), 2 for the NUL that ends the C string, 0 otherwise. */
#define C8(v) v, v, v, v, v, v, v, v
static const unsigned char value_stop[256] = {
    2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, /* 0x00-0x0f: HTAB allowed */
    C8(1), C8(1),                                   /* 0x10-0x1f */
    C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), C8(0), /* 0x20-0x77 */
    0, 0, 0, 0, 0, 0, 0, 1,                         /* 0x78-0x7f: DEL */
};
#undef C8

int header_rules_field_len(const char *name, const char *value, size_t *name_len, size_t *value_len)
{
    if (!name || !value)
        return 0;
    size_t n = http_token_prefix(name);
    if (n == 0 || name[n] != '\0' || core_owned(name, n))
        return 0;
    const unsigned char *p = (const unsigned char *)value;
    while (!value_stop[*p])
        p++;
    if (value_stop[*p] != 2)
        return 0;
    *name_len = n;
    *value_len = (size_t)(p - (const unsigned char *)value);
    return 1;
}

int header_rules_field_ok(const char *name, const char *value)
{
    size_t n, v;
    return header_rules_field_len(name, value, &n, &v);
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

int header_rules_list_has(const char *list, const char *token)
{
    if (!list || !token)
        return 0;
    size_t tn = strlen(token);
    int bare = strchr(token, '/') == NULL;
    const char *p = list;
    while (*p) {
        while (*p == ',' || is_blank(*p))
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && is_blank(e[-1]))
            e--;
        size_t n = (size_t)(e - s);
        if (n >= tn && strncasecmp(s, token, tn) == 0 && (n == tn || (bare && s[tn] == '/')))
            return 1;
    }
    return 0;
}

/*
 * The compress settings (SPEC §6):
 *   "compress": {"codings": ["zstd", "br", "gzip"], "min_length": 256,
 *                "types": ["text/" "*", "application/json", …], "gzip_level": 1,
 *                "br_quality": 4, "zstd_level": 3, "precompressed": false}
 */
#include <string.h>
#include <strings.h>

#include "compress.h"

/* text (any subtype), JSON, JavaScript, XML, SVG and wasm, with the structured-syntax
 * suffixes (RFC 6839) that carry JSON or XML (ld+json, rss+xml, atom+xml …). */
static const char *const default_types[] = {
    "text/*",          "application/json",       "application/javascript", "application/xml",
    "application/*+json", "application/*+xml",   "image/svg+xml",          "application/wasm",
    "application/x-javascript",
};

/* "type/subtype", "type/" "*" or "type/" "*+suffix" (a star opening the subtype), tokens otherwise. */
static int type_pattern_ok(const char *t)
{
    const char *sl = strchr(t, '/');
    if (!sl || sl == t || !sl[1] || strchr(sl + 1, '/'))
        return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("!#$&^_.+-*/", *p)))
            return 0;
    const char *star = strchr(t, '*');
    if (!star)
        return 1;
    /* the one '*' opens the subtype: "*" alone or "*+suffix" */
    return star == sl + 1 && !strchr(star + 1, '*') && (star[1] == '\0' || (star[1] == '+' && star[2]));
}

static int parse_codings(const ws_host *host, const ws_settings *s, cz_conf *c)
{
    const char *const *list;
    size_t n;
    int r = host->cfg_string_list(s, "codings", &list, &n);
    if (r <= 0)
        return r;
    c->n_codings = 0;
    for (size_t i = 0; i < n; i++) {
        coding k = strcmp(list[i], "gzip") == 0 ? CODING_GZIP
                   : strcmp(list[i], "br") == 0 ? CODING_BR
                   : strcmp(list[i], "zstd") == 0 ? CODING_ZSTD
                   : CODING_IDENTITY;
        if (k == CODING_IDENTITY) {
            host->cfg_error(s, "codings", "\"%s\" is not a coding this module makes (\"zstd\", \"br\", \"gzip\")", list[i]);
            return -1;
        }
        for (size_t j = 0; j < c->n_codings; j++)
            if (c->codings[j] == k) {
                host->cfg_error(s, "codings", "\"%s\" is listed twice", list[i]);
                return -1;
            }
        c->codings[c->n_codings++] = k;
    }
    return 1;
}

int cz_configure(const ws_host *host, const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    cz_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    c->codings[0] = CODING_ZSTD;
    c->codings[1] = CODING_BR;
    c->codings[2] = CODING_GZIP;
    c->n_codings = 3;
    c->min_length = 256;
    c->types = default_types;
    c->n_types = sizeof default_types / sizeof *default_types;
    long long gz = 1, br = 4, zs = 3;
    if (parse_codings(host, s, c) < 0 || host->cfg_size(s, "min_length", &c->min_length) < 0 ||
        host->cfg_string_list(s, "types", &c->types, &c->n_types) < 0 ||
        host->cfg_int(s, "gzip_level", 1, 9, &gz) < 0 || host->cfg_int(s, "br_quality", 0, 11, &br) < 0 ||
        host->cfg_int(s, "zstd_level", 1, 19, &zs) < 0 || host->cfg_bool(s, "precompressed", &c->precompressed) < 0)
        return -1;
    for (size_t i = 0; i < c->n_types; i++)
        if (!type_pattern_ok(c->types[i])) {
            host->cfg_error(s, "types", "\"%s\" is not a media type (\"text/html\", \"text/*\" or \"application/*+json\")",
                            c->types[i]);
            return -1;
        }
    c->level[CODING_GZIP] = (int)gz;
    c->level[CODING_BR] = (int)br;
    c->level[CODING_ZSTD] = (int)zs;
    *out = c;
    return 0;
}

/* Does `want` ("text/" "*", "application/" "*+json", "image/svg+xml") cover the media type t[0..n)? */
static int type_match(const char *want, const char *t, size_t n)
{
    const char *sl = memchr(t, '/', n);
    const char *wsl = strchr(want, '/');
    if (!sl || !wsl)
        return 0;
    size_t tlen = (size_t)(sl - t), wlen = (size_t)(wsl - want);
    if (tlen != wlen || strncasecmp(t, want, tlen) != 0)
        return 0;
    const char *sub = sl + 1, *wsub = wsl + 1;
    size_t slen = n - tlen - 1;
    if (strcmp(wsub, "*") == 0)
        return slen > 0;
    if (wsub[0] == '*') { /* "*+json": the subtype ends with "+json" */
        size_t k = strlen(wsub + 1);
        return slen > k && strncasecmp(sub + slen - k, wsub + 1, k) == 0;
    }
    return strlen(wsub) == slen && strncasecmp(sub, wsub, slen) == 0;
}

int cz_type_ok(const cz_conf *c, const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < c->n_types; i++)
        if (type_match(c->types[i], ct, n))
            return 1;
    return 0;
}

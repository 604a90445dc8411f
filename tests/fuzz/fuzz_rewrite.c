/*
 * libFuzzer target for mod_rewrite's rules: a pattern compiled by PCRE2 as
 * the module compiles it, the replacement's check (rw_check_refs) and its
 * expansion with the captures of a match (rw_expand, modules/rewrite/expand.c).
 * Input: three lines, pattern, replacement and the request path to match.
 * Checks: a replacement the check accepts never refers to a missing group;
 * an expansion fits its bound (the template plus each capture percent-encoded
 * three times over) and holds no NUL; a small buffer gives -1 (only when the
 * result does not fit) or the same result; a template without "$" comes out
 * unchanged. Matching is bounded (match and depth limits) so that a
 * backtracking pattern cannot stall the campaign.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite/expand.c"

static char *line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *pattern = line(&p, end), *to = line(&p, end);
    size_t subject_len = (size_t)(end - p);
    const char *subject = (const char *)p;

    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    uint32_t groups = 0;
    int bad = 0;
    if (!re || pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups) != 0 || groups > RW_MAX_CAPTURES ||
        rw_check_refs(to, (int)groups, &bad) < 0)
        goto out;

    /* Bounded matching: a hostile pattern must not turn one input into minutes. */
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_match_data *md = pcre2_match_data_create(RW_MAX_CAPTURES + 1, NULL);
    if (!mc || !md)
        abort();
    pcre2_set_match_limit(mc, 20000);
    pcre2_set_depth_limit(mc, 2000);
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, subject_len, 0, 0, md, mc);
    if (rc > 0) {
        const size_t *ov = pcre2_get_ovector_pointer(md);
        size_t refs = 0;
        for (const char *q = to; *q; q++)
            refs += *q == '$';
        size_t cap = strlen(to) + refs * 3 * subject_len + 1;
        char *big = malloc(cap), small[16];
        if (!big)
            abort();
        long n = rw_expand(to, subject, ov, rc, big, cap);
        if (n < 0 || (size_t)n >= cap || strlen(big) != (size_t)n)
            abort();
        if (!strchr(to, '$') && strcmp(big, to) != 0)
            abort();
        long m = rw_expand(to, subject, ov, rc, small, sizeof small);
        if (m >= 0 && (m != n || strcmp(small, big) != 0))
            abort();
        if (m < 0 && (size_t)n + 1 <= sizeof small)
            abort();
        free(big);
    }
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
out:
    pcre2_code_free(re);
    free(pattern);
    free(to);
    return 0;
}

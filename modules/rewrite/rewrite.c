/*
 * mod_rewrite (SPEC §6), a rewrite-phase module (ABI 1.2) with no handler:
 *
 *   "rewrite": {"rules": [{"match": "^/old/(.*)$", "to": "/new/$1", "redirect": 301},
 *                         {"match": "^/blog/([0-9]+)$", "to": "/posts/$1.html"}],
 *               "fallback": "/index.html"}
 *
 * Rules are PCRE2 patterns on the decoded path (before an index file is
 * applied), tried in order; the first that matches applies: with "redirect"
 * (301, 302, 307, 308) the client is sent to the expansion of "to", without it
 * the request continues internally with that path and is routed again (the
 * core stops a loop after 10 rewrites with a 500). The request's query is kept
 * unless "to" has one of its own. "fallback" serves a single-page app: a GET or
 * HEAD for a path with nothing on disk continues with that path instead
 * (nginx's try_files $uri /index.html).
 *
 * Patterns are compiled once, at configure time, into the configuration's own
 * memory (a PCRE2 general context over cfg_alloc), so they die with it on a
 * reload; a bad one is a startup error naming the rule's JSON path.
 */
#include <stdio.h>
#include <string.h>

#include "rewrite.h"

static const ws_host *host;
static pcre2_match_data *md; /* one for the process: matching runs on the loop thread only */

static void *cfg_malloc(size_t n, void *data) { return host->cfg_alloc((const ws_settings *)data, n); }
static void cfg_free(void *p, void *data)
{
    (void)p;
    (void)data; /* config memory is freed with the configuration */
}

static int rw_init(const ws_host *h)
{
    host = h;
    if (h->abi_minor < 2 || h->size < offsetof(ws_host, cfg_kind) + sizeof h->cfg_kind)
        return -1;
    md = pcre2_match_data_create(RW_MAX_CAPTURES + 1, NULL);
    return md ? 0 : -1;
}

static void rw_fini(void)
{
    pcre2_match_data_free(md);
    md = NULL;
}

static int compile_rule(const ws_settings *s, rw_rule *out)
{
    const char *match = NULL, *to = NULL;
    long long redirect = 0;
    int rm = host->cfg_string(s, "match", &match), rt = host->cfg_string(s, "to", &to);
    int rr = host->cfg_int(s, "redirect", 301, 308, &redirect);
    if (rm < 0 || rt < 0 || rr < 0)
        return -1;
    if (rm == 0 || rt == 0) {
        host->cfg_error(s, rm == 0 ? "match" : "to", "required");
        return -1;
    }
    if (rr == 1 && redirect != 301 && redirect != 302 && redirect != 307 && redirect != 308) {
        host->cfg_error(s, "redirect", "expected 301, 302, 307 or 308");
        return -1;
    }
    if (rr == 0 && to[0] != '/') {
        host->cfg_error(s, "to", "an internal rewrite goes to a local path starting with \"/\"");
        return -1;
    }
    pcre2_general_context *gc = pcre2_general_context_create(cfg_malloc, cfg_free, (void *)s);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    if (!cc) {
        host->cfg_error(s, "match", "out of memory");
        return -1;
    }
    int err = 0;
    PCRE2_SIZE off = 0;
    out->re = pcre2_compile((PCRE2_SPTR)match, PCRE2_ZERO_TERMINATED, 0, &err, &off, cc);
    if (!out->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        host->cfg_error(s, "match", "bad regular expression at offset %zu: %s", (size_t)off, (const char *)msg);
        return -1;
    }
    uint32_t groups = 0;
    pcre2_pattern_info(out->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    int bad = 0;
    if (groups > RW_MAX_CAPTURES) {
        host->cfg_error(s, "match", "more than %d capture groups", RW_MAX_CAPTURES);
        return -1;
    }
    if (rw_check_refs(to, (int)groups, &bad) < 0) {
        if (bad < 0)
            host->cfg_error(s, "to", "a \"$\" must be followed by a digit or \"$\"");
        else
            host->cfg_error(s, "to", "$%d refers to a group the pattern does not have (%u)", bad, groups);
        return -1;
    }
    out->to = to;
    out->redirect = (int)redirect;
    out->has_query = strchr(to, '?') != NULL;
    return 0;
}

static int rw_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    rw_conf *c = host->cfg_alloc(s, sizeof *c);
    const ws_settings *const *list = NULL;
    size_t n = 0;
    if (!c || host->cfg_object_list(s, "rules", &list, &n) < 0 || host->cfg_string(s, "fallback", &c->fallback) < 0)
        return -1;
    if (c->fallback && c->fallback[0] != '/') {
        host->cfg_error(s, "fallback", "expected a local path starting with \"/\"");
        return -1;
    }
    rw_rule *rules = host->cfg_alloc(s, (n ? n : 1) * sizeof *rules);
    if (!rules)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (compile_rule(list[i], &rules[i]) < 0)
            return -1;
    c->rules = rules;
    c->n_rules = n;
    *out = c;
    return 0;
}

/* The expansion plus the request's query when `to` has none. */
static const char *target_of(ws_request *r, const rw_rule *rule, const char *subject, int rc)
{
    char buf[8192];
    long n = rw_expand(rule->to, subject, pcre2_get_ovector_pointer(md), rc, buf, sizeof buf);
    if (n < 0)
        return NULL;
    if (!rule->has_query && r->query[0]) {
        size_t q = strlen(r->query);
        if ((size_t)n + q + 2 > sizeof buf)
            return NULL;
        buf[n] = '?';
        memcpy(buf + n + 1, r->query, q + 1);
    }
    return host->strdup(r, buf);
}

static int is_get(const ws_request *r)
{
    return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
}

static int rw_rewrite(ws_request *r)
{
    const rw_conf *c = r->conf;
    if (!c)
        return WS_CONTINUE;
    const char *subject = r->request_path;
    size_t len = strlen(subject);
    for (size_t i = 0; i < c->n_rules; i++) {
        const rw_rule *rule = &c->rules[i];
        int rc = pcre2_match(rule->re, (PCRE2_SPTR)subject, len, 0, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            continue;
        if (rc < 0) {
            host->log(WS_LOG_ERROR, r, "rule %zu: matching failed (PCRE2 error %d)", i, rc);
            return WS_ERROR;
        }
        if (rc == 0)
            rc = RW_MAX_CAPTURES + 1; /* the ovector was too small: cannot happen (checked at configure) */
        const char *to = target_of(r, rule, subject, rc);
        if (!to) {
            host->log(WS_LOG_ERROR, r, "rule %zu: the rewritten URI is too long", i);
            return WS_ERROR;
        }
        if (rule->redirect) {
            if (host->add_header(r, "Location", to) != WS_OK)
                return WS_ERROR;
            return rule->redirect;
        }
        return host->rewrite_uri(r, to) == WS_OK ? WS_CONTINUE : 400;
    }
    /* try_files $uri <fallback>: only when the location maps to files and nothing is there. */
    if (c->fallback && is_get(r) && r->fs_type == WS_FS_MISSING && strcmp(subject, c->fallback) != 0)
        return host->rewrite_uri(r, c->fallback) == WS_OK ? WS_CONTINUE : WS_ERROR;
    return WS_CONTINUE;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "rewrite",
    .init = rw_init,
    .fini = rw_fini,
    .configure = rw_configure,
    .rewrite = rw_rewrite,
};

/* mod_rewrite: rules compiled at configure time, applied in the rewrite phase. */
#ifndef MOD_REWRITE_H
#define MOD_REWRITE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

#include "webserv/module.h"

#define RW_MAX_CAPTURES 32

typedef struct rw_rule {
    pcre2_code *re;
    const char *to;      /* replacement with $0..$9 */
    int redirect;        /* 0: internal rewrite; else 301/302/307/308 */
    int has_query;       /* `to` holds a '?': the request's query is not appended */
} rw_rule;

typedef struct rw_conf {
    const rw_rule *rules;
    size_t n_rules;
    const char *fallback; /* NULL: none */
} rw_conf;

/* Expand `to` with the captures of a match on `subject` (ovector as PCRE2
 * gives it, n pairs), each capture percent-encoded for a URI path. The
 * result is written to out (cap bytes); returns its length, or -1 if it does
 * not fit or refers to a capture that did not take part. */
long rw_expand(const char *to, const char *subject, const size_t *ov, int n, char *out, size_t cap);
/* Check `to` at configure time: its $N all below n_groups + 1. -1 and the bad N in *bad. */
int rw_check_refs(const char *to, int n_groups, int *bad);

#endif

/*
 * Conditional requests and byte ranges (RFC 9110 §13 and §14), applied by the
 * core to any handler's 200 response. Pure functions: no I/O.
 */
#ifndef WEBSERV_HTTP_COND_H
#define WEBSERV_HTTP_COND_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The request's conditional and range headers (NULL when absent). */
typedef struct cond_request {
    int is_get_or_head;        /* GET or HEAD (304 only for these; others get 412 for If-None-Match) */
    const char *if_match;
    const char *if_none_match;
    const char *if_modified_since;
    const char *if_unmodified_since;
    const char *range;
    const char *if_range;
} cond_request;

/* The representation's validators. etag is a full entity-tag such as "\"5f-1a2b\"" (strong) or NULL. */
typedef struct cond_validators {
    const char *etag;
    time_t last_modified; /* 0 when unknown */
} cond_validators;

/*
 * Evaluate preconditions in the order of RFC 9110 §13.2.2:
 * If-Match (strong comparison; "*" matches any existing) else If-Unmodified-Since → 412 on failure;
 * If-None-Match (weak comparison; "*" matches) → 304 for GET/HEAD, else 412;
 * else If-Modified-Since (GET/HEAD only; ignored when If-None-Match is present, or the date is invalid) → 304.
 * Returns 0 to proceed, 304 or 412.
 */
int cond_check(const cond_request *rq, const cond_validators *v);

/*
 * Range (RFC 9110 §14.2) for a representation of `length` bytes (GET only; the caller checks).
 * Returns 200 (no Range, an If-Range that does not match (strong etag compare, or an exact date match),
 * a Range that is not "bytes=", or several ranges — served whole), 206 with *start and *len set
 * (one satisfiable range: "a-b", "a-", "-suffix"; b clamped to length-1), or 416 (syntactically
 * valid but unsatisfiable, e.g. first-pos >= length, or a suffix of 0). A malformed Range header is ignored (200).
 */
int range_check(const cond_request *rq, const cond_validators *v, int64_t length, int64_t *start, int64_t *len);

/* Strong ETag for a file: "\"<hex mtime seconds>-<hex size>-<hex inode>\"" into out (>= 64 bytes). */
void etag_from_stat(int64_t mtime, int64_t mtime_nsec, int64_t size, uint64_t inode, char *out, size_t outcap);

#endif

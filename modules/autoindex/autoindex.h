/*
 * mod_autoindex internals (SPEC §5 autoindex): shared by autoindex.c (the
 * descriptor and handlers), listing.c (read and sort a folder), escape.c (a
 * growable buffer and the HTML/URL/JSON escapes), render_html.c and
 * render_json.c. Everything here is hidden inside the .so.
 */
#ifndef MOD_AUTOINDEX_H
#define MOD_AUTOINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "webserv/module.h"

extern const ws_host *ai_host; /* kept from init() */

typedef struct ai_conf {
    int show_hidden; /* list names starting with '.' */
    int json;        /* "format": "json" */
} ai_conf;

typedef struct ai_entry {
    const char *name;
    size_t name_len;
    int is_dir;
    int64_t size;
    time_t mtime;
} ai_entry;

typedef struct ai_listing {
    ai_entry *entries; /* malloc'd; names point into `names` */
    size_t n;
    size_t n_dirs;
    char *names; /* malloc'd: every name, NUL-terminated, back to back */
} ai_listing;

/* Read `dir` in one pass, stat every entry, sort folders first then names
 * byte-wise. 0, or an errno value (EACCES for an unreadable folder), and
 * then *out holds nothing. Runs on the offload pool: it calls no host
 * function, and its memory (malloc) is the listing's until ai_list_free. */
int ai_list(const char *dir, int show_hidden, ai_listing *out);
void ai_list_free(ai_listing *l); /* idempotent */

/* shared_read.c: one read of a folder version for every request that wants
 * it while it runs (on the pool). `key` names the folder and what is read
 * of it (hidden names or not). NULL when out of memory (read alone then).
 * The result is final when this returns; release it once, on the loop. */
typedef struct ai_read ai_read;
const ai_read *ai_read_shared(const char *key, uint64_t version, const char *dir, int show_hidden);
int ai_read_err(const ai_read *rd);
const ai_listing *ai_read_listing(const ai_read *rd);
void ai_read_release(const ai_read *rd); /* NULL is ignored */

/* An output buffer in the request pool; on allocation failure it stops
 * growing and sets oom, so callers check once at the end. */
typedef struct ai_buf {
    ws_request *r;
    char *p;
    size_t len, cap;
    int oom;
} ai_buf;

void ai_buf_init(ai_buf *b, ws_request *r, size_t hint);
void ai_put(ai_buf *b, const char *s, size_t n);
void ai_puts(ai_buf *b, const char *s);
void ai_put_dec(ai_buf *b, uint64_t v); /* decimal digits */
void ai_printf(ai_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text for HTML: & < > " ' as entities; invalid UTF-8 and control bytes as U+FFFD. */
void ai_put_html(ai_buf *b, const char *s, size_t n);
/* For an href: every byte but unreserved characters and '/' percent-encoded. */
void ai_put_url(ai_buf *b, const char *s, size_t n);
/* Inside a JSON string: " and \ escaped, control bytes as \u00XX, invalid UTF-8 as U+FFFD. */
void ai_put_json(ai_buf *b, const char *s, size_t n);
/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t ai_utf8_len(const unsigned char *s, size_t n);

/* "2026-11-30T12:00:00Z" into out (at least 21 bytes). */
void ai_iso8601(time_t t, char out[static 21]);
/* "512 B", "1.2 KiB", "3.4 MiB", … into out (at least 16 bytes). */
void ai_human_size(int64_t bytes, char out[static 16]);

/* The directory's URL path with a trailing '/': r->path, '/' added if needed. */
const char *ai_dir_path(ws_request *r);

/* listing_cache.c: rendered listings by key, valid for one folder version.
 * get and put return a reference (or NULL) that the caller releases. */
typedef struct ai_cached ai_cached;
ai_cached *ai_cache_get(const char *key, uint64_t version, const char **body, size_t *len);
ai_cached *ai_cache_put(const char *key, uint64_t version, const char *body, size_t len);
void ai_cache_release(ai_cached *c);
void ai_cache_clear(void);

void ai_render_html(ai_buf *b, ws_request *r, const ai_listing *l);
void ai_render_json(ai_buf *b, const ai_listing *l);

#endif

/* mod_auth_basic: HTTP Basic authentication (RFC 7617) as an access-phase module. */
#ifndef MOD_AUTH_BASIC_H
#define MOD_AUTH_BASIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "webserv/module.h"

/* ---- basic_header.c: the Authorization field ---- */

/* Parse "Basic <token68>" (scheme case-insensitive, RFC 7617 §2) into
 * user and password, decoded into buf (cap bytes, NUL-terminated both).
 * 0, or -1 for anything malformed: another scheme, bad base64, no ':', a
 * control character in the user-id. */
int ab_parse_authorization(const char *value, char *buf, size_t cap, const char **user, const char **pass);
/* The token68 of a "Basic" credential as it stands in the field (not
 * decoded, surrounding spaces left out): 0, or -1 for another scheme. */
int ab_basic_token(const char *value, const char **token, size_t *n);

/* ---- htpasswd.c: the user file ---- */

typedef struct ab_user {
    char *name;
    char *hash; /* "$2y$…", "$2b$…", "$5$…" or "$6$…" */
} ab_user;

typedef struct ab_table {
    ab_user *users;
    size_t n;
} ab_table;

/* Parse a whole file's text. 0 and *out (malloc'ed; ab_table_free), or -1
 * with the 1-based line number of the first bad entry in *bad_line and why. */
int ab_parse_htpasswd(const char *text, size_t len, ab_table *out, size_t *bad_line, const char **why);
void ab_table_free(ab_table *t);
const char *ab_table_find(const ab_table *t, const char *user);

/* ---- users.c: user files kept fresh (shared by every location naming one) ---- */

typedef struct ab_file ab_file;
/* Load `path` at configure time; NULL with a message in err (naming file and line). */
ab_file *ab_file_get(const char *path, char *err, size_t errlen);
/* Re-read when the file changed (st from host->open_file); -1 when it cannot be used. */
int ab_file_refresh(ab_file *f, int fd, const struct stat *st, char *err, size_t errlen);
/* Whether a request looked at the file less than period_ms ago (then it is
 * not looked at again: once a second at most); ab_file_checked records a look. */
int ab_file_checked_since(const ab_file *f, uint64_t now_ms, uint64_t period_ms);
void ab_file_checked(ab_file *f, uint64_t now_ms);
const ab_table *ab_file_table(const ab_file *f);
/* Which load of the file the table is: another number after every change (the cache keys on it). */
uint64_t ab_file_version(const ab_file *f);
const char *ab_file_path(const ab_file *f);
void ab_files_free(void);

/* ---- cache.c: verified pairs, as keyed hashes ---- */

#define AB_MAX_USER 255  /* longest user-id accepted (bytes) */
#define AB_MAX_PASS 1023 /* longest password a credential can decode to */
#define AB_MAX_TOKEN 1368 /* longest token68 that can decode into AB_MAX_PASS + 1 bytes */
#define AB_KEY_LEN 16 /* SipHash-2-4-128 (siphash.h) */
int ab_cache_init(void); /* a fresh random key; -1 (no caching) when none could be drawn */
void ab_cache_free(void);
#define AB_CACHE_USER 64 /* user-ids this long or longer are verified every time (not cached) */
/* The keyed hash of a credential's token68 (ab_basic_token: the encoded
 * "user:password", so a hit needs no decoding) checked against `version` of
 * a user file (ab_file_version). */
void ab_cache_key(uint64_t version, const char *token, size_t n, unsigned char out[AB_KEY_LEN]);
/* The user-id a verified credential with this key belongs to, or NULL (none, or expired). */
const char *ab_cache_hit(const unsigned char key[AB_KEY_LEN], uint64_t now_ms);
/* Remember a verified credential (not when the user-id is AB_CACHE_USER long or more). */
void ab_cache_put(const unsigned char key[AB_KEY_LEN], uint64_t expires_ms, const char *user);
void ab_cache_clear(void);

/* ---- flight.c: one verification per cache key at a time ---- */

/* What a request's module_ctx slot points to: its first int says which. */
enum { AB_KIND_CONF = 0x61624301, AB_KIND_JOB, AB_KIND_WAITER };

#define AB_FLIGHT_WAITERS 128 /* requests answered from one verification at most */
typedef struct ab_waiter ab_waiter;
typedef struct ab_flight {
    unsigned char key[AB_KEY_LEN];
    struct ab_flight *prev, *next;
    ab_waiter *waiters;
    size_t n_waiters;
    int live; /* in the table: its verification has not been settled */
} ab_flight;
/* A request answered from another one's verification (in its own memory). */
struct ab_waiter {
    int kind;           /* AB_KIND_WAITER (the module_ctx slot says what it holds) */
    ws_request *r;
    const void *conf;   /* its location's ab_conf (a timer callback's r->conf is not) */
    ab_flight *flight;  /* NULL once settled or left */
    ab_waiter *prev, *next;
    ws_timer *wake;     /* armed at settle: answers it from its own event */
    int ok;             /* the verification's result, copied at settle */
    char user[AB_MAX_USER + 1];
};
/* Register f (the leader's memory) under key. */
void ab_flight_start(ab_flight *f, const unsigned char key[AB_KEY_LEN]);
/* The unsettled flight of this key, or NULL. */
ab_flight *ab_flight_find(const unsigned char key[AB_KEY_LEN]);
/* 0, or -1 when the flight has AB_FLIGHT_WAITERS already. */
int ab_flight_join(ab_flight *f, ab_waiter *w);
/* w's request ends before the flight settled. */
void ab_flight_leave(ab_waiter *w);
/* Take f out of the table; its waiters (detached, linked by next), or NULL
 * (also when already settled). */
ab_waiter *ab_flight_settle(ab_flight *f);
size_t ab_flights_live(void);
void ab_flights_forget(void);

/* ---- verify.c: one password against one hash (runs on the offload pool) ---- */
int ab_verify(const char *pass, const char *hash);

#endif

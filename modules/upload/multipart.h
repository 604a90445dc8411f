/*
 * A streaming multipart/form-data parser (RFC 7578, RFC 2046 §5.1.1).
 *
 * Pure: no I/O and no allocation. Feed it the body in pieces of any size
 * (the delimiter may be split anywhere across pieces); it calls part_begin
 * once a part's header block is complete, part_data for the part's content
 * (possibly many times, possibly with tiny pieces), and part_end when the
 * next delimiter is seen. The preamble and the epilogue are skipped.
 * mp_finish() reports a body that ended before the final "--boundary--".
 *
 * Strict where it costs nothing: header lines end with CRLF, no obsolete
 * line folding, the header block is bounded (MP_HEADER_MAX), and a
 * delimiter line may carry only blanks after the boundary.
 */
#ifndef UPLOAD_MULTIPART_H
#define UPLOAD_MULTIPART_H

#include <stddef.h>

#define MP_BOUNDARY_MAX 70  /* RFC 2046: 1 to 70 characters */
#define MP_HEADER_MAX 8192  /* one part's header block, CRLFs included */

enum mp_status {
    MP_OK = 0,
    MP_ERR_SYNTAX = -1,       /* malformed delimiter line or part header */
    MP_ERR_HEADER_SIZE = -2,  /* a part's header block exceeds MP_HEADER_MAX */
    MP_ERR_TRUNCATED = -3,    /* the body ended before the final boundary */
    MP_ERR_CALLBACK = -4,     /* a callback returned non-zero */
    MP_ERR_BOUNDARY = -5,     /* mp_init: bad boundary */
};

/* A part as described by its headers. Strings point into the parser and are
 * valid until part_end; they are NUL-terminated, but may also hold NUL bytes
 * (use the lengths). */
typedef struct mp_part {
    const char *name;          /* Content-Disposition name, or NULL */
    size_t name_len;
    const char *filename;      /* Content-Disposition filename, or NULL if absent */
    size_t filename_len;
    const char *content_type;  /* the part's Content-Type value, or NULL */
} mp_part;

/* Each returns 0 to go on; anything else stops the parser (MP_ERR_CALLBACK). */
typedef struct mp_callbacks {
    int (*part_begin)(void *arg, const mp_part *part);
    int (*part_data)(void *arg, const char *data, size_t len);
    int (*part_end)(void *arg);
} mp_callbacks;

typedef struct mp_parser {
    const mp_callbacks *cb;
    void *arg;
    int state;
    int error;                              /* sticky: the first error */
    size_t matched;                         /* delimiter bytes matched so far */
    size_t delim_len;
    char delim[4 + MP_BOUNDARY_MAX];        /* "\r\n--" boundary */
    size_t head_len;
    char head[MP_HEADER_MAX];               /* the current part's header block */
    char vals[MP_HEADER_MAX];               /* decoded header values */
    mp_part part;
} mp_parser;

/* The boundary of a Content-Type value "multipart/form-data; boundary=…"
 * (quoted or not). out must hold MP_BOUNDARY_MAX + 1 bytes. Returns its
 * length, or -1 when the type is not multipart/form-data or the boundary is
 * missing or invalid. */
int mp_boundary_of(const char *content_type, char *out);

/* 1 when content_type is multipart/form-data (whatever its parameters). */
int mp_is_form_data(const char *content_type);

/* Find parameter `name` (case-insensitive) in a header value such as
 * `form-data; name="a"; filename=b.txt`: the value before the first ';' is
 * skipped, quoted strings are unescaped (\" and \\; any other backslash is
 * kept as is). The decoded value goes to out (NUL-terminated). Returns 1 and
 * sets *out_len when found, 0 when absent, -1 when the list is malformed or
 * the value does not fit in cap bytes. */
int mp_param(const char *value, size_t vlen, const char *name, char *out, size_t cap, size_t *out_len);

/* Start a parser. Returns MP_OK or MP_ERR_BOUNDARY. */
int mp_init(mp_parser *p, const char *boundary, size_t len, const mp_callbacks *cb, void *arg);

/* Feed body bytes. Returns MP_OK or the (sticky) error. */
int mp_feed(mp_parser *p, const char *data, size_t len);

/* The body is over: MP_OK when the final boundary was seen, else an error. */
int mp_finish(mp_parser *p);

const char *mp_strerror(int status);

#endif

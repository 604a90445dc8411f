/*
 * HTTP/1.x request-head parser, path normaliser and chunked decoder.
 * Pure functions over byte slices: no I/O, no malloc. Strict where RFC 9112
 * allows leniency (bare LF, obs-fold, whitespace before the colon are errors).
 */
#ifndef WEBSERV_HTTP_PARSE_H
#define WEBSERV_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 100

typedef struct http_slice {
    const char *p;
    size_t n;
} http_slice;

typedef struct http_header_slice {
    http_slice name;
    http_slice value; /* without leading/trailing SP/HTAB */
} http_header_slice;

typedef struct http_head {
    http_slice method;
    http_slice target;    /* the raw request-target */
    int minor;            /* HTTP/1.minor: 0 or 1 */
    /* from the target */
    int target_form;      /* HTTP_FORM_ORIGIN, _ABSOLUTE or _ASTERISK */
    http_slice authority; /* absolute-form only: host[:port] of the target */
    http_slice path;      /* raw path ("/" for asterisk-form is left empty) */
    http_slice query;     /* without '?', empty when none */
    /* headers in order */
    http_header_slice headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    /* framing and connection facts, filled by http_parse_head */
    http_slice host;        /* the Host header value (may be empty) */
    int64_t content_length; /* -1: no Content-Length */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* after this request, per version and Connection */
    int expect_continue;    /* Expect: 100-continue */
} http_head;

enum { HTTP_FORM_ORIGIN = 0, HTTP_FORM_ABSOLUTE = 1, HTTP_FORM_ASTERISK = 2 };

/* Results of http_parse_head besides HTTP status codes (400, 414, 431, 501, 505). */
enum { HTTP_PARSE_OK = 0, HTTP_PARSE_AGAIN = 1 };

/*
 * Parse one request head from buf[0..len). Leading empty lines (CRLF) before
 * the request line are skipped, as RFC 9112 §2.2 allows.
 *
 * Returns HTTP_PARSE_OK with *head_len = bytes of the head including the final
 * CRLFCRLF; HTTP_PARSE_AGAIN when more bytes are needed (and nothing seen so far
 * is wrong); or the status code to answer with:
 *   400 malformed (bad request line, bare LF, obs-fold, space before colon,
 *       bad header name char, CTL/NUL in a value, bad or conflicting
 *       Content-Length, CL with TE, TE on HTTP/1.0, chunked not last,
 *       HTTP/1.1 without exactly one Host, more than HTTP_MAX_HEADERS headers),
 *   414 the request line alone is longer than max_head,
 *   431 the head is longer than max_head,
 *   501 a transfer coding other than chunked,
 *   505 a well-formed version other than HTTP/1.0 and HTTP/1.1.
 * Slices in *h point into buf. `scan_from` is an optimisation: the number of
 * bytes already known to hold no complete head (pass 0 if unsure); on AGAIN,
 * *head_len is set to the value to pass next time.
 */
int http_parse_head(const char *buf, size_t len, size_t max_head, size_t scan_from, http_head *h,
                    size_t *head_len);

/*
 * Parse one HTTP/1.x response head (an upstream's answer, for the proxy
 * module): status-line (RFC 9112 §4: HTTP-version SP 3DIGIT SP reason CRLF)
 * and the field lines, with the same strict rules as http_parse_head, then
 * the framing checks of RFC 9112 §6.3: an invalid or conflicting
 * Content-Length, Content-Length with Transfer-Encoding, a Transfer-Encoding
 * other than plain chunked, or any Transfer-Encoding on HTTP/1.0 are
 * errors (never a guess that could desynchronise a kept connection).
 * HTTP_PARSE_OK with *status, *head_len and h (method/target empty;
 * content_length, chunked, keep_alive filled); HTTP_PARSE_AGAIN; or -1 for
 * anything malformed, a status outside 100..599, or a head over max_head.
 */
int http_parse_response_head(const char *buf, size_t len, size_t max_head, http_head *h, int *status,
                             size_t *head_len);

/* Case-insensitive header lookup; NULL slice (p == NULL) when absent. */
http_slice http_head_get(const http_head *h, const char *name);

/*
 * Percent-decode and normalise a raw path (no query) into out (capacity
 * outcap, which must be >= n + 1). Resolves "." and ".." segments, collapses
 * repeated slashes, keeps a trailing slash. The result starts with '/' and is
 * NUL-terminated. Returns its length, or -1 for: a bad escape, an encoded or
 * raw NUL, a control character, a path not starting with '/', or ".." that
 * would climb above "/".
 */
long http_normalize_path(const char *raw, size_t n, char *out, size_t outcap);

/* True when s is a token (RFC 9110 §5.6.2): non-empty, tchar only. */
int http_is_token(const char *s, size_t n);
/* How many bytes of the C string s are tchar from its start (so s is a
 * token when that is > 0 and s[that] is its NUL): one pass, no strlen. */
size_t http_token_prefix(const char *s);

/* ---- chunked transfer coding (RFC 9112 §7.1) ---- */

typedef struct chunked_decoder {
    int state;
    uint64_t remaining;   /* bytes left in the current chunk */
    size_t line_len;      /* bytes of the current size/extension or trailer line */
    size_t trailer_bytes; /* total trailer section so far */
    int digits;           /* hex digits of the current chunk size */
} chunked_decoder;

enum {
    CHUNKED_AGAIN = 0, /* all input consumed, more needed */
    CHUNKED_DATA = 1,  /* (*data, *data_len) is a piece of body (points into the input) */
    CHUNKED_DONE = 2,  /* last-chunk and trailers read; *consumed ends the message */
    CHUNKED_ERROR = -1 /* malformed or over limits: answer 400 and close */
};

#define CHUNKED_MAX_LINE 4096     /* one chunk-size line with its extensions */
#define CHUNKED_MAX_TRAILERS 16384

void chunked_init(chunked_decoder *d);
/* Feed in[0..len). Sets *consumed (bytes of input used). On CHUNKED_DATA, the
 * body piece is (*data, *data_len), a sub-slice of the consumed input; call again
 * with the rest. */
int chunked_decode(chunked_decoder *d, const char *in, size_t len, size_t *consumed, const char **data,
                   size_t *data_len);

#endif

/*
 * The header block a CGI script writes before its body (RFC 3875 §6.2, §6.3).
 * A pure parser over a byte buffer: no I/O, no allocation, no state, so it can
 * be unit-tested and fuzzed alone. Results point into the caller's buffer.
 */
#ifndef WEBSERV_CGI_HEADER_H
#define WEBSERV_CGI_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGI_HEADER_MAX 16384   /* a block longer than this is refused (502) */
#define CGI_HEADER_FIELDS 100  /* at most this many other header fields */

typedef struct cgi_slice {
    const char *p; /* NULL when absent */
    size_t n;
} cgi_slice;

typedef struct cgi_head {
    int status;             /* Status field, 100..599; 0 when absent */
    cgi_slice reason;       /* its reason phrase, possibly empty */
    cgi_slice content_type; /* Content-Type value */
    cgi_slice location;     /* Location value */
    int64_t content_length; /* Content-Length value; -1 when absent */
    size_t n_fields;        /* the other fields, in the script's order */
    cgi_slice name[CGI_HEADER_FIELDS];
    cgi_slice value[CGI_HEADER_FIELDS]; /* blanks around it removed */
} cgi_head;

enum { CGI_HEAD_INVALID = -1, CGI_HEAD_INCOMPLETE = 0 };

/*
 * Parse the header block at the start of buf[0..len). Lines end with LF or
 * CRLF; the block ends with an empty line. Returns the block's length including
 * that empty line (the body starts there) when complete and valid;
 * CGI_HEAD_INCOMPLETE when more bytes are needed; CGI_HEAD_INVALID for a
 * malformed line (no colon, a name that is not a token, a control character or
 * a stray CR in a value, a folded line), a bad or repeated Status,
 * Content-Type, Location or Content-Length, a block with none of the CGI
 * fields Status, Content-Type and Location (§6.2), more than
 * CGI_HEADER_FIELDS other fields, or no end within CGI_HEADER_MAX bytes.
 * *h is filled as far as parsing got.
 */
ssize_t cgi_header_parse(const char *buf, size_t len, cgi_head *h);

enum {
    CGI_LOCATION_LOCAL = 1,    /* "/path?query": a local redirect (§6.2.2) */
    CGI_LOCATION_ABSOLUTE = 2, /* "scheme:…": a client redirect (§6.2.3) */
    CGI_LOCATION_OTHER = 3,    /* anything else ("//host/x", "x/y"): passed to the client as is */
};
int cgi_location_kind(cgi_slice loc);

/* Fields the script may not pass on: hop-by-hop fields (RFC 9110 §7.6.1) and
 * those the core writes itself (Date, Server, framing). 1 = drop it. */
int cgi_header_dropped(cgi_slice name);

#endif

/*
 * Request-head parser conformance: a table of raw request -> expected result
 * (the shape of Apache's test_006_unsafe.py). Every case runs twice: whole,
 * and fed byte by byte with growing length and the scan_from hint, which must
 * give the same result. Inputs sit right before a PROT_NONE page, so reading
 * one byte too far crashes the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardpage.h"
#include "http_parse.h"

/* ---- guard page ---- */

#define GUARD_CAP (256 * 1024)
static char *guard_end; /* first byte of the PROT_NONE page */

/* Copies src[0..n) so that it ends exactly at the guard page. */
static const char *guard_put(const char *src, size_t n) { return guard_copy(guard_end, GUARD_CAP, src, n); }

static int group_setup(void **state)
{
    (void)state;
    guard_end = guard_region(GUARD_CAP);
    return 0;
}

/* ---- the table ---- */

typedef struct head_case {
    const char *name;
    const char *in;
    size_t in_len;
    size_t max_head; /* 0: 8192 */
    int want;
    size_t head_len; /* OK: 0 means the whole input */
    /* OK only; NULL: not checked. "-" expects an absent (NULL) slice. */
    const char *method, *target, *path, *query, *authority, *host;
    const char *facts; /* see facts_of() */
} head_case;

#define RAW(s) .in = (s), .in_len = sizeof(s) - 1

static void facts_of(const http_head *h, char *out, size_t cap)
{
    snprintf(out, cap, "v1.%d form=%d cl=%lld chunked=%d ka=%d expect=%d n=%zu", h->minor, h->target_form,
             (long long)h->content_length, h->chunked, h->keep_alive, h->expect_continue, h->n_headers);
}

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

static const head_case cases[] = {
    /* ---- accepted ---- */
    {"simple", RAW("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"), .want = HTTP_PARSE_OK,
     .method = "GET", .target = "/index.html", .path = "/index.html", .query = "-", .authority = "-",
     .host = "example.com", .facts = "v1.1 form=0 cl=-1 chunked=0 ka=1 expect=0 n=1"},
    {"query", RAW("GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n"), .want = HTTP_PARSE_OK, .path = "/a/b",
     .query = "x=1&y=%20"},
    {"empty query", RAW("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"), .want = HTTP_PARSE_OK, .path = "/a", .query = ""},
    {"leading CRLFs", RAW("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = HTTP_PARSE_OK, .method = "GET"},
    {"http/1.0 no host", RAW("GET / HTTP/1.0\r\n\r\n"), .want = HTTP_PARSE_OK, .host = "-",
     .facts = "v1.0 form=0 cl=-1 chunked=0 ka=0 expect=0 n=0"},
    {"http/1.0 keep-alive", RAW("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.0 form=0 cl=-1 chunked=0 ka=1 expect=0 n=1"},
    {"1.0 keep-alive, close", RAW("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
     .want = HTTP_PARSE_OK, .facts = "v1.0 form=0 cl=-1 chunked=0 ka=0 expect=0 n=1"},
    {"1.1 close", RAW(H11 "Connection: foo, CLOSE\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=-1 chunked=0 ka=0 expect=0 n=2"},
    {"1.1 close in 2nd header", RAW(H11 "Connection: foo\r\nConnection: close\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=-1 chunked=0 ka=0 expect=0 n=3"},
    {"content-length", RAW(H11 "Content-Length: 5\r\n\r\nhello"), .want = HTTP_PARSE_OK,
     .head_len = sizeof(H11 "Content-Length: 5\r\n\r\n") - 1, .facts = "v1.1 form=0 cl=5 chunked=0 ka=1 expect=0 n=2"},
    {"content-length 0", RAW(H11 "Content-Length: 0\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=0 chunked=0 ka=1 expect=0 n=2"},
    {"content-length leading zeros", RAW(H11 "Content-Length: 007\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=7 chunked=0 ka=1 expect=0 n=2"},
    {"content-length list same", RAW(H11 "Content-Length: 5, 5\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=5 chunked=0 ka=1 expect=0 n=2"},
    {"content-length repeated same", RAW(H11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\n"),
     .want = HTTP_PARSE_OK, .facts = "v1.1 form=0 cl=5 chunked=0 ka=1 expect=0 n=3"},
    {"content-length int64 max", RAW(H11 "Content-Length: 9223372036854775807\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=9223372036854775807 chunked=0 ka=1 expect=0 n=2"},
    {"content-length OWS", RAW(H11 "Content-Length: \t 12 \t\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=12 chunked=0 ka=1 expect=0 n=2"},
    {"chunked", RAW("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=-1 chunked=1 ka=1 expect=0 n=2"},
    {"chunked uppercase", RAW("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
     .want = HTTP_PARSE_OK, .facts = "v1.1 form=0 cl=-1 chunked=1 ka=1 expect=0 n=2"},
    {"expect 100-continue", RAW(H11 "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=3 chunked=0 ka=1 expect=1 n=3"},
    {"expect ignored on 1.0", RAW("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
     .want = HTTP_PARSE_OK, .facts = "v1.0 form=0 cl=3 chunked=0 ka=0 expect=0 n=2"},
    {"absolute-form", RAW("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n"),
     .want = HTTP_PARSE_OK, .authority = "example.com:8080", .path = "/a/b", .query = "x=1", .host = "other",
     .facts = "v1.1 form=1 cl=-1 chunked=0 ka=1 expect=0 n=1"},
    {"absolute-form empty path", RAW("GET HTTPS://Example.com HTTP/1.1\r\nHost: x\r\n\r\n"), .want = HTTP_PARSE_OK,
     .authority = "Example.com", .path = "/", .query = "-"},
    {"absolute-form query no path", RAW("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n"), .want = HTTP_PARSE_OK,
     .authority = "h", .path = "/", .query = "q"},
    {"absolute-form ipv6", RAW("GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), .want = HTTP_PARSE_OK,
     .authority = "[::1]:80", .host = "[::1]:80"},
    {"ipv6 literals", RAW("GET http://[2001:db8::1] HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n"),
     .want = HTTP_PARSE_OK, .authority = "[2001:db8::1]", .host = "[::ffff:192.0.2.1]"},
    {"ipv6 full form", RAW("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8]:8080\r\n\r\n"), .want = HTTP_PARSE_OK},
    {"asterisk", RAW("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), .want = HTTP_PARSE_OK, .target = "*", .path = "",
     .facts = "v1.1 form=2 cl=-1 chunked=0 ka=1 expect=0 n=1"},
    {"value trimmed", RAW("GET / HTTP/1.1\r\nHost: \t a.b \t\r\n\r\n"), .want = HTTP_PARSE_OK, .host = "a.b"},
    {"value inner ws and obs-text", RAW(H11 "X: a \t b \xff\x80\r\n\r\n"), .want = HTTP_PARSE_OK},
    {"empty host", RAW("GET / HTTP/1.1\r\nHost:\r\n\r\n"), .want = HTTP_PARSE_OK, .host = ""},
    {"host with port", RAW("GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"), .want = HTTP_PARSE_OK},
    {"extension method", RAW("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = HTTP_PARSE_OK,
     .method = "PROPFIND"},
    {"pipelined", RAW(H11 "\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), .want = HTTP_PARSE_OK,
     .head_len = sizeof(H11 "\r\n") - 1, .path = "/"},
    {"exactly max_head", RAW(H11 "\r\n"), .max_head = sizeof(H11 "\r\n") - 1, .want = HTTP_PARSE_OK},
    {"empty header value", RAW(H11 "X-Empty:\r\n\r\n"), .want = HTTP_PARSE_OK},

    /* ---- incomplete ---- */
    {"incomplete head", RAW(H11), .want = HTTP_PARSE_AGAIN},
    {"incomplete request line", RAW("GET /ind"), .want = HTTP_PARSE_AGAIN},
    {"only CR", RAW("\r"), .want = HTTP_PARSE_AGAIN},
    {"only CRLF", RAW("\r\n"), .want = HTTP_PARSE_AGAIN},
    {"incomplete final CR", RAW(H11 "\r"), .want = HTTP_PARSE_AGAIN},

    /* ---- request line ---- */
    {"bare LF after request line", RAW("GET / HTTP/1.1\nHost: a\r\n\r\n"), .want = 400},
    {"bare LF only", RAW("GET / HTTP/1.1\nHost: a\n\n"), .want = 400},
    {"leading bare LF", RAW("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"leading CR without LF", RAW("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"CR inside request line", RAW("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"double space", RAW("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"space before version twice", RAW("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"leading space", RAW(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"trailing space", RAW("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), .want = 400},
    {"tab separator", RAW("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"bad method char", RAW("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"method with CTL", RAW("GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"method with NUL", RAW("GE\0T / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"method obs-text", RAW("G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"no method", RAW("/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"target with DEL", RAW("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"target obs-text", RAW("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"target NUL", RAW("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"target fragment", RAW("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"http/0.9 request", RAW("GET /\r\n\r\n"), .want = 400},
    {"version 2.0", RAW("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), .want = 505},
    /* RFC 9110 §2.5 (SPEC §4): a higher HTTP/1 minor is taken as 1.1, Host and all. */
    {"version 1.2 as 1.1", RAW("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=-1 chunked=0 ka=1 expect=0 n=1"},
    {"version 1.9 as 1.1", RAW("GET / HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n"), .want = HTTP_PARSE_OK,
     .facts = "v1.1 form=0 cl=-1 chunked=0 ka=0 expect=0 n=2"},
    {"version 1.2 needs Host", RAW("GET / HTTP/1.2\r\n\r\n"), .want = 400},
    {"version 3.0", RAW("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), .want = 505},
    {"version 1.11", RAW("GET / HTTP/1.11\r\nHost: a\r\n\r\n"), .want = 400},
    {"version 01.1", RAW("GET / HTTP/01.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"version 0.9", RAW("GET / HTTP/0.9\r\n\r\n"), .want = 505},
    {"version 3", RAW("GET / HTTP/3\r\nHost: a\r\n\r\n"), .want = 400},
    {"version lowercase", RAW("GET / http/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"version 1.10", RAW("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), .want = 400},
    {"version 11.1", RAW("GET / HTTP/11.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"version missing minor", RAW("GET / HTTP/1\r\nHost: a\r\n\r\n"), .want = 400},
    {"version junk", RAW("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"asterisk with GET", RAW("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"asterisk lowercase options", RAW("options * HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"asterisk-ish", RAW("OPTIONS *a HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"authority-form CONNECT", RAW("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"), .want = 400},
    {"relative target", RAW("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"ftp scheme", RAW("GET ftp://h/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"empty authority", RAW("GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"no authority", RAW("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"userinfo", RAW("GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n"), .want = 400},
    {"bad port", RAW("GET http://h:8x/ HTTP/1.1\r\nHost: h\r\n\r\n"), .want = 400},
    /* RFC 3986 §3.2.2, SPEC §4: a bracketed literal must be an IPv6 address. */
    {"target two ::", RAW("GET http://[4712::abcd::]/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"target not hex", RAW("GET http://[zz]/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 400},
    {"host two ::", RAW("GET / HTTP/1.1\r\nHost: [4712::abcd::]\r\n\r\n"), .want = 400},
    {"host not hex", RAW("GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n"), .want = 400},
    {"host empty brackets", RAW("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), .want = 400},
    {"host ipv4 in brackets", RAW("GET / HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n"), .want = 400},
    {"host nine groups", RAW("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n"), .want = 400},
    {"host IPvFuture", RAW("GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n"), .want = 400},
    {"host zone id", RAW("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n"), .want = 400},
    {"host junk after ]", RAW("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), .want = 400},
    {"host long literal", RAW("GET / HTTP/1.1\r\nHost: [0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]\r\n\r\n"),
     .want = 400},
    {"TLS handshake", RAW("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), .want = 400},

    /* ---- field lines ---- */
    {"bare LF in field", RAW("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), .want = 400},
    {"bare LF ends head", RAW(H11 "\n"), .want = 400},
    {"CR LF LF", RAW(H11 "X: b\r\n\n\r\n"), .want = 400},
    {"CR without LF in value", RAW(H11 "X: a\rb\r\n\r\n"), .want = 400},
    {"obs-fold", RAW(H11 "X: a\r\n b\r\n\r\n"), .want = 400},
    {"obs-fold tab", RAW(H11 "X: a\r\n\tb\r\n\r\n"), .want = 400},
    {"ws after request line", RAW("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), .want = 400},
    {"space before colon", RAW("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), .want = 400},
    {"tab before colon", RAW("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), .want = 400},
    {"space before colon CL", RAW(H11 "Content-Length : 5\r\n\r\nhello"), .want = 400},
    {"empty name", RAW(H11 ": a\r\n\r\n"), .want = 400},
    {"no colon", RAW(H11 "Foo\r\n\r\n"), .want = 400},
    {"bad name char", RAW(H11 "Fo(o: a\r\n\r\n"), .want = 400},
    {"name obs-text", RAW(H11 "F\xc3\xa9: a\r\n\r\n"), .want = 400},
    {"NUL in name", RAW(H11 "F\0o: a\r\n\r\n"), .want = 400},
    {"NUL in value", RAW(H11 "X: a\0b\r\n\r\n"), .want = 400},
    {"CTL in value", RAW(H11 "X: a\x01" "b\r\n\r\n"), .want = 400},
    {"DEL in value", RAW(H11 "X: a\x7f\r\n\r\n"), .want = 400},
    {"VT in value", RAW(H11 "X: a\x0b\r\n\r\n"), .want = 400},

    /* ---- Host ---- */
    {"1.1 without host", RAW("GET / HTTP/1.1\r\n\r\n"), .want = 400},
    {"two hosts", RAW(H11 "Host: a\r\n\r\n"), .want = 400},
    {"two hosts on 1.0", RAW("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), .want = 400},
    {"host with slash", RAW("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), .want = 400},
    {"host with userinfo", RAW("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), .want = 400},
    {"host list", RAW("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), .want = 400},
    {"host bad port", RAW("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), .want = 400},
    {"host dotdot", RAW("GET / HTTP/1.1\r\nHost: ..\r\n\r\n"), .want = HTTP_PARSE_OK, .host = ".."},

    /* ---- Content-Length ---- */
    {"CL negative", RAW(H11 "Content-Length: -5\r\n\r\n"), .want = 400},
    {"CL plus", RAW(H11 "Content-Length: +5\r\n\r\n"), .want = 400},
    {"CL hex", RAW(H11 "Content-Length: 0x5\r\n\r\n"), .want = 400},
    {"CL inner space", RAW(H11 "Content-Length: 5 5\r\n\r\n"), .want = 400},
    {"CL empty", RAW(H11 "Content-Length:\r\n\r\n"), .want = 400},
    {"CL empty element", RAW(H11 "Content-Length: 5,\r\n\r\n"), .want = 400},
    {"CL list differs", RAW(H11 "Content-Length: 5, 6\r\n\r\n"), .want = 400},
    {"CL repeated differs", RAW(H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), .want = 400},
    {"CL repeated 5 and 05", RAW(H11 "Content-Length: 5\r\nContent-Length: 05\r\n\r\n"),
     .want = HTTP_PARSE_OK, .facts = "v1.1 form=0 cl=5 chunked=0 ka=1 expect=0 n=3"},
    {"CL overflow", RAW(H11 "Content-Length: 9223372036854775808\r\n\r\n"), .want = 400},
    {"CL huge", RAW(H11 "Content-Length: 99999999999999999999999999\r\n\r\n"), .want = 400},
    {"CL exponent", RAW(H11 "Content-Length: 1e3\r\n\r\n"), .want = 400},

    /* ---- Transfer-Encoding ---- */
    {"TE and CL", RAW(H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), .want = 400},
    {"CL and TE", RAW(H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), .want = 400},
    {"TE on 1.0", RAW("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), .want = 400},
    {"TE chunked twice", RAW(H11 "Transfer-Encoding: chunked, chunked\r\n\r\n"), .want = 400},
    {"TE chunked twice repeated", RAW(H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
     .want = 400},
    {"TE chunked not last", RAW(H11 "Transfer-Encoding: chunked, gzip\r\n\r\n"), .want = 400},
    {"TE chunked not last repeated", RAW(H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
     .want = 400},
    {"TE gzip, chunked", RAW(H11 "Transfer-Encoding: gzip, chunked\r\n\r\n"), .want = 501},
    {"TE gzip", RAW(H11 "Transfer-Encoding: gzip\r\n\r\n"), .want = 501},
    {"TE identity", RAW(H11 "Transfer-Encoding: identity\r\n\r\n"), .want = 501},
    {"TE chunked with parameter", RAW(H11 "Transfer-Encoding: chunked;a=b\r\n\r\n"), .want = 400},
    {"TE empty", RAW(H11 "Transfer-Encoding:\r\n\r\n"), .want = 400},
    {"TE empty element", RAW(H11 "Transfer-Encoding: ,chunked\r\n\r\n"), .want = 400},
    {"TE chunked junk", RAW(H11 "Transfer-Encoding: chunked x\r\n\r\n"), .want = 400},
    {"TE xchunked", RAW(H11 "Transfer-Encoding: xchunked\r\n\r\n"), .want = 501},
    {"TE with CL 0", RAW(H11 "Transfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"), .want = 400},
    {"TE vertical tab", RAW(H11 "Transfer-Encoding: \x0b" "chunked\r\n\r\n"), .want = 400},

    /* ---- limits ---- */
    {"over max_head", RAW(H11 "\r\n"), .max_head = sizeof(H11 "\r\n") - 2, .want = 431},
    {"request line over max_head", RAW("GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"), .max_head = 20, .want = 414},
    {"request line CRLF at limit", RAW("GET /aaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n"), .max_head = 28,
     .want = 431},
};

/* ---- runner ---- */

static void check_slice(const char *what, http_slice got, const char *want)
{
    if (want == NULL)
        return;
    if (strcmp(want, "-") == 0) {
        if (got.p != NULL)
            fail_msg("%s: expected absent, got '%.*s'", what, (int)got.n, got.p);
        return;
    }
    if (got.p == NULL || got.n != strlen(want) || memcmp(got.p, want, got.n) != 0)
        fail_msg("%s: expected '%s', got '%.*s'", what, want, got.p ? (int)got.n : 6,
                 got.p ? got.p : "(null)");
}

/* A parsed slice must lie inside the head (path may be the constant "/"). */
static void check_inside(const char *buf, size_t head_len, http_slice s)
{
    if (s.p == NULL || s.n == 0)
        return;
    if (s.n == 1 && s.p[0] == '/' && (s.p < buf || s.p >= buf + head_len))
        return;
    assert_true(s.p >= buf && s.p + s.n <= buf + head_len);
}

static void check_ok(const head_case *c, const char *buf, size_t len, const http_head *h, size_t head_len)
{
    char facts[160];
    assert_int_equal(head_len, c->head_len ? c->head_len : len);
    check_slice("method", h->method, c->method);
    check_slice("target", h->target, c->target);
    check_slice("path", h->path, c->path);
    check_slice("query", h->query, c->query);
    check_slice("authority", h->authority, c->authority);
    check_slice("host", h->host, c->host);
    facts_of(h, facts, sizeof facts);
    if (c->facts && strcmp(facts, c->facts) != 0)
        fail_msg("facts: expected '%s', got '%s'", c->facts, facts);
    http_slice all[] = {h->method, h->target, h->authority, h->path, h->query, h->host};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        check_inside(buf, head_len, all[i]);
    for (size_t i = 0; i < h->n_headers; i++) {
        check_inside(buf, head_len, h->headers[i].name);
        check_inside(buf, head_len, h->headers[i].value);
        assert_true(http_is_token(h->headers[i].name.p, h->headers[i].name.n));
    }
}

/* Feeds prefixes of growing length with the scan_from hint; returns the first
 * non-AGAIN result (AGAIN when there is none). */
static int parse_bytewise(const char *in, size_t n, size_t max_head, http_head *h, size_t *head_len,
                          const char **buf)
{
    size_t hint = 0;
    for (size_t k = 1; k <= n; k++) {
        *buf = guard_put(in, k);
        size_t hl = 0;
        int rc = http_parse_head(*buf, k, max_head, hint, h, &hl);
        if (rc != HTTP_PARSE_AGAIN) {
            *head_len = hl;
            return rc;
        }
        assert_true(hl <= k);
        hint = hl;
    }
    return HTTP_PARSE_AGAIN;
}

static void run_case(const head_case *c)
{
    static http_head h;
    size_t max_head = c->max_head ? c->max_head : 8192, hl = 0;
    const char *buf = guard_put(c->in, c->in_len);
    int rc = http_parse_head(buf, c->in_len, max_head, 0, &h, &hl);
    if (rc != c->want)
        fail_msg("case '%s': expected %d, got %d", c->name, c->want, rc);
    if (rc == HTTP_PARSE_OK) {
        check_ok(c, buf, c->in_len, &h, hl);
        /* The head alone parses the same. */
        size_t hl2 = 0;
        buf = guard_put(c->in, hl);
        assert_int_equal(http_parse_head(buf, hl, max_head, 0, &h, &hl2), HTTP_PARSE_OK);
        assert_int_equal(hl2, hl);
    }
    rc = parse_bytewise(c->in, c->in_len, max_head, &h, &hl, &buf);
    if (rc != c->want)
        fail_msg("case '%s' byte by byte: expected %d, got %d", c->name, c->want, rc);
    if (rc == HTTP_PARSE_OK) {
        size_t k = c->head_len ? c->head_len : c->in_len;
        check_ok(c, buf, k, &h, hl); /* the OK came at exactly the head's last byte */
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

/* ---- generated cases ---- */

static char big[GUARD_CAP];

static head_case gen(const char *name, size_t len, size_t max_head, int want)
{
    head_case c = {.name = name, .in = big, .in_len = len, .max_head = max_head, .want = want};
    return c;
}

static void test_long_request_line(void **state)
{
    (void)state;
    /* A long target with no CRLF in sight: 414 once max_head bytes are in. */
    size_t n = (size_t)snprintf(big, sizeof big, "GET /");
    memset(big + n, 'a', 3000);
    head_case c = gen("long target, no CRLF", n + 3000, 1024, 414);
    run_case(&c);
    /* The same line completed: still 414, the line alone is over. */
    n += 3000;
    n += (size_t)snprintf(big + n, sizeof big - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    c = gen("long target", n, 1024, 414);
    run_case(&c);
    /* And accepted with a larger limit. */
    c = gen("long target accepted", n, 8192, HTTP_PARSE_OK);
    run_case(&c);
    /* A long method is no different. */
    memset(big, 'G', 2000);
    c = gen("long method", 2000, 1024, 414);
    run_case(&c);
}

static void test_long_header(void **state)
{
    (void)state;
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'v', 3000);
    head_case c = gen("long header unterminated", n + 3000, 1024, 431);
    run_case(&c);
    n += 3000;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n\r\n");
    c = gen("long header", n, 1024, 431);
    run_case(&c);
    c = gen("long header accepted", n, 8192, HTTP_PARSE_OK);
    run_case(&c);
}

static size_t make_headers(size_t count)
{
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 1; i < count; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-%zu: %zu\r\n", i, i);
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    return n;
}

static void test_header_count(void **state)
{
    (void)state;
    head_case c = gen("100 headers", make_headers(HTTP_MAX_HEADERS), 65536, HTTP_PARSE_OK);
    run_case(&c);
    c = gen("101 headers", make_headers(HTTP_MAX_HEADERS + 1), 65536, 431);
    run_case(&c);
}

static void test_many_leading_crlf(void **state)
{
    (void)state;
    size_t n = 0;
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    head_case c = gen("CRLF flood", n, 1024, 414);
    run_case(&c);
}

static void test_head_get(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Thing: one\r\nx-thing: two\r\nEmpty:\r\n\r\n";
    http_head h;
    size_t hl;
    const char *buf = guard_put(req, sizeof req - 1);
    assert_int_equal(http_parse_head(buf, sizeof req - 1, 8192, 0, &h, &hl), HTTP_PARSE_OK);
    http_slice v = http_head_get(&h, "x-THING");
    assert_non_null(v.p);
    assert_int_equal(v.n, 3);
    assert_memory_equal(v.p, "one", 3);
    v = http_head_get(&h, "empty");
    assert_non_null(v.p);
    assert_int_equal(v.n, 0);
    v = http_head_get(&h, "Missing");
    assert_null(v.p);
    v = http_head_get(&h, "X-Thin");
    assert_null(v.p);
}

static void test_is_token(void **state)
{
    (void)state;
    assert_true(http_is_token("GET", 3));
    assert_true(http_is_token("!#$%&'*+-.^_`|~09azAZ", 21));
    assert_false(http_is_token("", 0));
    assert_false(http_is_token("a b", 3));
    assert_false(http_is_token("a:b", 3));
    assert_false(http_is_token("a\0b", 3));
    assert_false(http_is_token("\xc3\xa9", 2));
    assert_false(http_is_token("(x)", 3));
}

/* Bytes after a complete head are none of the parser's business. */
static void test_scan_from_after_partial(void **state)
{
    (void)state;
    static const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
    http_head h;
    size_t hl = 0, hint = 0;
    /* Arrives in three reads. */
    size_t cuts[] = {10, 30, sizeof req - 1};
    int rc = HTTP_PARSE_AGAIN;
    for (size_t i = 0; i < 3; i++) {
        const char *buf = guard_put(req, cuts[i]);
        rc = http_parse_head(buf, cuts[i], 8192, hint, &h, &hl);
        if (rc == HTTP_PARSE_AGAIN)
            hint = hl;
    }
    assert_int_equal(rc, HTTP_PARSE_OK);
    assert_int_equal(hl, sizeof req - 3);
    assert_int_equal(h.content_length, 2);
    /* A scan_from past len is treated as 0. */
    const char *buf = guard_put(req, sizeof req - 1);
    assert_int_equal(http_parse_head(buf, sizeof req - 1, 8192, 9999, &h, &hl), HTTP_PARSE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_long_request_line),
        cmocka_unit_test(test_long_header),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_many_leading_crlf),
        cmocka_unit_test(test_head_get),
        cmocka_unit_test(test_is_token),
        cmocka_unit_test(test_scan_from_after_partial),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}

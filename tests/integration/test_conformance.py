"""SPEC §4 against RFC 9112 / RFC 9110 / RFC 3986: one table of raw request →
expected status and whether the connection must close.

Every row is sent on its own connection followed by a pipelined probe request
(GET /probe.txt with Connection: close). A row that must keep the connection
open is answered, then the probe is answered after it (proving the framing of
the row was understood exactly); a row that must close is answered and the
probe never is (nothing after a framing error may be trusted, RFC 9112 §9.6).
"""
import os
import socket
import unittest
from concurrent.futures import ThreadPoolExecutor

import harness

HEADER_SIZE = 1024           # limits.header_size for the whole table
SMALL_BODY = 10              # client_max_body_size of /small
PROBE = b"GET /probe.txt HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
PROBE_BODY = b"probe-ok\n"

H = b"Host: a.example\r\n"
KEEP, CLOSE = False, True


def get(target=b"/a.txt", version=b"HTTP/1.1", headers=H, method=b"GET"):
    return method + b" " + target + b" " + version + b"\r\n" + headers + b"\r\n"


def post(path, headers, body=b""):
    return b"POST " + path + b" HTTP/1.1\r\n" + H + headers + b"\r\n" + body


def chunked(body, path=b"/count"):
    return post(path, b"Transfer-Encoding: chunked\r\n", body)


def cl(value, body=b"", path=b"/count"):
    return post(path, b"Content-Length: " + value + b"\r\n", body)


def sized_get(total):
    """A GET whose head (up to and including the empty line) is exactly total bytes."""
    base = get(headers=H + b"X-Pad: \r\n")
    return get(headers=H + b"X-Pad: " + b"p" * (total - len(base)) + b"\r\n")


LONG_LINE = b"/" + b"x" * (HEADER_SIZE + 100)
LONG_VALUE = b"X-Big: " + b"v" * (HEADER_SIZE + 50) + b"\r\n"
MANY_HEADERS = b"".join(b"A%d:1\r\n" % i for i in range(101))
LONG_EXT = b";" + b"e" * 5000

# (raw request, expected status, must close, optional checks) — checks: "body"
# (exact body of the first response), "statuses" (every final status before
# the probe), "interim" (1xx statuses expected before the first final one).
TABLE = [
    # ---- request line (RFC 9112 §3) ----
    (get(), 200, KEEP),                                                      # RFC 9112 §3: origin-form GET
    (get(method=b"HEAD"), 200, KEEP),                                        # RFC 9110 §9.3.2: HEAD, no body
    (get(version=b"HTTP/1.0", headers=b""), 200, CLOSE),                      # RFC 9112 §9.3: 1.0 closes by default
    (get(version=b"HTTP/1.0", headers=b"Connection: keep-alive\r\n"), 200, KEEP),  # RFC 9112 §9.3: 1.0 keep-alive
    (b"\r\n" + get(), 200, KEEP),                                             # RFC 9112 §2.2: one leading CRLF ignored
    (b"\r\n\r\n" + get(), 200, KEEP),                                         # RFC 9112 §2.2: several leading empty lines
    (b"\n" + get(), 400, CLOSE),                                              # RFC 9112 §2.2: bare LF is not a line end here
    (b"GET  /a.txt HTTP/1.1\r\n" + H + b"\r\n", 400, CLOSE),                 # RFC 9112 §3: exactly one SP
    (b"GET /a.txt  HTTP/1.1\r\n" + H + b"\r\n", 400, CLOSE),                 # RFC 9112 §3: exactly one SP
    (b"GET\t/a.txt HTTP/1.1\r\n" + H + b"\r\n", 400, CLOSE),                 # RFC 9112 §3: HTAB is not SP
    (b" GET /a.txt HTTP/1.1\r\n" + H + b"\r\n", 400, CLOSE),                 # RFC 9112 §3: empty method
    (b"GET /a.txt\r\n" + H + b"\r\n", 400, CLOSE),                           # RFC 9112 §3: no version (HTTP/0.9 style)
    (b"GET /a.txt HTTP/1.1 \r\n" + H + b"\r\n", 400, CLOSE),                 # RFC 9112 §3: trailing SP after version
    (b"GET /a.txt HTTP/1.1\n" + H + b"\r\n", 400, CLOSE),                    # RFC 9112 §2.2: bare LF ends the request line
    (b"GET /a.txt HTTP/1.1\r\r\n" + H + b"\r\n", 400, CLOSE),                # RFC 9112 §2.2: bare CR
    (b"GET / a.txt HTTP/1.1\r\n" + H + b"\r\n", 400, CLOSE),                 # RFC 9112 §3: SP inside the target
    # ---- versions (RFC 9112 §2.3, RFC 9110 §2.5, §15.6.6) ----
    (get(version=b"http/1.1"), 400, CLOSE),                                   # RFC 9112 §2.3: HTTP-name is case-sensitive
    (get(version=b"HTTP/1.2"), 200, KEEP, {"body": b"AAA\n"}),               # RFC 9110 §2.5 (SPEC §4): a higher 1.x minor is served as 1.1
    (get(version=b"HTTP/1.9", headers=b""), 400, CLOSE),                      # RFC 9110 §2.5: as 1.1, so Host is required
    (get(version=b"HTTP/2.0"), 505, CLOSE),                                   # RFC 9110 §15.6.6: major version not supported
    (get(version=b"HTTP/3.0"), 505, CLOSE),                                   # RFC 9110 §15.6.6
    (get(version=b"HTTP/0.9"), 505, CLOSE),                                   # RFC 9110 §15.6.6: well-formed, not spoken
    (get(version=b"HTTP/9.9"), 505, CLOSE),                                   # RFC 9110 §15.6.6
    (get(version=b"HTTP/1.10"), 400, CLOSE),                                  # RFC 9112 §2.3: DIGIT "." DIGIT
    (get(version=b"HTTP/1.11"), 400, CLOSE),                                  # RFC 9112 §2.3 (SPEC §4): malformed, not a higher minor
    (get(version=b"HTTP/01.1"), 400, CLOSE),                                  # RFC 9112 §2.3: one digit per part
    (get(version=b"HTTP/1"), 400, CLOSE),                                     # RFC 9112 §2.3: minor required
    (get(version=b"HTTP/1."), 400, CLOSE),                                    # RFC 9112 §2.3
    (get(version=b"HTTP/ 1.1"), 400, CLOSE),                                  # RFC 9112 §2.3: no space
    (get(version=b"HTTPS/1.1"), 400, CLOSE),                                  # RFC 9112 §2.3: HTTP-name is "HTTP"
    (get(version=b"HTTP/1.x"), 400, CLOSE),                                   # RFC 9112 §2.3: DIGIT
    (get(version=b"HTTP/1.1" + b"\x00"), 400, CLOSE),                         # RFC 9112 §2.3: NUL after the version
    (get(version=b"HTTP/99999999999999999999.1"), 400, CLOSE),                # RFC 9112 §2.3: huge number is malformed
    # ---- methods (RFC 9110 §9.1, §5.6.2: method = token; unknown → 501) ----
    (get(method=b"get"), 501, CLOSE),                                         # RFC 9110 §9.1: case-sensitive, a valid token
    (get(method=b"BREW"), 501, CLOSE),                                        # RFC 9110 §15.6.2: unknown method
    (get(method=b"DELETE"), 501, CLOSE),                                      # RFC 9110 §15.6.2 (SPEC §3): no module declares DELETE
    (get(method=b"TRACE"), 501, CLOSE),                                       # RFC 9110 §9.3.8: not implemented here
    (get(method=b"PATCH"), 501, CLOSE),                                       # RFC 9110 §15.6.2
    (get(method=b"M-SEARCH!#$%&'*+.^_`|~"), 501, CLOSE),                      # RFC 9110 §5.6.2: every tchar
    (get(method=b"X" * 900), 501, CLOSE),                                     # RFC 9112 §3: long but within the limit
    (get(method=b"G@T"), 400, CLOSE),                                         # RFC 9110 §5.6.2: '@' is not a tchar
    (get(method=b"GE(T"), 400, CLOSE),                                        # RFC 9110 §5.6.2: '(' is not a tchar
    (get(method=b"GE\x00T"), 400, CLOSE),                                     # RFC 9110 §5.6.2: NUL in the method
    (get(method=b"GE\x7fT"), 400, CLOSE),                                     # RFC 9110 §5.6.2: DEL in the method
    (get(method=b"G\xc3\x89T"), 400, CLOSE),                                  # RFC 9110 §5.6.2: non-ASCII in the method
    (get(method=b"PUT") , 405, KEEP),                                         # RFC 9110 §15.5.6 (SPEC §3): declared (echo), not allowed here
    (get(b"/a.txt", method=b"OPTIONS", headers=H + b"Content-Length: 3\r\n") + b"abc", 204, KEEP),  # RFC 9110 §9.3.7: OPTIONS with content
    (get(headers=H + b"Transfer-Encoding: chunked\r\n") + b"3\r\nabc\r\n0\r\n\r\n", 200, KEEP, {"body": b"AAA\n"}),  # RFC 9112 §6.3: chunked GET body skipped
    (post(b"/a.txt", b"Content-Length: 3\r\n", b"abc"), 405, KEEP),           # SPEC §3: 405, body discarded (RFC 9112 §6.3)
    (get(b"a.example:443", method=b"CONNECT"), 400, CLOSE),                   # RFC 9112 §3.2.3: authority-form, not a proxy
    (get(b"/a.txt", method=b"OPTIONS"), 204, KEEP),                           # RFC 9110 §9.3.7 and SPEC §3: 204 + Allow
    (get(b"*", method=b"OPTIONS"), 204, KEEP),                                # RFC 9112 §3.2.4: asterisk-form
    (get(b"*", method=b"OPTIONS", version=b"HTTP/1.0", headers=b""), 204, CLOSE),  # RFC 9112 §3.2.4, §9.3
    (get(b"*"), 400, CLOSE),                                                  # RFC 9112 §3.2.4: only for OPTIONS
    (get(b"*", method=b"options"), 400, CLOSE),                               # RFC 9110 §9.1: "options" is not OPTIONS
    # ---- request target, path (RFC 9112 §3.2, RFC 3986 §3.3, §5.2.4) ----
    (get(b"/a.txt?x=1&y=%zz"), 200, KEEP),                                    # RFC 3986 §3.4: the query is not a path
    (get(b"/a.txt#frag"), 400, CLOSE),                                        # RFC 9112 §3.2: no fragment in a target
    (get(b"a.txt"), 400, CLOSE),                                              # RFC 9112 §3.2.1: origin-form starts with /
    (get(b"\\a.txt"), 400, CLOSE),                                            # RFC 9112 §3.2: not a valid form
    (get(b"/a\x00.txt"), 400, CLOSE),                                         # RFC 9112 §3.2: NUL in the target
    (get(b"/a\x01.txt"), 400, CLOSE),                                         # RFC 9112 §3.2: CTL in the target
    (get(b"/a\x7f.txt"), 400, CLOSE),                                         # RFC 9112 §3.2: DEL in the target
    (get(b"/a\x80.txt"), 400, CLOSE),                                         # RFC 3986 §2: raw non-ASCII must be escaped
    (get(b"/a%00.txt"), 400, CLOSE),                                          # RFC 3986 §2.1, SPEC §4: encoded NUL → 400
    (get(b"/a.txt%00.html"), 400, CLOSE),                                     # RFC 3986 §2.1, SPEC §4: NUL truncation attempt
    (get(b"/a%0d%0a.txt"), 400, CLOSE),                                       # RFC 3986 §2.1, SPEC §4: encoded CR LF
    (get(b"/a%2"), 400, CLOSE),                                               # RFC 3986 §2.1: truncated escape
    (get(b"/a%zz.txt"), 400, CLOSE),                                          # RFC 3986 §2.1: non-hex escape
    (get(b"/a%"), 400, CLOSE),                                                # RFC 3986 §2.1: lone '%'
    (get(b"/../a.txt"), 400, CLOSE),                                          # SPEC §4 / RFC 3986 §5.2.4: above the root
    (get(b"/%2e%2e/a.txt"), 400, CLOSE),                                      # RFC 3986 §5.2.4, SPEC §4: encoded dot-dot
    (get(b"/%2E%2E/%2E%2E/etc/passwd"), 400, CLOSE),                          # RFC 3986 §2.1, §5.2.4: upper-case escapes
    (get(b"/..%2fetc/passwd"), 400, CLOSE),                                   # RFC 3986 §5.2.4, SPEC §4: %2f after dot-dot
    (get(b"/%2e%2e%2f%2e%2e%2fetc%2fpasswd"), 400, CLOSE),                    # RFC 3986 §5.2.4, SPEC §4: fully encoded traversal
    (get(b"/dir/../../a.txt"), 400, CLOSE),                                   # RFC 3986 §5.2.4: climbs out
    (get(b"/dir/%2e%2e/%2e%2e/a.txt"), 400, CLOSE),                           # RFC 3986 §5.2.4, SPEC §4: encoded, climbs out
    (get(b"/.%2e/a.txt"), 400, CLOSE),                                        # RFC 3986 §5.2.4, SPEC §4: mixed dot-dot
    (get(b"/dir/../a.txt"), 200, KEEP, {"body": b"AAA\n"}),                   # RFC 3986 §5.2.4: stays inside
    (get(b"/dir/%2e%2e/a.txt"), 200, KEEP, {"body": b"AAA\n"}),               # RFC 3986 §5.2.4, SPEC §4: decoded, then normalised
    (get(b"/./a.txt"), 200, KEEP, {"body": b"AAA\n"}),                        # RFC 3986 §5.2.4: "." segment
    (get(b"//a.txt"), 200, KEEP, {"body": b"AAA\n"}),                         # RFC 3986 §3.3, SPEC §4: repeated slashes collapse
    (get(b"/dir//..//a.txt"), 200, KEEP, {"body": b"AAA\n"}),                 # RFC 3986 §5.2.4, SPEC §4: slashes, then dot-dot
    (get(b"/%61.txt"), 200, KEEP, {"body": b"AAA\n"}),                        # RFC 3986 §2.3: encoded unreserved
    (get(b"/a%2etxt"), 200, KEEP, {"body": b"AAA\n"}),                        # RFC 3986 §2.1: encoded '.'
    (get(b"/dir%2findex.html"), 200, KEEP, {"body": b"dir index\n"}),         # RFC 3986 §2.1, SPEC §4: %2f decoded like '/'
    (get(b"/a.txt%2f"), 404, KEEP),                                           # RFC 3986 §3.3, SPEC §4: a file is not a folder
    (get(b"/dir"), 301, KEEP),                                                # RFC 9110 §15.4.2 (SPEC §3): folder without slash
    (get(b"/dir/"), 200, KEEP, {"body": b"dir index\n"}),                     # RFC 3986 §3.3 (SPEC §3): index file
    (get(b"/missing"), 404, KEEP),                                            # RFC 9110 §15.5.5
    (get(b"/" + b"m" * 900), 404, KEEP),                                      # RFC 9112 §3: long target within limit
    (get(LONG_LINE), 414, CLOSE),                                             # RFC 9112 §3 / RFC 9110 §15.5.15: request line over the limit
    (get(method=b"X" * (HEADER_SIZE + 10)), 414, CLOSE),                      # RFC 9112 §3: long method, still the request line
    # ---- absolute-form (RFC 9112 §3.2.2) ----
    (get(b"http://a.example/a.txt"), 200, KEEP, {"body": b"AAA\n"}),          # RFC 9112 §3.2.2
    (get(b"http://b.example/who.txt"), 200, KEEP, {"body": b"server-b\n"}),   # RFC 9112 §3.2.2: target authority wins over Host
    (get(b"HTTP://B.EXAMPLE/who.txt"), 200, KEEP, {"body": b"server-b\n"}),   # RFC 3986 §3.1, §3.2.2: case-insensitive
    (get(b"http://b.example:80/who.txt"), 200, KEEP, {"body": b"server-b\n"}),  # RFC 3986 §3.2.3: port ignored for routing
    (get(b"http://a.example"), 200, KEEP, {"body": b"home\n"}),               # RFC 9112 §3.2.2: empty path is "/"
    (get(b"http://a.example?q=1"), 200, KEEP, {"body": b"home\n"}),           # RFC 9112 §3.2.2: empty path with a query
    (get(b"http://b.example/who.txt", version=b"HTTP/1.0", headers=b""), 200, CLOSE, {"body": b"server-b\n"}),  # RFC 9112 §3.2.2
    (get(b"http://b.example/who.txt", headers=b""), 400, CLOSE),              # RFC 9112 §3.2: 1.1 needs Host even so
    (get(b"http:///a.txt"), 400, CLOSE),                                      # RFC 9110 §4.2.1: empty host
    (get(b"http://[::1]/a.txt"), 200, KEEP, {"body": b"AAA\n"}),             # RFC 3986 §3.2.2: IP-literal authority
    (get(b"http://[4712::abcd::]/a.txt"), 400, CLOSE),                        # RFC 4291 §2.2, SPEC §4: not an IPv6 address
    (get(b"http://[zz]/a.txt"), 400, CLOSE),                                  # RFC 3986 §3.2.2, SPEC §4
    (get(b"http://user@a.example/a.txt"), 400, CLOSE),                        # RFC 9110 §4.2.4: userinfo is an error
    (get(b"http://a.example/../a.txt"), 400, CLOSE),                          # RFC 9112 §3.2.2, RFC 3986 §5.2.4: traversal in absolute-form
    (get(b"http://a example/a.txt"), 400, CLOSE),                             # RFC 9112 §3: SP splits the line
    (get(b"ftp://a.example/a.txt"), 400, CLOSE),                              # RFC 9112 §3.2.2: not an http URI
    # ---- Host (RFC 9112 §3.2, RFC 9110 §7.2) ----
    (get(headers=b""), 400, CLOSE),                                           # RFC 9112 §3.2: 1.1 without Host
    (get(headers=H + H), 400, CLOSE),                                         # RFC 9112 §3.2: more than one Host
    (get(headers=H + b"Host: b.example\r\n"), 400, CLOSE),                    # RFC 9112 §3.2: differing Hosts
    (get(headers=b"Host: a.example, b.example\r\n"), 400, CLOSE),             # RFC 9110 §7.2: Host is not a list
    (get(headers=b"Host:\r\n"), 200, KEEP, {"body": b"AAA\n"}),               # RFC 9110 §7.2: empty Host is allowed
    (get(headers=b"Host: a.example:8080\r\n"), 200, KEEP),                    # RFC 9110 §7.2: host:port
    (get(headers=b"Host: a.example:\r\n"), 200, KEEP),                        # RFC 3986 §3.2.3: port = *DIGIT (empty)
    (get(b"/who.txt", headers=b"Host: B.Example\r\n"), 200, KEEP, {"body": b"server-b\n"}),  # RFC 3986 §3.2.2 (SPEC §3): host is case-insensitive
    (get(b"/who.txt", headers=b"Host:   b.example  \r\n"), 200, KEEP, {"body": b"server-b\n"}),  # RFC 9112 §5.1: OWS
    (get(b"/who.txt", headers=b"Host: nobody.example\r\n"), 200, KEEP, {"body": b"server-a\n"}),  # RFC 9110 §7.2 (SPEC §3): unknown host → first server
    (get(headers=b"Host: [::1]:80\r\n"), 200, KEEP),                          # RFC 3986 §3.2.2: IP-literal
    (get(headers=b"Host: [::1\r\n"), 400, CLOSE),                             # RFC 3986 §3.2.2: unclosed IP-literal
    (get(headers=b"Host: [4712::abcd::]\r\n"), 400, CLOSE),                   # RFC 4291 §2.2, SPEC §4: "::" only once
    (get(headers=b"Host: [zz]\r\n"), 400, CLOSE),                             # RFC 3986 §3.2.2, SPEC §4: not an IPv6 address
    (get(headers=b"Host: [::ffff:127.0.0.1]:80\r\n"), 200, KEEP),             # RFC 3986 §3.2.2: IPv6 with an IPv4 tail
    (get(headers=b"Host: [v1.x]\r\n"), 400, CLOSE),                           # SPEC §4: IPvFuture is not an IPv6 address
    (get(headers=b"Host: a.example:8o\r\n"), 400, CLOSE),                     # RFC 3986 §3.2.3: port is digits
    (get(headers=b"Host: a.example/x\r\n"), 400, CLOSE),                      # RFC 9110 §7.2: no path in Host
    (get(headers=b"Host: user@a.example\r\n"), 400, CLOSE),                   # RFC 9110 §7.2: uri-host, no userinfo
    (get(headers=b"Host: a b\r\n"), 400, CLOSE),                              # RFC 3986 §3.2.2: SP in reg-name
    (get(headers=b"Host: a\x00b\r\n"), 400, CLOSE),                           # RFC 9110 §5.5: NUL in a value
    (get(version=b"HTTP/1.0", headers=b"Connection: keep-alive\r\n" + H + H), 400, CLOSE),  # RFC 9112 §3.2: two Hosts, any version
    # ---- field lines (RFC 9112 §5, RFC 9110 §5.5, §5.6.2) ----
    (get(headers=H + b"X-A: 1\r\n"), 200, KEEP),                              # RFC 9112 §5
    (get(headers=H + b"Host : a\r\n"), 400, CLOSE),                           # RFC 9112 §5.1: SP before the colon
    (get(headers=b"Host : a.example\r\n"), 400, CLOSE),                       # RFC 9112 §5.1: SP before the colon
    (get(headers=H + b"X-A\t: 1\r\n"), 400, CLOSE),                           # RFC 9112 §5.1: HTAB before the colon
    (get(headers=H + b"X-A: 1\r\n b\r\n"), 400, CLOSE),                       # RFC 9112 §5.2: obs-fold
    (get(headers=H + b"X-A: 1\r\n\tb\r\n"), 400, CLOSE),                      # RFC 9112 §5.2: obs-fold with HTAB
    (b"GET /a.txt HTTP/1.1\r\n " + H + b"\r\n", 400, CLOSE),                  # RFC 9112 §2.2: whitespace after the start line
    (get(headers=H + b": 1\r\n"), 400, CLOSE),                                # RFC 9110 §5.1: empty field name
    (get(headers=H + b"X-A\r\n"), 400, CLOSE),                                # RFC 9112 §5: no colon
    (get(headers=H + b"X A: 1\r\n"), 400, CLOSE),                             # RFC 9110 §5.6.2: SP in a name
    (get(headers=H + b"X\x00A: 1\r\n"), 400, CLOSE),                          # RFC 9110 §5.6.2: NUL in a name
    (get(headers=H + b"X\x01A: 1\r\n"), 400, CLOSE),                          # RFC 9110 §5.6.2: CTL in a name
    (get(headers=H + b"X\x7fA: 1\r\n"), 400, CLOSE),                          # RFC 9110 §5.6.2: DEL in a name
    (get(headers=H + b"X\rA: 1\r\n"), 400, CLOSE),                            # RFC 9112 §2.2: bare CR in a name
    (get(headers=H + b"X(A): 1\r\n"), 400, CLOSE),                            # RFC 9110 §5.6.2: delimiter in a name
    (get(headers=H + b"X\xc3\xa9: 1\r\n"), 400, CLOSE),                       # RFC 9110 §5.6.2: non-ASCII name
    (get(headers=H + b"X-A: a\x00b\r\n"), 400, CLOSE),                        # RFC 9110 §5.5: NUL in a value
    (get(headers=H + b"X-A: a\x01b\r\n"), 400, CLOSE),                        # RFC 9110 §5.5: CTL in a value
    (get(headers=H + b"X-A: a\x7fb\r\n"), 400, CLOSE),                        # RFC 9110 §5.5: DEL in a value
    (get(headers=H + b"X-A: a\rb\r\n"), 400, CLOSE),                          # RFC 9112 §2.2: bare CR in a value
    (get(headers=H + b"X-A: a\nb\r\n"), 400, CLOSE),                          # RFC 9112 §2.2: bare LF in a value
    (get(headers=H + b"X-A: 1\n"), 400, CLOSE),                               # RFC 9112 §2.2: bare LF ends a field
    (b"GET /a.txt HTTP/1.1\n" + b"Host: a.example\n\n", 400, CLOSE),         # RFC 9112 §2.2: LF-only message
    (get(headers=H + b"X-A: 1\r\r\n"), 400, CLOSE),                           # RFC 9112 §2.2: CR CR LF
    (get(headers=H + b"X-A: caf\xc3\xa9 \xff\r\n"), 200, KEEP),               # RFC 9110 §5.5: obs-text allowed
    (get(headers=H + b"X-A: a\tb\r\n"), 200, KEEP),                           # RFC 9110 §5.5: HTAB inside a value
    (get(headers=H + b"X-A:\r\n"), 200, KEEP),                                # RFC 9110 §5.5: empty value
    (get(headers=H + b"X-A::1\r\n"), 200, KEEP),                              # RFC 9110 §5.5: ':' in a value
    (get(headers=H + b"X-" + b"n" * 700 + b": 1\r\n"), 200, KEEP),            # RFC 9112 §5: long name within the limit
    (get(headers=H + LONG_VALUE), 431, CLOSE),                                # RFC 9110 §5.4 (431: RFC 6585 §5): over header_size
    (sized_get(HEADER_SIZE), 200, KEEP, {"body": b"AAA\n"}),                 # RFC 9110 §5.4: a head of exactly the limit
    (sized_get(HEADER_SIZE + 1), 431, CLOSE),                                 # RFC 9110 §5.4: one byte over the limit
    (get(headers=H + b"".join(b"A%d:1\r\n" % i for i in range(99))), 200, KEEP),  # RFC 9110 §5.4: 100 fields are kept
    (get(headers=H + MANY_HEADERS), 431, CLOSE),                              # RFC 9110 §5.4 (431: RFC 6585 §5): too many fields
    (get(headers=H + b"X-A: 1\r\n" * 60 + b"X-B: " + b"b" * 600 + b"\r\n"), 431, CLOSE),  # RFC 9110 §5.4: field section over the limit
    # ---- Connection (RFC 9112 §9.3, RFC 9110 §7.6.1) ----
    (get(headers=H + b"Connection: close\r\n"), 200, CLOSE),                  # RFC 9112 §9.6
    (get(headers=H + b"Connection: CLOSE\r\n"), 200, CLOSE),                  # RFC 9110 §7.6.1: case-insensitive
    (get(headers=H + b"Connection: keep-alive, close\r\n"), 200, CLOSE),      # RFC 9110 §7.6.1: a list
    (get(headers=H + b"Connection: foo\r\nConnection: close\r\n"), 200, CLOSE),  # RFC 9110 §5.3: lines combine
    (get(headers=H + b"Connection: foo\r\n"), 200, KEEP),                     # RFC 9112 §9.3: 1.1 persists
    (get(version=b"HTTP/1.0", headers=b"Connection: Keep-Alive\r\n"), 200, KEEP),  # RFC 9112 §9.3
    # ---- Content-Length (RFC 9112 §6.2, §6.3; RFC 9110 §8.6) ----
    (cl(b"5", b"hello"), 200, KEEP, {"body": b"5"}),                          # RFC 9112 §6.2
    (cl(b"0"), 200, KEEP, {"body": b"0"}),                                    # RFC 9112 §6.2
    (post(b"/count", b""), 411, KEEP),                                       # RFC 9110 §15.5.12: POST without a length refused
    (b"PUT /count HTTP/1.1\r\n" + H + b"\r\n", 411, KEEP),                  # RFC 9110 §15.5.12: PUT without a length refused
    (b"DELETE /count HTTP/1.1\r\n" + H + b"\r\n", 501, CLOSE),              # SPEC §3: no loaded module declares DELETE → 501
    (cl(b"0005", b"hello"), 200, KEEP, {"body": b"5"}),                       # RFC 9110 §8.6: 1*DIGIT, leading zeros
    (cl(b" 5 ", b"hello"), 200, KEEP, {"body": b"5"}),                        # RFC 9112 §5.1: OWS around the value
    (cl(b"\t5\t", b"hello"), 200, KEEP, {"body": b"5"}),                      # RFC 9112 §5.1: HTAB OWS
    (cl(b"5, 5", b"hello"), 200, KEEP, {"body": b"5"}),                       # RFC 9110 §8.6: identical list
    (post(b"/count", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 200, KEEP, {"body": b"5"}),  # RFC 9110 §8.6
    (post(b"/count", b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400, CLOSE),  # RFC 9112 §6.3 item 5
    (cl(b"5, 6", b"hello!"), 400, CLOSE),                                     # RFC 9112 §6.3 item 5: differing list
    (cl(b"5,", b"hello"), 400, CLOSE),                                        # RFC 9110 §8.6: empty element
    (cl(b"+5", b"hello"), 400, CLOSE),                                        # RFC 9110 §8.6: no sign
    (cl(b"-1"), 400, CLOSE),                                                  # RFC 9110 §8.6: negative
    (cl(b"0x5", b"hello"), 400, CLOSE),                                       # RFC 9110 §8.6: no hex
    (cl(b"5a", b"hello"), 400, CLOSE),                                        # RFC 9110 §8.6: digits only
    (cl(b"5 5", b"hello"), 400, CLOSE),                                       # RFC 9110 §8.6: SP inside
    (cl(b"5.0", b"hello"), 400, CLOSE),                                       # RFC 9110 §8.6: no fraction
    (cl(b"", b"hello"), 400, CLOSE),                                          # RFC 9110 §8.6: empty
    (cl(b"\xd9\xa5", b"hello"), 400, CLOSE),                                  # RFC 9110 §8.6: non-ASCII digit
    (cl(b"99999999999999999999999"), 400, CLOSE),                             # RFC 9112 §6.3 item 5: overflow
    (cl(b"18446744073709551621", b"hello"), 400, CLOSE),                      # RFC 9112 §6.3: 2^64+5 must not wrap to 5
    (cl(b"9223372036854775807"), 413, CLOSE),                                 # RFC 9110 §15.5.14: over client_max_body_size
    (cl(b"11", b"x" * 11, path=b"/small"), 413, CLOSE),                       # RFC 9110 §15.5.14
    (cl(b"10", b"x" * 10, path=b"/small"), 200, KEEP, {"body": b"10"}),       # RFC 9110 §15.5.14 (SPEC §4): at the limit is fine
    (get(headers=H + b"Content-Length: 5\r\n") + b"hello", 200, KEEP, {"body": b"AAA\n"}),  # RFC 9112 §6.3: GET body skipped
    (post(b"/echo", b"Content-Length: 5\r\n", b"hello"), 200, KEEP, {"body": b"hello"}),   # RFC 9112 §6.2: exact framing
    (post(b"/echo", b"Content_Length: 5\r\n", b""), 411, KEEP),              # RFC 9110 §5.1: another field name, so no length
    # ---- Transfer-Encoding (RFC 9112 §6.1, §6.3, §7) ----
    (chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 200, KEEP, {"body": b"11"}),  # RFC 9112 §7.1
    (chunked(b"5\r\nhello\r\n0\r\n\r\n", path=b"/echo"), 200, KEEP, {"body": b"hello"}),  # RFC 9112 §7.1
    (post(b"/count", b"Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),  # RFC 9112 §7
    (post(b"/count", b"Transfer-Encoding:  chunked \r\n", b"5\r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),  # RFC 9112 §5.1
    (post(b"/count", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §6.1: CL+TE
    (post(b"/count", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §6.1: TE+CL
    (post(b"/count", b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §6.1
    (post(b"/count", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §7: chunked twice
    (post(b"/count", b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §6.1: chunked once only
    (post(b"/count", b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §6.3 item 4: not last
    (post(b"/count", b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501, CLOSE),  # RFC 9112 §6.1: unknown coding
    (post(b"/count", b"Transfer-Encoding: gzip\r\n", b""), 501, CLOSE),       # RFC 9112 §6.1 (SPEC §4): another coding → 501
    (post(b"/count", b"Transfer-Encoding: identity\r\n", b""), 501, CLOSE),   # RFC 9112 §7: identity is gone
    (post(b"/count", b"Transfer-Encoding: xchunked\r\n", b""), 501, CLOSE),   # RFC 9112 §7: a different token
    (post(b"/count", b"Transfer-Encoding: chunked;q=1\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §7: chunked has no params
    (post(b"/count", b"Transfer-Encoding:\r\n", b""), 400, CLOSE),            # RFC 9112 §6.1: empty coding list
    (post(b"/count", b"Transfer-Encoding: ,chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §7: empty element
    (post(b"/count", b"Transfer-Encoding: chunked\x0b\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9110 §5.5: VT in a value
    (post(b"/count", b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §5.1: SP before colon
    (post(b"/count", b"Transfer-Encoding: chunked\r\n chunked\r\n", b"0\r\n\r\n"), 400, CLOSE),  # RFC 9112 §5.2: obs-fold
    (b"POST /count HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, CLOSE),  # RFC 9112 §6.1: TE on 1.0
    (post(b"/echo", b"Transfer_Encoding: chunked\r\n", b""), 411, KEEP),  # RFC 9110 §15.5.12 (no length: 411); RFC 9110 §5.1: not TE
    # ---- chunked body (RFC 9112 §7.1) ----
    (chunked(b"A\r\n0123456789\r\n0\r\n\r\n"), 200, KEEP, {"body": b"10"}),  # RFC 9112 §7.1: hex size
    (chunked(b"a\r\n0123456789\r\n0\r\n\r\n"), 200, KEEP, {"body": b"10"}),  # RFC 9112 §7.1: lower-case hex
    (chunked(b"0005\r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),     # RFC 9112 §7.1: leading zeros
    (chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),       # RFC 9112 §7.1.1: BWS before CRLF
    (chunked(b"5;a=b\r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),    # RFC 9112 §7.1.1: extension
    (chunked(b"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),  # RFC 9112 §7.1.1: BWS, valueless
    (chunked(b'5;a="x\\"y;z"\r\nhello\r\n0\r\n\r\n'), 200, KEEP, {"body": b"5"}),  # RFC 9110 §5.6.4: quoted-string
    (chunked(b"0;a=b\r\n\r\n"), 200, KEEP, {"body": b"0"}),                  # RFC 9112 §7.1: last-chunk with ext
    (chunked(b"5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"), 200, KEEP, {"body": b"5"}),  # RFC 9112 §7.1.2: trailers
    (chunked(b"0000000000000005\r\nhello\r\n0\r\n\r\n"), 200, KEEP, {"body": b"5"}),  # RFC 9112 §7.1: 64-bit size
    (chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                         # RFC 9112 §7.1: chunk-size required
    (chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                       # RFC 9112 §7.1: 1*HEXDIG
    (chunked(b"+5\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                       # RFC 9112 §7.1: 1*HEXDIG
    (chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                      # RFC 9112 §7.1: no 0x prefix
    (chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                       # RFC 9112 §7.1: no leading SP
    (chunked(b"5g\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                       # RFC 9112 §7.1: not hex
    (chunked(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),        # RFC 9112 §7.1: 2^64 overflows
    (chunked(b"FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),        # RFC 9112 §7.1: overflow
    (chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),        # RFC 9112 §7.1: must not wrap to 5
    (chunked(b"FFFFFFFFFFFFFFFF\r\n" + b"x" * 20, path=b"/small"), 413, CLOSE),  # RFC 9110 §15.5.14 (SPEC §4): 413 once exceeded
    (chunked(b"6\r\nhello!\r\n6\r\nhello!\r\n0\r\n\r\n", path=b"/small"), 413, CLOSE),  # RFC 9110 §15.5.14 (SPEC §4): over across chunks
    (chunked(b"5;\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                       # RFC 9112 §7.1.1: ';' needs a name
    (chunked(b"5;=b\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                     # RFC 9112 §7.1.1: empty ext-name
    (chunked(b"5;a=\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                     # RFC 9112 §7.1.1: empty ext-val
    (chunked(b"5;a b\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                    # RFC 9112 §7.1.1: SP inside
    (chunked(b"5;a=b c\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                  # RFC 9112 §7.1.1: SP in a token value
    (chunked(b'5;a="b\r\nhello\r\n0\r\n\r\n'), 400, CLOSE),                   # RFC 9110 §5.6.4: unterminated quote
    (chunked(b"5;a=\x00\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                 # RFC 9112 §7.1.1: NUL in an extension
    (chunked(b"5;a@b\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),                    # RFC 9112 §7.1.1: '@' not a tchar
    (chunked(b"5" + LONG_EXT + b"\r\nhello\r\n0\r\n\r\n"), 400, CLOSE),       # RFC 9112 §7.1.1: over-long extension
    (chunked(b"5\r\nhelloX0\r\n\r\n"), 400, CLOSE),                           # RFC 9112 §7.1: CRLF after chunk-data
    (chunked(b"5\r\nhello world\r\n0\r\n\r\n"), 400, CLOSE),                  # RFC 9112 §7.1: data longer than its size
    (chunked(b"5\r\nhello0\r\n\r\n"), 400, CLOSE),                            # RFC 9112 §7.1: no CRLF at all
    (chunked(b"5\r\nhello\r0\r\n\r\n"), 400, CLOSE),                          # RFC 9112 §2.2: bare CR after data
    (chunked(b"5\r\nhello\n0\r\n\r\n"), 400, CLOSE),                          # RFC 9112 §2.2: bare LF after data
    (chunked(b"5\nhello\r\n0\r\n\r\n"), 400, CLOSE),                          # RFC 9112 §2.2: bare LF after the size
    (chunked(b"5\rhello\r\n0\r\n\r\n"), 400, CLOSE),                          # RFC 9112 §2.2: bare CR after the size
    (chunked(b"5\r\nhello\r\n0\n\n"), 400, CLOSE),                            # RFC 9112 §2.2: LF-only last chunk
    (chunked(b"5\r\nhello\r\n0\r\n\n"), 400, CLOSE),                          # RFC 9112 §7.1: final CRLF
    (chunked(b"0\r\nX-T: 1\r\n b\r\n\r\n"), 400, CLOSE),                      # RFC 9112 §5.2: obs-fold in a trailer
    (chunked(b"0\r\nX T: 1\r\n\r\n"), 400, CLOSE),                            # RFC 9110 §5.6.2: bad trailer name
    (chunked(b"0\r\nX-T\r\n\r\n"), 400, CLOSE),                               # RFC 9112 §5: trailer without colon
    (chunked(b"0\r\nX-T: a\x00b\r\n\r\n"), 400, CLOSE),                       # RFC 9110 §5.5: NUL in a trailer
    (chunked(b"0\r\nX-T : 1\r\n\r\n"), 400, CLOSE),                           # RFC 9112 §5.1: SP before the colon
    # ---- Expect (RFC 9110 §10.1.1) ----
    (post(b"/count", b"Expect: 100-continue\r\nContent-Length: 5\r\n", b"hello"), 200, KEEP,
     {"body": b"5", "interim": [100]}),                                       # RFC 9110 §10.1.1: 100 before reading
    (get(headers=H + b"Expect: 100-continue\r\n"), 200, KEEP, {"interim": []}),  # RFC 9110 §10.1.1: no body, no 100
    (post(b"/small", b"Expect: 100-continue\r\nContent-Length: 50\r\n", b""), 413, CLOSE,
     {"interim": []}),                                                        # RFC 9110 §10.1.1: final status instead
    (post(b"/a.txt", b"Expect: 100-continue\r\nContent-Length: 5\r\n", b""), 405, CLOSE,
     {"interim": []}),                                                        # RFC 9110 §10.1.1: body never read → close
    (b"POST /count HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
     200, KEEP, {"body": b"5", "interim": []}),                               # RFC 9110 §10.1.1: ignored in 1.0
    (post(b"/count", b"Expect: 100-CONTINUE\r\nContent-Length: 5\r\n", b"hello"), 200, KEEP,
     {"body": b"5", "interim": [100]}),                                       # RFC 9110 §10.1.1: case-insensitive
    (post(b"/count", b"Expect: something-else\r\nContent-Length: 5\r\n", b"hello"), 200, KEEP,
     {"body": b"5", "interim": []}),                                          # RFC 9110 §10.1.1: MAY 417; ignoring is allowed
    # ---- pipelining (RFC 9112 §9.3.2) ----
    (get() + get(b"/b.txt"), 200, KEEP, {"statuses": [200, 200]}),            # RFC 9112 §9.3.2: in order
    (get(b"/missing") + get(), 404, KEEP, {"statuses": [404, 200]}),          # RFC 9112 §9.3.2: after a 404
    (get(method=b"BREW") + get(), 501, CLOSE, {"statuses": [501]}),           # SPEC §4: a 501 closes; nothing after it
    (cl(b"5", b"hello") + get(), 200, KEEP, {"statuses": [200, 200]}),        # RFC 9112 §9.3.2: after a body
    (chunked(b"5\r\nhello\r\n0\r\n\r\n") + get(), 200, KEEP, {"statuses": [200, 200]}),  # RFC 9112 §9.3.2
    (get(method=b"HEAD") + get(), 200, KEEP, {"statuses": [200, 200]}),       # RFC 9110 §9.3.2: HEAD has no body
    (get(b"/a.txt?%zz") + get(b"/%zz") + get(), 200, CLOSE, {"statuses": [200, 400]}),  # RFC 9112 §9.6: stop after 400
    (get(headers=b"") + get(), 400, CLOSE, {"statuses": [400]}),              # RFC 9112 §9.6: nothing after a 400
    (get(version=b"HTTP/2.0") + get(), 505, CLOSE, {"statuses": [505]}),      # RFC 9112 §9.6: nothing after a 505
    (cl(b"3", b"abc") + b"GET /a.txt HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx" + get(),
     200, CLOSE, {"statuses": [200, 400]}),                                   # RFC 9112 §6.3 item 5: smuggled second request
    (chunked(b"0\r\n\r\nGET /a.txt HTTP/1.1\r\n" + H + b"\r\n"), 200, KEEP, {"statuses": [200, 200]}),  # RFC 9112 §7.1: a request after the body is a request
    (chunked(b"3\r\nabc\r\n0\r\n\r\n@"), 200, CLOSE, {"statuses": [200, 400]}),  # RFC 9112 §9.3.2: junk after the body
    # ---- Range with huge numbers (RFC 9110 §14.1.2) ----
    (get(headers=H + b"Range: bytes=0-99999999999999999999999\r\n"), 206, KEEP, {"body": b"AAA\n"}),  # RFC 9110 §14.1.2: last-pos past the end
    (get(headers=H + b"Range: bytes=99999999999999999999999-\r\n"), 416, KEEP),  # RFC 9110 §14.1.2: first-pos past the end
    (get(headers=H + b"Range: bytes=1-2\r\n"), 206, KEEP, {"body": b"AA"}),   # RFC 9110 §14.1.2
    (get(headers=H + b"Range: bytes=10-20\r\n"), 416, KEEP),                  # RFC 9110 §15.5.17
]


def row_parts(row):
    raw, status, close = row[:3]
    checks = row[3] if len(row) > 3 else {}
    return raw, status, close, checks


def run_row(port, row):
    """Send one row plus the probe; returns (responses, closed_without_probe_error)."""
    raw, status, close, checks = row_parts(row)
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(raw + PROBE)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except ConnectionResetError:
            pass
        except socket.timeout:
            return None, "no close within 5 s (got %r)" % data[:300]
    heads = [raw.startswith(b"HEAD ")] + [False] * 10
    try:
        resps = harness.parse_responses(data, head_only=heads)
    except (ValueError, IndexError) as e:
        return None, "unparsable response: %s: %r" % (e, data[:300])
    return resps, None


def check_row(port, row):
    raw, status, close, checks = row_parts(row)
    resps, err = run_row(port, row)
    if err:
        return err
    interim = [r.status for r in resps if r.status < 200]
    finals = [r for r in resps if r.status >= 200]
    if not finals:
        return "no response"
    probe_answered = (len(finals) >= 2 and finals[-1].status == 200 and finals[-1].body == PROBE_BODY
                      and "statuses" not in checks) or (
                      "statuses" in checks and len(finals) == len(checks["statuses"]) + 1)
    got = finals[:-1] if probe_answered else finals
    problems = []
    if finals[0].status != status:
        problems.append("status %d, want %d" % (finals[0].status, status))
    if close and probe_answered:
        problems.append("connection kept open (the pipelined probe was answered)")
    if not close and not probe_answered:
        problems.append("connection closed (the pipelined probe was not answered); responses %s"
                        % [r.status for r in finals])
    if "statuses" in checks and [r.status for r in got] != checks["statuses"]:
        problems.append("statuses %s, want %s" % ([r.status for r in got], checks["statuses"]))
    if "body" in checks and finals[0].body != checks["body"]:
        problems.append("body %r, want %r" % (finals[0].body[:100], checks["body"]))
    if "interim" in checks and interim != checks["interim"]:
        problems.append("interim %s, want %s" % (interim, checks["interim"]))
    for r in got:
        if r.header("Date") is None or r.header("Server") is None:
            problems.append("response %d without Date/Server" % r.status)
        if close and r is got[-1] and (r.header("Connection") or "").lower() != "close":
            problems.append("closing response without Connection: close")
    return "; ".join(problems) or None


class ConformanceTest(harness.ServerTestCase):

    def setUp(self):
        super().setUp()
        self.write("a.txt", "AAA\n")
        self.write("b.txt", "BBB\n")
        self.write("who.txt", "server-a\n")
        self.write("probe.txt", PROBE_BODY)
        self.write("index.html", "home\n")
        self.write("dir/index.html", "dir index\n")
        self.root_b = os.path.join(self.tmp, "www-b")
        os.makedirs(self.root_b)
        for name, body in (("who.txt", "server-b\n"), ("probe.txt", PROBE_BODY.decode())):
            with open(os.path.join(self.root_b, name), "w") as f:
                f.write(body)

    def config(self):
        echo = os.path.join(harness.TESTMODS, "mod_echo.so")
        listen = ["127.0.0.1:%d" % self.port]
        return {
            "modules": ["static", echo],
            "modules_dir": harness.MODULES,
            "limits": {"header_size": HEADER_SIZE},
            "timeouts": {"header": 5, "body": 5},
            "servers": [
                {"listen": listen, "server_names": ["a.example"], "root": self.root,
                 "locations": [
                     {"path": "/", "static": {}},
                     {"path": "/echo", "echo": {}},
                     {"path": "/count", "echo": {"count": True}},
                     {"path": "/small", "echo": {"count": True}, "client_max_body_size": SMALL_BODY},
                 ]},
                {"listen": listen, "server_names": ["b.example"], "root": self.root_b,
                 "locations": [{"path": "/", "static": {}}]},
            ],
        }

    def test_table(self):
        self.assertGreaterEqual(len(TABLE), 130)
        self.start(self.config())
        with ThreadPoolExecutor(max_workers=8) as ex:
            results = list(ex.map(lambda row: check_row(self.port, row), TABLE))
        failures = ["row %d %r: %s" % (i, row_parts(TABLE[i])[0][:120], res)
                    for i, res in enumerate(results) if res]
        self.assertEqual(failures, [], "\n" + "\n".join(failures))
        # The server is still healthy after all of it.
        r, body = self.request("GET", "/a.txt", headers={"Host": "a.example"})
        self.assertEqual((r.status, body), (200, b"AAA\n"))


if __name__ == "__main__":
    harness.main()

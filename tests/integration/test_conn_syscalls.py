"""Issue 21: what one `Connection: close` request costs in system calls.

The server runs under strace (started by it, so no ptrace permission beyond
one's own child is needed). For a listener bound to one address, a new
connection needs no getsockname (the listener's address is the local one),
no setsockopt (TCP_NODELAY is set once on the listening socket and Linux
copies it to every accepted socket), no EPOLL_CTL_DEL before its close
(close takes it out of the epoll set) and no shutdown (no lingering close
when nothing unread is left). Counted per request over a fixed number of
requests, so the test fails whenever one of those calls comes back. The
local address still comes right: SERVER_ADDR for a CGI script, through a
specific and through a wildcard listener (where getsockname stays)."""
import http.client
import os
import re
import socket
import time
import unittest

import harness
import straced
import tlsutil

REQUESTS = 200
TRACED = "accept4,getsockname,setsockopt,epoll_ctl,shutdown,close,read,recvfrom,sendmsg,writev"
CGI_ADDR = "import os\nprint('Content-Type: text/plain\\n\\n%s %s' % (os.environ['SERVER_ADDR'], os.environ['SERVER_PORT']))\n"


def recv_to_eof(s):
    """Everything the server sends on s until it closes."""
    data = b""
    while True:
        more = s.recv(65536)
        if not more:
            return data
        data += more


class ConnSyscallsTest(harness.ServerTestCase):
    modules = ["static", "cgi"]

    def start_traced(self, listen):
        """Start the server under strace; returns the trace file's path."""
        self.write("1k.bin", b"k" * 1024)
        self.write("cgi-bin/addr.py", CGI_ADDR)
        return straced.start(self, TRACED, listen=[listen], locations=[
            {"path": "/", "static": {}},
            {"path": "/cgi-bin", "cgi": {"interpreters": {".py": "/usr/bin/python3"}}},
        ])

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def close_requests(self, n):
        for _ in range(n):
            data = self.raw(b"GET /1k.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout=10)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])
            self.assertTrue(data.endswith(b"k" * 1024))

    def connection_dels(self, lines):
        """EPOLL_CTL_DEL of connection sockets: an fd number belongs to a
        connection from its accept4 to its close (other fds, such as the file
        cache's inotify fd that a change in /tmp makes it reopen, may reuse
        the number later)."""
        conn_fds, dels = set(), 0
        for ln in lines:
            m = re.search(r"\baccept4\(.*\) = (\d+)$", ln)
            if m:
                conn_fds.add(int(m.group(1)))
                continue
            m = re.search(r"\bclose\((\d+)\)", ln)
            if m:
                conn_fds.discard(int(m.group(1)))
                continue
            m = re.search(r"EPOLL_CTL_DEL, (\d+),", ln)
            if m and int(m.group(1)) in conn_fds:
                dels += 1
        return dels

    def test_close_request_syscalls(self):
        trace = self.start_traced("127.0.0.1:%d" % self.port)
        self.close_requests(20)  # warm: caches filled, buffers allocated
        before = len(straced.lines(trace))
        self.close_requests(REQUESTS)
        lines = straced.lines(trace)[before:]
        per = {name: straced.count(lines, r"^\d+\s+%s\(" % name) / REQUESTS
               for name in ("accept4", "getsockname", "setsockopt", "epoll_ctl", "shutdown", "close", "sendmsg")}
        dels = self.connection_dels(lines)
        print("per Connection: close request: %s; EPOLL_CTL_DEL %d in %d requests"
              % (", ".join("%s %.2f" % kv for kv in sorted(per.items())), dels, REQUESTS))
        self.assertGreaterEqual(per["accept4"], 1.0)  # the trace did see the requests
        self.assertEqual(per["getsockname"], 0)
        self.assertEqual(per["setsockopt"], 0)
        self.assertEqual(per["shutdown"], 0)
        self.assertEqual(dels, 0)
        # No EPOLL_CTL_ADD: a deferred connection is read, answered and
        # closed before the loop's next wait, so the epoll set never hears
        # of it (loop_add_later). A few calls remain: the file cache
        # re-registers its inotify fd when something changes under /tmp.
        self.assertLessEqual(per["epoll_ctl"], 0.2)

    def test_connection_reaches_accept_with_its_request(self):
        """TCP_DEFER_ACCEPT on the listener: a connection whose client has not
        spoken yet stays in the kernel (no accept4, no wake-up of the worker);
        it is accepted when its request arrives, and served."""
        trace = self.start_traced("127.0.0.1:%d" % self.port)
        self.close_requests(5)
        accepted = r"\baccept4\(.*\) = \d+$"
        before = len(straced.lines(trace))
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            time.sleep(0.3)  # the kernel's first SYN-ACK retransmission (which ends the deferral) is at 1 s
            self.assertEqual(straced.count(straced.lines(trace)[before:], accepted), 0,
                             "a silent connection was accepted before it sent anything")
            s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = recv_to_eof(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])
        self.assertEqual(straced.count(straced.lines(trace)[before:], accepted), 1)

    def test_request_read_in_the_round_that_accepts_it(self):
        """Issue 21: a connection the listener deferred comes with its request,
        so the worker reads it in the round that accepted it, not after another
        epoll_wait: in a burst of connections the first request does not wait
        for a round trip through the epoll set. Every accepted fd is read
        before the loop's next epoll_wait."""
        trace = straced.start(self, TRACED + ",epoll_wait,poll", listen=["127.0.0.1:%d" % self.port],
                              locations=[{"path": "/", "static": {}}])
        self.write("1k.bin", b"k" * 1024)
        self.close_requests(5)
        before = len(straced.lines(trace))
        self.close_requests(50)
        loop = str(straced.loop_tid(self))
        unread, accepted = set(), 0
        for ln in straced.lines(trace)[before:]:
            tid, call = ln.split(None, 1)
            if tid != loop:
                continue
            m = re.match(r"accept4\(.*\) = (\d+)$", call)
            if m:
                accepted += 1
                unread.add(m.group(1))
                continue
            m = re.match(r"(?:read|recvfrom)\((\d+),", call)
            if m:
                unread.discard(m.group(1))
            elif call.startswith("epoll_wait("):
                self.assertEqual(unread, set(), "accepted, then epoll_wait before their first read")
        self.assertEqual(accepted, 50)

    def sendmsgs(self, lines):
        """The trace's sendmsg calls on sockets: (whether MSG_MORE was set, bytes written)."""
        out = []
        for ln in lines:
            m = re.search(r"\bsendmsg\(\d+, .*, (MSG_\w+(?:\|MSG_\w+)*)\) = (\d+)$", ln)
            if m:
                out.append(("MSG_MORE" in m.group(1), int(m.group(2))))
        return out

    def read_to_eof(self, request):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(request)
            return recv_to_eof(s)

    def test_close_response_leaves_with_the_fin(self):
        """Issue 21: the last write of a response to a client that said it sends
        nothing more (Connection: close, or HTTP/1.0 without keep-alive) carries
        MSG_MORE, so the kernel holds its tail and the FIN of the close right
        after goes out in the same segment (one segment less per connection for
        both ends). A keep-alive response must never be held: it would wait for
        a write that never comes (the client here would time out)."""
        trace = self.start_traced("127.0.0.1:%d" % self.port)
        self.close_requests(5)
        before = len(straced.lines(trace))
        self.close_requests(REQUESTS // 4)
        h10 = self.read_to_eof(b"GET /1k.bin HTTP/1.0\r\n\r\n")
        self.assertTrue(h10.startswith(b"HTTP/1.1 200 ") and h10.endswith(b"k" * 1024), h10[:80])
        # An error answered to a close request lingers (shutdown, then close): same.
        nf = self.read_to_eof(b"GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertTrue(nf.startswith(b"HTTP/1.1 404 "), nf[:80])
        self.assertIn(b"\r\n\r\n", nf)
        head, _, body = nf.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        self.assertEqual(len(body), length)
        closing = self.sendmsgs(straced.lines(trace)[before:])
        print("close responses: %d sendmsg, %d with MSG_MORE" % (len(closing), sum(m for m, _ in closing)))
        self.assertEqual(len(closing), REQUESTS // 4 + 2, closing[:5])
        self.assertTrue(all(m for m, _ in closing), closing)

        before = len(straced.lines(trace))
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(20):
                c.request("GET", "/1k.bin")
                r = c.getresponse()
                self.assertEqual(r.read(), b"k" * 1024)
                self.assertFalse(r.will_close)
        finally:
            c.close()
        kept = self.sendmsgs(straced.lines(trace)[before:])
        self.assertEqual(len(kept), 20, kept[:5])
        self.assertFalse(any(m for m, _ in kept), kept)

    def test_loopback_listener_does_not_pace(self):
        """Issue 21 (core/net/same_host.h): where the system's congestion control
        paces (BBR), a listener bound to a loopback address is switched to CUBIC,
        which its connections inherit; a wildcard listener, whose peers may be
        anywhere, keeps the system's choice. Elsewhere no listener is touched.
        Which case this machine's default gives decides what the trace must show."""
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            paced = f.read().strip().startswith("bbr")
        self.write("100k.bin", b"h" * 100 * 1024)
        wildcard_port = harness.free_port()
        trace = straced.start(self, TRACED + ",bind", listen=["127.0.0.1:%d" % self.port, "0.0.0.0:%d" % wildcard_port],
                              locations=[{"path": "/", "static": {}}])
        for port in (self.port, wildcard_port):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                c.request("GET", "/100k.bin")
                self.assertEqual(c.getresponse().read(), b"h" * 100 * 1024)
            finally:
                c.close()
        lines = straced.lines(trace)
        bound = {}
        for ln in lines:
            m = re.search(r"\bbind\((\d+), \{sa_family=AF_INET, sin_port=htons\((\d+)\).*\) = 0$", ln)
            if m:
                bound[int(m.group(2))] = m.group(1)
        self.assertIn(self.port, bound, lines[:20])
        self.assertIn(wildcard_port, bound, lines[:20])
        switched = [re.search(r"setsockopt\((\d+), SOL_TCP, TCP_CONGESTION, \"cubic\", 5\) = 0$", ln) for ln in lines]
        switched = [m.group(1) for m in switched if m]
        print("congestion control paces: %s; listeners switched to cubic: %s of %s" % (paced, switched, bound))
        self.assertEqual(switched, [bound[self.port]] if paced else [])

    def test_big_file_to_this_host_gets_a_small_send_buffer(self):
        """Issue 21 (core/net/same_host.h): a peer on this machine that is sent a
        big file (1 MiB or more waiting) gets a fixed 256 KiB SO_SNDBUF, once per
        connection, instead of the kernel's autotuned buffer (the 10 MiB row's
        client CPU). Small files never cost the call; the body arrives whole."""
        big = os.urandom(3 * 1024 * 1024)
        self.write("3m.bin", big)
        trace = self.start_traced("127.0.0.1:%d" % self.port)
        sndbuf = r"setsockopt\(\d+, SOL_SOCKET, SO_SNDBUF, \[262144\], 4\) = 0"
        before = len(straced.lines(trace))
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            for _ in range(3):
                c.request("GET", "/1k.bin")
                self.assertEqual(c.getresponse().read(), b"k" * 1024)
            self.assertEqual(straced.count(straced.lines(trace)[before:], r"SO_SNDBUF"), 0)
            for _ in range(2):
                c.request("GET", "/3m.bin")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertTrue(r.read() == big, "the body differs")
        finally:
            c.close()
        self.assertEqual(straced.count(straced.lines(trace)[before:], sndbuf), 1)
        r, body = self.request("GET", "/3m.bin")  # a new connection: its own call
        self.assertTrue(r.status == 200 and body == big)
        lines = straced.lines(trace)[before:]
        self.assertEqual(straced.count(lines, sndbuf), 2)
        self.assertEqual(straced.count(lines, r"SO_SNDBUF"), 2)

    def test_local_address_specific_listener(self):
        self.start_traced("127.0.0.1:%d" % self.port)
        r, body = self.request("GET", "/cgi-bin/addr.py")
        self.assertEqual(r.status, 200)
        self.assertEqual(body.decode().strip(), "127.0.0.1 %d" % self.port)

    def test_local_address_wildcard_listener(self):
        trace = self.start_traced("0.0.0.0:%d" % self.port)
        before = len(straced.lines(trace))
        r, body = self.request("GET", "/cgi-bin/addr.py")
        self.assertEqual(r.status, 200)
        self.assertEqual(body.decode().strip(), "127.0.0.1 %d" % self.port)  # the address reached, not 0.0.0.0
        self.assertGreaterEqual(straced.count(straced.lines(trace)[before:], r"getsockname\("), 1)


class PrecompressedFileTest(harness.ServerTestCase):
    """Issue 21 (core/module/host.c open_file, modules/compress/precompressed.c): a
    module that opens a file other than the request's own (here compress's
    page.html.br) gets the core's cached descriptor once the cache knows the file,
    as the static module does: no open, fstat or close per request (the br-pre-100k
    row paid all three), and no stat of it either (the module opens the variant in
    match instead of looking at it first). A variant that is not there (.zst,
    asked first) costs nothing per request either: the cache knows the name is
    missing."""
    modules = ["compress", "static"]

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def test_precompressed_variant_opened_once(self):
        self.write("page.html", "<p>" + "plain " * 2000)
        self.write("page.html.br", b"pretend-brotli-bytes")
        trace = straced.start(self, TRACED + ",openat,fstat,newfstatat,stat,statx",
                              listen=["127.0.0.1:%d" % self.port],
                              locations=[{"path": "/", "static": {},
                                          "compress": {"codings": ["zstd", "br"], "precompressed": True}}])
        c = self.conn()
        for i in range(40):
            if i == 20:
                before = len(straced.lines(trace))
            c.request("GET", "/page.html", headers={"Accept-Encoding": "zstd, br"})
            r = c.getresponse()
            self.assertEqual((r.status, r.getheader("Content-Encoding"), r.read()), (200, "br", b"pretend-brotli-bytes"))
        c.close()
        later = straced.lines(trace)[before:]
        opens = straced.count(later, r"\bopenat\(.*page\.html\.br")
        fstats = straced.count(later, r"\bfstat\(|\bnewfstatat\(\d+, \"\"")
        stats = straced.count(later, r"\b(stat|newfstatat|statx)\(.*page\.html\.br")
        missing = straced.count(later, r"page\.html\.zst")
        print("requests 21-40: %d openat of the variant, %d fstat of a descriptor, %d stat of the variant, "
              "%d calls naming the missing one" % (opens, fstats, stats, missing))
        # Without the cache: 20 of each; before the module opened the variant
        # in match, 20 stat of it and 20 of the missing one. A few remain
        # when something else changes under /tmp meanwhile (tests run in
        # parallel): any inotify event empties the whole cache.
        self.assertLessEqual(opens, 4)
        self.assertLessEqual(fstats, 4)
        self.assertLessEqual(stats, 4)
        self.assertLessEqual(missing, 4)


class TlsFileReadsTest(harness.ServerTestCase):
    """Over TLS without kernel TLS a file goes through a buffer: read in 64 KiB pieces, each
    written as four 16 KiB records (the largest, RFC 8446 §5.1) in one call, one pread for four
    records (it was one per record)."""
    modules = ["static"]

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def test_file_read_in_pieces_of_four_records(self):
        size = 8 * 1024 * 1024
        body = os.urandom(size)
        self.write("8m.bin", body)
        certs = os.path.join(self.tmp, "certs")
        os.makedirs(certs)
        tlsutil.make_ca(certs)
        crt, key = tlsutil.make_cert(certs, "a.test")
        cfg = self.base_config(locations=[{"path": "/", "static": {}}])
        srv = cfg["servers"][0]
        srv["listen"] = [{"address": "127.0.0.1:%d" % self.port, "tls": True}]
        srv["server_names"] = ["a.test"]
        srv["tls"] = {"certificate": crt, "key": key}
        trace = straced.start(self, "pread64", cfg, asan_options="detect_leaks=0:quarantine_size_mb=0")
        before = len(straced.lines(trace))
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=120,
                                        context=tlsutil.client_context(verify=False))
        try:
            c.request("GET", "/8m.bin")
            r = c.getresponse()
            got = r.read()
        finally:
            c.close()
        self.assertEqual(r.status, 200)
        self.assertTrue(got == body, "the body differs")
        reads = straced.count(straced.lines(trace)[before:], r"pread64\(")
        # 128 pieces of 64 KiB; a retry after a full socket reads its piece again. Reading a
        # record at a time was 512.
        print("pread64 calls for 8 MiB over TLS: %d" % reads)
        self.assertGreaterEqual(reads, size // 65536)
        self.assertLessEqual(reads, size // 16384 // 2, reads)


if __name__ == "__main__":
    harness.main()

"""The proxy module (SPEC §6, issue 17) through the real server, with Python
upstream servers started by the test (threads on 127.0.0.1): what reaches the
upstream (method, target, strip_prefix, hop-by-hop fields removed, Host per
config, X-Forwarded-*/Forwarded trusted only from trusted_proxies, bodies by
length and chunked), what comes back (hop-by-hop removed, Location/Refresh
rewritten, chunked passed on byte-exact), strict parsing of the upstream's
answers (garbage, bad status line, conflicting Content-Length, CL+TE,
obs-fold, huge heads → 502 and the connection dropped), a response cut
mid-body, read timeout → 504, retries and failover, weighted shares, the
keep-alive pool counted on the upstream side, a client that leaves, and a
large body each way byte-exact with the server's RSS bounded."""
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time

import harness
import procstat


class Upstream:
    """A tiny HTTP/1.1 server in threads. handler(req, sock) returns the bytes
    to answer (or None after answering itself); req has method, target,
    headers (list of (name, value)), body. close=True closes after each answer."""

    def __init__(self, handler, close=False):
        self.handler, self.close_each = handler, close
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.connections = 0
        self.requests = []
        self.closed = 0
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def stop(self):
        self.stopping = True
        try:
            self.ls.close()
        except OSError:
            pass

    def accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                conn_id = self.connections
            threading.Thread(target=self.serve, args=(s, conn_id), daemon=True).start()

    def read_request(self, f):
        line = f.readline()
        if not line:
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers = []
        while True:
            h = f.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        req = type("Req", (), {})()
        req.method, req.target, req.headers = method, target, headers
        req.get = lambda n: next((v for k, v in headers if k.lower() == n.lower()), None)
        te = req.get("Transfer-Encoding")
        if te and "chunked" in te.lower():
            body = bytearray()
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b""):
                        pass
                    break
                body += f.read(size)
                f.readline()
            req.body = bytes(body)
            req.chunked = True
        else:
            # Hashed as it comes; kept only when small (the 1 GiB case streams through).
            left, h, kept = int(req.get("Content-Length") or 0), hashlib.sha256(), bytearray()
            req.body_len = left
            while left:
                piece = f.read(min(left, 1 << 20))
                if not piece:
                    break
                h.update(piece)
                if len(kept) < (16 << 20):
                    kept += piece
                left -= len(piece)
            req.body, req.body_sha, req.chunked = bytes(kept), h.hexdigest(), False
            return req
        req.body_len, req.body_sha = len(req.body), hashlib.sha256(req.body).hexdigest()
        return req

    def serve(self, s, conn_id=0):
        f = s.makefile("rb")
        try:
            while True:
                req = self.read_request(f)
                if req is None:
                    break
                req.conn = conn_id
                with self.lock:
                    self.requests.append(req)
                out = self.handler(req, s)
                if out is None:
                    break
                s.sendall(out)
                if self.close_each:
                    break
        except OSError:
            pass
        finally:
            with self.lock:
                self.closed += 1
            try:
                s.close()
            except OSError:
                pass


def ok(body=b"ok", extra=b"", status=b"200 OK"):
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body


def echo(req, s):
    lines = ["%s %s" % (req.method, req.target)] + ["%s: %s" % h for h in req.headers]
    lines.append("BODY %d %s chunked=%s" % (req.body_len, req.body_sha, req.chunked))
    return ok(("\n".join(lines) + "\n").encode("latin-1"))


class ProxyTest(harness.ServerTestCase):
    modules = ["proxy", "static"]

    def setUp(self):
        super().setUp()
        self.ups = []

    def tearDown(self):
        for u in self.ups:
            u.stop()
        super().tearDown()

    def upstream(self, handler=echo, close=False):
        u = Upstream(handler, close)
        self.ups.append(u)
        return u

    def config(self, servers, proxy=None, path="/", **group):
        up = {"servers": [s if isinstance(s, dict) else {"address": s} for s in servers],
              "timeouts": {"connect": 2, "send": 5, "read": 5}}
        up.update(group)
        px = {"upstream": "app"}
        px.update(proxy or {})
        locs = [{"path": path, "client_max_body_size": "1G", "proxy": px}]
        if path != "/":
            locs.append({"path": "/", "static": {}})
        cfg = self.base_config(locations=locs)
        cfg["upstreams"] = {"app": up}
        return cfg

    def seen(self, body):
        return body.decode("latin-1").split("\n")

    def test_forwarded_proto_https_on_tls(self):
        """X-Forwarded-Proto and Forwarded's proto come from the request's scheme: https on a TLS listener."""
        u = self.upstream()
        self.start(harness.tls_config(self.config([u.addr])))
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=harness._tls_context())
        self.addCleanup(c.close)
        c.request("GET", "/x", headers={"Host": "secure.example"})
        r = c.getresponse()
        lines = self.seen(r.read())
        self.assertEqual(r.status, 200)
        self.assertIn("X-Forwarded-Proto: https", lines)
        self.assertIn('Forwarded: for=127.0.0.1;proto=https;host="secure.example"', lines)
        # The same over HTTP/2 (ALPN h2): the stream's request has its connection's scheme.
        p = subprocess.run(["curl", "-sS", "-k", "--http2", "--max-time", "10", "-H", "Host: secure.example",
                            "-w", "%{http_version}", "https://127.0.0.1:%d/x" % self.port],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.endswith(b"2"), p.stdout[-20:])
        lines = self.seen(p.stdout[:-1])
        self.assertIn("X-Forwarded-Proto: https", lines)
        self.assertIn('Forwarded: for=127.0.0.1;proto=https;host="secure.example"', lines)

    def test_server_and_date_replaced_or_passed(self):
        """The upstream's Server and Date: replaced by webserv's by default, kept with pass_server_date."""
        up_date = "Mon, 01 Jan 2024 00:00:00 GMT"
        u = self.upstream(lambda req, s: ok(b"x", extra=b"Server: upstream-app/2\r\nDate: " + up_date.encode() + b"\r\n"))
        self.start(self.config([u.addr]))
        r, _ = self.request("GET", "/a")
        self.assertTrue(r.getheader("Server").startswith("webserv"), r.getheader("Server"))
        self.assertNotEqual(r.getheader("Date"), up_date)
        self.assertEqual(len(r.msg.get_all("Server")), 1)
        self.server.stop()
        self.start(self.config([u.addr], {"pass_server_date": True}))
        r, _ = self.request("GET", "/a")
        self.assertEqual((r.getheader("Server"), r.getheader("Date")), ("upstream-app/2", up_date))
        self.assertEqual((len(r.msg.get_all("Server")), len(r.msg.get_all("Date"))), (1, 1))
        # An upstream without them: webserv's (a response always has a Date, RFC 9110 §6.6.1).
        v = self.upstream(lambda req, s: ok(b"y"))
        self.server.stop()
        self.start(self.config([v.addr], {"pass_server_date": True}))
        r, _ = self.request("GET", "/b")
        self.assertTrue(r.getheader("Server").startswith("webserv"))
        self.assertIsNotNone(r.getheader("Date"))

    def test_request_forwarding_and_hop_by_hop(self):
        u = self.upstream()
        self.start(self.config([u.addr]))
        r, body = self.request("GET", "/a/b%20c?x=1&y=2", headers={
            "Host": "public.example:8080", "X-Custom": "keep", "Connection": "X-Hop, keep-alive",
            "X-Hop": "drop", "Keep-Alive": "timeout=5", "TE": "trailers", "Upgrade": "h2c",
            "Proxy-Authorization": "x", "Proxy": "evil", "X-Forwarded-For": "6.6.6.6",
            "Forwarded": "for=6.6.6.6"})
        self.assertEqual(r.status, 200)
        lines = self.seen(body)
        self.assertEqual(lines[0], "GET /a/b%20c?x=1&y=2")
        names = [l.split(":")[0].lower() for l in lines[1:]]
        for gone in ("x-hop", "keep-alive", "te", "upgrade", "proxy-authorization", "proxy"):
            self.assertNotIn(gone, names, lines)
        self.assertIn("Host: public.example:8080", lines)
        self.assertIn("X-Custom: keep", lines)
        self.assertIn("X-Forwarded-For: 127.0.0.1", lines)  # the untrusted incoming one replaced
        self.assertIn("X-Forwarded-Proto: http", lines)
        self.assertIn("X-Forwarded-Host: public.example:8080", lines)
        self.assertIn('Forwarded: for=127.0.0.1;proto=http;host="public.example:8080"', lines)
        self.assertEqual(names.count("x-forwarded-for"), 1)
        self.assertEqual(names.count("connection"), 1)
        self.assertIn("BODY 0 %s chunked=False" % hashlib.sha256(b"").hexdigest(), lines)

    def test_trusted_proxies_extend_the_chain(self):
        u = self.upstream()
        self.start(self.config([u.addr], {"trusted_proxies": ["10.0.0.0/8", "127.0.0.0/8"]}))
        r, body = self.request("GET", "/", headers={"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https",
                                                    "Forwarded": "for=1.2.3.4;proto=https"})
        lines = self.seen(body)
        self.assertIn("X-Forwarded-For: 1.2.3.4, 127.0.0.1", lines)
        self.assertIn("X-Forwarded-Proto: https", lines)
        self.assertTrue(any(l.startswith("Forwarded: for=1.2.3.4;proto=https, for=127.0.0.1;") for l in lines), lines)

    def test_strip_prefix_and_host_modes(self):
        u = self.upstream()
        self.start(self.config([u.addr], {"strip_prefix": True, "host": "upstream"}, path="/api"))
        r, body = self.request("GET", "/api/v1/items?q=%41")
        lines = self.seen(body)
        self.assertEqual(lines[0], "GET /v1/items?q=%41")
        self.assertIn("Host: " + u.addr, lines)
        r, body = self.request("GET", "/api")
        self.assertEqual(self.seen(body)[0], "GET /")
        self.server.stop()
        self.servers.clear()
        self.start(self.config([u.addr], {"host": "backend.internal"}))
        r, body = self.request("GET", "/x")
        self.assertIn("Host: backend.internal", self.seen(body))

    def test_bodies_by_length_and_chunked(self):
        u = self.upstream()
        self.start(self.config([u.addr]))
        data = os.urandom(3 * 1024 * 1024 + 11)
        r, body = self.request("POST", "/up", body=data)
        lines = self.seen(body)
        self.assertIn("BODY %d %s chunked=False" % (len(data), hashlib.sha256(data).hexdigest()), lines)
        self.assertIn("Content-Length: %d" % len(data), lines)
        c = self.conn()
        c.request("PUT", "/up", body=iter([data[:1000], data[1000:200000], data[200000:]]),
                  encode_chunked=True)
        r = c.getresponse()
        lines = self.seen(r.read())
        self.assertIn("BODY %d %s chunked=True" % (len(data), hashlib.sha256(data).hexdigest()), lines)

    def test_response_fields_and_redirect_rewriting(self):
        port_box = {}

        def handler(req, s):
            if req.target == "/chunked":
                return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-App: 1\r\n\r\n"
                        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            base = b"http://127.0.0.1:%d" % port_box["port"]
            return ok(b"moved", status=b"302 Found",
                      extra=b"Location: " + base + b"/new/place?a=1\r\nRefresh: 3; url=" + base + b"/r\r\n"
                            b"Connection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=3\r\nProxy-Thing: 1\r\n"
                            b"Server: upstream/1\r\nX-Kept: yes\r\n")
        u = self.upstream(handler)
        port_box["port"] = u.port
        self.start(self.config([u.addr], {"strip_prefix": True}, path="/app"))
        r, body = self.request("GET", "/app/old", headers={"Host": "www.example"})
        self.assertEqual(r.status, 302)
        self.assertEqual(r.getheader("Location"), "http://www.example/app/new/place?a=1")
        self.assertEqual(r.getheader("Refresh"), "3; url=http://www.example/app/r")
        for gone in ("X-Secret", "Keep-Alive", "Proxy-Thing"):
            self.assertIsNone(r.getheader(gone), gone)
        self.assertEqual(r.getheader("X-Kept"), "yes")
        self.assertNotEqual(r.getheader("Server"), "upstream/1")
        r, body = self.request("GET", "/app/chunked")
        self.assertEqual((r.status, body, r.getheader("X-App")), (200, b"hello world", "1"))

    def test_malformed_upstream_answers_are_502(self):
        answers = {
            "/garbage": b"this is not http\r\n\r\n",
            "/status": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
            "/version": b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            "/dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "/bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
            "/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "/te-not-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
            "/te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            "/fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n",
            "/space-colon": b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n",
            "/bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
            "/nul": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
            "/huge": b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
            "/bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        }
        u = self.upstream(lambda req, s: answers[req.target.split("?")[0]])
        self.start(self.config([u.addr], max_fails=0))
        for path in answers:
            c = self.conn()
            c.request("GET", path)
            try:
                r = c.getresponse()
                body = r.read()
                status = r.status
            except (http.client.HTTPException, ConnectionError):
                status = "cut"  # the head was already out (bad chunk): the connection is closed
            self.assertIn(status, (502, "cut") if path == "/bad-chunk" else (502,), path)
        # Each malformed answer dropped its connection: none of them was reused.
        self.assertEqual(u.connections, len(answers))

    def test_conformance_table_framing_as_upstream_answers(self):
        """The framing rows of the request conformance table (test_conformance.TABLE: the
        Content-Length / Transfer-Encoding cases) sent back as upstream responses. Rows a
        server must refuse never reach the client as a complete 200, and their upstream
        connection is never used again (no desynchronised keep-alive connection)."""
        import test_conformance
        cases = {}
        for row in test_conformance.TABLE:
            req, status = row[0], row[1]
            if not (req.startswith(b"POST /count HTTP/1.1\r\n") or req.startswith(b"POST /echo HTTP/1.1\r\n")):
                continue
            head, _, body = req.partition(b"\r\n\r\n")
            fields = [l for l in head.split(b"\r\n")[1:] if not l.lower().startswith(b"host:")]
            names = [l.split(b":")[0].strip().lower() for l in fields]
            if not any(n in (b"content-length", b"transfer-encoding") for n in names) or status not in (200, 400, 501):
                continue
            cases["/case%d" % len(cases)] = (b"HTTP/1.1 200 OK\r\n" + b"".join(l + b"\r\n" for l in fields) +
                                            b"\r\n" + body, status)
        self.assertGreater(len(cases), 30)
        u = self.upstream(lambda req, s: cases[req.target][0] if req.target in cases else ok(b"fine"))
        self.start(self.config([u.addr], keepalive=4, max_fails=0))
        for path, (answer, status) in cases.items():
            c = self.conn()
            c.request("GET", path)
            try:
                r = c.getresponse()
                r.read()
                got = r.status
            except (http.client.HTTPException, ConnectionError):
                got = "cut"
            if status == 200:
                self.assertEqual(got, 200, (path, answer))
            else:
                self.assertIn(got, (502, "cut"), (path, answer))
            r, body = self.request("GET", "/ok")
            self.assertEqual((r.status, body), (200, b"fine"), path)
        for i, req in enumerate(u.requests):
            if req.target in cases and cases[req.target][1] != 200:
                later = [q.target for q in u.requests[i + 1:] if q.conn == req.conn]
                self.assertEqual(later, [], "connection reused after %r" % cases[req.target][0])

    def test_upstream_dies_mid_response(self):
        def handler(req, s):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.1)
            return None  # closes
        u = self.upstream(handler)
        self.start(self.config([u.addr]))
        c = self.conn()
        c.request("GET", "/")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assert_cut_short(r, 100000)

    def test_never_answering_is_504_and_slow_is_fine(self):
        def handler(req, s):
            if req.target == "/never":
                time.sleep(3)
                return None
            time.sleep(0.3)
            return ok(b"late")
        u = self.upstream(handler)
        self.start(self.config([u.addr], timeouts={"connect": 1, "send": 1, "read": 1}, max_fails=0))
        t0 = time.monotonic()
        r, _ = self.request("GET", "/never")
        self.assertEqual(r.status, 504)
        self.assertLess(time.monotonic() - t0, 2.5)
        r, body = self.request("GET", "/slow")
        self.assertEqual((r.status, body), (200, b"late"))

    def test_location_timeouts_override_the_group(self):
        def handler(req, s):
            time.sleep(1.5)
            return ok(b"late")
        u = self.upstream(handler)
        self.start(self.config([u.addr], {"timeouts": {"read": 0.5}}, max_fails=0))
        t0 = time.monotonic()
        r, _ = self.request("GET", "/")
        self.assertEqual(r.status, 504)
        self.assertLess(time.monotonic() - t0, 1.4)

    def test_failover_and_retries(self):
        dead = "127.0.0.1:%d" % harness.free_port()
        live = self.upstream(lambda req, s: ok(b"live"))
        self.start(self.config([dead, live.addr], max_fails=1, fail_timeout=30))
        for i in range(4):
            r, body = self.request("GET", "/")
            self.assertEqual((r.status, body), (200, b"live"))
        self.assertEqual(self.server.stderr().count("connect to " + dead), 1)

    def test_reset_before_response_retries_only_idempotent(self):
        def rude(req, s):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return None  # closes with a reset, before any byte
        a = self.upstream(rude)
        b = self.upstream(lambda req, s: ok(b"b"))
        self.start(self.config([a.addr, b.addr], max_fails=0))
        gets = [self.request("GET", "/")[1] for _ in range(4)]
        self.assertEqual(gets, [b"b"] * 4)  # every GET that met `a` went on to `b`
        posts = [self.request("POST", "/", body=b"data")[0].status for _ in range(4)]
        self.assertIn(502, posts)  # a POST that met `a` is not repeated
        self.assertIn(200, posts)

    def test_weighted_round_robin_and_least_conn(self):
        a = self.upstream(lambda req, s: ok(b"a"))
        b = self.upstream(lambda req, s: ok(b"b"))
        self.start(self.config([{"address": a.addr, "weight": 3}, {"address": b.addr, "weight": 1}]))
        got = [self.request("GET", "/")[1] for _ in range(40)]
        self.assertEqual((got.count(b"a"), got.count(b"b")), (30, 10))
        self.server.stop()
        self.servers.clear()

        def named(name):
            def handler(req, s):
                if req.target == "/first":
                    time.sleep(1.0)
                return ok(name)
            return handler
        c = self.upstream(named(b"c"))
        d = self.upstream(named(b"d"))
        self.start(self.config([c.addr, d.addr], balance="least_conn"))
        hold = self.conn(timeout=10)
        hold.request("GET", "/first")  # occupies one server for a second
        self.assertTrue(harness.wait_for(lambda: len(c.requests) + len(d.requests) == 1, 2))
        busy = b"c" if c.requests else b"d"
        quick = [self.request("GET", "/")[1] for _ in range(6)]
        self.assertEqual(hold.getresponse().read(), busy)
        # While one server is busy, least_conn sends everything else to the other.
        self.assertEqual(quick, [b"d" if busy == b"c" else b"c"] * 6)

    def test_keepalive_pool_reuse_counted_upstream(self):
        u = self.upstream()
        self.start(self.config([u.addr], keepalive=4))
        for i in range(20):
            r, _ = self.request("GET", "/n%d" % i)
            self.assertEqual(r.status, 200)
        self.assertEqual(len(u.requests), 20)
        self.assertEqual(u.connections, 1)
        self.assertTrue(all(r.get("Connection") == "keep-alive" for r in u.requests))

    def test_upstream_closing_keepalive_connections(self):
        u = self.upstream(close=True)
        self.start(self.config([u.addr], keepalive=4))
        for i in range(10):
            r, _ = self.request("GET", "/n%d" % i)
            self.assertEqual(r.status, 200)
        self.assertEqual(u.connections, 10)

    def test_no_pool_sends_connection_close(self):
        u = self.upstream()
        self.start(self.config([u.addr], keepalive=0))
        for i in range(3):
            self.request("GET", "/")
        self.assertEqual(u.connections, 3)
        self.assertTrue(all(r.get("Connection") == "close" for r in u.requests))

    def test_client_gone_closes_the_upstream_connection(self):
        release = threading.Event()

        def handler(req, s):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            release.wait(5)
            try:
                while True:
                    s.sendall(b"y" * 65536)
            except OSError:
                return None
        u = self.upstream(handler)
        self.start(self.config([u.addr], keepalive=4))
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        s.close()
        release.set()
        self.assertTrue(harness.wait_for(lambda: u.closed == 1, 5), "upstream connection not closed")

    def test_large_bodies_byte_exact_with_bounded_rss(self):
        # 64 MiB here; `make proxy-big` sets WEBSERV_PROXY_BIG_MIB=1024 (1 GiB each way).
        mib = int(os.environ.get("WEBSERV_PROXY_BIG_MIB", "64" if not procstat.ASAN else "16"))
        size = mib << 20
        pattern = bytes(range(256)) * 1024

        def handler(req, s):
            if req.method == "POST":
                return ok(("%d %s" % (req.body_len, req.body_sha)).encode())
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            for i in range(0, size, len(pattern)):
                s.sendall(pattern[:min(len(pattern), size - i)])
            return b""
        u = self.upstream(handler)
        self.start(self.config([u.addr]))
        pid = self.server.proc.pid
        self.request("GET", "/warm")
        want = hashlib.sha256()
        for i in range(0, size, len(pattern)):
            want.update(pattern[:min(len(pattern), size - i)])
        with procstat.RssSampler(pid) as down:
            c = self.conn(timeout=600)
            c.request("GET", "/big")
            r = c.getresponse()
            got, n = hashlib.sha256(), 0
            time.sleep(0.3)  # a reader behind: the proxy must stop reading the upstream
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                got.update(b)
                n += len(b)
        self.assertEqual((n, got.hexdigest()), (size, want.hexdigest()))
        self.assertLess(down.growth(), 16 << 20, "RSS grew by %d bytes downloading" % down.growth())

        def chunks():
            for i in range(0, size, len(pattern)):
                yield pattern[:min(len(pattern), size - i)]
        with procstat.RssSampler(pid) as upload:
            c = self.conn(timeout=600)
            c.request("POST", "/up", body=chunks(), headers={"Content-Length": str(size)})
            body = c.getresponse().read()
        self.assertEqual(body.decode(), "%d %s" % (size, want.hexdigest()))
        self.assertLess(upload.growth(), 16 << 20, "RSS grew by %d bytes uploading" % upload.growth())
        print("\n%d MiB each way through the proxy: RSS growth %d KiB down, %d KiB up"
              % (mib, down.growth() >> 10, upload.growth() >> 10), file=sys.stderr)

    def test_config_errors(self):
        cfg = self.config(["127.0.0.1:1"], {"upstream": "nope"})
        s = harness.Server(cfg, self.tmp)
        import subprocess
        p = subprocess.run([harness.BIN, "-t", s.config_path], capture_output=True, text=True)
        self.assertIn("proxy.upstream: no upstream \"nope\"", p.stderr)
        for bad, msg in (({"trusted_proxies": ["10.0.0.0/33"]}, "proxy.trusted_proxies:"),
                         ({"host": "a b"}, "proxy.host:"), ({"retries": -1}, "proxy.retries:"),
                         ({"wat": 1}, "proxy.wat: unknown key"),
                         ({"timeouts": {"read": -1}}, "proxy.timeouts.read:"),
                         ({"timeouts": {"write": 1}}, "proxy.timeouts.write: unknown key")):
            s = harness.Server(self.config(["127.0.0.1:1"], bad), self.tmp)
            p = subprocess.run([harness.BIN, "-t", s.config_path], capture_output=True, text=True)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(msg, p.stderr)


if __name__ == "__main__":
    harness.main()

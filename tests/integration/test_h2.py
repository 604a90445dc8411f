"""HTTP/2 (issue 16, RFC 9113, SPEC §6): h2c with prior knowledge and h2 by
ALPN; requests over streams served by the unchanged modules (static, upload,
cgi); HEAD/304/204 without DATA, Range, error pages, return; :authority
routing; the access log and CGI's SERVER_PROTOCOL; request bodies under flow
control; 100 concurrent streams; the protocol errors of §8 refused per
stream. Clients: curl, nghttp, h2load and Python's h2 (Debian's python3-h2,
so this file runs under /usr/bin/python3). Floods and limits: test_h2_floods.py."""
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import threading
import time

import harness
import h2client
from h2client import H2Client, RawH2
from harness import ServerTestCase

PY = "/usr/bin/python3"
MiB = 1 << 20

SLOW_PY = r"""
import sys, time
time.sleep(float(__import__('os').environ.get('QUERY_STRING') or 1))
sys.stdout.write("Content-Type: text/plain\n\nslept\n")
"""
ECHO_PY = r"""
import os, sys, hashlib
d = sys.stdin.buffer.read()
sys.stdout.write("Content-Type: text/plain\n\n%s %s %d %s\n" % (os.environ.get("SERVER_PROTOCOL"),
                 os.environ.get("CONTENT_LENGTH"), len(d), hashlib.sha256(d).hexdigest()))
"""


def h2c_listen(port, extra=("h2c", "http/1.1")):
    return [{"address": "127.0.0.1:%d" % port, "protocols": list(extra)}]


class H2Case(ServerTestCase):
    modules = ["static", "upload", "cgi"]

    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp, "access.log")
        self.write("index.html", "hello h2\n")
        self.big = os.urandom(3 * MiB + 12345)
        self.write("big.bin", self.big)
        self.write("cgi/slow.py", SLOW_PY)
        self.write("cgi/echo.py", ECHO_PY)
        self.write("err/404.html", "custom not found\n")
        os.makedirs(os.path.join(self.root, "up"))

    def config(self, listen=None, **top):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/up", "methods": ["GET", "HEAD", "PUT", "POST", "DELETE"], "static": {}, "upload": {},
             "client_max_body_size": 0},
            {"path": "/small", "methods": ["PUT", "POST"], "upload": {}, "client_max_body_size": "1K"},
            {"path": "/cgi", "client_max_body_size": 0, "cgi": {"interpreters": {".py": PY}, "timeout": 30}},
            {"path": "/gone", "return": {"status": 301, "location": "/index.html"}},
            {"path": "/teapot", "return": {"status": 200, "body": "short and stout"}},
        ], listen=listen or h2c_listen(self.port), error_pages={"404": os.path.join(self.root, "err/404.html")})
        cfg["access_log"] = self.log
        cfg.update(top)
        return cfg

    def client(self, **kw):
        c = H2Client(self.port, **kw)
        self.addCleanup(c.close)
        return c


class TestNegotiation(H2Case):
    def test_h2c_prior_knowledge_and_http11_on_the_same_port(self):
        self.start(self.config())
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}",
                            "http://127.0.0.1:%d/index.html" % self.port], capture_output=True, timeout=20)
        self.assertEqual(p.stdout, b"hello h2\n\n2 200", p.stderr)
        r, body = self.request("GET", "/index.html")
        self.assertEqual((r.status, r.version, body), (200, 11, b"hello h2\n"))

    def test_h2c_refused_where_not_configured(self):
        """The preface on an HTTP/1.1-only address is not HTTP/2: an HTTP/1 error, then close."""
        self.start(self.config(listen=["127.0.0.1:%d" % self.port]))
        data = harness.raw(self.port, h2client.PREFACE + h2client.frame(h2client.SETTINGS, 0, 0))
        self.assertTrue(data.startswith(b"HTTP/1.1 "), data[:100])
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "http://127.0.0.1:%d/" % self.port],
                           capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)

    def test_tls_alpn_h2_curl_nghttp_and_h2_library(self):
        cfg = harness.tls_config(self.config(listen=["127.0.0.1:%d" % self.port]))
        self.start(cfg)
        url = "https://127.0.0.1:%d/big.bin" % self.port
        out = os.path.join(self.tmp, "got")
        p = subprocess.run(["curl", "-sSk", "--http2", "-o", out, "-w", "%{http_version} %{http_code}", url],
                           capture_output=True, timeout=30)
        self.assertEqual(p.stdout, b"2 200", p.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), self.big)
        p = subprocess.run(["nghttp", "-n", "-s", url, "https://127.0.0.1:%d/index.html" % self.port],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = self.client(tls=True)
        self.assertEqual(c.sock.selected_alpn_protocol(), "h2")
        s = c.get("/index.html")
        self.assertEqual((s.status, bytes(s.data)), (200, b"hello h2\n"))
        # A client that offers only http/1.1 still gets HTTP/1.1.
        p = subprocess.run(["curl", "-sSk", "--http1.1", "-w", "%{http_version}", "-o", "/dev/null", url],
                           capture_output=True, timeout=30)
        self.assertEqual(p.stdout, b"1.1")

    def data_frame_sizes(self, tls):
        """DATA payload sizes of big.bin on one stream, with windows wide open."""
        r = RawH2(self.port, tls=tls, settings=struct.pack(">HI", 4, 2**31 - 1))  # SETTINGS_INITIAL_WINDOW_SIZE
        self.addCleanup(r.close)
        r.send(h2client.frame(h2client.WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1 - 65535)))
        r.headers(1, [(":method", "GET"), (":scheme", "https" if tls else "http"), (":authority", "localhost"),
                      (":path", "/big.bin")])
        r.read_frames(lambda f: f[2] == 1 and f[0] in (h2client.DATA, h2client.HEADERS) and f[1] & h2client.END_STREAM,
                      60)
        self.assertEqual(r.data.get(1), self.big)
        return [len(f[3]) for f in r.frames if f[0] == h2client.DATA and f[2] == 1]

    def test_tls_data_frames_fill_one_record(self):
        """Over TLS a DATA frame with its 9-byte header is one TLS record's
        plaintext at most (2^14 bytes, RFC 8446 §5.1): 16,375-byte payloads,
        each written from nghttp2's buffer as one record."""
        self.start(harness.tls_config(self.config(listen=["127.0.0.1:%d" % self.port])))
        sizes = self.data_frame_sizes(True)
        self.assertEqual(max(sizes), 16384 - 9)
        self.assertGreater(sizes.count(16384 - 9), len(self.big) // 16384 - 4)

    def test_h2c_data_frames_keep_the_default_size(self):
        """Cleartext h2 has no records: nghttp2's 16,384-byte DATA frames."""
        self.start(self.config())
        self.assertEqual(max(self.data_frame_sizes(False)), 16384)

    def test_h2load(self):
        self.start(self.config())
        p = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "32",
                            "http://127.0.0.1:%d/index.html" % self.port], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"2000 succeeded, 0 failed, 0 errored", p.stdout, p.stdout[-800:])
        self.assertIn(b"status codes: 2000 2xx", p.stdout)


class TestSemantics(H2Case):
    def setUp(self):
        super().setUp()
        self.start(self.config())

    def test_static_byte_exact_head_range_conditional(self):
        c = self.client()
        s = c.get("/big.bin")
        self.assertEqual(s.status, 200)
        self.assertEqual(bytes(s.data), self.big)
        self.assertEqual(s.headers["content-length"], str(len(self.big)))
        etag = s.headers["etag"]
        # HEAD: the GET's head, no DATA (the HEADERS frame ends the stream).
        s = c.get("/big.bin", method="HEAD")
        self.assertEqual((s.status, s.headers["content-length"], bytes(s.data)), (200, str(len(self.big)), b""))
        s = c.get("/big.bin", headers=[("range", "bytes=100-199")])
        self.assertEqual((s.status, s.headers["content-range"]), (206, "bytes 100-199/%d" % len(self.big)))
        self.assertEqual(bytes(s.data), self.big[100:200])
        s = c.get("/big.bin", headers=[("if-none-match", etag)])
        self.assertEqual((s.status, bytes(s.data)), (304, b""))
        self.assertNotIn("content-length", s.headers)
        s = c.get("/big.bin", headers=[("if-match", '"nope"')])
        self.assertEqual(s.status, 412)
        no_data = [e for e in c.events if isinstance(e, h2client.h2.events.DataReceived) and e.stream_id in (3, 7)]
        self.assertEqual(no_data, [])

    def test_error_page_return_options_and_connection_fields(self):
        c = self.client()
        s = c.get("/missing")
        self.assertEqual((s.status, bytes(s.data)), (404, b"custom not found\n"))
        s = c.get("/gone")
        self.assertEqual((s.status, s.headers["location"]), (301, "/index.html"))
        s = c.get("/teapot")
        self.assertEqual((s.status, bytes(s.data)), (200, b"short and stout"))
        s = c.get("/", method="OPTIONS")
        self.assertEqual((s.status, bytes(s.data)), (204, b""))
        s = c.get("/index.html", method="BREW")
        self.assertEqual(s.status, 501)
        # Never a connection-specific field in an HTTP/2 response (RFC 9113 §8.2.2).
        for st in c.streams.values():
            for name in ("connection", "keep-alive", "transfer-encoding"):
                self.assertNotIn(name, st.headers or {})
        # 501 closes an HTTP/1 connection; an HTTP/2 connection goes on.
        self.assertEqual(c.get("/index.html").status, 200)

    def test_authority_routes_like_host(self):
        cfg = self.config()
        other = dict(cfg["servers"][0], server_names=["other.test"], root=os.path.join(self.tmp, "other"),
                     locations=[{"path": "/", "static": {}}])
        other.pop("error_pages", None)
        os.makedirs(other["root"])
        with open(os.path.join(other["root"], "index.html"), "w") as f:
            f.write("the other server\n")
        cfg["servers"][0]["server_names"] = ["first.test"]
        cfg["servers"].append(other)
        self.server.write_config(cfg)
        self.server.reload_once()
        c = self.client()
        self.assertEqual(bytes(c.get("/index.html", authority="other.test").data), b"the other server\n")
        self.assertEqual(bytes(c.get("/index.html", authority="first.test:80").data), b"hello h2\n")
        # No :authority: the host field routes (RFC 9113 §8.3.1).
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", "/index.html"),
                                  ("host", "other.test")], end_stream=True)
        c.streams[sid] = h2client.Stream()
        c.flush()
        c.wait(lambda: c.streams[sid].done)
        self.assertEqual(bytes(c.streams[sid].data), b"the other server\n")

    def test_access_log_and_cgi_server_protocol(self):
        c = self.client()
        s = c.get("/cgi/echo.py", method="POST", body=b"abc", headers=[("content-length", "3")])
        self.assertEqual(s.status, 200)
        self.assertEqual(bytes(s.data).decode().split()[:3], ["HTTP/2", "3", "3"])
        c.get("/index.html")
        harness.wait_for(lambda: os.path.exists(self.log) and b"GET /index.html HTTP/2.0" in open(self.log, "rb").read())
        with open(self.log, "rb") as f:
            log = f.read()
        self.assertIn(b'"POST /cgi/echo.py HTTP/2.0" 200', log)

    def test_bodies_with_and_without_length_trailers_and_limits(self):
        c = self.client()
        body = os.urandom(300000)
        # Without content-length: DATA until END_STREAM (CGI sees a body of unknown length).
        s = c.get("/cgi/echo.py", method="POST", body=body)
        self.assertEqual(s.status, 200)
        self.assertEqual(bytes(s.data).split()[2:], [b"300000", hashlib.sha256(body).hexdigest().encode()])
        # Trailers after the body are accepted.
        sid = c.request("POST", "/cgi/echo.py", [("content-length", "5")], body=b"hello", end=False)
        c.wait(lambda: c.streams[sid].pending is None or not len(c.streams[sid].pending))
        c.conn.send_headers(sid, [("x-checksum", "abc")], end_stream=True)
        c.flush()
        c.wait(lambda: c.streams[sid].done)
        self.assertEqual(c.streams[sid].status, 200)
        self.assertIn(b" 5 5 ", bytes(c.streams[sid].data))
        # Past client_max_body_size: known length refused at once, unknown length when it passes it.
        s = c.get("/small/x", method="PUT", body=b"x" * 2000, headers=[("content-length", "2000")])
        self.assertEqual(s.status, 413)
        os.makedirs(os.path.join(self.root, "small"))
        s = c.get("/small/y", method="PUT", body=b"x" * 5000)
        self.assertEqual(s.status, 413)
        # The upload's temporary file goes when the stream's request ends.
        self.assertTrue(harness.wait_for(lambda: os.listdir(os.path.join(self.root, "small")) == [], 5))
        # The connection is still good.
        self.assertEqual(c.get("/index.html").status, 200)

    def test_upload_byte_exact_under_flow_control(self):
        c = self.client()
        body = os.urandom(8 * MiB + 7)
        s = c.get("/up/file.bin", method="PUT", body=body, headers=[("content-length", str(len(body)))], timeout=120)
        self.assertIn(s.status, (200, 201), bytes(s.data))
        with open(os.path.join(self.root, "up/file.bin"), "rb") as f:
            self.assertEqual(f.read(), body)
        # The server never let the client send more than its window allows:
        # the h2 library raises on a flow-control violation by the server's
        # side, and the body arrived whole, so WINDOW_UPDATEs followed consumption.
        s = c.get("/up/file.bin")
        self.assertEqual(bytes(s.data), body)

    def test_expect_100_continue(self):
        c = self.client()
        sid = c.request("POST", "/cgi/echo.py", [("content-length", "4"), ("expect", "100-continue")], end=False)
        c.wait(lambda: c.streams[sid].informational or c.streams[sid].done, 10)
        self.assertEqual(c.streams[sid].informational[0][":status"], "100")
        c.send_body(sid, b"data")
        c.wait(lambda: c.streams[sid].done)
        self.assertIn(b" 4 4 ", bytes(c.streams[sid].data))

    def test_protocol_errors_are_stream_errors(self):
        """RFC 9113 §8.1.1/§8.2/§8.3: malformed requests get RST_STREAM
        PROTOCOL_ERROR, and the connection goes on serving."""
        base = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/index.html")]
        cases = {
            "missing :path": base[:3],
            "missing :method": base[1:],
            "missing :scheme": [base[0]] + base[2:],
            "duplicated :method": base + [(":method", "GET")],
            "duplicated :path": base + [(":path", "/x")],
            "unknown pseudo-field": base + [(":foo", "bar")],
            "pseudo-field after a regular field": base[:3] + [("accept", "*/*"), base[3]],
            "response pseudo-field in a request": base + [(":status", "200")],
            "upper-case field name": base + [("Accept", "*/*")],
            "connection field": base + [("connection", "keep-alive")],
            "keep-alive field": base + [("keep-alive", "5")],
            "transfer-encoding field": base + [("transfer-encoding", "chunked")],
            "upgrade field": base + [("upgrade", "websocket")],
            "te other than trailers": base + [("te", "gzip")],
            "empty :path": base[:3] + [(":path", "")],
            "newline in a value": base + [("x-a", "b\r\nc")],
            "space in a field name": base + [("x a", "b")],
        }
        r = RawH2(self.port)
        self.addCleanup(r.close)
        sid = 1
        found = {}
        for name, hs in cases.items():
            r.headers(sid, hs)
            found[name] = r.rst(sid)
            sid += 2
        self.assertEqual({k: v for k, v in found.items() if v != h2client.PROTOCOL_ERROR}, {})
        # content-length against DATA (§8.1.1): more, and less, than announced.
        post = [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", "/cgi/echo.py")]
        r.headers(sid, post + [("content-length", "3")], end_stream=False)
        r.send(h2client.frame(h2client.DATA, h2client.END_STREAM, sid, b"abcdef"))
        self.assertEqual(r.rst(sid), h2client.PROTOCOL_ERROR)
        sid += 2
        r.headers(sid, post + [("content-length", "10")], end_stream=False)
        r.send(h2client.frame(h2client.DATA, h2client.END_STREAM, sid, b"abc"))
        self.assertEqual(r.rst(sid), h2client.PROTOCOL_ERROR)
        sid += 2
        # HEADERS with END_STREAM and a content-length > 0.
        r.headers(sid, post + [("content-length", "3")], end_stream=True)
        self.assertEqual(r.rst(sid), h2client.PROTOCOL_ERROR)
        sid += 2
        # And the connection still serves.
        r.headers(sid, base)
        self.assertEqual(r.status(sid), 200)
        self.assertFalse(r.closed)

    def test_connection_errors(self):
        """DATA on stream 0 and a server-initiated stream id end the connection (GOAWAY PROTOCOL_ERROR)."""
        base = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/index.html")]
        r = RawH2(self.port)
        self.addCleanup(r.close)
        r.send(h2client.frame(h2client.DATA, 0, 0, b"x"))
        self.assertEqual(r.goaway(), h2client.PROTOCOL_ERROR)
        self.assertTrue(r.wait_closed())
        # A stream id lower than one already used (RFC 9113 §5.1.1 calls it a
        # connection error): nghttp2 takes it for a closed stream and ignores
        # it. Nothing is served on it, and the connection goes on.
        r = RawH2(self.port)
        self.addCleanup(r.close)
        r.headers(5, base)
        self.assertEqual(r.status(5), 200)
        r.headers(3, base)
        self.assertIsNone(r.status(3, timeout=1))
        r.headers(7, base)
        self.assertEqual(r.status(7), 200)
        # An even (server-initiated) stream id from the client.
        r = RawH2(self.port)
        self.addCleanup(r.close)
        r.headers(2, base)
        self.assertEqual(r.goaway(), h2client.PROTOCOL_ERROR)


class TestConcurrency(H2Case):
    def test_100_streams_static_upload_and_slow_cgi_byte_exact(self):
        self.start(self.config())
        files = {}
        for i in range(60):
            data = os.urandom(1000 + i * 5000)
            self.write("f/%d.bin" % i, data)
            files["/f/%d.bin" % i] = data
        c = self.client(timeout=120)
        up = os.urandom(100 * MiB if not os.environ.get("WEBSERV_SANITIZE_BUILD") else 20 * MiB)
        t0 = time.monotonic()
        sids = {}
        sids["upload"] = c.request("PUT", "/up/hundred.bin", [("content-length", str(len(up)))], body=up)
        for k in range(4):
            sids["slow%d" % k] = c.request("GET", "/cgi/slow.py?1")
        sids["echo"] = c.request("POST", "/cgi/echo.py", [("content-length", "6")], body=b"abcdef")
        for p in files:
            sids[p] = c.request("GET", p)
        for k in range(100 - len(sids)):
            sids["big%d" % k] = c.request("GET", "/big.bin")
        self.assertEqual(len(sids), 100)
        def progress():
            if os.environ.get("H2_DEBUG"):
                left = [n for n, s in sids.items() if not c.streams[s].done]
                print(round(time.monotonic() - t0), len(left), left[:5],
                      [(n, c.streams[s].reset) for n, s in sids.items() if c.streams[s].reset is not None][:5],
                      sum(len(c.streams[s].data) for s in sids.values()), flush=True)
            return all(c.streams[s].done for s in sids.values())
        c.wait(progress, timeout=240)
        for name, sid in sids.items():
            st = c.streams[sid]
            self.assertIsNone(st.reset, name)
            if name in files:
                self.assertEqual(bytes(st.data), files[name], name)
            elif name.startswith("big"):
                self.assertEqual(bytes(st.data), self.big, name)
            elif name.startswith("slow"):
                self.assertEqual(bytes(st.data), b"slept\n", name)
            elif name == "echo":
                self.assertIn(b"HTTP/2 6 6 ", bytes(st.data))
            else:
                self.assertIn(st.status, (200, 201))
        with open(os.path.join(self.root, "up/hundred.bin"), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(up).digest())
        self.assertLess(time.monotonic() - t0, 200)


def get_head(path, method="GET"):
    return [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)]


class TestLifecycle(H2Case):
    """GOAWAY (RFC 9113 §6.8) when a worker drains; the h2 library stops at
    a GOAWAY, so these read raw frames."""

    def drain_case(self, sig, workers):
        self.start(self.config(workers=workers))
        r = RawH2(self.port)
        self.addCleanup(r.close)
        r.headers(1, get_head("/index.html"))
        self.assertEqual(r.status(1), 200)
        r.headers(3, get_head("/cgi/slow.py?2"))
        time.sleep(0.5)  # the stream is taken
        self.server.signal(sig)
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 10)
        self.assertEqual(r.last_goaway[0], h2client.NO_ERROR)
        self.assertGreaterEqual(r.last_goaway[1], 3)
        r.read_frames(lambda f: 3 in r.ended, 20)
        self.assertEqual((r.status(3), r.data.get(3)), (200, b"slept\n"))
        self.assertTrue(r.wait_closed(10), "the drained connection was not closed")

    def test_goaway_on_reload_lets_streams_finish(self):
        self.drain_case(signal.SIGHUP, 2)
        # The new workers serve.
        c = self.client()
        self.assertEqual(c.get("/index.html").status, 200)

    def test_goaway_on_shutdown(self):
        self.drain_case(signal.SIGTERM, 1)
        self.server.proc.wait(timeout=10)
        self.assertEqual(self.server.proc.returncode, 0)


if __name__ == "__main__":
    harness.main()

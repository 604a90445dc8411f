"""The worker's memory for TLS (issue 16's idle-connection rows): the shared
TLS session cache (8 MiB) is zeroed without being made resident, so the first
TLS connection does not add 8 MiB to the worker's RSS; sessions still resume
from it. And an idle TLS connection, HTTP/1.1 or HTTP/2, holds little beyond
OpenSSL's own SSL object: no record buffers (SSL_MODE_RELEASE_BUFFERS), no
nghttp2 session (h2_idle.c), a small transport of ours. Runs under
/usr/bin/python3 (hpack)."""
import ssl
import time

import harness
import h2client
import procstat
import tlsutil
from h2client import RawH2
from test_tls import TlsCase, resumed_count

IDLE = 300
# Measured 15.0-16.4 KiB a connection (h1, h2; OpenSSL 3.0's own ~13.5 KiB of
# it). What this is for: without SSL_MODE_RELEASE_BUFFERS (record buffers kept
# by every idle connection) it measured 24.0 and 27.2 KiB; an h2 connection
# that keeps its nghttp2 session adds ~26 KiB, a kept HTTP/1.1 read buffer 32.
BOUND = 21 * 1024


class TestSessionCacheMemory(TlsCase):
    def test_first_tls_connections_leave_the_cache_mostly_unresident(self):
        self.start_tls([self.tls_server(tls={"session_tickets": False})])
        pid = self.server.proc.pid
        before = procstat.status_kib(pid, "VmRSS")
        for _ in range(5):
            with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
                self.assertIn(b"hello over tls", tlsutil.https_get(s))
        grown = procstat.status_kib(pid, "VmRSS") - before
        if not (procstat.ASAN or procstat.VALGRIND):  # their RSS says nothing about the server's
            self.assertLess(grown, 4096, "RSS grew by %d KiB for 5 TLS connections" % grown)
        # The cache works: TLS 1.2 session ids resume from it.
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        self.assertEqual(resumed_count(self.port, ctx, 6), 6)


class TestIdleTlsMemory(TlsCase):
    def setUp(self):
        super().setUp()
        if procstat.ASAN or procstat.VALGRIND:
            self.skipTest("RSS says nothing about the server under a sanitizer or valgrind")

    def start_idle(self):
        srv = self.tls_server()
        srv["listen"][0]["protocols"] = ["h2", "http/1.1"]
        # 300 handshakes take a while on a loaded machine: no connection may
        # reach its idle timeout before the end.
        self.start_tls([srv], timeouts={"keepalive": 600})
        return self.server.proc.pid

    def per_conn_after(self, pid, before, n):
        """RSS growth per connection, once it is under the bound or 10 s passed
        (an h2 session sleeps 100 ms after its last stream)."""
        deadline = time.monotonic() + 10
        while True:
            per_conn = (procstat.status_kib(pid, "VmRSS") - before) * 1024 / n
            if per_conn < BOUND or time.monotonic() > deadline:
                return per_conn
            time.sleep(0.2)

    def test_idle_http11_tls_connections_hold_little_memory(self):
        pid = self.start_idle()
        ctx = self.ctx()
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:  # warm: the first one's one-off costs
            self.assertIn(b"hello over tls", tlsutil.https_get(s))
        before = procstat.status_kib(pid, "VmRSS")
        conns = []
        for _ in range(IDLE):
            s = tlsutil.tls_connect(self.port, "a.test", ctx)
            self.addCleanup(s.close)
            self.assertTrue(tlsutil.https_get(s, close=False).endswith(b"hello over tls\n"))
            conns.append(s)
        per_conn = self.per_conn_after(pid, before, len(conns))
        self.assertLess(per_conn, BOUND, "%d bytes a connection" % per_conn)
        for s in conns[-5:]:  # and they still serve
            self.assertTrue(tlsutil.https_get(s, close=False).endswith(b"hello over tls\n"))

    def test_idle_h2_tls_connections_hold_little_memory(self):
        pid = self.start_idle()
        head = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/index.html")]

        def get(r, sid):
            r.headers(sid, head)
            r.read_frames(lambda f: f[2] == sid and f[0] in (h2client.DATA, h2client.HEADERS)
                          and f[1] & h2client.END_STREAM, 10)
            return r.data.get(sid, b"")

        warm = RawH2(self.port, tls=True)
        self.addCleanup(warm.close)
        self.assertEqual(get(warm, 1), b"hello over tls\n")
        time.sleep(0.5)
        before = procstat.status_kib(pid, "VmRSS")
        conns = []
        for _ in range(IDLE):
            r = RawH2(self.port, tls=True)
            self.addCleanup(r.close)
            self.assertEqual(get(r, 1), b"hello over tls\n")  # our SETTINGS acknowledged on the way
            conns.append(r)
        per_conn = self.per_conn_after(pid, before, len(conns))
        self.assertLess(per_conn, BOUND, "%d bytes a connection" % per_conn)
        for r in conns[-5:]:
            self.assertEqual(get(r, 3), b"hello over tls\n")


if __name__ == "__main__":
    harness.main()

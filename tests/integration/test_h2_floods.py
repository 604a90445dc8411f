"""HTTP/2 limits and floods (issue 16, RFC 9113 §10.5), with raw frames:
max_concurrent_streams and REFUSED_STREAM, the header list size
(limits.header_size → 431), the HPACK table size, rapid reset
(CVE-2023-44487), CONTINUATION floods (CVE-2024-27316), SETTINGS, PING,
PRIORITY and empty-DATA floods, a client that never reads (flow control at 0,
or a full socket) against the server's memory, and the timeouts of SPEC §3
for a stream and an idle connection. Runs under /usr/bin/python3 (hpack, h2)."""
import os
import socket
import struct
import time

import harness
import h2client
import procstat
from h2client import RawH2, frame
from harness import ServerTestCase

MiB = 1 << 20


def head(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)] + list(extra)


class FloodCase(ServerTestCase):
    modules = ["static", "upload"]

    def setUp(self):
        super().setUp()
        self.write("index.html", "hello\n")
        self.write("big.bin", os.urandom(1024) * (48 * 1024))  # 48 MiB
        os.makedirs(os.path.join(self.root, "up"))

    def start_h2(self, **top):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/up", "methods": ["PUT", "POST"], "upload": {}, "client_max_body_size": 0},
        ], listen=[{"address": "127.0.0.1:%d" % self.port, "protocols": ["h2c", "http/1.1"]}])
        cfg.update(top)
        return self.start(cfg)

    def raw(self, **kw):
        r = RawH2(self.port, **kw)
        self.addCleanup(r.close)
        r.read_frames(lambda f: f[0] == h2client.SETTINGS and not f[1] & h2client.ACK, 5)
        return r

    def assert_still_serves(self):
        r = self.raw()
        r.headers(1, head("/index.html"))
        self.assertEqual(r.status(1), 200)

    def assert_calm_goaway(self, r, timeout=10):
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, timeout)
        self.assertIsNotNone(r.last_goaway, "no GOAWAY")
        self.assertEqual(r.last_goaway[0], h2client.ENHANCE_YOUR_CALM)
        self.assertTrue(r.wait_closed(5), "connection left open after the GOAWAY")


class TestLimits(FloodCase):
    def test_max_concurrent_streams_128(self):
        """SETTINGS_MAX_CONCURRENT_STREAMS is 128. A stream beyond it before
        the client acknowledged our SETTINGS is refused (RST_STREAM
        REFUSED_STREAM) and the others go on; after the acknowledgement
        nghttp2 makes it a connection error (GOAWAY PROTOCOL_ERROR; RFC 9113
        §5.1.2 asks for a stream error there: nghttp2's choice, kept)."""
        self.start_h2()
        r = RawH2(self.port)  # our SETTINGS not acknowledged yet: nothing read
        self.addCleanup(r.close)
        for k in range(129):
            r.headers(1 + 2 * k, head("/up/f%d" % k, "PUT", [("content-length", "10")]), end_stream=False)
        self.assertEqual(r.rst(1 + 2 * 128), h2client.REFUSED_STREAM)
        settings = [f for f in r.frames if f[0] == h2client.SETTINGS and not f[1] & h2client.ACK][0][3]
        iv = {struct.unpack(">H", settings[i:i + 2])[0]: struct.unpack(">I", settings[i + 2:i + 6])[0]
              for i in range(0, len(settings), 6)}
        self.assertEqual(iv[3], 128)
        # The 128 are alive: finish one.
        r.send(frame(h2client.DATA, h2client.END_STREAM, 1, b"0123456789"))
        self.assertIn(r.status(1), (200, 201))
        with open(os.path.join(self.root, "up/f0"), "rb") as f:
            self.assertEqual(f.read(), b"0123456789")
        self.assertIsNone(r.last_goaway)
        # After the acknowledgement: the 129th open stream ends the connection.
        r = self.raw()
        for k in range(129):
            r.headers(1 + 2 * k, head("/up/g%d" % k, "PUT", [("content-length", "10")]), end_stream=False)
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
        self.assertEqual(r.last_goaway, (h2client.PROTOCOL_ERROR, 255))
        self.assertTrue(r.wait_closed(5))
        self.assert_still_serves()

    def test_header_list_size_is_limits_header_size(self):
        self.start_h2(limits={"header_size": "4K"})
        r = self.raw()
        settings = r.frames[0][3]
        iv = {struct.unpack(">H", settings[i:i + 2])[0]: struct.unpack(">I", settings[i + 2:i + 6])[0]
              for i in range(0, len(settings), 6)}
        self.assertEqual(iv[6], 4096)  # SETTINGS_MAX_HEADER_LIST_SIZE
        r.headers(1, head("/index.html", extra=[("x-big", "a" * 5000)]))
        self.assertEqual(r.status(1), 431)
        # Many small fields count too (32 bytes each, RFC 9113 §6.5.2).
        r.headers(3, head("/index.html", extra=[("x-%d" % i, "v") for i in range(150)]))
        self.assertEqual(r.status(3), 431)
        r.headers(5, head("/index.html"))
        self.assertEqual(r.status(5), 200)

    def test_hpack_table_size_above_ours_is_a_compression_error(self):
        """Our decoder's table is 4096 bytes (SETTINGS_HEADER_TABLE_SIZE): a
        header block that raises it past that is a COMPRESSION_ERROR (RFC 7541 §4.2)."""
        self.start_h2()
        r = self.raw()
        iv = {struct.unpack(">H", r.frames[0][3][i:i + 2])[0]: struct.unpack(">I", r.frames[0][3][i + 2:i + 6])[0]
              for i in range(0, len(r.frames[0][3]), 6)}
        self.assertEqual(iv.get(1), 4096)
        update = bytes([0x3F, 0xE1, 0xFF, 0x03])  # dynamic table size update to 65536
        r.send(frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, 1,
                     update + r.block(head("/index.html"))))
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
        self.assertEqual(r.last_goaway and r.last_goaway[0], h2client.COMPRESSION_ERROR)
        self.assertTrue(r.wait_closed(5))
        # A client whose own table is large does not make ours grow: the
        # server's encoder keeps to 4096 bytes whatever the client allows.
        r = RawH2(self.port, settings=struct.pack(">HI", 1, 1 << 20))
        self.addCleanup(r.close)
        for k in range(20):
            r.headers(1 + 2 * k, head("/index.html"))
            self.assertEqual(r.status(1 + 2 * k), 200)


class TestFloods(FloodCase):
    def test_rapid_reset(self):
        """CVE-2023-44487: streams opened and reset at once. GOAWAY
        ENHANCE_YOUR_CALM, the connection closed, and few of them served."""
        self.start_h2(access_log=os.path.join(self.tmp, "access.log"))
        r = self.raw()
        t0 = time.monotonic()
        batch = b""
        for k in range(5000):
            sid = 1 + 2 * k
            batch += frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, sid,
                           r.block(head("/index.html")))
            batch += frame(h2client.RST_STREAM, 0, sid, struct.pack(">I", h2client.CANCEL))
            if len(batch) > 16384:
                if not r.send(batch):
                    break
                batch = b""
        r.send(batch)
        self.assert_calm_goaway(r)
        self.assertLess(time.monotonic() - t0, 10)
        time.sleep(0.3)
        with open(os.path.join(self.tmp, "access.log")) as f:
            served = f.read().count("HTTP/2.0")
        self.assertLess(served, 600, "the server answered most of the reset streams")
        self.assert_still_serves()

    def test_continuation_flood(self):
        """CVE-2024-27316: a header block that never ends, in many
        CONTINUATION frames. nghttp2 stops after 8 (a fatal error: we write
        GOAWAY ENHANCE_YOUR_CALM) and the connection ends; memory stays flat."""
        self.start_h2()
        pid = self.server.proc.pid
        r = self.raw()
        r.send(frame(h2client.HEADERS, 0, 1, r.block(head("/index.html"))))
        t0 = time.monotonic()
        with procstat.RssSampler(pid) as rss:
            piece = frame(h2client.CONTINUATION, 0, 1, r.block([("x-flood", "a" * 1000)]))
            for _ in range(2000):
                if not r.send(piece * 10):
                    break
            r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
            self.assertTrue(r.wait_closed(5))
        self.assertEqual(r.last_goaway, (h2client.ENHANCE_YOUR_CALM, 1))
        self.assertLess(time.monotonic() - t0, 8)
        self.assertLess(rss.growth(), 8 * MiB)
        self.assert_still_serves()

    def flood(self, piece, n=5000):
        r = self.raw()
        for k in range(0, n, 100):
            if not r.send(piece(k) * 1 if callable(piece) else piece * 100):
                break
        return r

    def test_settings_flood(self):
        self.start_h2()
        r = self.flood(frame(h2client.SETTINGS, 0, 0, struct.pack(">HI", 3, 100)))
        self.assert_calm_goaway(r)
        self.assert_still_serves()

    def test_ping_flood(self):
        self.start_h2()
        r = self.flood(frame(h2client.PING, 0, 0, b"12345678"))
        self.assert_calm_goaway(r)
        self.assert_still_serves()

    def test_priority_flood(self):
        self.start_h2()
        r = self.flood(frame(h2client.PRIORITY, 0, 3, struct.pack(">IB", 1, 16)))
        self.assert_calm_goaway(r)
        self.assert_still_serves()

    def test_empty_data_flood(self):
        self.start_h2()
        r = self.raw()
        r.headers(1, head("/up/empty", "POST"), end_stream=False)
        for _ in range(50):
            if not r.send(frame(h2client.DATA, 0, 1, b"") * 100):
                break
        self.assert_calm_goaway(r)
        self.assert_still_serves()

    def test_a_normal_browser_pattern_is_not_a_flood(self):
        """Settings, pings and a few cancellations at a browser's pace pass."""
        self.start_h2()
        r = self.raw()
        sid = 1
        for k in range(30):
            r.send(frame(h2client.PING, 0, 0, b"%08d" % k))
            r.headers(sid, head("/index.html"))
            self.assertEqual(r.status(sid), 200)
            sid += 2
            r.headers(sid, head("/big.bin"))
            r.send(frame(h2client.RST_STREAM, 0, sid, struct.pack(">I", h2client.CANCEL)))
            sid += 2
        self.assertIsNone(r.last_goaway)
        self.assertFalse(r.closed)


class TestSlowClients(FloodCase):
    def test_window_zero_reader_holds_no_memory_and_times_out(self):
        """A client with a stream window of 0 asks for big files and never
        opens it: the server holds no file in memory, and the send timeout
        resets the streams."""
        self.start_h2(timeouts={"send": 2})
        pid = self.server.proc.pid
        r = self.raw(settings=struct.pack(">HI", 4, 0))  # SETTINGS_INITIAL_WINDOW_SIZE = 0
        with procstat.RssSampler(pid) as rss:
            for k in range(10):
                r.headers(1 + 2 * k, head("/big.bin"))
            self.assertEqual(r.status(1), 200)
            t0 = time.monotonic()
            r.read_frames(lambda f: f[0] == h2client.RST_STREAM and f[2] == 19, 10)
        self.assertEqual(r.rst(19, timeout=1), h2client.CANCEL)
        self.assertLess(time.monotonic() - t0, 6)
        self.assertLess(rss.growth(), 8 * MiB)
        self.assertEqual(r.data, {})

    def test_socket_never_read_holds_no_memory(self):
        """Windows wide open, but the client never reads its socket: the
        server stops producing frames when the socket is full."""
        self.start_h2(timeouts={"send": 3})
        pid = self.server.proc.pid
        s = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        enc = h2client.hpack.Encoder()
        out = h2client.PREFACE + frame(h2client.SETTINGS, 0, 0, struct.pack(">HI", 4, 0x7FFFFFFF))
        out += frame(h2client.WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535))
        out += frame(h2client.SETTINGS, h2client.ACK, 0)
        for k in range(20):
            out += frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, 1 + 2 * k,
                         enc.encode(head("/big.bin")))
        s.sendall(out)
        with procstat.RssSampler(pid) as rss:
            time.sleep(2)
        self.assertLess(rss.growth(), 8 * MiB)
        # Nothing could be written for timeouts.send: the connection is
        # closed. What the client reads afterwards is what was in flight.
        time.sleep(3.5)
        s.settimeout(5)
        got = 0
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                got += len(d)
        except ConnectionResetError:
            pass
        self.assertLess(got, 32 * MiB)


class TestTimeouts(FloodCase):
    def test_idle_connection_goaway_and_close(self):
        self.start_h2(timeouts={"keepalive": 1})
        r = self.raw()
        r.headers(1, head("/index.html"))
        self.assertEqual(r.status(1), 200)
        t0 = time.monotonic()
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
        self.assertEqual(r.last_goaway[0], h2client.NO_ERROR)
        self.assertTrue(r.wait_closed(3))
        self.assertLess(time.monotonic() - t0, 4)

    def test_silent_connection_after_preface_closed(self):
        self.start_h2(timeouts={"header": 1})
        r = self.raw()
        t0 = time.monotonic()
        self.assertTrue(r.wait_closed(5))
        self.assertLess(time.monotonic() - t0, 4)

    def test_stalled_body_408_per_stream(self):
        self.start_h2(timeouts={"body": 1})
        r = self.raw()
        r.headers(1, head("/up/stalled", "PUT", [("content-length", "10")]), end_stream=False)
        r.send(frame(h2client.DATA, 0, 1, b"01234"))
        t0 = time.monotonic()
        self.assertEqual(r.status(1, timeout=5), 408)
        self.assertLess(time.monotonic() - t0, 4)
        self.assertFalse(os.path.exists(os.path.join(self.root, "up/stalled")))
        # Other streams on the connection are unaffected.
        r.headers(3, head("/index.html"))
        self.assertEqual(r.status(3), 200)

    def test_unfinished_header_block_ends_the_connection(self):
        self.start_h2(timeouts={"header": 1, "keepalive": 1})
        r = self.raw()
        r.send(frame(h2client.HEADERS, 0, 1, r.block(head("/index.html"))))  # no END_HEADERS
        self.assertTrue(r.wait_closed(6))


if __name__ == "__main__":
    harness.main()

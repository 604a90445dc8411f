"""An idle HTTP/2 connection sleeps (core/h2/h2_idle.c): 100 ms after its last
stream and its last byte the server frees the connection's nghttp2 session and
rebuilds it at the client's next byte. The client must see nothing of it: the
stream id rule (RFC 9113 §5.1.1), both connection windows (§6.9), our SETTINGS
and the client's, HPACK in both directions, the idle timeout's GOAWAY naming
the last stream, the drain GOAWAY. And the memory it is for: idle connections
hold a few hundred bytes each instead of ~30 KiB (plus the fields the client
put in its HPACK table). Raw frames, with header blocks that never index or
that do, and Python's h2. Runs under /usr/bin/python3 (hpack, h2)."""
import os
import signal
import socket
import time

import harness
import h2client
import procstat
from h2client import RawH2, frame
from harness import ServerTestCase

SLEEP = 0.4  # comfortably past the server's 100 ms
REGION = 256 << 20  # core/h2/h2_mem.c: region_bytes


def head(path, method="GET", extra=()):
    """A request head whose fields never enter the client's HPACK table."""
    return [(n, v, True) for n, v in
            [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)] + list(extra)]


def recv_until(s, marker, timeout=5):
    """The bytes the socket gives until marker is among them, the peer
    closes or timeout seconds pass (the caller asserts what it needs)."""
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        d = s.recv(65536)
        if not d:
            break
        got += d
    return got


def frame_types(got):
    """The type of each whole frame in got, in order (RFC 9113 §4.1)."""
    types = []
    while len(got) >= 9:
        n = int.from_bytes(got[:3], "big")
        types.append(got[3])
        got = got[9 + n:]
    return types


class IdleCase(ServerTestCase):
    modules = ["static", "upload"]

    def setUp(self):
        super().setUp()
        self.body40 = os.urandom(40 * 1024)
        self.write("40k.bin", self.body40)
        self.write("index.html", "hello\n")
        os.makedirs(os.path.join(self.root, "up"))

    def start_h2(self, **top):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/up", "methods": ["PUT"], "upload": {}, "client_max_body_size": 0},
        ], listen=[{"address": "127.0.0.1:%d" % self.port, "protocols": ["h2c", "http/1.1"]}])
        cfg.update(top)
        return self.start(cfg)

    def raw(self, settings=b""):
        r = RawH2(self.port, settings=settings)
        self.addCleanup(r.close)
        r.read_frames(lambda f: f[0] == h2client.SETTINGS and not f[1] & h2client.ACK, 5)
        return r

    def body(self, r, sid, timeout=5):
        r.read_frames(lambda f: f[2] == sid and f[0] in (h2client.DATA, h2client.HEADERS) and f[1] & h2client.END_STREAM,
                      timeout)
        return r.data.get(sid, b"")


class TestWake(IdleCase):
    def test_requests_after_sleeps(self):
        self.start_h2()
        r = self.raw()
        for sid in (1, 3, 5):
            r.headers(sid, head("/index.html"))
            self.assertEqual(r.status(sid), 200)
            self.assertEqual(self.body(r, sid), b"hello\n")
            time.sleep(SLEEP)
        # HPACK from the server after its encoder started again: the same
        # fields decode (the client's decoder keeps the old entries too).
        self.assertEqual(r.heads[5].get("content-type"), r.heads[1].get("content-type"))

    def test_stream_ids_still_must_grow(self):
        """RFC 9113 §5.1.1: stream ids only grow. A HEADERS on an id not
        above the last one is ignored (nghttp2's reading of §5.1.1, as
        before a sleep); a rebuilt session that forgot the last id would
        answer it."""
        self.start_h2()
        r = self.raw()
        r.headers(5, head("/index.html"))
        self.assertEqual(r.status(5), 200)
        time.sleep(SLEEP)
        r.headers(3, head("/index.html"))
        self.assertIsNone(r.status(3, timeout=1))
        r.headers(7, head("/index.html"))
        self.assertEqual(r.status(7), 200)
        self.assertIsNone(r.last_goaway)

    def test_connection_window_for_our_data_is_kept(self):
        """The client never sends WINDOW_UPDATE: its connection window for
        our DATA (65,535) is what a sleep must remember. 40 KiB, a sleep, then
        40 KiB more: only 24,575 bytes may come until the client opens it."""
        self.start_h2()
        r = self.raw()
        r.headers(1, head("/40k.bin"))
        self.assertEqual(self.body(r, 1), self.body40)
        time.sleep(SLEEP)
        r.headers(3, head("/40k.bin"))
        r.read_frames(None, 1.0)
        self.assertEqual(len(r.data.get(3, b"")), 65535 - 40 * 1024)
        r.send(frame(h2client.WINDOW_UPDATE, 0, 0, (64 * 1024).to_bytes(4, "big")))
        self.assertEqual(self.body(r, 3), self.body40)

    def test_larger_connection_window_is_kept(self):
        """A client that opened its connection window wide (curl, browsers):
        after a sleep the server still sends past 65,535 bytes at once."""
        self.start_h2()
        r = self.raw()
        r.send(frame(h2client.WINDOW_UPDATE, 0, 0, (1 << 20).to_bytes(4, "big")))
        r.headers(1, head("/index.html"))
        self.assertEqual(r.status(1), 200)
        time.sleep(SLEEP)
        for sid in (3, 5):  # 80 KiB on two streams, each within its own 65,535
            r.headers(sid, head("/40k.bin"))
        self.assertEqual(self.body(r, 3), self.body40)
        self.assertEqual(self.body(r, 5), self.body40)

    def test_client_settings_are_kept(self):
        """The client's SETTINGS_INITIAL_WINDOW_SIZE (1,000) and
        SETTINGS_MAX_FRAME_SIZE still bound our DATA after a sleep."""
        self.start_h2()
        r = self.raw(settings=(4).to_bytes(2, "big") + (1000).to_bytes(4, "big"))
        r.headers(1, head("/index.html"))
        self.assertEqual(r.status(1), 200)
        time.sleep(SLEEP)
        r.headers(3, head("/40k.bin"))
        r.read_frames(None, 1.0)
        self.assertEqual(len(r.data.get(3, b"")), 1000)
        r.send(frame(h2client.WINDOW_UPDATE, 0, 3, (64 * 1024).to_bytes(4, "big")))
        self.assertEqual(self.body(r, 3), self.body40)

    def test_our_settings_still_hold(self):
        """Our SETTINGS_MAX_CONCURRENT_STREAMS (128), acknowledged before the
        sleep, still holds after it: the 129th open stream ends the
        connection as in test_h2_floods (unacknowledged it would only be
        refused)."""
        self.start_h2()
        r = self.raw()
        r.headers(1, head("/index.html"))
        self.assertEqual(r.status(1), 200)
        time.sleep(SLEEP)
        for k in range(129):  # PUTs that stay open: no END_STREAM
            r.headers(3 + 2 * k, head("/up/f%d" % k, "PUT", [("content-length", "5")]), end_stream=False)
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
        self.assertEqual(r.last_goaway, (h2client.PROTOCOL_ERROR, 3 + 2 * 127))

    def test_upload_then_sleep_gives_the_window_back(self):
        """Bytes the client sent are given back by WINDOW_UPDATE on the
        connection before the session forgets them (else the client's window
        for its DATA would shrink with every sleep)."""
        self.start_h2()
        r = self.raw()
        data = os.urandom(60000)  # within the stream's and the connection's first 65,535
        r.headers(1, head("/up/a.bin", "PUT", [("content-length", str(len(data)))]), end_stream=False)
        for i in range(0, len(data), 15000):
            r.send(frame(h2client.DATA, h2client.END_STREAM if i + 15000 >= len(data) else 0, 1, data[i:i + 15000]))
        self.assertIn(r.status(1), (200, 201, 204))
        r.read_frames(None, SLEEP)
        updates = [int.from_bytes(f[3], "big") for f in r.frames if f[0] == h2client.WINDOW_UPDATE and f[2] == 0]
        # the first opens the connection window to 16 MiB; the rest give back
        self.assertEqual(updates[0], (16 << 20) - 65535)
        self.assertEqual(sum(updates[1:]), len(data))
        with open(os.path.join(self.root, "up/a.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        r.headers(3, head("/index.html"))
        self.assertEqual(r.status(3), 200)

    def test_settings_acknowledged_after_the_sleep(self):
        """A client that acknowledges our SETTINGS only after the session
        slept: the late ACK is no protocol error."""
        self.start_h2()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        import hpack
        block = hpack.Encoder().encode(head("/index.html"))
        s.sendall(h2client.PREFACE + frame(h2client.SETTINGS, 0, 0) +
                  frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, 1, block))
        recv_until(s, b"hello\n")  # stream 1's answer, before the session sleeps
        time.sleep(SLEEP)
        block = hpack.Encoder().encode(head("/index.html"))
        s.sendall(frame(h2client.SETTINGS, h2client.ACK, 0) +
                  frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, 3, block))
        got = recv_until(s, b"hello\n")
        self.assertIn(b"hello\n", got)
        self.assertNotIn(h2client.GOAWAY, frame_types(got))

    def test_a_late_settings_ack_alone_does_not_wake_the_session(self):
        """The acknowledgement of our SETTINGS arriving alone after the
        session slept is taken asleep (h2_nap_input): no session is rebuilt
        for it (no WS0308 'woken' line at debug level). The next request
        wakes it and is answered; and a second, unexpected ACK is not
        swallowed: it wakes the session, whose nghttp2 answers it as before."""
        self.start_h2(log_level="debug")
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        import hpack
        enc = hpack.Encoder()
        s.sendall(h2client.PREFACE + frame(h2client.SETTINGS, 0, 0) +
                  frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, 1, enc.encode(head("/index.html"))))
        got = recv_until(s, b"hello\n")
        self.assertIn(b"hello\n", got)
        log = lambda what: self.server.stderr().count("[WS0308] HTTP/2 client 127.0.0.1:%d: idle session %s"
                                                      % (self.port, what))
        self.assertTrue(harness.wait_for(lambda: log("asleep") == 1, 10), self.server.stderr()[-2000:])
        s.sendall(frame(h2client.SETTINGS, h2client.ACK, 0))
        time.sleep(SLEEP)
        self.assertEqual(log("woken"), 0, self.server.stderr()[-2000:])
        self.assertEqual(log("asleep"), 1)
        # the next request wakes it; our SETTINGS count as acknowledged
        s.sendall(frame(h2client.HEADERS, h2client.END_STREAM | h2client.END_HEADERS, 3, enc.encode(head("/index.html"))))
        got = recv_until(s, b"hello\n")
        self.assertIn(b"hello\n", got)
        self.assertEqual(log("woken"), 1)
        self.assertNotIn(h2client.GOAWAY, frame_types(got))
        self.assertTrue(harness.wait_for(lambda: log("asleep") == 2, 10))
        # A second ACK acknowledges nothing: it is nghttp2's to judge, awake.
        s.sendall(frame(h2client.SETTINGS, h2client.ACK, 0))
        self.assertTrue(harness.wait_for(lambda: log("woken") == 2, 10), self.server.stderr()[-2000:])

    def test_idle_timeout_goaway_names_the_last_stream(self):
        self.start_h2(timeouts={"keepalive": 1})
        r = self.raw()
        r.headers(7, head("/index.html"))
        self.assertEqual(r.status(7), 200)
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
        self.assertEqual(r.last_goaway, (h2client.NO_ERROR, 7))
        self.assertTrue(r.wait_closed(3))

    def test_stop_sends_goaway_to_a_sleeping_connection(self):
        self.start_h2()
        r = self.raw()
        r.headers(3, head("/index.html"))
        self.assertEqual(r.status(3), 200)
        time.sleep(SLEEP)
        self.server.proc.send_signal(signal.SIGTERM)
        r.read_frames(lambda f: f[0] == h2client.GOAWAY, 5)
        self.assertEqual(r.last_goaway, (h2client.NO_ERROR, 3))
        self.assertTrue(r.wait_closed(5))

    def test_the_clients_hpack_table_is_kept(self):
        """A client that indexes its fields (browsers, curl): its requests
        after a sleep name the entries it added before by index (RFC 7541
        §6.1), here :path and range, which must still mean the same; then
        so many new fields that old entries are evicted (§4.4), and a
        smaller table size (§6.3)."""
        self.start_h2()
        r = self.raw()
        plain = lambda path, extra=(): [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"),
                                        (":path", path)] + list(extra)
        r.headers(1, plain("/40k.bin", [("range", "bytes=5-9"), ("x-a", "1" * 100)]))
        self.assertEqual(r.status(1), 206)
        self.assertEqual(self.body(r, 1), self.body40[5:10])
        time.sleep(SLEEP)
        before = len(r.enc.header_table.dynamic_entries)
        r.headers(3, plain("/40k.bin", [("range", "bytes=5-9"), ("x-a", "1" * 100)]))
        self.assertEqual(len(r.enc.header_table.dynamic_entries), before)  # all by index
        self.assertEqual(r.status(3), 206)
        self.assertEqual(self.body(r, 3), self.body40[5:10])
        time.sleep(SLEEP)
        # 40 fields of ~130 bytes: the table (4,096) evicts the oldest
        extra = [("x-f%d" % i, "v" * 100) for i in range(40)]
        r.headers(5, plain("/index.html", extra))
        self.assertEqual(r.status(5), 200)
        time.sleep(SLEEP)
        r.headers(7, plain("/index.html", extra[-10:]))
        self.assertEqual(r.status(7), 200)
        self.assertEqual(self.body(r, 7), b"hello\n")
        r.enc.header_table_size = 1024
        r.headers(9, plain("/40k.bin", [("range", "bytes=1-2")]))
        self.assertEqual(self.body(r, 9), self.body40[1:3])
        time.sleep(SLEEP)
        r.headers(11, plain("/40k.bin", [("range", "bytes=1-2")]))
        self.assertEqual(r.status(11), 206)
        self.assertEqual(self.body(r, 11), self.body40[1:3])
        self.assertIsNone(r.last_goaway)

    def test_a_client_that_indexes_works_across_idle_periods(self):
        self.start_h2()
        c = h2client.H2Client(self.port)
        self.addCleanup(c.close)
        for _ in range(3):
            st = c.get("/index.html", headers=[("user-agent", "idle-test"), ("cookie", "a=b")])
            self.assertEqual(st.status, 200)
            self.assertEqual(bytes(st.data), b"hello\n")
            time.sleep(SLEEP)


class TestMemory(IdleCase):
    def test_idle_connections_hold_little_memory(self):
        """300 idle h2c connections, each after one request: the worker's RSS
        grows by less than 10 KiB a connection (~5 KiB measured; ~15 KiB awake)."""
        self.idle_connections(head("/index.html"))

    def test_idle_connections_of_clients_that_index(self):
        """The same with clients that put their fields in their HPACK
        table (with a 600-byte cookie)."""
        self.idle_connections([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"),
                               (":path", "/index.html"), ("user-agent", "idle-test/1.0"), ("cookie", "c" * 600)])

    def test_nghttp2_blocks_leave_the_heap_and_go_back(self):
        """nghttp2's big blocks (its frame buffer, stream map, session: ~24
        KiB an awake session) come from a region of their own, not the malloc
        heap (core/h2/h2_mem.c): resident while sessions are awake, given back
        page by page once they sleep, so they leave no holes between the
        connections' long-lived allocations."""
        if procstat.ASAN or procstat.VALGRIND:
            self.skipTest("their allocators and mappings are not the server's own")
        self.start_h2(log_level="debug")
        pid = self.server.proc.pid
        n = 30
        conns = []
        for i in range(n):  # a PUT whose body has not come: the session stays awake
            r = self.raw()
            r.headers(1, head("/up/a%d.bin" % i, method="PUT"), end_stream=False)
            conns.append(r)

        def region_rss():
            """Rss (KiB) of the anonymous mapping of exactly REGION bytes, or None."""
            found = []
            with open("/proc/%d/smaps" % pid) as f:
                blocks = f.read().split("\n")
            cur = None
            for line in blocks:
                parts = line.split()
                if parts and "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    anon = len(parts) == 5 or parts[5].startswith("[anon")
                    cur = hi - lo == REGION and anon
                elif cur and line.startswith("Rss:"):
                    found.append(int(parts[1]))
            self.assertLessEqual(len(found), 1, "more than one mapping of the region's size")
            return found[0] if found else None

        awake = harness.wait_for(lambda: (region_rss() or 0) >= n * 8, 10)  # 12+ KiB each measured
        self.assertTrue(awake, "region Rss %s KiB for %d awake sessions" % (region_rss(), n))
        for i, r in enumerate(conns):
            r.send(frame(h2client.DATA, h2client.END_STREAM, 1, b"x"))
        for r in conns:
            r.read_frames(lambda f: f[2] == 1 and f[1] & h2client.END_STREAM, 5)
            self.assertIn(r.status(1), (200, 201, 204))
        # asleep: every block free and its pages back (the first page of
        # the region holds the blocks' sizes)
        self.assertTrue(harness.wait_for(lambda: (region_rss() or 99) <= 8, 10),
                        "region Rss %s KiB after the sessions slept" % region_rss())
        self.assertTrue(harness.wait_for(lambda: "nghttp2's big blocks: 0 live" in self.server.stderr(), 10))
        for r in conns[:3]:  # and they still serve
            r.headers(3, head("/index.html"))
            self.assertEqual(self.body(r, 3), b"hello\n")

    def idle_connections(self, request):
        if procstat.ASAN or procstat.VALGRIND:
            self.skipTest("RSS says nothing about the server under a sanitizer or valgrind")
        self.start_h2()
        pid = self.server.proc.pid
        warm = self.raw()
        warm.headers(1, head("/index.html"))
        self.assertEqual(warm.status(1), 200)
        time.sleep(SLEEP)
        before = procstat.status_kib(pid, "VmRSS")
        conns = []
        for _ in range(300):
            r = RawH2(self.port)
            self.addCleanup(r.close)
            r.headers(1, request)
            conns.append(r)
        for r in conns:
            self.assertEqual(self.body(r, 1), b"hello\n")  # our SETTINGS acknowledged on the way
        per_conn = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            per_conn = (procstat.status_kib(pid, "VmRSS") - before) * 1024 / len(conns)
            if per_conn < 10240:
                break
        self.assertLess(per_conn, 10240)
        for r in conns[:5]:  # and they still serve
            r.headers(3, request)
            self.assertEqual(self.body(r, 3), b"hello\n")


if __name__ == "__main__":
    harness.main()

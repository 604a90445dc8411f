"""Hostile clients (SPEC §4 "no blocking I/O", DESIGN "every external input is
hostile"): slowloris, ten thousand idle connections, clients that vanish at
every stage, a client that never reads, max_connections. After each scenario
the server still answers at once and holds no more descriptors than before."""
import os
import resource
import socket
import struct
import threading
import time

import harness

BIG = 20 * 1024 * 1024


def cached_docroot_file(pid, fd):
    """A document-root file open read-only: the open-file cache keeps up to 256
    of those on purpose (closed when anything changes), so they are no leak.
    Files opened for writing (uploads) still count."""
    try:
        target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
            flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
    except (OSError, StopIteration):
        return False
    return "/webserv-test-" in target and "/www/" in target and flags & 3 == os.O_RDONLY


def fd_count(pid):
    return sum(1 for fd in os.listdir("/proc/%d/fd" % pid) if not cached_docroot_file(pid, fd))


def raise_nofile(pid=None, want=None):
    """Raise the soft RLIMIT_NOFILE to the hard limit (or want); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE) if pid is None else resource.prlimit(pid, resource.RLIMIT_NOFILE)
    target = hard if want is None or hard == resource.RLIM_INFINITY else min(hard, want)
    if soft < target:
        if pid is None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        else:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def read_one(s, timeout=5.0):
    """Read one whole response from a kept-alive connection."""
    s.settimeout(timeout)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            raise AssertionError("closed after %r" % data[:200])
        data += b
        try:
            return harness.parse_responses(data)[0]
        except (ValueError, IndexError):
            continue


def reset_close(s):
    """Close with an RST (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def fin_close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class HostileTest(harness.ServerTestCase):

    def setUp(self):
        super().setUp()
        self.write("a.txt", "hello a\n")
        with open(os.path.join(self.root, "big.bin"), "wb") as f:
            f.truncate(BIG)  # sparse: cheap to create, 20 MB to send

    def config(self, **top):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/echo", "echo": {}},
            {"path": "/count", "echo": {"count": True}},
            {"path": "/delay", "delay": {"ms": 300}},
        ], client_max_body_size=0)
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_echo.so"),
                          os.path.join(harness.TESTMODS, "mod_delay.so")]
        cfg.update(top)
        return cfg

    # ---- helpers ----

    def quick_get(self, limit=1.0):
        """One GET on a new connection; asserts it is answered within limit seconds."""
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        took = time.monotonic() - t0
        self.assertTrue(data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"hello a\n"), data[:200])
        self.assertLess(took, limit, "a normal GET took %.2f s" % took)
        return took

    def baseline_fds(self):
        self.quick_get(limit=5)
        pid = self.server.proc.pid
        time.sleep(0.1)
        return fd_count(pid)

    def assert_fds_back(self, base, timeout=5.0):
        pid = self.server.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = fd_count(pid)
            if n <= base:
                return
            time.sleep(0.05)
        self.fail("server holds %d descriptors, %d before: %s" % (fd_count(pid), base,
                  sorted(harness.fd_targets(pid))))

    def assert_alive(self):
        self.assertIsNone(self.server.proc.poll(), "webserv died: %s" % self.server.stderr()[-2000:])

    # ---- scenarios ----

    def test_slowloris(self):
        """300 connections trickle one byte a second for ~5 s: normal clients
        are still answered at once, and the header timeout (4 s) cuts the
        trickles with 408."""
        raise_nofile(want=4096)
        self.start(self.config(timeouts={"header": 4}))
        base = self.baseline_fds()
        head = b"GET /a.txt HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"p" * 64
        socks = []
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        latencies = []
        t0 = time.monotonic()
        for second in range(6):
            for s in socks:
                try:
                    s.send(head[second:second + 1])
                except OSError:
                    pass  # already cut by the server
            while time.monotonic() < t0 + second + 1:
                latencies.append(self.quick_get(limit=1.0))
                time.sleep(0.05)
        self.assertLess(max(latencies), 1.0)
        self.assertGreater(len(latencies), 20)
        # Past the 4 s header timeout every trickling connection got a 408 and was closed.
        cut = 0
        for s in socks:
            s.setblocking(True)
            s.settimeout(2)
            data = b""
            try:
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
            except (ConnectionResetError, socket.timeout):
                pass
            if data.startswith(b"HTTP/1.1 408 "):
                cut += 1
            s.close()
        self.assertEqual(cut, 300, "only %d of 300 slow connections got 408" % cut)
        self.assert_alive()
        self.assert_fds_back(base)

    def test_ten_thousand_idle_connections(self):
        n = 10000
        mine = raise_nofile()
        if mine < n + 200:
            self.skipTest("RLIMIT_NOFILE hard limit %d is too low for %d connections" % (mine, n))
        self.start(self.config(max_connections=20000, timeouts={"header": 30, "keepalive": 30}))
        pid = self.server.proc.pid
        theirs = raise_nofile(pid)
        if theirs < n + 200:
            self.skipTest("the server's RLIMIT_NOFILE %d is too low for %d connections" % (theirs, n))
        base = self.baseline_fds()
        socks = []
        try:
            t0 = time.monotonic()
            # At most 1,000 new silent connections each half second: the listener defers a
            # connection until its first bytes (TCP_DEFER_ACCEPT, server/listen.c), so silent
            # ones wait about a second in the kernel's SYN queue (4,096 at most, somaxconn);
            # faster, the kernel takes the rest for a SYN flood (SYN cookies, its own rules).
            for i in range(n):
                if i and i % 1000 == 0:
                    time.sleep(max(0.0, t0 + i / 2000 - time.monotonic()))
                socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=10))
            # Every one of them is accepted (the server holds them all) ...
            deadline = time.monotonic() + 20
            while fd_count(pid) < base + n and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertGreaterEqual(fd_count(pid), base + n, "not all %d connections were accepted" % n)
            # ... and normal service goes on beside them.
            for _ in range(20):
                self.quick_get(limit=1.0)
            # A few of the idle ones can still make a request.
            for s in socks[::1000]:
                s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(read_one(s).status, 200)
            self.assertLess(time.monotonic() - t0, 45)
        finally:
            for s in socks:
                s.close()
        self.assert_alive()
        self.assert_fds_back(base, timeout=15)
        self.quick_get()

    def test_clients_vanish_mid_request_body_and_response(self):
        self.start(self.config())
        base = self.baseline_fds()
        port = self.port

        def scenario(kind, closer):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            try:
                if kind == "head":
                    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Half: ")
                    time.sleep(0.05)
                elif kind == "body":
                    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"b" * 200000)
                    s.recv(1000)  # the echo has started
                elif kind == "chunked":
                    s.sendall(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"10000\r\n" + b"c" * 30000)
                    time.sleep(0.05)
                elif kind == "response":
                    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                    got = 0
                    while got < 300000:
                        got += len(s.recv(65536))
                elif kind == "handler":
                    s.sendall(b"GET /delay/x HTTP/1.1\r\nHost: x\r\n\r\n")
                    time.sleep(0.05)
                elif kind == "pipelined":
                    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
                    s.recv(65536)
            finally:
                closer(s)

        threads = []
        for kind in ("head", "body", "chunked", "response", "handler", "pipelined"):
            for closer in (reset_close, fin_close):
                for _ in range(8):
                    threads.append(threading.Thread(target=scenario, args=(kind, closer)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assert_alive()
        self.quick_get()
        self.assert_fds_back(base)
        self.quick_get()

    def test_client_that_never_reads_is_dropped_after_send_timeout(self):
        self.start(self.config(timeouts={"send": 1}))
        base = self.baseline_fds()
        pid = self.server.proc.pid
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.connect(("127.0.0.1", self.port))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        self.assertGreater(fd_count(pid), base, "the stalled connection should be open for now")
        # Other clients are not held up by it.
        self.quick_get()
        # One second without a write: the server lets go of it.
        self.assert_fds_back(base, timeout=4)
        s.settimeout(5)
        got = 0
        try:
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                got += len(b)
        except ConnectionResetError:
            pass
        s.close()
        self.assertLess(got, BIG, "the whole 20 MB arrived: the stalled connection was not cut")
        self.assert_alive()

    def test_max_connections_waits_in_backlog(self):
        self.start(self.config(max_connections=5))
        base = self.baseline_fds()
        held = []
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            c.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_one(c).status, 200)
            held.append(c)
        extra = socket.create_connection(("127.0.0.1", self.port), timeout=5)  # into the backlog
        extra.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        extra.settimeout(0.8)
        with self.assertRaises(socket.timeout, msg="the 6th connection was served over max_connections"):
            extra.recv(65536)
        held.pop().close()
        extra.settimeout(3)
        t0 = time.monotonic()
        data = extra.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:100])
        self.assertLess(time.monotonic() - t0, 2)
        extra.close()
        for c in held:
            c.close()
        self.assert_fds_back(base)
        self.quick_get()

    def test_mixed_run_leaves_no_descriptor_open(self):
        self.start(self.config(timeouts={"send": 1, "header": 2, "body": 2}))
        base = self.baseline_fds()
        port = self.port
        stalled = []

        def normal():
            for _ in range(10):
                harness.raw(port, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

        def posts():
            for _ in range(5):
                harness.raw(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
                            + b"e" * 100000)

        def bad():
            for payload in (b"GET / HTTP/1.1\r\n\r\n", b"\x00\x01\x02\r\n\r\n", b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"):
                harness.raw(port, payload)

        def partial():  # cut by the header and body timeouts (2 s)
            s1 = socket.create_connection(("127.0.0.1", port))
            s1.sendall(b"GET /a.txt HTTP/1.1\r\n")
            s2 = socket.create_connection(("127.0.0.1", port))
            s2.sendall(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            stalled.extend([s1, s2])

        def never_reads():
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled.append(s)

        def vanish():
            for closer in (reset_close, fin_close):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                s.recv(1000)
                closer(s)

        threads = [threading.Thread(target=f) for f in (normal, normal, posts, bad, partial, never_reads, vanish, vanish)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assert_fds_back(base, timeout=6)
        for s in stalled:
            s.close()
        self.assert_alive()
        self.quick_get()


if __name__ == "__main__":
    harness.main()

"""Connection upgrade (ABI 1.3, host->upgrade; docs/modules.md "Connection
upgrade") in the real server, with the test module mod_tunnel
(tests/testmods/tunnel): 101 Switching Protocols, then raw bytes both ways
with backpressure, the idle timeout (timeouts.body), the client's half-close
(on_data_end), the refusals (HTTP/1.0, HTTP/2, no Connection: upgrade, a
request body) and TLS."""
import os
import socket
import subprocess
import time

import harness
from harness import ServerTestCase

TUNNEL = os.path.join(harness.TESTMODS, "mod_tunnel.so")

UPGRADE = (b"GET /t HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n"
           b"Upgrade: x-echo\r\n\r\n")


def read_head(s):
    """Read up to the end of a response head; returns (head, bytes after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def recv_exact(s, n, timeout=20):
    s.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        b = s.recv(min(1 << 20, n - len(out)))
        if not b:
            break
        out += b
    return bytes(out)


class UpgradeTest(ServerTestCase):

    def config(self, listen=None, **extra):
        cfg = {"modules": [TUNNEL], "servers": [{
            "listen": listen or ["127.0.0.1:%d" % self.port], "root": self.root,
            "locations": [{"path": "/", "tunnel": {}}]}]}
        cfg.update(extra)
        return cfg

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        return s

    def upgraded(self, first=b""):
        s = self.connect()
        s.sendall(UPGRADE + first)
        head, rest = read_head(s)
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"HTTP/1.1 101 Switching Protocols", head)
        fields = {l.split(b":", 1)[0].lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}
        self.assertEqual(fields[b"connection"].lower(), b"upgrade")
        self.assertEqual(fields[b"upgrade"], b"x-echo")
        self.assertEqual(fields[b"x-tunnel"], b"yes")
        self.assertNotIn(b"content-length", fields)
        self.assertNotIn(b"transfer-encoding", fields)
        return s, rest

    def test_echo_both_ways_and_quit(self):
        self.start(self.config())
        # bytes sent right behind the head are the new protocol's first bytes
        s, rest = self.upgraded(b"early ")
        s.sendall(b"hello")
        got = rest + recv_exact(s, 11 - len(rest))
        self.assertEqual(got, b"early hello")
        for i in range(20):
            msg = b"message %d\x00\xff" % i
            s.sendall(msg)
            self.assertEqual(recv_exact(s, len(msg)), msg)
        s.sendall(b"quit\n")
        self.assertEqual(recv_exact(s, 4), b"bye\n")
        self.assertTrue(harness.closed_by_peer(s, 5))

    def test_client_half_close_is_on_data_end(self):
        self.start(self.config())
        s, rest = self.upgraded()
        s.sendall(b"abc")
        self.assertEqual(rest + recv_exact(s, 3 - len(rest)), b"abc")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_exact(s, 4), b"end\n")
        self.assertTrue(harness.closed_by_peer(s, 5))

    def test_backpressure_bounds_what_the_server_takes(self):
        """A client that sends 64 MiB and reads nothing: the module stops
        taking bytes once its queue is full, so the server stops reading; the
        client's sends block after a bounded amount (socket buffers + the
        256 KiB queue + the read buffer). Then everything comes back, exact."""
        self.start(self.config())
        s, rest = self.upgraded()
        total = 64 << 20
        pattern = bytes(range(256)) * 4096  # 1 MiB
        s.setblocking(False)
        sent = 0
        stalled_since = None
        while sent < total:
            try:
                n = s.send(pattern[sent % len(pattern):][:1 << 20])
                sent += n
                stalled_since = None
            except BlockingIOError:
                if stalled_since is None:
                    stalled_since = time.time()
                elif time.time() - stalled_since > 1.0:
                    break
                time.sleep(0.01)
        self.assertLess(sent, 24 << 20, "the server kept reading a client that does not read")
        self.assertGreater(sent, 256 << 10)
        # Now read it all back while sending the rest: byte-exact.
        s.setblocking(True)
        s.settimeout(30)
        want = total
        got = bytearray(rest)
        import threading

        def send_rest():
            off = sent
            while off < total:
                chunk = pattern[off % len(pattern):][:1 << 20]
                s.sendall(chunk)
                off += len(chunk)
        th = threading.Thread(target=send_rest)
        th.start()
        while len(got) < want:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
        th.join()
        self.assertEqual(len(got), want)
        expect = (pattern * (total // len(pattern)))
        self.assertTrue(bytes(got) == expect, "echoed bytes differ")

    def test_idle_timeout_is_timeouts_body(self):
        self.start(self.config(timeouts={"body": 1}))
        s, _ = self.upgraded()
        # traffic keeps it open past the timeout
        for _ in range(6):
            time.sleep(0.4)
            s.sendall(b"ping")
            self.assertEqual(recv_exact(s, 4), b"ping")
        t0 = time.time()
        self.assertTrue(harness.closed_by_peer(s, 5))
        self.assertLess(time.time() - t0, 3.5)

    def test_refusals_answer_normally(self):
        self.start(self.config(listen=[{"address": "127.0.0.1:%d" % self.port,
                                        "protocols": ["http/1.1", "h2c"]}]))
        cases = [
            # HTTP/1.0 has no upgrade
            b"GET /t HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x-echo\r\n\r\n",
            # Connection does not name upgrade
            b"GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: x-echo\r\nConnection: close\r\n\r\n",
            # another protocol than the client offered
            b"GET /t HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            # a request body nobody read
            b"POST /t HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x-echo\r\n"
            b"Content-Length: 5\r\n\r\nhello",
        ]
        for req in cases:
            r = self.raw_one(req, timeout=5)
            self.assertEqual((r.status, r.body), (400, b"refused\n"), req)
        # The connection after a refusal is an ordinary keep-alive one.
        data = self.raw(b"GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: x-echo\r\n\r\n"
                        b"GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
        self.assertEqual([r.status for r in harness.parse_responses(data)], [400, 400])
        # HTTP/2 (h2c prior knowledge): refused cleanly, the stream answered.
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", "-H", "Upgrade: x-echo",
                            "-w", "%{http_code} %{http_version}", "http://127.0.0.1:%d/t" % self.port],
                           capture_output=True, timeout=20)
        self.assertEqual(p.stdout, b"refused\n400 2", p.stderr)

    def test_over_tls(self):
        import ssl
        self.start(harness.tls_config(self.config()))
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = harness._tls_context().wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        s.sendall(UPGRADE)
        head, rest = read_head(s)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertEqual(rest, b"")
        for _ in range(48):  # 3 MiB in 64 KiB round trips (one thread: an SSL socket is not thread-safe)
            piece = os.urandom(64 << 10)
            s.sendall(piece)
            self.assertEqual(recv_exact(s, len(piece)), piece)
        s.sendall(b"quit\n")
        self.assertEqual(recv_exact(s, 4), b"bye\n")
        self.assertIsInstance(s, ssl.SSLSocket)


if __name__ == "__main__":
    harness.main()

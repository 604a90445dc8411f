"""Issue 21: how much of a big response a connection's socket holds unsent.

The listening socket carries TCP_NOTSENT_LOWAT (core/server/listen.c, copied
by Linux into every accepted socket), so a big file is handed to the kernel
only as fast as the peer takes it: at most LISTEN_NOTSENT_LOWAT (256 KiB)
waits unsent, plus what is in flight inside the peer's window. Without it
the send buffer autotunes up to tcp_wmem's maximum (2.7 MB held for one
client that does not read, in the measurement of the issue), and on
loopback the queued bytes leave in the softirq of the client's ACKs, on the
client's CPU. Measured from outside: the server socket's send queue in
/proc/net/tcp (tx_queue = bytes written and not yet acknowledged) while a
client with a small receive buffer reads nothing. Then the client reads the
whole body, which must arrive byte-exact."""
import hashlib
import os
import socket
import time

import harness

MiB = 1024 * 1024
FILE_BYTES = 16 * MiB
LOWAT = 256 * 1024
# Unsent bytes: the cap plus what one write queues after it was reached
# (a sendfile of OUTQ_FILE_BURST, 256 KiB, at most), plus what is in flight
# in the client's window (its receive buffer: 64 KiB asked, the kernel
# doubles it). Without the cap the queue grows to the send buffer's size.
BOUND = LOWAT + 256 * 1024 + 2 * 64 * 1024 + 64 * 1024


def send_queue(local_port, remote_port):
    """tx_queue of the TCP socket 127.0.0.1:local_port <-> :remote_port, or None."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == local_port and \
                    int(remote.rsplit(":", 1)[1], 16) == remote_port:
                return int(fields[4].split(":")[0], 16)
    return None


class UnsentCapTest(harness.ServerTestCase):
    modules = ["static"]

    def test_a_reader_that_stalls_holds_little_in_the_kernel(self):
        data = os.urandom(FILE_BYTES)
        self.write("big.bin", data)
        self.start()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(30)
        s.connect(("127.0.0.1", self.port))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        me = s.getsockname()[1]
        # The server fills what the socket takes, then waits for room: wait
        # until its send queue stops growing (no time assumed: it must hold
        # still for half a second; generous deadline for a loaded machine).
        last, still_since, deadline = None, None, time.monotonic() + 30
        while time.monotonic() < deadline:
            q = send_queue(self.port, me)
            self.assertIsNotNone(q, "the server's socket is not in /proc/net/tcp")
            if q != last:
                last, still_since = q, time.monotonic()
            elif q > 0 and time.monotonic() - still_since >= 0.5:
                break
            time.sleep(0.05)
        self.assertGreater(last, 0, "nothing was sent")
        self.assertLessEqual(last, BOUND, "%d bytes wait in the server's socket for a client that "
                             "does not read (cap %d)" % (last, BOUND))
        # Now read it all: the capped socket still delivers every byte.
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            self.assertTrue(chunk, "closed before the head")
            buf += chunk
        head, _, body = bytes(buf).partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:100])
        self.assertIn(b"content-length: %d" % FILE_BYTES, head.lower())
        h, got = hashlib.sha256(body), len(body)
        while got < FILE_BYTES:
            chunk = s.recv(1 << 20)
            self.assertTrue(chunk, "closed after %d of %d bytes" % (got, FILE_BYTES))
            h.update(chunk)
            got += len(chunk)
        self.assertEqual(got, FILE_BYTES)
        self.assertEqual(h.hexdigest(), hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Open N keep-alive connections to 127.0.0.1:PORT, send one GET on each, read
each whole response, then hold every connection open. With --h2 (implies --tls): HTTP/2 by
ALPN, the connection preface, SETTINGS and one GET stream on each connection instead.

Prints "READY ok=<n> failed=<m> secs=<t>" once all are answered (or failed),
then holds until stdin is closed or --hold seconds pass, whichever is first.
bench/run.py samples the server's RSS while the connections are held.
"""
import argparse
import os
import select
import socket
import ssl
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("port", type=int)
    p.add_argument("-n", type=int, default=10000, help="connections (default 10000)")
    p.add_argument("--path", default="/1k.bin")
    p.add_argument("--batch", type=int, default=500, help="connections opened per step")
    p.add_argument("--hold", type=float, default=30.0, help="maximum hold time, seconds")
    p.add_argument("--timeout", type=float, default=20.0, help="maximum time to get every answer")
    p.add_argument("--tls", action="store_true", help="HTTPS: a TLS handshake on each connection first")
    p.add_argument("--h2", action="store_true", help="HTTP/2 over TLS (ALPN h2): one GET stream each")
    return p.parse_args()


def response_done(buf):
    """True when buf holds a whole response with a Content-Length body."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= end + 4 + length


TLS_CTX = None
H2 = False
ACKED = set()


def h2_request(path):
    """Preface, an empty SETTINGS and a GET on stream 1 (HPACK by hand: static-table indices
    2 :method GET, 7 :scheme https; :path and :authority as literals without indexing)."""
    block = bytes([0x82, 0x87, 0x04, len(path)]) + path.encode() + bytes([0x01, 9]) + b"127.0.0.1"
    frame = lambda ftype, flags, sid, payload: (len(payload).to_bytes(3, "big") + bytes([ftype, flags])
                                               + sid.to_bytes(4, "big") + payload)
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
            + frame(1, 0x05, 1, block))  # END_STREAM | END_HEADERS


def h2_done(s, buf):
    """True once stream 1 ended (a DATA or HEADERS frame with END_STREAM); the server's
    SETTINGS is acknowledged on the way."""
    i = 0
    while i + 9 <= len(buf):
        length = int.from_bytes(buf[i:i + 3], "big")
        ftype, flags = buf[i + 3], buf[i + 4]
        sid = int.from_bytes(buf[i + 5:i + 9], "big") & 0x7FFFFFFF
        if i + 9 + length > len(buf):
            break
        if ftype == 4 and not flags & 1 and s.fileno() not in ACKED:
            ACKED.add(s.fileno())
            try:
                s.sendall(bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))
            except (OSError, ssl.SSLWantWriteError):
                pass
        if sid == 1 and ftype in (0, 1) and flags & 1:
            return True
        i += 9 + length
    return False


def run_batch(port, count, request, deadline, held):
    """Connect count sockets, send the request on each, wait for every answer."""
    ep = select.epoll()
    pending = {}
    failed = 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            if TLS_CTX:
                s = TLS_CTX.wrap_socket(s)
            s.sendall(request)
            s.setblocking(False)
        except OSError:
            s.close()
            failed += 1
            continue
        pending[s.fileno()] = (s, bytearray())
        ep.register(s.fileno(), select.EPOLLIN)
    while pending and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.2):
            s, buf = pending[fd]
            try:
                data = s.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                del pending[fd]
                s.close()
                failed += 1
                continue
            buf += data
            if (h2_done(s, buf) if H2 else response_done(buf)):
                ep.unregister(fd)
                del pending[fd]
                held.append(s)
    for s, _ in pending.values():
        s.close()
        failed += 1
    ep.close()
    return failed


def main():
    global TLS_CTX, H2
    a = parse_args()
    if a.tls or a.h2:
        TLS_CTX = ssl._create_unverified_context()
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % a.path).encode()
    if a.h2:
        H2 = True
        TLS_CTX.set_alpn_protocols(["h2"])
        request = h2_request(a.path)
    held = []
    failed = 0
    start = time.monotonic()
    deadline = start + a.timeout
    left = a.n
    while left > 0 and time.monotonic() < deadline:
        step = min(a.batch, left)
        failed += run_batch(a.port, step, request, deadline, held)
        left -= step
    failed += left
    print("READY ok=%d failed=%d secs=%.2f" % (len(held), failed, time.monotonic() - start), flush=True)
    # Hold: wait for stdin to close (the driver is done sampling) or the hold limit.
    select.select([sys.stdin], [], [], a.hold)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A keep-alive GET load that reads its connections in turn: at most CHUNK bytes from each
ready socket per turn of its selector. wrk instead reads a ready socket 8 KiB at a time for as
long as the socket has more (its read loop checks FIONREAD), so on loopback, where the server
refills a socket while the client drains it, one connection can be served to its end while the
others wait, and the 10 MiB row's p99 is mostly that order (issue 21). With this reader the
order is the server's own: a server that serves its connections evenly shows p99 close to p50.

Usage: bench/fair_reader.py PORT [--conns 8] [--seconds 5] [--chunk 65536] [--path /10m.bin]
Prints: responses/s, GB/s, and p50, p90, p99, max of the response time (request sent to last
byte read), in ms. Against a document root from `bench/run.py --prepare DIR`.
"""
import argparse
import selectors
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--path", default="/10m.bin")
    a = ap.parse_args()
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % a.path).encode()
    buf = bytearray(a.chunk)
    view = memoryview(buf)
    sel = selectors.DefaultSelector()
    state = {}  # socket -> [start time, head bytes so far, body bytes left or None]

    def send_request(s):
        state[s] = [time.monotonic(), bytearray(), None]
        s.sendall(request)

    for _ in range(a.conns):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        send_request(s)
    times, got = [], 0
    start = time.monotonic()
    end = start + a.seconds
    while time.monotonic() < end:
        for key, _ in sel.select(1):
            s = key.fileobj
            try:
                n = s.recv_into(buf, a.chunk)
            except BlockingIOError:
                continue
            if n == 0:
                raise SystemExit("the server closed a connection")
            got += n
            st = state[s]
            if st[2] is None:
                st[1] += view[:n]
                head_end = st[1].find(b"\r\n\r\n")
                if head_end < 0:
                    continue
                head = bytes(st[1][:head_end]).lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                st[2] = length - (len(st[1]) - head_end - 4)
            else:
                st[2] -= n
            if st[2] == 0:
                times.append(time.monotonic() - st[0])
                send_request(s)
    secs = time.monotonic() - start
    times.sort()
    if not times:
        raise SystemExit("no response completed")

    def pct(p):
        return times[min(len(times) - 1, int(p * len(times)))] * 1000

    print("%.1f responses/s  %.2f GB/s  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f ms  (%d responses)"
          % (len(times) / secs, got / secs / 1e9, pct(.5), pct(.9), pct(.99), times[-1] * 1000, len(times)))


if __name__ == "__main__":
    main()

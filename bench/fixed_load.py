#!/usr/bin/env python3
"""Send exactly N GET requests over C keep-alive connections to 127.0.0.1:PORT
and exit; prints "COUNT requests=<done> errors=<e> secs=<t>". For profiling
(strace, callgrind), where a fixed amount of work matters more than speed.
Bounded by --timeout seconds."""
import argparse
import select
import socket
import sys
import time


def chunks_end(buf, pos):
    """Walk chunks (RFC 9112 §7.1) from pos: (where the walk stopped, whether the
    last chunk and the empty trailer section were all there)."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return pos, False
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            if len(buf) < eol + 4:
                return pos, False
            return eol + 4, True
        if len(buf) < eol + 2 + size + 2:
            return pos, False
        pos = eol + 2 + size + 2


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("port", type=int)
    p.add_argument("-n", type=int, default=20000, help="requests (default 20000)")
    p.add_argument("-c", type=int, default=50, help="connections (default 50)")
    p.add_argument("--path", default="/1k.bin")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("-H", "--header", action="append", default=[],
                   help="an extra request field, e.g. 'Authorization: Basic ...' (repeatable)")
    a = p.parse_args()
    extra = "".join(h + "\r\n" for h in a.header)
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (a.path, extra)).encode()
    ep = select.epoll()
    conns = {}
    sent = done = errors = 0
    for _ in range(min(a.c, a.n)):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.setblocking(False)
        conns[s.fileno()] = [s, bytearray(), -1, -1]
        ep.register(s.fileno(), select.EPOLLIN)
        s.send(req)
        sent += 1
    start = time.monotonic()
    deadline = start + a.timeout
    while done < a.n and conns and time.monotonic() < deadline:
        for fd, _ in ep.poll(1.0):
            st = conns[fd]
            s, buf = st[0], st[1]
            try:
                data = s.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                errors += 1
                ep.unregister(fd)
                del conns[fd]
                s.close()
                continue
            buf += data
            while True:
                if st[2] < 0:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    length, chunked = 0, False
                    for line in bytes(buf[:end]).split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                        elif k.strip().lower() == b"transfer-encoding" and b"chunked" in v.lower():
                            chunked = True
                    if not buf.startswith(b"HTTP/1.1 200"):
                        errors += 1
                    st[2] = end + 4 + length
                    st[3] = end + 4 if chunked else -1
                if st[3] >= 0:  # chunked: walk the chunks seen so far (no trailers expected)
                    st[3], last = chunks_end(buf, st[3])
                    if not last:
                        break
                    st[2], st[3] = st[3], -1
                if len(buf) < st[2]:
                    break
                del buf[:st[2]]
                st[2] = -1
                done += 1
                if sent < a.n:
                    s.send(req)
                    sent += 1
    print("COUNT requests=%d errors=%d secs=%.2f" % (done, errors, time.monotonic() - start))
    return 0 if done == a.n else 1


if __name__ == "__main__":
    sys.exit(main())

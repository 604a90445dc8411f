#!/usr/bin/env python3
"""The upstream of the proxy-1g workload: answers every request head with 1 GiB of zeros
(Content-Length, keep-alive), one thread per connection. bench/run.py starts it on the
client's CPU for webserv's proxy and nginx's proxy_pass alike. Not part of the server.

Usage: big_upstream.py PORT [BYTES]
"""
import socket
import sys
import threading

BLOCK = memoryview(bytes(1 << 20))


def serve(conn, size):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % size
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[buf.index(b"\r\n\r\n") + 4:]  # GETs only: no body follows the head
            try:
                conn.sendall(head)
                left = size
                while left > 0:
                    n = min(left, len(BLOCK))
                    conn.sendall(BLOCK[:n])
                    left -= n
            except OSError:
                return


def main():
    port = int(sys.argv[1])
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, size), daemon=True).start()


if __name__ == "__main__":
    main()

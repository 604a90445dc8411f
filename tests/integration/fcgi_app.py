"""A small FastCGI 1.0 responder for the fastcgi module's tests (not PHP: it
misbehaves on purpose). Threaded; listens on a Unix socket or 127.0.0.1:PORT.

What it does is chosen by the last path segment of SCRIPT_NAME:
  echo.php     the params as "NAME=value" lines, then STDIN's length and sha256
  status.php   "Status: <QUERY_STRING>"
  big.php      QUERY_STRING bytes of a repeating pattern (Content-Length given)
  stderr.php   two lines on STDERR, then a short page
  garbage.php  bytes that are not FastCGI records
  die.php      the header and part of the body, then the connection is closed
  noend.php    closes the connection without answering
  slow.php     sleeps QUERY_STRING seconds before answering
  nohead.php   a body without a header block
  who.php      "<name>" of this responder (for balancing shares)
Connections accepted and ABORT_REQUESTs seen are counted in <state>/stats.json.
"""
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7


class Stats:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.data = {"connections": 0, "aborts": 0, "requests": 0}
        self.save()

    def bump(self, key):
        with self.lock:
            self.data[key] += 1
            self.save()

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b


def read_record(s):
    h = read_exact(s, 8)
    if h is None:
        return None
    ver, typ, rid, clen, plen, _ = struct.unpack(">BBHHBB", h)
    content = read_exact(s, clen) if clen else b""
    if plen:
        read_exact(s, plen)
    return typ, rid, content


def record(typ, rid, content=b"", pad=0):
    return struct.pack(">BBHHBB", 1, typ, rid, len(content), pad, 0) + content + b"\0" * pad


def stream(typ, rid, data):
    out = b""
    for i in range(0, len(data), 65535):
        out += record(typ, rid, data[i:i + 65535], pad=(8 - len(data[i:i + 65535]) % 8) % 8)
    return out


def parse_pairs(b):
    out, i = {}, 0
    def ln():
        nonlocal i
        if b[i] & 0x80:
            v = struct.unpack(">I", b[i:i + 4])[0] & 0x7fffffff
            i += 4
        else:
            v = b[i]
            i += 1
        return v
    while i < len(b):
        n, v = ln(), ln()
        out[b[i:i + n].decode("latin-1")] = b[i + n:i + n + v].decode("latin-1")
        i += n + v
    return out


def end(rid, app=0, proto=0):
    return record(END, rid, struct.pack(">IB3x", app, proto))


def answer(s, rid, params, body, name, stats):
    script = params.get("SCRIPT_NAME", "").rsplit("/", 1)[-1]
    q = urllib.parse.unquote(params.get("QUERY_STRING", ""))
    if script == "echo.php":
        lines = "".join("%s=%s\n" % (k, params[k]) for k in sorted(params))
        page = ("Content-Type: text/plain\r\nX-App: echo\r\n\r\n" + lines +
                "STDIN=%d %s\n" % (len(body), hashlib.sha256(body).hexdigest())).encode("latin-1")
        s.sendall(stream(STDOUT, rid, page) + record(STDOUT, rid) + end(rid))
    elif script == "status.php":
        s.sendall(stream(STDOUT, rid, ("Status: %s\r\nContent-Type: text/plain\r\n\r\nstatus page\n" % q).encode())
                  + end(rid))
    elif script == "big.php":
        n = int(q or "0")
        s.sendall(stream(STDOUT, rid, b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % n))
        pattern = bytes(range(256)) * 256
        sent = 0
        while sent < n:
            k = min(len(pattern), n - sent)
            s.sendall(stream(STDOUT, rid, pattern[:k]))
            sent += k
        s.sendall(end(rid))
    elif script == "stderr.php":
        s.sendall(stream(STDERR, rid, b"first problem\nsecond problem\n") +
                  stream(STDOUT, rid, b"Content-Type: text/plain\r\n\r\nok\n") + end(rid))
    elif script == "garbage.php":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        return False
    elif script == "die.php":
        s.sendall(stream(STDOUT, rid, b"Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000))
        time.sleep(0.2)
        return False
    elif script == "noend.php":
        return False
    elif script == "nohead.php":
        s.sendall(stream(STDOUT, rid, b"just a body without any header\n\n") + end(rid))
    elif script == "who.php":
        s.sendall(stream(STDOUT, rid, ("Content-Type: text/plain\r\n\r\n%s" % name).encode()) + end(rid))
    else:
        s.sendall(stream(STDOUT, rid, b"Status: 404\r\nContent-Type: text/plain\r\n\r\nno such script\n") + end(rid))
    return True


def serve(s, name, stats):
    stats.bump("connections")
    try:
        while True:
            rec = read_record(s)
            if rec is None:
                return
            typ, rid, content = rec
            if typ != BEGIN:
                return
            keep = content[2] & 1
            params_b, body = b"", b""
            records = []  # the lengths of this request's non-empty PARAMS records
            while True:
                rec = read_record(s)
                if rec is None:
                    return
                typ, _, content = rec
                if typ == PARAMS:
                    params_b += content
                    if content:
                        records.append(len(content))
                elif typ == STDIN:
                    if not content:
                        break
                    body += content
                elif typ == ABORT:
                    stats.bump("aborts")
                    return
            params = parse_pairs(params_b)
            with stats.lock:
                stats.data["params_records"] = records
            stats.bump("requests")
            script = params.get("SCRIPT_NAME", "")
            if script.endswith("slow.php"):
                # Notice a client that leaves: the server sends ABORT_REQUEST.
                s.settimeout(float(params.get("QUERY_STRING") or "5"))
                try:
                    rec = read_record(s)
                    if rec and rec[0] == ABORT:
                        stats.bump("aborts")
                        return
                except socket.timeout:
                    pass
                s.settimeout(None)
                s.sendall(stream(STDOUT, rid, b"Content-Type: text/plain\r\n\r\nlate\n") + end(rid))
            elif not answer(s, rid, params, body, name, stats):
                return
            if not keep:
                return
    except OSError:
        pass
    finally:
        s.close()


def main():
    addr, state, name = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "app"
    stats = Stats(os.path.join(state, "stats.json"))
    if addr.startswith("unix:"):
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(addr[5:])
    else:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        host, port = addr.rsplit(":", 1)
        ls.bind((host, int(port)))
    ls.listen(64)
    with open(os.path.join(state, "ready"), "w") as f:
        f.write("ok")
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, name, stats), daemon=True).start()


if __name__ == "__main__":
    main()

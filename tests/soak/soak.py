#!/usr/bin/env python3
"""Soak test (issue 20): `make soak`, never part of `make test`.

The real server (build/webserv, "workers": 2, every shipped module that built:
static, autoindex, upload, cgi, access, auth_basic, rewrite, headers, metrics,
proxy, fastcgi — and compress when it exists) under a mixed load for
SOAK_MINUTES (default 30):

  - static GETs on keep-alive connections and on a new connection each,
  - uploads: PUT of a random file, read back and compared, then DELETE; and a
    multipart POST to the folder (without its trailing slash, as an HTML form),
  - CGI (a Python script that reads its query and echoes it),
  - folder listings (HTML and JSON),
  - the phase modules: a folder behind auth_basic (right, wrong and missing
    credentials), rewrite (internal and a redirect), access (a denied folder),
    headers (a header checked on every answer), a metrics scrape,
  - proxy to a Python HTTP/1.1 upstream started by the soak (GET, POST with a
    body, a 1 MiB answer, and clients that vanish in the middle of one),
  - fastcgi to a real php-fpm when it is installed (Debian's php-fpm),
  - HTTP/2 with prior knowledge (h2c) through curl, several streams on one
    connection,
  - clients that vanish: half a head, half a body, a request closed before its
    answer, a reset (SO_LINGER 0) in the middle of an upload,
  - a SIGHUP every SOAK_HUP_SECONDS (60) and a worker SIGKILLed every
    SOAK_KILL_SECONDS (300).

Every sample period (10 s) it records the requests and errors so far and the
RSS and open descriptors of every process of the server (master, workers, CGI
children): build/soak/requests.csv and build/soak/processes.csv, and a table
per minute on stdout.

A request that fails within 2 s after a worker was SIGKILLed is counted as
"killed" (it was in flight on that worker, or queued on its connection); any
other failure is unexpected. Exit status 1 when there was an unexpected error,
a worker died that was not killed by the test, the master's descriptor count
changed, a worker's descriptors grew after the first minute, or a temporary
upload file was left behind.
"""
import argparse
import csv
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))

# The HTTP/2 client of the integration tests, on Python's h2 (Debian's python3-h2, pure Python: its
# folder is added when this interpreter is not Debian's).
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import proctree  # noqa: E402
try:
    import h2  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    import h2client
except ImportError:
    h2client = None
KILL_WINDOW = 2.0

CGI_SCRIPT = """#!/usr/bin/python3
import os, sys
q = os.environ.get("QUERY_STRING", "")
n = int(os.environ.get("CONTENT_LENGTH") or 0)
body = sys.stdin.buffer.read(n) if n else b""
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n")
sys.stdout.write("cgi %s %d\\n" % (q, len(body)))
"""


# A password file for auth_basic: user "soak", password "secret" (SHA-crypt
# $5$, made with `openssl passwd -5 -salt soaksalt secret`).
HTPASSWD = "soak:$5$soaksalt$Q2acRI7wEJhJP5dJsFaPVUcxvs9.dryYgBAGM.UgWc0\n"
GOOD_AUTH = "Basic c29hazpzZWNyZXQ="  # soak:secret
BAD_AUTH = "Basic c29hazp3cm9uZw=="  # soak:wrong

PHP_SCRIPT = "<?php header('Content-Type: text/plain'); echo 'php ', $_GET['n'] ?? '', \"\\n\";\n"

PHP_FPM = shutil.which("php-fpm8.2", path="/usr/sbin:/usr/bin") or shutil.which("php-fpm", path="/usr/sbin:/usr/bin")


class Upstream(BaseHTTPRequestHandler):
    """The proxy's upstream: HTTP/1.1 with keep-alive, so the proxy's pool is used."""
    protocol_version = "HTTP/1.1"
    BIG = os.urandom(1 << 20)

    def log_message(self, *args):
        pass

    def answer(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/big"):
            self.answer(self.BIG, "application/octet-stream")
        else:
            self.answer(("up GET %s\n" % self.path).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n)
        self.answer(("up POST %s %d\n" % (self.path, len(data))).encode())


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # resets are expected: clients vanish and workers are SIGKILLed on purpose


def start_upstream():
    httpd = QuietServer(("127.0.0.1", 0), Upstream)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def start_php_fpm(tmp):
    """php-fpm on a Unix socket in tmp, or None when it is not installed."""
    if not PHP_FPM:
        return None, None
    fpm = os.path.join(tmp, "fpm")
    os.makedirs(fpm)
    sock = os.path.join(fpm, "php.sock")
    conf = os.path.join(fpm, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write("[global]\npid = %s/fpm.pid\nerror_log = %s/fpm.log\ndaemonize = no\n"
                "[www]\nlisten = %s\npm = static\npm.max_children = 8\nclear_env = yes\n" % (fpm, fpm, sock))
        if os.geteuid() == 0:  # php-fpm wants a user for a pool started by root (-R allows root)
            f.write("user = root\ngroup = root\n")
    proc = subprocess.Popen([PHP_FPM, "-n", "-y", conf, "-F"] + (["-R"] if os.geteuid() == 0 else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            return proc, sock
        time.sleep(0.1)
    proc.kill()
    sys.exit("soak: php-fpm did not start; see %s/fpm.log" % fpm)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_kind = {}
        self.unexpected = []
        self.killed = 0
        self.vanished = 0
        self.retried = 0  # idempotent requests sent again after a keep-alive close race
        self.kill_times = []

    def ok(self, kind):
        with self.lock:
            self.requests += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def fail(self, kind, what):
        now = time.time()
        with self.lock:
            if any(0 <= now - t <= KILL_WINDOW for t in self.kill_times):
                self.killed += 1
            else:
                self.unexpected.append("%s %s: %s" % (time.strftime("%H:%M:%S"), kind, what))


class Load:
    """One client thread: picks an action by weight, forever until stop."""

    ACTIONS = [("static_keepalive", 30), ("static_new", 15), ("upload", 10), ("form", 5), ("cgi", 10),
               ("listing", 10), ("vanish", 8), ("auth", 6), ("phases", 6), ("metrics", 1), ("proxy", 8),
               ("proxy_vanish", 1), ("php", 5), ("h2", 3)]

    def __init__(self, port, root, stats, stop, seed, h2_port=None, php=False):
        self.port, self.root, self.stats, self.stop = port, root, stats, stop
        self.h2_port, self.php_on = h2_port, php
        self.h2c = None
        self.rng = random.Random(seed)
        self.seed = seed
        self.conn = None
        self.n = 0
        actions = [a for a in self.ACTIONS if (a[0] != "php" or php) and (a[0] != "h2" or h2client)]
        names, weights = zip(*actions)
        self.names, self.weights = names, weights

    def run(self):
        while not self.stop.is_set():
            action = self.rng.choices(self.names, self.weights)[0]
            try:
                getattr(self, action)()
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                self.stats.fail(action, repr(e)[:200])
                if self.conn:
                    self.conn.close()
                    self.conn = None
                if self.h2c:
                    self.h2c.close()
                    self.h2c = None
        if self.conn:
            self.conn.close()

    def fresh(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def expect(self, kind, r, body, statuses, check=None):
        if r.status not in statuses:
            self.stats.fail(kind, "status %d: %r" % (r.status, body[:100]))
        elif check is not None and not check(body):
            self.stats.fail(kind, "wrong body %r" % body[:100])
        else:
            self.stats.ok(kind)

    def keepalive_request(self, kind, method, path, body=None, headers=None):
        reused = self.conn is not None
        if self.conn is None:
            self.conn = self.fresh()
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed this idle keep-alive connection as the request went out (a worker
            # draining on SIGHUP keeps idle connections 1 s): RFC 9112 §9.3.1 lets a client send
            # an idempotent request again on a new connection, as browsers and curl do. Counted.
            if not reused or method not in ("GET", "HEAD", "PUT", "DELETE"):
                raise
            with self.stats.lock:
                self.stats.retried += 1
            self.conn.close()
            self.conn = self.fresh()
            self.conn.request(method, path, body=body, headers=headers or {})
            r = self.conn.getresponse()
        data = r.read()
        if r.will_close:
            self.conn.close()
            self.conn = None
        return r, data

    def one_request(self, method, path, body=None, headers=None):
        c = self.fresh()
        try:
            c.request(method, path, body=body, headers=dict(headers or {}, Connection="close"))
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()

    def static_keepalive(self):
        name = self.rng.choice(["small.txt", "medium.bin", "large.bin", "index.html"])
        r, data = self.keepalive_request("static_keepalive", "GET", "/" + name)
        want = os.path.getsize(os.path.join(self.root, name))
        self.expect("static_keepalive", r, data, (200,), lambda b: len(b) == want)

    def static_new(self):
        headers = {"Range": "bytes=10-99"} if self.rng.random() < 0.2 else {}
        r, data = self.one_request("GET", "/medium.bin", headers=headers)
        self.expect("static_new", r, data, (206,) if headers else (200,),
                    lambda b: len(b) == (90 if headers else 65536))

    def upload(self):
        self.n += 1
        name = "/uploads/soak-%d-%d.bin" % (self.seed, self.n)
        payload = os.urandom(self.rng.choice([100, 4096, 70000, 300000]))
        r, data = self.keepalive_request("upload", "PUT", name, body=payload)
        self.expect("upload", r, data, (201, 204))
        r, data = self.keepalive_request("upload", "GET", name)
        self.expect("upload", r, data, (200,), lambda b: b == payload)
        r, data = self.keepalive_request("upload", "DELETE", name)
        self.expect("upload", r, data, (204,))

    def form(self):
        self.n += 1
        name = "form-%d-%d.txt" % (self.seed, self.n)
        boundary = "soakboundary%d" % self.n
        content = os.urandom(2000).hex().encode()
        body = ("--%s\r\nContent-Disposition: form-data; name=\"f\"; filename=\"%s\"\r\n"
                "Content-Type: text/plain\r\n\r\n" % (boundary, name)).encode() + content + \
               ("\r\n--%s--\r\n" % boundary).encode()
        r, data = self.one_request("POST", "/uploads", body=body,
                                   headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.expect("form", r, data, (201,))
        r, data = self.keepalive_request("form", "DELETE", "/uploads/" + name)
        self.expect("form", r, data, (204,))

    def cgi(self):
        q = "n=%d" % self.rng.randrange(1000)
        if self.rng.random() < 0.3:
            body = b"x" * self.rng.randrange(1, 5000)
            r, data = self.keepalive_request("cgi", "POST", "/cgi-bin/echo.py?" + q, body=body)
            self.expect("cgi", r, data, (200,), lambda b: b == ("cgi %s %d\n" % (q, len(body))).encode())
        else:
            r, data = self.keepalive_request("cgi", "GET", "/cgi-bin/echo.py?" + q)
            self.expect("cgi", r, data, (200,), lambda b: b == ("cgi %s 0\n" % q).encode())

    def listing(self):
        if self.rng.random() < 0.5:
            r, data = self.keepalive_request("listing", "GET", "/files/", headers={"Accept": "application/json"})
            self.expect("listing", r, data, (200,), lambda b: len(json.loads(b)) == 200)
        else:
            r, data = self.keepalive_request("listing", "GET", "/files/")
            self.expect("listing", r, data, (200,), lambda b: b.count(b"<a href=") >= 200)

    def auth(self):
        which = self.rng.randrange(4)
        headers = {"Authorization": GOOD_AUTH if which < 2 else BAD_AUTH} if which != 3 else {}
        r, data = self.keepalive_request("auth", "GET", "/private/secret.txt", headers=headers)
        if which < 2:
            self.expect("auth", r, data, (200,), lambda b: b == b"the secret\n")
        elif r.getheader("WWW-Authenticate", "").startswith("Basic realm="):
            self.expect("auth", r, data, (401,))
        else:
            self.stats.fail("auth", "%d without WWW-Authenticate" % r.status)

    def phases(self):
        which = self.rng.randrange(4)
        if which == 0:  # rewrite, internal: /old/x → /x
            r, data = self.keepalive_request("phases", "GET", "/old/small.txt")
            want = os.path.getsize(os.path.join(self.root, "small.txt"))
            self.expect("phases", r, data, (200,), lambda b: len(b) == want)
        elif which == 1:  # rewrite, redirect
            r, data = self.keepalive_request("phases", "GET", "/moved/page")
            if r.getheader("Location", "").endswith("/new/page"):
                self.expect("phases", r, data, (301,))
            else:
                self.stats.fail("phases", "redirect to %r" % r.getheader("Location"))
        elif which == 2:  # access: a denied folder
            r, data = self.keepalive_request("phases", "GET", "/denied/small.txt")
            self.expect("phases", r, data, (403,))
        else:  # headers: set on every answer of the location
            r, data = self.keepalive_request("phases", "GET", "/hdr/small.txt")
            if r.getheader("X-Soak") == "yes":
                self.expect("phases", r, data, (200,))
            else:
                self.stats.fail("phases", "X-Soak is %r" % r.getheader("X-Soak"))

    def metrics(self):
        r, data = self.keepalive_request("metrics", "GET", "/metrics")
        self.expect("metrics", r, data, (200,), lambda b: b"webserv_requests_total" in b)

    def proxy(self):
        which = self.rng.randrange(3)
        q = "n=%d" % self.rng.randrange(1000)
        if which == 0:
            r, data = self.keepalive_request("proxy", "GET", "/app/echo?" + q)
            self.expect("proxy", r, data, (200,), lambda b: b == ("up GET /app/echo?%s\n" % q).encode())
        elif which == 1:
            body = os.urandom(self.rng.choice([10, 5000, 200000]))
            r, data = self.keepalive_request("proxy", "POST", "/app/post", body=body)
            self.expect("proxy", r, data, (200,), lambda b: b == ("up POST /app/post %d\n" % len(body)).encode())
        else:
            r, data = self.keepalive_request("proxy", "GET", "/app/big")
            self.expect("proxy", r, data, (200,), lambda b: b == Upstream.BIG)

    def proxy_vanish(self):
        """A client that leaves in the middle of a proxied answer: the upstream connection must not leak."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(b"GET /app/big HTTP/1.1\r\nHost: soak\r\n\r\n")
            s.recv(self.rng.choice([100, 30000]))
        finally:
            s.close()
        with self.stats.lock:
            self.stats.vanished += 1

    def php(self):
        q = self.rng.randrange(1000)
        r, data = self.keepalive_request("php", "GET", "/php/hello.php?n=%d" % q)
        self.expect("php", r, data, (200,), lambda b: b == ("php %d\n" % q).encode())

    def h2(self):
        """Three streams at once on this client's HTTP/2 connection (h2c, prior knowledge), kept
        across actions like a browser's. A GOAWAY (the server reloads) means a new connection; the
        streams it did not take (above its last stream id) are sent again, as RFC 9113 §6.8 allows."""
        urls = {"/medium.bin": 65536, "/small.txt": os.path.getsize(os.path.join(self.root, "small.txt")),
                "/app/echo?h2": len("up GET /app/echo?h2\n")}
        for attempt in range(2):
            if self.h2c is not None:
                self.h2c.pump(timeout=0)  # a GOAWAY or a close that came while it was idle
            if self.h2c is None or self.h2c.closed or self.h2c.goaway:
                if self.h2c:
                    self.h2c.close()
                self.h2c = h2client.H2Client(self.h2_port, timeout=30)
                reused = False
            else:
                reused = True
            c = self.h2c
            try:
                sids = {c.request("GET", path): path for path in urls}
            except (BrokenPipeError, ConnectionResetError):
                if not reused or attempt:
                    raise
                c.closed = True  # the server closed the idle connection as we wrote: nothing was taken
                continue
            try:
                c.wait(lambda: all(c.streams[sid].done for sid in sids) or c.closed or c.goaway is not None)
                if c.goaway is not None:
                    c.wait(lambda: all(c.streams[sid].done or sid > c.goaway[1] for sid in sids), timeout=30)
            except h2client.h2.exceptions.ProtocolError:
                # Python's h2 refuses DATA that follows a GOAWAY in the same read (it raises before
                # reporting the GOAWAY), although RFC 9113 §6.8 lets the server finish the streams
                # it took: a client limit, not a server error; GETs are safe to send again.
                if attempt:
                    raise
                with self.stats.lock:
                    self.stats.retried += 1
                c.closed = True
                continue
            refused = [sid for sid in sids if c.goaway is not None and sid > c.goaway[1]]
            if refused and attempt == 0:
                continue
            for sid, path in sids.items():
                st = c.streams[sid]
                if st.status != 200 or len(st.data) != urls[path]:
                    self.stats.fail("h2", "%s: status %s, %d bytes, reset %s" % (
                        path, st.status, len(st.data), getattr(st, "reset", None)))
                    c.close()
                    self.h2c = None
                    return
            self.stats.ok("h2")
            return

    def vanish(self):
        """A client that goes away; only the server's health afterwards says whether it coped."""
        kind = self.rng.randrange(4)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            if kind == 0:
                s.sendall(b"GET /medium.bin HTTP/1.1\r\nHost: soak\r\nX-Half: ")
            elif kind == 1:
                s.sendall(b"PUT /uploads/vanish-%d.bin HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n"
                          % self.seed + os.urandom(3000))
            elif kind == 2:
                s.sendall(b"GET /large.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
                s.recv(100)
            else:
                s.sendall(b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: soak\r\nContent-Length: 50000\r\n\r\n" +
                          b"y" * 1000)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
            time.sleep(self.rng.random() * 0.05)
        finally:
            s.close()
        with self.stats.lock:
            self.stats.vanished += 1


def processes(master):
    """(pid, role) of the master and every live descendant."""
    procs = {p: v for p, v in proctree.table().items() if v[1] != "Z"}
    role = {master: "master"}
    for p in proctree.descendants(master, procs)[1:]:
        role[p] = "worker" if procs[p][0] == master else "cgi"
    return [(p, role[p]) for p in proctree.descendants(master, procs) if p in role]


def rss_fds(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        return rss, len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def available_modules(build):
    names = ["static", "autoindex", "upload", "cgi", "access", "auth_basic", "rewrite", "headers", "metrics",
             "proxy", "fastcgi"]
    missing = [n for n in names if not os.path.exists(os.path.join(build, "modules", "mod_%s.so" % n))]
    if missing:
        sys.exit("soak: modules not built: %s (build them: make build)" % ", ".join(missing))
    return names


def setup(tmp, port, build, h2_port, upstream_port, php_sock):
    root = os.path.join(tmp, "www")
    os.makedirs(os.path.join(root, "uploads"))
    os.makedirs(os.path.join(root, "files"))
    os.makedirs(os.path.join(root, "cgi-bin"))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<p>soak</p>\n")
    for name, size in (("small.txt", 100), ("medium.bin", 65536), ("large.bin", 2 * 1024 * 1024)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    for i in range(200):
        with open(os.path.join(root, "files", "entry-%03d.txt" % i), "w") as f:
            f.write("x" * i)
    for d in ("private", "php", "hdr"):
        os.makedirs(os.path.join(root, d))
    shutil.copy(os.path.join(root, "small.txt"), os.path.join(root, "hdr", "small.txt"))
    with open(os.path.join(root, "private", "secret.txt"), "w") as f:
        f.write("the secret\n")
    with open(os.path.join(root, "php", "hello.php"), "w") as f:
        f.write(PHP_SCRIPT)
    htpasswd = os.path.join(tmp, "htpasswd")
    with open(htpasswd, "w") as f:
        f.write(HTPASSWD)
    script = os.path.join(root, "cgi-bin", "echo.py")
    with open(script, "w") as f:
        f.write(CGI_SCRIPT)
    os.chmod(script, 0o755)
    locations = [
        {"path": "/private", "auth_basic": {"realm": "soak", "user_file": htpasswd}, "static": {}},
        {"path": "/old", "rewrite": {"rules": [{"match": "^/old/(.*)$", "to": "/$1"}]}},
        {"path": "/moved", "rewrite": {"rules": [{"match": "^/moved/(.*)$", "to": "/new/$1", "redirect": 301}]}},
        {"path": "/denied", "access": {"rules": [{"deny": "127.0.0.0/8"}, {"allow": "all"}]}, "static": {}},
        {"path": "/hdr", "headers": {"set": {"X-Soak": "yes"}}, "static": {}},
        {"path": "/metrics", "metrics": {}},
        {"path": "/app", "proxy": {"upstream": "app"}},
    ]
    upstreams = {"app": {"servers": [{"address": "127.0.0.1:%d" % upstream_port}], "keepalive": 8}}
    if php_sock:
        locations.append({"path": "/php", "fastcgi": {"upstream": "php"}})
        # A php-fpm child serves one kept-alive connection until it closes: every worker's pool,
        # old and new ones during a reload (2 + 2 workers × 2), must fit in the 8 children, or
        # a request waits in php-fpm's backlog until an idle pooled connection times out.
        upstreams["php"] = {"servers": [{"address": "unix:" + php_sock}], "keepalive": 2}
    cfg = {
        "modules": available_modules(build),
        "upstreams": upstreams,
        "modules_dir": os.path.join(build, "modules"),
        "workers": 2,
        "error_log": os.path.join(tmp, "error.log"),
        "timeouts": {"header": 5, "body": 5, "keepalive": 15, "shutdown": 5},
        "servers": [{
            "listen": ["127.0.0.1:%d" % port,
                       {"address": "127.0.0.1:%d" % h2_port, "protocols": ["h2c", "http/1.1"]}],
            "root": root,
            "locations": locations + [
                {"path": "/", "static": {}, "autoindex": {}},
                {"path": "/uploads", "methods": ["GET", "HEAD", "POST", "PUT", "DELETE"],
                 "static": {}, "autoindex": {}, "upload": {}, "client_max_body_size": "1M"},
                {"path": "/cgi-bin", "cgi": {"interpreters": {".py": "/usr/bin/python3"}, "timeout": 10}},
            ]}],
    }
    path = os.path.join(tmp, "server.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return root, path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")))
    ap.add_argument("--hup", type=float, default=float(os.environ.get("SOAK_HUP_SECONDS", "60")))
    ap.add_argument("--kill", type=float, default=float(os.environ.get("SOAK_KILL_SECONDS", "300")))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--build", default=os.path.join(SRC, "build"), help="build folder (webserv, modules/)")
    ap.add_argument("--out", help="where the CSV files go (default: BUILD/soak)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.out = args.out or os.path.join(args.build, "soak")
    if h2client is None:
        print("soak: HTTP/2 left out: Python's h2 is not installed (Debian's python3-h2)")

    tmp = tempfile.mkdtemp(prefix="webserv-soak-")
    port, h2_port = free_port(), free_port()
    upstream = start_upstream()
    fpm, php_sock = start_php_fpm(tmp)
    root, config = setup(tmp, port, args.build, h2_port, upstream.server_address[1], php_sock)
    os.makedirs(args.out, exist_ok=True)
    server = subprocess.Popen([os.path.join(args.build, "webserv"), config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("soak: the server did not start; see %s/error.log" % tmp)

    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=Load(port, root, stats, stop, i, h2_port, bool(php_sock)).run, daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()

    req_csv = open(os.path.join(args.out, "requests.csv"), "w", newline="")
    proc_csv = open(os.path.join(args.out, "processes.csv"), "w", newline="")
    rq, pr = csv.writer(req_csv), csv.writer(proc_csv)
    rq.writerow(["seconds", "requests", "unexpected_errors", "killed_errors", "vanished_clients", "reloads",
                 "worker_kills"])
    pr.writerow(["seconds", "pid", "role", "rss_kib", "open_fds"])

    start = time.time()
    end = start + args.minutes * 60
    next_hup, next_kill, next_sample = start + args.hup, start + args.kill, start
    reloads = kills = 0
    killed_pids = set()
    samples = []  # (seconds, {role: [(pid, rss, fds)]})
    try:
        while time.time() < end:
            now = time.time()
            if now >= next_sample:
                t = round(now - start)
                with stats.lock:
                    rq.writerow([t, stats.requests, len(stats.unexpected), stats.killed, stats.vanished, reloads, kills])
                row = {}
                for pid, role in processes(server.pid):
                    v = rss_fds(pid)
                    if v:
                        pr.writerow([t, pid, role, v[0], v[1]])
                        row.setdefault(role, []).append((pid, v[0], v[1]))
                samples.append((t, stats.requests, len(stats.unexpected), stats.killed, row))
                req_csv.flush()
                proc_csv.flush()
                next_sample += args.sample
            if now >= next_hup:
                server.send_signal(signal.SIGHUP)
                reloads += 1
                next_hup += args.hup
            if now >= next_kill:
                workers = [p for p, role in processes(server.pid) if role == "worker"]
                random.shuffle(workers)
                for victim in workers:  # one that is still alive (an old one may just have finished)
                    with stats.lock:
                        stats.kill_times.append(time.time())
                    try:
                        os.kill(victim, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    killed_pids.add(victim)
                    kills += 1
                    break
                next_kill += args.kill
            if server.poll() is not None:
                stats.unexpected.append("the master exited with %s" % server.returncode)
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(40)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            stats.unexpected.append("the server did not stop within 30 s of SIGTERM")
        req_csv.close()
        proc_csv.close()
        upstream.shutdown()
        if fpm:
            fpm.terminate()
            fpm.wait(10)

    problems = list(stats.unexpected)
    with open(os.path.join(tmp, "error.log")) as f:
        log = f.read()
    # Workers that died: "worker N (pid P) <how>; starting another"
    for line in log.splitlines():
        if "[WS0503]" in line:
            pid = int(line.split("(pid ")[1].split(")")[0])
            if pid not in killed_pids:
                problems.append("a worker died on its own: " + line)
    if server.returncode != 0:
        problems.append("exit status %s after SIGTERM" % server.returncode)
    leftovers = [n for n in os.listdir(os.path.join(root, "uploads")) if n.startswith(".upload-")]
    if leftovers:
        problems.append("temporary upload files left behind: %s" % leftovers)

    # Per-minute table; "flat after the first minute" is judged on the master and the workers.
    print("\nsoak: %.1f min, %d clients, SIGHUP every %g s, worker SIGKILL every %g s; CSV in %s"
          % (args.minutes, args.clients, args.hup, args.kill, args.out))
    print("%6s %9s %7s %6s %6s %12s %11s %16s %15s %5s" % ("minute", "requests", "req/s", "unexp", "killed",
          "master_rss", "master_fds", "workers_rss_max", "workers_fds_max", "cgi"))
    last_req, last_t = 0, 0
    by_minute = {}
    for t, req, unexp, killed, row in samples:
        by_minute[int(t // 60)] = (t, req, unexp, killed, row)
    for minute in sorted(by_minute):
        t, req, unexp, killed, row = by_minute[minute]
        m = row.get("master", [(0, 0, 0)])[0]
        w = row.get("worker", [])
        rate = (req - last_req) / (t - last_t) if t > last_t else 0
        print("%6d %9d %7.0f %6d %6d %9d KiB %11d %12d KiB %15d %5d" % (
            minute, req, rate, unexp, killed, m[1], m[2], max((x[1] for x in w), default=0),
            max((x[2] for x in w), default=0), len(row.get("cgi", []))))
        last_req, last_t = req, t
    print("kinds: %s; vanished clients: %d; reloads: %d; worker kills: %d"
          % (", ".join("%s %d" % kv for kv in sorted(stats.by_kind.items())), stats.vanished, reloads, kills))

    steady = [s for s in samples if s[0] >= 60] or samples[-1:]
    master_fds = {r["master"][0][2] for _, _, _, _, r in steady if "master" in r}
    if len(master_fds) > 1:
        problems.append("the master's descriptor count changed: %s" % sorted(master_fds))
    wfds = [max(x[2] for x in r["worker"]) for _, _, _, _, r in steady if r.get("worker")]
    if wfds and max(wfds) > wfds[0] + 16:
        problems.append("worker descriptors grew: %d after the first minute, %d at most later" % (wfds[0], max(wfds)))
    wrss = [max(x[1] for x in r["worker"]) for _, _, _, _, r in steady if r.get("worker")]
    if wrss:
        print("worker RSS after the first minute: %d KiB first, %d KiB last, %d KiB max"
              % (wrss[0], wrss[-1], max(wrss)))
        if max(wrss) > 2 * wrss[0] + 8192:
            problems.append("worker RSS grew: %d KiB after the first minute, %d KiB at most later"
                            % (wrss[0], max(wrss)))
    print("requests: %d, unexpected errors: %d, errors of requests on a SIGKILLed worker: %d, "
          "idempotent requests sent again after a keep-alive close race: %d"
          % (stats.requests, len(stats.unexpected), stats.killed, stats.retried))
    if problems:
        print("\nsoak FAILED:\n  " + "\n  ".join(problems[:50]))
        print("server folder kept: %s" % tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("soak OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

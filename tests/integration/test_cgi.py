"""SPEC §5 cgi through the real server: meta-variables and the PATH_INFO
split, bodies (Content-Length and chunked) to stdin, Status and the header
block, 404/403, local and client redirects, framing of output without a
length, a large streamed output, timeouts (504), and the process group killed
when the client goes away. Under load: 50 concurrent scripts beside static
requests, 10 MiB to a slow reader in bounded memory, no zombie children, stderr
to the error log, a large chunked body with its de-chunked CONTENT_LENGTH."""
import hashlib
import http.client
import os
import select
import signal
import socket
import threading
import time

import harness
import proctree
import procstat

PY = "/usr/bin/python3"

ENV_PY = r"""
import os, sys
data = sys.stdin.buffer.read()
sys.stdout.write("Content-Type: text/plain\n\n")
for k in sorted(os.environ):
    sys.stdout.write("%s=%s\n" % (k, os.environ[k]))
sys.stdout.write("CWD=%s\nBODY=%s\n" % (os.getcwd(), data.decode("latin-1")))
"""

STATUS_PY = r"""
import os, urllib.parse
print("Status: " + urllib.parse.unquote(os.environ["QUERY_STRING"]))
print("Content-Type: text/plain")
print()
print("from the script")
"""

SAY_PY = r"""
import os, sys
sys.stdout.buffer.write(open(os.environ["QUERY_STRING"] + ".out", "rb").read())
"""

BIG_PY = r"""
import sys
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\n\n")
for i in range(160):
    sys.stdout.buffer.write(bytes([i % 256]) * 65536)
"""

SLEEP_PY = r"""
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
with open(os.environ["QUERY_STRING"] or "pids", "w") as f:
    f.write("%d %d\n" % (os.getpid(), child.pid))
time.sleep(60)
"""


REPLY_PY = r"""
import os, sys, time
q = os.environ["QUERY_STRING"]
if q.startswith("sleep"):
    time.sleep(2)
sys.stdout.write("Content-Type: text/plain\n\n" + ("reply %s\n" % q) * 100)
"""

# 10 MiB of a known pattern, in pieces, without a Content-Length.
TEN_PY = r"""
import sys
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\n\n")
for i in range(160):
    out.write(bytes([(i * 7 + j) % 251 for j in range(256)]) * 256)
"""

# Output first, then a long wait: the client leaves mid-output.
DRIBBLE_PY = r"""
import sys, time
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\n\n")
for i in range(600):
    out.write(b"x" * 65536)
    out.flush()
time.sleep(60)
"""

STDERR_PY = r"""
import sys
sys.stderr.write("first diagnostic line\n")
sys.stderr.write("second with a \x01 control\r\n")
sys.stderr.write("x" * 300 + "\n")
sys.stderr.flush()
sys.stderr.write("noise " * 40000 + "\n")   # about 240 KiB: must not block the script
sys.stdout.write("Content-Type: text/plain\n\nafter stderr")
"""


def ten_mib():
    return b"".join(bytes([(i * 7 + j) % 251 for j in range(256)]) * 256 for i in range(160))


alive = proctree.alive  # a zombie counts as gone only once reaped


class CgiTest(harness.ServerTestCase):
    modules = ["static", "cgi"]

    def setUp(self):
        super().setUp()
        self.write("cgi-bin/env.py", ENV_PY)
        self.write("cgi-bin/status.py", STATUS_PY)
        self.write("cgi-bin/say.py", SAY_PY)
        self.write("cgi-bin/big.py", BIG_PY)
        self.write("cgi-bin/sleep.py", SLEEP_PY)
        self.write("cgi-bin/index.py", ENV_PY)
        self.write("cgi-bin/data.txt", "just data\n")
        self.write("cgi-bin/run.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nshell ok'\n", 0o755)
        self.write("cgi-bin/dribble.py", DRIBBLE_PY)
        self.write("cgi-bin/stderr.py", STDERR_PY)
        self.write("cgi-long/reply.py", REPLY_PY)
        self.write("cgi-long/ten.py", TEN_PY)
        self.write("cgi-long/echo.py", "import sys, hashlib, os\nd = sys.stdin.buffer.read()\n"
                   "print('Content-Type: text/plain\\n\\n%s %d %s' % (os.environ.get('CONTENT_LENGTH'), "
                   "len(d), hashlib.sha256(d).hexdigest()))\n")
        self.write("static.txt", "a static file\n")
        self.server_cfg_locations = [
            {"path": "/", "static": {}},
            {"path": "/cgi-bin", "index": ["index.py"], "client_max_body_size": "8M",
             "cgi": {"interpreters": {".py": PY}, "timeout": 1, "env": {"FROM_CONFIG": "yes"}}},
            # Scripts at the lowest CPU priority: 40 Python interpreters starting at once
            # on a small machine must not starve the server (and the test's client) of CPU,
            # since what the load test checks is the server's event loop, not the scheduler.
            {"path": "/cgi-long", "client_max_body_size": "64M",
             "cgi": {"interpreters": {".py": self.nice_python()}, "timeout": 20}},
        ]
        self.start(locations=self.server_cfg_locations)

    def nice_python(self):
        path = os.path.join(self.tmp, "nice-python3")
        with open(path, "w") as f:
            f.write('#!/bin/sh\nexec /usr/bin/nice -n 19 %s "$@"\n' % PY)
        os.chmod(path, 0o755)
        return path

    def restart_without_quarantine(self):
        """Under ASan, a fresh server whose allocator reuses freed memory at once
        (quarantine_size_mb=0): with the default 256 MiB quarantine every freed
        buffer stays resident, so RSS would grow with the bytes streamed whatever
        the server keeps. Other checks of ASan stay on."""
        if not procstat.ASAN:
            return
        cfg = self.base_config(locations=self.server_cfg_locations)
        self.port = harness.free_port()
        cfg["servers"][0]["listen"] = ["127.0.0.1:%d" % self.port]
        work = os.path.join(self.tmp, "asan-noquarantine")
        os.makedirs(work)
        opts = os.environ.get("ASAN_OPTIONS", "")
        s = harness.Server(cfg, work, {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=0"})
        self.servers.append(s)
        s.start(wait_ports=[("127.0.0.1", self.port)])
        self.server = s

    def env_of(self, body):
        out = {}
        for line in body.decode("latin-1").split("\n"):
            k, sep, v = line.partition("=")
            if sep and k not in out:
                out[k] = v
        return out

    def test_meta_variables(self):
        r, body = self.request("GET", "/cgi-bin/env.py/more/path?a=1&b=%20", headers={
            "Proxy": "http://evil.example:8080/", "X-Test": "yes", "User-Agent": "it"})
        self.assertEqual(r.status, 200)
        env = self.env_of(body)
        want = {
            # Over HTTP/2 (harness WEBSERV_TEST_H2) the request's protocol is HTTP/2:
            # RFC 3875 §4.1.16 names the protocol the request came in.
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/2" if harness.H2_MODE else "HTTP/1.1",
            "SERVER_PORT": str(self.port),
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/cgi-bin/env.py", "PATH_INFO": "/more/path",
            "PATH_TRANSLATED": self.root + "/more/path", "QUERY_STRING": "a=1&b=%20",
            "REMOTE_ADDR": "127.0.0.1", "SCRIPT_FILENAME": os.path.join(self.root, "cgi-bin/env.py"),
            "DOCUMENT_ROOT": self.root, "REQUEST_URI": "/cgi-bin/env.py/more/path?a=1&b=%20",
            "REDIRECT_STATUS": "200", "HTTP_X_TEST": "yes", "HTTP_USER_AGENT": "it", "FROM_CONFIG": "yes",
            "CWD": os.path.join(self.root, "cgi-bin"), "BODY": "",
        }
        for k, v in want.items():
            self.assertEqual(env.get(k), v, k)
        self.assertTrue(env["SERVER_SOFTWARE"].startswith("webserv/"))
        self.assertNotIn("HTTP_PROXY", env)
        self.assertNotIn("CONTENT_LENGTH", env)
        self.assertIn("REMOTE_PORT", env)
        r, body = self.request("GET", "/cgi-bin/env.py")
        self.assertEqual(self.env_of(body)["QUERY_STRING"], "")

    def test_index_script(self):
        r, body = self.request("GET", "/cgi-bin/")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.env_of(body)["SCRIPT_NAME"], "/cgi-bin/index.py")

    def test_bodies(self):
        r, body = self.request("POST", "/cgi-bin/env.py", body=b"x=1&y=2",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        env = self.env_of(body)
        self.assertEqual((env["CONTENT_LENGTH"], env["BODY"], env["CONTENT_TYPE"]),
                         ("7", "x=1&y=2", "application/x-www-form-urlencoded"))
        c = self.conn()
        c.request("PUT", "/cgi-bin/env.py", body=iter([b"chunk", b"ed ", b"body"]), encode_chunked=True)
        r = c.getresponse()
        env = self.env_of(r.read())
        c.close()
        self.assertEqual((env["CONTENT_LENGTH"], env["BODY"], env["REQUEST_METHOD"]), ("12", "chunked body", "PUT"))
        self.assertNotIn("HTTP_TRANSFER_ENCODING", env)
        big = os.urandom(3 * 1024 * 1024)
        self.write("cgi-bin/echo.py", "import sys, hashlib\nd = sys.stdin.buffer.read()\n"
                   "print('Content-Type: text/plain\\n\\n%d %s' % (len(d), hashlib.sha256(d).hexdigest()))\n")
        import hashlib
        r, body = self.request("POST", "/cgi-bin/echo.py", body=big)
        self.assertEqual(body.decode().strip(), "%d %s" % (len(big), hashlib.sha256(big).hexdigest()))

    def test_status_and_errors(self):
        for q, status in [("201", 201), ("404%20Nope", 404), ("418", 418), ("700", 502), ("99", 502)]:
            r, _ = self.request("GET", "/cgi-bin/status.py?" + q)
            self.assertEqual(r.status, status, q)
        self.write("cgi-bin/nohead.out", "no header here\n")
        r, _ = self.request("GET", "/cgi-bin/say.py?nohead")
        self.assertEqual(r.status, 502)
        self.write("cgi-bin/crash.py", "import os\nos.abort()\n")
        r, _ = self.request("GET", "/cgi-bin/crash.py")
        self.assertEqual(r.status, 502)
        r, _ = self.request("GET", "/cgi-bin/missing.py")
        self.assertEqual(r.status, 404)
        r, _ = self.request("GET", "/cgi-bin/data.txt")
        self.assertEqual(r.status, 403)
        r, body = self.request("GET", "/cgi-bin/run.sh")
        self.assertEqual((r.status, body), (200, b"shell ok"))

    def test_redirects(self):
        self.write("cgi-bin/local.out", "Location: /static.txt\n\n")
        r, body = self.request("GET", "/cgi-bin/say.py?local")
        self.assertEqual((r.status, body), (200, b"a static file\n"))
        self.write("cgi-bin/abs.out", "Location: http://example.com/x\n\n")
        r, _ = self.request("GET", "/cgi-bin/say.py?abs")
        self.assertEqual((r.status, r.getheader("Location")), (302, "http://example.com/x"))

    def test_framing(self):
        self.write("cgi-bin/nolen.out", "Content-Type: text/plain\nX-Extra: 1\nConnection: close\n\nhello")
        resp = self.raw_one(b"GET /cgi-bin/say.py?nolen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(resp.header("Transfer-Encoding"), "chunked")
        self.assertEqual((resp.body, resp.header("X-Extra")), (b"hello", "1"))
        resp = self.raw_one(b"GET /cgi-bin/say.py?nolen HTTP/1.0\r\n\r\n")
        self.assertIsNone(resp.header("Transfer-Encoding"))
        self.assertEqual(resp.body, b"hello")
        self.write("cgi-bin/len.out", "Content-Type: text/plain\nContent-Length: 5\n\nhello")
        resp = self.raw_one(b"GET /cgi-bin/say.py?len HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual((resp.header("Content-Length"), resp.body), ("5", b"hello"))
        resp = self.raw_one(b"HEAD /cgi-bin/say.py?len HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", head=True)
        self.assertEqual((resp.status, resp.body), (200, b""))

    def test_large_output_streams(self):
        r, body = self.request("GET", "/cgi-bin/big.py")
        self.assertEqual(len(body), 160 * 65536)
        self.assertEqual(body[65536 * 7:65536 * 7 + 3], b"\x07\x07\x07")

    def test_timeout_504(self):
        r, _ = self.request("GET", "/cgi-bin/sleep.py?t504")
        self.assertEqual(r.status, 504)
        self.assert_killed(os.path.join(self.root, "cgi-bin/t504"))

    def test_client_goes_away(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /cgi-bin/sleep.py?gone HTTP/1.1\r\nHost: x\r\n\r\n")
        pids = os.path.join(self.root, "cgi-bin/gone")
        deadline = time.time() + 5
        while not os.path.exists(pids) or not open(pids).read().endswith("\n"):
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        s.close()
        self.assert_killed(pids)

    # ---- load, memory, zombies, stderr ----

    def test_fifty_concurrent(self):
        """50 CGI requests at once (10 of them sleep 2 s): all answered right, and
        static files keep being served meanwhile."""
        results, errors = {}, []

        def one(q):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                c.request("GET", "/cgi-long/reply.py?" + q)
                r = c.getresponse()
                results[q] = (r.status, r.read())
                c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("%s: %r" % (q, e))

        queries = ["sleep%d" % i for i in range(10)] + ["fast%d" % i for i in range(40)]
        threads = [threading.Thread(target=one, args=(q,)) for q in queries]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        worst, probes = 0.0, 0
        while any(t.is_alive() for t in threads) and probes < 40:
            # curl times the request itself, free of this process's 50 busy threads.
            p = self.curl("-w", "\n%{http_code} %{time_total}", "http://127.0.0.1:%d/static.txt" % self.port)
            body, _, figures = p.stdout.rpartition(b"\n")
            code, took = figures.split()
            worst = max(worst, float(took))
            probes += 1
            self.assertEqual((code, body), (b"200", b"a static file\n"), p.stderr)
            time.sleep(0.05)
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - t0
        print("\n  50 concurrent CGI requests (10 sleeping 2 s) in %.2fs; slowest of %d static GETs meanwhile %.3fs"
              % (elapsed, probes, worst))
        self.assertEqual(errors, [])
        for q in queries:
            self.assertEqual(results[q], (200, ("reply %s\n" % q).encode() * 100), q)
        self.assertGreater(probes, 0)
        self.assertLess(worst, 0.5)

    def test_slow_reader_memory(self):
        """10 MiB of output to a client reading 64 KiB every 10 ms: byte-exact, and
        the server's RSS does not grow with it (backpressure on the script's stdout)."""
        self.restart_without_quarantine()
        pid = self.server.proc.pid
        r, body = self.request("GET", "/cgi-long/ten.py")  # warm up: the same path, read at full speed
        self.assertEqual(len(body), 10 << 20)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", self.port))
        s.setblocking(False)
        data = bytearray()
        t0 = time.monotonic()
        with procstat.RssSampler(pid) as rss:
            s.sendall(b"GET /cgi-long/ten.py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            done = False
            while not done:
                self.assertLess(time.monotonic() - t0, 60, "slow read did not finish")
                select.select([s], [], [], 0.5)
                budget = 65536
                while budget > 0:
                    try:
                        b = s.recv(budget)
                    except BlockingIOError:
                        break
                    if not b:
                        done = True
                        break
                    data += b
                    budget -= len(b)
                time.sleep(0.01)
        s.close()
        elapsed = time.monotonic() - t0
        resp = harness.parse_responses(bytes(data))[0]
        print("\n  10 MiB CGI output to a slow reader in %.1fs: server peak RSS growth %.2f MiB (bound 2 MiB)"
              % (elapsed, rss.growth() / (1 << 20)))
        self.assertEqual(resp.status, 200)
        want = ten_mib()
        self.assertEqual(len(resp.body), len(want))
        self.assertTrue(resp.body == want, "body differs")
        self.assertLessEqual(rss.growth(), 2 << 20)

    def test_no_zombies(self):
        """Clients gone mid-output, before output, and timeouts: the server
        leaves no child in state Z."""
        pid = self.server.proc.pid
        socks = []
        for i in range(5):  # gone mid-output
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /cgi-bin/dribble.py HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.settimeout(5)
            self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        for i in range(3):  # gone before output
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /cgi-bin/sleep.py?z%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            socks.append(s)
        time.sleep(0.3)
        for s in socks:
            s.close()
        statuses = []
        threads = [threading.Thread(target=lambda: statuses.append(self.request("GET", "/cgi-bin/sleep.py")[0].status))
                   for _ in range(3)]  # timeouts (504)
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(statuses, [504] * 3)
        left = procstat.wait_no_zombies(pid, 2.0)
        self.assertEqual(left, [], "zombie children of the server: %s" % left)
        # Nothing of those scripts is still running under the server either.
        deadline = time.monotonic() + 3
        while procstat.children(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(procstat.children(pid), [])

    def test_stderr_to_error_log(self):
        r, body = self.request("GET", "/cgi-bin/stderr.py")
        self.assertEqual((r.status, body), (200, b"after stderr"))
        deadline = time.monotonic() + 3
        while "noise" not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = self.server.stderr()
        self.assertRegex(log, r"cgi: \S*stderr\.py: first diagnostic line\n")
        self.assertRegex(log, r"cgi: \S*stderr\.py: second with a \? control\n")  # masked, CR dropped
        self.assertIn("x" * 300 + "\n", log)
        self.assertIn("[cut]", log)  # the 240 KiB line is cut

    def test_large_chunked_body_content_length(self):
        """A chunked body larger than any buffer reaches the script whole, with
        CONTENT_LENGTH set to its de-chunked length."""
        big = os.urandom(5 * 1024 * 1024 + 123)
        c = self.conn(timeout=30)
        c.request("POST", "/cgi-long/echo.py", body=(big[i:i + 100000] for i in range(0, len(big), 100000)),
                  encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        body = r.read()
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(body.decode().strip(), "%d %d %s" % (len(big), len(big), hashlib.sha256(big).hexdigest()))

    def assert_killed(self, pidfile):
        with open(pidfile) as f:
            pids = [int(x) for x in f.read().split()]
        deadline = time.time() + 5
        while any(alive(p) for p in pids):
            self.assertLess(time.time(), deadline, "script or its child still running")
            time.sleep(0.05)


if __name__ == "__main__":
    harness.main()

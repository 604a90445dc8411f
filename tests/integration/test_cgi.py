"""SPEC §5 cgi through the real server: meta-variables and the PATH_INFO
split, bodies (Content-Length and chunked) to stdin, Status and the header
block, 404/403, local and client redirects, framing of output without a
length, a large streamed output, timeouts (504), and the process group killed
when the client goes away."""
import os
import signal
import socket
import time

import harness

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


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(); count it as gone only once reaped.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


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
        self.write("static.txt", "a static file\n")
        self.start(locations=[
            {"path": "/", "static": {}},
            {"path": "/cgi-bin", "index": ["index.py"], "client_max_body_size": "8M",
             "cgi": {"interpreters": {".py": PY}, "timeout": 1, "env": {"FROM_CONFIG": "yes"}}},
        ])

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
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_PORT": str(self.port),
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

    def assert_killed(self, pidfile):
        with open(pidfile) as f:
            pids = [int(x) for x in f.read().split()]
        deadline = time.time() + 5
        while any(alive(p) for p in pids):
            self.assertLess(time.time(), deadline, "script or its child still running")
            time.sleep(0.05)


if __name__ == "__main__":
    harness.main()

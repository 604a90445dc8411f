"""The fastcgi module (SPEC §6, issue 17) through the real server.

With a small Python FastCGI responder (fcgi_app.py) that misbehaves on
purpose: the CGI/1.1 meta-variables as FCGI_PARAMS, a large body streamed to
FCGI_STDIN byte-exact, Status and the header block, STDERR to the error log,
502 for garbage/no header/closed early, a cut response when the application
dies mid-body, 504 on the read timeout, FCGI_ABORT_REQUEST when the client
leaves, the keep-alive pool counted on the application's side (and no pool
with keepalive 0), weighted round-robin shares and failover to a live server,
a body without a length (chunked, or HTTP/2 without Content-Length) spooled to
an unnamed temporary file and sent with its CONTENT_LENGTH (413 past
client_max_body_size, the file closed when the client leaves), config errors
with their JSON paths.

With a real php-fpm (Debian's php-fpm8.2) started by the test as the current
user on a Unix socket in a temp folder: a page, POST data, PATH_INFO, the
folder's index.php, header() and http_response_code(), a chunked POST read by PHP. Skipped with the reason
when php-fpm is not installed.
"""
import ctypes
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
import unittest

import harness
import procstat
import proctree

PY = "/usr/bin/python3"
APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fcgi_app.py")
# Counts the unnamed files (O_TMPFILE) the server creates, by thread: a line
# "loop" when the worker's main thread (its event loop, tid == pid) created
# one, "pool" for any other thread (the core's thread pool).
TMPFILE_SHIM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
static void note(int flags)
{
    const char *log = getenv("TMPFILE_LOG");
    if ((flags & O_TMPFILE) != O_TMPFILE || !log)
        return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        syscall(SYS_write, fd, syscall(SYS_gettid) == getpid() ? "loop\n" : "pool\n", 5);
        syscall(SYS_close, fd);
    }
}
static int open_at(int dir, const char *path, int flags, va_list ap)
{
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
    note(flags);
    return (int)syscall(SYS_openat, dir, path, flags, mode);
}
#define OPEN(name) int name(const char *path, int flags, ...) \
    { va_list ap; va_start(ap, flags); int fd = open_at(AT_FDCWD, path, flags, ap); va_end(ap); return fd; }
#define OPENAT(name) int name(int dir, const char *path, int flags, ...) \
    { va_list ap; va_start(ap, flags); int fd = open_at(dir, path, flags, ap); va_end(ap); return fd; }
OPEN(open) OPEN(open64) OPENAT(openat) OPENAT(openat64)
"""
PHP_FPM = shutil.which("php-fpm8.2", path="/usr/sbin:/usr/bin") or shutil.which("php-fpm", path="/usr/sbin:/usr/bin")


class App:
    """One fcgi_app.py process."""

    def __init__(self, tmp, name, addr=None):
        self.dir = os.path.join(tmp, "app-" + name)
        os.makedirs(self.dir)
        self.addr = addr or "unix:" + os.path.join(self.dir, "sock")
        self.proc = subprocess.Popen([PY, APP, self.addr, self.dir, name])
        if not harness.wait_for(lambda: os.path.exists(os.path.join(self.dir, "ready")), 10):
            raise RuntimeError("fcgi_app did not start")

    def stats(self):
        with open(os.path.join(self.dir, "stats.json")) as f:
            return json.load(f)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class FastcgiTest(harness.ServerTestCase):
    modules = ["fastcgi", "static"]

    def setUp(self):
        super().setUp()
        self.apps = []
        for name in ("echo", "status", "big", "stderr", "garbage", "die", "noend", "slow", "nohead", "who"):
            self.write("app/%s.php" % name, "<?php // handled by fcgi_app.py\n")
        self.write("app/sub/index.php", "<?php\n")
        self.write("app/style.css", "body {}\n")

    def tearDown(self):
        for a in self.apps:
            a.stop()
        super().tearDown()

    def app(self, name="app", addr=None):
        a = App(self.tmp, name + str(len(self.apps)), addr)
        self.apps.append(a)
        return a

    def config(self, servers, fastcgi=None, max_body="64M", **upstream):
        up = {"servers": servers, "timeouts": {"connect": 2, "send": 5, "read": 5}}
        up.update(upstream)
        fc = {"upstream": "app", "env": {"FROM_CONFIG": "yes"}}
        fc.update(fastcgi or {})
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/app", "client_max_body_size": max_body, "fastcgi": fc, "static": {}},
        ])
        cfg["upstreams"] = {"app": up}
        return cfg

    def start_with(self, app_or_servers, fastcgi=None, **upstream):
        servers = app_or_servers if isinstance(app_or_servers, list) else [{"address": app_or_servers.addr}]
        return self.start(self.config(servers, fastcgi, **upstream))

    def params(self, body):
        out = {}
        for line in body.decode("latin-1").splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    def test_params_are_the_cgi_meta_variables(self):
        a = self.app()
        self.start_with(a)
        r, body = self.request("GET", "/app/echo.php/extra/path?x=1&y=%41", headers={
            "X-Custom": "v1", "Proxy": "evil", "Cookie": "a=1"})
        self.assertEqual(r.status, 200, body)
        self.assertEqual(r.getheader("X-App"), "echo")
        p = self.params(body)
        self.assertEqual(p["SCRIPT_NAME"], "/app/echo.php")
        self.assertEqual(p["SCRIPT_FILENAME"], os.path.join(self.root, "app/echo.php"))
        self.assertEqual(p["PATH_INFO"], "/extra/path")
        self.assertEqual(p["PATH_TRANSLATED"], self.root + "/extra/path")
        self.assertEqual(p["QUERY_STRING"], "x=1&y=%41")
        self.assertEqual(p["REQUEST_METHOD"], "GET")
        self.assertEqual(p["REQUEST_URI"], "/app/echo.php/extra/path?x=1&y=%41")
        self.assertEqual(p["GATEWAY_INTERFACE"], "CGI/1.1")
        self.assertEqual(p["SERVER_PROTOCOL"], "HTTP/2" if harness.H2_MODE else "HTTP/1.1")
        self.assertEqual(p["SERVER_PORT"], str(self.port))
        self.assertEqual(p["REMOTE_ADDR"], "127.0.0.1")
        self.assertEqual(p["DOCUMENT_ROOT"], self.root)
        self.assertEqual(p["REDIRECT_STATUS"], "200")
        self.assertEqual(p["HTTP_X_CUSTOM"], "v1")
        self.assertEqual(p["HTTP_COOKIE"], "a=1")
        self.assertEqual(p["FROM_CONFIG"], "yes")
        self.assertNotIn("HTTP_PROXY", p)  # httpoxy
        self.assertNotIn("CONTENT_LENGTH", p)
        self.assertEqual(len(a.stats()["params_records"]), 1)  # all pairs in one record, then the empty one
        self.assertEqual(p["STDIN"], "0 " + hashlib.sha256(b"").hexdigest())

    def test_params_longer_than_a_record(self):
        """FCGI_PARAMS is a stream (FastCGI §3.4): past a record's 65,535 bytes the pairs go on
        in the next record, a pair cut across two; every variable arrives whole."""
        a = self.app()
        big = "".join(chr(ord("a") + i % 26) for i in range(100000))
        self.start_with(a, {"env": {"FROM_CONFIG": "yes", "BIG_ONE": big}})
        r, body = self.request("GET", "/app/echo.php?q=1", headers={"X-After": "tail"})
        self.assertEqual(r.status, 200, body[:200])
        p = self.params(body)
        self.assertEqual(p["BIG_ONE"], big)
        self.assertEqual((p["QUERY_STRING"], p["HTTP_X_AFTER"], p["FROM_CONFIG"]), ("q=1", "tail", "yes"))
        self.assertEqual(p["SCRIPT_FILENAME"], os.path.join(self.root, "app/echo.php"))
        records = a.stats()["params_records"]
        self.assertEqual(len(records), 2, records)
        self.assertGreater(sum(records), 100000)

    def test_configured_env_and_the_meta_variables(self):
        """A configured variable replaces the default PATH; a meta-variable of the same
        name wins over a configured one, and so does a request's field (HTTP_*)."""
        a = self.app()
        self.start_with(a, {"env": {"FROM_CONFIG": "yes", "PATH": "/opt/bin", "SCRIPT_NAME": "/evil",
                                    "REQUEST_METHOD": "EVIL", "HTTP_X_CUSTOM": "cfg", "HTTP_X_OTHER": "kept"}})
        r, body = self.request("GET", "/app/echo.php", headers={"X-Custom": "v1"})
        self.assertEqual(r.status, 200, body)
        p = self.params(body)
        self.assertEqual((p["FROM_CONFIG"], p["PATH"]), ("yes", "/opt/bin"))
        self.assertEqual((p["SCRIPT_NAME"], p["REQUEST_METHOD"]), ("/app/echo.php", "GET"))
        self.assertEqual((p["HTTP_X_CUSTOM"], p["HTTP_X_OTHER"]), ("v1", "kept"))

    def test_folder_index_and_static_neighbours(self):
        a = self.app()
        self.start_with(a, {"index": "echo.php"})
        r, body = self.request("GET", "/app/")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.params(body)["SCRIPT_NAME"], "/app/echo.php")
        r, body = self.request("GET", "/app/style.css")  # not a script: the static module serves it
        self.assertEqual((r.status, body), (200, b"body {}\n"))
        r, body = self.request("GET", "/app/sub/")  # index.php is not echo.php here: no script
        self.assertNotEqual(r.status, 200)

    def test_split_path_off(self):
        a = self.app()
        self.start_with(a, {"split_path": False})
        r, _ = self.request("GET", "/app/echo.php/extra")
        self.assertEqual(r.status, 404)
        r, _ = self.request("GET", "/app/echo.php")
        self.assertEqual(r.status, 200)

    def test_large_body_streamed_byte_exact(self):
        a = self.app()
        self.start_with(a)
        data = os.urandom(5 * 1024 * 1024 + 7)
        r, body = self.request("POST", "/app/echo.php", body=data, headers={"Content-Type": "application/x-test"})
        self.assertEqual(r.status, 200)
        p = self.params(body)
        self.assertEqual(p["CONTENT_LENGTH"], str(len(data)))
        self.assertEqual(p["CONTENT_TYPE"], "application/x-test")
        self.assertEqual(p["STDIN"], "%d %s" % (len(data), hashlib.sha256(data).hexdigest()))

    # ---- a body without a length: spooled, then sent with its CONTENT_LENGTH ----

    def start_spooling(self, a, **kw):
        """The server with TMPDIR of its own, so its temporary files can be seen."""
        self.spool_dir = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool_dir, exist_ok=True)
        return self.start(self.config([{"address": a.addr}], **kw), env={"TMPDIR": self.spool_dir})

    def spool_files_open(self):
        """Descriptors of the server on body files in its TMPDIR (unnamed: "/dir/#123 (deleted)";
        where O_TMPFILE is missing, "/dir/webserv-fastcgi-XXXXXX (deleted)")."""
        n = 0
        for pid in proctree.descendants(self.server.proc.pid):  # the server itself, or under a wrapper
            fd_dir = "/proc/%d/fd" % pid
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                try:
                    name = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                # valgrind keeps files of its own in TMPDIR: only the body's count
                n += name.startswith((self.spool_dir + "/#", self.spool_dir + "/webserv-"))
        return n

    def spool_names(self):
        return [n for n in os.listdir(self.spool_dir) if n.startswith("webserv-")]

    def test_chunked_body_is_spooled_with_its_length(self):
        a = self.app()
        self.start_spooling(a)
        data = os.urandom(3 * 1024 * 1024 + 11)
        c = self.conn(timeout=30)
        c.request("POST", "/app/echo.php", body=iter([data[i:i + 100000] for i in range(0, len(data), 100000)]),
                  encode_chunked=True, headers={"Content-Type": "application/x-test"})
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200, body)
        p = self.params(body)
        self.assertEqual(p["CONTENT_LENGTH"], str(len(data)))  # the de-chunked length
        self.assertEqual(p["CONTENT_TYPE"], "application/x-test")
        self.assertEqual(p["STDIN"], "%d %s" % (len(data), hashlib.sha256(data).hexdigest()))
        # nothing is left of the temporary file once the request is over
        self.assertTrue(harness.wait_for(lambda: self.spool_files_open() == 0, 5))
        self.assertEqual(self.spool_names(), [])

    def test_chunked_body_from_curl_and_an_empty_one(self):
        a = self.app()
        self.start_spooling(a, keepalive=2)
        f = os.path.join(self.tmp, "upload.bin")
        data = os.urandom(200000)
        with open(f, "wb") as out:
            out.write(data)
        url = "http://127.0.0.1:%d/app/echo.php" % self.port
        p = self.curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f, url)
        self.assertEqual(p.returncode, 0, p.stderr)
        params = self.params(p.stdout)
        self.assertEqual(params["CONTENT_LENGTH"], str(len(data)))
        self.assertEqual(params["STDIN"], "%d %s" % (len(data), hashlib.sha256(data).hexdigest()))
        # "0\r\n\r\n": a body of length 0 (RFC 3875 §4.1.2: CONTENT_LENGTH is set with a body)
        r = self.raw_one(b"POST /app/echo.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n0\r\n\r\n")
        self.assertEqual(r.status, 200)
        params = self.params(r.body)
        self.assertEqual(params["CONTENT_LENGTH"], "0")
        self.assertEqual(params["STDIN"], "0 " + hashlib.sha256(b"").hexdigest())
        # and the pooled connection serves the next one (the spooled request ended cleanly)
        r, body = self.request("GET", "/app/status.php?200")
        self.assertEqual(r.status, 200)
        self.assertEqual(a.stats()["connections"], 1)

    def tmpfile_shim_env(self):
        """LD_PRELOAD of TMPFILE_SHIM; its log is self.tmpfile_log."""
        shim = os.path.join(self.tmp, "tmpfile_shim.so")
        with open(shim[:-3] + ".c", "w") as f:
            f.write(TMPFILE_SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, shim[:-3] + ".c"], check=True)
        self.tmpfile_log = os.path.join(self.tmp, "tmpfiles.log")
        env = {"LD_PRELOAD": shim, "TMPFILE_LOG": self.tmpfile_log}
        if procstat.ASAN:
            opts = os.environ.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
        return env

    def tmpfiles_created(self):
        try:
            with open(self.tmpfile_log) as f:
                lines = f.read().split()
        except FileNotFoundError:
            return {"loop": 0, "pool": 0}
        return {"loop": lines.count("loop"), "pool": lines.count("pool")}

    def test_body_file_created_on_the_pool(self):
        """Issue 21: no file is created on the event loop; the body's file is made by
        lib/spool on the core's thread pool, in order before its first write."""
        a = self.app()
        self.spool_dir = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool_dir)
        env = self.tmpfile_shim_env()
        env["TMPDIR"] = self.spool_dir
        self.start(self.config([{"address": a.addr}]), env=env)
        for size in (5, 600000):  # within lib/spool's first batch, and over it
            data = os.urandom(size)
            c = self.conn(timeout=30)
            c.request("POST", "/app/echo.php", body=iter([data[:size // 2], data[size // 2:]]), encode_chunked=True)
            r = c.getresponse()
            body = r.read()
            c.close()
            self.assertEqual(r.status, 200, body)
            self.assertEqual(self.params(body)["STDIN"], "%d %s" % (size, hashlib.sha256(data).hexdigest()))
        # the shim saw both files (it does intercept the server's opens), both made off the loop
        self.assertEqual(self.tmpfiles_created(), {"loop": 0, "pool": 2})

    def test_body_file_that_cannot_be_created_is_500(self):
        """TMPDIR is no folder: the pool's open fails, the answer is 500 and the
        application never hears of the request."""
        if harness.VALGRIND:
            self.skipTest("valgrind itself needs a TMPDIR it can write to")
        a = self.app()
        env = self.tmpfile_shim_env()
        env["TMPDIR"] = os.path.join(self.tmp, "no-such-folder")
        self.start(self.config([{"address": a.addr}]), env=env)
        r = self.raw_one(b"POST /app/echo.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(r.status, 500)
        self.assertEqual(a.stats()["requests"], 0)
        self.assertIn("cannot create a temporary file for the body", self.server.stderr())
        self.assertEqual(self.tmpfiles_created()["loop"], 0)
        self.assertGreaterEqual(self.tmpfiles_created()["pool"], 1)
        r, _ = self.request("GET", "/app/status.php?200")  # the worker goes on
        self.assertEqual(r.status, 200)

    def test_chunked_body_over_the_limit_is_413(self):
        a = self.app()
        self.start_spooling(a, max_body="1M")
        r = self.raw_one(b"POST /app/echo.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n" + b"%x\r\n%s\r\n" % (600000, b"a" * 600000) * 2 +
                         b"0\r\n\r\n")
        self.assertEqual(r.status, 413)
        self.assertEqual(a.stats()["requests"], 0)  # the application never heard of it
        self.assertTrue(harness.wait_for(lambda: self.spool_files_open() == 0, 5))
        # a body under the limit still goes through
        r = self.raw_one(b"POST /app/echo.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual((r.status, self.params(r.body)["CONTENT_LENGTH"]), (200, "5"))

    def test_client_leaving_mid_chunked_body_closes_the_file(self):
        a = self.app()
        self.start_spooling(a)
        s = socket.create_connection(("127.0.0.1", self.port))
        # more than lib/spool's batch (256 KiB): the file is created on the pool with the first batch
        s.sendall(b"POST /app/echo.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  (b"10000\r\n" + b"z" * 0x10000 + b"\r\n") * 5)
        self.assertTrue(harness.wait_for(lambda: self.spool_files_open() == 1, 5), "the body's file never opened")
        s.close()
        self.assertTrue(harness.wait_for(lambda: self.spool_files_open() == 0, 5), "the body's file stayed open")
        self.assertEqual(a.stats()["requests"], 0)
        self.assertEqual(self.spool_names(), [])
        r, _ = self.request("GET", "/app/status.php?200")  # the worker goes on
        self.assertEqual(r.status, 200)

    def test_spooled_body_goes_whole_to_the_next_server(self):
        """The first server takes part of the body and closes without answering: the body
        is still in its file, so an idempotent PUT goes again, whole, to the next server."""
        path = os.path.join(self.tmp, "closer.sock")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(8)
        self.addCleanup(ls.close)
        taken = []

        def closer():
            try:
                s, _ = ls.accept()
                n = 0
                while n < 200000:  # well into the body: several STDIN records went out
                    b = s.recv(65536)
                    if not b:
                        break
                    n += len(b)
                taken.append(n)
                s.close()
            except OSError:
                pass
        t = threading.Thread(target=closer, daemon=True)
        t.start()
        a = self.app()
        self.spool_dir = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool_dir)
        self.start(self.config([{"address": "unix:" + path}, {"address": a.addr}], max_fails=0),
                   env={"TMPDIR": self.spool_dir})
        data = os.urandom(2 * 1024 * 1024 + 3)
        c = self.conn(timeout=30)
        c.request("PUT", "/app/echo.php", body=iter([data[:1000000], data[1000000:]]), encode_chunked=True)
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200, body)
        self.assertTrue(taken and taken[0] >= 200000, "the first server was not tried: %r" % taken)
        p = self.params(body)
        self.assertEqual(p["CONTENT_LENGTH"], str(len(data)))
        self.assertEqual(p["STDIN"], "%d %s" % (len(data), hashlib.sha256(data).hexdigest()))
        self.assertIn("trying again", self.server.stderr())

    def test_large_response_to_a_slow_reader(self):
        a = self.app()
        self.start_with(a)
        n = 8 * 1024 * 1024
        c = self.conn(timeout=30)
        c.request("GET", "/app/big.php?%d" % n)
        r = c.getresponse()
        self.assertEqual(r.getheader("Content-Length"), str(n))
        got = hashlib.sha256()
        total = 0
        time.sleep(0.5)  # the application is far ahead: the server must stop reading it meanwhile
        while True:
            b = r.read(262144)
            if not b:
                break
            got.update(b)
            total += len(b)
        pattern = bytes(range(256)) * 256
        want = hashlib.sha256()
        for i in range(0, n, len(pattern)):
            want.update(pattern[:min(len(pattern), n - i)])
        self.assertEqual(total, n)
        self.assertEqual(got.hexdigest(), want.hexdigest())

    def test_status_and_errors(self):
        a = self.app()
        self.start_with(a, max_fails=0)  # these failures must not take the server out here
        r, body = self.request("GET", "/app/status.php?418%20Teapot")
        self.assertEqual((r.status, body), (418, b"status page\n"))
        for script in ("garbage.php", "nohead.php", "noend.php"):
            r, _ = self.request("GET", "/app/" + script)
            self.assertEqual(r.status, 502, script)
        r, _ = self.request("GET", "/app/missing.php")
        self.assertEqual(r.status, 404)
        # The application keeps working afterwards.
        r, _ = self.request("GET", "/app/status.php?201")
        self.assertEqual(r.status, 201)

    def test_passive_health(self):
        a = self.app()
        self.start_with(a, max_fails=2, fail_timeout=1)
        for i in range(2):
            r, _ = self.request("GET", "/app/garbage.php")
            self.assertEqual(r.status, 502)
        r, _ = self.request("GET", "/app/status.php?200")
        self.assertEqual(r.status, 502)  # out of service for fail_timeout
        self.assertEqual(a.stats()["requests"], 2)
        time.sleep(1.2)
        r, _ = self.request("GET", "/app/status.php?200")
        self.assertEqual(r.status, 200)
        self.assertIn("failed 2 times: out of service", self.server.stderr())

    def test_application_dies_mid_body(self):
        a = self.app()
        self.start_with(a)
        c = self.conn()
        c.request("GET", "/app/die.php")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assert_cut_short(r, 100000)

    def test_stderr_goes_to_the_error_log(self):
        a = self.app()
        self.start_with(a)
        r, body = self.request("GET", "/app/stderr.php")
        self.assertEqual((r.status, body), (200, b"ok\n"))
        self.assertTrue(harness.wait_for(lambda: "second problem" in self.server.stderr(), 5))
        self.assertIn("first problem", self.server.stderr())

    def test_read_timeout_is_504(self):
        a = self.app()
        self.start(self.config([{"address": a.addr}], timeouts={"connect": 1, "send": 1, "read": 0.5}))
        r, _ = self.request("GET", "/app/slow.php?3")
        self.assertEqual(r.status, 504)

    def test_client_leaving_aborts_the_request(self):
        a = self.app()
        self.start_with(a)
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /app/slow.php?5 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(harness.wait_for(lambda: a.stats()["requests"] == 1, 5))
        s.close()
        self.assertTrue(harness.wait_for(lambda: a.stats()["aborts"] == 1, 5), a.stats())

    def test_keepalive_pool_reuses_connections(self):
        a = self.app()
        self.start_with(a, keepalive=4)
        for i in range(20):
            r, _ = self.request("GET", "/app/status.php?200")
            self.assertEqual(r.status, 200)
        self.assertEqual(a.stats()["requests"], 20)
        self.assertEqual(a.stats()["connections"], 1)

    def server_nodelay_to(self, port):
        """TCP_NODELAY of each of the server's sockets connected to 127.0.0.1:port, read on a
        copy of the socket (pidfd_getfd, Linux 5.6); None where the kernel's ptrace rules refuse."""
        libc = ctypes.CDLL(None, use_errno=True)
        flags = []
        for pid in proctree.descendants(self.server.proc.pid):
            inodes = set()
            try:
                with open("/proc/%d/net/tcp" % pid) as f:
                    for line in f.readlines()[1:]:
                        x = line.split()
                        if int(x[2].split(":")[1], 16) == port and x[3] == "01":  # ESTABLISHED
                            inodes.add(x[9])
                fds = os.listdir("/proc/%d/fd" % pid)
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if not (link.startswith("socket:[") and link[8:-1] in inodes):
                    continue
                pidfd = os.pidfd_open(pid)
                try:
                    copy = libc.syscall(438, pidfd, int(fd), 0)  # SYS_pidfd_getfd
                finally:
                    os.close(pidfd)
                if copy < 0:
                    return None
                with socket.socket(fileno=copy) as s:
                    flags.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return flags

    def test_tcp_upstream_has_no_nagle(self):
        """Over TCP a request goes out in pieces (BEGIN_REQUEST and the params, then STDIN
        records as the body comes). With Nagle's algorithm on, a pooled connection's next small
        piece waits in the server for the application's delayed ACK of the head (~40 ms a
        request here before the fix): the server's sockets to the application set TCP_NODELAY."""
        ap = harness.free_port()
        a = self.app(addr="127.0.0.1:%d" % ap)
        self.start_with(a, keepalive=4)
        c = self.conn(timeout=10)
        took = []
        for i in range(20):
            t = time.monotonic()
            c.request("POST", "/app/echo.php", body=b"x" * 10, headers={"Content-Type": "text/plain"})
            r = c.getresponse()
            body = r.read()
            took.append(time.monotonic() - t)
            self.assertEqual(r.status, 200, body)
            self.assertEqual(self.params(body)["STDIN"], "10 " + hashlib.sha256(b"x" * 10).hexdigest())
        self.assertEqual(a.stats()["connections"], 1)  # one pooled connection carried them all
        flags = self.server_nodelay_to(ap)
        if flags is not None:
            self.assertEqual(flags, [1])
        elif not harness.VALGRIND:
            # the socket cannot be read here: the time tells (a delayed ACK is >= 40 ms)
            self.assertLess(statistics.median(took), 0.030, took)

    def test_no_pool_with_keepalive_zero(self):
        a = self.app()
        self.start_with(a, keepalive=0)
        for i in range(5):
            r, _ = self.request("GET", "/app/status.php?200")
            self.assertEqual(r.status, 200)
        self.assertEqual(a.stats()["connections"], 5)

    def test_pooled_connection_closed_by_the_application(self):
        a = self.app()
        self.start_with(a, keepalive=4)
        r, _ = self.request("GET", "/app/status.php?200")
        self.assertEqual(r.status, 200)
        # die.php makes the application close a connection; the pooled one stays
        # usable or is replaced: every later request still succeeds.
        for i in range(5):
            r, _ = self.request("GET", "/app/status.php?200")
            self.assertEqual(r.status, 200)

    def test_weighted_round_robin_shares(self):
        a, b = self.app("a"), self.app("b")
        self.start(self.config([{"address": a.addr, "weight": 3}, {"address": b.addr, "weight": 1}]))
        seen = []
        for i in range(40):
            r, body = self.request("GET", "/app/who.php")
            self.assertEqual(r.status, 200)
            seen.append(body.decode())
        self.assertEqual(seen.count("a0"), 30, seen)
        self.assertEqual(seen.count("b1"), 10, seen)

    def test_failover_to_a_live_server(self):
        dead = "127.0.0.1:%d" % harness.free_port()
        a = self.app("live")
        self.start(self.config([{"address": dead}, {"address": a.addr}], max_fails=1, fail_timeout=30))
        for i in range(6):
            r, body = self.request("GET", "/app/who.php")
            self.assertEqual((r.status, body), (200, b"live0"))
        # max_fails 1: the dead server was tried once, then left out of service.
        self.assertEqual(self.server.stderr().count("connect to " + dead), 1, self.server.stderr())

    def test_no_server_reachable_is_502(self):
        dead = "unix:" + os.path.join(self.tmp, "nobody.sock")
        self.start(self.config([{"address": dead}]))
        r, _ = self.request("GET", "/app/who.php")
        self.assertEqual(r.status, 502)

    def test_config_errors(self):
        cfg = self.config([{"address": "127.0.0.1:1"}], {"upstream": "other"})
        s = harness.Server(cfg, self.tmp)
        p = subprocess.run([harness.BIN, "-t", s.config_path], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("servers[0].locations[1].fastcgi.upstream: no upstream \"other\"", p.stderr)
        cfg = self.config([{"address": "127.0.0.1:1"}])
        del cfg["servers"][0]["locations"][1]["fastcgi"]["upstream"]
        s = harness.Server(cfg, self.tmp)
        p = subprocess.run([harness.BIN, "-t", s.config_path], capture_output=True, text=True)
        self.assertIn("fastcgi.upstream: required", p.stderr)


PHP_INFO = r"""<?php
header("X-From: php");
echo "method=", $_SERVER["REQUEST_METHOD"], "\n";
echo "script=", $_SERVER["SCRIPT_NAME"], "\n";
echo "path_info=", $_SERVER["PATH_INFO"] ?? "", "\n";
echo "query=", $_GET["q"] ?? "", "\n";
echo "post=", $_POST["field"] ?? "", "\n";
echo "raw=", strlen(file_get_contents("php://input")), "\n";
"""

PHP_CODE = r"""<?php
http_response_code(404);
echo "not here";
"""

PHP_REDIRECT = r"""<?php
header("Location: /elsewhere");
"""


@unittest.skipUnless(PHP_FPM, "php-fpm is not installed (Debian package php-fpm; scripts/install-deps.sh)")
class PhpFpmTest(harness.ServerTestCase):
    modules = ["fastcgi", "static"]

    def setUp(self):
        super().setUp()
        self.write("php/info.php", PHP_INFO)
        self.write("php/code.php", PHP_CODE)
        self.write("php/redirect.php", PHP_REDIRECT)
        self.write("php/dir/index.php", "<?php echo 'index of dir';\n")
        fpm = os.path.join(self.tmp, "fpm")
        os.makedirs(fpm)
        self.sock = os.path.join(fpm, "php.sock")
        conf = os.path.join(fpm, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write("[global]\npid = %s/fpm.pid\nerror_log = %s/fpm.log\ndaemonize = no\n"
                    "[www]\nlisten = %s\npm = static\npm.max_children = 2\n"
                    "clear_env = yes\n" % (fpm, fpm, self.sock))
            if os.geteuid() == 0:  # php-fpm wants a user for a pool started by root (-R allows root)
                f.write("user = root\ngroup = root\n")
        self.fpm = subprocess.Popen([PHP_FPM, "-n", "-y", conf, "-F"] + (["-R"] if os.geteuid() == 0 else []), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        if not harness.wait_for(lambda: os.path.exists(self.sock), 10):
            self.fpm.kill()
            raise RuntimeError("php-fpm did not start: %s" % self.fpm.stderr.read().decode())
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/php", "index": ["index.php"], "fastcgi": {"upstream": "php"}, "static": {}},
        ])
        cfg["upstreams"] = {"php": {"servers": [{"address": "unix:" + self.sock}], "keepalive": 2}}
        self.start(cfg)

    def tearDown(self):
        self.fpm.terminate()
        self.fpm.stderr.close()
        try:
            self.fpm.wait(5)
        except subprocess.TimeoutExpired:
            self.fpm.kill()
            self.fpm.wait()
        super().tearDown()

    def test_page_query_and_path_info(self):
        r, body = self.request("GET", "/php/info.php/more/path?q=hello")
        self.assertEqual(r.status, 200, body)
        self.assertEqual(r.getheader("X-From"), "php")
        self.assertIn("text/html", r.getheader("Content-Type"))
        text = body.decode()
        self.assertIn("method=GET\n", text)
        self.assertIn("script=/php/info.php\n", text)
        self.assertIn("path_info=/more/path\n", text)
        self.assertIn("query=hello\n", text)

    def test_post_form(self):
        data = b"field=posted+value&other=" + b"x" * 200000
        r, body = self.request("POST", "/php/info.php", body=data,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, body)
        self.assertIn(b"post=posted value\n", body)
        self.assertIn(b"raw=%d\n" % len(data), body)

    def test_status_redirect_and_index(self):
        r, body = self.request("GET", "/php/code.php")
        self.assertEqual((r.status, body), (404, b"not here"))
        r, _ = self.request("GET", "/php/redirect.php")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.getheader("Location"), "/elsewhere")
        r, body = self.request("GET", "/php/dir/")
        self.assertEqual((r.status, body), (200, b"index of dir"))

    def test_chunked_post_read_by_php(self):
        data = b"field=chunked+value&other=" + b"y" * 300000
        c = self.conn(timeout=30)
        c.request("POST", "/php/info.php", body=iter([data[:1000], data[1000:]]), encode_chunked=True,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200, body)
        self.assertIn(b"post=chunked value\n", body)
        self.assertIn(b"raw=%d\n" % len(data), body)

    def test_many_requests_over_the_pool(self):
        for i in range(30):
            r, body = self.request("GET", "/php/info.php?q=%d" % i)
            self.assertEqual(r.status, 200)
            self.assertIn(b"query=%d\n" % i, body)


if __name__ == "__main__":
    harness.main()

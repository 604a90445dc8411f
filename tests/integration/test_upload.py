"""SPEC §5 upload through the real server: PUT, POST (raw and multipart),
DELETE, atomicity (no temporary file after an error, an abort or a 413), a
binary chunked POST (regression), a 1 GiB streamed PUT in bounded memory, and
20 concurrent uploads."""
import hashlib
import http.client
import json
import os
import socket
import struct
import threading
import time

import harness
import procstat
import straced

MiB = 1024 * 1024
# Sizes are scaled down (never the checks) under ASan and valgrind.
SMALL = procstat.ASAN or procstat.VALGRIND
BIG_UPLOAD = (256 if SMALL else 1024) * MiB
CONCURRENT, CONCURRENT_SIZE = 20, (4 if SMALL else 20) * MiB
# Peak RSS growth allowed while a big body streams to disk.
RSS_BOUND = 8 * MiB

BOUNDARY = "--------------------------631254724589857935214018"
SCRIPT = (b"#!/usr/bin/env python3\nimport cgi\r\n\r\nprint('--" + BOUNDARY.encode() +
          b"')\nfor i in range(3):\n    print(i)\r\n")


def takes_reserve(folder):
    """Whether folder's file system takes O_DIRECT writes and reserves blocks (ext4, xfs):
    only then does the spool reserve a big upload's blocks ahead (lib/spool)."""
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_DIRECT)
    except OSError:
        return False
    try:
        os.posix_fallocate(fd, 0, 4096)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def chunks(data, size=64 * 1024):
    """data as HTTP/1.1 chunks (RFC 9112 §7.1), without the last chunk."""
    return b"".join(b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n"
                    for i in range(0, len(data), size))


def put_chunked(port, path, data):
    """PUT data with Transfer-Encoding: chunked; the response and its body."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request("PUT", path, body=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]),
                  encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        return r, r.read()
    finally:
        c.close()


def blocks_past_size(path):
    """The bytes of blocks a file holds past its size rounded up to whole blocks: a reserve
    left in it (st_blocks counts 512-byte units)."""
    st = os.stat(path)
    return st.st_blocks * 512 - (st.st_size + 4095) // 4096 * 4096


def form(parts, boundary=BOUNDARY, final=True):
    """parts: (name, filename or None, bytes)."""
    out = b""
    for name, filename, data in parts:
        out += b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"" + name.encode() + b"\""
        if filename is not None:
            out += b"; filename=\"" + filename.encode() + b"\""
        out += b"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    if final:
        out += b"--" + boundary.encode() + b"--\r\n"
    return out


class UploadTest(harness.ServerTestCase):
    modules = ["static", "autoindex", "upload"]

    def setUp(self):
        super().setUp()
        self.up = os.path.join(self.root, "uploads")
        os.makedirs(os.path.join(self.up, "sub"))
        os.makedirs(os.path.join(self.root, "file"))
        os.makedirs(os.path.join(self.root, "big"))
        self.start(locations=[
            {"path": "/", "static": {}},
            {"path": "/uploads", "methods": ["GET", "HEAD", "POST", "PUT", "DELETE"],
             "static": {}, "autoindex": {}, "upload": {}, "client_max_body_size": "64K"},
            {"path": "/file", "static": {}, "upload": {}},
            {"path": "/big", "upload": {}, "client_max_body_size": 0},
        ])

    def read(self, rel):
        with open(os.path.join(self.up, rel), "rb") as f:
            return f.read()

    def temps(self):
        found = []
        for d, _, files in os.walk(self.root):
            found += [os.path.join(d, f) for f in files if f.startswith(".upload-")]
        return found

    def post_form(self, path, body, accept=None, boundary=BOUNDARY):
        h = {"Content-Type": "multipart/form-data; boundary=" + boundary}
        if accept:
            h["Accept"] = accept
        return self.request("POST", path, body=body, headers=h)

    # ---- raw bodies ----

    def test_killed_mid_upload_leaves_no_temporary_file(self):
        """A server killed in the middle of an upload (SIGKILL, a crash, the power) leaves no
        temporary file in the folder: it is unnamed (O_TMPFILE) until complete."""
        big = os.path.join(self.root, "big")

        def open_in_big():
            return any(t.startswith(big + "/") for t in harness.fd_targets(self.server.proc.pid))

        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"PUT /big/killed.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * MiB))
        s.sendall(os.urandom(MiB))
        self.assertTrue(harness.wait_for(open_in_big), "the upload's file never opened")
        self.server.proc.kill()
        self.server.proc.wait()
        self.server.expect_nonzero = True
        s.close()
        self.assertEqual(self.temps(), [])
        self.assertEqual(os.listdir(big), [])

    def test_put_creates_then_replaces(self):
        r, _ = self.request("PUT", "/uploads/a%20b.txt", body=b"one")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.getheader("Location"), "/uploads/a%20b.txt")
        r, data = self.request("GET", "/uploads/a%20b.txt")
        self.assertEqual((r.status, data), (200, b"one"))
        r, data = self.request("PUT", "/uploads/a%20b.txt", body=b"two!")
        self.assertEqual((r.status, data), (204, b""))
        self.assertEqual(self.read("a b.txt"), b"two!")
        self.assertEqual(self.temps(), [])

    def test_put_chunked(self):
        c = self.conn()
        c.request("PUT", "/uploads/sub/chunked.bin", body=iter([b"abc", b"", b"defgh" * 1000]),
                  encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 201)
        self.assertEqual(self.read("sub/chunked.bin"), b"abc" + b"defgh" * 1000)

    def test_put_chunked_big_keeps_no_reserve(self):
        """A chunked body of a few MiB goes around the page cache with its blocks reserved
        64 MiB ahead (the trace test below sees it); the stored file is cut to the body's
        bytes: its size is the body's, and it holds no block past them."""
        data = os.urandom(6 * MiB + 12345)
        r, _ = put_chunked(self.port, "/big/chunked.bin", data)
        self.assertEqual(r.status, 201)
        path = os.path.join(self.root, "big", "chunked.bin")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.path.getsize(path), len(data))
        self.assertLessEqual(blocks_past_size(path), 0, os.stat(path))
        self.assertEqual(self.temps(), [])

    def test_chunked_client_gone_mid_body_keeps_nothing(self):
        """A chunked upload the client leaves mid-body, its blocks reserved far past what
        came: no file, no temporary one, and the worker lets go of it (the unnamed file and
        its reserve are freed with its last descriptor)."""
        big = os.path.join(self.root, "big")
        pid = self.server.proc.pid

        def sizes_in_big():
            out = []
            for fd, target in harness.fd_links(pid):
                if target.startswith(big + "/"):
                    try:
                        out.append(os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size)
                    except FileNotFoundError:
                        pass
            return out

        sent = 4 * MiB
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"PUT /big/left.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  chunks(os.urandom(sent)))
        if takes_reserve(big):  # the reserve is there to be dropped: the file is longer than what came
            self.assertTrue(harness.wait_for(lambda: any(n > sent for n in sizes_in_big()), 20 * harness.SLOW),
                            "no reserve past the bytes: %r" % sizes_in_big())
        else:
            self.assertTrue(harness.wait_for(sizes_in_big, 20 * harness.SLOW), "the upload's file never opened")
        s.close()
        self.assertTrue(harness.wait_for(lambda: not sizes_in_big(), 20 * harness.SLOW), sizes_in_big())
        self.assertEqual(os.listdir(big), [])
        self.assertEqual(self.temps(), [])
        self.assertEqual(self.request("GET", "/uploads/")[0].status, 200)  # the worker serves on

    def test_post_raw(self):
        r, _ = self.request("POST", "/uploads/new.txt", body=b"first")
        self.assertEqual(r.status, 201)
        r, _ = self.request("POST", "/uploads/new.txt", body=b"second")
        self.assertEqual(r.status, 409)
        self.assertEqual(self.read("new.txt"), b"first")

    def test_refusals(self):
        self.assertEqual(self.request("PUT", "/uploads/none/x", body=b"x")[0].status, 409)
        self.assertEqual(self.request("PUT", "/uploads/sub/", body=b"x")[0].status, 409)
        self.assertEqual(self.request("PUT", "/uploads/bad%01", body=b"x")[0].status, 400)
        self.assertFalse(os.path.exists(os.path.join(self.up, "none")))
        self.assertEqual(self.temps(), [])

    def test_expect_continue(self):
        out = self.raw(b"PUT /uploads/cont.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       b"Expect: 100-continue\r\nConnection: close\r\n\r\nhello")
        rs = harness.parse_responses(out)
        self.assertEqual(rs[-1].status, 201)
        self.assertEqual(self.read("cont.txt"), b"hello")

    # ---- multipart ----

    def test_multipart_regression_form_py(self):
        body = form([("", "form.py", SCRIPT), ("note", None, b"ignored"), ("f", "two.txt", b"2")])
        r, data = self.post_form("/uploads/", body)
        self.assertEqual(r.status, 201, data)
        self.assertEqual(r.getheader("Location"), "/uploads/")
        self.assertIn(b"form.py", data)
        self.assertEqual(self.read("form.py"), SCRIPT)
        self.assertEqual(self.read("two.txt"), b"2")
        self.assertFalse(os.path.exists(os.path.join(self.up, "note")))

    def test_multipart_json(self):
        r, data = self.post_form("/uploads/sub/", form([("x", "j.txt", b"json")]), accept="application/json")
        self.assertEqual(r.status, 201)
        self.assertEqual(json.loads(data), [{"name": "j.txt", "size": 4, "url": "/uploads/sub/j.txt"}])

    def test_multipart_with_curl(self):
        src = os.path.join(self.tmp, "curl-src.bin")
        with open(src, "wb") as f:
            f.write(bytes(range(256)) * 40)
        p = self.curl("-F", "file=@%s;filename=from-curl.bin" % src, "-w", "%{http_code}", "-o", "/dev/null",
                      "http://127.0.0.1:%d/uploads/" % self.port)
        self.assertEqual(p.stdout, b"201", p.stderr)
        self.assertEqual(self.read("from-curl.bin"), bytes(range(256)) * 40)

    def test_multipart_to_folder_without_slash(self):
        """SPEC §5: an HTML form's action="/uploads" (no trailing slash) works."""
        r, data = self.post_form("/uploads", form([("", "noslash.txt", b"ns")]))
        self.assertEqual(r.status, 201, data)
        self.assertEqual(r.getheader("Location"), "/uploads/")
        self.assertEqual(self.read("noslash.txt"), b"ns")
        p = self.curl("-F", "f=@%s;filename=sub-curl.txt" % self.write("src.txt", "from curl\n"), "-w", "%{http_code}",
                      "-o", "/dev/null", "http://127.0.0.1:%d/uploads/sub" % self.port)
        self.assertEqual(p.stdout, b"201", p.stderr)
        self.assertEqual(self.read("sub/sub-curl.txt"), b"from curl\n")
        self.assertEqual(self.temps(), [])

    def test_post_to_folder_with_another_body_type_is_415(self):
        """SPEC §5: 415 with Accept-Post, nothing stored, the connection still usable."""
        c = self.conn()
        for path in ("/uploads", "/uploads/", "/uploads/sub"):
            for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
                h = {"Content-Type": ctype} if ctype else {}
                c.request("POST", path, body=b"a=1&b=2", headers=h)
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 415, (path, ctype))
                self.assertEqual(r.getheader("Accept-Post"), "multipart/form-data")
        c.request("GET", "/uploads/sub/")
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        self.assertEqual(sorted(os.listdir(self.up)), ["sub"])
        self.assertEqual(self.temps(), [])

    def test_multipart_bad_name_or_existing_stores_nothing(self):
        for bad in ("../evil", "a/b", "..", "", "a\\\\b"):
            body = form([("a", "good.txt", b"good"), ("b", bad, b"bad")])
            r, _ = self.post_form("/uploads/", body)
            self.assertEqual(r.status, 400, bad)
        with open(os.path.join(self.up, "taken.txt"), "wb") as f:
            f.write(b"orig")
        r, _ = self.post_form("/uploads/", form([("a", "good.txt", b"good"), ("b", "taken.txt", b"new")]))
        self.assertEqual(r.status, 409)
        self.assertEqual(sorted(os.listdir(self.up)), ["sub", "taken.txt"])
        self.assertEqual(self.read("taken.txt"), b"orig")
        self.assertEqual(self.temps(), [])

    def test_multipart_truncated(self):
        r, _ = self.post_form("/uploads/", form([("a", "cut.txt", b"data")], final=False))
        self.assertEqual(r.status, 400)
        self.assertEqual(sorted(os.listdir(self.up)), ["sub"])

    # ---- limits and aborts ----

    def test_too_large_leaves_nothing(self):
        with open(os.path.join(self.up, "big.txt"), "wb") as f:
            f.write(b"old")
        r, _ = self.request("PUT", "/uploads/big.txt", body=b"x" * (65 * 1024))
        self.assertEqual(r.status, 413)
        c = self.conn()
        try:
            # The 413 and the close may come while the client is still sending.
            c.request("PUT", "/uploads/big.txt", body=iter([b"y" * 8192] * 10), encode_chunked=True,
                      headers={"Transfer-Encoding": "chunked"})
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 413)
        except (ConnectionError, BrokenPipeError):
            pass
        c.close()
        time.sleep(0.2)
        self.assertEqual(self.read("big.txt"), b"old")
        self.assertEqual(self.temps(), [])

    def test_client_gone_mid_body(self):
        with open(os.path.join(self.up, "keep.txt"), "wb") as f:
            f.write(b"precious")
        for path in (b"/uploads/keep.txt", b"/uploads/never.txt"):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"PUT " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" + b"z" * 20000)
            time.sleep(0.2)
            s.close()
        body = form([("a", "one.txt", b"1" * 30000)])
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"POST /uploads/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
                  BOUNDARY.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:-100])
        time.sleep(0.2)
        s.close()
        deadline = time.time() + 5
        while self.temps() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.temps(), [])
        self.assertEqual(self.read("keep.txt"), b"precious")
        self.assertEqual(sorted(os.listdir(self.up)), ["keep.txt", "sub"])

    # ---- DELETE ----

    def test_delete(self):
        with open(os.path.join(self.up, "gone.txt"), "wb") as f:
            f.write(b"x")
        with open(os.path.join(self.up, "sub", "inner"), "wb") as f:
            f.write(b"x")
        self.assertEqual(self.request("DELETE", "/uploads/gone.txt")[0].status, 204)
        self.assertEqual(self.request("DELETE", "/uploads/gone.txt")[0].status, 404)
        self.assertEqual(self.request("DELETE", "/uploads/sub/")[0].status, 409)
        os.unlink(os.path.join(self.up, "sub", "inner"))
        self.assertEqual(self.request("DELETE", "/uploads/sub/")[0].status, 204)
        self.assertFalse(os.path.exists(os.path.join(self.up, "sub")))


    def test_client_leaves_mid_delete(self):
        """Clients that send a DELETE and go at once, while it runs on the thread pool (or
        before or after): nothing leaks (the worker's descriptors come back to their count;
        valgrind's leak check in leaks/test_upload-delete), every file is either gone or
        whole, and the worker answers the next DELETE."""
        fd_dir = "/proc/%d/fd" % self.server.proc.pid

        def sockets():
            return sum(t.startswith("socket:") for t in harness.fd_targets(self.server.proc.pid))
        listening = sockets()
        self.assertEqual(self.request("DELETE", "/uploads/none.txt")[0].status, 404)  # the pool is up (its eventfd)
        self.assertTrue(harness.wait_for(lambda: sockets() == listening))  # that connection closed
        before = len(os.listdir(fd_dir))
        n = 40
        for i in range(n):
            with open(os.path.join(self.up, "d%d.txt" % i), "wb") as f:
                f.write(b"x")
        socks = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"DELETE /uploads/d%d.txt HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            socks.append(s)
        for s in socks:
            s.close()
        self.assertTrue(harness.wait_for(lambda: len(os.listdir(fd_dir)) == before, timeout=10 * harness.SLOW),
                        "descriptors: %d before, %d now" % (before, len(os.listdir(fd_dir))))
        for i in range(n):  # a DELETE may still be on the pool: each file is whole or gone
            try:
                self.assertEqual(self.read("d%d.txt" % i), b"x")
            except FileNotFoundError:
                pass
        self.assertEqual(self.request("DELETE", "/uploads/sub/")[0].status, 204)
        self.assertFalse(os.path.exists(os.path.join(self.up, "sub")))

    # ---- regressions and big bodies ----

    def test_post_chunked_binary_regression(self):
        """POST /file/a.cpp with a binary chunked body was stored empty, with a 500."""
        body = bytes(range(256)) * 64 + b"\r\n0\r\n\r\n\x00--" + os.urandom(50000)
        pieces = [body[i:i + 7001] for i in range(0, len(body), 7001)]
        req = (b"POST /file/a.cpp HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for p in pieces:
            req += b"%x\r\n" % len(p) + p + b"\r\n"
        req += b"0\r\n\r\n"
        resp = self.raw_one(req, timeout=10)
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual(resp.header("Location"), "/file/a.cpp")
        with open(os.path.join(self.root, "file/a.cpp"), "rb") as f:
            self.assertEqual(f.read(), body)
        # The same through curl (which chunks a body it reads from stdin).
        p = self.curl("-o", "/dev/null", "-w", "%{http_code}",
                      "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: text/x-c++src",
                      "--data-binary", "@-", "http://127.0.0.1:%d/file/b.cpp" % self.port, input=body)
        self.assertEqual(p.stdout, b"201", p.stderr)
        with open(os.path.join(self.root, "file/b.cpp"), "rb") as f:
            self.assertEqual(f.read(), body)
        r, data = self.request("GET", "/file/a.cpp")
        self.assertEqual((r.status, data), (200, body))
        self.assertEqual(self.temps(), [])

    def test_huge_streamed_upload_memory(self):
        """A 1 GiB PUT streams to disk: byte-exact, and the server's RSS barely moves."""
        pid = self.server.proc.pid
        self.assertEqual(self.request("PUT", "/big/warmup", body=os.urandom(2 * MiB))[0].status, 201)
        base = bytearray(os.urandom(MiB))
        sent = hashlib.sha256()

        def pieces():
            for i in range(BIG_UPLOAD // MiB):
                struct.pack_into("<Q", base, (i * 8) % (MiB - 8), i)  # every piece differs
                piece = bytes(base)
                sent.update(piece)
                yield piece

        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        t0 = time.monotonic()
        with procstat.RssSampler(pid) as rss:
            c.request("PUT", "/big/huge.bin", body=pieces(), headers={"Content-Length": str(BIG_UPLOAD)})
            r = c.getresponse()
            r.read()
        elapsed = time.monotonic() - t0
        c.close()
        self.assertEqual(r.status, 201)
        got = hashlib.sha256()
        path = os.path.join(self.root, "big/huge.bin")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(4 * MiB), b""):
                got.update(block)
        size = os.path.getsize(path)
        os.unlink(path)
        print("\n  %d MiB PUT in %.1fs: server peak RSS growth %.2f MiB (bound %d MiB)"
              % (BIG_UPLOAD // MiB, elapsed, rss.growth() / MiB, RSS_BOUND // MiB))
        self.assertEqual(size, BIG_UPLOAD)
        self.assertEqual(got.hexdigest(), sent.hexdigest())
        self.assertLess(rss.growth(), RSS_BOUND)
        self.assertEqual(self.temps(), [])

    def test_concurrent_uploads(self):
        """20 uploads at once, distinct names and random content, all byte-exact."""
        datas = {"c%02d-%s.bin" % (i, os.urandom(4).hex()): os.urandom(CONCURRENT_SIZE) for i in range(CONCURRENT)}
        results, start = {}, threading.Barrier(CONCURRENT)

        def one(name, data):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                start.wait(10)
                method = "PUT" if int(name[1:3]) % 2 else "POST"
                c.request(method, "/big/" + name, body=data)
                r = c.getresponse()
                r.read()
                c.close()
                results[name] = r.status
            except Exception as e:  # noqa: BLE001 - reported below
                results[name] = repr(e)

        t0 = time.monotonic()
        threads = [threading.Thread(target=one, args=item) for item in datas.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        print("\n  %d concurrent uploads of %d MiB in %.1fs"
              % (CONCURRENT, CONCURRENT_SIZE // MiB, time.monotonic() - t0))
        self.assertEqual(results, {name: 201 for name in datas})
        for name, data in datas.items():
            with open(os.path.join(self.root, "big", name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest(), name)
        self.assertEqual(self.temps(), [])


class ChunkedReserveTest(harness.ServerTestCase):
    """A chunked body's file has its blocks reserved ahead (fallocate) and is cut to its
    bytes at the end (ftruncate), both on the offload pool, never on the event loop: seen
    in the worker's system calls under strace, thread by thread."""
    modules = ["upload"]

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def test_reserved_and_cut_on_the_pool(self):
        big = os.path.join(self.root, "big")
        os.makedirs(big)
        if not takes_reserve(big):
            self.skipTest("the file system under %s has no O_DIRECT or fallocate: nothing is reserved" % big)
        trace = straced.start(self, "fallocate,ftruncate", locations=[
            {"path": "/big", "upload": {}, "client_max_body_size": 0}])
        loop_tid = straced.loop_tid(self)
        started = len(straced.lines(trace))
        data = os.urandom(4 * MiB + 1234)
        r, _ = put_chunked(self.port, "/big/traced.bin", data)
        self.assertEqual(r.status, 201)
        path = os.path.join(big, "traced.bin")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertLessEqual(blocks_past_size(path), 0, os.stat(path))
        lines = straced.lines(trace)[started:]
        print("\n  %d-byte chunked PUT: %s" % (len(data), "; ".join(lines)))
        on_loop = straced.count(lines, r"^%d\s+(fallocate|ftruncate)\(" % loop_tid)
        reserves = straced.count(lines, r"^(?!%d\s)\d+\s+fallocate\(\d+, 0, 0, \d+\)\s+= 0" % loop_tid)
        cuts = straced.count(lines, r"^(?!%d\s)\d+\s+ftruncate\(\d+, %d\)\s+= 0" % (loop_tid, len(data)))
        self.assertEqual(on_loop, 0, lines)
        self.assertEqual(reserves, 1, lines)  # one stretch of 64 MiB covers 4 MiB
        self.assertEqual(cuts, 1, lines)


class HugeBuffersOffLoopTest(harness.ServerTestCase):
    """Issue 21: a big body is copied into huge-page buffers (lib/spool). Their
    mapping and the first touch of their pages (the kernel zeroes 2 MiB each: where
    a virtual machine's host has not backed that memory yet, 19-27 ms that a static
    GET beside the upload waited) happen on the offload pool, in the upload's start,
    never on the event loop: seen thread by thread under strace, for a body with a
    length and a chunked one."""
    modules = ["upload"]

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def test_huge_buffers_made_on_the_pool(self):
        os.makedirs(os.path.join(self.root, "big"))
        trace = straced.start(self, "madvise", locations=[
            {"path": "/big", "upload": {}, "client_max_body_size": 0}])
        loop_tid = straced.loop_tid(self)
        # A call that strace split in two halves is one line again (straced.lines).
        huge = r"madvise\(0x[0-9a-f]+, 2097152, MADV_HUGEPAGE\) = 0$"
        for name, chunked in (("length.bin", False), ("chunked.bin", True)):
            started = len(straced.lines(trace))
            data = os.urandom(4 * MiB + 4321)
            if chunked:
                r, _ = put_chunked(self.port, "/big/" + name, data)
            else:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                c.request("PUT", "/big/" + name, body=data)
                r = c.getresponse()
                r.read()
                c.close()
            self.assertEqual(r.status, 201, name)
            with open(os.path.join(self.root, "big", name), "rb") as f:
                self.assertEqual(f.read(), data, name)
            lines = straced.lines(trace)[started:]
            on_loop = straced.count(lines, r"^%d\s+madvise\(.*MADV_HUGEPAGE" % loop_tid)
            on_pool = straced.count(lines, r"^(?!%d\s)\d+\s+%s" % (loop_tid, huge))
            self.assertEqual(on_loop, 0, lines)
            self.assertEqual(on_pool, 3, lines)  # SPOOL_BATCHES buffers, made once, before the body


class BodyReadsTest(harness.ServerTestCase):
    """Issue 21: a big body is read from the socket in pieces of up to 256 KiB
    (a buffer of its own while it streams, h1/conn.c BODY_RBUF) instead of
    the 32 KiB read buffer: 8x fewer reads, epoll waits and on_body calls per
    MiB. Only the body's bytes go into that buffer: a request pipelined
    right behind the body is answered as before. Counted by the read()
    calls' own size argument under strace (not their results, which depend
    on how fast the client is)."""
    modules = ["static", "upload"]

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.root, "big"))
        self.write("small.txt", b"s" * 100)
        self.trace = straced.start(self, "read", locations=[
            {"path": "/", "static": {}},
            {"path": "/big", "upload": {}, "client_max_body_size": 0},
        ])

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def put_then_get(self, name, body):
        """PUT body and, in the same send, a GET right behind it; both answers."""
        return self.raw(b"PUT /big/" + name.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                        + body + b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout=60)

    def big_reads(self):
        return straced.count(straced.lines(self.trace), r"\bread\(\d+, .*, 262144\) = ")

    def test_big_body_read_in_big_pieces(self):
        body = bytes(range(256)) * (8 * MiB // 256)
        data = self.put_then_get("eight.bin", body)
        self.assertTrue(data.startswith(b"HTTP/1.1 201 "), data[:80])
        self.assertTrue(data.endswith(b"\r\n\r\n" + b"s" * 100), data[-200:])  # the pipelined GET
        with open(os.path.join(self.root, "big", "eight.bin"), "rb") as f:
            self.assertEqual(f.read(), body)
        big = self.big_reads()
        print("\n  8 MiB PUT: %d reads asked for 256 KiB" % big)
        self.assertGreaterEqual(big, 1)

    def test_small_body_keeps_the_small_buffer(self):
        body = b"x" * (512 * 1024)  # under 1 MiB: the connection's usual 32 KiB buffer
        data = self.put_then_get("half.bin", body)
        self.assertTrue(data.startswith(b"HTTP/1.1 201 "), data[:80])
        self.assertTrue(data.endswith(b"\r\n\r\n" + b"s" * 100), data[-200:])
        with open(os.path.join(self.root, "big", "half.bin"), "rb") as f:
            self.assertEqual(f.read(), body)
        self.assertEqual(self.big_reads(), 0)


if __name__ == "__main__":
    harness.main()

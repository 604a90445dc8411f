"""ABI 1.2 body filters in the real server (core/phases/filter.c), driven by
the test modules mod_filty and mod_filtz (tests/testmods/filty): static files
small, big and ranged, HEAD, 304, error pages, `return`, CGI output,
autoindex and write_ref bodies through filters; the chain's order; length
made unknown (chunked on HTTP/1.1, close-delimited on HTTP/1.0); a filter
failing before and after the head went out; memory bounded for a big file to
a slow reader; HTTP/2 (curl over h2c)."""
import hashlib
import os
import select
import socket
import subprocess
import time

import harness
import procstat

FILTY = os.path.join(harness.TESTMODS, "mod_filty.so")
FILTZ = os.path.join(harness.TESTMODS, "mod_filtz.so")
REFWRITE = os.path.join(harness.TESTMODS, "mod_refwrite.so")


def pattern(n):
    block = bytes(range(97, 123)) * 2521  # 65546 bytes of a..z: not a divisor of 64 KiB
    reps = n // len(block) + 1
    return (block * reps)[:n]


class FiltersTest(harness.ServerTestCase):
    def config(self, mode="upper", modules=None, extra_locations=(), **loc):
        root_loc = {"path": "/", "static": {}, "autoindex": {}, "filty": {"mode": mode}}
        root_loc.update(loc)
        cfg = self.base_config(locations=[
            {"path": "/gone", "return": {"status": 410, "body": "gone for good\n"}, "filty": {"mode": mode}},
            {"path": "/plain", "static": {}},
            *extra_locations,
            root_loc,
        ], error_pages={"404": os.path.join(self.root, "err404.html")})
        cfg["modules"] = modules or ["static", "autoindex", "cgi", REFWRITE, FILTY, FILTZ]
        return cfg

    def setUp(self):
        super().setUp()
        self.write("a.txt", "file a\n")
        self.write("plain/p.txt", "plain\n")
        self.write("err404.html", "<p>not here</p>\n")
        self.write("dir/one.txt", "1\n")

    def restart_for_rss(self, cfg):
        """A fresh server that, under ASan, reuses freed memory at once (see test_cgi)."""
        if procstat.ASAN:
            self.port = harness.free_port()
            cfg["servers"][0]["listen"] = ["127.0.0.1:%d" % self.port]
        work = os.path.join(self.tmp, "rss")
        os.makedirs(work, exist_ok=True)
        env = None
        if procstat.ASAN:
            opts = os.environ.get("ASAN_OPTIONS", "")
            env = {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=0"}
        s = harness.Server(cfg, work, env)
        self.servers.append(s)
        s.start(wait_ports=[("127.0.0.1", self.port)])
        self.server = s

    # ---- static bodies ----

    def test_small_file_upper_keeps_length_and_validators(self):
        self.start(self.config())
        r, body = self.request("GET", "/a.txt")
        self.assertEqual((r.status, body), (200, b"FILE A\n"))
        self.assertEqual(r.getheader("Content-Length"), "7")
        etag = r.getheader("ETag")
        self.assertTrue(etag and etag.startswith('"'))
        # The header filter ran after the core's own fields: it saw them all.
        self.assertEqual(r.getheader("X-Filty-Saw"), "200 7 %s bytes" % etag)
        self.assertIsNotNone(r.getheader("Last-Modified"))

    def test_header_filter_saying_0_keeps_the_body(self):
        self.start(self.config())
        r, body = self.request("GET", "/a.txt?nofilter")
        self.assertEqual((r.status, body, r.getheader("Content-Length")), (200, b"file a\n", "7"))

    def test_big_file_read_in_pieces(self):
        data = pattern(5 * 1024 * 1024 + 123)
        self.write("big.bin", data)
        self.start(self.config())
        r, body = self.request("GET", "/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(body), len(data))
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(data.upper()).digest())

    def test_range_is_cut_from_the_filtered_body(self):
        self.write("r.txt", "abcdefghij")
        self.start(self.config())
        r, body = self.request("GET", "/r.txt", headers={"Range": "bytes=2-4"})
        self.assertEqual((r.status, body), (206, b"CDE"))
        self.assertEqual(r.getheader("Content-Range"), "bytes 2-4/10")
        self.assertEqual(r.getheader("Content-Length"), "3")
        self.assertTrue(r.getheader("X-Filty-Saw").startswith("200 10 "))  # the filter saw the whole 200

    def test_range_ignored_when_a_filter_made_the_length_unknown(self):
        self.write("r.txt", "abcdefghij")
        self.start(self.config(mode="tag"))
        r, body = self.request("GET", "/r.txt", headers={"Range": "bytes=2-4"})
        self.assertEqual((r.status, body), (200, b"abcdefghij:filty"))
        self.assertIsNone(r.getheader("Content-Range"))

    def test_ranges_of_a_big_file(self):
        self.write("big.bin", pattern(64 * 1024 * 1024))
        self.start(self.config())
        r, body = self.request("GET", "/big.bin", headers={"Range": "bytes=0-9"})
        self.assertEqual((r.status, body), (206, b"ABCDEFGHIJ"))
        r, body = self.request("GET", "/big.bin", headers={"Range": "bytes=-3"})
        self.assertEqual((r.status, body), (206, pattern(64 * 1024 * 1024)[-3:].upper()))

    def test_head_runs_header_filters_only(self):
        self.start(self.config(mode="tag"))
        resp = self.raw_one(b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", head=True)
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.header("X-Filty-Saw").startswith("200 7 "))
        self.assertEqual(resp.body, b"")
        self.assertIsNone(resp.header("Content-Length"))  # the filter made the length unknown

    def test_not_modified_gets_no_body_filter(self):
        self.start(self.config(mode="tag"))
        r, _ = self.request("GET", "/a.txt?nofilter")
        etag = r.getheader("ETag")
        r, body = self.request("GET", "/a.txt", headers={"If-None-Match": etag})
        self.assertEqual((r.status, body), (304, b""))
        self.assertEqual(r.getheader("X-Filty-Saw"), "304 - %s -" % etag)

    # ---- length made unknown, chain order ----

    def test_unknown_length_is_chunked_on_http11(self):
        self.start(self.config(mode="tag"))
        r, body = self.request("GET", "/a.txt")
        self.assertEqual((r.status, body), (200, b"file a\n:filty"))
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.getheader("Accept-Ranges"))
        self.assertTrue(r.getheader("ETag").startswith('W/"'))

    def test_unknown_length_is_close_delimited_on_http10(self):
        self.start(self.config(mode="tag"))
        resp = self.raw_one(b"GET /a.txt HTTP/1.0\r\n\r\n")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"file a\n:filty")
        self.assertIsNone(resp.header("Content-Length"))
        self.assertIsNone(resp.header("Transfer-Encoding"))

    def test_chain_follows_the_modules_list(self):
        self.start(self.config(mode="tag", filtz={"mode": "tag"}))
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"file a\n:filty:filtz")
        # The second filter saw what the first made of the head.
        self.assertTrue(r.getheader("X-Filtz-Saw").startswith("200 - W/"))

    def test_chain_in_the_other_order(self):
        self.start(self.config(mode="tag", modules=["static", "autoindex", "cgi", REFWRITE, FILTZ, FILTY],
                               filtz={"mode": "tag"}))
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"file a\n:filtz:filty")
        self.assertTrue(r.getheader("X-Filty-Saw").startswith("200 - W/"))

    def test_swallowing_filter_over_a_big_file(self):
        """mode count passes nothing on until the end: the pump goes on by itself (timer)."""
        data = pattern(12 * 1024 * 1024)
        self.write("big.bin", data)
        self.start(self.config(mode="count"))
        r, body = self.request("GET", "/big.bin")
        self.assertEqual((r.status, body), (200, b"%d bytes\n" % len(data)))
        r, body = self.request("GET", "/a.txt")  # keeps serving
        self.assertEqual(body, b"7 bytes\n")

    # ---- core answers and other handlers ----

    def test_error_page_and_return_go_through_filters(self):
        self.start(self.config())
        r, body = self.request("GET", "/missing.txt")
        self.assertEqual((r.status, body), (404, b"<P>NOT HERE</P>\n"))
        r, body = self.request("GET", "/gone")
        self.assertEqual((r.status, body), (410, b"GONE FOR GOOD\n"))
        r, body = self.request("GET", "/plain/p.txt")  # no filter on that location
        self.assertEqual(body, b"plain\n")

    def test_autoindex_listing_through_filter(self):
        self.start(self.config())
        r, body = self.request("GET", "/dir/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"ONE.TXT", body)
        self.assertNotIn(b"one.txt", body)

    def test_cgi_output_through_filter(self):
        self.write("cgi/hi.py", "print('Content-Type: text/plain')\nprint()\nprint('hello from cgi')\n")
        cgi = {"path": "/cgi", "cgi": {"interpreters": {".py": "/usr/bin/python3"}}, "filty": {"mode": "upper"}}
        self.start(self.config(extra_locations=[cgi]))
        r, body = self.request("GET", "/cgi/hi.py")
        self.assertEqual((r.status, body), (200, b"HELLO FROM CGI\n"))

    def test_write_ref_bodies_keep_their_release(self):
        ref = {"path": "/ref", "refwrite": {}, "filty": {"mode": "identity"}}
        self.start(self.config(extra_locations=[ref]))
        r, body = self.request("GET", "/ref/big?1000000")
        self.assertEqual((r.status, len(body)), (200, 1000000))
        self.assertEqual(body[:26], b"abcdefghijklmnopqrstuvwxyz")
        r, body = self.request("GET", "/ref/count")
        refs, released = [int(x.split(b"=")[1]) for x in body.split()]
        self.assertGreater(refs, 0)
        self.assertEqual(refs, released)

    # ---- failures ----

    def test_filter_failing_before_output_is_500(self):
        self.start(self.config())
        r, body = self.request("GET", "/a.txt?failfirst")
        self.assertEqual(r.status, 500)
        self.assertIn('module "filty" failed in the body filter phase', self.server.stderr())
        r, body = self.request("GET", "/a.txt")  # the server goes on
        self.assertEqual(body, b"FILE A\n")

    def test_filter_failing_after_output_cuts_the_response(self):
        self.write("big.bin", pattern(2 * 1024 * 1024))
        self.start(self.config())
        data = harness.raw(self.port, b"GET /big.bin?failafter HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head)
        self.assertIn(b"Content-Length: 2097152", head)
        self.assertLess(len(body), 2 * 1024 * 1024)  # cut, and the connection closed (raw returned)
        self.assertTrue(harness.wait_for(lambda: "response cut" in self.server.stderr(), 5))
        self.assertIn('module "filty" failed in the body filter phase', self.server.stderr())

    # ---- asynchronous filters (host->offload from body_filter) ----

    def test_async_filter_behind_a_splitting_one_keeps_the_order(self):
        """filty (upper, 4 KiB pieces out) then filtz (async: every piece goes
        through the pool): what reaches filtz while its work runs is held and
        given to it in order; the file pump waits; the end waits for the chain."""
        data = pattern(1024 * 1024 + 7)
        self.write("big.bin", data)
        rows = "".join("row %d of a CGI body\n" % i for i in range(5000))
        self.write("cgi/rows.py", "import sys\nsys.stdout.write('Content-Type: text/plain\\n\\n')\n"
                   "for i in range(5000):\n    sys.stdout.write('row %d of a CGI body\\n' % i)\n")
        cgi = {"path": "/cgi", "cgi": {"interpreters": {".py": "/usr/bin/python3"}},
               "filty": {"mode": "upper"}, "filtz": {"mode": "async"}}
        self.start(self.config(mode="upper", filtz={"mode": "async"}, extra_locations=[cgi]))
        r, body = self.request("GET", "/big.bin")
        self.assertEqual((r.status, len(body)), (200, len(data)))
        self.assertTrue(body == data.upper())
        r, body = self.request("GET", "/cgi/rows.py")  # the handler's writes wait (WS_AGAIN) behind the work
        self.assertEqual((r.status, body), (200, rows.upper().encode()))
        r, body = self.request("GET", "/missing.txt")  # a core answer through the chain
        self.assertEqual((r.status, body), (404, b"<P>NOT HERE</P>\n"))

    def test_async_filter_first_in_the_chain(self):
        """filtz (async) then filty (upper): filty is called from filtz's done."""
        data = pattern(300 * 1024)
        self.write("big.bin", data)
        self.start(self.config(mode="upper", modules=["static", "autoindex", "cgi", REFWRITE, FILTZ, FILTY],
                               filtz={"mode": "async"}))
        r, body = self.request("GET", "/big.bin")
        self.assertTrue(body == data.upper())
        ref = self.request("GET", "/a.txt")[1]
        self.assertEqual(ref, b"FILE A\n")

    def test_async_filter_failing_from_its_done(self):
        """host->error from the done of the second piece: the head went out with
        the first, so the response is cut; the server goes on."""
        self.write("big.bin", pattern(1024 * 1024))
        self.start(self.config(mode="async"))
        data = harness.raw(self.port, b"GET /big.bin?asyncfail HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 1048576", head)
        self.assertLess(len(body), 1024 * 1024)
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"file a\n")

    def test_async_filter_client_leaves_while_a_work_runs(self):
        """The client goes away mid-body (HTTP/1.1 and HTTP/2): done is skipped,
        the log hook frees the piece, the request is freed after the work
        (valgrind/ASan runs: no leak, no use after free)."""
        self.write("big.bin", pattern(8 * 1024 * 1024))
        cfg = self.config(mode="async")
        protocols = ["h2", "http/1.1"] if harness.TLS_MODE else ["h2c", "http/1.1"]
        cfg["servers"][0]["listen"] = [{"address": "127.0.0.1:%d" % self.port, "protocols": protocols}]
        self.start(cfg)
        for _ in range(3):  # reads the first bytes, then closes
            head = harness.raw(self.port, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", read_all=False)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:100])
        how = ["--http2", "-k"] if harness.TLS_MODE else ["--http2-prior-knowledge"]
        scheme = "https" if harness.TLS_MODE else "http"
        subprocess.run(["curl", "-sS", *how, "--max-time", "0.3", "-o", os.devnull,
                        "%s://127.0.0.1:%d/big.bin" % (scheme, self.port)], capture_output=True, timeout=20)
        time.sleep(0.5 * harness.SLOW)
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"file a\n")

    def test_async_filter_over_h2(self):
        data = pattern(2 * 1024 * 1024 + 3)
        self.write("big.bin", data)
        cfg = self.config(mode="upper", filtz={"mode": "async"})
        protocols = ["h2", "http/1.1"] if harness.TLS_MODE else ["h2c", "http/1.1"]
        cfg["servers"][0]["listen"] = [{"address": "127.0.0.1:%d" % self.port, "protocols": protocols}]
        self.start(cfg)
        out = os.path.join(self.tmp, "out.bin")
        p = self.curl_h2("/big.bin", "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data.upper())

    # ---- memory ----

    def test_slow_reader_memory_bounded(self):
        """200 MiB through an identity filter to a client that reads slowly:
        the server reads the file only as the output drains."""
        size = (20 if procstat.ASAN or procstat.VALGRIND else 200) * 1024 * 1024
        with open(os.path.join(self.root, "huge.bin"), "wb") as f:
            chunk = pattern(1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
        self.restart_for_rss(self.config(mode="identity"))
        pid = self.server.proc.pid
        self.request("GET", "/a.txt")  # warm up
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", self.port))
        s.settimeout(30)
        got = 0
        h = hashlib.sha256()
        with procstat.RssSampler(pid) as rss:
            s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            t0 = time.monotonic()
            buf = b""
            while time.monotonic() - t0 < 2.5:  # slow: 16 KiB every 10 ms
                select.select([s], [], [], 0.5)
                b = s.recv(16384)
                if not b:
                    break
                buf += b
                time.sleep(0.01)
            slow_growth = rss.growth()
            head, _, rest = buf.partition(b"\r\n\r\n")
            got = len(rest)
            h.update(rest)
            while True:  # then the rest at full speed
                b = s.recv(1 << 20)
                if not b:
                    break
                got += len(b)
                h.update(b)
        s.close()
        print("\n  %d MiB through an identity filter, slow reader: RSS growth %.2f MiB while slow, %.2f MiB peak"
              % (size >> 20, slow_growth / (1 << 20), rss.growth() / (1 << 20)))
        self.assertIn(b"200 OK", head)
        self.assertEqual(got, size)
        self.assertEqual(h.digest(), hashlib.sha256(chunk * (size >> 20)).digest())
        self.assertLessEqual(rss.growth(), 4 << 20)

    # ---- HTTP/2 ----

    def h2_config(self, mode="upper"):
        """h2c (prior knowledge) on plain runs, ALPN h2 on the HTTPS run (WEBSERV_TEST_TLS);
        /ref is mod_refwrite without a filter."""
        cfg = self.config(mode=mode, extra_locations=[{"path": "/ref", "refwrite": {}}])
        protocols = ["h2", "http/1.1"] if harness.TLS_MODE else ["h2c", "http/1.1"]
        cfg["servers"][0]["listen"] = [{"address": "127.0.0.1:%d" % self.port, "protocols": protocols}]
        return cfg

    def curl_h2(self, path, *extra):
        how = ["--http2", "-k"] if harness.TLS_MODE else ["--http2-prior-knowledge"]
        scheme = "https" if harness.TLS_MODE else "http"
        return subprocess.run(["curl", "-sS", *how, "--max-time", "10", "-D", "-", *extra,
                               "%s://127.0.0.1:%d%s" % (scheme, self.port, path)], capture_output=True, timeout=20)

    def test_h2_bodies_through_filters(self):
        data = pattern(3 * 1024 * 1024 + 7)
        self.write("big.bin", data)
        self.start(self.h2_config())
        p = self.curl_h2("/a.txt")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"HTTP/2 200"))
        self.assertTrue(p.stdout.endswith(b"\r\n\r\nFILE A\n"))
        p = self.curl_h2("/big.bin", "-o", os.path.join(self.tmp, "out.bin"))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.tmp, "out.bin"), "rb") as f:
            self.assertTrue(f.read() == data.upper())
        p = self.curl_h2("/big.bin?failafter", "-o", os.path.join(self.tmp, "cut.bin"))
        self.assertNotEqual(p.returncode, 0)  # the stream was reset
        self.assertTrue(harness.wait_for(lambda: "response cut" in self.server.stderr(), 5))
        p = self.curl_h2("/a.txt?failfirst")
        self.assertTrue(p.stdout.startswith(b"HTTP/2 500"), p.stdout[:100])

    def test_stream_of_a_big_file_over_h2_does_not_stall(self):
        """HTTP/2: the stream's queue can drain within one flush, with no write event
        to follow; the file pump must go on by itself (filter_kick)."""
        size = (16 if procstat.ASAN else 100) * 1024 * 1024
        data = pattern(size)
        self.write("big.bin", data)
        self.start(self.h2_config(mode="identity"))
        out = os.path.join(self.tmp, "out.bin")
        p = self.curl_h2("/big.bin", "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data)

    def test_stream_of_a_handler_waiting_for_on_writable_over_h2(self):
        """The same for a handler (write_ref, WS_AGAIN, on_writable) with no filter:
        before req_kick_writable, 100 MiB stalled after ~4 MiB."""
        size = (16 if procstat.ASAN else 100) * 1024 * 1024
        self.start(self.h2_config(mode="identity"))
        p = self.curl_h2("/ref/big?%d" % size, "-o", os.devnull, "-w", "%{size_download}")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.endswith(b"%d" % size))
        p = self.curl_h2("/ref/count")
        refs, released = [int(x.split(b"=")[1]) for x in p.stdout.split(b"\r\n\r\n")[-1].split()]
        self.assertEqual(refs, released)

    def test_h2_unknown_length(self):
        self.start(self.h2_config(mode="tag"))
        p = self.curl_h2("/a.txt")
        self.assertEqual(p.returncode, 0, p.stderr)
        head, _, body = p.stdout.partition(b"\r\n\r\n")
        self.assertEqual(body, b"file a\n:filty")
        self.assertNotIn(b"content-length", head.lower())


if __name__ == "__main__":
    harness.main()

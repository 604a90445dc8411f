"""mod_compress in the real server (issue 14): every coding decoded by real
decoders (Python's zlib, the brotli and zstd command-line tools, curl
--compressed), negotiation over the wire, what is left alone (small, other
types, no-transform, Range, HEAD), the coded ETag and its 304, handler output
compressed as it streams (CGI chunked on HTTP/1.1, close-delimited on
HTTP/1.0, autoindex, error pages), high levels, a slow reader, precompressed
files (and scripts/webserv-precompress), and a large CGI body compressed with bounded worker memory.

COMPRESS_BIG_MIB (default 128) sets the size of the bounded-memory body;
`make compress-big` runs it with 1024 (1 GiB)."""
import http.client
import os
import re
import socket
import subprocess
import threading
import time
import zlib

import harness

BIG_MIB = int(os.environ.get("COMPRESS_BIG_MIB", "128"))


def page(n=100 * 1024):
    """An HTML page of about n bytes that compresses like a real one."""
    words = ["<li class=\"item\">", "webserv ", "serves ", "pages ", "</li>\n", "with ", "<a href=\"/docs/x\">",
             "compression ", "</a> ", "and ", "more ", "text "]
    out, i, seed = [], 0, 12345
    while i < n:
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        w = words[(seed >> 8) % len(words)]
        out.append(w)
        i += len(w)
    return ("<!doctype html><html><body><ul>\n" + "".join(out))[:n].encode()


def gunzip(data):
    return zlib.decompress(data, 16 + zlib.MAX_WBITS)


def tool_decode(tool, data):
    p = subprocess.run([tool, "-d", "-c"], input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("%s -d failed: %s" % (tool, p.stderr.decode(errors="replace")))
    return p.stdout


def decode(coding, data):
    if coding == "gzip":
        return gunzip(data)
    if coding == "br":
        return tool_decode("brotli", data)
    if coding == "zstd":
        return tool_decode("zstd", data)
    raise AssertionError("unexpected coding %r" % coding)


BIG_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
# %(mib)d MiB of numbered lines, written as they are made (never held by the script)
seq -f 'line %%.0f of a large CGI output, compressed piece by piece as it arrives' 1 100000000 | head -c %(bytes)d
"""

STREAM_CGI = """#!/bin/sh
printf 'Content-Type: text/html\\r\\n%(extra)s\\r\\n'
i=0
while [ $i -lt 2000 ]; do
  echo "<p>line $i of a CGI page that compresses well, line $i</p>"
  i=$((i+1))
done
"""


class CompressTest(harness.ServerTestCase):
    modules = ["compress", "static", "autoindex", "cgi"]

    def setUp(self):
        super().setUp()
        self.body = page()
        self.write("page.html", self.body)
        self.write("small.html", b"<p>short</p>\n")
        self.write("data.json", b'{"k": "' + b"v" * 4000 + b'"}')
        self.write("img.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 5000)
        os.makedirs(os.path.join(self.root, "dir"))
        for i in range(60):
            self.write("dir/file-with-a-long-name-%03d.txt" % i, "x")
        self.write("cgi/stream.cgi", STREAM_CGI % {"extra": ""}, mode=0o755)
        self.write("cgi/notransform.cgi", STREAM_CGI % {"extra": "Cache-Control: no-transform\\r\\n"}, mode=0o755)
        self.write("cgi/big.cgi", BIG_CGI % {"mib": BIG_MIB, "bytes": BIG_MIB << 20}, mode=0o755)

    def config(self, compress=None, **server):
        c = {} if compress is None else compress
        return self.base_config(locations=[
            {"path": "/", "static": {}, "autoindex": {}, "compress": c},
            {"path": "/cgi/", "cgi": {"timeout": 60}, "compress": c},
            {"path": "/plain/", "static": {}},
        ], **server)

    def get(self, path, ae=None, headers=None, method="GET"):
        h = dict(headers or {})
        if ae is not None:
            h["Accept-Encoding"] = ae
        return self.request(method, path, headers=h)

    # ---- codings ----

    def test_each_coding_decodes_to_the_page(self):
        self.start(self.config())
        for coding in ("gzip", "br", "zstd"):
            r, data = self.get("/page.html", ae=coding)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Content-Encoding"), coding)
            self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
            self.assertIsNone(r.getheader("Content-Length"))
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            self.assertEqual(decode(coding, data), self.body, coding)
            self.assertLess(len(data), len(self.body) // 3, coding)

    def test_curl_compressed(self):
        self.start(self.config())
        for coding in ("gzip", "br", "zstd"):
            p = self.curl("--compressed", "-H", "Accept-Encoding: " + coding, "-D", "-",
                          "-o", os.path.join(self.tmp, "out"), "http://127.0.0.1:%d/page.html" % self.port)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"content-encoding: " + coding.encode(), p.stdout.lower())
            with open(os.path.join(self.tmp, "out"), "rb") as f:
                self.assertEqual(f.read(), self.body)

    def test_negotiation_over_the_wire(self):
        self.start(self.config())
        cases = [
            ("gzip, deflate, br, zstd", "zstd"),         # the server's order
            ("gzip, deflate, br", "br"),
            ("gzip;q=1, br;q=0.5, zstd;q=0.1", "gzip"),  # the client's weights
            ("*;q=0.5, zstd;q=0", "br"),
            ("identity", None),
            ("gzip;q=0.5, identity", None),
            ("deflate", None),
            ("gzip;q=7", None),                           # malformed: identity, not an error
            ("", None),
            (None, None),
        ]
        for ae, want in cases:
            r, data = self.get("/page.html", ae=ae)
            self.assertEqual(r.status, 200, ae)
            self.assertEqual(r.getheader("Content-Encoding"), want, ae)
            self.assertEqual(r.getheader("Vary"), "Accept-Encoding", ae)
            if want is None:
                self.assertEqual(data, self.body, ae)
                self.assertEqual(r.getheader("Content-Length"), str(len(self.body)))
            else:
                self.assertEqual(decode(want, data), self.body, ae)

    def test_server_order_from_config(self):
        self.start(self.config({"codings": ["gzip", "br"]}))
        r, data = self.get("/page.html", ae="zstd, br, gzip")
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        r, data = self.get("/page.html", ae="zstd")
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(data, self.body)

    # ---- left alone ----

    def test_what_is_not_compressed(self):
        self.start(self.config())
        r, data = self.get("/small.html", ae="gzip")  # below min_length: as it is, with Vary
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
        self.assertEqual(data, b"<p>short</p>\n")
        r, data = self.get("/img.png", ae="gzip")  # not a listed type: no Vary either
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertIsNone(r.getheader("Vary"))
        self.assertEqual(len(data), 5008)
        r, data = self.get("/plain/page.html", ae="gzip")  # a location without compress
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertIsNone(r.getheader("Vary"))
        r, data = self.get("/data.json", ae="br")  # JSON is
        self.assertEqual(r.getheader("Content-Encoding"), "br")
        self.assertEqual(decode("br", data), b'{"k": "' + b"v" * 4000 + b'"}')

    def test_min_length_and_types_from_config(self):
        self.start(self.config({"min_length": 10, "types": ["image/png"]}))
        r, data = self.get("/img.png", ae="gzip")
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(len(gunzip(data)), 5008)
        r, data = self.get("/small.html", ae="gzip")  # text/html is no longer listed
        self.assertIsNone(r.getheader("Content-Encoding"))

    def test_head_has_the_fields_of_get(self):
        self.start(self.config())
        r, data = self.get("/page.html", ae="gzip", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(data, b"")
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
        self.assertIsNone(r.getheader("Content-Length"))
        g, _ = self.get("/page.html", ae="gzip")
        self.assertEqual(r.getheader("ETag"), g.getheader("ETag"))

    def test_range_gets_the_identity_bytes(self):
        self.start(self.config())
        r, data = self.get("/page.html", ae="gzip, br", headers={"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206)
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
        self.assertEqual(data, self.body[10:20])

    def test_no_transform_is_respected(self):
        self.start(self.config())
        r, data = self.get("/cgi/notransform.cgi", ae="gzip")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertIn(b"line 1999 of a CGI page", data)

    # ---- validators ----

    def test_coded_etag_and_304(self):
        self.start(self.config())
        plain, _ = self.get("/page.html")
        etag = plain.getheader("ETag")
        self.assertTrue(etag and etag.endswith('"'), etag)
        for coding, suffix in (("gzip", "-gz"), ("br", "-br"), ("zstd", "-zst")):
            r, data = self.get("/page.html", ae=coding)
            coded = r.getheader("ETag")
            self.assertEqual(coded, etag[:-1] + suffix + '"')
            r, data = self.get("/page.html", ae=coding, headers={"If-None-Match": coded})
            self.assertEqual((r.status, data), (304, b""), coding)
            self.assertEqual(r.getheader("ETag"), coded)
            self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
            # another coding's ETag matches nothing: the coded body, with its own ETag
            other = "-br" if suffix != "-br" else "-gz"
            r, data = self.get("/page.html", ae=coding, headers={"If-None-Match": etag[:-1] + other + '"'})
            self.assertEqual(r.status, 200, coding)
            self.assertEqual(r.getheader("ETag"), coded)
            self.assertEqual(decode(coding, data), self.body)
            # the identity ETag: the client holds the identity body, still valid (the
            # core's conditionals): 304 that names the identity ETag, never the coded one
            r, data = self.get("/page.html", ae=coding, headers={"If-None-Match": etag})
            self.assertEqual((r.status, data), (304, b""), coding)
            self.assertEqual(r.getheader("ETag"), etag)
            self.assertIsNone(r.getheader("Content-Encoding"))
            self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
        # the coded ETag does not match the identity body either
        r, data = self.get("/page.html", headers={"If-None-Match": etag[:-1] + '-gz"'})
        self.assertEqual((r.status, data), (200, self.body))
        r, _ = self.get("/page.html", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)

    # ---- handlers' output ----

    def test_cgi_output_streams_chunked(self):
        self.start(self.config())
        r, data = self.get("/cgi/stream.cgi", ae="gzip")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        text = gunzip(data)
        self.assertTrue(text.startswith(b"<p>line 0 of"))
        self.assertIn(b"<p>line 1999 of a CGI page that compresses well, line 1999</p>\n", text)

    def test_http10_is_close_delimited(self):
        self.start(self.config())
        data = self.raw(b"GET /cgi/stream.cgi HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", timeout=10)
        head, _, body = data.partition(b"\r\n\r\n")
        head = head.decode().lower()
        self.assertIn("content-encoding: gzip", head)
        self.assertNotIn("content-length", head)
        self.assertNotIn("transfer-encoding", head)
        self.assertIn(b"line 1999 of a CGI page", gunzip(body))
        # a static file too
        data = self.raw(b"GET /page.html HTTP/1.0\r\nAccept-Encoding: br\r\n\r\n", timeout=10)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"content-encoding: br", head.lower())
        self.assertEqual(decode("br", body), self.body)

    def test_autoindex_listing_compressed(self):
        self.start(self.config())
        r, data = self.get("/dir/", ae="zstd")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Encoding"), "zstd")
        html = decode("zstd", data)
        self.assertIn(b"file-with-a-long-name-059.txt", html)

    def test_error_page_compressed(self):
        self.start(self.config({"min_length": 1}))
        r, data = self.get("/missing.html", ae="gzip")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertIn(b"404", gunzip(data))

    def test_high_levels_decode(self):
        self.start(self.config({"gzip_level": 9, "br_quality": 9, "zstd_level": 15}))
        for coding in ("gzip", "br", "zstd"):
            r, data = self.get("/page.html", ae=coding)
            self.assertEqual(r.getheader("Content-Encoding"), coding)
            self.assertEqual(decode(coding, data), self.body, coding)
            r, data = self.get("/cgi/stream.cgi", ae=coding)
            self.assertIn(b"line 1999 of a CGI page", decode(coding, data), coding)

    def test_trickling_cgi_reaches_the_client_as_it_comes(self):
        """A handler's piece shorter than a file piece is flushed: a CGI that
        writes a line and then waits is decoded up to that line before it goes
        on (gzip Z_SYNC_FLUSH, Brotli FLUSH, zstd e_flush), at the default and
        at an offloaded level."""
        marker = os.path.join(self.tmp, "go")
        self.write("cgi/trickle.cgi", "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                   "echo 'first line, sent at once'\n"
                   "i=0; while [ ! -e %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n"
                   "echo 'second line, after the pause'\n" % marker, mode=0o755)
        for level in ({}, {"gzip_level": 9, "br_quality": 11, "zstd_level": 19}):
            self.start(self.config(level))
            for coding in ("gzip", "br", "zstd"):
                if os.path.exists(marker):
                    os.unlink(marker)
                s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
                s.sendall(b"GET /cgi/trickle.cgi HTTP/1.0\r\nAccept-Encoding: " + coding.encode() + b"\r\n\r\n")
                data, deadline, first = b"", time.monotonic() + 8, None
                while time.monotonic() < deadline and first is None:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
                    body = data.partition(b"\r\n\r\n")[2]
                    if body:
                        first = self.decode_prefix(coding, body)
                        if b"first line" not in first:
                            first = None
                self.assertIsNotNone(first, "%s %s: the first line did not come before the pause" % (level, coding))
                self.assertNotIn(b"second line", first)
                open(marker, "w").close()
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
                s.close()
                self.assertEqual(decode(coding, data.partition(b"\r\n\r\n")[2]),
                                 b"first line, sent at once\nsecond line, after the pause\n", coding)
            self.server.stop()

    def decode_prefix(self, coding, body):
        """What a streaming decoder makes of the bytes so far."""
        if coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body)
        if coding == "zstd":  # the tool writes what it decoded of a stream cut short (and fails)
            return subprocess.run(["zstd", "-d", "-c"], input=body, capture_output=True, timeout=60).stdout
        # brotli's tool writes nothing of a cut stream (modules/test_compress decodes a flushed
        # prefix with libbrotlidec): without the flush nothing at all would have come yet
        return b"first line (%d bytes of br)" % len(body)

    def test_slow_reader_gets_everything(self):
        """Backpressure: a client that reads slowly still gets the whole body."""
        self.start(self.config())
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /cgi/stream.cgi HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
        data = b""
        while True:
            time.sleep(0.002)
            b = s.recv(2048)
            if not b:
                break
            data += b
        s.close()
        body = data.partition(b"\r\n\r\n")[2]
        self.assertIn(b"line 1999 of a CGI page", gunzip(body))

    def test_http2_stream_compressed(self):
        listen = [{"address": "127.0.0.1:%d" % self.port, "protocols": ["h2c", "http/1.1"]}]
        self.start(self.config(listen=listen))
        for coding, path in (("br", "/page.html"), ("gzip", "/cgi/stream.cgi")):
            out = os.path.join(self.tmp, "h2out")
            p = self.curl("--http2-prior-knowledge", "--compressed", "-H", "Accept-Encoding: " + coding, "-D", "-",
                          "-o", out, "http://127.0.0.1:%d%s" % (self.port, path))
            self.assertEqual(p.returncode, 0, p.stderr)
            head = p.stdout.decode().lower()
            self.assertTrue(head.startswith("http/2 200"), head)
            self.assertIn("content-encoding: " + coding, head)
            self.assertNotIn("content-length", head)
            with open(out, "rb") as f:
                got = f.read()
            if path == "/page.html":
                self.assertEqual(got, self.body)
            else:
                self.assertIn(b"line 1999 of a CGI page", got)

    # ---- precompressed ----

    def test_precompressed_files(self):
        self.write("site/app.js", b"var x = 1;\n" * 2000)
        self.write("site/app.js.br", b"BROTLI-BYTES")
        self.write("site/app.js.gz", b"GZIP-BYTES")
        old = os.path.getmtime(os.path.join(self.root, "site/app.js"))
        os.utime(os.path.join(self.root, "site/app.js.gz"), (old - 100, old - 100))  # older: ignored
        cfg = self.config({"precompressed": True})
        self.start(cfg)
        r, data = self.get("/site/app.js", ae="gzip, br")
        self.assertEqual((r.status, data), (200, b"BROTLI-BYTES"))
        self.assertEqual(r.getheader("Content-Encoding"), "br")
        self.assertTrue(r.getheader("Content-Type").startswith(("application/javascript", "text/javascript")))
        self.assertEqual(r.getheader("Vary"), "Accept-Encoding")
        self.assertEqual(r.getheader("Content-Length"), "12")
        etag = r.getheader("ETag")
        plain, body = self.get("/site/app.js")
        self.assertEqual(body, b"var x = 1;\n" * 2000)
        self.assertNotEqual(plain.getheader("ETag"), etag)
        r, data = self.get("/site/app.js", ae="br", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        # the .gz is older than the file: compressed on the fly instead
        r, data = self.get("/site/app.js", ae="gzip")
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(gunzip(data), b"var x = 1;\n" * 2000)
        # HEAD and Range
        r, data = self.get("/site/app.js", ae="br", method="HEAD")
        self.assertEqual((r.status, data, r.getheader("Content-Encoding")), (200, b"", "br"))
        r, data = self.get("/site/app.js", ae="br", headers={"Range": "bytes=0-2"})
        self.assertEqual((r.status, data), (206, b"var"))

    def test_precompress_script_and_serving(self):
        p = self.write("pc/index.html", self.body)
        os.utime(p, ns=(1700000000_480000000, 1700000000_480000000))  # the tools keep whole seconds
        p = subprocess.run([os.path.join(harness.SRC, "scripts/webserv-precompress"), os.path.join(self.root, "pc")],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        for suffix in (".br", ".zst", ".gz"):
            self.assertTrue(os.path.exists(os.path.join(self.root, "pc/index.html" + suffix)), suffix)
        self.start(self.config({"precompressed": True}))
        for coding, suffix in (("br", ".br"), ("zstd", ".zst"), ("gzip", ".gz")):
            r, data = self.get("/pc/", ae=coding)
            with open(os.path.join(self.root, "pc/index.html" + suffix), "rb") as f:
                self.assertEqual(data, f.read(), coding)  # the file itself, not compressed again
            self.assertEqual(decode(coding, data), self.body)

    # ---- memory ----

    def worker_pids(self):
        pid = self.server.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        return kids or [pid]

    @staticmethod
    def rss_kib(pid):
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        return int(m.group(1)) if m else 0

    def test_large_cgi_output_bounded_memory(self):
        self.start(self.config())
        time.sleep(0.2)
        pids = self.worker_pids()
        before = sum(self.rss_kib(p) for p in pids)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], sum(self.rss_kib(p) for p in pids))
                except OSError:
                    pass
                time.sleep(0.05)

        th = threading.Thread(target=sample)
        th.start()
        t0 = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            c.request("GET", "/cgi/big.cgi", headers={"Accept-Encoding": "gzip"})
            r = c.getresponse()
            self.assertEqual(r.getheader("Content-Encoding"), "gzip")
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            total, wire = 0, 0
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    break
                wire += len(chunk)
                total += len(d.decompress(chunk))
            total += len(d.flush())
            c.close()
        finally:
            stop.set()
            th.join()
        grown = peak[0] - before
        print("big CGI: %d MiB in %.1f s, %d KiB on the wire, worker RSS +%d KiB" %
              (BIG_MIB, time.time() - t0, wire >> 10, grown))
        self.assertEqual(total, BIG_MIB << 20)
        self.assertLess(grown, 16 * 1024)


if __name__ == "__main__":
    harness.main()

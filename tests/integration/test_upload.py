"""SPEC §5 upload through the real server: PUT, POST (raw and multipart),
DELETE, atomicity (no temporary file after an error, an abort or a 413)."""
import json
import os
import socket
import time

import harness

BOUNDARY = "--------------------------631254724589857935214018"
SCRIPT = (b"#!/usr/bin/env python3\nimport cgi\r\n\r\nprint('--" + BOUNDARY.encode() +
          b"')\nfor i in range(3):\n    print(i)\r\n")


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
        self.start(locations=[
            {"path": "/", "static": {}},
            {"path": "/uploads", "methods": ["GET", "HEAD", "POST", "PUT", "DELETE"],
             "static": {}, "autoindex": {}, "upload": {}, "client_max_body_size": "64K"},
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


if __name__ == "__main__":
    harness.main()

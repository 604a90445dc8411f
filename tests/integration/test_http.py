"""SPEC §4: the HTTP/1.1 engine through the real server, with raw sockets,
http.client and curl."""
import http.client
import os
import socket
import threading
import time

import harness


class HttpTest(harness.ServerTestCase):
    modules = ["static"]

    def setUp(self):
        super().setUp()
        self.write("index.html", "<h1>home</h1>\n")
        self.write("a.txt", "hello a\n")
        self.write("dir/index.html", "dir index\n")
        self.write("noindex/x.txt", "x\n")
        self.write("blob.unknownext", b"\x00\x01binary")

    def echo_config(self, **server):
        cfg = self.base_config(locations=[{"path": "/", "static": {}},
                                          {"path": "/echo", "echo": {}},
                                          {"path": "/count", "echo": {"count": True}}], **server)
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_echo.so")]
        return cfg

    # ---- persistent connections and pipelining ----

    def test_keep_alive_is_default_for_http11(self):
        self.start()
        c = self.conn()
        for _ in range(3):
            c.request("GET", "/a.txt")
            r = c.getresponse()
            self.assertEqual(r.read(), b"hello a\n")
            self.assertFalse(r.will_close)
        c.close()

    def test_connection_close_is_honoured(self):
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(harness.closed_by_peer(s))
        s.close()

    def test_http10_closes_unless_keep_alive(self):
        self.start()
        data = self.raw(b"GET /a.txt HTTP/1.0\r\n\r\n")
        self.assertTrue(data.endswith(b"hello a\n"))
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        time.sleep(0.2)
        s.sendall(b"GET /a.txt HTTP/1.0\r\n\r\n")
        data = b""
        s.settimeout(5)
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        rs = harness.parse_responses(data)
        self.assertEqual(len(rs), 2)
        self.assertEqual(rs[0].header("Connection"), "keep-alive")
        self.assertEqual(rs[1].header("Connection"), "close")

    def test_pipelined_requests_answer_in_order(self):
        self.start()
        req = b"".join(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in [b"a.txt", b"index.html", b"missing", b"a.txt"])
        req += b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        rs = harness.parse_responses(self.raw(req))
        self.assertEqual([r.status for r in rs], [200, 200, 404, 200, 200])
        self.assertEqual(rs[0].body, b"hello a\n")
        self.assertEqual(rs[1].body, b"<h1>home</h1>\n")

    def test_pipelined_byte_by_byte(self):
        self.start()
        req = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", self.port))
        for i in range(len(req)):
            s.send(req[i:i + 1])
        data = b""
        s.settimeout(5)
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        self.assertEqual([r.body for r in harness.parse_responses(data)], [b"hello a\n", b"hello a\n"])

    # ---- request line, versions, targets ----

    def test_versions(self):
        self.start()
        self.assertEqual(self.raw_one(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").status, 505)
        self.assertEqual(self.raw_one(b"GET / HTTP/3.0\r\nHost: x\r\n\r\n").status, 505)
        self.assertEqual(self.raw_one(b"GET / HTTX/1.1\r\nHost: x\r\n\r\n").status, 400)
        self.assertEqual(self.raw_one(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", shut=True).status, 200)

    def test_absolute_form(self):
        self.start()
        r = self.raw_one(b"GET http://localhost:%d/a.txt HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n" % self.port)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello a\n")

    def test_options(self):
        self.start()
        r = self.raw_one(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.status, 204)
        r, _ = self.request("OPTIONS", "/a.txt")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD, OPTIONS")
        self.assertEqual(self.raw_one(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n").status, 400)

    def test_path_normalisation(self):
        self.start()
        for path, status in [(b"/dir/../a.txt", 200), (b"//a.txt", 200), (b"/./a.txt", 200), (b"/%61.txt", 200),
                             (b"/../a.txt", 400), (b"/dir/../../a.txt", 400), (b"/%2e%2e/a.txt", 400),
                             (b"/dir/%2e%2e/%2e%2e/etc/passwd", 400), (b"/..%2fa.txt", 400), (b"/a%00.txt", 400),
                             (b"/a%zz", 400), (b"/a%4", 400), (b"/dir%2f..%2fa.txt", 200)]:
            r = self.raw_one(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertEqual(r.status, status, path)

    def test_never_a_file_outside_the_root(self):
        secret = os.path.join(self.tmp, "secret.txt")
        with open(secret, "w") as f:
            f.write("SECRET")
        self.start()
        for path in [b"/../secret.txt", b"/%2e%2e/secret.txt", b"/dir/%2E%2E/%2e%2E/secret.txt", b"/..%2Fsecret.txt",
                     b"/%2e%2e%2fsecret.txt", b"/dir/..%5c..%5csecret.txt", b"/.%2e/secret.txt"]:
            data = self.raw(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertNotIn(b"SECRET", data, path)

    def test_host_rules(self):
        self.start()
        self.assertEqual(self.raw_one(b"GET /a.txt HTTP/1.1\r\n\r\n").status, 400)
        self.assertEqual(self.raw_one(b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400)
        self.assertEqual(self.raw_one(b"GET /a.txt HTTP/1.0\r\n\r\n").status, 200)

    # ---- framing ----

    def test_bad_framing_is_400_and_closes(self):
        self.start(self.echo_config())
        cases = [
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n",
            b"GET /a.txt HTTP/1.1\nHost: x\n\n",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        ]
        for req in cases:
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(req)
            s.settimeout(5)
            data = b""
            while True:
                try:
                    b = s.recv(4096)
                except ConnectionResetError:
                    break
                if not b:
                    break
                data += b
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), (req, data[:100]))
            self.assertIn(b"Connection: close", data, req)

    def test_transfer_coding_not_implemented(self):
        self.start(self.echo_config())
        r = self.raw_one(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
        self.assertIn(r.status, (400, 501))
        r = self.raw_one(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        self.assertEqual(r.status, 501)

    def test_chunked_post_arrives_whole(self):
        """Regression: a chunked POST body must arrive whole, never empty."""
        self.start(self.echo_config())
        body = os.urandom(100000)
        c = self.conn()
        c.putrequest("POST", "/echo")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(body), 7000):
            piece = body[i:i + 7000]
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read(), body)

    def test_body_too_large(self):
        self.start(self.echo_config(client_max_body_size="1K"))
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        s.settimeout(5)
        data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)
        self.assertIn(b"Connection: close", data)
        s.close()
        chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
        r = self.raw_one(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")
        self.assertEqual(r.status, 413)
        self.assertEqual(r.header("Connection"), "close")
        r = self.raw_one(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk + b"0\r\n\r\n")
        self.assertEqual((r.status, r.body), (200, b"1024"))
        # A streaming handler that already answered: the response is cut and the connection closed.
        data = self.raw(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.assertFalse(data.endswith(b"0\r\n\r\n"), "a cut chunked response must not look complete")
        r, body = self.request("POST", "/echo", body=b"z" * 1024)
        self.assertEqual(body, b"z" * 1024)

    def test_413_reaches_a_client_that_keeps_sending(self):
        """RFC 9112 §9.6: a client busy sending its body reads the answer only afterwards.
        The server half-closes and drains, so the 413 is not destroyed by a reset."""
        self.start(self.echo_config(client_max_body_size="1K"))
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n")
            time.sleep(0.2)  # the 413 is sent and the server is closing
            # The server drains instead of resetting: the whole body can still be sent.
            s.sendall(b"x" * 4000000)
            s.settimeout(10)
            data = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
            except (ConnectionResetError, socket.timeout):
                pass
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data[:80])

    def test_expect_continue(self):
        self.start(self.echo_config())
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(5)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        self.assertEqual(s.recv(4096), b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"hello")
        data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "))
        self.assertTrue(data.endswith(b"hello"))
        s.close()
        # No 100 when the body will not be read: the final answer comes at once.
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(5)
        s.sendall(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 405 "), data)
        s.close()

    def test_body_of_unhandled_request_is_discarded(self):
        """A request whose body nobody reads: the body is skipped and the next request still works."""
        self.start(self.echo_config())
        req = b"POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        rs = harness.parse_responses(self.raw(req))
        self.assertEqual([r.status for r in rs], [405, 200])
        req = b"PUT /echo/../missing.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        rs = harness.parse_responses(self.raw(req))
        self.assertEqual(rs[-1].status, 200)

    # ---- responses ----

    def test_every_response_has_date_server_and_framing(self):
        self.start()
        for req in [b"GET /a.txt", b"GET /missing", b"GET /dir", b"HEAD /a.txt", b"BREW /a.txt", b"DELETE /a.txt"]:
            r = self.raw_one(req + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", head=req.startswith(b"HEAD"))
            self.assertIsNotNone(r.header("Date"), req)
            self.assertTrue(r.header("Server").startswith("webserv/"), req)
            self.assertTrue(r.header("Content-Length") is not None or r.header("Transfer-Encoding") == "chunked", req)

    def test_server_tokens_off_hides_the_version(self):
        """"server_tokens": false sends "Server: webserv" on every response, errors included."""
        cfg = self.base_config()
        cfg["server_tokens"] = False
        self.start(cfg)
        for req in [b"GET /a.txt", b"GET /missing", b"BREW /a.txt", b"GET /%zz"]:
            r = self.raw_one(req + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertEqual(r.header("Server"), "webserv", req)

    def test_cgi_source_is_not_text(self):
        """SPEC §5: a .cgi file served as a file is application/octet-stream, not text/plain."""
        self.write("script.cgi", "#!/bin/sh\necho secret\n")
        self.start()
        r, _ = self.request("GET", "/script.cgi")
        self.assertEqual((r.status, r.getheader("Content-Type")), (200, "application/octet-stream"))

    def test_head_is_well_formed(self):
        """Regression: a HEAD response that curl and http.client rejected as malformed."""
        self.start()
        c = self.conn()
        c.request("HEAD", "/a.txt")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Length"), "8")
        self.assertEqual(r.read(), b"")
        c.request("GET", "/a.txt")  # same connection still in sync
        self.assertEqual(c.getresponse().read(), b"hello a\n")
        c.request("HEAD", "/missing")
        r = c.getresponse()
        self.assertEqual(r.status, 404)
        self.assertEqual(r.read(), b"")
        c.close()
        p = self.curl("-I", "http://127.0.0.1:%d/a.txt" % self.port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"200 OK", p.stdout)
        p = self.curl("-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "HEAD", "http://127.0.0.1:%d/a.txt" % self.port)
        self.assertEqual(p.stdout, b"200")

    def test_unknown_extension_is_octet_stream(self):
        """Regression: a non-HTML file with an unknown extension must be application/octet-stream."""
        self.start()
        r, body = self.request("GET", "/blob.unknownext")
        self.assertEqual(r.getheader("Content-Type"), "application/octet-stream")
        self.assertEqual(body, b"\x00\x01binary")

    def test_errors_have_html_body_and_configured_pages(self):
        page = self.write("errors/404.html", "<p>custom not found</p>")
        self.start(self.echo_config(error_pages={"404": page}))
        r, body = self.request("GET", "/missing")
        self.assertEqual(r.status, 404)
        self.assertEqual(body, b"<p>custom not found</p>")
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        r, body = self.request("PUT", "/a.txt", body=b"x")
        self.assertEqual(r.status, 405)
        self.assertIn(b"405", body)
        self.assertIn(b"<html>", body)

    def test_error_page_replaced_by_a_fifo_does_not_hold_the_worker(self):
        # The config check refuses a page that is not a regular file; one
        # replaced by a FIFO while the server runs is opened with O_NONBLOCK
        # (core/fs/file_open.c): at once, refused, logged, and the built-in
        # page answers. A blocking open waited for a writer that never came,
        # and the worker served nobody meanwhile.
        page = self.write("errors/404.html", "<p>custom not found</p>")
        self.start(self.echo_config(error_pages={"404": page}))
        os.unlink(page)
        os.mkfifo(page)
        for _ in range(2):  # and the worker still answers after it
            r, body = self.request("GET", "/missing")
            self.assertEqual(r.status, 404)
            self.assertNotIn(b"custom", body)
            self.assertIn(b"404", body)
        self.assertIn("cannot be read", self.server.stderr())

    def test_methods(self):
        cfg = self.base_config(locations=[{"path": "/", "static": {}},
                                          {"path": "/ro", "static": {}, "methods": ["GET"]}])
        self.write("ro/f.txt", "ro")
        self.start(cfg)
        r, _ = self.request("BREW", "/a.txt")
        self.assertEqual(r.status, 501)
        r, _ = self.request("PUT", "/a.txt", body=b"x")  # no loaded module declares PUT
        self.assertEqual(r.status, 501)
        r, _ = self.request("HEAD", "/ro/f.txt")  # GET allows HEAD
        self.assertEqual(r.status, 200)

    def test_405_lists_allowed_methods(self):
        self.start(self.echo_config())
        r, _ = self.request("POST", "/a.txt", body=b"x")  # echo declares POST, but not in this location
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD, OPTIONS")
        r, _ = self.request("OPTIONS", "/echo")
        self.assertEqual(r.getheader("Allow"), "POST, PUT, OPTIONS")

    def test_return(self):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/old", "return": {"status": 301, "location": "/new"}},
            {"path": "/tmp", "return": {"status": 307, "location": "http://example.com/x"}},
            {"path": "/gone", "return": {"status": 410, "body": "gone for good\n"}},
            {"path": "/onlyget", "return": {"status": 200, "body": "hi"}, "methods": ["GET"]},
        ])
        cfg["modules"].append(os.path.join(harness.TESTMODS, "mod_echo.so"))
        self.start(cfg)
        r, _ = self.request("GET", "/old/page")
        self.assertEqual((r.status, r.getheader("Location")), (301, "/new"))
        r, _ = self.request("POST", "/tmp", body=b"x")
        self.assertEqual((r.status, r.getheader("Location")), (307, "http://example.com/x"))
        r, body = self.request("GET", "/gone")
        self.assertEqual((r.status, body), (410, b"gone for good\n"))
        r, _ = self.request("POST", "/onlyget", body=b"x")
        self.assertEqual(r.status, 405)

    def test_directories(self):
        self.start()
        r, _ = self.request("GET", "/dir?x=1")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.getheader("Location"), "/dir/?x=1")
        r, body = self.request("GET", "/dir/")
        self.assertEqual((r.status, body), (200, b"dir index\n"))
        r, _ = self.request("GET", "/noindex/")
        self.assertEqual(r.status, 403)
        self.write("sp ace/index.html", "s")
        r, _ = self.request("GET", "/sp%20ace")
        self.assertEqual(r.getheader("Location"), "/sp%20ace/")

    def test_request_line_and_header_limits(self):
        self.start(self.base_config() | {"limits": {"header_size": 2048}})
        r = self.raw_one(b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(r.status, 414)
        r = self.raw_one(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 3000 + b"\r\n\r\n")
        self.assertEqual(r.status, 431)
        r = self.raw_one(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"b" * 1500 + b"\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.status, 200)

    def test_many_simultaneous_clients(self):
        """Regression (test 200): more than 6 simultaneous clients hung an earlier server."""
        self.start()
        socks = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", self.port))
            socks.append(s)
        for s in socks:
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = 0
        for s in socks:
            s.settimeout(10)
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
            ok += data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello a\n")
            s.close()
        self.assertEqual(ok, 200)
        results = []

        def worker():
            c = self.conn()
            for _ in range(20):
                c.request("GET", "/a.txt")
                results.append(c.getresponse().read())
            c.close()
        th = [threading.Thread(target=worker) for _ in range(20)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        self.assertEqual(results, [b"hello a\n"] * 400)


class TimeoutTest(harness.ServerTestCase):
    def test_partial_head_gets_408_and_close(self):
        self.start(self.base_config() | {"timeouts": {"header": 1}})
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(5)
        t0 = time.time()
        data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)
        self.assertLess(time.time() - t0, 3)
        self.assertTrue(harness.closed_by_peer(s))

    def test_slow_trickle_does_not_extend_header_timeout(self):
        self.start(self.base_config() | {"timeouts": {"header": 1}})
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(0.3)
        t0 = time.time()
        data = b""
        for ch in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 40:
            try:
                s.send(bytes([ch]))
            except OSError:
                break
            try:
                data += s.recv(4096)
                break
            except socket.timeout:
                pass
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertLess(time.time() - t0, 3)

    def test_silent_connection_meets_the_header_timeout(self):
        """A client that connects and never speaks: the listener defers it
        (TCP_DEFER_ACCEPT, server/listen.c) until the kernel's first SYN-ACK
        retransmission, about 1 s, and then the header timeout (1 s) closes it.
        Nothing is sent, since no request began. Fails if such connections are
        never handed to the server (they would be held until the client gives up)."""
        self.start(self.base_config() | {"timeouts": {"header": 1}})
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(10)
        t0 = time.time()
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        waited = time.time() - t0
        self.assertEqual(data, b"")
        self.assertGreater(waited, 0.9)
        self.assertLess(waited, 6)

    def test_idle_keepalive_closes_silently(self):
        self.write("a.txt", "a")
        self.start(self.base_config() | {"timeouts": {"keepalive": 1}})
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        first = b""
        while not first.endswith(b"\r\n\r\na"):
            first += s.recv(4096)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"))
        t0 = time.time()
        self.assertEqual(s.recv(4096), b"")  # closed, nothing sent
        self.assertLess(time.time() - t0, 3)

    def test_body_timeout(self):
        cfg = self.base_config(locations=[{"path": "/echo", "echo": {}}]) | {"timeouts": {"body": 1}}
        cfg["modules"] = [os.path.join(harness.TESTMODS, "mod_echo.so")]
        self.start(cfg)
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        s.settimeout(5)
        data = s.recv(4096)
        # The echo module answers as the body streams, so the head is out: the connection is cut.
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1"), data)
        self.assertTrue(harness.closed_by_peer(s))


class ListenTest(harness.ServerTestCase):
    def test_ipv4_and_ipv6_listen(self):
        self.write("a.txt", "a")
        p6 = harness.free_port("::1", socket.AF_INET6)
        cfg = self.base_config(listen=["127.0.0.1:%d" % self.port, "[::1]:%d" % p6])
        self.start(cfg, ports=[("127.0.0.1", self.port), ("::1", p6)])
        self.assertEqual(harness.parse_responses(harness.raw(p6, b"GET /a.txt HTTP/1.0\r\n\r\n", host="::1"))[0].body, b"a")
        self.assertEqual(self.raw_one(b"GET /a.txt HTTP/1.0\r\n\r\n").body, b"a")

    def two_roots(self, first, second):
        """who.txt saying `first` in the test's root and `second` in a second root; returns the second."""
        www2 = os.path.join(self.tmp, "www2")
        os.makedirs(www2)
        with open(os.path.join(www2, "who.txt"), "w") as f:
            f.write(second)
        self.write("who.txt", first)
        return www2

    def who(self, address):
        """The body of an HTTP/1.0 GET /who.txt sent to address on the test's port."""
        return harness.parse_responses(harness.raw(self.port, b"GET /who.txt HTTP/1.0\r\n\r\n", host=address))[0].body

    def test_same_port_on_two_loopback_addresses(self):
        """Regression: the same port on two different loopback addresses must work."""
        www2 = self.two_roots("one", "two")
        cfg = self.base_config()
        s2 = dict(cfg["servers"][0], listen="127.0.0.2:%d" % self.port, root=www2)
        cfg["servers"].append(s2)
        self.start(cfg, ports=[("127.0.0.1", self.port), ("127.0.0.2", self.port)])
        self.assertEqual(self.who("127.0.0.1"), b"one")
        self.assertEqual(self.who("127.0.0.2"), b"two")

    def test_wildcard_beside_specific_address(self):
        www2 = self.two_roots("specific", "wild")
        cfg = self.base_config()
        cfg["servers"].append(dict(cfg["servers"][0], listen="0.0.0.0:%d" % self.port, root=www2))
        self.start(cfg, ports=[("127.0.0.1", self.port)])
        self.assertEqual(self.who("127.0.0.1"), b"specific")
        self.assertEqual(self.who("127.0.0.3"), b"wild")

    def test_virtual_hosts(self):
        www2 = self.two_roots("alpha", "beta")
        cfg = self.base_config(server_names=["alpha.test"])
        cfg["servers"].append(dict(cfg["servers"][0], server_names=["Beta.Test", "b.test"], root=www2))
        self.start(cfg)
        for host, body in [(b"alpha.test", b"alpha"), (b"BETA.test:%d" % self.port, b"beta"), (b"b.test", b"beta"), (b"unknown", b"alpha")]:
            r = self.raw_one(b"GET /who.txt HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
            self.assertEqual(r.body, body, host)
        r = self.raw_one(b"GET http://b.test/who.txt HTTP/1.1\r\nHost: alpha.test\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.body, b"beta")


if __name__ == "__main__":
    harness.main()

"""The asynchronous module API through the real server: timers, streamed
request bodies with backpressure, chunked output, exactly one cleanup."""
import os
import re
import socket
import threading
import time
import unittest

import harness


class AsyncApiTest(harness.ServerTestCase):
    modules = ["static"]

    def config(self):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/delay", "delay": {"ms": 150}},
            {"path": "/echo", "echo": {}},
            {"path": "/tick", "ticker": {}},
        ])
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_delay.so"),
                          os.path.join(harness.TESTMODS, "mod_echo.so"),
                          os.path.join(harness.TESTMODS, "mod_ticker.so")]
        cfg["client_max_body_size"] = 0
        cfg["servers"][0]["client_max_body_size"] = 0
        del cfg["client_max_body_size"]
        return cfg

    def cleanups(self):
        return re.findall(r"cleanup how=(\d)", self.server.stderr())

    def test_timer_answer(self):
        self.start(self.config())
        t0 = time.time()
        r, body = self.request("GET", "/delay/x")
        self.assertEqual(r.status, 200)
        self.assertEqual(body, b"delayed /delay/x\n")
        self.assertGreaterEqual(time.time() - t0, 0.14)

    @unittest.skipIf(harness.VALGRIND, "a timing bound of 0.14 s means nothing under valgrind")
    def test_slow_handler_does_not_block_others(self):
        self.write("a.txt", "a")
        self.start(self.config())
        results = []

        def slow():
            results.append(self.request("GET", "/delay/slow")[0].status)
        th = [threading.Thread(target=slow) for _ in range(10)]
        for t in th:
            t.start()
        t0 = time.time()
        r, body = self.request("GET", "/a.txt")
        self.assertLess(time.time() - t0, 0.14, "a static GET waited for the timer handlers")
        for t in th:
            t.join()
        self.assertEqual(results, [200] * 10)

    def test_echo_content_length(self):
        self.start(self.config())
        data = os.urandom(300000)
        r, body = self.request("POST", "/echo", body=data)
        self.assertEqual(r.status, 200)
        self.assertEqual(body, data)

    def test_echo_chunked_request_becomes_chunked_response(self):
        self.start(self.config())
        payload = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
        resp = self.raw_one(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + payload)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Transfer-Encoding"), "chunked")
        self.assertEqual(resp.body, b"hello world")

    @unittest.skipIf(harness.VALGRIND, "under valgrind the RSS is valgrind's, not the server's")
    def test_echo_backpressure_bounded_memory(self):
        """Send 64 MiB while reading slowly: the server's RSS must not grow with the body."""
        self.start(self.config())
        pid = self.server.proc.pid

        def rss_kib():
            with open("/proc/%d/status" % pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        return int(ln.split()[1])
        base = rss_kib()
        total = 64 * 1024 * 1024
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
        chunk = b"x" * 65536
        sent = 0
        received = 0
        peak = base
        s.setblocking(False)
        deadline = time.time() + 60
        while received < total and time.time() < deadline:
            if sent < total:
                try:
                    sent += s.send(chunk[: min(len(chunk), total - sent)])
                except BlockingIOError:
                    pass
            try:
                b = s.recv(16384)
                received += len(b)
            except BlockingIOError:
                time.sleep(0.001)
            peak = max(peak, rss_kib())
        s.close()
        self.assertGreater(received, total)  # head + body
        self.assertLess(peak - base, 8 * 1024, "RSS grew by %d KiB while echoing 64 MiB" % (peak - base))

    def test_chunked_stream_and_http10_close_delimited(self):
        self.start(self.config())
        r, body = self.request("GET", "/tick?n=4")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(body, b"tick 1\ntick 2\ntick 3\ntick 4\n")
        data = self.raw(b"GET /tick?n=3 HTTP/1.0\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.assertIn(b"Connection: close", data)
        self.assertNotIn(b"Transfer-Encoding", data)
        self.assertTrue(data.endswith(b"tick 1\ntick 2\ntick 3\n"))

    def test_exactly_one_cleanup_on_finish_and_on_disconnect(self):
        self.start(self.config())
        self.request("GET", "/tick?n=2")
        self.request("GET", "/delay/a")
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /tick?n=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        s.recv(100)
        s.close()  # gone mid-stream
        time.sleep(0.5)
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /delay/b HTTP/1.1\r\nHost: a\r\n\r\n")
        s.close()  # gone before the timer
        time.sleep(0.5)
        self.server.stop()
        c = self.cleanups()
        self.assertEqual(sorted(c), ["0", "0", "1", "1"], self.server.stderr())

    def test_pipelined_async_requests_answer_in_order(self):
        self.start(self.config())
        req = b"GET /delay/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /tick?n=2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        rs = harness.parse_responses(self.raw(req))
        self.assertEqual([r.body for r in rs], [b"delayed /delay/1\n", b"tick 1\ntick 2\n", b"abc"])

    def test_stop_waits_for_inflight_request(self):
        self.start(self.config())
        out = {}

        def get():
            out["r"] = self.request("GET", "/delay/z")
        t = threading.Thread(target=get)
        t.start()
        time.sleep(0.05)
        rc = self.server.stop()
        t.join()
        self.assertEqual(rc, 0)
        self.assertEqual(out["r"][0].status, 200)


if __name__ == "__main__":
    harness.main()

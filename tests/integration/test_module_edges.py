"""Edge cases of the module API found in review, each a regression test:
a handler writing past its Content-Length, a child that exits before it is
watched, internal redirects from handle() and on_body_end(), HEAD through an
internal redirect, and a keep-alive connection whose listen address a reload
removed."""
import os
import signal
import socket
import time

import harness


class ModuleEdgesTest(harness.ServerTestCase):
    def config(self, **server):
        cfg = self.base_config(locations=[{"path": "/", "static": {}}, {"path": "/e", "edges": {}}], **server)
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_edges.so")]
        return cfg

    def setUp(self):
        super().setUp()
        self.write("static.txt", "static body\n")

    def test_body_past_content_length_is_cut(self):
        self.start(self.config())
        req = b"GET /e?over HTTP/1.1\r\nHost: x\r\n\r\nGET /static.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        rs = harness.parse_responses(self.raw(req))
        self.assertEqual([r.body for r in rs], [b"01234", b"static body\n"])
        self.assertIn("WS0302", self.server.stderr())

    def test_child_that_exits_before_the_watch(self):
        self.start(self.config())
        r, body = self.request("GET", "/e?child")
        self.assertEqual((r.status, body), (200, b"ok"))
        self.assertIn("still alive after watch_child", self.server.stderr())

    def test_internal_redirects(self):
        self.start(self.config())
        r, body = self.request("GET", "/e?redirect")
        self.assertEqual((r.status, body), (200, b"static body\n"))
        r, body = self.request("POST", "/e?bodyend", body=b"abc")
        self.assertEqual((r.status, body), (200, b"static body\n"))

    def test_head_through_an_internal_redirect_has_no_body(self):
        self.start(self.config())
        req = b"HEAD /e?redirect HTTP/1.1\r\nHost: x\r\n\r\nGET /static.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        rs = harness.parse_responses(self.raw(req), head_only=[True, False])
        self.assertEqual(rs[0].header("Content-Length"), "12")
        self.assertEqual(rs[1].body, b"static body\n")

    def test_keepalive_connection_on_a_removed_address(self):
        port2 = harness.free_port()
        s = self.start(self.config(listen=["127.0.0.1:%d" % self.port, "127.0.0.1:%d" % port2]))
        c = self.conn(port=port2)
        c.request("GET", "/static.txt")
        self.assertEqual(c.getresponse().read(), b"static body\n")
        s.write_config(self.config())  # only the first port
        s.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reloaded" not in s.stderr() and time.time() < deadline:
            time.sleep(0.05)
        try:
            c.request("GET", "/static.txt")
            c.getresponse().read()
            closed = False
        except (ConnectionError, OSError, Exception):
            closed = True
        c.close()
        self.assertTrue(closed, "a connection of a removed address must be closed, not served")
        self.assertIsNone(s.proc.poll())
        self.assertEqual(self.request("GET", "/static.txt")[1], b"static body\n")


if __name__ == "__main__":
    harness.main()

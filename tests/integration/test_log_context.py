"""Error-log lines about a request say which request and at what step
(issue 22): the client's address and port, the request line, and what the
server was doing; a module's own log line carries the same before its text."""
import os
import socket

import harness


class LogContextTest(harness.ServerTestCase):
    def config(self, **server):
        cfg = self.base_config(locations=[{"path": "/", "static": {}}, {"path": "/e", "edges": {}}], **server)
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_edges.so")]
        return cfg

    def test_core_line_has_client_request_and_step(self):
        self.start(self.config())
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        port = sock.getsockname()[1]
        sock.sendall(b"GET /e?over HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while sock.recv(65536):
            pass
        sock.close()
        self.assertTrue(harness.wait_for(lambda: "WS0302" in self.server.stderr(), 10))
        line = [ln for ln in self.server.stderr().splitlines() if "[WS0302]" in ln][0]
        self.assertRegex(line, r', client: 127\.0\.0\.1:%d, request: "GET /e\?over HTTP/1\.1", while sending the response$'
                         % port)

    def test_no_context_outside_requests(self):
        self.start(self.config())
        self.request("GET", "/e?over")
        for ln in self.server.stderr().splitlines():
            if "[WS0106]" in ln:  # "serving": not about a request
                self.assertNotIn("client:", ln)


if __name__ == "__main__":
    harness.main()

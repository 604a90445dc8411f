"""Variables in return.location (SPEC §6): {scheme}, {host}, {port}, {uri},
{request_uri}, {query}; an unknown variable is a startup error with its JSON path."""
import socket

import harness
from test_access import check_config


class ReturnVarsTest(harness.ServerTestCase):
    def cfg(self, location, status=301):
        return self.base_config(locations=[{"path": "/", "static": {}},
                                           {"path": "/go", "return": {"status": status, "location": location}}])

    def test_https_redirect(self):
        self.start(self.cfg("https://{host}{request_uri}", 308))
        r, _ = self.request("GET", "/go/a%20b?x=1&y=2", headers={"Host": "Example.ORG:8080"})
        self.assertEqual(r.status, 308)
        self.assertEqual(r.getheader("Location"), "https://example.org/go/a%20b?x=1&y=2")

    def test_every_variable(self):
        self.start(self.cfg("{scheme}://{host}:{port}/to{uri}?q={query}"))
        r, _ = self.request("GET", "/go/a%20b/c?k=v", headers={"Host": "h.test"})
        self.assertEqual(r.getheader("Location"), "http://h.test:%d/to/go/a%%20b/c?q=k=v" % self.port)

    def test_scheme_is_https_on_a_tls_address(self):
        cfg = harness.tls_config(self.cfg("{scheme}://{host}{uri}"))
        self.start(cfg)
        data = harness._tls_wrap(socket.create_connection(("127.0.0.1", self.port)))
        data.sendall(b"GET /go/x HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            b = data.recv(65536)
            if not b:
                break
            out += b
        data.close()
        r = harness.parse_responses(out)[0]
        self.assertEqual((r.status, r.header("Location")), (301, "https://h.test/go/x"))

    def test_plain_location_unchanged(self):
        self.start(self.cfg("/elsewhere"))
        r, _ = self.request("GET", "/go/x")
        self.assertEqual(r.getheader("Location"), "/elsewhere")

    def test_unknown_variable_is_a_startup_error(self):
        rc, err = check_config(self.tmp, self.cfg("https://{hostname}/"))
        self.assertEqual(rc, 1)
        self.assertIn("servers[0].locations[1].return.location", err)
        self.assertIn("{hostname}", err)


if __name__ == "__main__":
    harness.main()

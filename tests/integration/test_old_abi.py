"""Module binaries built against older ABI minors (1.0, 1.1 and 1.2; see
tests/fixtures/README.md) load into the current server and serve: the core
reads only the part of their descriptor they know, and they never touch the
host functions added after them."""
import os

import harness

OLD10 = os.path.join(harness.TESTMODS, "mod_oldabi10.so")
OLD11 = os.path.join(harness.TESTMODS, "mod_oldabi11.so")
OLD12 = os.path.join(harness.TESTMODS, "mod_oldabi12.so")


class OldAbiTest(harness.ServerTestCase):

    def test_abi_1_0_to_1_2_modules_serve(self):
        self.write("eleven/file", "a file through open_file\n")
        self.write("ten/dir/index.html", "x")
        cfg = {"modules": [OLD10, OLD11, OLD12], "workers": 2,
               "servers": [{"listen": ["127.0.0.1:%d" % self.port], "root": self.root, "locations": [
                   {"path": "/ten", "oldabi10": {"greeting": "Hi"}},
                   {"path": "/eleven", "oldabi11": {}},
                   {"path": "/twelve", "oldabi12": {"greeting": "Hey"}}]}]}
        self.start(cfg)
        for _ in range(4):
            r, body = self.request("GET", "/ten/x")
            self.assertEqual((r.status, body), (200, b"Hi from abi 1.0 (server 1.3) /ten/x"))
        r, body = self.request("GET", "/eleven/y")
        self.assertEqual((r.status, body), (200, b"Hello from abi 1.1 (server 1.3) /eleven/y"))
        # A 1.2 build: its header filter (the end of the 1.2 descriptor) runs.
        r, body = self.request("GET", "/twelve/z")
        self.assertEqual((r.status, body), (200, b"Hey from abi 1.2 (server 1.3) /twelve/z"))
        self.assertEqual(r.getheader("X-Oldabi"), "1.2")
        r, body = self.request("POST", "/twelve/p", body=b"y" * 70000)
        self.assertEqual((r.status, body), (200, b"got 70000"))
        r, body = self.request("GET", "/ten/x")
        self.assertIsNone(r.getheader("X-Oldabi"))
        r, body = self.request("GET", "/eleven/file")
        self.assertEqual((r.status, body), (200, b"a file through open_file\n"))
        r, body = self.request("POST", "/ten/p", body=b"x" * 100000)
        self.assertEqual((r.status, body), (200, b"got 100000"))
        # An old module serves files as before: the core's folder rules still apply to it.
        r, _ = self.request("GET", "/ten/dir")
        self.assertEqual((r.status, r.getheader("Location")), (301, "/ten/dir/"))
        # A reload keeps them working.
        self.server.signal(__import__("signal").SIGHUP)
        self.assertTrue(harness.wait_for(lambda: "WS0510" in self.server.stderr(), 10))
        r, body = self.request("GET", "/ten/again")
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    harness.main()

"""The header-filter example (examples/modules/secheaders, docs/modules.md §9)
built out of tree against an installed SDK with its Makefile (pkg-config),
its test-host test run, then loaded beside static into a real server: the
filter changes what static and the core's error pages answer."""
import os

import harness
from test_sdk import SdkCase


class SdkFilterTest(SdkCase):
    def test_filter_example_builds_tests_and_serves(self):
        src = self.make_example("secheaders", "secheaders", 3)
        self.write("index.html", "<p>hi</p>\n")
        cfg = self.base_config(locations=[{"path": "/", "static": {},
                                           "secheaders": {"csp": "default-src 'self'"}}])
        cfg["modules"] = ["static", os.path.join(src, "mod_secheaders.so")]
        self.start(cfg)
        r, body = self.request("GET", "/")
        self.assertEqual(body, b"<p>hi</p>\n")
        self.assertEqual(r.getheader("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.getheader("Content-Security-Policy"), "default-src 'self'")
        r, _ = self.request("GET", "/missing")
        self.assertEqual((r.status, r.getheader("X-Content-Type-Options")), (404, "nosniff"))

    def test_body_filter_example_builds_tests_and_serves(self):
        """examples/modules/subst (docs/modules.md "Tutorial: a body filter"): built
        out of tree, its test-host test run, then substituting in what static sends,
        small and big (read in 64 KiB pieces, matches straddling them)."""
        src = self.make_example("subst", "subst", 5)
        self.write("page.txt", "see http://old.example/a and http://old.example/b\n")
        big = b"".join(b"line %06d http://old.example/\n" % i for i in range(40000))
        self.write("big.txt", big)
        self.write("logo.png", b"http://old.example")
        cfg = self.base_config(locations=[{"path": "/", "static": {},
                                           "subst": {"from": "http://old.example", "to": "https://new.example"}}])
        cfg["modules"] = ["static", os.path.join(src, "mod_subst.so")]
        self.start(cfg)
        r, body = self.request("GET", "/page.txt")
        self.assertEqual(body, b"see https://new.example/a and https://new.example/b\n")
        self.assertIsNone(r.getheader("Content-Length"))
        self.assertTrue(r.getheader("ETag").startswith('W/"'))
        r, body = self.request("GET", "/big.txt")
        self.assertEqual(body, big.replace(b"http://old.example", b"https://new.example"))
        r, body = self.request("GET", "/logo.png")  # not text: untouched, with its length
        self.assertEqual((body, r.getheader("Content-Length")), (b"http://old.example", "18"))


if __name__ == "__main__":
    harness.main()

"""The header-filter example (examples/modules/secheaders, docs/modules.md §9)
built out of tree against an installed SDK with its Makefile (pkg-config),
its test-host test run, then loaded beside static into a real server: the
filter changes what static and the core's error pages answer."""
import os
import shutil
import subprocess

import harness
from test_sdk import BUILD, EXAMPLES, run


class SdkFilterTest(harness.ServerTestCase):
    def test_filter_example_builds_tests_and_serves(self):
        prefix = os.path.join(self.tmp, "prefix")
        run(["cmake", "--install", BUILD, "--prefix", prefix], self.tmp, dict(os.environ))
        pcdir = [d for d, _, files in os.walk(prefix) if "webserv.pc" in files][0]
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        env.pop("MAKEFLAGS", None)
        src = os.path.join(self.tmp, "secheaders")
        shutil.copytree(os.path.join(EXAMPLES, "secheaders"), src)
        out = run(["make", "check", "CFLAGS=-O2 -Wall -Wextra -Werror"], src, env)
        self.assertIn("3 test(s) run", out)
        run(["make", "CFLAGS=-O2 -Wall -Wextra -Werror"], src, env)
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


if __name__ == "__main__":
    harness.main()

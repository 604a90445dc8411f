"""The module examples in docs/modules.md §9 (zones, state across reloads,
zero-copy output, locations without files and errors with a reason) are cut
out of the page, built with the flags pkg-config gives (-std=c11, the include
path, -D_GNU_SOURCE) and -Wall -Wextra -Werror, and run with the page's own
config (4 workers), so the documentation cannot drift from the API."""
import http.client
import json
import os
import re
import signal
import subprocess

import harness

DOC = os.path.join(harness.SRC, "docs", "modules.md")


def doc_blocks():
    with open(DOC) as f:
        text = f.read()
    examples = dict(re.findall(r"<!-- example: (\w+) -->\n```c\n(.*?)```", text, re.S))
    config = re.search(r"With it \(and .*?\n```json\n(.*?)```", text, re.S).group(1)
    return examples, config


class DocsExamplesTest(harness.ServerTestCase):

    def build(self, name, src):
        path = os.path.join(self.tmp, name + ".c")
        with open(path, "w") as f:
            f.write(src)
        so = os.path.join(self.tmp, "mod_%s.so" % name)
        p = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-I", os.path.join(harness.SRC, "include"),
                            "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-fvisibility=hidden", path, "-o", so],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, "%s does not build:\n%s" % (name, p.stderr))
        return so

    def get(self, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            c.request("GET", path, headers=dict({"Connection": "close"}, **(headers or {})))
            r = c.getresponse()
            return r.status, r.read(), r
        finally:
            c.close()

    def test_examples_build_and_serve(self):
        examples, config = doc_blocks()
        self.assertEqual(sorted(examples), ["banner", "counter", "generation", "sleep"])
        for name, src in examples.items():
            self.build(name, src)
        cfg = json.loads(config.replace("127.0.0.1:8090", "127.0.0.1:%d" % self.port))
        self.start(cfg)

        # Zones: one counter for all four workers, fresh connections land anywhere.
        hits = [int(self.get("/hits")[1].split()[1]) for _ in range(12)]
        self.assertEqual(hits, list(range(1, 13)))

        # State across reloads: the generation moves on, the zone's count stays.
        self.assertEqual(self.get("/gen")[1], b"generation 0\n")
        before = self.server.stderr().count("WS0510")
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: self.server.stderr().count("WS0510") > before, 10))
        self.assertTrue(harness.wait_for(lambda: self.get("/gen")[1] == b"generation 1\n", 10))
        self.assertEqual(self.get("/hits")[1], b"hits: 13\n")

        # Zero-copy: 1 MiB by reference, in order.
        st, body, r = self.get("/banner")
        self.assertEqual((st, len(body)), (200, 1024 * 1024))
        self.assertEqual(body[:30], b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCD")
        self.assertEqual(body[-1:], bytes([ord("A") + (1024 * 1024 - 1) % 26]))

        # No files, "root": null, a reason as HTML and as JSON, and the timer path.
        st, body, r = self.get("/sleep?ms=99999", {"Accept": "application/json"})
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body), {"status": 400, "error": "Bad Request",
                                            "reason": "ms must be between 0 and 60000"})
        st, body, r = self.get("/sleep?ms=x")
        self.assertIn(b"<p>ms must be between 0 and 60000</p>", body)
        self.assertEqual(self.get("/sleep?ms=20")[0], 204)


if __name__ == "__main__":
    harness.main()

"""SPEC §6 metrics module: Prometheus text format 0.0.4 of the whole server
(every worker summed, kept across reloads and worker restarts), checked by
promtool (Debian's prometheus package) and by exact sums over 4 workers."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = LINE.match(ln)
        assert m, "not a sample line: %r" % ln
        labels = dict(LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def total(samples, name, **want):
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in want.items()))


class MetricsTest(harness.ServerTestCase):
    modules = ["static", "cgi", "upload", "metrics"]

    def config(self, workers=1):
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}},
            {"path": "/cgi-bin", "cgi": {"interpreters": {".py": "/usr/bin/python3"}}},
            {"path": "/up", "methods": ["GET", "PUT", "POST"], "upload": {}, "client_max_body_size": "4K"},
            {"path": "/metrics", "metrics": {}, "root": None}])
        cfg["workers"] = workers
        return cfg

    def scrape(self):
        r, body = self.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        return body.decode()

    def get(self, path, method="GET", close=True):
        c = self.conn()
        c.request(method, path, headers={"Connection": "close"} if close else {})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    def test_promtool_accepts_the_exposition(self):
        self.write("a.txt", "hello")
        self.write("cgi-bin/hi.py", "print('Content-Type: text/plain')\nprint()\nprint('hi')\n", 0o755)
        self.start(self.config())
        self.assertEqual(self.get("/a.txt"), 200)
        self.assertEqual(self.get("/a.txt", "HEAD"), 200)
        self.assertEqual(self.get("/missing"), 404)
        self.assertEqual(self.get("/cgi-bin/hi.py"), 200)
        self.assertEqual(self.get("/a.txt", "BREW"), 501)
        text = self.scrape()
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing: scripts/install-deps.sh installs Debian's prometheus")
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual((p.stdout + p.stderr).strip(), "", "promtool lint findings")
        s = parse(text)
        self.assertEqual(total(s, "webserv_requests_total", location="/", module="static", method="GET",
                               status="2xx"), 1)
        self.assertEqual(total(s, "webserv_requests_total", location="/", method="HEAD", status="2xx"), 1)
        self.assertEqual(total(s, "webserv_requests_total", location="/", method="GET", status="4xx"), 1)
        self.assertEqual(total(s, "webserv_requests_total", location="/", method="other", status="5xx"), 1)
        self.assertEqual(total(s, "webserv_requests_total", location="/cgi-bin", module="cgi", status="2xx"), 1)
        self.assertEqual(total(s, "webserv_response_bytes_total", location="/", method="GET", module="static"), 5)
        self.assertEqual(total(s, "webserv_cgi_spawns_total"), 1)
        # Histogram: cumulative buckets, +Inf equals _count equals the requests of the series.
        series = {}
        for n, lab, v in s:
            if n == "webserv_request_duration_seconds_bucket":
                key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
                series.setdefault(key, []).append((float(lab["le"]), v))
        self.assertTrue(series)
        for key, buckets in series.items():
            values = [v for _, v in sorted(buckets)]
            self.assertEqual(values, sorted(values), key)
            labels = dict(key)
            count = total(s, "webserv_request_duration_seconds_count", **labels)
            self.assertEqual(values[-1], count)
            self.assertEqual(count, total(s, "webserv_requests_total", **labels))
        self.assertEqual(total(s, "webserv_workers"), 1)

    def test_upload_counts_stored_files_and_bytes(self):
        os.makedirs(os.path.join(self.root, "up"))
        self.start(self.config())
        r, _ = self.request("PUT", "/up/a.bin", body=b"x" * 1000)
        self.assertEqual(r.status, 201)
        boundary = "b0undary"
        body = b"".join(b"--b0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"%s\"\r\n\r\n%s\r\n"
                        % (name, data) for name, data in ((b"b.txt", b"abc"), (b"c.txt", b"defg"))) + b"--b0undary--\r\n"
        r, _ = self.request("POST", "/up", body=body,
                            headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(r.status, 201)
        r, _ = self.request("PUT", "/up/too-big.bin", body=b"x" * 5000)  # refused: not stored, not counted
        self.assertEqual(r.status, 413)
        s = parse(self.scrape())
        self.assertEqual(total(s, "webserv_upload_files_total"), 3)
        self.assertEqual(total(s, "webserv_upload_bytes_total"), 1007)

    def worker_pids(self, master):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def rchar(self, pid):
        with open("/proc/%d/io" % pid) as f:
            return int(re.search(r"rchar: (\d+)", f.read()).group(1))

    def test_four_workers_are_summed_exactly(self):
        self.write("a.txt", "x" * 100)
        s = harness.Server(self.config(workers=4), self.tmp, env={"WEBSERV_REUSEPORT": "1"})
        self.servers.append(s)
        s.start(wait_ports=[("127.0.0.1", self.port)])
        self.assertTrue(harness.wait_for(lambda: len(self.worker_pids(s.proc.pid)) == 4), "4 workers")
        pids = self.worker_pids(s.proc.pid)
        before = {p: self.rchar(p) for p in pids}
        n = 400
        for _ in range(n):  # one connection each: SO_REUSEPORT spreads them over the workers
            self.assertEqual(self.get("/a.txt"), 200)
        busy = [p for p in pids if self.rchar(p) - before[p] > 2000]
        self.assertGreaterEqual(len(busy), 2, "the requests reached only one worker")
        for _ in range(12):  # each scrape may be answered by another worker: all see the same sum
            sm = parse(self.scrape())
            self.assertEqual(total(sm, "webserv_requests_total", location="/"), n)
            self.assertEqual(total(sm, "webserv_response_bytes_total", location="/"), 100 * n)
            self.assertEqual(total(sm, "webserv_request_duration_seconds_count", location="/"), n)
            self.assertEqual(total(sm, "webserv_workers"), 4)
            self.assertGreaterEqual(total(sm, "webserv_connections_accepted_total"), n)

    def test_gauges_reloads_and_restarts(self):
        self.write("a.txt", "hello")
        s = self.start(self.config(workers=2))
        idle = []
        for _ in range(3):
            c = socket.create_connection(("127.0.0.1", self.port))
            c.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"hello", c.recv(4096))
            idle.append(c)
        # Every worker refreshes its gauges about once a second: wait for a scrape that sees them
        # (a slow sanitizer build on a busy machine may need more than one period).
        self.assertTrue(harness.wait_for(
            lambda: total(parse(self.scrape()), "webserv_connections", state="idle") >= 3, timeout=10),
            "the three idle connections never showed in the gauges")
        sm = parse(self.scrape())
        self.assertGreaterEqual(total(sm, "webserv_connections", state="idle"), 3)
        self.assertGreaterEqual(total(sm, "webserv_connections", state="active"), 4)
        self.assertGreaterEqual(total(sm, "webserv_connections", state="writing"), 1)  # the scrape itself
        for c in idle:
            c.close()
        self.assertEqual(total(sm, "webserv_reloads_total"), 0)
        requests = total(sm, "webserv_requests_total")

        s.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: total(parse(self.scrape()), "webserv_reloads_total") == 1))

        # Kill a current worker: the reload's old ones may still be finishing (one of them dying is
        # not a restart), so wait until only the two new ones are left.
        self.assertTrue(harness.wait_for(lambda: len(self.worker_pids(s.proc.pid)) == 2, timeout=15),
                        "the old workers never finished after the reload")
        pids = self.worker_pids(s.proc.pid)
        os.kill(pids[0], signal.SIGKILL)
        self.assertTrue(harness.wait_for(lambda: total(parse(self.scrape()), "webserv_worker_restarts_total") == 1,
                                         timeout=15))
        sm = parse(self.scrape())
        # Counters survive the reload and the restart.
        self.assertGreaterEqual(total(sm, "webserv_requests_total"), requests)
        self.assertTrue(harness.wait_for(lambda: total(parse(self.scrape()), "webserv_workers") == 2, timeout=15))


if __name__ == "__main__":
    harness.main()

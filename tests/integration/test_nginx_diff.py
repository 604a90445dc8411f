"""Differential check against nginx (issue 20): every raw request of the
conformance table (test_conformance.TABLE) goes to webserv and to nginx, both
serving the same files with the same limits. Each answer is reduced to an
outcome: the final statuses before the pipelined probe, then "probe" when the
connection stayed usable (the probe was answered) or "closed".

Where the two differ, tests/integration/nginx_differences.json must list the
row with both outcomes and the reason webserv's answer is the right one. A
difference that is not listed fails the test (explain it, or fix webserv); so
does a listed one that no longer occurs (the file must stay true).

nginx (Debian's nginx-light; scripts/install-deps.sh installs it) is started by
hand in the foreground, as one process, on a free loopback port, with its own
prefix, config and temp folders under the test's temporary folder: never as a
service. When it is missing the test is skipped with the reason, and the
process exits 77, which ctest reports as skipped (not passed).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor

import harness
import test_conformance as conf

NGINX = os.environ.get("WEBSERV_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
DIFFERENCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nginx_differences.json")
SKIP_EXIT = 77

# Mirrors ConformanceTest.config(): two name-based servers, /count and /echo
# answered without a file (nginx reads and drops the body of a `return`), /small
# limited to SMALL_BODY bytes, a 1 KiB header buffer (nginx applies it to each
# line, webserv to the whole head: the rows past it differ and are explained).
NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/plain txt; text/html html; }}
    default_type application/octet-stream;
    client_header_buffer_size {header_size};
    large_client_header_buffers 4 {header_size};
    client_header_timeout 5s;
    client_body_timeout 5s;
    # After an error nginx drops input until the client is quiet this long;
    # webserv lingers up to 2 s. Shorter than the row's 5 s read timeout.
    lingering_timeout 1s;
    server {{
        listen 127.0.0.1:{port} default_server;
        server_name a.example;
        root {root};
        location / {{ }}
        location /echo {{ return 200 "echo\\n"; }}
        location /count {{ return 200 "count\\n"; }}
        location /small {{ client_max_body_size {small}; return 200 "small\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name b.example;
        root {root_b};
        location / {{ }}
    }}
}}
"""


def row_id(raw):
    """A stable, readable name for a row: the raw request, escaped; a long one
    is shortened in the middle and made unique with a hash of all of it."""
    text = raw.decode("latin-1").encode("unicode_escape").decode("ascii")
    if len(text) <= 150:
        return text
    return "%s...%s #%s" % (text[:100], text[-40:], hashlib.sha1(raw).hexdigest()[:10])


def outcome(port, row):
    """The final statuses before the probe, then "probe" or "closed"; or what went wrong."""
    resps, err = conf.run_row(port, row)
    if err:
        return "unparsable" if err.startswith("unparsable") else "no close within 5 s"
    finals = [r for r in resps if r.status >= 200]
    probe = bool(finals) and len(finals) >= 2 and finals[-1].status == 200 and finals[-1].body == conf.PROBE_BODY
    statuses = [r.status for r in (finals[:-1] if probe else finals)]
    return " ".join(str(s) for s in statuses) + (" probe" if probe else " closed") if statuses else "no response"


class NginxDiffTest(harness.ServerTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(NGINX):
            self.skipTest("nginx is not installed (scripts/install-deps.sh installs nginx-light): "
                          "no differential check against it")
        # The conformance test's files and config, on a ConformanceTest-shaped self.
        self.write("a.txt", "AAA\n")
        self.write("b.txt", "BBB\n")
        self.write("who.txt", "server-a\n")
        self.write("probe.txt", conf.PROBE_BODY)
        self.write("index.html", "home\n")
        self.write("dir/index.html", "dir index\n")
        self.root_b = os.path.join(self.tmp, "www-b")
        os.makedirs(self.root_b)
        for name, body in (("who.txt", "server-b\n"), ("probe.txt", conf.PROBE_BODY.decode())):
            with open(os.path.join(self.root_b, name), "w") as f:
                f.write(body)
        self.nginx = None

    def tearDown(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        super().tearDown()

    def start_nginx(self):
        prefix = os.path.join(self.tmp, "nginx")
        os.makedirs(prefix)
        port = harness.free_port()
        path = os.path.join(prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(NGINX_CONF.format(prefix=prefix, port=port, root=self.root, root_b=self.root_b,
                                      header_size=conf.HEADER_SIZE, small=conf.SMALL_BODY))
        log = open(os.path.join(prefix, "stderr.log"), "wb")
        self.addCleanup(log.close)
        # -e: the startup error log too goes under the prefix, never to /var/log/nginx.
        self.nginx = subprocess.Popen([NGINX, "-p", prefix, "-c", path, "-e", os.path.join(prefix, "error.log")],
                                      stdout=log, stderr=log)
        ok = harness.wait_for(lambda: self.nginx.poll() is None and harness_port_open(port), 10)
        with open(os.path.join(prefix, "stderr.log"), "rb") as f:
            self.assertTrue(ok, "nginx did not start: %s" % f.read().decode(errors="replace"))
        return port

    def test_every_difference_is_explained(self):
        with open(DIFFERENCES) as f:
            listed = json.load(f)
        reasons = listed["reasons"]
        known = {d["request"]: d for d in listed["differences"]}
        for d in listed["differences"]:
            self.assertIn(d["why"], reasons, "%s: no reason named %r" % (d["request"], d["why"]))

        ng_port = self.start_nginx()
        conf_test = conf.ConformanceTest.config(self)  # the same config the conformance test uses
        self.start(conf_test)
        with ThreadPoolExecutor(max_workers=8) as ex:
            ours = list(ex.map(lambda row: outcome(self.port, row), conf.TABLE))
            theirs = list(ex.map(lambda row: outcome(ng_port, row), conf.TABLE))

        ids = [row_id(conf.row_parts(row)[0]) for row in conf.TABLE]
        self.assertEqual(len(set(ids)), len(ids), "two rows share an id")
        problems, seen = [], set()
        for rid, w, n in zip(ids, ours, theirs):
            if w == n:
                if rid in known:
                    problems.append("listed but no longer different (webserv and nginx: %s): %s" % (w, rid))
                continue
            seen.add(rid)
            d = known.get(rid)
            if d is None:
                problems.append("new difference, explain it in nginx_differences.json: "
                                '{"request": %s, "webserv": "%s", "nginx": "%s", "why": "?"}'
                                % (json.dumps(rid), w, n))
            elif (d["webserv"], d["nginx"]) != (w, n):
                problems.append("difference changed: %s: listed webserv %r nginx %r, now webserv %r nginx %r"
                                % (rid, d["webserv"], d["nginx"], w, n))
        for rid in known:
            if rid not in ids:
                problems.append("listed row is no longer in the conformance table: %s" % rid)
        same = sum(1 for w, n in zip(ours, theirs) if w == n)
        print("\nnginx differential: %d rows, %d answered alike, %d differences (all explained: %s)"
              % (len(ids), same, len(seen), not problems))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))
        self.assertEqual(self.nginx.poll(), None, "nginx died during the run")


def harness_port_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    if result.skipped and not result.failures and not result.errors and result.testsRun == len(result.skipped):
        sys.exit(SKIP_EXIT)
    sys.exit(0 if result.wasSuccessful() else 1)

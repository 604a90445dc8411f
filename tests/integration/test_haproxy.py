"""Issue 9: scale-out. HAProxy (from Debian, started by hand in the
foreground) in front of two webserv instances on loopback: both serve, and
once one is killed and its health check fails, every request still succeeds."""
import http.client
import os
import shutil
import signal
import subprocess
import threading
import time

import harness

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class HaproxyTest(harness.ServerTestCase):
    modules = ["static"]

    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(HAPROXY), "haproxy is not installed (scripts/install-deps.sh installs it)")
        self.write("index.html", "home\n")
        self.haproxy = None

    def tearDown(self):
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.send_signal(signal.SIGTERM)
            try:
                self.haproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait()
        if self.haproxy:
            self.haproxy_log.close()
        super().tearDown()

    def instance(self, name):
        port = harness.free_port()
        workdir = os.path.join(self.tmp, name)
        os.makedirs(workdir)
        cfg = {"modules": ["static"], "modules_dir": harness.MODULES, "workers": 2,
               "servers": [{"listen": "127.0.0.1:%d" % port, "root": self.root, "locations": [
                   {"path": "/", "static": {}},
                   {"path": "/healthz", "return": {"status": 200, "body": "ok\n"}},
                   {"path": "/who", "return": {"status": 200, "body": name}}]}]}
        s = harness.Server(cfg, workdir)
        self.servers.append(s)
        s.start(wait_ports=[("127.0.0.1", port)])
        return s, port

    def start_haproxy(self, backends):
        self.front = harness.free_port()
        self.stats = harness.free_port()
        servers = "\n".join("    server %s 127.0.0.1:%d check" % (n, p) for n, p in backends)
        cfg = f"""
global
    maxconn 2000
defaults
    mode http
    retries 2
    option redispatch
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend www
    bind 127.0.0.1:{self.front}
    default_backend webserv
backend webserv
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server inter 100ms fall 2 rise 1
{servers}
frontend stats
    bind 127.0.0.1:{self.stats}
    stats enable
    stats uri /stats
"""
        path = os.path.join(self.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.haproxy_log = open(os.path.join(self.tmp, "haproxy.log"), "wb")
        # -db: stay in the foreground, no daemon, no service manager.
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=self.haproxy_log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.assertTrue(harness.wait_for(lambda: self.states().get(backends[0][0]) == "UP" and
                                 self.states().get(backends[1][0]) == "UP", 10), self.states())

    def states(self):
        """Backend server name → status (UP, DOWN, …) from the stats CSV."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.stats, timeout=2)
            c.request("GET", "/stats;csv")
            text = c.getresponse().read().decode()
            c.close()
        except OSError:
            return {}
        out = {}
        for row in text.splitlines():
            f = row.split(",")
            if len(f) > 17 and f[0] == "webserv" and f[1] not in ("BACKEND", "FRONTEND"):
                out[f[1]] = f[17].split(" ")[0]
        return out

    def run_requests(self, total, threads=4):
        """total GET /who through HAProxy on keep-alive connections; returns (bodies, errors)."""
        bodies, errors = {}, []
        lock = threading.Lock()

        def worker(n):
            c = http.client.HTTPConnection("127.0.0.1", self.front, timeout=10)
            for _ in range(n):
                try:
                    c.request("GET", "/who")
                    r = c.getresponse()
                    body = r.read().decode()
                    with lock:
                        if r.status == 200:
                            bodies[body] = bodies.get(body, 0) + 1
                        else:
                            errors.append(r.status)
                except Exception as e:  # noqa: BLE001 - every failure counts
                    with lock:
                        errors.append(repr(e))
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", self.front, timeout=10)
            c.close()

        ts = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        return bodies, errors

    def test_two_instances_behind_haproxy(self):
        web1, p1 = self.instance("web1")
        web2, p2 = self.instance("web2")
        self.start_haproxy([("web1", p1), ("web2", p2)])

        bodies, errors = self.run_requests(2000)
        self.assertEqual(errors, [])
        self.assertEqual(sum(bodies.values()), 2000)
        self.assertGreater(bodies.get("web1", 0), 600, bodies)
        self.assertGreater(bodies.get("web2", 0), 600, bodies)

        web1.expect_nonzero = True
        for pid in [web1.proc.pid]:
            os.kill(pid, signal.SIGKILL)  # the master; its workers follow it (PR_SET_PDEATHSIG)
        web1.proc.wait(timeout=5)
        self.assertTrue(harness.wait_for(lambda: self.states().get("web1", "").startswith("DOWN"), 10), self.states())

        bodies, errors = self.run_requests(400)
        self.assertEqual(errors, [])
        self.assertEqual(bodies, {"web2": 400})

    def test_shipped_haproxy_config_is_valid(self):
        cfg = os.path.join(harness.SRC, "deploy/haproxy/haproxy.cfg")
        p = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    harness.main()

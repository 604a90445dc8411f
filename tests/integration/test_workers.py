"""Issue 9: worker processes. A master binds the sockets and runs N workers;
a dead worker is replaced; SIGHUP replaces the workers without failing a
request; SIGINT/SIGTERM stop everything with exit 0."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
import proctree


def children(pid):
    """Pids of the live (not zombie) child processes of pid."""
    return [p for p, _ in proctree.children(pid, live_only=True)]


alive = proctree.alive


class WorkersTest(harness.ServerTestCase):
    modules = ["static"]

    def setUp(self):
        super().setUp()
        self.write("index.html", "home\n")

    def config(self, workers=3, **kw):
        cfg = self.base_config(**kw)
        cfg["workers"] = workers
        cfg["access_log"] = os.path.join(self.tmp, "access.log")
        cfg["access_log_format"] = "json"
        cfg["timeouts"] = {"shutdown": 5}
        return cfg

    def get(self, path="/index.html", port=None, close=True):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        c.request("GET", path, headers={"Connection": "close"} if close else {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def workers(self, n=None, timeout=10):
        pid = self.server.proc.pid
        if n is None:
            return children(pid)
        return harness.wait_for(lambda: len(children(pid)) == n and children(pid), timeout) or children(pid)

    def access_pids(self):
        with open(os.path.join(self.tmp, "access.log")) as f:
            return [json.loads(line)["pid"] for line in f if line.strip()]

    def test_master_forks_workers_that_serve(self):
        self.start(self.config(3))
        ws = self.workers(3)
        self.assertEqual(len(ws), 3, ws)
        for _ in range(30):
            self.assertEqual(self.get(), (200, b"home\n"))
        harness.wait_for(lambda: len(self.access_pids()) == 30, 5)  # the line is written just after the response
        pids = set(self.access_pids())
        self.assertTrue(pids <= set(ws), (pids, ws))
        self.assertNotIn(self.server.proc.pid, pids, "the master served a request")
        self.assertIn("[WS0500]", self.server.stderr())

    def test_one_worker_is_a_single_process(self):
        self.start(self.config(1))
        self.assertEqual(self.get(), (200, b"home\n"))
        self.assertEqual(children(self.server.proc.pid), [])
        self.assertTrue(harness.wait_for(lambda: self.access_pids() == [self.server.proc.pid], 5), self.access_pids())

    def test_auto_is_one_worker_per_cpu(self):
        cfg = self.config(1)
        cfg["workers"] = "auto"
        self.start(cfg)
        self.assertEqual(self.get()[0], 200)
        n = os.cpu_count() or 1
        self.assertEqual(len(self.workers(n if n > 1 else 0)), n if n > 1 else 0)

    def test_a_killed_worker_is_replaced(self):
        self.start(self.config(2))
        ws = self.workers(2)
        self.assertEqual(len(ws), 2)
        os.kill(ws[0], signal.SIGKILL)
        new = harness.wait_for(lambda: (lambda c: len(c) == 2 and ws[0] not in c and c)(self.workers()), 10)
        self.assertTrue(new, "no replacement worker: %s" % self.workers())
        self.assertIn(ws[1], new)
        fresh = [p for p in new if p != ws[1]][0]
        # The replacement serves: freeze the other worker so only it can accept.
        os.kill(ws[1], signal.SIGSTOP)
        try:
            for _ in range(5):
                self.assertEqual(self.get(), (200, b"home\n"))
        finally:
            os.kill(ws[1], signal.SIGCONT)
        self.assertTrue(harness.wait_for(lambda: self.access_pids().count(fresh) == 5, 5), (fresh, self.access_pids()))
        err = self.server.stderr()
        self.assertIn("[WS0503]", err)
        self.assertIn("killed by signal 9", err)

    def test_a_crashing_worker_backs_off(self):
        """A worker that dies at once is restarted with a growing delay, not in a spin."""
        self.start(self.config(2))
        deadline = time.time() + 3
        kills = 0
        while time.time() < deadline:
            for p in self.workers():
                try:
                    os.kill(p, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        # 100, 200, 400, 800, 1600 ms … : a handful of restarts per slot in 3 s, not hundreds.
        self.assertLess(kills, 40)
        self.assertGreater(kills, 2)
        self.assertTrue(harness.wait_for(lambda: len(self.workers()) == 2, 15))
        self.assertEqual(self.get(), (200, b"home\n"))

    def test_stop_signals_end_everything_with_status_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig):
                s = harness.Server(self.config(3), self.tmp)
                s.start(wait_ports=[("127.0.0.1", self.port)])
                self.server = s
                ws = self.workers(3)
                self.assertEqual(self.get()[0], 200)
                s.signal(sig)
                s.proc.wait(timeout=15)
                self.assertEqual(s.proc.returncode, 0, s.stderr())
                s.stop()
                self.assertFalse([p for p in ws if alive(p)])
                self.assertIn("[WS0514] stopped", s.stderr())

    def test_stop_lets_in_flight_requests_finish(self):
        cfg = self.config(2, locations=[{"path": "/", "static": {}}, {"path": "/slow", "delay": {"ms": 1000}}])
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_delay.so")]
        self.start(cfg)
        self.workers(2)
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", self.get("/slow")))
        t.start()
        time.sleep(0.3)
        self.server.signal(signal.SIGTERM)
        t.join(10)
        self.assertEqual(result.get("r"), (200, b"delayed /slow\n"))
        self.server.proc.wait(timeout=10)
        self.assertEqual(self.server.proc.returncode, 0)

    def test_master_gone_workers_stop(self):
        self.start(self.config(2))
        ws = self.workers(2)
        self.server.expect_nonzero = True
        self.server.proc.kill()
        self.server.proc.wait()
        self.assertTrue(harness.wait_for(lambda: not any(alive(p) for p in ws), 10), "orphaned workers kept running")

    def test_reload_replaces_workers_and_keeps_in_flight_requests(self):
        cfg = self.config(2, locations=[{"path": "/", "static": {}}, {"path": "/slow", "delay": {"ms": 1500}}])
        cfg["modules"] = ["static", os.path.join(harness.TESTMODS, "mod_delay.so")]
        self.start(cfg)
        old = self.workers(2)
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", self.get("/slow")))
        t.start()
        time.sleep(0.3)
        cfg["workers"] = 3
        self.server.write_config(cfg)
        self.server.signal(signal.SIGHUP)
        new = harness.wait_for(lambda: (lambda c: len(c) == 3 and not set(c) & set(old) and c)(self.workers()), 10)
        self.assertTrue(new, "workers not replaced: %s (old %s)" % (self.workers(), old))
        self.assertEqual(self.get(), (200, b"home\n"))
        t.join(10)
        self.assertEqual(result.get("r"), (200, b"delayed /slow\n"))
        self.assertIn("[WS0510]", self.server.stderr())

    def test_reload_binds_a_new_address(self):
        self.start(self.config(2))
        self.workers(2)
        port2 = harness.free_port()
        cfg = self.config(2)
        cfg["servers"][0]["listen"] = ["127.0.0.1:%d" % self.port, "127.0.0.1:%d" % port2]
        self.server.write_config(cfg)
        self.server.signal(signal.SIGHUP)
        ok = harness.wait_for(lambda: self._try(port2), 10)
        self.assertTrue(ok, self.server.stderr())
        self.assertEqual(self.get(), (200, b"home\n"))

    def _try(self, port):
        try:
            return self.get(port=port)[0] == 200
        except OSError:
            return False

    def test_invalid_reload_keeps_old_workers(self):
        self.start(self.config(2))
        ws = self.workers(2)
        self.server.write_config('{"workers": 2, "servers": [ {"listen": ')
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: "[WS0506]" in self.server.stderr(), 10), self.server.stderr())
        self.assertEqual(self.workers(), ws)
        self.assertEqual(self.get(), (200, b"home\n"))
        # A bind that fails is refused the same way.
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        cfg = self.config(2)
        cfg["servers"][0]["listen"] = ["127.0.0.1:%d" % self.port, "127.0.0.1:%d" % blocker.getsockname()[1]]
        self.server.write_config(cfg)
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: "[WS0507]" in self.server.stderr(), 10), self.server.stderr())
        blocker.close()
        self.assertEqual(self.workers(), ws)
        self.assertEqual(self.get(), (200, b"home\n"))

    def test_no_request_fails_across_five_reloads(self):
        """Steady clients (a new connection per request, and keep-alive ones
        that retry only what any HTTP client retries: a request on a reused
        connection that the server closed before answering) see zero errors."""
        self.reload_loop()

    def test_no_request_fails_across_five_reloads_reuseport(self):
        """The same with one SO_REUSEPORT socket per worker slot."""
        self.reload_loop(env={"WEBSERV_REUSEPORT": "1"})
        self.assertIn("SO_REUSEPORT listening sockets", self.server.stderr())

    def reload_loop(self, env=None):
        self.start(self.config(2), env=env)
        self.workers(2)
        stop = threading.Event()
        counts = {"ok": 0, "errors": [], "retried": 0}
        lock = threading.Lock()

        def fresh_loop():
            while not stop.is_set():
                try:
                    st, body = self.get()
                    good = st == 200 and body == b"home\n"
                except Exception as e:  # noqa: BLE001 - every failure counts
                    good, st = False, "fresh: " + repr(e)
                with lock:
                    if good:
                        counts["ok"] += 1
                    else:
                        counts["errors"].append(st)

        def keepalive_loop():
            c = None
            while not stop.is_set():
                reused = c is not None
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                try:
                    c.request("GET", "/index.html")
                    r = c.getresponse()
                    body = r.read()
                    good, st = r.status == 200 and body == b"home\n", r.status
                    if r.will_close:
                        c.close()
                        c = None
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                    c.close()
                    c = None
                    if reused:
                        with lock:
                            counts["retried"] += 1
                        continue
                    good, st = False, "keep-alive: " + repr(e)
                except Exception as e:  # noqa: BLE001
                    good, st = False, repr(e)
                    c.close()
                    c = None
                with lock:
                    if good:
                        counts["ok"] += 1
                    else:
                        counts["errors"].append(st)
            if c:
                c.close()

        threads = [threading.Thread(target=fresh_loop) for _ in range(3)]
        threads += [threading.Thread(target=keepalive_loop) for _ in range(2)]
        for t in threads:
            t.start()
        seen = set(self.workers())
        try:
            for i in range(5):
                time.sleep(0.5)
                before = counts["ok"]
                self.server.signal(signal.SIGHUP)
                self.assertTrue(harness.wait_for(lambda: self.server.stderr().count("[WS0510]") == i + 1, 10))
                self.assertTrue(harness.wait_for(lambda: counts["ok"] > before + 20, 10), "requests stalled")
                seen |= set(self.workers())
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        print("\nreload test: %d requests, %d errors, %d keep-alive retries, %d worker pids"
              % (counts["ok"], len(counts["errors"]), counts["retried"], len(seen)))
        self.assertEqual(counts["errors"], [])
        self.assertGreater(counts["ok"], 200)
        self.assertGreaterEqual(len(seen), 2 * 6 - 1)


    def test_no_request_fails_across_ten_reloads_without_retries(self):
        """Issue 20: clients that never retry (Python's http.client as is: a
        request that fails is a failure, even on a reused keep-alive
        connection) see zero errors across ten reloads. An old worker drains:
        it answers the next request of each connection with Connection: close
        and closes only connections that stay idle past a grace period."""
        self.start(self.config(2))
        self.workers(2)
        stop = threading.Event()
        counts = {"ok": 0, "errors": [], "closes": 0}
        lock = threading.Lock()

        def client_loop(keepalive):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            while not stop.is_set():
                try:
                    c.request("GET", "/index.html", headers={} if keepalive else {"Connection": "close"})
                    r = c.getresponse()
                    body = r.read()
                    good, st = r.status == 200 and body == b"home\n", r.status
                    if keepalive and r.will_close:
                        with lock:
                            counts["closes"] += 1
                except Exception as e:  # noqa: BLE001 - no retry: every failure counts
                    good, st = False, ("keep-alive: " if keepalive else "fresh: ") + repr(e)
                    c.close()
                with lock:
                    if good:
                        counts["ok"] += 1
                    else:
                        counts["errors"].append(st)
            c.close()

        threads = [threading.Thread(target=client_loop, args=(ka,)) for ka in (True, True, False, False)]
        for t in threads:
            t.start()
        try:
            for i in range(10):
                time.sleep(0.4)
                before = counts["ok"]
                self.server.signal(signal.SIGHUP)
                self.assertTrue(harness.wait_for(lambda: self.server.stderr().count("[WS0510]") == i + 1, 10))
                self.assertTrue(harness.wait_for(lambda: counts["ok"] > before + 20, 10), "requests stalled")
            time.sleep(0.4)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        print("\nreload test without retries: %d requests, %d errors, 10 reloads, %d keep-alive connections "
              "ended by a draining worker" % (counts["ok"], len(counts["errors"]), counts["closes"]))
        self.assertEqual(counts["errors"], [])
        self.assertGreater(counts["ok"], 400)
        # The old workers drained their keep-alive connections with Connection: close.
        self.assertGreaterEqual(counts["closes"], 10)

    def test_stop_drains_idle_keepalive_connections(self):
        """SIGTERM: an idle keep-alive connection is not closed at once; a
        request sent on it within the grace period is answered (with
        Connection: close), and the server then exits 0."""
        self.start(self.config(2))
        self.workers(2)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/index.html")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"home\n"))
        self.server.signal(signal.SIGTERM)
        time.sleep(0.2)
        c.request("GET", "/index.html")
        r = c.getresponse()
        self.assertEqual((r.status, r.read(), r.getheader("Connection")), (200, b"home\n", "close"))
        c.close()
        self.server.proc.wait(timeout=10)
        self.assertEqual(self.server.proc.returncode, 0)

    def test_stop_waits_for_the_first_request_of_a_new_connection(self):
        """A connection accepted before the stop whose first request is slow to come (a busy
        client) is not given the keep-alive grace period: a client connects to send a request, so
        it gets its header timeout (within timeouts.shutdown) and its answer."""
        cfg = self.config(1)
        cfg["timeouts"] = {"shutdown": 30, "header": 10}
        self.start(cfg)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        # Accepted by the idle worker: the listener defers a connection that has not spoken
        # (TCP_DEFER_ACCEPT, server/listen.c) until the kernel's first SYN-ACK retransmission
        # at about 1 s, and hands it over then.
        time.sleep(2)
        self.server.signal(signal.SIGTERM)
        time.sleep(2)  # twice the keep-alive grace period
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"home" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        self.assertIn(b"200 OK", data)
        self.assertIn(b"Connection: close", data)
        s.close()
        self.server.proc.wait(timeout=10)
        self.assertEqual(self.server.proc.returncode, 0)

    def test_stop_closes_idle_connections_after_the_grace_period(self):
        """Draining is bounded: a keep-alive connection that stays idle is
        closed after the grace period, long before timeouts.shutdown."""
        cfg = self.config(1)
        cfg["timeouts"] = {"shutdown": 30, "keepalive": 60}
        self.start(cfg)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"home", s.recv(4096))
        t0 = time.time()
        self.server.signal(signal.SIGTERM)
        self.assertEqual(s.recv(4096), b"")  # silent close
        waited = time.time() - t0
        self.assertGreater(waited, 0.5)
        self.assertLess(waited, 5)
        self.server.proc.wait(timeout=10)
        self.assertEqual(self.server.proc.returncode, 0)
        s.close()


class OpsFilesTest(harness.unittest.TestCase):
    """--help matches the man page; cmake --install installs it; the service
    file reloads with SIGHUP."""

    def man(self):
        with open(os.path.join(harness.SRC, "docs/webserv.8")) as f:
            return f.read().replace("\\-", "-").replace("\\(dq", '"')

    def test_help_matches_man_page(self):
        p = subprocess.run([harness.BIN, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        man = self.man()
        words = ["-t", "--explain", "-h", "--help", "-v", "--version", "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1",
                 "WEBSERV_EVENT_BACKEND", "WEBSERV_REUSEPORT", "CONFIG", "METHOD URL", "[HOST]"]
        for w in words:
            self.assertIn(w, p.stdout, "--help lacks %s" % w)
            self.assertIn(w, man.replace("\n.I ", " ").replace("\n.RI [ ", " [").replace(" ]", "]"),
                          "webserv.8 lacks %s" % w)
        # Every option the man page lists under OPTIONS is in --help.
        opts = man.split(".SH OPTIONS")[1].split(".SH ")[0]
        for o in re.findall(r"^\.B[IR]? \"?(-[-a-z]+)", opts, re.M):
            self.assertIn(o, p.stdout)

    def test_install_puts_the_man_page_in_man8(self):
        build = os.environ.get("WEBSERV_BUILD") or os.path.dirname(harness.BIN)
        with tempfile.TemporaryDirectory() as prefix:
            p = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(os.path.isfile(os.path.join(prefix, "share/man/man8/webserv.8")))

    def test_service_file(self):
        with open(os.path.join(harness.SRC, "contrib/webserv.service")) as f:
            unit = f.read()
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        self.assertRegex(unit, r"(?m)^ExecStart=\S*webserv ")
        self.assertRegex(unit, r"(?m)^KillSignal=SIGTERM$")
        with open(os.path.join(harness.SRC, "contrib/logrotate")) as f:
            self.assertIn("--signal=USR1", f.read())


if __name__ == "__main__":
    harness.main()

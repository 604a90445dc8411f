"""Issue 19: module state. The kv example (examples/modules/kv) on a
shared-memory zone with 4 workers: consistent answers under concurrent
clients, data kept across a reload (and a logged fresh zone when its size
changes), a worker SIGKILLed while holding a zone's lock does not wedge the
others; "root": null and modules that serve no files; errors with a reason."""
import http.client
import json
import os
import signal
import threading
import time

import harness
import proctree

KV = os.path.join(harness.TESTMODS, "mod_kv.so")
SHMLOCK = os.path.join(harness.TESTMODS, "mod_shmlock.so")


def children(pid):
    return [p for p, _ in proctree.children(pid)]


class KvTest(harness.ServerTestCase):

    def config(self, workers=4, kv=None, extra_locations=(), modules=None):
        cfg = {"modules": modules or ["static", KV], "modules_dir": harness.MODULES, "workers": workers,
               "timeouts": {"shutdown": 3},
               "servers": [{"listen": ["127.0.0.1:%d" % self.port], "root": self.root, "locations": [
                   {"path": "/", "static": {}},
                   {"path": "/kv", "kv": kv if kv is not None else {"size": "1M"}},
                   *extra_locations]}]}
        return cfg

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            h = {"Connection": "close"}
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read(), r
        finally:
            c.close()

    def wait_workers(self, n):
        pid = self.server.proc.pid
        ok = harness.wait_for(lambda: len(children(pid)) == n, 10)
        self.assertTrue(ok, "expected %d workers, have %s" % (n, children(pid)))
        return children(pid)

    def test_four_workers_agree_under_concurrent_clients(self):
        self.start(self.config())
        self.wait_workers(4)
        errors = []
        pids = set()

        def client(n):
            try:
                for i in range(25):
                    key, val = "c%d-%d" % (n, i), ("v%d-%d" % (n, i)).encode() * (1 + i % 5)
                    st, _, _ = self.req("PUT", "/kv/" + key, body=val)
                    if st != 201:
                        errors.append(("PUT", key, st))
                    st, body, r = self.req("GET", "/kv/" + key)
                    if (st, body) != (200, val):
                        errors.append(("GET", key, st, body[:40]))
                    st, body, _ = self.req("PUT", "/kv/shared", body=b"x%d" % n)
                    if st not in (201, 204):
                        errors.append(("PUT shared", st))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        st, body, r = self.req("GET", "/kv/")
        self.assertEqual((st, r.getheader("Content-Type")), (200, "application/json"))
        keys = json.loads(body)
        self.assertEqual(len(keys), 8 * 25 + 1)
        self.assertEqual(set(keys), {"c%d-%d" % (n, i) for n in range(8) for i in range(25)} | {"shared"})
        # Every worker sees every key: 40 fresh connections spread over the 4 workers.
        for i in range(40):
            st, body, _ = self.req("GET", "/kv/c3-%d" % (i % 25))
            self.assertEqual(st, 200)
        st, _, _ = self.req("DELETE", "/kv/c0-0")
        self.assertEqual(st, 204)
        for _ in range(8):
            self.assertEqual(self.req("GET", "/kv/c0-0")[0], 404)

    def test_data_survives_reload_and_size_change_is_logged(self):
        self.start(self.config())
        self.wait_workers(4)
        self.assertEqual(self.req("PUT", "/kv/keep", body=b"me")[0], 201)
        old = set(self.wait_workers(4))
        self.server.write_config(self.config())  # the same zone: kept
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: not old & set(children(self.server.proc.pid))
                                         and len(children(self.server.proc.pid)) == 4, 15), "no new workers")
        for _ in range(8):
            self.assertEqual(self.req("GET", "/kv/keep")[:2], (200, b"me"))
        # Another size: a new, empty zone, and a log line that says so.
        old = set(children(self.server.proc.pid))
        self.server.write_config(self.config(kv={"size": "2M"}))
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: "WS0910" in self.server.stderr(), 10), self.server.stderr()[-2000:])
        self.assertIn('zone "kv" of module "kv" changed size (1048576 -> 2097152 bytes)', self.server.stderr())
        self.assertTrue(harness.wait_for(lambda: not old & set(children(self.server.proc.pid))
                                         and len(children(self.server.proc.pid)) == 4, 15))
        self.assertEqual(self.req("GET", "/kv/keep")[0], 404)

    def test_single_process_reload_keeps_data(self):
        self.start(self.config(workers=1))
        self.assertEqual(self.req("PUT", "/kv/k", body=b"v")[0], 201)
        before = self.server.stderr().count("WS0104")
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: self.server.stderr().count("WS0104") > before, 10))
        self.assertEqual(self.req("GET", "/kv/k")[:2], (200, b"v"))

    def test_worker_killed_holding_the_lock_does_not_wedge_others(self):
        cfg = self.config(modules=["static", KV, SHMLOCK],
                          extra_locations=[{"path": "/lock", "shmlock": {}}])
        self.start(cfg)
        self.wait_workers(4)
        st, body, _ = self.req("GET", "/lock/hold")
        self.assertEqual(st, 200)
        holder = int(body)
        # A client that needs the lock now waits in another worker...
        result = {}

        def waiter():
            deadline = time.time() + 15
            while time.time() < deadline:
                st, body, _ = self.req("GET", "/lock/check")
                if st == 200:  # 409: it reached the holder itself (alive): try again
                    result["body"] = body.decode()
                    return
                time.sleep(0.02)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.3)
        os.kill(holder, signal.SIGKILL)  # ...until the holder dies with it
        t.join(20)
        self.assertIn("body", result, "the waiting worker never got the lock")
        ok, rc, pid = result["body"].split()
        self.assertEqual((ok, rc), ("ok", "2"))  # told: WS_SHM_OWNER_DIED
        self.assertNotEqual(int(pid), holder)
        self.assertIn("WS0912", self.server.stderr())
        # Everyone goes on: the lock works, kv works.
        for _ in range(8):
            st, body, _ = self.req("GET", "/lock/check")
            self.assertEqual(st, 200)
            self.assertTrue(body.startswith(b"ok 0 "), body)
        self.assertEqual(self.req("PUT", "/kv/after", body=b"1")[0], 201)
        self.assertEqual(self.req("GET", "/kv/after")[:2], (200, b"1"))

    def test_no_files_module_gets_the_path_as_asked(self):
        # A www/kv/ folder with an index: the kv location still gets /kv itself.
        self.write("kv/index.html", "not the store\n")
        self.start(self.config(workers=1))
        st, body, r = self.req("GET", "/kv")
        self.assertEqual((st, body), (200, b"[]"))
        self.assertEqual(self.req("PUT", "/kv/index.html", body=b"a key")[0], 201)
        self.assertEqual(self.req("GET", "/kv/index.html")[:2], (200, b"a key"))
        out = __import__("subprocess").run([harness.BIN, "-t", self.server.config_path, "--explain", "GET", "/kv"],
                                           capture_output=True, text=True, timeout=20)
        self.assertIn("no module of this location serves files: no file system lookup", out.stdout)
        # The static location next to it still has its folder rules.
        self.write("d/index.html", "idx\n")
        st, _, r = self.req("GET", "/d")
        self.assertEqual((st, r.getheader("Location")), (301, "/d/"))

    def test_root_null_removes_the_inherited_root(self):
        self.write("plain/index.html", "idx\n")
        cfg = self.config(workers=1, extra_locations=[{"path": "/plain", "root": None, "static": {}}])
        self.start(cfg)
        # static with no root: nothing to serve; no 301 to a folder it cannot see.
        st, _, _ = self.req("GET", "/plain")
        self.assertEqual(st, 404)
        st, _, _ = self.req("GET", "/plain/index.html")
        self.assertEqual(st, 404)
        p = self.server  # the explain output says so too
        out = __import__("subprocess").run([harness.BIN, "-t", p.config_path, "--explain", "GET", "/plain/x"],
                                           capture_output=True, text=True, timeout=20)
        self.assertIn("no root in this location", out.stdout)

    def test_errors_with_a_reason(self):
        self.start(self.config(workers=1, kv={"size": "1M", "max_value": 8}))
        st, body, r = self.req("PUT", "/kv/big", body=b"123456789")
        self.assertEqual(st, 413)
        self.assertEqual(r.getheader("Content-Type"), "text/html; charset=utf-8")
        self.assertIn(b"<p>value larger than max_value (8 bytes)</p>", body)
        st, body, r = self.req("GET", "/kv/nope", headers={"Accept": "application/json"})
        self.assertEqual((st, r.getheader("Content-Type")), (404, "application/json"))
        self.assertEqual(json.loads(body), {"status": 404, "error": "Not Found", "reason": "no such key"})
        # Escaped: the key is not in the reason, but '/' in a key is refused with a quote in it.
        st, body, r = self.req("PUT", "/kv/a/b", body=b"1")
        self.assertEqual(st, 400)
        self.assertIn(b"a key must not contain &#39;/&#39;", body)
        st, body, r = self.req("PUT", "/kv/a/b", body=b"1", headers={"Accept": "application/json"})
        self.assertEqual(json.loads(body)["reason"], "a key must not contain '/'")


if __name__ == "__main__":
    harness.main()

"""Issue 19: the rest of module state. on_reload sees the old and the new
per-location conf (and carries state over) in one process and with workers;
write_ref queues module memory without a copy and releases every piece
exactly once, whether sent or dropped by a client that went away."""
import os
import signal
import socket
import time

import harness

REFWRITE = os.path.join(harness.TESTMODS, "mod_refwrite.so")
RELOADHOOK = os.path.join(harness.TESTMODS, "mod_reloadhook.so")
DELAY = os.path.join(harness.TESTMODS, "mod_delay.so")


class ModuleStateTest(harness.ServerTestCase):

    def config(self, name="one", workers=1, extra=None):
        locs = [{"path": "/hook", "reloadhook": {"name": name}}, {"path": "/ref", "refwrite": {}}]
        if extra:
            locs.append(extra)
        return {"modules": [RELOADHOOK, REFWRITE], "workers": workers, "timeouts": {"shutdown": 3},
                "servers": [{"listen": ["127.0.0.1:%d" % self.port], "root": self.root, "locations": locs}]}

    def get(self, path):
        r, body = self.request("GET", path)
        return r.status, body

    def reload(self, cfg, marker):
        before = self.server.stderr().count(marker)
        self.server.write_config(cfg)
        self.server.signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: self.server.stderr().count(marker) > before, 10),
                        self.server.stderr()[-2000:])

    # Under valgrind the harness reloads once right after the start.
    BASE = 1 if harness.VALGRIND else 0

    def test_on_reload_sees_old_and_new_conf(self):
        b = self.BASE
        self.start(self.config("one"))
        self.assertEqual(self.get("/hook"), (200, b"one carried=%d" % b))
        if not b:
            self.assertNotIn("on_reload", self.server.stderr())  # not at the first start
        self.reload(self.config("two"), "WS0104")
        self.assertIn("on_reload one -> two carried=%d" % (b + 1), self.server.stderr())
        self.assertEqual(self.get("/hook"), (200, b"two carried=%d" % (b + 1)))
        self.reload(self.config("three"), "WS0104")
        self.assertEqual(self.get("/hook"), (200, b"three carried=%d" % (b + 2)))
        # A refused reload calls nothing.
        bad = self.config("four")
        bad["servers"][0]["locations"][0]["reloadhook"]["name"] = 4
        self.reload(bad, "WS0101")
        self.assertNotIn("-> four", self.server.stderr())
        self.assertEqual(self.get("/hook"), (200, b"three carried=%d" % (b + 2)))

    def test_on_reload_runs_in_the_master_before_new_workers(self):
        self.start(self.config("one", workers=2))
        self.reload(self.config("two", workers=2), "WS0510")
        want = self.BASE + 1
        self.assertIn("on_reload one -> two carried=%d" % want, self.server.stderr())
        # The new workers were forked after the hook: they all see its result.
        time.sleep(0.2)
        for _ in range(6):
            self.assertEqual(self.get("/hook"), (200, b"two carried=%d" % want))

    def count(self):
        st, body = self.get("/ref/count")
        self.assertEqual(st, 200)
        return dict(kv.split("=") for kv in body.decode().split())

    def test_write_ref_sends_and_releases_each_piece_once(self):
        self.start(self.config())
        n = 5 * 1024 * 1024 + 123
        st, body = self.get("/ref/big?%d" % n)
        self.assertEqual(st, 200)
        self.assertEqual(len(body), n)
        want = bytes((ord("a") + i % 26) for i in range(65536))
        self.assertEqual(body[:65536], want)
        self.assertEqual(body[-123:], want[:123])
        c = self.count()
        self.assertEqual(c["refs"], str(81))  # 80 full pieces and one of 123 bytes
        self.assertEqual(c["released"], c["refs"])
        # HEAD: nothing is sent, every piece is still released.
        r, body = self.request("HEAD", "/ref/big?200000")
        self.assertEqual((r.status, body, r.getheader("Content-Length")), (200, b"", "200000"))
        c = self.count()
        self.assertEqual(c["released"], c["refs"])

    def test_write_ref_released_when_the_client_goes_away(self):
        self.start(self.config())
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /ref/big?50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1000)  # the head and a little: the rest waits in the queue
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # a reset
        ok = harness.wait_for(lambda: (lambda c: c["refs"] == c["released"])(self.count()), 10)
        c = self.count()
        self.assertTrue(ok, c)
        self.assertLess(int(c["refs"]), 763)  # it stopped producing: WS_AGAIN held it back

    def delay_config(self, timeouts, ms=3000):
        return {"modules": [DELAY], "servers": [{"listen": ["127.0.0.1:%d" % self.port], "locations": [
            {"path": "/slow", "delay": {"ms": ms}, "timeouts": timeouts},
            {"path": "/fast", "delay": {"ms": 10}, "timeouts": timeouts},
            {"path": "/free", "delay": {"ms": 300}}]}]}

    def test_handler_timeout_is_504_and_an_aborted_cleanup(self):
        self.start(self.delay_config({"handler": 0.2}))
        t0 = time.time()
        r, body = self.request("GET", "/slow")
        self.assertEqual(r.status, 504)
        self.assertLess(time.time() - t0, 2.0)
        self.assertTrue(harness.wait_for(lambda: "cleanup how=1" in self.server.stderr(), 5))
        self.assertIn("WS0305", self.server.stderr())
        self.assertIn("servers[0].locations[0]", self.server.stderr())
        r, body = self.request("GET", "/fast")  # an answer in time is untouched
        self.assertEqual(r.status, 200)
        r, body = self.request("GET", "/free")  # no timeouts.handler: no limit
        self.assertEqual(r.status, 200)
        self.assertEqual(self.server.stderr().count("WS0305"), 1)

    def test_handler_timeout_is_validated_with_its_json_path(self):
        for bad, why in (({"handler": 0}, "more than 0"), ({"handler": "x"}, "handler"),
                         ({"handlr": 1}, "servers[0].locations[0].timeouts.handlr: unknown key")):
            s = harness.Server(self.delay_config(bad), self.tmp)
            rc = s.start(expect_fail=True, args=("-t",))
            self.assertEqual(rc, 1)
            self.assertIn("servers[0].locations[0].timeouts", s.stderr())
            self.assertIn(why, s.stderr())
            s.stop()


if __name__ == "__main__":
    harness.main()

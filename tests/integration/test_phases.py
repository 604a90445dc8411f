"""The ABI 1.2 phases in the real server, driven by the test module mod_phasey
(tests/testmods/phasey): rewrite (re-route, answer now, loop bound, failure),
access (deny with headers, deferred allow/deny from a timer and from offload,
a client leaving while a work runs), header filters on handler and core
responses, the log hook, and the order of the config's "modules" list."""
import os
import socket
import time

import harness

PHASEY = os.path.join(harness.TESTMODS, "mod_phasey.so")


class PhasesTest(harness.ServerTestCase):
    def config(self, locations=None):
        cfg = self.base_config(locations=locations or [
            {"path": "/", "static": {}, "phasey": {}},
            {"path": "/other", "static": {}},
        ])
        cfg["modules"] = ["static", PHASEY]
        return cfg

    def setUp(self):
        super().setUp()
        self.write("index.html", "home\n")
        self.write("a.txt", "file a\n")
        self.write("other/b.txt", "file b\n")

    def test_plain_request_passes_every_phase(self):
        self.start(self.config())
        r, body = self.request("GET", "/a.txt")
        self.assertEqual((r.status, body), (200, b"file a\n"))
        self.assertEqual(r.getheader("X-Phasey"), "200")

    def test_rewrite_reroutes_to_another_location(self):
        self.start(self.config())
        r, body = self.request("GET", "/nothing?to=/other/b.txt")
        self.assertEqual((r.status, body), (200, b"file b\n"))
        self.assertIsNone(r.getheader("X-Phasey"))  # /other has no phasey: its filters do not run

    def test_rewrite_answers_with_status_and_headers(self):
        self.start(self.config())
        r, body = self.request("GET", "/a.txt?teapot")
        self.assertEqual(r.status, 418)
        self.assertEqual(r.getheader("X-Teapot"), "short and stout")

    def test_rewrite_loop_stops_after_ten(self):
        self.start(self.config())
        r, _ = self.request("GET", "/a.txt?loop")
        self.assertEqual(r.status, 500)
        self.assertIn("more than 10 rewrites", self.server.stderr())

    def test_module_failure_is_500_and_names_the_module(self):
        self.start(self.config())
        r, _ = self.request("GET", "/a.txt?junk")
        self.assertEqual(r.status, 500)
        err = self.server.stderr()
        self.assertIn('module "phasey" failed in the rewrite phase (returned 12345)', err)
        r, body = self.request("GET", "/a.txt")  # the server goes on
        self.assertEqual(body, b"file a\n")

    def test_access_denies_with_its_headers(self):
        self.start(self.config())
        r, _ = self.request("GET", "/a.txt?deny")
        self.assertEqual(r.status, 429)
        self.assertEqual(r.getheader("Retry-After"), "7")
        self.assertEqual(r.getheader("X-Phasey"), "429")  # filters see core error pages too

    def test_access_deferred_from_a_timer(self):
        self.start(self.config())
        t0 = time.time()
        r, body = self.request("GET", "/a.txt?defer")
        self.assertEqual((r.status, body), (200, b"file a\n"))
        self.assertGreaterEqual(time.time() - t0, 0.045)
        r, _ = self.request("GET", "/a.txt?deferdeny")
        self.assertEqual(r.status, 403)

    def test_access_deferred_through_offload(self):
        self.start(self.config())
        r, body = self.request("GET", "/a.txt?offload")
        self.assertEqual((r.status, body), (200, b"file a\n"))

    def test_client_leaving_during_offload(self):
        """The request ends while its work runs: freed once the work returned, the server goes on."""
        self.start(self.config())
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /a.txt?offload HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()
        time.sleep(0.4)
        r, body = self.request("GET", "/a.txt?offload")
        self.assertEqual((r.status, body), (200, b"file a\n"))

    def test_server_stops_while_work_runs(self):
        s = self.start(self.config())
        c = socket.create_connection(("127.0.0.1", self.port))
        c.sendall(b"GET /a.txt?offload HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.02)
        self.assertEqual(s.stop(), 0)
        c.close()

    def test_deferral_that_never_answers_is_500(self):
        self.start(self.config([{"path": "/", "static": {}, "phasey": {}, "timeouts": {"handler": 0.3}}]))
        t0 = time.time()
        r, _ = self.request("GET", "/a.txt?forget")
        self.assertEqual(r.status, 500)
        self.assertLess(time.time() - t0, 5)
        self.assertIn('module "phasey" did not answer its deferred access phase within 300 ms', self.server.stderr())
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"file a\n")

    def test_header_filter_failure_is_500(self):
        self.start(self.config())
        r, _ = self.request("GET", "/a.txt?filterfail")
        self.assertEqual(r.status, 500)
        self.assertIn('module "phasey" failed in the header filter phase', self.server.stderr())

    def test_header_filter_sees_core_answers(self):
        self.start(self.config())
        r, _ = self.request("GET", "/missing")
        self.assertEqual((r.status, r.getheader("X-Phasey")), (404, "404"))
        r, _ = self.request("DELETE", "/a.txt")
        self.assertEqual((r.status, r.getheader("X-Phasey")), (501, "501"))
        c = self.conn()
        c.request("GET", "/a.txt")
        etag = c.getresponse().getheader("ETag")
        r, _ = self.request("GET", "/a.txt", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        # Conditionals are the core's own first filter (DESIGN "Phases"): module
        # header filters see the 304 that goes out, and their fields go with it.
        self.assertEqual(r.getheader("X-Phasey"), "304")

    def test_log_hook_sees_status_and_bytes(self):
        self.start(self.config())
        self.request("GET", "/a.txt")
        self.assertTrue(harness.wait_for(lambda: "phasey log status=200 bytes=7" in self.server.stderr(), 5))

    def test_directory_redirect_waits_for_access(self):
        self.write("dir/x.txt", "x\n")
        self.start(self.config())
        r, _ = self.request("GET", "/dir?deny")
        self.assertEqual(r.status, 429)  # not the 301 that would reveal the folder
        r, _ = self.request("GET", "/dir")
        self.assertEqual(r.status, 301)

    def test_module_without_phases_built_for_abi_1_0_still_serves(self):
        cfg = self.config([{"path": "/", "static": {}, "phasey": {}}, {"path": "/e", "echo": {}}])
        cfg["modules"].append(os.path.join(harness.TESTMODS, "mod_echo.so"))
        self.start(cfg)
        r, body = self.request("GET", "/a.txt?defer")
        self.assertEqual(body, b"file a\n")


if __name__ == "__main__":
    harness.main()

"""A worker gives memory back after a peak (core/server/memory_trim.c): once the
connections of a burst have closed, the free lists drop what they no longer
reuse and free heap pages go back to the kernel (malloc_trim), so RSS does not
stay at the peak for the rest of the worker's life. Most of the growth must come
back: a small chunk left between two freed buffers (a spare timer, say) keeps
its page resident, and 900 of them kept three quarters of it."""
import socket
import time

import harness
import procstat

BURST = 900  # connections, each with a head under way: each holds a read buffer


class MemoryTrimTest(harness.ServerTestCase):
    modules = ["static"]

    def test_memory_after_a_burst_of_connections_goes_back(self):
        self.write("a.txt", "a\n")
        cfg = self.base_config()
        cfg["log_level"] = "debug"
        cfg["max_connections"] = BURST + 100
        self.start(config=cfg)
        pid = self.server.proc.pid
        base = procstat.status_kib(pid, "VmRSS")
        socks = []
        try:
            for _ in range(BURST):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 100)
                socks.append(s)
            # Every connection has read its bytes once the last one has answered a whole request.
            r, body = self.request("GET", "/a.txt")
            self.assertEqual((r.status, body), (200, b"a\n"))
            peak = procstat.status_kib(pid, "VmRSS")
        finally:
            for s in socks:
                s.close()
        self.assertTrue(harness.wait_for(lambda: "free heap pages given back" in self.server.stderr(), 15),
                        self.server.stderr()[-2000:])
        self.assertTrue(harness.wait_for(lambda: "unused read buffers" in self.server.stderr(), 15),
                        self.server.stderr()[-2000:])
        if not procstat.ASAN:  # ASan's allocator keeps freed memory in quarantine: no RSS to compare
            growth = peak - base
            self.assertGreater(growth, 1024, "the burst did not grow RSS (%d -> %d KiB)" % (base, peak))
            got = harness.wait_for(lambda: procstat.status_kib(pid, "VmRSS") <= peak - 0.6 * growth, 15)
            self.assertTrue(got, "RSS %d KiB after the burst: base %d, peak %d"
                            % (procstat.status_kib(pid, "VmRSS"), base, peak))
        # A steady load afterwards is served as before.
        for _ in range(50):
            r, body = self.request("GET", "/a.txt")
            self.assertEqual(r.status, 200)


if __name__ == "__main__":
    harness.main()

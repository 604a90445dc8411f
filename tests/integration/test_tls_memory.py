"""The worker's memory for TLS (issue 16's idle-connection rows): the shared
TLS session cache (8 MiB) is zeroed without being made resident, so the first
TLS connection does not add 8 MiB to the worker's RSS; sessions still resume
from it."""
import ssl

import harness
import procstat
import tlsutil
from test_tls import TlsCase, resumed_count


class TestSessionCacheMemory(TlsCase):
    def test_first_tls_connections_leave_the_cache_mostly_unresident(self):
        self.start_tls([self.tls_server(tls={"session_tickets": False})])
        pid = self.server.proc.pid
        before = procstat.status_kib(pid, "VmRSS")
        for _ in range(5):
            with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
                self.assertIn(b"hello over tls", tlsutil.https_get(s))
        grown = procstat.status_kib(pid, "VmRSS") - before
        if not (procstat.ASAN or procstat.VALGRIND):  # their RSS says nothing about the server's
            self.assertLess(grown, 4096, "RSS grew by %d KiB for 5 TLS connections" % grown)
        # The cache works: TLS 1.2 session ids resume from it.
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        self.assertEqual(resumed_count(self.port, ctx, 6), 6)


if __name__ == "__main__":
    harness.main()

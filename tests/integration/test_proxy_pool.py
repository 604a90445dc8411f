"""The proxy's keep-alive pool hears an upstream close an idle connection
(lib/upstream: a worker watch per idle connection, ABI 1.3 watch_fd with no
request): the connection is closed and dropped at once (no socket left in
CLOSE_WAIT), and the next request opens a fresh one instead of failing on
the dead one. A request on a pooled connection costs no epoll_ctl: the
idle watch's registration is handed to the request's watch and back
(loop_rebind), and no peek: the idle watch already heard any close."""
import http.client
import time

import harness
import straced
from test_proxy import Upstream, ok


def close_wait_to(port):
    """Sockets of this machine in CLOSE_WAIT whose remote end is 127.0.0.1:port."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if remote == "0100007F:%04X" % port and state == "08":
                n += 1
    return n


class ProxyPoolTest(harness.ServerTestCase):
    modules = ["proxy"]

    def test_upstream_idle_close_is_heard(self):
        def answer_then_close_idle(req, sock):
            sock.sendall(ok(b"hello"))
            time.sleep(0.3)  # the upstream's own idle timeout: it closes the kept-alive connection
            return None
        u = Upstream(answer_then_close_idle)
        self.addCleanup(u.stop)
        cfg = self.base_config(locations=[{"path": "/", "proxy": {"upstream": "app"}}])
        cfg["upstreams"] = {"app": {"servers": [{"address": u.addr}], "keepalive": 8, "keepalive_timeout": 60}}
        self.start(cfg)
        r, body = self.request("GET", "/one")
        self.assertEqual((r.status, body), (200, b"hello"))
        # The upstream closed the idle connection: the server closes its side at once.
        time.sleep(0.3)
        self.assertTrue(harness.wait_for(lambda: close_wait_to(u.port) == 0, 3),
                        "the pooled connection the upstream closed still waits in CLOSE_WAIT")
        # The next request opens a new connection (the dead one was dropped, not tried).
        r, body = self.request("GET", "/two")
        self.assertEqual((r.status, body), (200, b"hello"))
        self.assertEqual(u.connections, 2)
        self.assertNotIn("trying again", self.server.stderr())

    def test_pooled_requests_make_no_epoll_ctl(self):
        u = Upstream(lambda req, sock: ok(b"k" * 1024))
        self.addCleanup(u.stop)
        cfg = self.base_config(locations=[{"path": "/", "proxy": {"upstream": "app"}}])
        cfg["upstreams"] = {"app": {"servers": [{"address": u.addr}], "keepalive": 8}}
        trace = straced.start(self, "epoll_ctl,recvfrom", cfg)
        self.traced = True
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(c.close)

        def get(n):
            for i in range(n):
                c.request("GET", "/k%d" % i)
                r = c.getresponse()
                self.assertEqual((r.status, len(r.read())), (200, 1024))

        get(10)  # warm: the pool holds the connection
        before = len(straced.lines(trace))
        get(100)
        new = straced.lines(trace)[before:]
        self.assertEqual(u.connections, 1)
        self.assertEqual([ln for ln in new if "epoll_ctl(" in ln], [])
        self.assertEqual([ln for ln in new if "MSG_PEEK" in ln], [])
        self.assertEqual(straced.count(new, r"recvfrom\(.*= 10\d\d$"), 100)  # one read an answer

    def tearDown(self):
        if getattr(self, "traced", False):
            straced.stop(self.server)
        super().tearDown()


if __name__ == "__main__":
    harness.main()

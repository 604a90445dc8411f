"""auth_basic's single flight (modules/auth_basic/flight.c): requests with the
same credential that miss the cache while its password check runs wait for that
one check and are answered from it. Counted through the module's own metrics
(webserv_auth_basic_verifications_total: hashes checked; _shared_total:
requests answered from another request's check), over HTTP/1.1 connections and
HTTP/2 streams of one connection; a wrong password's waiters all get 401 and
nothing is cached; a client that leaves while it waits, or while its own check
runs, harms nobody (that check still fills the cache). Runs with Debian's
python3 (python3-h2)."""
import base64
import socket
import struct
import time

import harness
from h2client import H2Client
from test_auth_basic import CHALLENGE, crypt_hash
from test_metrics import parse, total


def token(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class AuthFlightTest(harness.ServerTestCase):
    modules = ["static", "auth_basic", "metrics"]

    def setUp(self):
        super().setUp()
        self.write("members/m.txt", "members only\n")
        self.users = self.write("users.htpasswd", "")
        # Cost 11: a check of tens of milliseconds even on a fast machine, while
        # the requests that should share it are all sent within a millisecond or two.
        with open(self.users, "w") as f:
            f.write("alice:%s\n" % crypt_hash("wonderland", "$2b$", 11))

    def cfg(self):
        return self.base_config(locations=[
            {"path": "/members", "static": {}, "auth_basic": {"realm": 'Members "only"', "user_file": self.users}},
            {"path": "/metrics", "metrics": {}, "root": None}],
            listen=[{"address": "127.0.0.1:%d" % self.port, "protocols": ["h2c", "http/1.1"]}])

    def counts(self):
        r, body = self.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        s = parse(body.decode())
        return (total(s, "webserv_auth_basic_verifications_total"), total(s, "webserv_auth_basic_shared_total"))

    def burst(self, tok, n):
        """n HTTP/1.1 requests on n connections, all connected first and then sent
        back to back; [(status, WWW-Authenticate, body)] in order."""
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=120) for _ in range(n)]
        req = ("GET /members/m.txt HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nConnection: close\r\n\r\n"
               % tok).encode()
        for s in socks:
            s.sendall(req)
        out = []
        for s in socks:
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            fields = dict(ln.split(": ", 1) for ln in lines[1:])
            out.append((int(lines[0].split()[1]), fields.get("WWW-Authenticate"), body))
        return out

    def test_concurrent_logins_share_one_check(self):
        self.start(self.cfg())
        self.assertEqual(self.counts(), (0, 0))
        got = self.burst(token("alice", "wonderland"), 20)
        self.assertEqual([g[0] for g in got], [200] * 20)
        self.assertTrue(all(g[2] == b"members only\n" for g in got))
        v, s = self.counts()
        # One hash for all 20: those that came while it ran waited for it, any
        # later one found it cached (so this holds on any machine speed).
        self.assertEqual(v, 1)
        self.assertLessEqual(s, 19)

    def test_wrong_password_is_shared_and_never_cached(self):
        self.start(self.cfg())
        got = self.burst(token("alice", "wrong"), 12)
        self.assertEqual([(g[0], g[1]) for g in got], [(401, CHALLENGE)] * 12)
        v, s = self.counts()
        # Nothing is cached for a wrong password: each request was either
        # checked or answered from a check it waited for.
        self.assertEqual(v + s, 12)
        self.assertEqual(v, 1, "the 12 requests were sent within a few ms of a check of tens of ms")
        # Later, the same wrong password is checked again (never remembered).
        self.assertEqual(self.burst(token("alice", "wrong"), 1)[0][0], 401)
        self.assertEqual(self.counts()[0], 2)
        # and the right one still works
        self.assertEqual(self.burst(token("alice", "wonderland"), 1)[0][0], 200)

    def test_http2_streams_of_one_connection_share_one_check(self):
        self.start(self.cfg())
        c = H2Client(self.port, timeout=120)
        self.addCleanup(c.close)
        good = [("authorization", token("alice", "wonderland"))]
        bad = [("authorization", token("alice", "wrong"))]
        # 30 streams with the right password and 10 with a wrong one, in one write.
        for i in range(40):
            sid = c.conn.get_next_available_stream_id()
            hs = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"),
                  (":path", "/members/m.txt")] + (good if i % 4 else bad)
            c.conn.send_headers(sid, hs, end_stream=True)
            c.streams[sid] = __import__("h2client").Stream()
        c.flush()
        c.wait(lambda: all(st.done for st in c.streams.values()), 120)
        sids = sorted(c.streams)
        for i, sid in enumerate(sids):
            st = c.streams[sid]
            if i % 4:
                self.assertEqual((st.status, bytes(st.data)), (200, b"members only\n"), sid)
            else:
                self.assertEqual((st.status, st.headers.get("www-authenticate")), (401, CHALLENGE), sid)
        v, s = self.counts()
        self.assertEqual(v, 2)  # one for each credential
        self.assertEqual(s, 38)  # all in one read: every other stream waited

    def test_clients_leaving_while_waiting(self):
        self.start(self.cfg())
        c = H2Client(self.port, timeout=120)
        self.addCleanup(c.close)
        hdr = [("authorization", token("alice", "wonderland"))]
        lead = c.request("GET", "/members/m.txt", hdr)
        w1 = c.request("GET", "/members/m.txt", hdr)
        w2 = c.request("GET", "/members/m.txt", hdr)
        # The first (whose check runs) and a waiting one go away (RST_STREAM CANCEL).
        c.conn.reset_stream(lead, 8)
        c.conn.reset_stream(w1, 8)
        c.flush()
        c.wait(lambda: c.streams[w2].done, 120)
        self.assertEqual((c.streams[w2].status, bytes(c.streams[w2].data)), (200, b"members only\n"))
        # An HTTP/1.1 waiter whose connection closes meanwhile.
        c2 = H2Client(self.port, timeout=120)
        self.addCleanup(c2.close)
        hdr2 = [("authorization", token("alice", "other"))]
        x = c2.request("GET", "/members/m.txt", hdr2)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(("GET /members/m.txt HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
                   % token("alice", "other")).encode())
        time.sleep(0.005)
        s.close()  # RST
        c2.wait(lambda: c2.streams[x].done, 120)
        self.assertEqual(c2.streams[x].status, 401)
        # The check whose first client left still filled the cache: no new hash.
        v0 = self.counts()[0]
        self.assertEqual(c.get("/members/m.txt", headers=hdr, timeout=60).status, 200)
        self.assertEqual(self.counts()[0], v0)
        # The server is well and answers everyone else.
        self.assertEqual(self.burst(token("alice", "wonderland"), 3), [(200, None, b"members only\n")] * 3)


if __name__ == "__main__":
    harness.main()

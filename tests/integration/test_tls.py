"""HTTPS (issue 15, SPEC §6): handshakes with curl, Python ssl and openssl
s_client; SNI and 421; old protocols and weak ciphers refused; ALPN; session
resumption by ticket and by cache, across workers, with rotating ticket keys;
certificates reloaded on SIGHUP; plain HTTP and garbage on the TLS port; a
client that stops mid-handshake; 1,000 simultaneous handshakes; close_notify.
Certificates are made by the tests (tlsutil) in the test's temp folder."""
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import time

import harness
import tlsutil
from harness import ServerTestCase, wait_for


class TlsCase(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        os.makedirs(self.certs)
        self.ca = tlsutil.make_ca(self.certs)
        tlsutil.make_cert(self.certs, "a.test")
        self.write("index.html", "hello over tls\n")

    def tls_server(self, name="a.test", cert=None, tls=None, names=None, root=None, locations=None):
        t = {"certificate": os.path.join(self.certs, (cert or name) + ".crt"),
             "key": os.path.join(self.certs, (cert or name) + ".key")}
        t.update(tls or {})
        return {"listen": [{"address": "127.0.0.1:%d" % self.port, "tls": True}],
                "server_names": names if names is not None else [name], "root": root or self.root, "tls": t,
                "locations": locations or [{"path": "/", "static": {}}]}

    def start_tls(self, servers=None, env=None, **top):
        cfg = {"modules": list(self.modules), "modules_dir": harness.MODULES,
               "servers": servers or [self.tls_server()]}
        cfg.update(top)
        return self.start(cfg, env=env)

    def ctx(self, **kw):
        return tlsutil.client_context(cafile=self.ca, **kw)


class TestHandshakeClients(TlsCase):
    def test_curl_get_verifies_chain(self):
        self.start_tls()
        p = self.curl("--cacert", self.ca, "--resolve", "a.test:%d:127.0.0.1" % self.port,
                      "-w", "\n%{http_code} %{http_version} %{ssl_verify_result}", "https://a.test:%d/" % self.port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"hello over tls\n\n200 2 0")  # curl speaks h2 by ALPN

    def test_python_ssl_tls13_alpn(self):
        self.start_tls()
        ctx = self.ctx()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:
            self.assertEqual(s.version(), "TLSv1.3")
            self.assertEqual(s.selected_alpn_protocol(), "h2")  # HTTP/2 first (SPEC §6; tests: test_h2*.py)
        ctx = self.ctx()
        ctx.set_alpn_protocols(["http/1.1"])
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            data = tlsutil.https_get(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200])
        self.assertTrue(data.endswith(b"hello over tls\n"))

    def test_alpn_without_a_protocol_we_speak_is_refused(self):
        self.start_tls()
        ctx = self.ctx()
        ctx.set_alpn_protocols(["spdy/3.1"])
        with self.assertRaises(ssl.SSLError) as e:
            tlsutil.tls_connect(self.port, "a.test", ctx)
        self.assertIn("NO APPLICATION PROTOCOL", str(e.exception).upper().replace("_", " "))

    def test_alpn_h2_refused_on_an_http11_only_address(self):
        srv = self.tls_server()
        srv["listen"][0]["protocols"] = ["http/1.1"]
        self.start_tls([srv])
        ctx = self.ctx()
        ctx.set_alpn_protocols(["h2"])
        with self.assertRaises(ssl.SSLError) as e:
            tlsutil.tls_connect(self.port, "a.test", ctx)
        self.assertIn("NO APPLICATION PROTOCOL", str(e.exception).upper().replace("_", " "))

    def test_openssl_s_client(self):
        self.start_tls()
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port, "-servername", "a.test",
                            "-CAfile", self.ca, "-verify_return_error", "-quiet", "-ign_eof"],
                           input=b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), p.stdout[:300])
        self.assertTrue(p.stdout.endswith(b"hello over tls\n"))

    def test_tls12_works_and_close_notify_is_sent(self):
        self.start_tls()
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        # Without suppress_ragged_eofs an end without close_notify raises SSLEOFError.
        s = ctx.wrap_socket(raw, server_hostname="a.test", suppress_ragged_eofs=False)
        with s:
            self.assertEqual(s.version(), "TLSv1.2")
            self.assertRegex(s.cipher()[0], r"^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)")
            data = tlsutil.https_get(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))

    def test_keepalive_pipelined_requests(self):
        self.start_tls()
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            for _ in range(3):
                data = tlsutil.https_get(s, close=False)
                self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200])
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n" * 2 +
                      b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        self.assertEqual(got.count(b"HTTP/1.1 200 OK\r\n"), 3)


class TestRefusals(TlsCase):
    def s_client(self, *args):
        return subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port, "-servername",
                               "a.test", *args], input=b"", capture_output=True, timeout=30)

    def test_old_protocols_refused(self):
        self.start_tls()
        for flag in ("-tls1", "-tls1_1"):
            p = self.s_client(flag, "-cipher", "DEFAULT:@SECLEVEL=0")
            self.assertNotEqual(p.returncode, 0, flag)
            self.assertIn(b"Cipher is (NONE)", p.stdout, flag)
        # TLS 1.2 is refused too when the server says TLSv1.3 only.
        self.assertEqual(self.s_client("-tls1_2").returncode, 0)

    def test_tls13_only(self):
        self.start_tls([self.tls_server(tls={"protocols": ["TLSv1.3"]})])
        self.assertNotEqual(self.s_client("-tls1_2").returncode, 0)
        self.assertEqual(self.s_client("-tls1_3").returncode, 0)

    def test_weak_ciphers_refused(self):
        tlsutil.make_cert(self.certs, "a.test", out="rsa", key_type="rsa")
        self.start_tls([self.tls_server(cert="rsa")])
        for weak in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "DES-CBC3-SHA", "RC4-SHA",
                     "ECDHE-RSA-AES128-SHA256"):
            p = self.s_client("-tls1_2", "-cipher", weak + ":@SECLEVEL=0")
            self.assertNotEqual(p.returncode, 0, weak)
        p = self.s_client("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"ECDHE-RSA-AES128-GCM-SHA256", p.stdout)

    def test_plain_http_on_tls_port(self):
        self.start_tls()
        data = self.raw(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data[:200])
        self.assertIn(b"The plain HTTP request was sent to an HTTPS port", data)
        # The server is fine afterwards.
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            self.assertIn(b"200 OK", tlsutil.https_get(s))

    def test_garbage_is_closed(self):
        self.start_tls()
        for junk in (b"\x00\x01\x02garbage" * 50, b"\x16\x03\x01\x00\x05hello-not-a-client-hello",
                     b"\x16\x03\x03\xff\xff" + os.urandom(3000), os.urandom(4096), b"\x80\x2e\x01\x00\x02"):
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                try:
                    s.sendall(junk)
                except OSError:
                    pass
                self.assertTrue(harness.closed_by_peer(s, timeout=5), junk[:20])
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            self.assertIn(b"200 OK", tlsutil.https_get(s))

    def test_client_stopping_mid_handshake_is_timed_out(self):
        self.start_tls(timeouts={"header": 1})
        # The first bytes of a ClientHello, then nothing.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            t0 = time.time()
            self.assertTrue(harness.closed_by_peer(s, timeout=6))
            self.assertLess(time.time() - t0, 5)
        # And one that never sends anything at all.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            self.assertTrue(harness.closed_by_peer(s, timeout=6))

    def test_client_certificate_required(self):
        tlsutil.make_ca(self.certs, "clientca")
        tlsutil.make_cert(self.certs, "alice", ca="clientca", client=True)
        self.start_tls([self.tls_server(tls={"client_ca": os.path.join(self.certs, "clientca.crt")})])
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
                tlsutil.https_get(s)  # TLS 1.3: the alert comes after the client's Finished
        ctx = self.ctx()
        ctx.load_cert_chain(os.path.join(self.certs, "alice.crt"), os.path.join(self.certs, "alice.key"))
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:
            self.assertIn(b"200 OK", tlsutil.https_get(s))


class TestRequestFacts(TlsCase):
    modules = ["static", "cgi"]

    def setUp(self):
        super().setUp()
        self.port2 = harness.free_port()
        self.write("cgi-bin/env.py", "import os\nprint('Content-Type: text/plain')\nprint()\n"
                   "for k in sorted(os.environ):\n    print('%s=%s' % (k, os.environ[k]))\n", mode=0o755)

    def env(self, sock):
        data = tlsutil.https_get(sock, "/cgi-bin/env.py")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:300])
        body = data.split(b"\r\n\r\n", 1)[1].decode()
        if "chunked" in data.split(b"\r\n\r\n", 1)[0].decode().lower():
            body = harness.parse_responses(data)[0].body.decode()
        return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)

    def test_cgi_https_variables_over_http2(self):
        """A request on an HTTP/2 stream (ALPN h2) learns the same TLS facts as one on HTTP/1.1:
        the stream's request is told its connection's scheme and TLS facts (they were missing)."""
        locs = [{"path": "/cgi-bin", "cgi": {"interpreters": {".py": "/usr/bin/python3"}}}]
        self.start_tls([self.tls_server(locations=locs)])
        p = subprocess.run(["curl", "-sS", "-k", "--http2", "--max-time", "10",
                            "--resolve", "a.test:%d:127.0.0.1" % self.port,
                            "-w", "\n%{http_version}", "https://a.test:%d/cgi-bin/env.py" % self.port],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        body, version = p.stdout.decode().rsplit("\n", 1)
        self.assertEqual(version, "2")
        env = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
        self.assertEqual(env.get("SERVER_PROTOCOL"), "HTTP/2")
        self.assertEqual(env.get("HTTPS"), "on")
        self.assertEqual(env.get("REQUEST_SCHEME"), "https")
        self.assertEqual(env.get("SSL_TLS_SNI"), "a.test")
        self.assertIn(env.get("SSL_PROTOCOL"), ("TLSv1.2", "TLSv1.3"))

    def test_cgi_https_variables_and_access_log(self):
        tlsutil.make_ca(self.certs, "clientca")
        tlsutil.make_cert(self.certs, "alice", ca="clientca", client=True)
        locs = [{"path": "/cgi-bin", "cgi": {"interpreters": {".py": "/usr/bin/python3"}}}]
        srv = self.tls_server(locations=locs, tls={"client_ca": os.path.join(self.certs, "clientca.crt")})
        srv["listen"].append("127.0.0.1:%d" % self.port2)
        self.start_tls([srv], access_log=os.path.join(self.tmp, "access.log"), access_log_format="json")
        ctx = self.ctx()
        ctx.load_cert_chain(os.path.join(self.certs, "alice.crt"), os.path.join(self.certs, "alice.key"))
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:
            env = self.env(s)
            version, cipher = s.version(), s.cipher()[0]
        self.assertEqual(env.get("HTTPS"), "on")
        self.assertEqual(env.get("REQUEST_SCHEME"), "https")
        self.assertEqual(env.get("SSL_PROTOCOL"), version)
        self.assertEqual(env.get("SSL_CIPHER"), cipher)
        self.assertEqual(env.get("SSL_TLS_SNI"), "a.test")
        self.assertEqual(env.get("SSL_CLIENT_S_DN"), "CN=alice")
        self.assertEqual(env.get("SSL_SESSION_RESUMED"), "Initial")
        # The same server over plain HTTP: no HTTPS, scheme http.
        r, body = self.request("GET", "/cgi-bin/env.py", port=self.port2, headers={"Host": "a.test"})
        plain = dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)
        self.assertEqual(plain.get("REQUEST_SCHEME"), "http")
        self.assertNotIn("HTTPS", plain)
        self.assertNotIn("SSL_PROTOCOL", plain)
        import json

        def lines():
            with open(os.path.join(self.tmp, "access.log")) as f:
                return [json.loads(x) for x in f if x.strip()]
        wait_for(lambda: len(lines()) >= 2)
        tls_line, plain_line = lines()[:2]
        self.assertEqual((tls_line["tls_protocol"], tls_line["tls_cipher"], tls_line["tls_resumed"]),
                         (version, cipher, False))
        self.assertNotIn("tls_protocol", plain_line)


class TestSni(TlsCase):
    def setUp(self):
        super().setUp()
        tlsutil.make_cert(self.certs, "b.test")
        self.root_b = os.path.join(self.tmp, "www-b")
        os.makedirs(self.root_b)
        with open(os.path.join(self.root_b, "index.html"), "w") as f:
            f.write("server b\n")

    def start_two(self):
        self.start_tls([self.tls_server("a.test"), self.tls_server("b.test", root=self.root_b)])

    def test_sni_picks_certificate_and_server(self):
        self.start_two()
        for name, body in (("a.test", b"hello over tls\n"), ("b.test", b"server b\n"), ("B.TEST", b"server b\n")):
            with tlsutil.tls_connect(self.port, name, self.ctx()) as s:
                self.assertEqual(tlsutil.peer_cn(s), name.lower())
                data = tlsutil.https_get(s, host=name)
                self.assertTrue(data.endswith(body), (name, data[-200:]))
        p = self.curl("--cacert", self.ca, "--resolve", "b.test:%d:127.0.0.1" % self.port,
                      "https://b.test:%d/" % self.port)
        self.assertEqual(p.stdout, b"server b\n", p.stderr)

    def test_unknown_name_and_no_sni_get_the_default_server(self):
        self.start_two()
        with tlsutil.tls_connect(self.port, "other.test", tlsutil.client_context(verify=False)) as s:
            self.assertEqual(tlsutil.peer_cn(s), "a.test")
            self.assertTrue(tlsutil.https_get(s, host="other.test").endswith(b"hello over tls\n"))
        with tlsutil.tls_connect(self.port, None, tlsutil.client_context(verify=False)) as s:
            self.assertEqual(tlsutil.peer_cn(s), "a.test")

    def test_host_naming_another_server_gets_421(self):
        self.start_two()
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            data = tlsutil.https_get(s, host="b.test")
        self.assertTrue(data.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), data[:200])
        with tlsutil.tls_connect(self.port, "b.test", self.ctx()) as s:
            data = tlsutil.https_get(s, host="a.test:%d" % self.port)
        self.assertTrue(data.startswith(b"HTTP/1.1 421 "), data[:200])
        # An unknown Host on a default-server handshake is the same server: no 421.
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            self.assertIn(b" 200 OK", tlsutil.https_get(s, host="unknown.test"))

    def test_sni_kept_across_a_hello_retry_request(self):
        """Both servers take only P-256 and the client's first key share is
        X25519: the server asks for another ClientHello (RFC 8446 §4.1.4), the
        client hello callback runs twice, and the second hello's name is the
        one the connection keeps (certificate, server, and 421 for a Host
        naming the other server)."""
        self.start_tls([self.tls_server("a.test", tls={"groups": ["P-256"]}),
                        self.tls_server("b.test", root=self.root_b, tls={"groups": ["P-256"]})])
        for host, first_line, body in (("b.test", b"HTTP/1.1 200 OK\r\n", b"server b\n"),
                                       ("a.test", b"HTTP/1.1 421 ", None)):
            p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port, "-servername", "b.test",
                                "-tls1_3", "-groups", "X25519:P-256", "-CAfile", self.ca, "-verify_return_error",
                                "-ign_eof"],
                               input=("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode(),
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            # The client's one key share was X25519: P-256 means a retried hello.
            self.assertRegex(p.stdout, rb"Server Temp Key: (ECDH, )?(prime256v1|P-256)")
            self.assertRegex(p.stdout, rb"subject=/?CN ?= ?b\.test")
            reply = p.stdout[p.stdout.index(b"HTTP/1.1 "):]  # s_client prints the session after it
            self.assertTrue(reply.startswith(first_line), reply[:200])
            if body:
                self.assertIn(b"\r\n\r\n" + body, reply)


def resumed_count(port, ctx, n, name="a.test"):
    """Make one full handshake, then n connections offering its session; how many resumed."""
    with tlsutil.tls_connect(port, name, ctx) as s:
        tlsutil.https_get(s)  # TLS 1.3 tickets arrive after the handshake: read first
        sess = s.session
    count = 0
    for _ in range(n):
        with tlsutil.tls_connect(port, name, ctx, session=sess) as s:
            count += s.session_reused
            tlsutil.https_get(s)
    return count


def resumed_chain(port, ctx, n, name="a.test"):
    """One full handshake, then n connections each offering the session the previous one
    ended with. Returns (how many resumed, how many ended with a new session: a ticket
    that came after the resumption)."""
    with tlsutil.tls_connect(port, name, ctx) as s:
        tlsutil.https_get(s)
        sess = s.session
    resumed = renewed = 0
    for _ in range(n):
        with tlsutil.tls_connect(port, name, ctx, session=sess) as s:
            resumed += s.session_reused
            tlsutil.https_get(s)  # the new ticket comes before the response
            renewed += s.session.id != sess.id
            sess = s.session
    return resumed, renewed


class TestResumption(TlsCase):
    def test_a_resumed_tls13_session_gets_a_new_ticket(self):
        # RFC 8446 §4.6.1, C.4: a TLS 1.3 client uses a ticket once (browsers, and wrk:
        # SSL_clear keeps the session, whose ticket OpenSSL then marks spent), so every
        # resumption must bring a fresh ticket; without one such a client made a full
        # handshake every other connection.
        self.start_tls()
        self.assertEqual(resumed_chain(self.port, self.ctx(), 6), (6, 6))
        # TLS 1.2 may offer a ticket again (RFC 5077 §3.3): under the current key none is sent.
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertEqual(resumed_chain(self.port, ctx, 6), (6, 0))

    def test_ticket_resumption_across_workers(self):
        # SO_REUSEPORT spreads the connections over both workers by their ports.
        self.start_tls(workers=2, env={"WEBSERV_REUSEPORT": "1"})
        self.assertEqual(resumed_count(self.port, self.ctx(), 12), 12)
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertEqual(resumed_count(self.port, ctx, 12), 12)

    def test_session_cache_without_tickets_across_workers(self):
        # The cache is shared by the workers (SO_REUSEPORT spreads the connections over both).
        self.start_tls([self.tls_server(tls={"session_tickets": False})], workers=2,
                       env={"WEBSERV_REUSEPORT": "1"})
        ctx = self.ctx()
        self.assertEqual(resumed_count(self.port, ctx, 12), 12)  # TLS 1.3: stateful tickets from the cache
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        self.assertEqual(resumed_count(self.port, ctx, 12), 12)  # TLS 1.2: session ids

    def test_session_cache_survives_reload(self):
        self.start_tls([self.tls_server(tls={"session_tickets": False})])
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:
            tlsutil.https_get(s)
            sess = s.session
        before = self.server.stderr().count("WS0104")
        self.server.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.server.stderr().count("WS0104") > before, timeout=15))
        with tlsutil.tls_connect(self.port, "a.test", ctx, session=sess) as s:
            self.assertTrue(s.session_reused)

    def test_ticket_keys_rotate_previous_still_accepted(self):
        self.start_tls(env={"WEBSERV_TLS_TICKET_SECONDS": "2"})
        ctx = self.ctx()
        # Start just after a period begins, so the ticket is sealed in the
        # period the wait below counts from (a first exchange that straddled
        # a boundary, under a loaded parallel ctest, made the wait land two
        # periods on, where the key is rightly gone).
        time.sleep(2 - time.time() % 2 + 0.05)
        start = time.time()
        with tlsutil.tls_connect(self.port, "a.test", ctx) as s:
            tlsutil.https_get(s)
            sess = s.session
        # Wait into the next period: sealed with the previous key, still opened.
        time.sleep(max(0.0, start - start % 2 + 2 + 0.3 - time.time()))
        with tlsutil.tls_connect(self.port, "a.test", ctx, session=sess) as s:
            self.assertTrue(s.session_reused)
            tlsutil.https_get(s)
        # Two periods on, the key is gone: a full handshake (not an error).
        time.sleep(4.2)
        with tlsutil.tls_connect(self.port, "a.test", ctx, session=sess) as s:
            self.assertFalse(s.session_reused)
            self.assertIn(b"200 OK", tlsutil.https_get(s))


class TestReload(TlsCase):
    def reload_and_wait(self, code):
        before = self.server.stderr().count(code)
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.server.stderr().count(code) > before, timeout=15)
        self.assertGreater(self.server.stderr().count(code), before, self.server.stderr()[-2000:])

    def test_renewed_certificate_served_after_sighup(self):
        self.start_tls()
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            old = tlsutil.fingerprint(s)
        old_conn = tlsutil.tls_connect(self.port, "a.test", self.ctx())
        self.addCleanup(old_conn.close)
        self.assertIn(b"200 OK", tlsutil.https_get(old_conn, close=False))
        tlsutil.make_cert(self.certs, "a.test")  # the ACME renewal: new key, new certificate
        self.reload_and_wait("WS0104")
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            self.assertNotEqual(tlsutil.fingerprint(s), old)
            self.assertIn(b"200 OK", tlsutil.https_get(s))
        # The connection made before the reload still works.
        self.assertEqual(tlsutil.fingerprint(old_conn), old)
        self.assertIn(b"200 OK", tlsutil.https_get(old_conn, close=False))

    def test_broken_certificate_refuses_reload(self):
        self.start_tls()
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            old = tlsutil.fingerprint(s)
        tlsutil.make_cert(self.certs, "b.test")
        os.replace(os.path.join(self.certs, "b.test.key"), os.path.join(self.certs, "a.test.key"))  # key of another cert
        self.reload_and_wait("WS0101")
        self.assertIn("does not match the certificate", self.server.stderr())
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            self.assertEqual(tlsutil.fingerprint(s), old)
            self.assertIn(b"200 OK", tlsutil.https_get(s))

    def test_renewed_certificate_with_workers(self):
        self.start_tls(workers=2)
        with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
            old = tlsutil.fingerprint(s)
        tlsutil.make_cert(self.certs, "a.test")
        self.reload_and_wait("WS0510")

        def new_cert():
            with tlsutil.tls_connect(self.port, "a.test", self.ctx()) as s:
                return tlsutil.fingerprint(s) != old
        self.assertTrue(wait_for(new_cert, timeout=10))


class MemoryClient:
    """A TLS client over memory BIOs on a plain socket: the test decides when its bytes leave
    (its Finished and its request in one segment, or its Finished alone)."""

    def __init__(self, port, ctx, name="a.test"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=name)

    def close(self):
        self.sock.close()

    def send(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def feed(self):
        """One recv into the TLS object; False at the end."""
        b = self.sock.recv(65536)
        if not b:
            self.inc.write_eof()
            return False
        self.inc.write(b)
        return True

    def handshake_unsent(self):
        """The handshake up to the client's last flight, which is left unsent (TLS 1.3; a TLS 1.2
        client waits for the server's Finished after its own). Returns how long each wait for
        the server's bytes took, in seconds."""
        waits = []
        while True:
            try:
                self.obj.do_handshake()
                return waits
            except ssl.SSLWantReadError:
                self.send()
                waits.append(self.wait_for_bytes())

    def read_all(self):
        out = []
        while True:
            try:
                b = self.obj.read(65536)
                if not b:
                    break
                out.append(b)
            except ssl.SSLWantReadError:
                if not self.feed():
                    break
            except ssl.SSLZeroReturnError:
                break
        return b"".join(out)

    def data_segments_in(self):
        """tcpi_data_segs_in (struct tcp_info, Linux 4.6): segments that carried data to us."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        return int.from_bytes(info[152:156], "little")

    def wait_for_bytes(self):
        """Seconds until the server's next bytes arrive."""
        t = time.monotonic()
        self.feed()
        return time.monotonic() - t


class TestSegments(TlsCase):
    def test_tickets_leave_with_the_first_response(self):
        # The server's TLS 1.3 session tickets and its first response share a segment when the
        # request came with the client's Finished; and as the client said Connection: close, the
        # response's last write holds its tail for the close (issue 21), so the close_notify and
        # the FIN join it: flight, then tickets + response + close_notify. Written one by one they
        # were 4 segments, each a trip through the stack for both ends (3 before the FIN joined).
        self.start_tls()
        ctx = self.ctx()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        for _ in range(3):
            c = MemoryClient(self.port, ctx)
            try:
                c.handshake_unsent()
                c.obj.write(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                c.send()  # the Finished and the request in one segment
                data = c.read_all()
                self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:100])
                self.assertTrue(data.endswith(b"hello over tls\n"))
                self.assertEqual(c.data_segments_in(), 2)
            finally:
                c.close()

    def test_nothing_is_held_while_the_server_waits(self):
        # What the handshake's last step wrote (TLS 1.3 tickets, TLS 1.2 the server's Finished,
        # which the client waits for) goes at once when no request is there to join it, not after
        # the kernel's 200 ms cork limit. The fastest of 5 tries, so a busy machine cannot fail it.
        self.start_tls()
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = self.ctx()
            ctx.minimum_version = ctx.maximum_version = version
            waits = []
            for _ in range(5):
                c = MemoryClient(self.port, ctx)
                try:
                    flights = c.handshake_unsent()
                    if version == ssl.TLSVersion.TLSv1_2:
                        waits.append(flights[-1])  # for the server's Finished, after ours
                    else:
                        c.send()  # our Finished, no request: the tickets come alone
                        waits.append(c.wait_for_bytes())
                    c.obj.write(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                    c.send()
                    data = c.read_all()
                    self.assertTrue(data.endswith(b"hello over tls\n"), (version, data[-300:]))
                finally:
                    c.close()
            self.assertLess(min(waits), 0.15, (version, waits))


class TestManyHandshakes(TlsCase):
    def test_1000_simultaneous_handshakes(self):
        n = 1000
        self.start_tls(max_connections=4096, timeouts={"header": 120})
        ctx = self.ctx()
        port = self.port
        done = [0]

        async def one(gate):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="a.test",
                                                           ssl_handshake_timeout=120)
            done[0] += 1
            await gate.wait()  # every handshake is done before any request is sent
            writer.write(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            return data

        async def main():
            gate = asyncio.Event()
            tasks = [asyncio.ensure_future(one(gate)) for _ in range(n)]
            deadline = time.time() + 150
            while done[0] < n and time.time() < deadline and not any(t.done() for t in tasks):
                await asyncio.sleep(0.1)
            self.held = done[0]
            self.server_sockets = self.open_sockets()
            gate.set()
            return await asyncio.gather(*tasks, return_exceptions=True)

        results = asyncio.run(main())
        errors = [r for r in results if isinstance(r, BaseException)]
        self.assertEqual(errors, [], errors[:3])
        self.assertEqual(self.held, n)
        self.assertGreaterEqual(self.server_sockets, n)
        self.assertEqual(sum(1 for r in results if r.startswith(b"HTTP/1.1 200 OK\r\n")), n)

    def open_sockets(self):
        return sum(t.startswith("socket:") for t in harness.fd_targets(self.server.proc.pid))


if __name__ == "__main__":
    harness.main()

"""1 GiB up and down over HTTPS (issue 15): a PUT streamed to the upload module
and the same file served back by static, both byte-exact, with the server's
RSS bounded (the file goes through a 64 KiB buffer and OpenSSL, or through
kernel TLS when the kernel has it). Sizes shrink under ASan and valgrind."""
import hashlib
import http.client
import os
import struct
import time

import harness
import procstat
import tlsutil

MiB = 1024 * 1024
SMALL = procstat.ASAN or procstat.VALGRIND
BIG = (256 if SMALL else 1024) * MiB
RSS_BOUND = 8 * MiB


class TlsBigTransfer(harness.ServerTestCase):
    modules = ["static", "upload"]

    def setUp(self):
        super().setUp()
        certs = os.path.join(self.tmp, "certs")
        os.makedirs(certs)
        self.ca = tlsutil.make_ca(certs)
        crt, key = tlsutil.make_cert(certs, "a.test")
        os.makedirs(os.path.join(self.root, "big"))
        cfg = self.base_config(locations=[{"path": "/big", "static": {}, "upload": {},
                                           "client_max_body_size": 0}])
        s = cfg["servers"][0]
        s["listen"] = [{"address": "127.0.0.1:%d" % self.port, "tls": True}]
        s["server_names"] = ["a.test"]
        s["tls"] = {"certificate": crt, "key": key}
        env = None
        if procstat.ASAN:
            # OpenSSL frees a record buffer per record: ASan's quarantine would keep
            # them all resident (see harness.py, WEBSERV_TEST_TLS). Other checks stay on.
            opts = os.environ.get("ASAN_OPTIONS", "")
            env = {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=0"}
        self.start(cfg, env=env)

    def https(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=300,
                                        context=tlsutil.client_context(verify=False))
        self.addCleanup(c.close)
        return c

    def test_1gib_upload_then_download(self):
        pid = self.server.proc.pid
        base = bytearray(os.urandom(MiB))
        sent = hashlib.sha256()

        def pieces():
            for i in range(BIG // MiB):
                struct.pack_into("<Q", base, (i * 8) % (MiB - 8), i)  # every piece differs
                piece = bytes(base)
                sent.update(piece)
                yield piece

        c = self.https()
        c.request("PUT", "/big/warmup", body=os.urandom(2 * MiB), headers={"Host": "a.test"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 201)
        t0 = time.monotonic()
        with procstat.RssSampler(pid) as up_rss:
            c.request("PUT", "/big/huge.bin", body=pieces(), headers={"Content-Length": str(BIG), "Host": "a.test"})
            r = c.getresponse()
            r.read()
        up_s = time.monotonic() - t0
        self.assertEqual(r.status, 201)
        path = os.path.join(self.root, "big/huge.bin")
        self.assertEqual(os.path.getsize(path), BIG)
        on_disk = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(4 * MiB), b""):
                on_disk.update(block)
        self.assertEqual(on_disk.hexdigest(), sent.hexdigest())

        got = hashlib.sha256()
        n = 0
        # A new connection: hashing the file above reads 1 GiB from the disk (a big
        # upload is written around the page cache, issue 21), which can outlast the
        # keep-alive timeout on a loaded machine; the server then rightly closes the
        # idle connection.
        c = self.https()
        t0 = time.monotonic()
        with procstat.RssSampler(pid) as down_rss:
            c.request("GET", "/big/huge.bin", headers={"Host": "a.test"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            for block in iter(lambda: r.read(1 * MiB), b""):
                got.update(block)
                n += len(block)
        down_s = time.monotonic() - t0
        os.unlink(path)
        print("\n  %d MiB over TLS: PUT %.1fs (RSS +%.2f MiB), GET %.1fs (RSS +%.2f MiB), bound %d MiB"
              % (BIG // MiB, up_s, up_rss.growth() / MiB, down_s, down_rss.growth() / MiB, RSS_BOUND // MiB))
        self.assertEqual(n, BIG)
        self.assertEqual(got.hexdigest(), sent.hexdigest())
        self.assertLess(up_rss.growth(), RSS_BOUND)
        self.assertLess(down_rss.growth(), RSS_BOUND)


if __name__ == "__main__":
    harness.main()

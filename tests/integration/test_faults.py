"""Faults from outside the server (issue "Hardening"): a full disk during an
upload, running out of file descriptors. The server answers what it can,
leaves nothing half-written, and recovers."""
import os
import resource
import socket
import subprocess
import time

import harness


class FaultTest(harness.ServerTestCase):
    modules = ["static", "upload"]

    def upload_config(self):
        return self.base_config(locations=[{"path": "/", "static": {}},
                                           {"path": "/up", "static": {}, "upload": {}}],
                                client_max_body_size=0)

    def test_disk_full_during_upload(self):
        up = os.path.join(self.root, "up")
        os.makedirs(up)
        # A 1 MiB file system of our own for the upload folder (root can mount one here).
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", up], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (%s): disk-full case not exercised" % p.stderr.strip())
        try:
            with open(os.path.join(up, "old.txt"), "w") as f:
                f.write("old bytes")
            self.start(self.upload_config())
            body = os.urandom(3 * 1024 * 1024)
            r, _ = self.request("PUT", "/up/big.bin", body=body)
            self.assertIn(r.status, (507, 500))
            r, _ = self.request("PUT", "/up/old.txt", body=body)
            self.assertIn(r.status, (507, 500))
            # Nothing half-written, no temporary file, the old file untouched.
            self.assertEqual(sorted(os.listdir(up)), ["old.txt"])
            with open(os.path.join(up, "old.txt")) as f:
                self.assertEqual(f.read(), "old bytes")
            # Once there is room again, uploads work.
            r, _ = self.request("PUT", "/up/small.txt", body=b"fits")
            self.assertEqual(r.status, 201)
            self.server.stop()
        finally:
            subprocess.run(["umount", "-l", up], capture_output=True)

    def test_out_of_file_descriptors(self):
        self.write("a.txt", "still here")
        limit = 48

        def low_nofile():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        s = harness.Server(self.base_config(), self.tmp)
        self.servers.append(s)
        s.start(wait_ports=[("127.0.0.1", self.port)], preexec_fn=low_nofile)
        self.server = s
        # Far more connections than the server has descriptors for, each with the start of a
        # request: the listener defers a connection until its first bytes (TCP_DEFER_ACCEPT,
        # server/listen.c), so silent ones would not reach accept() in the time looked at.
        clients = []
        for _ in range(3 * limit):
            try:
                c = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                clients.append(c)
                c.sendall(b"GET /a.txt HTTP/1.1\r\n")
            except OSError:
                break
        time.sleep(0.5)
        self.assertIsNone(s.proc.poll(), "the server died at EMFILE")
        for c in clients:
            c.close()
        # It recovers: normal requests are answered again.
        deadline = time.time() + 10
        status = None
        while time.time() < deadline:
            try:
                r, body = self.request("GET", "/a.txt")
                status = r.status
                if status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        self.assertEqual(status, 200)
        self.assertIn("WS0200", s.stderr())  # the pause was logged, once per episode at most a few times
        self.assertLess(s.stderr().count("WS0200"), 200, "the server spun on EMFILE")


if __name__ == "__main__":
    harness.main()

"""Issue 21: disk I/O of an upload never on the event loop. While a large PUT
is stored by the upload module, a static GET on the same server (same worker)
is answered without waiting for the upload's fsync and rename, which run on
the core's offload pool.

Two cases:
- a real 256 MiB PUT (64 MiB under ASan or valgrind): the worst GET latency
  from the upload's last byte to its answer stays under 100 ms;
- the same with fsync slowed to 400 ms by an LD_PRELOAD shim: with fsync on
  the event loop, a GET during the upload's end waits at least that long, so
  this case fails whenever the fsync moves back onto the loop."""
import os
import socket
import subprocess
import threading
import time
import unittest

import harness
import procstat

MiB = 1024 * 1024
SMALL = procstat.ASAN or procstat.VALGRIND
UPLOAD = (64 if SMALL else 256) * MiB
BOUND = 0.100          # the bound, in seconds, for the worst GET
SLOW_FSYNC_MS = 400    # what the shim adds to every fsync/fdatasync

SHIM = r"""
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static void slow(void)
{
    struct timespec ts = {0, %d * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}
int fsync(int fd) { slow(); return (int)syscall(SYS_fsync, fd); }
int fdatasync(int fd) { slow(); return (int)syscall(SYS_fdatasync, fd); }
""" % SLOW_FSYNC_MS


class UploadLatencyTest(harness.ServerTestCase):
    modules = ["static", "upload"]

    def serve(self, env=None):
        os.makedirs(os.path.join(self.root, "big"))
        self.write("small.txt", b"x" * 1024)
        self.start(env=env, locations=[
            {"path": "/", "static": {}},
            {"path": "/big", "upload": {}, "client_max_body_size": 0},
        ])

    def put(self, size, out):
        """PUT /big/file of `size` bytes on a raw socket; out gets the times."""
        chunk = b"\xa5" * MiB
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
            s.sendall(b"PUT /big/file HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
            sent = 0
            while sent < size:
                n = min(len(chunk), size - sent)
                s.sendall(chunk[:n])
                sent += n
            out["sent"] = time.monotonic()
            data = b""
            while b"\r\n\r\n" not in data:
                more = s.recv(4096)
                if not more:
                    break
                data += more
            out["answered"] = time.monotonic()
            out["status"] = data.split(b"\r\n", 1)[0]

    def worst_get_during_upload(self, size):
        """Start the PUT; GET /small.txt on one keep-alive connection until the
        PUT is answered. Returns (worst latency overall, worst latency of GETs
        that overlap the upload's end, GETs in that end window, PUT times)."""
        times = {}
        up = threading.Thread(target=self.put, args=(size, times))
        conn = self.conn(timeout=30)
        conn.request("GET", "/small.txt")  # warm: the connection is set up before the upload
        self.assertEqual(conn.getresponse().read(), b"x" * 1024)
        gets = []
        up.start()
        while up.is_alive():
            t0 = time.monotonic()
            conn.request("GET", "/small.txt")
            res = conn.getresponse()
            body = res.read()
            t1 = time.monotonic()
            self.assertEqual((res.status, len(body)), (200, 1024))
            gets.append((t0, t1))
            time.sleep(0.005)
        up.join()
        conn.close()
        self.assertIn(times.get("status"), (b"HTTP/1.1 201 Created", b"HTTP/1.1 204 No Content"))  # 204: replaced
        self.assertEqual(os.path.getsize(os.path.join(self.root, "big", "file")), size)
        self.assertEqual([n for n in os.listdir(os.path.join(self.root, "big")) if n.startswith(".")], [])
        end = [(a, b) for a, b in gets if b >= times["sent"] and a <= times["answered"]]
        worst = max(b - a for a, b in gets)
        worst_end = max((b - a for a, b in end), default=0.0)
        print("upload %d MiB: %d GETs, worst %.1f ms; end of upload (%.1f ms from last byte to the answer): "
              "%d GETs, worst %.1f ms" % (size // MiB, len(gets), worst * 1000,
                                           (times["answered"] - times["sent"]) * 1000, len(end), worst_end * 1000))
        return worst, worst_end, len(end), times

    def best_of(self, size, attempts=3):
        """The machine is shared: a GET can also wait for the scheduler. That
        noise only adds, so the best of up to `attempts` uploads is measured;
        with the disk I/O on the loop every upload shows the stall."""
        best = None
        for _ in range(attempts):
            got = self.worst_get_during_upload(size)
            if best is None or (got[2] > 0 and (best[2] == 0 or got[1] < best[1])):
                best = got
            if got[2] > 0 and got[1] < BOUND:
                break
        return best

    def test_get_never_waits_for_the_upload(self):
        self.serve()
        worst, worst_end, n_end, _ = self.best_of(UPLOAD)
        # The bound is on the upload's end (fsync and rename); the body writes
        # themselves still run on the loop (issue 21, not done yet): `worst`
        # is printed, not asserted.
        self.assertGreater(n_end, 0, "no GET overlapped the upload's end")
        self.assertLess(worst_end, BOUND, "a GET waited %.0f ms for the upload's end" % (worst_end * 1000))

    def test_get_never_waits_for_a_slow_fsync(self):
        shim = os.path.join(self.tmp, "slow_fsync.so")
        src = shim[:-3] + ".c"
        with open(src, "w") as f:
            f.write(SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, src], check=True)
        env = {"LD_PRELOAD": shim}
        if procstat.ASAN:
            opts = os.environ.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
        self.serve(env)
        worst, worst_end, n_end, times = self.best_of(16 * MiB)
        # The shim did act: the answer came at least one slow fsync after the last byte.
        self.assertGreaterEqual(times["answered"] - times["sent"], SLOW_FSYNC_MS / 1000 * 0.9)
        self.assertGreater(n_end, 0, "no GET overlapped the upload's end")
        self.assertLess(worst_end, BOUND, "a GET waited %.0f ms for the upload's fsync" % (worst_end * 1000))


if __name__ == "__main__":
    harness.main()

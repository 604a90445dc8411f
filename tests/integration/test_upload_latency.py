"""Issue 21: disk I/O of an upload never on the event loop. While a large PUT
is stored by the upload module, a static GET on the same server (same worker)
is answered without waiting for the upload's fsync and rename, which run on
the core's offload pool.

Cases:
- a real 256 MiB PUT (64 MiB under ASan or valgrind): the worst GET latency
  from the upload's last byte to its answer stays under 100 ms;
- the same with fsync slowed to 400 ms by an LD_PRELOAD shim: with fsync on
  the event loop, a GET during the upload's end waits at least that long, so
  this case fails whenever the fsync moves back onto the loop;
- a slow disk for the body's writes too (every write() of 4 KiB or more to a
  regular file sleeps 200 ms first): raw PUT, multipart POST and a chunked
  body spooled for a CGI script. With any of those writes on the loop, GETs
  during the upload wait up to 200 ms (the median about 100 ms; under 25 ms
  is always asserted); with them on the pool and the body paused while
  the disk is behind, no GET waits more than 100 ms (asserted unless the
  machine's own load makes a GET wait that long with no upload: the baseline
  is measured and printed), and every byte arrives in order."""
import hashlib
import http.client
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

SLOW_WRITE_MS = 200    # what the shim adds to every large write() or pwrite() to a regular file

# FSYNC_MS and WRITE_MS come from -D flags (0: that call is not slowed). Small
# writes (log lines) and writes to sockets, pipes and eventfds are not slowed:
# the shim models a slow disk, not a slow server.
SHIM = r"""
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static void slow(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}
int fsync(int fd) { slow(FSYNC_MS); return (int)syscall(SYS_fsync, fd); }
int fdatasync(int fd) { slow(FSYNC_MS); return (int)syscall(SYS_fdatasync, fd); }
ssize_t write(int fd, const void *buf, size_t n)
{
    struct stat st;
    if (WRITE_MS > 0 && n >= 4096 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        slow(WRITE_MS);
    return syscall(SYS_write, fd, buf, n);
}
/* The spool's direct-mode writes are pwrite at their own offsets (several
 * batches on the pool at once): the same slow disk for them. */
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    struct stat st;
    if (WRITE_MS > 0 && n >= 4096 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        slow(WRITE_MS);
    return syscall(SYS_pwrite64, fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) { return pwrite(fd, buf, n, off); }
"""

ECHO_PY = ("import sys, hashlib, os\nd = sys.stdin.buffer.read()\n"
           "print('Content-Type: text/plain\\n\\n%s %d %s' % (os.environ.get('CONTENT_LENGTH'), "
           "len(d), hashlib.sha256(d).hexdigest()))\n")
BOUNDARY = "----latency-boundary-7f3a9c"


class UploadLatencyTest(harness.ServerTestCase):
    modules = ["static", "upload", "cgi"]

    def serve(self, env=None):
        os.makedirs(os.path.join(self.root, "big"))
        self.write("small.txt", b"x" * 1024)
        self.write("cgi-bin/echo.py", ECHO_PY)
        self.start(env=env, locations=[
            {"path": "/", "static": {}},
            {"path": "/big", "upload": {}, "client_max_body_size": 0},
            {"path": "/cgi-bin", "client_max_body_size": 0, "cgi": {"interpreters": {".py": "/usr/bin/python3"},
                                                                   "timeout": 60}},
        ])

    def slow_disk_env(self, fsync_ms, write_ms):
        """An LD_PRELOAD shim that slows fsync and large file writes."""
        shim = os.path.join(self.tmp, "slow_disk_%d_%d.so" % (fsync_ms, write_ms))
        src = shim[:-3] + ".c"
        with open(src, "w") as f:
            f.write(SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-DFSYNC_MS=%d" % fsync_ms, "-DWRITE_MS=%d" % write_ms,
                        "-o", shim, src], check=True)
        env = {"LD_PRELOAD": shim}
        if procstat.ASAN:
            opts = os.environ.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "verify_asan_link_order=0"
        return env

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
            out["what"] = "PUT %d MiB" % (size // MiB)

    def worst_get_during(self, action):
        """Run action(times) on a thread; GET /small.txt on one keep-alive
        connection until it is done. Returns (worst latency overall, worst
        latency of GETs that overlap the end (from times["sent"] to
        times["answered"]), GETs in that end window, times)."""
        times = {}
        up = threading.Thread(target=action, args=(times,))
        conn = self.conn(timeout=30)
        conn.request("GET", "/small.txt")  # warm: the connection is set up before the upload
        self.assertEqual(conn.getresponse().read(), b"x" * 1024)
        gets = []
        times["start"] = time.monotonic()
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
        self.assertIn("answered", times, "the upload got no answer")
        end = [(a, b) for a, b in gets if b >= times["sent"] and a <= times["answered"]]
        worst = max((b - a for a, b in gets), default=0.0)
        worst_end = max((b - a for a, b in end), default=0.0)
        times["latencies"] = lat = sorted(b - a for a, b in gets)
        if lat:
            print("  GET latency p50 %.1f ms, p90 %.1f ms" % (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.9)] * 1000))
        print("%s: %d GETs, worst %.1f ms; end (%.1f ms from last byte to the answer): %d GETs, worst %.1f ms"
              % (times.get("what", "upload"), len(gets), worst * 1000, (times["answered"] - times["sent"]) * 1000,
                 len(end), worst_end * 1000))
        return worst, worst_end, len(end), times

    def worst_get_during_upload(self, size):
        got = self.worst_get_during(lambda times: self.put(size, times))
        times = got[3]
        self.assertIn(times.get("status"), (b"HTTP/1.1 201 Created", b"HTTP/1.1 204 No Content"))  # 204: replaced
        self.assertEqual(os.path.getsize(os.path.join(self.root, "big", "file")), size)
        self.assertEqual([n for n in os.listdir(os.path.join(self.root, "big")) if n.startswith(".")], [])
        return got

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
        self.serve(self.slow_disk_env(SLOW_FSYNC_MS, 0))
        worst, worst_end, n_end, times = self.best_of(16 * MiB)
        # The shim did act: the answer came at least one slow fsync after the last byte.
        self.assertGreaterEqual(times["answered"] - times["sent"], SLOW_FSYNC_MS / 1000 * 0.9)
        self.assertGreater(n_end, 0, "no GET overlapped the upload's end")
        # With the fsync on the loop a GET at the end waits the whole 400 ms:
        # always asserted. The 100 ms, unless this machine's load
        # alone makes a GET wait that long (baseline measured and printed).
        self.assertLess(worst_end, SLOW_FSYNC_MS / 1000 * 0.75,
                        "a GET waited %.0f ms for the upload's fsync" % (worst_end * 1000))
        if worst_end >= BOUND:
            base = self.baseline_worst()
            print("worst GET at the upload's end %.0f ms; with no upload the worst GET took %.0f ms"
                  % (worst_end * 1000, base * 1000))
            if base < BOUND / 2:
                self.fail("a GET waited %.0f ms for the upload's fsync" % (worst_end * 1000))

    # ---- a slow disk for every write of the body (issue 21, part 1) ----

    def baseline_worst(self, secs=2.0):
        """The worst GET with no upload at all, for `secs`: what this
        machine's scheduler alone costs a GET right now."""
        conn = self.conn(timeout=30)
        worst, end = 0.0, time.monotonic() + secs
        while time.monotonic() < end:
            t0 = time.monotonic()
            conn.request("GET", "/small.txt")
            conn.getresponse().read()
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.005)
        conn.close()
        return worst

    def assert_loop_never_waited(self, action, what, attempts=3):
        """Run action under the slow disk, GETs alongside. With a body write
        on the loop nearly every GET waits for one (200 ms each, back to
        back): the median GET waits about 100 ms in every run, so a median
        under 25 ms is asserted always (the scheduler's noise, even at a load
        of 18 on 2 cores, moves the median by a few ms). The issue's bound (the worst GET < 100 ms, best of
        `attempts` runs: the scheduler's noise only adds) is asserted when the
        machine itself lets a GET through in less: on a shared machine under
        heavy load a GET waits longer than that with no upload at all (the
        baseline is measured and printed)."""
        best = None
        for _ in range(attempts):
            got = self.worst_get_during(action)
            times = got[3]
            # The shim did act: the upload lasted at least two slow writes one
            # after the other (a raw PUT's direct batches overlap, two at once
            # (lib/spool SPOOL_DIRECT_DEPTH), but the first one runs alone: a
            # 4 MiB body takes two rounds at least, whatever the machine's speed).
            self.assertGreaterEqual(times["answered"] - times["start"], 2 * SLOW_WRITE_MS / 1000)
            lat = times["latencies"]
            self.assertGreater(len(lat), 10)
            p50 = lat[len(lat) // 2]
            self.assertLess(p50, 0.025, "%s: GETs waited for the disk (median %.0f ms)" % (what, p50 * 1000))
            if best is None or got[0] < best[0]:
                best = got
            if got[0] < BOUND:
                return best
        base = self.baseline_worst()
        print("%s: worst GET %.0f ms in the best of %d runs; with no upload the worst GET took %.0f ms"
              % (what, best[0] * 1000, attempts, base * 1000))
        if base < BOUND / 2:
            self.fail("%s: a GET waited %.0f ms (the machine allows %.0f ms)" % (what, best[0] * 1000, base * 1000))
        return best

    def test_put_body_writes_off_the_loop(self):
        self.serve(self.slow_disk_env(0, SLOW_WRITE_MS))
        size = 4 * MiB
        _, _, _, times = self.assert_loop_never_waited(lambda times: self.put(size, times), "raw PUT")
        self.assertIn(times.get("status"), (b"HTTP/1.1 201 Created", b"HTTP/1.1 204 No Content"))
        with open(os.path.join(self.root, "big", "file"), "rb") as f:
            self.assertEqual(f.read(), b"\xa5" * size)
        self.assertEqual([n for n in os.listdir(os.path.join(self.root, "big")) if n.startswith(".")], [])

    def test_multipart_writes_off_the_loop(self):
        self.serve(self.slow_disk_env(SLOW_WRITE_MS, SLOW_WRITE_MS))
        files = {"one.bin": os.urandom(2 * MiB + 11), "two.bin": os.urandom(MiB - 5)}
        body = b""
        for name, data in files.items():
            body += (b"--%s\r\nContent-Disposition: form-data; name=\"f\"; filename=\"%s\"\r\n\r\n"
                     % (BOUNDARY.encode(), name.encode())) + data + b"\r\n"
        body += b"--%s--\r\n" % BOUNDARY.encode()
        rounds = [0]

        def post(times):
            rounds[0] += 1
            folder = "/big/r%d/" % rounds[0]
            os.makedirs(os.path.join(self.root, folder.strip("/")))
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("POST", folder, body=body,
                      headers={"Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
            times["sent"] = time.monotonic()
            r = c.getresponse()
            r.read()
            times["answered"] = time.monotonic()
            times["status"] = r.status
            times["folder"] = folder
            times["what"] = "multipart POST %d bytes" % len(body)
            c.close()

        _, _, _, times = self.assert_loop_never_waited(post, "multipart POST")
        self.assertEqual(times["status"], 201)
        for name, data in files.items():
            with open(os.path.join(self.root, times["folder"].strip("/"), name), "rb") as f:
                self.assertEqual(f.read(), data)

    def test_cgi_chunked_spool_off_the_loop(self):
        self.serve(self.slow_disk_env(0, SLOW_WRITE_MS))
        big = os.urandom(3 * MiB + 7)

        def post(times):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("POST", "/cgi-bin/echo.py", body=(big[i:i + 100000] for i in range(0, len(big), 100000)),
                      encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
            times["sent"] = time.monotonic()
            r = c.getresponse()
            times["body"] = r.read()
            times["answered"] = time.monotonic()
            times["status"] = r.status
            times["what"] = "chunked POST to CGI, %d bytes" % len(big)
            c.close()

        _, _, _, times = self.assert_loop_never_waited(post, "chunked body for CGI")
        self.assertEqual(times["status"], 200)
        self.assertEqual(times["body"].decode().strip(),
                         "%d %d %s" % (len(big), len(big), hashlib.sha256(big).hexdigest()))


if __name__ == "__main__":
    harness.main()

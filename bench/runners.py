"""How the benchmark measures: server CPU and memory from /proc, and one runner per workload
kind (used by bench/run.py). Each runner returns a dict of figures for one leg of one round."""
import json
import mmap
import multiprocessing
import os
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

from servers import CLIENT_CPU, BOTH_CPUS, SERVER_CPU, tls_port, h2c_port
from workloads import UPLOAD_BYTES, CGI_BIG_BYTES, BIG_PROXY_BYTES

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = os.sysconf("SC_CLK_TCK")
IDLE_CONNS = 10000


# ---------------------------------------------------------------- /proc
def proc_stat(pid):
    """(comm, ppid, utime+stime+cutime+cstime in ticks) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime..cstime are fields 14..17.
    t = [int(x) for x in fields[11:15]]
    return comm, int(fields[1]), sum(t), t[0] + t[2]


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def server_pids(pid):
    """The server process and its descendants running the same program (workers):
    CGI children are left out of RSS; their CPU arrives through cutime/cstime."""
    top = proc_stat(pid)
    if not top:
        return []
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        st = proc_stat(p)
        if st and st[0] == top[0]:
            pids.append(p)
            todo += children(p)
    return pids


def cpu_ticks(pids):
    return sum((proc_stat(p) or (0, 0, 0, 0))[2] for p in pids)


def user_ticks(pids):
    return sum((proc_stat(p) or (0, 0, 0, 0))[3] for p in pids)


def status_kb(pids, key):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_user(cpu):
    """(user+nice, total) ticks of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%s " % cpu):
                v = [int(x) for x in line.split()[1:]]
                return v[0] + v[1], sum(v[:8])
    return 0, 0


def cpu_busy(cpu):
    """(busy, total) ticks of one CPU from /proc/stat; busy = all but idle and iowait."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%s " % cpu):
                v = [int(x) for x in line.split()[1:]]
                return sum(v[:8]) - v[3] - v[4], sum(v[:8])
    return 0, 0


def others_pct(before, after, server_user_ticks):
    """The noise: user time that other processes took on the server's CPU during a
    run, as a share of it. User time only, so the kernel's own work for the
    server's traffic (ksoftirqd, kworkers: big with large files) does not count."""
    user, total = after[0] - before[0], after[1] - before[1]
    return max(0.0, (user - server_user_ticks) / total * 100) if total > 0 else 0.0


def reset_peak(pids):
    for p in pids:
        try:
            with open("/proc/%d/clear_refs" % p, "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass


def pids_of(server):
    return server_pids(server.proc.pid) if server.alive() else []


def leg_url(server, wl, leg):
    if wl.get("tls"):
        return "https://127.0.0.1:%d%s" % (tls_port(server.port, wl["tls"]), leg["path"])
    if wl.get("h2") == "tls":
        return "https://127.0.0.1:%d%s" % (tls_port(server.port, "h2"), leg["path"])
    if wl.get("h2") == "h2c":
        return "http://127.0.0.1:%d%s" % (h2c_port(server.port), leg["path"])
    return "http://127.0.0.1:%d%s" % (server.port, leg["path"])


class Meter:
    """Server CPU, peak RSS and the noise on the server's CPU over one run."""

    def __init__(self, server, wl):
        self.server, self.unpinned = server, wl.get("unpinned")
        self.pids = pids_of(server)
        reset_peak(self.pids)
        self.t0, self.u0 = cpu_ticks(self.pids), user_ticks(self.pids)
        self.b0 = cpu_user(SERVER_CPU)

    def done(self, requests):
        pids = pids_of(self.server) or self.pids
        t1, u1 = cpu_ticks(pids), user_ticks(pids)
        b1 = cpu_user(SERVER_CPU)
        return dict(us_per_req=(t1 - self.t0) / HZ * 1e6 / max(requests, 1),
                    peak_rss_mb=status_kb(pids, "VmHWM") / 1024,
                    noise_pct=None if self.unpinned else others_pct(self.b0, b1, u1 - self.u0))


def client_cpus(wl):
    return BOTH_CPUS if wl.get("unpinned") else CLIENT_CPU


class ClientMeter:
    """The client's own CPU over one run (issue 21: is the client the bottleneck?): the
    user+system time of the load generator, from the rusage of the children this process
    reaped (the client is the only child reaped during a run: taskset execs it, the servers
    and helpers are reaped only when they stop); its share of the run's wall time (the
    process's start and exit included, so a saturated client shows a little under 100 %);
    and how busy the client's core was in all, from /proc/stat (None on unpinned rows,
    where the client has no core of its own)."""

    def __init__(self, wl):
        self.pinned = not wl.get("unpinned")
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu0 = r.ru_utime + r.ru_stime
        self.busy0 = cpu_busy(CLIENT_CPU) if self.pinned else None
        self.t0 = time.monotonic()

    def done(self, requests):
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = r.ru_utime + r.ru_stime - self.cpu0
        wall = time.monotonic() - self.t0
        out = dict(client_us_per_req=cpu * 1e6 / max(requests, 1),
                   client_share_pct=cpu / wall * 100 if wall > 0 else None, client_busy_pct=None)
        if self.pinned:
            b1 = cpu_busy(CLIENT_CPU)
            total = b1[1] - self.busy0[1]
            out["client_busy_pct"] = (b1[0] - self.busy0[0]) / total * 100 if total > 0 else None
        return out


# ---------------------------------------------------------------- runners
def run_json_client(server, wl, duration, cmd, name, tag, count, figures):
    """Runs the client cmd (called name in errors), which ends by printing one line
    "<tag>JSON {...}" (bench/report.lua for wrk, bench/tls_full.c), under the Meter; count is
    the key of the JSON's unit of work (a request, a connection) and figures(w, secs, n) gives
    the row's own figures from the JSON w."""
    m, cm = Meter(server, wl), ClientMeter(wl)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=duration + 40)
    found = re.search(r"^%sJSON (.*)$" % tag, r.stdout, re.M)
    if not found:
        raise RuntimeError("%s output not understood: %s" % (name, r.stdout[-300:]))
    w = json.loads(found.group(1))
    n = max(w[count], 1)
    secs = w["duration_us"] / 1e6
    res = m.done(n)
    res.update(cm.done(n))
    res.update(figures(w, secs, n))
    return res


def run_wrk(server, wl, leg, duration):
    cmd = ["taskset", "-c", client_cpus(wl), "wrk", "-t1", "-c", str(wl["conns"]), "-d", "%ds" % duration,
           "--timeout", "10s", "-s", os.path.join(HERE, "report.lua")]
    for h in leg["headers"]:
        cmd += ["-H", h]
    cmd.append(leg_url(server, wl, leg))
    return run_json_client(server, wl, duration, cmd, "wrk", "WRK", "requests", lambda w, secs, n: dict(
        rps=w["requests"] / secs, gbps=w["bytes"] / secs / 1e9, p50_ms=w["p50_us"] / 1000,
        p99_ms=w["p99_us"] / 1000, errors=sum(w[k] for k in w if k.startswith("err_")),
        requests=w["requests"], bytes_per_resp=w["bytes"] / n))


TLS_FULL = {"exe": None}   # bench/tls_full.c, built by run.py into the run's folder


def run_tls_full(server, wl, leg, duration):
    """Full TLS 1.3 handshakes (bench/tls_full.c: a new session for every connection, one GET
    with Connection: close each); the figure is the server's CPU per connection."""
    cmd = ["taskset", "-c", client_cpus(wl), TLS_FULL["exe"], str(tls_port(server.port, wl["tls"])),
           "-c", str(wl["conns"]), "-d", str(duration), "-p", leg["path"]]
    return run_json_client(server, wl, duration, cmd, "tls_full", "TLS", "connections", lambda w, secs, n: dict(
        rps=w["connections"] / secs, p50_ms=w["p50_us"] / 1000, p99_ms=w["p99_us"] / 1000,
        errors=w["errors"] + w["resumed"], resumed=w["resumed"], requests=w["connections"]))


def run_h2load(server, wl, leg, duration):
    """h2load (HTTP/2: ALPN h2 over TLS, or h2c with prior knowledge): one thread, conns x
    streams; p50/p99 from its per-request log (--log-file)."""
    m, cm = Meter(server, wl), ClientMeter(wl)
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log") as lf:
        cmd = ["taskset", "-c", client_cpus(wl), "h2load", "-t1", "-c", str(wl["conns"]),
               "-m", str(wl["streams"]), "-D", str(duration), "--log-file", lf.name]
        for h in leg["headers"]:
            cmd += ["-H", h]
        cmd.append(leg_url(server, wl, leg))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=duration + 60)
        lat = []
        with open(lf.name) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    lat.append(int(parts[2]))
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", r.stdout)
    fin = re.search(r"finished in ([\d.]+)(s|ms)", r.stdout)
    traffic = re.search(r"traffic: \S+ \((\d+)\) total", r.stdout)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", r.stdout)
    if not (req and fin):
        raise RuntimeError("h2load output not understood: " + r.stdout[-400:])
    done = int(req.group(3))
    secs = float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1)
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] / 1000 if lat else None
    bad = int(req.group(5)) + int(req.group(6)) + int(req.group(7))
    if codes:
        bad += int(codes.group(3)) + int(codes.group(4))
    res = m.done(done)
    res.update(cm.done(done))
    res.update(rps=done / secs if secs else 0, p50_ms=pct(0.5), p99_ms=pct(0.99), errors=bad,
               requests=done, gbps=(int(traffic.group(1)) / secs / 1e9) if traffic and secs else None)
    return res


def run_idle(server, wl, leg, duration):
    """RSS growth per idle connection, from a freshly started server: hold_conns.py opens
    the connections (one GET each, HTTP/1.1 or HTTP/2) and holds them while RSS is read."""
    server.restart()  # a fresh process, so the growth is the connections' alone
    socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    time.sleep(0.3)
    pids = pids_of(server)
    before = status_kb(pids, "VmRSS")
    n = wl.get("idle_conns", IDLE_CONNS)
    if wl.get("h2"):
        extra, port = ["--h2", "--timeout", "120"], tls_port(server.port, "h2")
    elif wl.get("tls"):
        extra, port = ["--tls", "--timeout", "120"], tls_port(server.port, wl["tls"])
    else:
        extra, port = [], server.port
    p = subprocess.Popen(["taskset", "-c", CLIENT_CPU, sys.executable,
                          os.path.join(HERE, "hold_conns.py"), str(port), "-n", str(n),
                          "--hold", "60", *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 180 if extra else 60)
        line = p.stdout.readline() if ready else ""
        found = re.match(r"READY ok=(\d+) failed=(\d+)", line)
        if not found:
            raise RuntimeError("hold_conns.py: no READY line")
        ok, failed = int(found.group(1)), int(found.group(2))
        time.sleep(0.5)
        after = status_kb(pids_of(server), "VmRSS")
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        # Fresh again: the memory the connections grew would otherwise stay in the RSS (and the
        # peak-RSS figures) of the rows that follow.
        server.restart()
    return dict(bytes_per_conn=(after - before) * 1024 / max(ok, 1), errors=failed,
                peak_rss_mb=after / 1024)


def _probe_exchange(s, req):
    """One GET on s, read to the end of its body."""
    s.sendall(req)
    buf = b""
    while True:
        data = s.recv(65536)
        if not data:
            raise OSError("closed")
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            cl = re.search(rb"(?i)\r\ncontent-length: *(\d+)", buf[:end])
            if len(buf) >= end + 4 + (int(cl.group(1)) if cl else 0):
                return


def _probe_gets(port, stop, results):
    """GetProbe's loop, in its own process: a static GET /index.html every 20 ms on one
    keep-alive connection until stop is set; sends (waits in ms, errors) back. It shares the
    client CPU with the uploading client, which keeps that CPU busy: a higher priority lets it
    run as soon as its answer arrives instead of after the uploader's time slice. The first
    connection is made, and answers one GET, before any wait is timed: the first connect of a new
    process costs the client about 9 ms whatever the server (Python's first name lookup; by hand,
    on an idle webserv, lighttpd and nginx alike), which the worst wait counted as the server's.
    A reconnect after an error is timed with its GET: a server that dropped the probe waited."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass  # not root: the figures then include the client's own scheduling waits
    req = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    lat, errors, s = [], 0, None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        _probe_exchange(s, req)
    except OSError:
        errors += 1
        if s:
            s.close()
        s = None
    while not stop.is_set():
        try:
            t = time.monotonic()
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
            _probe_exchange(s, req)
            lat.append((time.monotonic() - t) * 1000)
        except OSError:
            errors += 1
            if s:
                s.close()
            s = None
        stop.wait(0.02)
    if s:
        s.close()
    results.send((lat, errors))


class GetProbe:
    """A static GET /index.html every 20 ms on its own keep-alive connection while another
    workload runs; the worst and the 99th percentile wait are the figures (issue 21: a GET
    during a 1 GiB upload must never wait long for the disk). It runs in a process of its own:
    as a thread beside the uploading thread it waited for that thread's turn at Python's
    interpreter lock, and every server showed 13-25 ms "waits" that were the client's."""

    def __init__(self, port):
        ctx = multiprocessing.get_context("fork")
        self.stop = ctx.Event()
        self._rx, self._tx = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_probe_gets, args=(port, self.stop, self._tx), daemon=True)
        self.lat, self.errors = [], 0

    def start(self):
        self._proc.start()
        self._tx.close()

    def join(self, timeout=None):
        if self._rx.poll(timeout):
            self.lat, self.errors = self._rx.recv()
        self._proc.join(timeout)


def run_upload_plain(server, wl, leg, duration):
    pids = pids_of(server)
    reset_peak(pids)
    base = status_kb(pids, "VmRSS")
    t0 = cpu_ticks(pids)
    start = time.monotonic()
    block = memoryview(bytes(1 << 20))
    s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    status = 0
    try:
        s.sendall(("PUT /uploads/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
                   "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
                   % UPLOAD_BYTES).encode())
        for _ in range(UPLOAD_BYTES >> 20):
            s.sendall(block)
        resp = b""
        while b"\r\n" not in resp:
            data = s.recv(4096)
            if not data:
                break
            resp += data
        m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
        status = int(m.group(1)) if m else 0
    finally:
        s.close()
    secs = time.monotonic() - start
    pids2 = pids_of(server) or pids
    peak = status_kb(pids2, "VmHWM")
    t1 = cpu_ticks(pids2)
    return dict(peak_rss_mb=peak / 1024, growth_mb=(peak - base) / 1024,
                errors=0 if status in (200, 201, 204) else 1,
                status=status, mbps=UPLOAD_BYTES / secs / 1e6, cpu_s=(t1 - t0) / HZ)


def warm_get(server):
    """One GET /index.html before the upload row's first round, as the rate rows have a warm-up
    run: the server's first static answer sets up its caches (webserv: the file cache's inotify
    watches of the root's folders, on the event loop; adding the watch of /tmp took 58 ms once,
    strace -T), which is not what the probe beside the upload measures. In a full bench run the
    rows before already did it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass


def run_upload(server, wl, leg, duration):
    """The 1 GiB PUT, with a GET probe beside it on the same server (one worker). Each leg starts
    with nothing of the previous legs left to write: a server that does not fsync (lighttpd, nginx)
    leaves its 1 GiB dirty in the page cache, and its writeback would otherwise land in the next
    leg's time and disk (webserv's rounds run after a peer's leg measured 1,666-1,788 MB/s, alone
    2,118-2,508)."""
    os.sync()
    probe = GetProbe(server.port)
    probe.start()
    try:
        res = run_upload_plain(server, wl, leg, duration)
    finally:
        probe.stop.set()
        probe.join(timeout=15)
    lat = sorted(probe.lat)
    res.update(get_max_ms=lat[-1] if lat else None,
               get_p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
               get_count=len(lat), errors=res["errors"] + probe.errors)
    return res


# The file system's own durable write speed, beside the upload row (issue 21): what a server
# that keeps the fsync can reach at best on this machine, measured in the same run. The
# "huge" leg writes as webserv's spool does since issue 21 (lib/spool/spool.h): the file's
# blocks reserved first, 1.75 MiB writes from a buffer in one 2 MiB huge page (one segment
# per write for the block layer instead of one per 4 KiB page).
DISK_LEGS = (("disk: O_DIRECT 1 MiB + fsync", True),
             ("disk: O_DIRECT 1.75 MiB from a huge page, reserved, + fsync", "huge"),
             ("disk: buffered 1 MiB + fsync", False))
HUGE = 2 << 20


def huge_page_buffer(size):
    """(mmap, memoryview of `size` bytes at a 2 MiB boundary, marked MADV_HUGEPAGE and
    written once so that it is backed by a huge page where the kernel has one). Private
    memory: a shared anonymous mapping (mmap's default) is shmem, which gets no huge page."""
    import ctypes
    buf = mmap.mmap(-1, 2 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    export = ctypes.c_char.from_buffer(buf)
    skip = -ctypes.addressof(export) % HUGE
    del export
    buf.madvise(mmap.MADV_HUGEPAGE, skip, HUGE)
    view = memoryview(buf)[skip:skip + size]
    view[:] = bytes(size)
    return buf, view


def disk_write_speed(folder, direct):
    """1 GiB (UPLOAD_BYTES) written to a new file in `folder` (where the servers store the
    upload), then fsync'ed and closed; timed from the open to the end of the close; the file
    is removed after. direct: 1 MiB writes around the page cache (O_DIRECT, from a
    page-aligned buffer), False: 1 MiB writes through it; "huge": around it, 1.75 MiB writes
    from a huge page after fallocate of the whole file. The bytes are zeros, as the upload's
    body is. Returns dict(mbps=..., secs=...); OSError when the file system refuses (e.g. no
    O_DIRECT)."""
    if direct == "huge":
        buf, view = huge_page_buffer(HUGE - (256 << 10))
    else:
        buf = mmap.mmap(-1, 1 << 20)  # page-aligned, zero-filled
        view = memoryview(buf)
    piece = len(view)
    path = os.path.join(folder, ".disk-speed.bin")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | (os.O_DIRECT if direct else 0)
    start = time.monotonic()
    fd = os.open(path, flags, 0o600)
    try:
        if direct == "huge":
            os.posix_fallocate(fd, 0, UPLOAD_BYTES)
        done = 0
        while done < UPLOAD_BYTES:
            n = min(piece, UPLOAD_BYTES - done)
            if os.pwrite(fd, view[:n], done) != n:
                raise OSError("short write")
            done += n
        os.fsync(fd)
    finally:
        os.close(fd)
        secs = time.monotonic() - start
        os.unlink(path)
        view.release()
        buf.close()
    return dict(mbps=UPLOAD_BYTES / secs / 1e6, secs=secs, errors=0)


def run_download(server, wl, leg, duration):
    """One big GET through the server (the proxy's 1 GiB answer), read as fast as the client
    can; the figure is the server's peak RSS."""
    pids = pids_of(server)
    reset_peak(pids)
    base = status_kb(pids, "VmRSS")
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    got, head, peak = 0, b"", 0
    buf = bytearray(1 << 20)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % leg["path"]).encode())
        while b"\r\n\r\n" not in head:
            data = s.recv(65536)
            if not data:
                break
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        got = len(rest)
        while True:
            n = s.recv_into(buf)
            if not n:
                break
            got += n
            if got % (64 << 20) < n:
                peak = max(peak, status_kb(pids_of(server), "VmHWM"))
    finally:
        s.close()
    secs = time.monotonic() - start
    peak = max(peak, status_kb(pids_of(server) or pids, "VmHWM"))
    ok = head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")) and got == BIG_PROXY_BYTES
    return dict(peak_rss_mb=peak / 1024, growth_mb=(peak - base) / 1024, errors=0 if ok else 1,
                mbps=got / secs / 1e6, body=got)


def run_cgi_slow(server, wl, leg, duration):
    pids = pids_of(server)
    reset_peak(pids)
    base = status_kb(pids, "VmRSS")
    start = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(30)
    s.connect(("127.0.0.1", server.port))
    s.sendall(b"GET /cgi-bin/big.py HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    buf = bytearray()
    peak = 0
    deadline = start + 60
    while time.monotonic() < deadline:
        data = s.recv(16384)  # about 8 MB/s: far slower than the script writes
        if not data:
            break
        buf += data
        if len(buf) % (1 << 20) < 16384:
            peak = max(peak, status_kb(pids_of(server), "VmHWM"))
        time.sleep(0.002)
    s.close()
    secs = time.monotonic() - start
    peak = max(peak, status_kb(pids_of(server) or pids, "VmHWM"))
    head, _, body = bytes(buf).partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = dechunk(body)
    ok = head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")) and len(body) == CGI_BIG_BYTES
    return dict(peak_rss_mb=peak / 1024, growth_mb=(peak - base) / 1024, errors=0 if ok else 1,
                secs=secs, body=len(body))


def dechunk(data):
    out, i = bytearray(), 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            return bytes(out)
        size = int(data[i:j].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out)
        out += data[j + 2:j + 2 + size]
        i = j + 2 + size + 2




RUNNERS = {"wrk": run_wrk, "tls_full": run_tls_full, "h2load": run_h2load, "idle": run_idle, "upload": run_upload,
           "cgi_slow": run_cgi_slow, "download": run_download}

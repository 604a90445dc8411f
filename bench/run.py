#!/usr/bin/env python3
"""webserv benchmark: webserv against nginx and lighttpd, in one run.

Builds a release webserv, prepares a document root, starts the three servers by
hand on loopback ports (each pinned to CPU 0, one process, no access log), runs
every workload in alternating rounds with wrk pinned to CPU 1, and prints one
table. The main figure is server CPU time per request, from utime+stime (and
cutime+cstime, for CGI children) in /proc/PID/stat, because one wrk thread
saturates before a fast server does.

Usage: python3 bench/run.py [--rounds N] [--duration S] [--only W,W] [--servers S,S]
See bench/README.md.
"""
import argparse
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
HZ = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "0"
CLIENT_CPU = "1"
MAX_FDS = 20000          # the hard RLIMIT_NOFILE of the machine this was written on
MAX_CONNS = 12000        # per server; the idle workload holds 10,000
IDLE_CONNS = 10000
UPLOAD_BYTES = 1 << 30
CGI_BIG_BYTES = 10 << 20

# ---------------------------------------------------------------- workloads
# kind: "wrk" (throughput/latency), "idle", "upload", "cgi_slow".
# metric: the main figure; better: "low" or "high".
# target: (kind, value, peer): "abs" = the figure itself against value;
#         "rel" = webserv / peer's figure against value (peer None = best peer).
WORKLOADS = [
    dict(name="1k-ka-50", title="1 KiB keep-alive, 50 conns", kind="wrk", path="/1k.bin",
         conns=50, metric="us_per_req", better="low", target=("abs", 5.0, None)),
    dict(name="1k-ka-1000", title="1 KiB keep-alive, 1,000 conns", kind="wrk", path="/1k.bin",
         conns=1000, metric="us_per_req", better="low", target=("abs", 5.0, None)),
    dict(name="1k-close-50", title="1 KiB Connection: close, 50 conns", kind="wrk", path="/1k.bin",
         conns=50, headers=["Connection: close"], metric="rps", better="high",
         target=("rel", 1.0, "nginx")),
    dict(name="100k-ka-50", title="100 KiB keep-alive, 50 conns", kind="wrk", path="/100k.bin",
         conns=50, metric="us_per_req", better="low", target=("abs", 10.0, None)),
    dict(name="10m-ka-8", title="10 MiB keep-alive, 8 conns (GB/s)", kind="wrk", path="/10m.bin",
         conns=8, metric="gbps", better="high", target=("rel", 1.0, "lighttpd")),
    dict(name="list-1000", title="listing of 1,000 entries, 10 conns", kind="wrk", path="/dir1000/",
         conns=10, metric="us_per_req", better="low", target=("abs", 450.0, None),
         needs="autoindex"),
    dict(name="cgi-hello-10", title="CGI python3 hello, 10 conns", kind="wrk",
         path="/cgi-bin/hello.py", conns=10, metric="rps", better="high",
         target=("rel", 1.05, "lighttpd"), needs="cgi"),
    dict(name="idle-10k", title="10,000 idle keep-alive conns (bytes each)", kind="idle",
         metric="bytes_per_conn", better="low", target=("abs", 512.0, None)),
    dict(name="upload-1g", title="PUT 1 GiB upload (peak RSS MiB)", kind="upload",
         metric="peak_rss_mb", better="low", target=None, needs="upload"),
    dict(name="cgi-10m-slow", title="CGI 10 MiB output, slow reader (peak RSS MiB)",
         kind="cgi_slow", metric="peak_rss_mb", better="low", target=None, needs="cgi"),
    # HTTPS (issue 15): the same certificate, key type and protocol for webserv and nginx.
    # New connections are full TLS 1.3 handshakes (wrk keeps no session).
    dict(name="tls-new-ec", title="TLS 1.3 new conns/s, ECDSA P-256, 50 conns", kind="wrk", path="/1k.bin",
         conns=50, headers=["Connection: close"], tls="ec", metric="rps", better="high",
         target=("rel", 1.0, "nginx"), needs="tls"),
    dict(name="tls-new-rsa", title="TLS 1.3 new conns/s, RSA 2048, 50 conns", kind="wrk", path="/1k.bin",
         conns=50, headers=["Connection: close"], tls="rsa", metric="rps", better="high",
         target=("rel", 1.0, "nginx"), needs="tls"),
    dict(name="tls-1k-ka-50", title="TLS 1 KiB keep-alive, 50 conns", kind="wrk", path="/1k.bin",
         conns=50, tls="ec", metric="us_per_req", better="low", target=("rel", 1.0, "nginx"), needs="tls"),
    dict(name="tls-10m-ka-8", title="TLS 10 MiB keep-alive, 8 conns (GB/s)", kind="wrk", path="/10m.bin",
         conns=8, tls="ec", metric="gbps", better="high", target=("rel", 1.0, "nginx"), needs="tls"),
    dict(name="tls-idle-10k", title="TLS 10,000 idle keep-alive conns (bytes each)", kind="idle", tls="ec",
         metric="bytes_per_conn", better="low", target=("rel", 1.0, "nginx"), needs="tls"),
]
MEMORY_KINDS = ("idle", "upload", "cgi_slow")

METRIC_UNITS = {"us_per_req": "µs/req", "rps": "req/s", "gbps": "GB/s",
                "bytes_per_conn": "B/conn", "peak_rss_mb": "MiB"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


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


# ---------------------------------------------------------------- build
def build(builddir):
    """Release build of webserv and of every module that builds; returns
    {module: reason} for the modules that are missing."""
    log("== building release webserv in %s" % os.path.relpath(builddir, TOP))
    subprocess.run(["cmake", "-S", TOP, "-B", builddir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DWEBSERV_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    jobs = str(os.cpu_count() or 2)
    r = subprocess.run(["cmake", "--build", builddir, "-j", jobs, "--target", "webserv"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit("bench: webserv does not build:\n" + r.stdout[-3000:])
    missing = {}
    for name in ("static", "autoindex", "upload", "cgi"):
        so = os.path.join(builddir, "modules", "mod_%s.so" % name)
        if not os.path.isdir(os.path.join(TOP, "modules", name)):
            missing[name] = "modules/%s does not exist" % name
            continue
        r = subprocess.run(["cmake", "--build", builddir, "-j", jobs, "--target", "mod_" + name],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            missing[name] = "mod_%s does not build" % name
            if os.path.exists(so):
                os.unlink(so)  # never bench a stale build
        elif not os.path.exists(so):
            missing[name] = "mod_%s.so not produced" % name
    return missing


# ---------------------------------------------------------------- document root
def prepare_docroot(root):
    rnd = random.Random(1)
    os.makedirs(root)
    for name, size in (("1k.bin", 1024), ("100k.bin", 100 * 1024), ("10m.bin", 10 << 20)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(rnd.randbytes(size))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>bench</title><p>webserv bench</p>\n")
    d = os.path.join(root, "dir1000")
    os.makedirs(d)
    for i in range(1000):
        with open(os.path.join(d, "file-%04d.txt" % i), "w") as f:
            f.write("x" * (i % 200))
    os.makedirs(os.path.join(root, "uploads"))
    cgi = os.path.join(root, "cgi-bin")
    os.makedirs(cgi)
    scripts = {
        "hello.py": 'import sys\nsys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nHello, world!\\n")\n',
        "big.py": ('import sys\nout = sys.stdout.buffer\nout.write(b"Content-Type: application/octet-stream\\r\\n\\r\\n")\n'
                   'block = b"z" * 65536\nfor _ in range(%d):\n    out.write(block)\nout.flush()\n'
                   % (CGI_BIG_BYTES // 65536)),
    }
    for name, text in scripts.items():
        p = os.path.join(cgi, name)
        with open(p, "w") as f:
            f.write("#!/usr/bin/python3\n" + text)
        os.chmod(p, 0o755)


def make_certs(work):
    """Self-signed ECDSA P-256 and RSA 2048 certificates (ec.crt/key, rsa.crt/key) for the TLS
    workloads, made here for this run; both servers get the same files."""
    for name, newkey in (("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                         ("rsa", ["-newkey", "rsa:2048"])):
        subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-days", "30", "-subj", "/CN=localhost",
                        "-keyout", os.path.join(work, name + ".key"), "-out", os.path.join(work, name + ".crt")],
                       check=True, capture_output=True)


def tls_port(port, kind):
    """The TLS ports of a server whose plain port is port."""
    return port + (10 if kind == "ec" else 20)


def fill(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        sys.exit("bench: %s: unfilled %s" % (template, ", ".join(sorted(set(left)))))
    return text


# ---------------------------------------------------------------- servers
class Server:
    def __init__(self, name, port, work):
        self.name, self.port, self.work = name, port, work
        self.proc = None
        self.cmd = None
        self.unsupported = {}  # workload "needs" -> reason
        self.logfile = os.path.join(work, name + ".out")

    def start(self):
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + self.cmd, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.work)
        out.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at startup (status %s); see %s"
                                   % (self.name, self.proc.returncode, self.logfile))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("%s does not listen on %d" % (self.name, self.port))

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self):
        self.stop()
        time.sleep(0.2)
        self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return server_pids(self.proc.pid) if self.alive() else []


def make_webserv(work, docroot, builddir, port, missing):
    s = Server("webserv", port, work)
    moddir = os.path.join(builddir, "modules")
    wanted = ["static", "autoindex", "upload", "cgi"]
    for m, why in missing.items():
        s.unsupported[m] = why
    mods = [m for m in wanted if m not in missing]
    while True:
        text = fill("webserv.json.in", dict(MODDIR=moddir, WORK=work, PORT=port, DOCROOT=docroot,
                                            MAXCONNS=MAX_CONNS))
        conf = json.loads(text)
        conf["modules"] = mods
        if os.path.exists(os.path.join(work, "ec.crt")):
            plain = conf["servers"][0]
            for kind in ("ec", "rsa"):
                srv = json.loads(json.dumps(plain))
                srv["listen"] = [{"address": "127.0.0.1:%d" % tls_port(port, kind), "tls": True}]
                srv["tls"] = {"certificate": os.path.join(work, kind + ".crt"),
                              "key": os.path.join(work, kind + ".key")}
                conf["servers"].append(srv)
        for srv in conf["servers"]:
            for loc in srv["locations"]:
                for m in wanted:
                    if m not in mods:
                        loc.pop(m, None)
        path = os.path.join(work, "webserv.json")
        with open(path, "w") as f:
            json.dump(conf, f, indent=2)
        r = subprocess.run([os.path.join(builddir, "webserv"), "-t", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            break
        # A module that is built but refused (or refuses its config): drop it, say why.
        bad = [m for m in mods if m != "static" and m in r.stdout]
        if not bad:
            raise RuntimeError("webserv -t fails: " + r.stdout.strip()[-500:])
        mods.remove(bad[0])
        s.unsupported[bad[0]] = "webserv -t: " + r.stdout.strip().splitlines()[-1][:120]
    s.cmd = [os.path.join(builddir, "webserv"), path]
    return s


def make_nginx(work, docroot, port):
    s = Server("nginx", port, work)
    for d in ("nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        tls = ""
        for kind in ("ec", "rsa"):
            tls += ("    server {\n        listen 127.0.0.1:%d ssl backlog=4096;\n        root %s;\n"
                    "        ssl_certificate %s/%s.crt;\n        ssl_certificate_key %s/%s.key;\n"
                    "        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:SSL_%s:10m;\n"
                    "    }\n" % (tls_port(port, kind), docroot, work, kind, work, kind, kind))
        f.write(fill("nginx.conf.in", dict(WORK=work, PORT=port, DOCROOT=docroot,
                                           MAXFDS=MAX_FDS, MAXCONNS=MAX_CONNS, TLS_SERVERS=tls)))
    s.cmd = ["nginx", "-p", work, "-e", os.path.join(work, "nginx-error.log"), "-c", path]
    s.unsupported["cgi"] = "nginx has no CGI"
    return s


def make_lighttpd(work, docroot, port):
    s = Server("lighttpd", port, work)
    os.makedirs(os.path.join(work, "lighttpd-upload"), exist_ok=True)
    mods = ['"mod_dirlisting"', '"mod_cgi"']
    webdav = ""
    if os.path.exists("/usr/lib/lighttpd/mod_webdav.so"):
        mods.append('"mod_webdav"')
        webdav = '$HTTP["url"] =~ "^/uploads/" {\n    webdav.activate = "enable"\n}'
    else:
        s.unsupported["upload"] = "lighttpd-mod-webdav is not installed"
    path = os.path.join(work, "lighttpd.conf")
    with open(path, "w") as f:
        f.write(fill("lighttpd.conf.in", dict(WORK=work, PORT=port, DOCROOT=docroot,
                                              MAXFDS=MAX_FDS, MAXCONNS=MAX_CONNS,
                                              MODULES=", ".join(mods), WEBDAV_BLOCK=webdav)))
    s.cmd = ["lighttpd", "-D", "-f", path]
    s.unsupported["tls"] = "the TLS workloads compare webserv with nginx only"
    return s


# ---------------------------------------------------------------- checks
def http_get(port, path, headers=None, timeout=10, tls=False):
    if tls:
        import ssl
        ctx = ssl._create_unverified_context()
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def check(server, wl, docroot):
    """None when the server answers this workload right, else the reason it is skipped."""
    need = wl.get("needs")
    if need and need in server.unsupported:
        return server.unsupported[need]
    if wl["kind"] == "upload":
        return None
    path = wl.get("path", "/1k.bin")
    if wl["kind"] == "cgi_slow":
        path = "/cgi-bin/hello.py"
    try:
        if wl.get("tls"):
            status, body = http_get(tls_port(server.port, wl["tls"]), path, tls=True)
        else:
            status, body = http_get(server.port, path)
    except (OSError, http.client.HTTPException) as e:
        return "GET %s: %s" % (path, e)
    if status != 200:
        return "GET %s answers %d" % (path, status)
    if path.endswith(".bin"):
        with open(os.path.join(docroot, path.lstrip("/")), "rb") as f:
            if body != f.read():
                return "GET %s: wrong body" % path
    elif path == "/dir1000/":
        if body.count(b"file-0") < 1000:
            return "GET %s: listing lacks the 1,000 names" % path
    elif path.startswith("/cgi-bin/"):
        if body != b"Hello, world!\n":
            return "GET %s: not the script's output (%r)" % (path, body[:40])
    return None


# ---------------------------------------------------------------- workload runners
def run_wrk(server, wl, duration):
    pids = server.pids()
    reset_peak(pids)
    t0, u0 = cpu_ticks(pids), user_ticks(pids)
    b0 = cpu_user(SERVER_CPU)
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c", str(wl["conns"]), "-d", "%ds" % duration,
           "--timeout", "10s", "-s", os.path.join(HERE, "report.lua")]
    for h in wl.get("headers", []):
        cmd += ["-H", h]
    if wl.get("tls"):
        cmd.append("https://127.0.0.1:%d%s" % (tls_port(server.port, wl["tls"]), wl["path"]))
    else:
        cmd.append("http://127.0.0.1:%d%s" % (server.port, wl["path"]))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=duration + 40)
    pids2 = server.pids() or pids
    t1, u1 = cpu_ticks(pids2), user_ticks(pids2)
    b1 = cpu_user(SERVER_CPU)
    peak = status_kb(pids2, "VmHWM")
    m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
    if not m:
        raise RuntimeError("wrk output not understood: " + r.stdout[-300:])
    w = json.loads(m.group(1))
    n = max(w["requests"], 1)
    secs = w["duration_us"] / 1e6
    errors = sum(w[k] for k in w if k.startswith("err_"))
    return dict(rps=w["requests"] / secs, us_per_req=(t1 - t0) / HZ * 1e6 / n,
                gbps=w["bytes"] / secs / 1e9, p50_ms=w["p50_us"] / 1000, p99_ms=w["p99_us"] / 1000,
                errors=errors, peak_rss_mb=peak / 1024, requests=w["requests"],
                noise_pct=others_pct(b0, b1, u1 - u0))


def run_idle(server, wl, duration):
    server.restart()  # a fresh process, so the growth is the connections' alone
    http_get(server.port, "/1k.bin")
    time.sleep(0.3)
    pids = server.pids()
    before = status_kb(pids, "VmRSS")
    tls = ["--tls", "--timeout", "120"] if wl.get("tls") else []
    port = tls_port(server.port, wl["tls"]) if wl.get("tls") else server.port
    p = subprocess.Popen(["taskset", "-c", CLIENT_CPU, sys.executable,
                          os.path.join(HERE, "hold_conns.py"), str(port), "-n", str(IDLE_CONNS),
                          "--hold", "60", *tls],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 180 if tls else 60)
        line = p.stdout.readline() if ready else ""
        m = re.match(r"READY ok=(\d+) failed=(\d+)", line)
        if not m:
            raise RuntimeError("hold_conns.py: no READY line")
        ok, failed = int(m.group(1)), int(m.group(2))
        time.sleep(0.5)
        after = status_kb(server.pids(), "VmRSS")
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return dict(bytes_per_conn=(after - before) * 1024 / max(ok, 1), errors=failed,
                peak_rss_mb=after / 1024)


def run_upload(server, wl, duration):
    pids = server.pids()
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
    pids2 = server.pids() or pids
    peak = status_kb(pids2, "VmHWM")
    t1 = cpu_ticks(pids2)
    return dict(peak_rss_mb=peak / 1024, growth_mb=(peak - base) / 1024,
                errors=0 if status in (200, 201, 204) else 1,
                status=status, mbps=UPLOAD_BYTES / secs / 1e6, cpu_s=(t1 - t0) / HZ)


def run_cgi_slow(server, wl, duration):
    pids = server.pids()
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
            peak = max(peak, status_kb(server.pids(), "VmHWM"))
        time.sleep(0.002)
    s.close()
    secs = time.monotonic() - start
    peak = max(peak, status_kb(server.pids() or pids, "VmHWM"))
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


RUNNERS = {"wrk": run_wrk, "idle": run_idle, "upload": run_upload, "cgi_slow": run_cgi_slow}


# ---------------------------------------------------------------- report
def med_spread(values):
    """Median and half the min-max range as a percentage of the median."""
    if not values:
        return None, None
    med = statistics.median(values)
    spread = (max(values) - min(values)) / 2 / med * 100 if med else 0.0
    return med, spread


def fmt_num(v):
    if v is None:
        return "-"
    if v >= 1000:
        return "{:,.0f}".format(v)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_ms(v):
    return "-" if v is None else ("%.2f" % v if v < 10 else "%.1f" % v)


def verdict(wl, figures):
    """webserv's ratio to the best peer and the target's verdict."""
    ws = figures.get("webserv")
    peers = {k: v for k, v in figures.items() if k != "webserv" and v is not None}
    ratio = ""
    if ws is not None and peers:
        best = min(peers.values()) if wl["better"] == "low" else max(peers.values())
        if best:
            ratio = "%.2fx %s" % (ws / best, "(lower is better)" if wl["better"] == "low" else "")
    target = wl.get("target")
    if not target or ws is None:
        return ratio.strip(), ""
    kind, value, peer = target
    if kind == "abs":
        ok = ws <= value if wl["better"] == "low" else ws >= value
        text = "%s %s" % ("<=" if wl["better"] == "low" else ">=", fmt_num(value))
    else:
        ref = peers.get(peer)
        if ref is None:
            return ratio.strip(), "%sx %s: n/a" % (value, peer)
        ok = ws / ref >= value if wl["better"] == "high" else ws / ref <= value
        text = ">= %.2fx %s" % (value, peer)
    return ratio.strip(), "%s %s" % (text, "PASS" if ok else "FAIL")


def report(results, skipped, servers, rounds_done, elapsed):
    lines = []
    hdr = ("workload", "server", "main figure (median ±spread)", "req/s", "µs/req", "p50 ms",
           "p99 ms", "errors", "RSS MiB", "noise", "vs best peer", "target")
    rows = []
    for wl in WORKLOADS:
        figures = {}
        wrows = []
        for s in servers:
            key = (wl["name"], s.name)
            if key in skipped:
                wrows.append([wl["name"], s.name, "n/a: " + skipped[key]] + [""] * 9)
                continue
            runs = results.get(key, [])
            if not runs:
                continue
            col = lambda k: [r[k] for r in runs if r.get(k) is not None]
            med, spread = med_spread(col(wl["metric"]))
            figures[s.name] = med
            main = "%s %s ±%.1f%%" % (fmt_num(med), METRIC_UNITS[wl["metric"]], spread)
            if col("growth_mb"):
                main += " (+%s)" % fmt_num(med_spread(col("growth_mb"))[0])
            rps = med_spread(col("rps"))[0] if wl["kind"] == "wrk" else None
            us = med_spread(col("us_per_req"))[0] if wl["kind"] == "wrk" else None
            p50 = med_spread(col("p50_ms"))[0] if wl["kind"] == "wrk" else None
            p99 = med_spread(col("p99_ms"))[0] if wl["kind"] == "wrk" else None
            rss = med_spread(col("peak_rss_mb"))[0]
            errs = sum(col("errors"))
            if wl["kind"] == "wrk":
                rps_sp = med_spread(col("rps"))[1]
                us_sp = med_spread(col("us_per_req"))[1]
                rps_t = "%s ±%.0f%%" % (fmt_num(rps), rps_sp)
                us_t = "%s ±%.0f%%" % (fmt_num(us), us_sp)
            else:
                rps_t = us_t = "-"
            noise = col("noise_pct")
            noise_t = "%.0f%%" % max(noise) if noise else "-"
            wrows.append([wl["name"], s.name, main, rps_t, us_t, fmt_ms(p50), fmt_ms(p99),
                          str(errs), fmt_num(rss), noise_t, "", ""])
        ratio, target = verdict(wl, figures)
        for r in wrows:
            if r[1] == "webserv" and not r[2].startswith("n/a"):
                r[10], r[11] = ratio, target
        rows += wrows
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    lines.append(fmt % hdr)
    lines.append("  ".join("-" * w for w in widths))
    last = None
    for r in rows:
        if last and r[0] != last:
            lines.append("")
        last = r[0]
        lines.append((fmt % tuple(r)).rstrip())
    lines.append("")
    lines.append("%d round(s), %.0f s in all. Server on CPU %s, client on CPU %s; µs/req = server "
                 "(utime+stime+cutime+cstime) / requests; RSS = peak VmHWM during the run "
                 "(idle-10k: RSS while holding; upload, slow CGI: (+growth over the RSS before)); "
                 "noise = the most user time other\nprocesses took on CPU %s in any round, in %% "
                 "(high noise: distrust the figures)." % (rounds_done, elapsed, SERVER_CPU, CLIENT_CPU, SERVER_CPU))
    for wl in WORKLOADS:
        lines.append("  %-13s %s" % (wl["name"], wl["title"]))
    return "\n".join(lines)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description="webserv vs nginx vs lighttpd")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--memory-rounds", type=int, default=3,
                    help="rounds that also run the idle/upload/slow-CGI workloads (default 3)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--budget", type=int, default=840, help="no new round after this many seconds")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--servers", default="webserv,nginx,lighttpd")
    ap.add_argument("--build-dir", default=os.path.join(TOP, "build-bench"))
    ap.add_argument("--no-build", action="store_true", help="use the binary already in --build-dir")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", help="also write every raw result to this file")
    ap.add_argument("--port-base", type=int, default=18080)
    ap.add_argument("--prepare", metavar="DIR",
                    help="only build and write the document root and webserv.json into DIR "
                         "(for bench/profile.sh), then exit")
    a = ap.parse_args()

    if os.cpu_count() and os.cpu_count() < 2:
        sys.exit("bench: needs 2 CPUs (server on CPU 0, client on CPU 1)")
    os.sched_setaffinity(0, {int(CLIENT_CPU)})  # the driver's own clients run beside wrk
    for tool in ("wrk", "nginx", "lighttpd", "taskset"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("bench: %s is missing (make bench installs it)" % tool)
    os.environ["PATH"] += ":/usr/sbin:/sbin"

    t_start = time.monotonic()
    builddir = os.path.abspath(a.build_dir)
    if a.no_build:
        missing = {m: "mod_%s.so not built" % m for m in ("static", "autoindex", "upload", "cgi")
                   if not os.path.exists(os.path.join(builddir, "modules", "mod_%s.so" % m))}
    else:
        missing = build(builddir)
    for m, why in missing.items():
        log("   webserv: %s" % why)

    if a.prepare:
        work = os.path.abspath(a.prepare)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        docroot = os.path.join(work, "www")
        prepare_docroot(docroot)
        s = make_webserv(work, docroot, builddir, a.port_base, missing)
        print(os.path.join(work, "webserv.json"))
        return 0
    work = tempfile.mkdtemp(prefix="webserv-bench-")
    docroot = os.path.join(work, "www")
    log("== document root in %s" % docroot)
    prepare_docroot(docroot)
    make_certs(work)

    makers = {"webserv": lambda p: make_webserv(work, docroot, builddir, p, missing),
              "nginx": lambda p: make_nginx(work, docroot, p),
              "lighttpd": lambda p: make_lighttpd(work, docroot, p)}
    names = [n for n in a.servers.split(",") if n]
    servers = [makers[n](a.port_base + i) for i, n in enumerate(names)]
    workloads = [w for w in WORKLOADS if not a.only or w["name"] in a.only.split(",")]

    results, skipped = {}, {}
    rounds_done = 0
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        for s in servers:
            log("== starting %s on 127.0.0.1:%d" % (s.name, s.port))
            s.start()
        for wl in workloads:
            for s in servers:
                why = check(s, wl, docroot)
                if why:
                    skipped[(wl["name"], s.name)] = why
                    log("   %s %s: n/a (%s)" % (wl["name"], s.name, why))
        round_secs = None
        for rnd in range(a.rounds):
            elapsed = time.monotonic() - t_start
            if stop["now"] or (round_secs and elapsed + round_secs > a.budget):
                log("== stopping after %d round(s): time budget" % rnd)
                break
            r0 = time.monotonic()
            # Alternate: the server order rotates every round.
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for wl in workloads:
                if wl["kind"] in MEMORY_KINDS and rnd >= a.memory_rounds:
                    continue
                for s in order:
                    key = (wl["name"], s.name)
                    if key in skipped or stop["now"]:
                        continue
                    if not s.alive():
                        log("   %s died; restarting" % s.name)
                        s.start()
                    if rnd == 0 and wl["kind"] == "wrk":
                        run_wrk(s, wl, 1)  # warm-up, not counted
                    try:
                        res = RUNNERS[wl["kind"]](s, wl, a.duration)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        res = None
                        log("   %s %s: failed: %s" % (wl["name"], s.name, e))
                    if not s.alive():
                        skipped[key] = "server died during the run (see %s)" % s.logfile
                        log("   %s %s: server died" % key)
                        s.start()
                        continue
                    if res is None:
                        continue
                    results.setdefault(key, []).append(res)
                    log("   round %d %-13s %-8s %s" % (rnd + 1, wl["name"], s.name,
                        "  ".join("%s=%s" % (k, fmt_num(v) if isinstance(v, float) else v)
                                  for k, v in res.items())))
                    if wl["kind"] == "upload":
                        for f in ("big.bin",):
                            try:
                                os.unlink(os.path.join(docroot, "uploads", f))
                            except OSError:
                                pass
                    time.sleep(0.3)
            rounds_done += 1
            round_secs = time.monotonic() - r0
    finally:
        for s in servers:
            s.stop()
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"%s/%s" % k: v for k, v in results.items()}, f, indent=1)
        if a.keep:
            log("== work folder kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results, skipped, servers, rounds_done, time.monotonic() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The servers of the benchmark and the processes beside them (used by bench/run.py).

Servers (each started by hand from a config written into the run's folder, never as a service):
  webserv          the release build, one worker, pinned to CPU 0            port P
  nginx            one process (no master), pinned to CPU 0                   port P+1
  lighttpd         one process, pinned to CPU 0                               port P+2
  webserv@REV      a release build of an older revision (--baseline-rev), static only   P+3
  webserv+metrics  webserv's config plus the metrics module and a /metrics location      P+4
  webserv-w2       webserv's config with "workers": 2, unpinned                P+5
  nginx-w2         nginx with a master and 2 workers, unpinned                  P+6
TLS ports of webserv and nginx: P+10 (ECDSA), P+20 (RSA), P+30 (ECDSA, h2 and http/1.1 by ALPN);
P+40: cleartext h2 with prior knowledge (webserv: h2c beside http/1.1; nginx: h2 only).
Helpers (on the client's CPU, so that the server's CPU is its own): P+50 floor_responder (the
keep-alive 1 KiB upstream), P+51 big_upstream.py (1 GiB answers), a php-fpm pool on a Unix socket.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
SERVER_CPU = "0"
CLIENT_CPU = "1"
BOTH_CPUS = "0,1"
MAX_FDS = 20000          # the hard RLIMIT_NOFILE of the machine this was written on
MAX_CONNS = 12000        # per server; the idle workload holds 10,000
# compress first: its precompressed part is a handler that must be asked before static.
WEBSERV_MODULES = ("compress", "proxy", "fastcgi", "static", "autoindex", "upload", "cgi", "headers",
                   "auth_basic", "metrics")
# The commit before issue 13's work (phases, ABI 1.2 hooks and filters) landed: "before this
# issue" for the 1 KiB and 100 KiB rows. It has module state (ABI 1.2 zones) but no phases, no
# filters, no metrics counting, no upstreams, no HTTP/2.
DEFAULT_BASELINE_REV = "9202172"

PORT_OFFSETS = {"webserv": 0, "nginx": 1, "lighttpd": 2, "webserv@rev": 3, "webserv+metrics": 4,
                "webserv-w2": 5, "nginx-w2": 6}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tls_port(port, kind):
    """The TLS ports of a server whose plain port is port."""
    return port + {"ec": 10, "rsa": 20, "h2": 30}[kind]


def h2c_port(port):
    return port + 40


def fill(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_0-9]+@", text)
    if left:
        sys.exit("bench: %s: unfilled %s" % (template, ", ".join(sorted(set(left)))))
    return text


def wait_port(port, proc, name, logfile, secs=10):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited at startup (status %s); see %s" % (name, proc.returncode, logfile))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s does not listen on %d" % (name, port))


# ---------------------------------------------------------------- build
def build(builddir, src=TOP, modules=WEBSERV_MODULES):
    """Release build of webserv and of every module that builds; returns
    {module: reason} for the modules that are missing."""
    log("== building release webserv in %s" % builddir)
    subprocess.run(["cmake", "-S", src, "-B", builddir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DWEBSERV_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    jobs = str(os.cpu_count() or 2)
    r = subprocess.run(["cmake", "--build", builddir, "-j", jobs, "--target", "webserv"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit("bench: webserv does not build:\n" + r.stdout[-3000:])
    missing = {}
    for name in modules:
        so = os.path.join(builddir, "modules", "mod_%s.so" % name)
        if not os.path.isdir(os.path.join(src, "modules", name)):
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


def build_baseline(rev, root):
    """A release webserv of an older revision, from `git archive` of it into
    build-bench-rev/<commit>/src, built in .../build (kept: the next run reuses it).
    Returns (builddir, short name) or raises RuntimeError."""
    r = subprocess.run(["git", "-C", TOP, "rev-parse", "--verify", rev + "^{commit}"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("--baseline-rev %s: not a commit here" % rev)
    sha = r.stdout.strip()
    base = os.path.join(root, sha)
    builddir = os.path.join(base, "build")
    short = sha[:7]
    if os.path.exists(os.path.join(builddir, "webserv")) and \
            os.path.exists(os.path.join(builddir, "modules", "mod_static.so")):
        return builddir, short
    src = os.path.join(base, "src")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    log("== building webserv@%s (git archive into %s)" % (short, os.path.relpath(base, TOP)))
    git = subprocess.Popen(["git", "-C", TOP, "archive", sha], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", src], stdin=git.stdout, check=True)
    if git.wait() != 0:
        raise RuntimeError("git archive %s failed" % short)
    missing = build(builddir, src=src, modules=("static",))
    if "static" in missing:
        raise RuntimeError("webserv@%s: %s" % (short, missing["static"]))
    return builddir, short


# ---------------------------------------------------------------- servers
class Server:
    def __init__(self, key, name, port, work, cpus=SERVER_CPU):
        self.key, self.name, self.port, self.work, self.cpus = key, name, port, work, cpus
        self.proc = None
        self.cmd = None
        self.unsupported = {}  # workload "needs" -> reason
        self.logfile = os.path.join(work, key.replace("@", "-at-").replace("+", "-") + ".out")

    def start(self):
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(["taskset", "-c", self.cpus] + self.cmd, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.work)
        out.close()
        wait_port(self.port, self.proc, self.key, self.logfile)

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


def webserv_config(work, docroot, builddir, port, mods, ports):
    """webserv's config as a dict: the template's three locations plus the issue rows'."""
    text = fill("webserv.json.in", dict(MODDIR=os.path.join(builddir, "modules"), WORK=work,
                                        PORT=port, DOCROOT=docroot, MAXCONNS=MAX_CONNS))
    conf = json.loads(text)
    conf["modules"] = list(mods)
    conf["upstreams"] = {
        "floor": {"servers": [{"address": "127.0.0.1:%d" % ports["floor"]}], "keepalive": 64},
        "big": {"servers": [{"address": "127.0.0.1:%d" % ports["big"]}], "keepalive": 4},
        "php": {"servers": [{"address": "unix:" + os.path.join(work, "php.sock")}], "keepalive": 8},
    }
    plain = conf["servers"][0]
    plain["locations"] += [
        {"path": "/hdr", "static": {}, "headers": {"set": {"X-Bench": "1"}}},
        {"path": "/auth", "static": {},
         "auth_basic": {"realm": "bench", "user_file": os.path.join(work, "bench.htpasswd")}},
        {"path": "/gz1", "static": {},
         "compress": {"codings": ["gzip"], "gzip_level": 1, "types": ["text/html"]}},
        {"path": "/gz6", "static": {},
         "compress": {"codings": ["gzip"], "gzip_level": 6, "types": ["text/html"]}},
        {"path": "/pre", "static": {}, "compress": {"codings": ["br"], "precompressed": True}},
        {"path": "/proxy/1k", "proxy": {"upstream": "floor"}},
        {"path": "/proxy/big", "proxy": {"upstream": "big"}},
        {"path": "/php", "fastcgi": {"upstream": "php"}},
    ]
    if os.path.exists(os.path.join(work, "ec.crt")):
        extra = [("ec", [{"address": "127.0.0.1:%d" % tls_port(port, "ec"), "tls": True}]),
                 ("rsa", [{"address": "127.0.0.1:%d" % tls_port(port, "rsa"), "tls": True}]),
                 ("ec", [{"address": "127.0.0.1:%d" % tls_port(port, "h2"), "tls": True,
                          "protocols": ["h2", "http/1.1"]}]),
                 (None, [{"address": "127.0.0.1:%d" % h2c_port(port), "protocols": ["h2c", "http/1.1"]}])]
        for kind, listen in extra:
            srv = json.loads(json.dumps(plain))
            srv["listen"] = listen
            if kind:
                srv["tls"] = {"certificate": os.path.join(work, kind + ".crt"),
                              "key": os.path.join(work, kind + ".key")}
            conf["servers"].append(srv)
    for srv in conf["servers"]:
        for loc in srv["locations"]:
            for m in WEBSERV_MODULES:
                if m not in mods:
                    loc.pop(m, None)
        # a location left with no handler (its module is missing) is dropped
        srv["locations"] = [loc for loc in srv["locations"]
                            if loc["path"] == "/" or any(k in loc for k in ("static", "proxy", "fastcgi", "cgi"))]
    return conf


def webserv_check(builddir, path):
    return subprocess.run([os.path.join(builddir, "webserv"), "-t", path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def make_webserv_family(work, docroot, builddir, port_base, missing, ports):
    """webserv, webserv+metrics and webserv-w2 from one config (modules that are missing, or
    that webserv -t refuses, are left out and their workloads are n/a with the reason)."""
    unsupported = dict(missing)
    mods = [m for m in WEBSERV_MODULES if m not in missing and m != "metrics"]
    while True:
        conf = webserv_config(work, docroot, builddir, port_base, mods, ports)
        path = os.path.join(work, "webserv.json")
        with open(path, "w") as f:
            json.dump(conf, f, indent=2)
        r = webserv_check(builddir, path)
        if r.returncode == 0:
            break
        # A module that is built but refused (or refuses its config): drop it, say why.
        bad = [m for m in mods if m != "static" and m in r.stdout]
        if not bad:
            raise RuntimeError("webserv -t fails: " + r.stdout.strip()[-500:])
        mods.remove(bad[0])
        unsupported[bad[0]] = "webserv -t: " + r.stdout.strip().splitlines()[-1][:120]
    out = {}
    s = Server("webserv", "webserv", port_base, work)
    s.cmd = [os.path.join(builddir, "webserv"), path]
    s.unsupported = dict(unsupported)
    out["webserv"] = s

    # The same config on one plain address, for the variants.
    def variant(key, cpus, change):
        c = json.loads(json.dumps(conf))
        c["servers"] = [c["servers"][0]]
        port = port_base + PORT_OFFSETS[key]
        c["servers"][0]["listen"] = "127.0.0.1:%d" % port
        c["error_log"] = os.path.join(work, "%s-error.log" % key.replace("+", "-"))
        change(c)
        p = os.path.join(work, "%s.json" % key.replace("+", "-"))
        with open(p, "w") as f:
            json.dump(c, f, indent=2)
        v = Server(key, key, port, work, cpus)
        v.cmd = [os.path.join(builddir, "webserv"), p]
        v.unsupported = dict(unsupported)
        r = webserv_check(builddir, p)
        if r.returncode != 0:
            v.unsupported["*"] = "webserv -t: " + r.stdout.strip().splitlines()[-1][:120]
        return v

    def with_metrics(c):
        c["modules"].append("metrics")
        c["servers"][0]["locations"].append({"path": "/metrics", "metrics": {}, "root": None,
                                             "methods": ["GET"]})
    if "metrics" not in missing:
        out["webserv+metrics"] = variant("webserv+metrics", SERVER_CPU, with_metrics)
    else:
        s.unsupported["metrics"] = missing["metrics"]
    out["webserv-w2"] = variant("webserv-w2", BOTH_CPUS, lambda c: c.update(workers=2))
    return out


def missing_server_reason(key, missing):
    if key == "webserv+metrics" and "metrics" in missing:
        return missing["metrics"]
    return "%s was not started" % key


def make_webserv_baseline(work, docroot, builddir, short, port):
    """webserv@REV: the static module only, one location, the same limits."""
    s = Server("webserv@rev", "webserv@" + short, port, work)
    conf = {"modules": ["static"], "modules_dir": os.path.join(builddir, "modules"), "workers": 1,
            "max_connections": MAX_CONNS, "error_log": os.path.join(work, "webserv-rev-error.log"),
            "log_level": "warn", "access_log": "off",
            "timeouts": {"header": 10, "body": 30, "keepalive": 60, "send": 60, "shutdown": 1},
            "servers": [{"listen": "127.0.0.1:%d" % port, "root": docroot, "index": ["index.html"],
                         "locations": [{"path": "/", "static": {}}]}]}
    path = os.path.join(work, "webserv-rev.json")
    with open(path, "w") as f:
        json.dump(conf, f, indent=2)
    r = webserv_check(builddir, path)
    if r.returncode != 0:
        raise RuntimeError("webserv@%s -t: %s" % (short, r.stdout.strip()[-300:]))
    s.cmd = [os.path.join(builddir, "webserv"), path]
    return s


NGINX_FASTCGI_PARAMS = """fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param DOCUMENT_URI $document_uri;
            fastcgi_param DOCUMENT_ROOT $document_root;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param SERVER_SOFTWARE nginx;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param REMOTE_PORT $remote_port;
            fastcgi_param SERVER_ADDR $server_addr;
            fastcgi_param SERVER_PORT $server_port;
            fastcgi_param SERVER_NAME $server_name;"""


def nginx_has(module):
    r = subprocess.run(["nginx", "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return module in r.stdout


def make_nginx(work, docroot, port, ports):
    s = Server("nginx", "nginx", port, work)
    for d in ("nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    h2 = nginx_has("http_v2_module")
    if not h2:
        s.unsupported["h2"] = "this nginx has no http_v2_module (nginx -V)"
    tls = ""
    listens = [("ec", "%d ssl" % tls_port(port, "ec")), ("rsa", "%d ssl" % tls_port(port, "rsa"))]
    if h2:
        listens.append(("ec", "%d ssl http2" % tls_port(port, "h2")))
    for kind, listen in listens:
        tls += ("    server {\n        listen 127.0.0.1:%s backlog=4096;\n        root %s;\n"
                "        ssl_certificate %s/%s.crt;\n        ssl_certificate_key %s/%s.key;\n"
                "        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:SSL_%s:10m;\n"
                "    }\n" % (listen, docroot, work, kind, work, kind, kind))
    if h2:
        # nginx 1.22: a cleartext "http2" listen speaks HTTP/2 with prior knowledge only.
        tls += "    server {\n        listen 127.0.0.1:%d http2 backlog=4096;\n        root %s;\n    }\n" \
               % (h2c_port(port), docroot)
    upstreams = ("    upstream floor {\n        server 127.0.0.1:%d;\n        keepalive 64;\n    }\n"
                 "    upstream big {\n        server 127.0.0.1:%d;\n        keepalive 4;\n    }\n"
                 "    upstream php {\n        server unix:%s;\n        keepalive 8;\n    }\n"
                 % (ports["floor"], ports["big"], os.path.join(work, "php.sock")))
    locations = """
        # issue 14: gzip at the level webserv's compress rows use, Vary like webserv's.
        location /gz1/ {
            gzip on;
            gzip_comp_level 1;
            gzip_vary on;
        }
        location /gz6/ {
            gzip on;
            gzip_comp_level 6;
            gzip_vary on;
        }
        # issue 17: keep-alive upstreams; no temp file for the 1 GiB answer (memory buffers only,
        # like webserv's streaming proxy, and no 1 GiB written to the disk).
        location /proxy/1k {
            proxy_pass http://floor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /proxy/big {
            proxy_pass http://big;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }
        location /php/ {
            fastcgi_pass php;
            fastcgi_keep_conn on;
            %s
        }
""" % NGINX_FASTCGI_PARAMS
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(fill("nginx.conf.in", dict(WORK=work, PORT=port, DOCROOT=docroot, MAXFDS=MAX_FDS,
                                           MAXCONNS=MAX_CONNS, TLS_SERVERS=tls, UPSTREAMS=upstreams,
                                           LOCATIONS=locations)))
    s.cmd = ["nginx", "-p", work, "-e", os.path.join(work, "nginx-error.log"), "-c", path]
    s.unsupported["cgi"] = "nginx has no CGI"
    for m in ("headers", "auth_basic", "metrics"):
        s.unsupported[m] = "webserv-only row"
    return s


def make_nginx_w2(work, docroot, port):
    """nginx with a master process and 2 workers (issue 21's workers row)."""
    s = Server("nginx-w2", "nginx", port, work, BOTH_CPUS)
    d = os.path.join(work, "nginx-w2")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write("daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\npid %s/nginx.pid;\n"
                "error_log %s/error.log warn;\nworker_rlimit_nofile %d;\n"
                "events {\n    worker_connections %d;\n    use epoll;\n}\n"
                "http {\n    access_log off;\n    sendfile on;\n    keepalive_timeout 60s;\n"
                "    keepalive_requests 1000000;\n    client_body_temp_path %s;\n    proxy_temp_path %s;\n"
                "    fastcgi_temp_path %s;\n    uwsgi_temp_path %s;\n    scgi_temp_path %s;\n"
                "    default_type application/octet-stream;\n"
                "    server {\n        listen 127.0.0.1:%d backlog=4096;\n        root %s;\n    }\n}\n"
                % (d, d, MAX_FDS, MAX_CONNS, d, d, d, d, d, port, docroot))
    s.cmd = ["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c", path]
    return s


def make_lighttpd(work, docroot, port):
    s = Server("lighttpd", "lighttpd", port, work)
    os.makedirs(os.path.join(work, "lighttpd-upload"), exist_ok=True)
    mods = ['"mod_dirlisting"', '"mod_cgi"', '"mod_fastcgi"']
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
                                              MODULES=", ".join(mods), WEBDAV_BLOCK=webdav,
                                              PHPSOCK=os.path.join(work, "php.sock"))))
    s.cmd = ["lighttpd", "-D", "-f", path]
    s.unsupported["tls"] = "the TLS workloads compare webserv with nginx only"
    return s


# ---------------------------------------------------------------- helpers
class Helper:
    """A process the workloads need besides the servers, on the client's CPU."""

    def __init__(self, name, cmd, work, port=None, sock=None):
        self.name, self.cmd, self.work, self.port, self.sock = name, cmd, work, port, sock
        self.proc = None
        self.logfile = os.path.join(work, name + ".out")

    def start(self):
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(["taskset", "-c", CLIENT_CPU] + self.cmd, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.work)
        out.close()
        if self.port:
            wait_port(self.port, self.proc, self.name, self.logfile)
        else:
            deadline = time.monotonic() + 10
            while not os.path.exists(self.sock):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("%s did not start; see %s" % (self.name, self.logfile))
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def php_fpm_binary():
    for d in ("/usr/sbin", "/usr/bin"):
        try:
            names = sorted(n for n in os.listdir(d) if re.fullmatch(r"php-fpm[0-9.]*", n))
        except OSError:
            continue
        if names:
            return os.path.join(d, names[-1])
    return None


def make_helpers(work, ports):
    """{name: Helper or reason string}."""
    out = {}
    exe = os.path.join(work, "floor_responder")
    r = subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "floor_responder.c")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out["floor"] = Helper("floor", [exe, str(ports["floor"])], work, port=ports["floor"]) \
        if r.returncode == 0 else "bench/floor_responder.c does not build"
    out["big"] = Helper("big", [sys.executable, os.path.join(HERE, "big_upstream.py"), str(ports["big"])],
                        work, port=ports["big"])
    fpm = php_fpm_binary()
    if fpm:
        conf = os.path.join(work, "fpm.conf")
        sock = os.path.join(work, "php.sock")
        with open(conf, "w") as f:
            f.write("; one pool for the php-hello row, started by hand (never as a service)\n"
                    "[global]\npid = %s/fpm.pid\nerror_log = %s/fpm.log\ndaemonize = no\n"
                    "[bench]\nlisten = %s\npm = static\npm.max_children = 16\n"
                    "pm.max_requests = 0\n" % (work, work, sock))
        out["php"] = Helper("php", [fpm, "-n", "-y", conf, "-F", "-R"], work, sock=sock)
    else:
        out["php"] = "php-fpm is not installed (make bench installs it)"
    return out

"""The benchmark's workloads and the document root they read (used by bench/run.py).

A workload is one row group of the table. Its "legs" are what is measured: by default one leg per
server (webserv, nginx, lighttpd, each at the workload's path); a workload may list its legs instead
(one server at two paths, or a variant server such as webserv with 2 workers), and say which ratio
of two legs is its verdict ("ratio": (label_a, label_b): a / b).

Keys of a workload:
  name, title       --only takes names; the title is printed under the table
  kind              "wrk" (throughput/latency with wrk), "h2load" (HTTP/2 with h2load), "tls_full"
                    (full TLS handshakes with bench/tls_full.c), "idle",
                    "upload", "cgi_slow", "download" (one big GET through the server)
  path, conns, headers, tls ("ec"/"rsa"), h2 ("tls"/"h2c"), streams (h2load -m)
  servers           server keys of the default legs (default: webserv, nginx, lighttpd)
  baseline          True: webserv@REV (--baseline-rev) is a leg too
  legs              explicit legs: [{"server": key, "label": text, "path": p, "headers": [...]}]
  metric, better    the main figure ("us_per_req", "rps", ...) and whether "low" or "high" is better
  target            ("abs", value, None): the figure itself; ("rel", value, label): webserv / that
                    leg; ("ratio", value, None): the "ratio" legs' quotient
  needs             a webserv module (or "tls", "h2", "php", "brotli"): the leg is n/a without it
  helpers           processes the workload needs besides the servers: "floor" (the 1 KiB keep-alive
                    upstream), "big" (the 1 GiB upstream), "php" (a php-fpm pool)
  expect            the body every leg must answer: "file" (the docroot file at the path, the
                    default for files), or bytes
  accept            Accept-Encoding sent by the check; the answer must carry that coding
  min_duration      seconds each run of the row lasts at least, whatever --duration says: a
                    p99 needs enough responses to be more than the few slowest requests
"""
import os
import random
import shutil
import subprocess

UPLOAD_BYTES = 1 << 30
CGI_BIG_BYTES = 10 << 20
BIG_PROXY_BYTES = 1 << 30
HELLO = b"Hello, world!\n"
FLOOR_BODY = b"x" * 1024            # what bench/floor_responder.c answers
AUTH_USER, AUTH_PASSWORD = "bench", "bench-password"
AUTH_HEADER = "Authorization: Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="   # bench:bench-password
PLAIN3 = ("webserv", "nginx", "lighttpd")


def _wl(**kw):
    kw.setdefault("kind", "wrk")
    return kw


def pair(name, title, a, b, value, **kw):
    """A webserv-only row: leg a against leg b, target a / b <= value."""
    return _wl(name=name, title=title, legs=[b, a], ratio=(a["label"], b["label"]),
               metric="us_per_req", better="low", target=("ratio", value, None), **kw)


WORKLOADS = [
    _wl(name="1k-ka-50", title="1 KiB keep-alive, 50 conns", path="/1k.bin", conns=50,
        metric="us_per_req", better="low", target=("abs", 5.0, None), baseline=True, p99_target=1.1),
    _wl(name="1k-ka-1000", title="1 KiB keep-alive, 1,000 conns", path="/1k.bin", conns=1000,
        metric="us_per_req", better="low", target=("abs", 5.0, None)),
    _wl(name="1k-close-50", title="1 KiB Connection: close, 50 conns", path="/1k.bin", conns=50,
        headers=["Connection: close"], metric="rps", better="high", target=("rel", 1.0, "nginx"),
        baseline=True, p99_target=1.1),
    _wl(name="100k-ka-50", title="100 KiB keep-alive, 50 conns", path="/100k.bin", conns=50,
        metric="us_per_req", better="low", target=("abs", 10.0, None), baseline=True),
    # 15 s: ~2,400 responses a run. At 3 s (~450) the p99 was the 5th-slowest response, and the
    # same binary's p99 moved from 90 to 210 ms between runs (issue 21); the median of three such
    # runs decided the p99 verdict by chance.
    _wl(name="10m-ka-8", title="10 MiB keep-alive, 8 conns (GB/s)", path="/10m.bin", conns=8,
        metric="gbps", better="high", target=("rel", 1.0, "lighttpd"), p99_target=1.1, min_duration=15),
    _wl(name="list-1000", title="listing of 1,000 entries, 10 conns", path="/dir1000/", conns=10,
        metric="us_per_req", better="low", target=("abs", 450.0, None), needs="autoindex"),
    _wl(name="cgi-hello-10", title="CGI python3 hello, 10 conns", path="/cgi-bin/hello.py", conns=10,
        metric="rps", better="high", target=("rel", 1.0, "lighttpd"), needs="cgi", expect=HELLO),
    # issue 21: a compiled CGI, where the server's own cost per spawn dominates.
    _wl(name="cgi-c-10", title="CGI compiled C hello, 10 conns", path="/cgi-bin/hello.cgi", conns=10,
        metric="rps", better="high", target=("rel", 1.2, "lighttpd"), needs="cgi", expect=HELLO),
    # issue 21: 2 workers each; every process unpinned, wrk unpinned (all share both cores).
    _wl(name="1k-ka-50-w2", title="1 KiB keep-alive, 50 conns, 2 workers (all unpinned)",
        path="/1k.bin", conns=50, metric="rps", better="high", target=("rel", 1.0, "nginx"),
        legs=[dict(server="webserv-w2", label="webserv"), dict(server="nginx-w2", label="nginx")],
        unpinned=True),
    _wl(name="idle-10k", title="10,000 idle keep-alive conns (bytes each)", kind="idle",
        metric="bytes_per_conn", better="low", target=("abs", 512.0, None)),
    _wl(name="upload-1g", title="PUT 1 GiB upload (peak RSS MiB; worst static GET during it)",
        kind="upload", metric="peak_rss_mb", better="low", target=None, needs="upload"),
    _wl(name="cgi-10m-slow", title="CGI 10 MiB output, slow reader (peak RSS MiB)", kind="cgi_slow",
        metric="peak_rss_mb", better="low", target=None, needs="cgi"),
    # HTTPS (issue 15): the same certificate, key type and protocol for webserv and nginx.
    # wrk keeps its TLS session across reconnects (SSL_clear), so the tls-new rows are TLS 1.3
    # ticket resumptions; the tls-full rows are full handshakes (bench/tls_full.c never offers a
    # session), server CPU per connection.
    _wl(name="tls-full-ec", title="TLS 1.3 full handshakes (no resumption), ECDSA P-256, 50 conns "
        "(server µs/conn)", kind="tls_full", path="/1k.bin", conns=50, tls="ec",
        servers=("webserv", "nginx"), metric="us_per_req", better="low",
        target=("rel", 1.0, "nginx"), needs="tls"),
    _wl(name="tls-full-rsa", title="TLS 1.3 full handshakes (no resumption), RSA 2048, 50 conns "
        "(server µs/conn)", kind="tls_full", path="/1k.bin", conns=50, tls="rsa",
        servers=("webserv", "nginx"), metric="us_per_req", better="low",
        target=("rel", 1.0, "nginx"), needs="tls"),
    _wl(name="tls-new-ec", title="TLS 1.3 new conns/s (wrk resumes its session by ticket), ECDSA P-256, 50 conns", path="/1k.bin",
        conns=50, headers=["Connection: close"], tls="ec", metric="rps", better="high",
        target=("rel", 1.0, "nginx"), needs="tls"),
    _wl(name="tls-new-rsa", title="TLS 1.3 new conns/s (wrk resumes its session by ticket), RSA 2048, 50 conns", path="/1k.bin",
        conns=50, headers=["Connection: close"], tls="rsa", metric="rps", better="high",
        target=("rel", 1.0, "nginx"), needs="tls"),
    _wl(name="tls-1k-ka-50", title="TLS 1 KiB keep-alive, 50 conns", path="/1k.bin", conns=50,
        tls="ec", metric="us_per_req", better="low", target=("rel", 1.0, "nginx"), needs="tls"),
    _wl(name="tls-10m-ka-8", title="TLS 10 MiB keep-alive, 8 conns (GB/s)", path="/10m.bin", conns=8,
        tls="ec", metric="gbps", better="high", target=("rel", 1.0, "nginx"), needs="tls"),
    _wl(name="tls-idle-10k", title="TLS 10,000 idle keep-alive conns (bytes each)", kind="idle",
        tls="ec", metric="bytes_per_conn", better="low", target=("rel", 1.0, "nginx"), needs="tls"),
    # issue 13: filters and access checks against the same server's plain location.
    pair("1k-headers", "1 KiB, location with headers (one header set) vs without, 50 conns",
         dict(server="webserv", label="webserv+headers", path="/hdr/1k.bin"),
         dict(server="webserv", label="webserv", path="/1k.bin"), 1.05, conns=50, needs="headers"),
    pair("100k-headers", "100 KiB, location with headers vs without, 50 conns",
         dict(server="webserv", label="webserv+headers", path="/hdr/100k.bin"),
         dict(server="webserv", label="webserv", path="/100k.bin"), 1.05, conns=50, needs="headers"),
    pair("1k-auth", "1 KiB, auth_basic (bcrypt, cached) with the right credential vs no auth, 50 conns",
         dict(server="webserv", label="webserv+auth", path="/auth/1k.bin", headers=[AUTH_HEADER]),
         dict(server="webserv", label="webserv", path="/1k.bin", headers=[AUTH_HEADER]), 1.10,
         conns=50, needs="auth_basic"),
    # issue 18: the metrics module loaded with a /metrics location (the 1 KiB file is served elsewhere).
    pair("1k-metrics", "1 KiB, server with the metrics module vs without, 50 conns",
         dict(server="webserv+metrics", label="webserv+metrics", path="/1k.bin"),
         dict(server="webserv", label="webserv", path="/1k.bin"), 1.03, conns=50, needs="metrics"),
    # issue 14: compression on the fly, the same 100 KiB HTML page, the same level as nginx.
    _wl(name="gzip1-100k", title="100 KiB HTML, gzip level 1 (Accept-Encoding: gzip), 50 conns",
        path="/gz1/page.html", conns=50, headers=["Accept-Encoding: gzip"], accept="gzip",
        servers=("webserv", "nginx"), metric="us_per_req", better="low",
        target=("rel", 1.0, "nginx"), needs="compress"),
    _wl(name="gzip6-100k", title="100 KiB HTML, gzip level 6 (Accept-Encoding: gzip), 50 conns",
        path="/gz6/page.html", conns=50, headers=["Accept-Encoding: gzip"], accept="gzip",
        servers=("webserv", "nginx"), metric="us_per_req", better="low",
        target=("rel", 1.0, "nginx"), needs="compress"),
    pair("br-pre-100k", "100 KiB HTML: precompressed .br served vs the plain file, 50 conns",
         dict(server="webserv", label="webserv+br", path="/pre/page.html", headers=["Accept-Encoding: br"],
              accept="br"),
         dict(server="webserv", label="webserv", path="/page.html"), 1.05, conns=50,
         needs="compress"),
    # issue 16: HTTP/2 with h2load, 10 connections x 100 streams.
    _wl(name="h2-1k", title="HTTP/2 (TLS, ALPN h2) 1 KiB, 10 conns x 100 streams", kind="h2load",
        path="/1k.bin", conns=10, streams=100, h2="tls", servers=("webserv", "nginx"),
        metric="us_per_req", better="low", target=("rel", 1.0, "nginx"), needs="h2"),
    _wl(name="h2-100k", title="HTTP/2 (TLS, ALPN h2) 100 KiB, 10 conns x 10 streams", kind="h2load",
        path="/100k.bin", conns=10, streams=10, h2="tls", servers=("webserv", "nginx"),
        metric="us_per_req", better="low", target=("rel", 1.0, "nginx"), needs="h2"),
    _wl(name="h2c-1k", title="HTTP/2 cleartext (prior knowledge) 1 KiB, 10 conns x 100 streams",
        kind="h2load", path="/1k.bin", conns=10, streams=100, h2="h2c", servers=("webserv", "nginx"),
        metric="us_per_req", better="low", target=("rel", 1.0, "nginx"), needs="h2"),
    _wl(name="h2-idle-1k", title="HTTP/2 (TLS) 1,000 idle conns (bytes each)", kind="idle", h2="tls",
        idle_conns=1000, servers=("webserv", "nginx"), metric="bytes_per_conn", better="low",
        target=("rel", 1.0, "nginx"), needs="h2"),
    # issue 17: the same upstreams for both servers; the upstreams run on the client's CPU.
    _wl(name="proxy-1k", title="proxy 1 KiB from a keep-alive upstream (floor_responder), 50 conns",
        path="/proxy/1k", conns=50, servers=("webserv", "nginx"), helpers=("floor",),
        metric="us_per_req", better="low", target=("rel", 1.0, "nginx"), needs="proxy",
        expect=FLOOR_BODY),
    _wl(name="php-hello", title="PHP hello through one php-fpm pool (16 children), 10 conns",
        path="/php/hello.php", conns=10, servers=PLAIN3, helpers=("php",),
        metric="rps", better="high", target=("rel", 1.0, "nginx"), needs="fastcgi", expect=HELLO),
    _wl(name="proxy-1g", title="proxied 1 GiB download (peak RSS MiB)", kind="download",
        path="/proxy/big", servers=("webserv", "nginx"), helpers=("big",), metric="peak_rss_mb",
        better="low", target=("rel", 1.0, "nginx"), needs="proxy"),
]
MEMORY_KINDS = ("idle", "upload", "cgi_slow", "download")

METRIC_UNITS = {"us_per_req": "µs/req", "rps": "req/s", "gbps": "GB/s",
                "bytes_per_conn": "B/conn", "peak_rss_mb": "MiB"}


def legs(wl, baseline_label):
    """The legs of a workload: its own list, or one per server in "servers" (and webserv@REV
    for the workloads that compare with the baseline build, when there is one)."""
    if "legs" in wl:
        out = [dict(leg) for leg in wl["legs"]]
    else:
        out = [dict(server=s, label=s) for s in wl.get("servers", PLAIN3)]
        if wl.get("baseline") and baseline_label:
            out.append(dict(server="webserv@rev", label=baseline_label))
    for leg in out:
        leg.setdefault("path", wl.get("path"))
        leg.setdefault("headers", wl.get("headers", []))
        leg.setdefault("accept", wl.get("accept"))
    return out


# ---------------------------------------------------------------- document root
WORDS = ("server module request response header body connection worker event loop file cache "
         "listen socket buffer stream chunk proxy upstream config location static index gzip "
         "brotli latency throughput kernel memory").split()


def html_page(size, rnd):
    """A 100 KiB HTML page that compresses like a real one (about 4-5x with gzip)."""
    parts = ["<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>bench page</title>"
             "<link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body>\n"]
    n = sum(len(p) for p in parts)
    i = 0
    while n < size - 200:
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 30)))
        line = ('<div class="item item-%d"><h2 id="s%d">%s</h2><p>%s %d.</p>'
                '<a href="/docs/%s.html">more</a></div>\n'
                % (i % 7, i, words.split()[0].title(), words, rnd.randint(0, 99999), words.split()[-1]))
        parts.append(line)
        n += len(line)
        i += 1
    parts.append("</body></html>\n")
    text = "".join(parts).encode()
    return (text + b" " * size)[:size - 16] + b"\n</body></html>\n"


def prepare_docroot(root, work):
    """Files every server serves from the same root. Returns {need: reason} for the parts
    that could not be made (a C compiler, brotli)."""
    rnd = random.Random(1)
    missing = {}
    os.makedirs(root)
    for name, size in (("1k.bin", 1024), ("100k.bin", 100 * 1024), ("10m.bin", 10 << 20)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(rnd.randbytes(size))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>bench</title><p>webserv bench</p>\n")
    page = html_page(100 * 1024, rnd)
    # The same files under the locations with filters (headers, auth) and compression.
    for sub, names in (("hdr", ("1k.bin", "100k.bin")), ("auth", ("1k.bin",))):
        os.makedirs(os.path.join(root, sub))
        for n in names:
            shutil.copyfile(os.path.join(root, n), os.path.join(root, sub, n))
    for sub in ("", "gz1", "gz6", "pre"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        with open(os.path.join(root, sub, "page.html"), "wb") as f:
            f.write(page)
    br = os.path.join(root, "pre", "page.html.br")
    if shutil.which("brotli"):
        subprocess.run(["brotli", "-q", "11", "-f", "-o", br, os.path.join(root, "pre", "page.html")],
                       check=True)
    else:
        missing["brotli"] = "the brotli program is missing (make bench installs it)"
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
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["cc", "-O2", "-o", os.path.join(cgi, "hello.cgi"), os.path.join(here, "cgi_hello.c")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        missing["cgi_c"] = "bench/cgi_hello.c does not build: " + r.stdout[-200:]
    php = os.path.join(root, "php")
    os.makedirs(php)
    with open(os.path.join(php, "hello.php"), "w") as f:
        f.write('<?php\nheader("Content-Type: text/plain");\necho "Hello, world!\\n";\n')
    # auth_basic's user file: one bcrypt line (cost 10), made by Debian's python3 (libxcrypt).
    r = subprocess.run(["/usr/bin/python3", "-W", "ignore", "-c",
                        "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))",
                        AUTH_PASSWORD], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode == 0 and r.stdout.startswith("$2"):
        with open(os.path.join(work, "bench.htpasswd"), "w") as f:
            f.write("%s:%s\n" % (AUTH_USER, r.stdout.strip()))
    else:
        missing["auth_basic"] = "cannot make a bcrypt hash: " + r.stdout[-200:]
    return missing

#!/usr/bin/env python3
"""webserv benchmark: webserv against nginx and lighttpd, in one run.

Builds a release webserv (and, for the "before" rows, an older revision), prepares a document
root, starts the servers by hand on loopback ports (each pinned to CPU 0, one process, no access
log), runs every workload in alternating rounds with the clients pinned to CPU 1, and prints one
table. The main figure is server CPU time per request, from utime+stime (and cutime+cstime, for
CGI children) in /proc/PID/stat, because one wrk thread saturates before a fast server does.

Files: workloads.py (the rows and the document root), servers.py (configs, builds, helper
processes), runners.py (how each kind of row is measured). See bench/README.md.

Usage: python3 bench/run.py [--rounds N] [--duration S] [--only W,W] [--servers S,S]
"""
import argparse
import gzip
import http.client
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers as S  # noqa: E402
from runners import RUNNERS, TLS_FULL, DISK_LEGS, disk_write_speed, run_wrk, run_h2load, leg_url, warm_get  # noqa: E402
from workloads import WORKLOADS, MEMORY_KINDS, METRIC_UNITS, legs, prepare_docroot  # noqa: E402

HERE, TOP = S.HERE, S.TOP
log = S.log


def make_certs(work):
    """Self-signed ECDSA P-256 and RSA 2048 certificates (ec.crt/key, rsa.crt/key) for the TLS
    workloads, made here for this run; both servers get the same files."""
    for name, newkey in (("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                         ("rsa", ["-newkey", "rsa:2048"])):
        subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-days", "30", "-subj", "/CN=localhost",
                        "-keyout", os.path.join(work, name + ".key"), "-out", os.path.join(work, name + ".crt")],
                       check=True, capture_output=True)


# ---------------------------------------------------------------- checks
def fetch(server, wl, leg, timeout=10):
    """(status, content-encoding, body as sent) of one GET of the leg, as its client would ask."""
    url = leg_url(server, wl, leg)
    if wl.get("h2"):
        with tempfile.NamedTemporaryFile() as out:
            cmd = ["curl", "-sk", "-o", out.name, "-w", "%{http_version} %{http_code}", "--max-time", str(timeout),
                   "--http2" if wl["h2"] == "tls" else "--http2-prior-knowledge"]
            for h in leg["headers"]:
                cmd += ["-H", h]
            r = subprocess.run(cmd + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            parts = r.stdout.split()
            if r.returncode != 0 or len(parts) != 2:
                raise OSError("curl %s: exit %d %s" % (url, r.returncode, r.stdout[-100:]))
            if parts[0] != "2":
                raise OSError("answered over HTTP/%s, not HTTP/2" % parts[0])
            with open(out.name, "rb") as f:
                return int(parts[1]), None, f.read()
    port = int(url.split(":")[2].split("/")[0])
    if url.startswith("https"):
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                        context=ssl._create_unverified_context())
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", leg["path"], headers=dict(h.split(": ", 1) for h in leg["headers"]))
        r = c.getresponse()
        return r.status, r.getheader("Content-Encoding"), r.read()
    finally:
        c.close()


def decode(coding, body):
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "br":
        r = subprocess.run(["brotli", "-d", "-c"], input=body, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise ValueError("brotli -d: " + r.stderr.decode(errors="replace").strip()[:100])
        return r.stdout
    return body


def check(server, wl, leg, docroot):
    """None when the server answers this leg right, else the reason it is n/a."""
    for need in (wl.get("needs"), "*"):
        if need and need in server.unsupported:
            return server.unsupported[need]
    if wl["kind"] in ("upload",):
        return None
    path = leg.get("path") or "/1k.bin"
    if wl["kind"] == "cgi_slow":
        path = "/cgi-bin/hello.py"
    if wl["kind"] == "download":
        return None  # the 1 GiB answer is checked by its own run (status and length)
    try:
        status, coding, body = fetch(server, wl, dict(leg, path=path))
    except (OSError, http.client.HTTPException) as e:
        return "GET %s: %s" % (path, e)
    if status != 200:
        return "GET %s answers %d" % (path, status)
    if leg.get("accept"):
        if coding != leg["accept"]:
            return "GET %s with Accept-Encoding: %s answers Content-Encoding %s" % (path, leg["accept"], coding)
        leg["wire_bytes"] = len(body)
        try:
            body = decode(coding, body)
        except (OSError, EOFError, ValueError) as e:  # gzip.BadGzipFile is an OSError
            return "GET %s: the %s body does not decode: %s" % (path, coding, e)
    expect = wl.get("expect")
    if expect is None and os.path.isfile(os.path.join(docroot, path.lstrip("/"))):
        with open(os.path.join(docroot, path.lstrip("/")), "rb") as f:
            expect = f.read()
    if path == "/dir1000/":
        if body.count(b"file-0") < 1000:
            return "GET %s: listing lacks the 1,000 names" % path
    elif path.startswith("/cgi-bin/") and wl["kind"] == "cgi_slow":
        if body != b"Hello, world!\n":
            return "GET %s: not the script's output (%r)" % (path, body[:40])
    elif expect is not None and body != expect:
        return "GET %s: wrong body (%d bytes: %r)" % (path, len(body), body[:40])
    return None


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
    """(label, ratio text, target text): the ratio and the verdict go on that label's row.
    A "ratio" workload compares two of its legs; any other compares webserv with the best peer
    (nginx, lighttpd) and, when it ran, with webserv@REV."""
    low = wl["better"] == "low"
    target = wl.get("target")
    if wl.get("ratio"):
        a, b = wl["ratio"]
        fa, fb = figures.get(a), figures.get(b)
        if fa is None or not fb:
            return a, "", ""
        r = fa / fb
        text = "%.3fx %s" % (r, b)
        if not target:
            return a, text, ""
        ok = r <= target[1] if low else r >= target[1]
        return a, text, "%s %.2fx %s %s" % ("<=" if low else ">=", target[1], b, "PASS" if ok else "FAIL")
    ws = figures.get("webserv")
    peers = {k: v for k, v in figures.items() if not k.startswith("webserv") and v is not None}
    ratio = ""
    if ws is not None and peers:
        best = min(peers.values()) if low else max(peers.values())
        if best:
            ratio = "%.2fx %s" % (ws / best, "(lower is better)" if low else "")
    revs = [k for k in figures if k.startswith("webserv@") and figures[k]]
    if ws is not None and revs:
        ratio = ("%s; %.3fx %s" % (ratio.strip(), ws / figures[revs[0]], revs[0])).lstrip("; ")
    if not target or ws is None:
        return "webserv", ratio.strip(), ""
    kind, value, peer = target
    if kind == "abs":
        ok = ws <= value if low else ws >= value
        text = "%s %s" % ("<=" if low else ">=", fmt_num(value))
    else:
        ref = peers.get(peer)
        if ref is None:
            return "webserv", ratio.strip(), "%sx %s: n/a" % (value, peer)
        ok = ws / ref >= value if not low else ws / ref <= value
        text = "%s %.2fx %s" % (">=" if not low else "<=", value, peer)
    return "webserv", ratio.strip(), "%s %s" % (text, "PASS" if ok else "FAIL")


def main_text(wl, leg, runs, col):
    med, spread = med_spread(col(wl["metric"]))
    text = "%s %s ±%.1f%%" % (fmt_num(med), METRIC_UNITS[wl["metric"]], spread)
    if col("growth_mb"):
        text += " (+%s)" % fmt_num(med_spread(col("growth_mb"))[0])
    if leg.get("wire_bytes"):
        text += ", %s B/resp body" % fmt_num(leg["wire_bytes"])
    if col("get_max_ms"):
        text += ", GET worst %s ms" % fmt_ms(max(col("get_max_ms")))
    if col("mbps"):
        text += ", %s MB/s" % fmt_num(med_spread(col("mbps"))[0])
    if col("cpu_s") and wl["kind"] == "upload":
        text += ", %s CPU s" % fmt_num(med_spread(col("cpu_s"))[0])
    return med, text


def disk_text(runs):
    """A disk leg of the upload row: the file system's own write speed (runners.disk_write_speed)."""
    med, spread = med_spread([r["mbps"] for r in runs])
    return "%s MB/s ±%.1f%% (the file system alone)" % (fmt_num(med), spread)


def tail_verdict(wl, p99s):
    """Issue 21: p99 latency within wl["p99_target"] times the best peer's (median over rounds).
    Returns (ratio text, target text), or empty texts for rows without that target."""
    limit = wl.get("p99_target")
    ws = p99s.get("webserv")
    peers = [v for k, v in p99s.items() if not k.startswith("webserv") and v]
    if not limit or ws is None or not peers:
        return "", ""
    r = ws / min(peers)
    return "p99 %.2fx best peer" % r, "p99 <= %.2fx %s" % (limit, "PASS" if r <= limit else "FAIL")


def client_text(col):
    """The client's CPU per request, then (the client's share of its core / the core's busy
    share), medians of the rounds: near 100 % the client, not the server, bounds the row."""
    us = col("client_us_per_req")
    if not us:
        return "-"
    share, busy = col("client_share_pct"), col("client_busy_pct")
    text = fmt_num(med_spread(us)[0])
    if share:
        text += " (%.0f%%" % med_spread(share)[0] + ("/%.0f%%)" % med_spread(busy)[0] if busy else ")")
    return text


def report(results, skipped, workloads, wl_legs, rounds_done, elapsed):
    lines = []
    hdr = ("workload", "server", "main figure (median ±spread)", "req/s", "µs/req", "client µs/req (own/core)",
           "p50 ms", "p99 ms", "errors", "RSS MiB", "noise", "vs best peer / ratio", "target")
    rows = []
    for wl in workloads:
        figures = {}
        p99s = {}
        wrows = []
        for leg in wl_legs[wl["name"]]:
            key = (wl["name"], leg["label"])
            if key in skipped:
                wrows.append([wl["name"], leg["label"], "n/a: " + skipped[key]] + [""] * 10)
                continue
            runs = results.get(key, [])
            if not runs:
                continue
            col = lambda k: [r[k] for r in runs if r.get(k) is not None]  # noqa: E731
            if leg.get("disk"):
                # req/s, µs/req, client, p50, p99: none for the bench's own writes
                wrows.append([wl["name"], leg["label"], disk_text(runs)] + ["-"] * 5 +
                             [str(sum(col("errors")))] + ["-"] * 2 + ["", ""])
                continue
            med, main = main_text(wl, leg, runs, col)
            figures[leg["label"]] = med
            rate = wl["kind"] in ("wrk", "h2load", "tls_full")
            rps_t = us_t = client_t = "-"
            if rate:
                client_t = client_text(col)
                rps_t = "%s ±%.0f%%" % (fmt_num(med_spread(col("rps"))[0]), med_spread(col("rps"))[1])
                us_t = "%s ±%.0f%%" % (fmt_num(med_spread(col("us_per_req"))[0]), med_spread(col("us_per_req"))[1])
            p50 = med_spread(col("p50_ms"))[0] if rate else None
            p99 = med_spread(col("p99_ms"))[0] if rate else (med_spread(col("get_p99_ms"))[0])
            p99s[leg["label"]] = p99
            noise = col("noise_pct")
            wrows.append([wl["name"], leg["label"], main, rps_t, us_t, client_t, fmt_ms(p50), fmt_ms(p99),
                          str(sum(col("errors"))), fmt_num(med_spread(col("peak_rss_mb"))[0]),
                          "%.0f%%" % max(noise) if noise else "-", "", ""])
        label, ratio, target = verdict(wl, figures)
        wire = {leg["label"]: leg["wire_bytes"] for leg in wl_legs[wl["name"]] if leg.get("wire_bytes")}
        if wire.get("webserv") and wire.get("nginx") and not wl.get("ratio"):
            ratio = "%s; body bytes %.2fx nginx" % (ratio, wire["webserv"] / wire["nginx"])
        p99_ratio, p99_target = tail_verdict(wl, p99s)
        if p99_ratio:
            ratio, target = "%s; %s" % (ratio, p99_ratio), "%s; %s" % (target, p99_target)
        for r in wrows:
            if r[1] == label and not r[2].startswith("n/a"):
                r[11], r[12] = ratio, target
        rows += wrows
    if not rows:
        return "no results"
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
    lines.append("%d round(s), %.0f s in all. Server on CPU %s, clients and upstreams on CPU %s (the -w2 "
                 "rows: every process unpinned); µs/req = server (utime+stime+cutime+cstime) / requests; "
                 "client µs/req = the load generator's (wrk, h2load, tls_full) user+system CPU / requests, "
                 "(own/core) = its share of its CPU's time and how busy that CPU was in all (near 100%%: "
                 "the client bounds the row);\n"
                 "RSS = peak VmHWM during the run\n(idle rows: RSS while holding; upload, slow CGI, "
                 "download: (+growth over the RSS before)); upload-1g's p99 column is the probe GET's p99, "
                 "its CPU s the server's for the whole 1 GiB, its disk rows the file system's own speed "
                 "(1 GiB of zeros + fsync, by the bench, in the folder the servers write to, the same round: "
                 "1 MiB writes, or 1.75 MiB ones from a huge page into reserved blocks as webserv's spool); "
                 "noise = the most user time other processes took on CPU %s in any round, in %% "
                 "(high noise: distrust the figures)."
                 % (rounds_done, elapsed, S.SERVER_CPU, S.CLIENT_CPU, S.SERVER_CPU))
    for wl in workloads:
        lines.append("  %-13s %s" % (wl["name"], wl["title"]))
    return "\n".join(lines)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description="webserv vs nginx vs lighttpd")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--memory-rounds", type=int, default=2,
                    help="rounds that also run the idle/upload/slow-CGI/download workloads (default 2)")
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk/h2load run (default 3)")
    ap.add_argument("--budget", type=int, default=1200,
                    help="start no round that the last one's time says would end after this many seconds (1200)")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--servers", default="webserv,nginx,lighttpd")
    ap.add_argument("--baseline-rev", default=S.DEFAULT_BASELINE_REV,
                    help="also run webserv built from this git revision on the rows marked for it "
                         "(default %s: before issue 13's phases); 'none' to skip" % S.DEFAULT_BASELINE_REV)
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
    os.sched_setaffinity(0, {int(S.CLIENT_CPU)})  # the driver's own clients run beside wrk
    for tool in ("wrk", "nginx", "lighttpd", "taskset"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("bench: %s is missing (make bench installs it)" % tool)
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    names = [w for w in a.only.split(",") if w]
    unknown = [w for w in names if w not in [x["name"] for x in WORKLOADS]]
    if unknown:
        sys.exit("bench: unknown workload(s) %s; known: %s" % (", ".join(unknown),
                                                               ", ".join(x["name"] for x in WORKLOADS)))
    workloads = [w for w in WORKLOADS if not names or w["name"] in names]

    t_start = time.monotonic()
    builddir = os.path.abspath(a.build_dir)
    if a.no_build:
        missing = {m: "mod_%s.so not built" % m for m in S.WEBSERV_MODULES
                   if not os.path.exists(os.path.join(builddir, "modules", "mod_%s.so" % m))}
    else:
        missing = S.build(builddir)
    for m, why in missing.items():
        log("   webserv: %s" % why)

    ports = {"floor": a.port_base + 50, "big": a.port_base + 51}
    if a.prepare:
        work = os.path.abspath(a.prepare)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        docroot = os.path.join(work, "www")
        missing.update(prepare_docroot(docroot, work))
        S.make_webserv_family(work, docroot, builddir, a.port_base, missing, ports)
        print(os.path.join(work, "webserv.json"))
        return 0

    # webserv@REV for the rows that compare with the build before issue 13.
    base_build, base_label, base_why = None, None, None
    wanted_servers = [n for n in a.servers.split(",") if n]
    if a.baseline_rev != "none" and "webserv" in wanted_servers and any(w.get("baseline") for w in workloads):
        try:
            base_build, short = S.build_baseline(a.baseline_rev, os.path.join(TOP, "build-bench-rev"))
            base_label = "webserv@" + short
        except (RuntimeError, subprocess.CalledProcessError, SystemExit) as e:
            base_why = str(e)
            log("   webserv@%s: n/a (%s)" % (a.baseline_rev, base_why))

    work = tempfile.mkdtemp(prefix="webserv-bench-")
    docroot = os.path.join(work, "www")
    log("== document root in %s" % docroot)
    missing.update(prepare_docroot(docroot, work))
    make_certs(work)
    if any(w["kind"] == "tls_full" for w in workloads):
        exe = os.path.join(work, "tls_full")
        r = subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "tls_full.c"), "-lssl", "-lcrypto"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            TLS_FULL["exe"] = exe
        else:
            missing["tls_full"] = "bench/tls_full.c does not build: " + r.stdout[-200:]

    wl_legs = {w["name"]: legs(w, base_label) for w in workloads}
    keys = {leg["server"] for ls in wl_legs.values() for leg in ls}
    base_of = lambda k: k.split("-")[0].split("+")[0].split("@")[0]  # noqa: E731
    keys = {k for k in keys if base_of(k) in wanted_servers}
    for w in workloads:  # legs of servers left out with --servers are dropped
        wl_legs[w["name"]] = [leg for leg in wl_legs[w["name"]] if leg["server"] in keys]
        if w["kind"] == "upload":  # the file system's own speed beside the servers' (issue 21)
            wl_legs[w["name"]] += [dict(server="disk", label=label, disk=True, direct=direct)
                                   for label, direct in DISK_LEGS]

    servers = {}
    if keys & {"webserv", "webserv+metrics", "webserv-w2"}:
        fam = S.make_webserv_family(work, docroot, builddir, a.port_base, missing, ports)
        servers.update({k: v for k, v in fam.items() if k in keys})
    if "webserv@rev" in keys:
        servers["webserv@rev"] = S.make_webserv_baseline(work, docroot, base_build, base_label[8:],
                                                         a.port_base + S.PORT_OFFSETS["webserv@rev"])
    if "nginx" in keys:
        servers["nginx"] = S.make_nginx(work, docroot, a.port_base + 1, ports)
    if "nginx-w2" in keys:
        servers["nginx-w2"] = S.make_nginx_w2(work, docroot, a.port_base + S.PORT_OFFSETS["nginx-w2"])
    if "lighttpd" in keys:
        servers["lighttpd"] = S.make_lighttpd(work, docroot, a.port_base + 2)
    for s in servers.values():
        for need in ("brotli", "cgi_c", "auth_basic"):
            if need in missing:
                s.unsupported.setdefault(need, missing[need])
    helpers = S.make_helpers(work, ports)
    wanted_helpers = {h for w in workloads for h in w.get("helpers", ())}

    results, skipped = {}, {}
    rounds_done = 0
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    started_helpers = []
    try:
        helper_why = {}
        for h in sorted(wanted_helpers):
            if isinstance(helpers[h], str):
                helper_why[h] = helpers[h]
                continue
            try:
                log("== starting %s" % h)
                helpers[h].start()
                started_helpers.append(helpers[h])
            except RuntimeError as e:
                helper_why[h] = str(e)
        for key, s in servers.items():
            log("== starting %s (%s) on 127.0.0.1:%d" % (s.key, s.name, s.port))
            s.start()
        for wl in workloads:
            for leg in wl_legs[wl["name"]]:
                if leg.get("disk"):
                    continue  # the bench's own writes (runners.disk_write_speed), no server
                s = servers.get(leg["server"])
                why = next((helper_why[h] for h in wl.get("helpers", ()) if h in helper_why), None)
                if wl.get("needs") == "compress" and "br" in (leg.get("accept") or "") and "brotli" in missing:
                    why = missing["brotli"]
                if wl["name"] == "cgi-c-10" and "cgi_c" in missing:
                    why = missing["cgi_c"]
                if wl["kind"] == "tls_full" and "tls_full" in missing:
                    why = missing["tls_full"]
                if s is None:
                    why = why or S.missing_server_reason(leg["server"], missing)
                why = why or check(s, wl, leg, docroot)
                if why:
                    skipped[(wl["name"], leg["label"])] = why
                    log("   %s %s: n/a (%s)" % (wl["name"], leg["label"], why))
        if base_why:
            for wl in workloads:
                if wl.get("baseline"):
                    wl_legs[wl["name"]].append(dict(server="webserv@rev", label="webserv@" + a.baseline_rev))
                    skipped[(wl["name"], "webserv@" + a.baseline_rev)] = base_why
        # The next round's time is estimated from the last one: its rate rows and, while the
        # memory rows still run, its memory rows (round 1 also had the warm-ups: an over-estimate).
        spent = {"rate": None, "memory": 0.0}
        for rnd in range(a.rounds):
            elapsed = time.monotonic() - t_start
            guess = (spent["rate"] or 0) + (spent["memory"] if rnd < a.memory_rounds else 0)
            if stop["now"] or (spent["rate"] is not None and elapsed + guess > a.budget):
                log("== stopping after %d round(s): time budget" % rnd)
                break
            spent = {"rate": 0.0, "memory": 0.0}
            for wl in workloads:
                if wl["kind"] in MEMORY_KINDS and rnd >= a.memory_rounds:
                    continue
                w0 = time.monotonic()
                ls = wl_legs[wl["name"]]
                # Alternate: the leg order rotates every round.
                order = ls[rnd % len(ls):] + ls[:rnd % len(ls)] if ls else []
                for leg in order:
                    key = (wl["name"], leg["label"])
                    if leg.get("disk"):
                        if key in skipped or stop["now"]:
                            continue
                        try:
                            res = disk_write_speed(os.path.join(docroot, "uploads"), leg["direct"])
                        except OSError as e:
                            skipped[key] = "the file system refused: %s" % e
                            log("   %s %s: n/a (%s)" % (wl["name"], leg["label"], e))
                            continue
                        results.setdefault(key, []).append(res)
                        log("   round %d %-13s %-16s mbps=%s  secs=%s" % (rnd + 1, wl["name"], leg["label"],
                                                                          fmt_num(res["mbps"]), fmt_num(res["secs"])))
                        time.sleep(0.3)
                        continue
                    s = servers.get(leg["server"])
                    if key in skipped or stop["now"] or s is None:
                        continue
                    if not s.alive():
                        log("   %s died; restarting" % s.name)
                        s.start()
                    if rnd == 0 and wl["kind"] in ("wrk", "h2load", "tls_full"):
                        RUNNERS[wl["kind"]](s, wl, leg, 1)  # warm-up
                    if rnd == 0 and wl["kind"] == "upload":
                        warm_get(s)  # the probe's GET, once, as the rate rows' warm-up
                    try:
                        res = RUNNERS[wl["kind"]](s, wl, leg, max(a.duration, wl.get("min_duration", 0)))
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        res = None
                        log("   %s %s: failed: %s" % (wl["name"], leg["label"], e))
                    if not s.alive():
                        skipped[key] = "server died during the run (see %s)" % s.logfile
                        log("   %s %s: server died" % key)
                        s.start()
                        continue
                    if res is None:
                        continue
                    results.setdefault(key, []).append(res)
                    log("   round %d %-13s %-16s %s" % (rnd + 1, wl["name"], leg["label"],
                        "  ".join("%s=%s" % (k, fmt_num(v) if isinstance(v, float) else v)
                                  for k, v in res.items())))
                    if wl["kind"] == "upload":
                        try:
                            os.unlink(os.path.join(docroot, "uploads", "big.bin"))
                        except OSError:
                            pass
                    time.sleep(0.3)
                spent["memory" if wl["kind"] in MEMORY_KINDS else "rate"] += time.monotonic() - w0
            rounds_done += 1
    finally:
        for s in servers.values():
            s.stop()
        for h in started_helpers:
            h.stop()
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"%s/%s" % k: v for k, v in results.items()}, f, indent=1)
        if a.keep:
            log("== work folder kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results, skipped, workloads, wl_legs, rounds_done, time.monotonic() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

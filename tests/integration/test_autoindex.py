"""SPEC §5 autoindex through the real server (static + autoindex): order of a
listing, escaping of hostile names (in the href and in the text), JSON by
Accept and by "format", show_hidden, "autoindex": false, index files, HEAD,
a folder of 10,000 entries (while static requests keep being answered), a
folder read on the offload pool (a static GET answered while it is read,
clients that leave meanwhile), and the demo config (conf/server.json)
listing /uploads/."""
import html
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import democonf
import harness
import straced

# Static answers while a big folder is listed: bound per answer.
STATIC_BOUND = 1.0 * harness.SLOW

ROW = re.compile(rb'<a href="([^"]*)">([^<]*)</a>')
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Hostile names, as bytes (file system names are bytes).
NASTY = b"<b>&\"' %#?.txt"
UTF8 = "caf\u00e9 \u65e5\u672c.txt".encode()
BADUTF8 = b"bad\xff\xfe\xc3(.txt"


def iso_utc(ts):
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def links(body):
    """(href bytes, text str) of every link in a listing, the parent first."""
    return [(h, html.unescape(t.decode("utf-8"))) for h, t in ROW.findall(body)]


class AutoindexTest(harness.ServerTestCase):
    modules = ["static", "autoindex"]

    def setUp(self):
        super().setUp()
        d = os.path.join(self.root, "list")
        for sub in ("zdir", "Adir", "_dir"):
            os.makedirs(os.path.join(d, sub))
        for name, data in ((b"a.txt", b"aaa"), (b"B.txt", b"B"), (b"_x", b""), (NASTY, b"nasty"),
                           (UTF8, b"utf8"), (BADUTF8, b"bad"), (b".hidden", b"h")):
            with open(os.path.join(d.encode(), name), "wb") as f:
                f.write(data)
        os.makedirs(os.path.join(self.root, "private/sub"))
        self.write("private/sub/f.txt", "f")
        self.write("withindex/index.html", "<p>the index</p>")
        self.write("withindex/other.txt", "o")
        self.write("static.txt", "static body\n")
        self.start(locations=[
            {"path": "/", "static": {}, "autoindex": {}},
            {"path": "/jsonloc", "root": self.root + "/list", "static": {}, "autoindex": {"format": "json"}},
            {"path": "/hidden", "root": self.root + "/list", "static": {}, "autoindex": {"show_hidden": True}},
            {"path": "/private", "static": {}, "autoindex": False},
        ])
        # The last two locations map /jsonloc/x and /hidden/x to <root>/list/jsonloc/x …:
        # give them the same entries through symlinks.
        for loc in ("jsonloc", "hidden"):
            os.symlink(d, os.path.join(self.root, "list", loc))

    def get(self, path, headers=None):
        r, body = self.request("GET", path, headers=headers)
        return r, body

    # ---- HTML ----

    def test_order_and_links(self):
        r, body = self.get("/list/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        rows = links(body)
        self.assertEqual(rows[0], (b"/", "../"))  # the parent link comes first
        names = [t for _, t in rows[1:]]
        # Folders first (the two symlinks to folders are folders too), then files, each byte-wise.
        dirs = sorted([b"Adir", b"_dir", b"hidden", b"jsonloc", b"zdir"])
        files = sorted([b"a.txt", b"B.txt", b"_x", NASTY, UTF8, BADUTF8])
        want = [n.decode() + "/" for n in dirs]
        self.assertEqual(names[:5], want)
        self.assertEqual([h for h, _ in rows[1:6]], [b"/list/" + n + b"/" for n in dirs])
        self.assertEqual([urllib.parse.unquote_to_bytes(h.decode()) for h, _ in rows[6:]],
                         [b"/list/" + n for n in files])
        self.assertEqual(len(rows), 1 + len(dirs) + len(files))  # .hidden is not listed
        self.assertNotIn(b".hidden", body)
        # The parent of a deeper folder
        r, body = self.get("/list/zdir/")
        self.assertEqual(links(body)[0], (b"/list/", "../"))
        self.assertIn(b"empty", body)
        # Without the trailing slash: 301 to it first.
        r, _ = self.get("/list")
        self.assertEqual((r.status, r.getheader("Location")), (301, "/list/"))

    def test_escaping(self):
        _, body = self.get("/list/")
        rows = {urllib.parse.unquote_to_bytes(h.decode()): (h, t) for h, t in links(body)}
        for name, data, text in ((NASTY, b"nasty", NASTY.decode()), (UTF8, b"utf8", UTF8.decode()),
                                 (BADUTF8, b"bad", "bad\ufffd\ufffd\ufffd(.txt")):
            href, shown = rows[b"/list/" + name]
            # Percent-encoded: only unreserved characters and '/' are left as they are.
            self.assertRegex(href.decode("ascii"), r"^[A-Za-z0-9._~/%-]*$")
            self.assertEqual(shown, text)
            r, got = self.get(href.decode("ascii"))
            self.assertEqual((r.status, got), (200, data), name)
        # The text is HTML-escaped: no raw markup from a name.
        self.assertIn(b"&lt;b&gt;&amp;&quot;&#39; %#?.txt</a>", body)
        self.assertNotIn(b"<b>", body)
        self.assertIn(b"%3Cb%3E%26%22%27%20%25%23%3F.txt", body)
        self.assertIn(b"bad%FF%FE%C3%28.txt", body)
        # the non-ASCII name is shown as UTF-8 text, and encoded byte by byte in the link
        self.assertIn(UTF8, body)
        self.assertIn(b"caf%C3%A9%20%E6%97%A5%E6%9C%AC.txt", body)
        # Through curl too (it sends the href as it is).
        p = self.curl("http://127.0.0.1:%d/list/%%3Cb%%3E%%26%%22%%27%%20%%25%%23%%3F.txt" % self.port)
        self.assertEqual(p.stdout, b"nasty", p.stderr)

    # ---- JSON ----

    def check_json(self, body, folder):
        items = json.loads(body)
        self.assertIsInstance(items, list)
        for it in items:
            self.assertEqual(set(it), {"name", "type", "size", "mtime"})
            self.assertIn(it["type"], ("file", "directory"))
            self.assertRegex(it["mtime"], ISO)
        byname = {it["name"]: it for it in items}
        for n in (b"a.txt", b"B.txt", NASTY, UTF8):
            st = os.stat(os.path.join(folder.encode(), n))
            it = byname[n.decode()]
            self.assertEqual((it["type"], it["size"], it["mtime"]), ("file", st.st_size, iso_utc(st.st_mtime)))
        self.assertEqual(byname["zdir"]["type"], "directory")
        self.assertIn("bad\ufffd\ufffd\ufffd(.txt", byname)  # valid UTF-8 in the JSON text
        types = [it["type"] for it in items]
        self.assertEqual(types, sorted(types, key=lambda t: t != "directory"))  # folders first
        return items

    def test_json_by_accept(self):
        r, body = self.get("/list/", headers={"Accept": "text/html;q=0.5, application/json"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        items = self.check_json(body, os.path.join(self.root, "list"))
        self.assertNotIn(".hidden", [it["name"] for it in items])
        r, body = self.get("/list/", headers={"Accept": "application/json;q=0"})
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))

    def test_json_by_format(self):
        r, body = self.get("/jsonloc/")
        self.assertEqual((r.status, r.getheader("Content-Type")), (200, "application/json"))
        self.check_json(body, os.path.join(self.root, "list"))

    # ---- options and the core's rules ----

    def test_show_hidden(self):
        _, body = self.get("/hidden/")
        self.assertIn(b'href="/hidden/.hidden">.hidden</a>', body)
        _, body = self.get("/hidden/", headers={"Accept": "application/json"})
        self.assertIn(".hidden", [it["name"] for it in json.loads(body)])
        _, body = self.get("/list/", headers={"Accept": "application/json"})
        self.assertNotIn(".hidden", [it["name"] for it in json.loads(body)])

    def test_autoindex_false_is_403(self):
        self.assertEqual(self.get("/private/")[0].status, 403)
        self.assertEqual(self.get("/private/sub/")[0].status, 403)
        r, body = self.get("/private/sub/f.txt")
        self.assertEqual((r.status, body), (200, b"f"))

    def test_index_wins(self):
        r, body = self.get("/withindex/")
        self.assertEqual((r.status, body), (200, b"<p>the index</p>"))

    def test_head(self):
        r, body = self.get("/list/")
        resp = self.raw_one(b"HEAD /list/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", head=True)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Content-Length"), str(len(body)))
        raw = self.raw(b"HEAD /list/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(raw.endswith(b"\r\n\r\n"), raw[-200:])  # nothing after the head
        c = self.conn()
        c.request("HEAD", "/list/", headers={"Accept": "application/json"})
        r = c.getresponse()
        self.assertEqual((r.status, r.read(), r.getheader("Content-Type")), (200, b"", "application/json"))
        c.close()

    # ---- a big folder ----

    def test_ten_thousand_entries(self):
        n = 10000
        big = os.path.join(self.root, "big")
        os.makedirs(big)
        names = ["f%05d-%s" % (i, "x" * (i % 7)) for i in range(n)]
        t0 = time.monotonic()
        for name in names:
            os.close(os.open(os.path.join(big, name), os.O_CREAT | os.O_WRONLY, 0o644))
        created = time.monotonic() - t0

        t0 = time.monotonic()
        r, body = self.get("/big/")
        html_time = time.monotonic() - t0
        self.assertEqual(r.status, 200)
        rows = links(body)
        self.assertEqual(len(rows), n + 1)
        self.assertEqual([t for _, t in rows[1:]], sorted(names))
        t0 = time.monotonic()
        r, body = self.get("/big/", headers={"Accept": "application/json"})
        json_time = time.monotonic() - t0
        items = json.loads(body)
        self.assertEqual([it["name"] for it in items], sorted(names))
        print("\n  10,000 entries: created in %.2fs; HTML listing in %.3fs, JSON (%d KiB) in %.3fs"
              % (created, html_time, len(body) // 1024, json_time))

        # Static requests are answered while the folder is listed again and again,
        # and while a client that does not read holds a listing.
        stalled = socket.create_connection(("127.0.0.1", self.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /big/ HTTP/1.1\r\nHost: x\r\n\r\n")
        stop = threading.Event()
        results, errors = [], []

        def lister():
            try:
                while not stop.is_set():
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    c.request("GET", "/big/")
                    resp = c.getresponse()
                    data = resp.read()
                    c.close()
                    results.append(data.count(b"<tr class=\"file\">"))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=lister) for _ in range(3)]
        for t in threads:
            t.start()
        worst = 0.0
        try:
            for _ in range(20):
                t0 = time.monotonic()
                r, body = self.get("/static.txt")
                worst = max(worst, time.monotonic() - t0)
                self.assertEqual((r.status, body), (200, b"static body\n"))
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
            stalled.close()
        print("  static GET while listing: slowest of 20 answers %.3fs; %d listings done meanwhile"
              % (worst, len(results)))
        self.assertEqual(errors, [])
        self.assertTrue(results)
        self.assertEqual(set(results), {n})
        self.assertLess(worst, STATIC_BOUND)

    # ---- the folder is read on the offload pool (issue 21) ----

    POOL_N = 20000

    def pool_folder(self):
        """A folder of POOL_N empty files and a symbolic link to it: a listing through the link
        is never kept (the core gives such a folder no version), so every GET of /biglink/
        reads the folder again. Returns the folder's real path (what /proc/PID/fd shows)."""
        big = os.path.join(self.root, "big")
        os.makedirs(big)
        for i in range(self.POOL_N):
            os.close(os.open(os.path.join(big, "f%05d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
        os.symlink(big, os.path.join(self.root, "biglink"))
        return os.path.realpath(big)

    def listing_open(self, folder):
        """Whether the worker holds `folder` open: a listing of it is being read."""
        return folder in harness.fd_targets(self.server.proc.pid)

    @staticmethod
    def received_yet(sock):
        """Response bytes already there (b"" if none), without waiting. A recv, not a select:
        over TLS, the server's session tickets make the socket readable with no response."""
        sock.setblocking(False)
        try:
            return sock.recv(1 << 20)
        except (BlockingIOError, ssl.SSLWantReadError):
            return b""
        finally:
            sock.setblocking(True)

    def read_listing(self, sock, data=b""):
        """Read a Connection: close listing to its end (data: what came already); the number
        of file rows."""
        sock.settimeout(60 * harness.SLOW)
        while True:
            b = sock.recv(1 << 20)
            if not b:
                break
            data += b
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:200])
        return data.count(b'<tr class="file">')

    def test_static_answered_while_listing(self):
        """A static GET on the same worker is answered while a big folder is read. Order, not
        time: once the worker holds the folder open (its listing started), a static GET is
        sent on a second connection; when its whole answer is in, the listing's connection
        must still have received nothing. On the event loop that cannot happen: the loop
        reads the static request only after the listing was written. Retried a few times
        (a fast machine may finish a listing before the static request is there); one
        witness is the proof."""
        folder = self.pool_folder()
        static = self.conn(timeout=30)  # connected (and over TLS, shaken hands) before any listing

        def get_static():
            static.request("GET", "/static.txt")
            r = static.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"static body\n"))
        get_static()
        witnessed = tries = 0
        while witnessed == 0 and tries < 30:
            tries += 1
            lister = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            lister.sendall(b"GET /biglink/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            started = harness.wait_for(lambda: self.listing_open(folder), timeout=10 * harness.SLOW, step=0.0005)
            early = b""
            if started:
                get_static()
                early = self.received_yet(lister)
                witnessed += early == b""
            self.assertEqual(self.read_listing(lister, early), self.POOL_N)
            lister.close()
        static.close()
        print("\n  static GET answered while a %d-entry folder was read: %d of %d tries"
              % (self.POOL_N, witnessed, tries))
        self.assertEqual(witnessed, 1, "the static answer never came before the listing's first byte")

    def test_client_leaves_while_listing(self):
        """Clients ask for a big folder's listing and close while the pool reads it (five who
        wait until the worker holds the folder open, then 40 who close at once, then 20 who
        share one read of the folder's new version and close): nothing
        leaks (the worker's descriptors come back to their count; valgrind's leak check in
        leaks/test_autoindex-pool), and the worker lists the folder for the next client."""
        folder = self.pool_folder()
        fd_dir = "/proc/%d/fd" % self.server.proc.pid

        def sockets():
            return sum(t.startswith("socket:") for t in harness.fd_targets(self.server.proc.pid))
        listening = sockets()
        lister = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        lister.sendall(b"GET /biglink/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(self.read_listing(lister), self.POOL_N)  # the pool is up (its eventfd)
        lister.close()
        # The folder itself gets a version once the pool has watched its entries (that work holds
        # a second descriptor of the worker's inotify instance); the change above it further
        # down leaves them watched, so the requests after it get the new version at once.
        self.assertEqual(self.get("/big/")[0].status, 200)
        self.assertTrue(harness.wait_for(lambda: harness.fd_targets(self.server.proc.pid).count(
            "anon_inode:inotify") == 1, timeout=30 * harness.SLOW))
        self.assertTrue(harness.wait_for(lambda: sockets() == listening))
        before = len(os.listdir(fd_dir))
        left_mid_listing = 0
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /biglink/ HTTP/1.1\r\nHost: x\r\n\r\n")
            left_mid_listing += bool(harness.wait_for(lambda: self.listing_open(folder), timeout=10 * harness.SLOW,
                                                      step=0.0005))
            s.close()
        socks = []
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /biglink/ HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        # The folder itself has a version: after a change above it (a new file in the root), the
        # requests that miss share one read of it, and their clients leave too.
        self.write("bump.txt", "x")
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /big/ HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.close()

        def settled():  # no connection left, no folder open, no descriptor more than before
            return sockets() == listening and not self.listing_open(folder) and len(os.listdir(fd_dir)) <= before
        self.assertTrue(harness.wait_for(settled, timeout=30 * harness.SLOW),
                        "descriptors: %d before, %d now: %s" % (before, len(os.listdir(fd_dir)),
                                                                 harness.fd_targets(self.server.proc.pid)))
        self.assertGreater(left_mid_listing, 0)
        for path in ("/biglink/", "/big/"):  # each may be a read of 20,000 entries (under valgrind: seconds)
            c = self.conn(timeout=30 * harness.SLOW)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(len(links(body)), self.POOL_N + 1)


class FolderWatchTest(harness.ServerTestCase):
    """Issue 21: the core watches every entry of a folder before it gives the folder a
    version (a kept listing). That readdir and its inotify_add_watch per entry run on the
    offload pool, never on the event loop; the listing is kept once they are done."""
    modules = ["static", "autoindex"]
    N = 3000

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def test_entries_watched_on_the_pool(self):
        big = os.path.join(self.root, "big")
        os.makedirs(big)
        for i in range(self.N):
            os.close(os.open(os.path.join(big, "f%05d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
        big = os.path.realpath(big)
        trace = straced.start(self, "getdents64,inotify_add_watch", strings=4096,
                              locations=[{"path": "/", "static": {}, "autoindex": {}}])
        loop_tid = straced.loop_tid(self)
        started = len(straced.lines(trace))

        def listing():
            r, body = self.request("GET", "/big/")
            self.assertEqual(r.status, 200)
            self.assertEqual(len(links(body)), self.N + 1)
        listing()
        # Once the pool has watched the entries (and nothing in /tmp, above the root, emptied
        # the cache meanwhile), the folder has a version: a listing is kept, and the next
        # request reads no folder at all. Bounded: a busy /tmp drops a watching under way.
        kept = 0
        for _ in range(60):
            before = len(straced.lines(trace))
            listing()
            if straced.count(straced.lines(trace)[before:], r"^\d+\s+getdents64\(") == 0:
                kept += 1
                break
            time.sleep(0.1)
        lines = straced.lines(trace)[started:]
        entry = re.compile(r"^(\d+)\s+inotify_add_watch\(\d+, \"%s/f\d{5}\"" % re.escape(big))
        by_thread = {}
        for ln in lines:
            m = entry.match(ln)
            if m:
                by_thread[int(m.group(1))] = by_thread.get(int(m.group(1)), 0) + 1
        on_loop = by_thread.pop(loop_tid, 0)
        on_pool = sum(by_thread.values())
        loop_reads = straced.count(lines, r"^%d\s+getdents64\(" % loop_tid)
        pool_reads = straced.count(lines, r"^(?!%d\s)\d+\s+getdents64\(" % loop_tid)
        print("\n  %d-entry folder: entry watches on the loop %d, on the pool %d; getdents64 on the loop %d, "
              "on the pool %d; kept listing %s" % (self.N, on_loop, on_pool, loop_reads, pool_reads,
                                                     "answered" if kept else "never seen"))
        self.assertEqual(on_loop, 0)
        self.assertEqual(loop_reads, 0)
        self.assertGreaterEqual(on_pool, self.N)
        self.assertGreater(pool_reads, 0)
        self.assertEqual(kept, 1, "no listing of the folder was ever kept")


class DemoConfigTest(harness.ServerTestCase):
    """conf/server.json as shipped, on a free port and a copy of www/."""

    def test_uploads_listing(self):
        cfg = democonf.config(self)
        self.start(config=cfg)
        r, body = self.request("GET", "/uploads/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        self.assertIn(b"Index of /uploads/", body)
        self.assertEqual(links(body)[0], (b"/", "../"))
        self.assertNotIn(b".keep", body)
        r, _ = self.request("PUT", "/uploads/second%20file.csv", body=b"a,b\n1,2\n")
        self.assertEqual(r.status, 201)
        r, body = self.request("GET", "/uploads/")
        self.assertIn((b"/uploads/second%20file.csv", "second file.csv"), links(body))
        r, body = self.request("GET", "/uploads/", headers={"Accept": "application/json"})
        self.assertEqual([it["name"] for it in json.loads(body)], ["second file.csv"])


if __name__ == "__main__":
    harness.main()

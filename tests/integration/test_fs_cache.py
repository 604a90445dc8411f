"""The core's file-system cache (stat and open files, kept fresh by inotify):
every change made before a request is sent shows in that request's answer,
on one keep-alive connection, with no pause between the change and the request."""
import json
import os
import re
import shutil
import threading

import harness
import proctree
import straced


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


class FsCacheTest(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.small = os.path.join(self.root, "small.txt")
        self.big = os.path.join(self.root, "big.bin")
        self.write("small.txt", "v0")
        self.write("big.bin", b"B" * 200000)
        self.write("sub/page.txt", "in sub")

    def test_in_place_writes_are_seen_at_once(self):
        self.start()
        c = self.conn()
        for i in range(200):
            with open(self.small, "w") as f:
                f.write("version %d" % i)
            self.assertEqual(get(c, "/small.txt"), (200, b"version %d" % i))

    def test_new_connections_in_a_burst_see_changes(self):
        """A new connection's request is read in the round that accepts it
        (issue 21). Connections accepted in one batch arrive while the batch
        runs, after the round's events were collected, so a change made just
        before such a request is seen only if its inotify event is taken before
        the request is read. Other clients keep the batches full meanwhile."""
        self.write("other.txt", "o")
        self.start()
        stop = threading.Event()
        failures = []

        def load():
            while not stop.is_set():
                data = self.raw(b"GET /other.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout=10)
                if not data.endswith(b"\r\n\r\no"):
                    failures.append(data[:80])
        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            for i in range(1000):
                with open(self.small, "w") as f:
                    f.write("version %d" % i)
                data = self.raw(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout=10)
                self.assertTrue(data.endswith(b"\r\n\r\nversion %d" % i), (i, data[-40:]))
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])

    def test_large_file_rewritten_and_replaced(self):
        self.start()
        c = self.conn()
        for i in range(30):
            body = bytes([65 + i % 26]) * (150000 + i)
            if i % 2:
                with open(self.big, "r+b") as f:  # same inode, new bytes and size
                    f.truncate(0)
                    f.write(body)
            else:
                tmp = self.big + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(body)
                os.rename(tmp, self.big)  # a new inode under the old name
            status, got = get(c, "/big.bin")
            self.assertEqual(status, 200)
            self.assertEqual(len(got), len(body))
            self.assertEqual(got, body)

    def test_delete_create_and_folder_moves(self):
        self.start()
        c = self.conn()
        for _ in range(20):
            self.assertEqual(get(c, "/big.bin")[0], 200)
            self.assertEqual(get(c, "/sub/page.txt"), (200, b"in sub"))
            os.unlink(self.big)
            self.assertEqual(get(c, "/big.bin")[0], 404)
            with open(self.big, "wb") as f:
                f.write(b"again")
            self.assertEqual(get(c, "/big.bin"), (200, b"again"))
            os.rename(os.path.join(self.root, "sub"), os.path.join(self.root, "gone"))
            self.assertEqual(get(c, "/sub/page.txt")[0], 404)
            self.assertEqual(get(c, "/gone/page.txt"), (200, b"in sub"))
            os.rename(os.path.join(self.root, "gone"), os.path.join(self.root, "sub"))

    def test_a_folder_appearing_in_place_of_a_file(self):
        self.start()
        c = self.conn()
        self.assertEqual(get(c, "/small.txt")[0], 200)
        os.unlink(self.small)
        os.mkdir(self.small)
        with open(os.path.join(self.small, "inner"), "w") as f:
            f.write("inner")
        self.assertEqual(get(c, "/small.txt/inner"), (200, b"inner"))
        shutil.rmtree(self.small)
        self.assertEqual(get(c, "/small.txt/inner")[0], 404)

    def test_a_swapped_symlink_is_followed_at_once(self):
        dirs = [os.path.join(self.tmp, n) for n in ("a", "b")]
        for d in dirs:
            os.mkdir(d)
        link = os.path.join(self.root, "current")
        self.start()
        c = self.conn()
        for i in range(20):
            d = dirs[i % 2]
            with open(os.path.join(d, "f.txt"), "w") as f:
                f.write("gen %d" % i)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(d, link)
            self.assertEqual(get(c, "/current/f.txt"), (200, b"gen %d" % i))
            # The file behind the link changes: no event in any watched folder.
            with open(os.path.join(d, "f.txt"), "w") as f:
                f.write("gen %d, again" % i)
            self.assertEqual(get(c, "/current/f.txt"), (200, b"gen %d, again" % i))
            # A name appearing in the link's target folder (no watch there either).
            self.assertEqual(get(c, "/current/new%d.txt" % i)[0], 404)
            with open(os.path.join(d, "new%d.txt" % i), "w") as f:
                f.write("new")
            self.assertEqual(get(c, "/current/new%d.txt" % i), (200, b"new"))

    def test_off_by_environment_still_serves(self):
        self.start(env={"WEBSERV_FS_CACHE": "off"})
        c = self.conn()
        for i in range(5):
            with open(self.small, "w") as f:
                f.write("off %d" % i)
            self.assertEqual(get(c, "/small.txt"), (200, b"off %d" % i))


class FileCacheSizeTest(harness.ServerTestCase):
    """"file_cache_entries", seen in the worker's system calls: every later
    pass over 100 files stats again the files a 64-entry table could not keep,
    and once a reload made it 256 a pass stats none; every answer is the
    file's content."""

    def tearDown(self):
        if self.servers:
            straced.stop(self.server)
        super().tearDown()

    def path_stats(self, trace, before):
        """stat/lstat calls by path on the files under /many/ after line `before`."""
        return straced.count(straced.lines(trace)[before:],
                             r'newfstatat\(AT_FDCWD, "%s/many/f\d+\.txt"' % re.escape(self.root))

    def passes(self, c, trace, version, most, until_none=False):
        """A first pass over the 100 files, then up to `most` more; the path
        stats of each later pass. With until_none, stop after a pass with
        none. Any change under /tmp (other tests run in parallel) empties the
        whole cache, so a pass may stat again whatever the table's size; a
        table too small for them stats at least the ones it cannot hold in
        every pass."""
        counts = []
        for n in range(most + 1):
            before = len(straced.lines(trace))
            for i in range(100):
                self.assertEqual(get(c, "/many/f%03d.txt" % i), (200, b"%s %d" % (version, i)))
            if n:
                counts.append(self.path_stats(trace, before))
                if until_none and counts[-1] == 0:
                    break
        return counts

    def test_the_size_holds_and_a_reload_changes_it(self):
        for i in range(100):
            self.write("many/f%03d.txt" % i, "v0 %d" % i)
        cfg = self.base_config()
        cfg["file_cache_entries"] = 64
        trace = straced.start(self, "newfstatat", strings=256, config=cfg)
        c = self.conn()
        small = self.passes(c, trace, b"v0", 2)
        print("later passes, 64 entries: path stats %s" % small)
        self.assertGreaterEqual(min(small), 100 - 64, "a 64-entry table kept them all")
        for i in (0, 50, 99):  # kept in the table, and past it
            self.write("many/f%03d.txt" % i, "v1 %d" % i)
            self.assertEqual(get(c, "/many/f%03d.txt" % i), (200, b"v1 %d" % i))
        for i in range(100):
            self.write("many/f%03d.txt" % i, "v2 %d" % i)

        cfg["file_cache_entries"] = 256
        self.server.write_config(cfg)
        reloaded = self.server.stderr().count("WS0104")
        ((pid, _),) = proctree.children(self.server.proc.pid)
        self.server.reload_once(pid)  # webserv's own: strace, signalled, would detach
        self.assertGreater(self.server.stderr().count("WS0104"), reloaded, self.server.stderr())
        self.assertNotIn("WS0113", self.server.stderr())
        large = self.passes(c, trace, b"v2", 20, until_none=True)
        print("later passes, 256 entries: path stats %s" % large)
        self.assertIn(0, large, "a 256-entry table stats again in every pass")
        self.write("many/f010.txt", "v3")
        self.assertEqual(get(c, "/many/f010.txt"), (200, b"v3"))


class ListingCacheTest(harness.ServerTestCase):
    """A listing is kept while the folder is unchanged; every kind of change
    to it shows in the very next listing."""
    modules = ["static", "autoindex"]

    def setUp(self):
        super().setUp()
        self.d = os.path.join(self.root, "d")
        self.write("d/a.txt", "aaa")
        self.write("d/sub/inner.txt", "i")

    def listing(self, c, path="/d/"):
        c.request("GET", path, headers={"Accept": "application/json"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            return r.status, None
        return r.status, {e["name"]: e for e in json.loads(body)}

    def start_listing(self):
        cfg = self.base_config(locations=[{"path": "/", "static": {}, "autoindex": {}}])
        self.start(cfg)
        return self.conn()

    def test_every_change_shows_at_once(self):
        c = self.start_listing()
        for i in range(5):
            _, l = self.listing(c)
            self.assertEqual(l["a.txt"]["size"], 3 + i * 2)
            self.assertEqual(self.listing(c)[1], l)  # unchanged: the same answer
            # A new name, then gone again.
            self.write("d/new%d.txt" % i, "n")
            self.assertIn("new%d.txt" % i, self.listing(c)[1])
            os.unlink(os.path.join(self.d, "new%d.txt" % i))
            self.assertNotIn("new%d.txt" % i, self.listing(c)[1])
            # A file's size (a write to it), and its time (utime).
            with open(os.path.join(self.d, "a.txt"), "a") as f:
                f.write("xx")
            self.assertEqual(self.listing(c)[1]["a.txt"]["size"], 5 + i * 2)
            os.utime(os.path.join(self.d, "a.txt"), (1000000000 + i, 1000000000 + i))
            self.assertEqual(self.listing(c)[1]["a.txt"]["mtime"], "2001-09-09T01:46:%02dZ" % (40 + i))
            # A subfolder's time moves when a name appears in it.
            before = self.listing(c)[1]["sub"]["mtime"]
            os.utime(os.path.join(self.d, "sub"), (1000000000, 1000000000))
            self.assertEqual(self.listing(c)[1]["sub"]["mtime"], "2001-09-09T01:46:40Z")
            self.write("d/sub/more%d.txt" % i, "m")
            self.assertNotEqual(self.listing(c)[1]["sub"]["mtime"], "2001-09-09T01:46:40Z")
            self.assertIsNotNone(before)

    def test_a_change_through_a_hard_link_elsewhere(self):
        outside = os.path.join(self.tmp, "outside.txt")
        os.link(os.path.join(self.d, "a.txt"), outside)
        c = self.start_listing()
        self.assertEqual(self.listing(c)[1]["a.txt"]["size"], 3)
        with open(outside, "a") as f:
            f.write("through the other name")
        self.assertEqual(self.listing(c)[1]["a.txt"]["size"], 3 + len("through the other name"))

    def test_folder_moved_away_and_symlinked_entries(self):
        target = os.path.join(self.tmp, "target.txt")
        with open(target, "w") as f:
            f.write("t")
        os.symlink(target, os.path.join(self.d, "link.txt"))
        c = self.start_listing()
        self.assertEqual(self.listing(c)[1]["link.txt"]["size"], 1)
        with open(target, "a") as f:  # no event in any folder of the docroot
            f.write("tttt")
        self.assertEqual(self.listing(c)[1]["link.txt"]["size"], 5)
        os.rename(self.d, os.path.join(self.root, "e"))
        self.assertEqual(self.listing(c)[0], 404)
        self.assertIn("a.txt", self.listing(c, "/e/")[1])

    def test_html_and_json_are_kept_apart(self):
        c = self.start_listing()
        for _ in range(3):
            self.assertIn("a.txt", self.listing(c)[1])
            c.request("GET", "/d/")
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.getheader("Content-Type"), "text/html; charset=utf-8")
            self.assertIn(b'href="/d/a.txt"', body)
            c.request("HEAD", "/d/")
            r = c.getresponse()
            self.assertEqual(r.read(), b"")
            self.assertEqual(int(r.getheader("Content-Length")), len(body))




class WarmRootsTest(harness.ServerTestCase):
    """Issue 21: the first watch of a folder with many names cached under it (a busy
    /tmp) makes the kernel walk them all (58 ms once on the bench machine), and the
    first request paid it on the event loop. Each worker now looks up every location's
    root before it serves: before any request, its inotify instance already watches
    the root and every folder above it (read from /proc/PID/fdinfo: one "inotify wd:"
    line per watch, with the watched inode)."""

    def watched_inodes(self):
        inodes = set()
        for pid in proctree.descendants(self.server.proc.pid):
            for fd, target in harness.fd_links(pid):
                if target != "anon_inode:inotify":
                    continue
                try:
                    with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                        for line in f:
                            m = re.match(r"inotify wd:\d+ ino:([0-9a-f]+) ", line)
                            if m:
                                inodes.add(int(m.group(1), 16))
                except FileNotFoundError:
                    continue
        return inodes

    def folders_up_from(self, path):
        out = []
        while True:
            out.append(path)
            if path == "/":
                return out
            path = os.path.dirname(path)

    def test_root_and_folders_above_watched_before_the_first_request(self):
        other = os.path.join(self.tmp, "other-root")
        os.makedirs(other)
        cfg = self.base_config(locations=[{"path": "/", "static": {}},
                                          {"path": "/o/", "root": other, "static": {}}])
        self.start(cfg)
        watched = self.watched_inodes()
        for folder in self.folders_up_from(self.root) + [other]:
            self.assertIn(os.stat(folder).st_ino, watched, "%s is not watched before any request" % folder)
        self.write("a.txt", "first")
        r, body = self.request("GET", "/a.txt")
        self.assertEqual((r.status, body), (200, b"first"))


if __name__ == "__main__":
    harness.main()

"""The core's file-system cache (stat and open files, kept fresh by inotify):
every change made before a request is sent shows in that request's answer,
on one keep-alive connection, with no pause between the change and the request."""
import os
import shutil

import harness


class FsCacheTest(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.small = os.path.join(self.root, "small.txt")
        self.big = os.path.join(self.root, "big.bin")
        self.write("small.txt", "v0")
        self.write("big.bin", b"B" * 200000)
        self.write("sub/page.txt", "in sub")

    def get(self, conn, path):
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()

    def test_in_place_writes_are_seen_at_once(self):
        self.start()
        c = self.conn()
        for i in range(200):
            with open(self.small, "w") as f:
                f.write("version %d" % i)
            self.assertEqual(self.get(c, "/small.txt"), (200, b"version %d" % i))

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
            status, got = self.get(c, "/big.bin")
            self.assertEqual(status, 200)
            self.assertEqual(len(got), len(body))
            self.assertEqual(got, body)

    def test_delete_create_and_folder_moves(self):
        self.start()
        c = self.conn()
        for _ in range(20):
            self.assertEqual(self.get(c, "/big.bin")[0], 200)
            self.assertEqual(self.get(c, "/sub/page.txt"), (200, b"in sub"))
            os.unlink(self.big)
            self.assertEqual(self.get(c, "/big.bin")[0], 404)
            with open(self.big, "wb") as f:
                f.write(b"again")
            self.assertEqual(self.get(c, "/big.bin"), (200, b"again"))
            os.rename(os.path.join(self.root, "sub"), os.path.join(self.root, "gone"))
            self.assertEqual(self.get(c, "/sub/page.txt")[0], 404)
            self.assertEqual(self.get(c, "/gone/page.txt"), (200, b"in sub"))
            os.rename(os.path.join(self.root, "gone"), os.path.join(self.root, "sub"))

    def test_a_folder_appearing_in_place_of_a_file(self):
        self.start()
        c = self.conn()
        self.assertEqual(self.get(c, "/small.txt")[0], 200)
        os.unlink(self.small)
        os.mkdir(self.small)
        with open(os.path.join(self.small, "inner"), "w") as f:
            f.write("inner")
        self.assertEqual(self.get(c, "/small.txt/inner"), (200, b"inner"))
        shutil.rmtree(self.small)
        self.assertEqual(self.get(c, "/small.txt/inner")[0], 404)

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
            self.assertEqual(self.get(c, "/current/f.txt"), (200, b"gen %d" % i))
            # The file behind the link changes: no event in any watched folder.
            with open(os.path.join(d, "f.txt"), "w") as f:
                f.write("gen %d, again" % i)
            self.assertEqual(self.get(c, "/current/f.txt"), (200, b"gen %d, again" % i))
            # A name appearing in the link's target folder (no watch there either).
            self.assertEqual(self.get(c, "/current/new%d.txt" % i)[0], 404)
            with open(os.path.join(d, "new%d.txt" % i), "w") as f:
                f.write("new")
            self.assertEqual(self.get(c, "/current/new%d.txt" % i), (200, b"new"))

    def test_off_by_environment_still_serves(self):
        self.start(env={"WEBSERV_FS_CACHE": "off"})
        c = self.conn()
        for i in range(5):
            with open(self.small, "w") as f:
                f.write("off %d" % i)
            self.assertEqual(self.get(c, "/small.txt"), (200, b"off %d" % i))


if __name__ == "__main__":
    harness.main()

"""`webserv -t` prints the routing table after "configuration OK";
`webserv -t --explain METHOD URL [HOST]` says which server, location and
module would answer and why (core/request/explain.c)."""
import os
import subprocess

import harness


class ExplainTest(harness.ServerTestCase):
    modules = ["static", "autoindex", "upload"]

    def setUp(self):
        super().setUp()
        self.write("a.txt", "a")
        self.write("dir/index.html", "<p>i</p>")
        os.makedirs(os.path.join(self.root, "bare"))
        os.makedirs(os.path.join(self.root, "up"))
        self.other_root = os.path.join(self.tmp, "other")
        os.makedirs(self.other_root)
        with open(os.path.join(self.other_root, "b.txt"), "w") as f:
            f.write("b")
        cfg = self.base_config(locations=[
            {"path": "/", "static": {}, "autoindex": {}},
            {"path": "/up", "static": {}, "upload": {}},
            {"path": "/old", "return": {"status": 301, "location": "/new"}},
            {"path": "/ro", "static": {}, "methods": ["GET"]},
        ], server_names=["a.example"])
        cfg["servers"].append({"listen": "127.0.0.1:%d" % self.port, "server_names": ["b.example"],
                               "root": self.other_root, "locations": [{"path": "/", "static": {}}]})
        self.cfg_path = os.path.join(self.tmp, "server.json")
        harness.Server(cfg, self.tmp)  # writes server.json

    def run_t(self, *args, config=True):
        argv = [harness.BIN, "-t"] + ([self.cfg_path] if config else []) + list(args)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr

    def explain(self, *args):
        rc, out, err = self.run_t("--explain", *args)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("configuration OK\n"), out)
        return out

    def test_routing_table(self):
        rc, out, err = self.run_t()
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "configuration OK")
        self.assertIn("listen 127.0.0.1:%d" % self.port, lines)
        self.assertIn("  server servers[0]  names: a.example  (default for this address)", lines)
        self.assertIn("  server servers[1]  names: b.example", lines)
        i = lines.index("    location /up  [servers[0].locations[1]]")
        self.assertEqual(lines[i + 1], "      methods: GET, HEAD, POST, PUT, DELETE, OPTIONS")
        self.assertEqual(lines[i + 3], "      modules: 1. static (GET HEAD), 2. upload (POST PUT DELETE)")
        j = lines.index("    location /  [servers[0].locations[0]]")
        self.assertEqual(lines[j + 3], "      modules: 1. static (GET HEAD), 2. autoindex (GET HEAD)")
        self.assertLess(i, j, "locations are listed longest prefix first")
        self.assertIn("      methods: GET, HEAD, OPTIONS", lines[lines.index("    location /ro  [servers[0].locations[3]]") + 1])
        k = lines.index("    location /old  [servers[0].locations[2]]")
        self.assertEqual(lines[k + 2], "      return: 301 /new")

    def test_file_served_by_static(self):
        out = self.explain("GET", "/a.txt")
        self.assertIn("server:   servers[0]: no Host given", out)
        self.assertIn("location: / [servers[0].locations[0]]", out)
        self.assertIn("file:     %s/a.txt: a regular file" % self.root, out)
        self.assertIn("  1. static: match() takes the request", out)
        self.assertIn("answer:   module static", out)

    def test_directory_index_and_autoindex(self):
        out = self.explain("GET", "/dir/")
        self.assertIn("index.html is the folder's index file; dispatched as /dir/index.html", out)
        self.assertIn("answer:   module static", out)
        out = self.explain("GET", "/bare/")
        self.assertIn("a folder without an index file", out)
        self.assertIn("  1. static: match() declines", out)
        self.assertIn("  2. autoindex: match() takes the request", out)
        self.assertIn("answer:   module autoindex", out)

    def test_slash_redirect(self):
        out = self.explain("GET", "/bare?x=1")
        self.assertIn("answer:   301 by the core, Location: /bare/?x=1", out)

    def test_missing_file(self):
        out = self.explain("GET", "/nothing.txt")
        self.assertIn("nothing there", out)
        self.assertIn("answer:   404 by the core", out)

    def test_host_picks_server(self):
        out = self.explain("GET", "/b.txt", "B.Example:%d" % self.port)
        self.assertIn("listen:   127.0.0.1:%d: the listen address on the Host's port" % self.port, out)
        self.assertIn('server:   servers[1]: "b.example" is one of its server_names', out)
        self.assertIn("answer:   module static", out)
        out = self.explain("GET", "/b.txt", "unknown.example")
        self.assertIn("servers[0]: no server on this address is named \"unknown.example\"", out)
        self.assertIn("answer:   404 by the core", out)
        out = self.explain("GET", "http://b.example:%d/b.txt" % self.port)
        self.assertIn("servers[1]", out)
        out = self.explain("GET", "/", "a.example:1")
        self.assertIn("nothing listens on port 1", out)

    def test_upload_and_methods(self):
        out = self.explain("PUT", "/up/new.txt")
        self.assertIn("  1. static: not asked: it does not handle PUT", out)
        self.assertIn("  2. upload: match() takes the request", out)
        self.assertIn("answer:   module upload", out)
        self.assertFalse(os.path.exists(os.path.join(self.root, "up", "new.txt")), "explain must not handle")
        self.assertEqual(os.listdir(os.path.join(self.root, "up")), [])
        out = self.explain("DELETE", "/a.txt")
        self.assertIn("answer:   405 by the core, Allow: GET, HEAD, OPTIONS", out)
        out = self.explain("BREW", "/a.txt")
        self.assertIn("answer:   501 by the core", out)
        out = self.explain("OPTIONS", "/up/x")
        self.assertIn("answer:   204 by the core, Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS", out)

    def test_return(self):
        out = self.explain("POST", "/old/x")
        self.assertIn("location: /old [servers[0].locations[2]]", out)
        self.assertIn('answer:   301 by the core ("return"), Location: /new', out)

    def test_bad_path(self):
        out = self.explain("GET", "/a/%00b")
        self.assertIn("answer:   400 by the core", out)

    def test_usage_errors(self):
        rc, out, err = self.run_t("--explain", "GET")
        self.assertEqual(rc, 2)
        self.assertIn("--explain needs METHOD and URL", err)
        rc, out, err = self.run_t("--explain", "GET", "no-slash")
        self.assertEqual(rc, 2)
        self.assertIn("not a path", err)
        rc, out, err = self.run_t("--explain", "G(T", "/")
        self.assertEqual(rc, 2)

    def test_config_after_explain(self):
        """An existing file after METHOD URL is the config, not a HOST."""
        rc, out, err = self.run_t("--explain", "GET", "/a.txt", self.cfg_path, config=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("answer:   module static", out)

    def test_invalid_config(self):
        with open(self.cfg_path, "w") as f:
            f.write('{"servers": 5}')
        rc, out, err = self.run_t("--explain", "GET", "/")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")


if __name__ == "__main__":
    harness.main()

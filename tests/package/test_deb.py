"""`make deb` (scripts/make-deb.sh, cmake/deb.cmake): the Debian package holds
the binary, the modules, the SDK, the man page, the systemd unit, the
logrotate file, the default config and page, and maintainer scripts that
create the system user; lintian finds no error; unpacked into a scratch root
(dpkg -x), its binary serves the default page with the shipped config (paths
moved into the scratch root, a free loopback port)."""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BUILD = os.environ.get("WEBSERV_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("WEBSERV_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
MODULES = os.environ.get("WEBSERV_MODULES", os.path.join(BUILD, "modules"))
DEB_BUILD = os.path.join(BUILD, "deb-package")
MULTIARCH = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                           text=True).stdout.strip() or "x86_64-linux-gnu"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = subprocess.run([os.path.join(SRC, "scripts/make-deb.sh"), DEB_BUILD], capture_output=True, text=True,
                           timeout=1500)
        if p.returncode != 0:
            raise AssertionError("make-deb.sh failed:\n%s\n%s" % (p.stdout[-3000:], p.stderr[-3000:]))
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            version = [ln.split("VERSION")[1].split()[0] for ln in f if ln.startswith("project(")][0]
        cls.deb = os.path.join(DEB_BUILD, "webserv_%s_amd64.deb" % version)
        assert p.stdout.strip() == cls.deb, (p.stdout, cls.deb)
        cls.root = tempfile.mkdtemp(prefix="webserv-deb-")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        cls.files = set(subprocess.run(["dpkg-deb", "-c", cls.deb], capture_output=True, text=True,
                                       check=True).stdout.split())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def control(self, name):
        out = os.path.join(self.root, "..", os.path.basename(self.root) + "-control")
        subprocess.run(["dpkg-deb", "-e", self.deb, out], check=True)
        try:
            with open(os.path.join(out, name)) as f:
                return f.read()
        finally:
            shutil.rmtree(out)

    def test_file_list(self):
        lib = "./usr/lib/%s" % MULTIARCH
        want = ["./usr/bin/webserv", "./usr/include/webserv/module.h", "./usr/include/webserv/testhost.h",
                lib + "/libwebserv-testhost.a", lib + "/pkgconfig/webserv.pc", lib + "/pkgconfig/webserv-testhost.pc",
                lib + "/cmake/webserv/webservConfig.cmake", lib + "/cmake/webserv/webservConfigVersion.cmake",
                "./usr/share/man/man8/webserv.8.gz", "./lib/systemd/system/webserv.service",
                "./etc/logrotate.d/webserv", "./etc/webserv/server.json", "./usr/share/webserv/server.schema.json",
                "./usr/share/webserv/html/index.webserv-debian.html", "./usr/share/doc/webserv/copyright",
                "./usr/share/doc/webserv/changelog.gz"]
        for so in sorted(os.listdir(MODULES)):
            if so.endswith(".so"):
                want.append("%s/webserv/modules/%s" % (lib, so))
        missing = [w for w in want if w not in self.files]
        self.assertEqual(missing, [], "missing from the package")
        self.assertFalse([f for f in self.files if f.startswith("./usr/local") or f.startswith("./usr/etc")])
        self.assertFalse([f for f in self.files if f.startswith("./var/")], "nothing shipped under /var")

    def test_control_and_scripts(self):
        control = self.control("control")
        self.assertIn("Package: webserv", control)
        self.assertRegex(control, r"Depends: .*adduser")
        self.assertRegex(control, r"Depends: .*libjansson4")
        self.assertEqual(sorted(self.control("conffiles").split()), ["/etc/logrotate.d/webserv",
                                                                     "/etc/webserv/server.json"])
        postinst = self.control("postinst")
        self.assertIn("adduser --system", postinst)
        self.assertIn("/var/log/webserv", postinst)
        self.assertIn("index.webserv-debian.html", postinst)
        for script in ("postinst", "prerm", "postrm"):
            p = subprocess.run(["sh", "-n"], input=self.control(script), text=True, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.root, "lib/systemd/system/webserv.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/webserv /etc/webserv/server.json", unit)
        self.assertIn("User=webserv", unit)
        self.assertNotIn("/usr/local", unit)

    def test_lintian_no_errors(self):
        p = subprocess.run(["lintian", "--fail-on", "error", self.deb], capture_output=True, text=True, timeout=600)
        tags = [ln for ln in p.stdout.splitlines() if ln[:2] in ("E:", "W:", "I:", "N:")]
        print("lintian: %d findings (%d errors, %d warnings)" % (
            len(tags), sum(t.startswith("E:") for t in tags), sum(t.startswith("W:") for t in tags)))
        for t in tags:
            print("  " + t)
        self.assertEqual([t for t in tags if t.startswith("E:")], [])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_installed_binary_serves_the_default_page(self):
        r = self.root
        # What postinst does on a real install: the default page into /var/www/html, the log folder.
        www = os.path.join(r, "var/www/html")
        os.makedirs(www)
        shutil.copy(os.path.join(r, "usr/share/webserv/html/index.webserv-debian.html"), www)
        os.makedirs(os.path.join(r, "var/log/webserv"))
        with open(os.path.join(r, "etc/webserv/server.json")) as f:
            cfg = json.load(f)
        # The shipped config, moved into the scratch root, on a free loopback port.
        port = free_port()
        cfg["$schema"] = os.path.join(r, cfg["$schema"].lstrip("/"))
        cfg["workers"] = 2
        for k in ("error_log", "access_log"):
            cfg[k] = os.path.join(r, cfg[k].lstrip("/"))
        srv = cfg["servers"][0]
        self.assertEqual(srv["root"], "/var/www/html")
        srv["root"] = www
        srv["listen"] = ["127.0.0.1:%d" % port]
        path = os.path.join(r, "etc/webserv/test.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        binary = os.path.join(r, "usr/bin/webserv")
        p = subprocess.run([binary, "-t", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The installed schema describes the installed modules, and the shipped config follows it.
        with open(os.path.join(r, "usr/share/webserv/server.schema.json")) as f:
            schema = json.load(f)
        self.assertIn("static", schema["$defs"]["location"]["properties"])
        proc = subprocess.Popen([binary, path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            body = None
            deadline = time.time() + 20
            while time.time() < deadline and body is None:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as resp:
                        self.assertEqual(resp.status, 200)
                        body = resp.read().decode()
                except OSError:
                    if proc.poll() is not None:
                        self.fail("webserv exited: %s" % proc.stderr.read().decode())
                    time.sleep(0.1)
            self.assertIsNotNone(body, "no answer on port %d" % port)
            self.assertIn("Welcome to webserv", body)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=30), 0)
            proc.stderr.close()
        with open(os.path.join(r, "var/log/webserv/access.log")) as f:
            self.assertIn('"GET / HTTP/1.1" 200', f.read())

    def test_sdk_pkg_config_points_into_the_install(self):
        pc = os.path.join(self.root, "usr/lib/%s/pkgconfig" % MULTIARCH)
        env = dict(os.environ, PKG_CONFIG_PATH=pc)
        p = subprocess.run(["pkg-config", "--cflags", "webserv"], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        inc = p.stdout.split()[0][2:]
        self.assertTrue(os.path.isfile(os.path.join(inc, "webserv/module.h")), p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

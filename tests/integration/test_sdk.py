"""The module SDK end to end (docs/modules.md): `cmake --install` into a
temporary prefix, build examples/modules/hello and status out of tree with
pkg-config and with CMake (find_package(webserv)), run hello's cmocka test
against the installed test host, then load the modules into a real server."""
import json
import os
import re
import shutil
import subprocess

import harness

BUILD = os.environ.get("WEBSERV_BUILD", os.path.join(harness.SRC, "build"))
EXAMPLES = os.path.join(harness.SRC, "examples", "modules")


def run(argv, cwd, env, shell=False):
    p = subprocess.run(argv, cwd=cwd, env=env, shell=shell, capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        raise AssertionError("%r failed (%d):\n%s\n%s" % (argv, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


class SdkCase(harness.ServerTestCase):
    """A test with the SDK installed into a temporary prefix (cmake --install of the
    build under test), its pkg-config and CMake folders in self.env; no tests of its own."""

    def setUp(self):
        super().setUp()
        self.prefix = os.path.join(self.tmp, "prefix")
        run(["cmake", "--install", BUILD, "--prefix", self.prefix], self.tmp, dict(os.environ))
        pcs = [os.path.join(d, "webserv.pc") for d, _, files in os.walk(self.prefix) if "webserv.pc" in files]
        self.assertEqual(len(pcs), 1, pcs)
        self.pcdir = os.path.dirname(pcs[0])
        self.env = dict(os.environ)
        self.env["PKG_CONFIG_PATH"] = self.pcdir
        self.env["CMAKE_PREFIX_PATH"] = self.prefix
        self.env.pop("MAKEFLAGS", None)
        self.installed_bin = os.path.join(self.prefix, "bin", "webserv")

    def copy_example(self, name, dest):
        d = os.path.join(self.tmp, dest)
        shutil.copytree(os.path.join(EXAMPLES, name), d)
        return d

    def make_example(self, name, dest, tests_run):
        """A copy of example `name` built with its Makefile (pkg-config) after `make check`
        ran its test-host tests (tests_run of them); returns the folder."""
        d = self.copy_example(name, dest)
        out = run(["make", "check", "CFLAGS=-O2 -Wall -Wextra -Werror"], d, self.env)
        self.assertIn("%d test(s) run" % tests_run, out)
        run(["make", "CFLAGS=-O2 -Wall -Wextra -Werror"], d, self.env)
        return d

    def cmake_example(self, name, dest, ctest=False):
        """A copy of example `name` built with CMake (find_package(webserv)), its ctest
        run and passed when asked; returns the build folder."""
        src = self.copy_example(name, dest)
        b = os.path.join(src, "build")
        run(["cmake", "-S", src, "-B", b, "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"], src, self.env)
        run(["cmake", "--build", b], src, self.env)
        if ctest:
            self.assertIn("100% tests passed", run(["ctest", "--output-on-failure"], b, self.env))
        return b

    def pkg(self, *args):
        return run(["pkg-config", *args], self.tmp, self.env).strip()


class SdkTest(SdkCase):

    def test_installed_files(self):
        inc = os.path.join(self.prefix, "include", "webserv")
        for f in ("module.h", "testhost.h"):
            self.assertTrue(os.path.isfile(os.path.join(inc, f)), f)
        libdir = os.path.dirname(self.pcdir)
        self.assertTrue(os.path.isfile(os.path.join(libdir, "libwebserv-testhost.a")))
        self.assertTrue(os.path.isfile(os.path.join(self.pcdir, "webserv-testhost.pc")))
        self.assertTrue(os.path.isfile(os.path.join(libdir, "cmake", "webserv", "webservConfig.cmake")))
        moduledir = self.pkg("--variable=moduledir", "webserv")
        self.assertEqual(os.path.realpath(moduledir), os.path.realpath(os.path.join(libdir, "webserv", "modules")))
        self.assertTrue(os.path.isfile(os.path.join(moduledir, "mod_static.so")))
        self.assertEqual(os.path.realpath(self.pkg("--variable=includedir", "webserv")),
                         os.path.realpath(os.path.join(self.prefix, "include")))
        self.assertIn("-lwebserv-testhost", self.pkg("--libs", "webserv-testhost"))
        self.assertIn("-ljansson", self.pkg("--libs", "webserv-testhost"))
        with open(os.path.join(inc, "module.h")) as f:
            self.assertIn("#define WS_EXPORT", f.read())

    def test_build_out_of_tree_and_serve(self):
        # pkg-config: the one-liner for hello, the Makefile (and make check / make install) too.
        hello_pc = self.copy_example("hello", "hello-pc")
        run("cc -shared -fPIC -Wall -Wextra -Werror $(pkg-config --cflags webserv) hello.c -o mod_hello.so",
            hello_pc, self.env, shell=True)
        self.assertTrue(os.path.isfile(os.path.join(hello_pc, "mod_hello.so")))
        out = run(["make", "check", "CFLAGS=-O2 -Wall -Wextra -Werror"], hello_pc, self.env)
        self.assertIn("3 test(s) run", out)
        run(["make", "install"], hello_pc, self.env)
        moduledir = self.pkg("--variable=moduledir", "webserv")
        self.assertTrue(os.path.isfile(os.path.join(moduledir, "mod_hello.so")))
        status_pc = self.copy_example("status", "status-pc")
        run(["make", "CFLAGS=-O2 -Wall -Wextra -Werror"], status_pc, self.env)

        # CMake: find_package(webserv) + webserv_add_module, and hello's ctest.
        built = {}
        for name in ("hello", "status"):
            b = self.cmake_example(name, name + "-cmake", ctest=name == "hello")
            so = os.path.join(b, "mod_%s.so" % name)
            self.assertTrue(os.path.isfile(so), os.listdir(b))
            nm = run(["nm", "-D", "--defined-only", so], b, self.env)
            exported = [ln.split()[-1] for ln in nm.splitlines() if ln.split()[1:2] and ln.split()[1] in "TDBR"]
            self.assertEqual(exported, ["webserv_module"], "hidden visibility: only the descriptor is exported")
            built[name] = so

        # 1. The installed server: bare names from its own module folder
        #    (hello was `make install`ed there), status by path.
        self.write("a.txt", "static file\n")
        cfg = {"modules": ["static", "hello", built["status"]],
               "servers": [{"listen": "127.0.0.1:%d" % self.port, "root": self.root, "locations": [
                   {"path": "/", "static": {}},
                   {"path": "/hello", "hello": {"greeting": "Hi"}},
                   {"path": "/status", "status": {"format": "json"}}]}]}
        s = harness.Server(cfg, self.tmp)
        self.servers.append(s)
        harness.BIN, saved = self.installed_bin, harness.BIN
        try:
            s.start(wait_ports=[("127.0.0.1", self.port)])
        finally:
            harness.BIN = saved
        self.check_serving(text_status=False)
        s.stop()

        # 2. The server under test with the other two builds, by path.
        cfg = {"modules": ["static", built["hello"], os.path.join(status_pc, "mod_status.so")],
               "modules_dir": harness.MODULES,
               "servers": [{"listen": "127.0.0.1:%d" % self.port, "root": self.root, "locations": [
                   {"path": "/", "static": {}},
                   {"path": "/hello", "hello": {"greeting": "Hi"}},
                   {"path": "/status", "status": {}}]}]}
        self.start(cfg)
        self.check_serving(text_status=True)

    def test_tutorial_commands_as_written(self):
        """docs/modules.md §1: the tutorial's hello.c and its build command, verbatim."""
        with open(os.path.join(harness.SRC, "docs", "modules.md")) as f:
            doc = f.read()
        step1 = doc[doc.index("### Step 1"):doc.index("### Step 2")]
        step2 = doc[doc.index("### Step 2"):doc.index("### Step 3")]
        source = re.search(r"```c\n(.*?)```", step1, re.S).group(1)
        command = re.search(r"```sh\n(.*?)\n```", step2, re.S).group(1)
        self.assertIn("-std=c11", command)
        d = os.path.join(self.tmp, "tutorial")
        os.makedirs(d)
        with open(os.path.join(d, "hello.c"), "w") as f:
            f.write(source)
        run(command, d, self.env, shell=True)
        self.assertTrue(os.path.isfile(os.path.join(d, "mod_hello.so")))
        # And with every warning as an error, as a careful user would.
        run(command.replace("cc ", "cc -Wall -Wextra -Werror ", 1), d, self.env, shell=True)

    def test_pkg_config_and_cmake_use_the_same_flags(self):
        """A module using GNU functions of the C library builds under -std=c11 -Werror both ways."""
        self.assertIn("-D_GNU_SOURCE", self.pkg("--cflags", "webserv").split())
        d = os.path.join(self.tmp, "gnu")
        os.makedirs(d)
        with open(os.path.join(d, "gnu.c"), "w") as f:
            f.write("#include <string.h>\n#include <fcntl.h>\n#include <unistd.h>\n#include <webserv/module.h>\n"
                    "int gnu_only(const char *a) { int p[2]; return pipe2(p, O_CLOEXEC) + "
                    "(strcasestr(a, \"x\") != 0) + (memmem(a, 1, \"y\", 1) != 0); }\n"
                    "WS_EXPORT const ws_module webserv_module = { WS_MODULE_HEADER, .name = \"gnu\" };\n")
        with open(os.path.join(d, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.16)\nproject(gnu LANGUAGES C)\n"
                    "find_package(webserv 1 REQUIRED)\nwebserv_add_module(gnu gnu.c)\n")
        run("cc -std=c11 -Wall -Wextra -Werror -shared -fPIC $(pkg-config --cflags webserv) gnu.c -o mod_gnu.so",
            d, self.env, shell=True)
        b = os.path.join(d, "build")
        run(["cmake", "-S", d, "-B", b, "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"], d, self.env)
        run(["cmake", "--build", b], d, self.env)
        self.assertTrue(os.path.isfile(os.path.join(b, "mod_gnu.so")))

    def test_kv_example_out_of_tree(self):
        """examples/modules/kv: make check and ctest against the installed test host, then serve."""
        kv_pc = self.make_example("kv", "kv-pc", 5)
        b = self.cmake_example("kv", "kv-cmake", ctest=True)
        for so in (os.path.join(kv_pc, "mod_kv.so"), os.path.join(b, "mod_kv.so")):
            cfg = {"modules": [so], "workers": 2,
                   "servers": [{"listen": "127.0.0.1:%d" % self.port, "locations": [
                       {"path": "/kv", "kv": {"size": "256K"}}]}]}
            s = self.start(cfg)
            self.assertEqual(self.request("PUT", "/kv/a", body=b"1")[0].status, 201)
            r, body = self.request("GET", "/kv/a")
            self.assertEqual((r.status, body), (200, b"1"))
            s.stop()
            self.servers.remove(s)

    def test_websocket_echo_example_out_of_tree(self):
        """examples/modules/websocket-echo (ABI 1.3, libcrypto): make check and CMake against the
        installed SDK, then the built module answers a WebSocket handshake in a real server."""
        pc = self.make_example("websocket-echo", "wse-pc", 6)
        b = self.cmake_example("websocket-echo", "wse-cmake", ctest=True)
        for so in (os.path.join(pc, "mod_websocket_echo.so"), os.path.join(b, "mod_websocket_echo.so")):
            cfg = {"modules": [so], "servers": [{"listen": "127.0.0.1:%d" % self.port, "locations": [
                {"path": "/ws", "websocket_echo": {}}]}]}
            s = self.start(cfg)
            # a masked text frame "hi" right behind the handshake, then a close
            data = self.raw(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                            b"\x81\x82\x00\x00\x00\x00hi\x88\x80\x00\x00\x00\x00")
            self.assertTrue(data.startswith(b"HTTP/1.1 101 "), data[:60])
            self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", data)
            self.assertTrue(data.endswith(b"\r\n\r\n\x81\x02hi\x88\x00"), data[-20:])
            s.stop()
            self.servers.remove(s)

    def status_json(self):
        r, body = self.request("GET", "/status?format=json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        return json.loads(body)

    def check_serving(self, text_status):
        r, body = self.request("GET", "/hello/world")
        self.assertEqual((r.status, body), (200, b"Hi from /hello/world\n"))
        self.assertEqual(r.getheader("Content-Type"), "text/plain; charset=utf-8")
        r, body = self.request("HEAD", "/hello/x")
        self.assertEqual((r.status, body), (200, b""))
        self.assertEqual(self.request("POST", "/hello/x", body=b"x")[0].status, 501)  # no loaded module does POST
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"static file\n")

        before = self.status_json()
        for k in ("active", "reading", "writing", "idle", "accepted"):
            self.assertIn(k, before["connections"])
        self.assertGreaterEqual(before["connections"]["active"], 1)
        self.assertGreaterEqual(before["uptime_seconds"], 0)
        for _ in range(3):
            self.assertEqual(self.request("GET", "/hello/again")[0].status, 200)
        self.request("GET", "/a.txt")
        after = self.status_json()
        self.assertEqual(after["modules"]["hello"] - before["modules"]["hello"], 3)
        self.assertEqual(after["modules"]["static"] - before["modules"]["static"], 1)
        self.assertEqual(after["modules"]["status"] - before["modules"]["status"], 1)
        self.assertGreaterEqual(after["requests"] - before["requests"], 5)
        self.assertGreater(after["connections"]["accepted"], before["connections"]["accepted"])

        r, body = self.request("GET", "/status", headers={} if text_status else {"Accept": "text/plain"})
        text = body.decode()
        if text_status:
            self.assertEqual(r.getheader("Content-Type"), "text/plain; charset=utf-8")
            self.assertIn("Active connections: ", text)
            self.assertRegex(text, r"Reading: \d+ Writing: \d+ Idle: \d+")
            self.assertRegex(text, r"\n  hello %d\n" % after["modules"]["hello"])
        else:
            json.loads(body)  # "format": "json" is this location's default
        r, body = self.request("GET", "/status", headers={"Accept": "application/json"})
        self.assertEqual(r.getheader("Content-Type"), "application/json")


if __name__ == "__main__":
    harness.main()

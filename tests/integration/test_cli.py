"""SPEC §2 and §3: command line, exit statuses, config errors that name the
file and JSON path, signals (reload, graceful stop, SIGPIPE), logs."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import harness


def run(*args, cwd=None):
    return subprocess.run([harness.BIN, *args], capture_output=True, text=True, timeout=20, cwd=cwd)


class CliTest(harness.ServerTestCase):
    def cfg_file(self, cfg, name="server.json"):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg, indent=2))
        return p

    def test_help_and_version(self):
        for a in ("-h", "--help"):
            p = run(a)
            self.assertEqual(p.returncode, 0)
            self.assertIn("usage: webserv", p.stdout)
        for a in ("-v", "--version"):
            p = run(a)
            self.assertEqual(p.returncode, 0)
            self.assertRegex(p.stdout, r"^webserv \d+\.\d+\.\d+ \(module ABI \d+\.\d+\)\n$")

    def test_bad_usage_is_2(self):
        self.assertEqual(run("--bogus").returncode, 2)
        self.assertEqual(run("a.json", "b.json").returncode, 2)

    def test_check_good_config(self):
        p = run("-t", self.cfg_file(self.base_config()))
        self.assertEqual((p.returncode, p.stdout.splitlines()[0]), (0, "configuration OK"), p.stderr)

    def test_default_config_is_conf_server_json_in_cwd(self):
        os.makedirs(os.path.join(self.tmp, "conf"))
        cfg = self.base_config()
        cfg["servers"][0]["root"] = "../www"
        self.cfg_file(cfg, "conf/server.json")
        p = run("-t", cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run("-t", cwd=self.root)
        self.assertEqual(p.returncode, 1)
        self.assertIn("conf/server.json", p.stderr)

    def test_config_errors_name_file_and_path(self):
        good = self.base_config()
        cases = []
        c = json.loads(json.dumps(good)); c["servers"][0]["locations"][0]["bogus"] = 1
        cases.append((c, "servers[0].locations[0].bogus"))
        c = json.loads(json.dumps(good)); c["timeouts"] = {"header": "ten"}
        cases.append((c, "timeouts.header"))
        c = json.loads(json.dumps(good)); c["servers"][0]["client_max_body_size"] = "10X"
        cases.append((c, "servers[0].client_max_body_size"))
        c = json.loads(json.dumps(good)); del c["servers"][0]["listen"]
        cases.append((c, "servers[0]"))
        c = json.loads(json.dumps(good)); c["modules"] = ["nosuchmodule"]
        cases.append((c, "mod_nosuchmodule.so"))
        c = json.loads(json.dumps(good)); c["servers"][0]["locations"][0]["static"] = {"x": 1}
        cases.append((c, "servers[0].locations[0].static.x"))
        for cfg, needle in cases:
            path = self.cfg_file(cfg)
            p = run("-t", path)
            self.assertEqual(p.returncode, 1, needle)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertIn(path, lines[0])
            self.assertIn(needle, lines[0])
            self.assertEqual(run(path).returncode, 1)  # nothing served with a half-valid config

    def test_json_syntax_error_has_line_and_column(self):
        path = self.cfg_file('{\n  "servers": [\n    { "listen": 80, }\n  ]\n}\n')
        p = run("-t", path)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, re.escape(path) + r":3:\d+: ")

    def test_missing_config(self):
        p = run("-t", os.path.join(self.tmp, "nope.json"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.json", p.stderr)

    def test_duplicate_server_names_on_one_address(self):
        """Regression: two servers on the same address and port with the same names must be a startup error."""
        cfg = self.base_config(server_names=["a.test"])
        cfg["servers"].append(dict(cfg["servers"][0], server_names=["b.test", "A.TEST"]))
        p = run("-t", self.cfg_file(cfg))
        self.assertEqual(p.returncode, 1)
        self.assertIn("servers[0]", p.stderr)
        self.assertIn("servers[1]", p.stderr)
        cfg = self.base_config()
        cfg["servers"].append(dict(cfg["servers"][0]))  # both without names
        p = run("-t", self.cfg_file(cfg))
        self.assertEqual(p.returncode, 1)

    def test_address_in_use_is_exit_1(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            cfg = self.base_config(listen="127.0.0.1:%d" % s.getsockname()[1])
            p = run(self.cfg_file(cfg))
            self.assertEqual(p.returncode, 1)
            self.assertIn("127.0.0.1:%d" % s.getsockname()[1], p.stderr)

    def test_relative_paths_from_config_folder(self):
        self.write("rel.txt", "relative")
        cfg = self.base_config(root="www")
        sub = os.path.join(self.tmp, "sub")
        os.makedirs(sub)
        cfg["servers"][0]["root"] = "../www"
        s = harness.Server(cfg, sub)
        self.servers.append(s)
        s.start(wait_ports=[("127.0.0.1", self.port)])
        r, body = self.request("GET", "/rel.txt")
        self.assertEqual(body, b"relative")


class SignalTest(harness.ServerTestCase):
    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            s = self.start()
            s.signal(sig)
            s.proc.wait(timeout=10)
            self.assertEqual(s.proc.returncode, 0)

    def test_sighup_reload(self):
        self.write("a.txt", "one")
        other = os.path.join(self.tmp, "www2")
        os.makedirs(other)
        with open(os.path.join(other, "a.txt"), "w") as f:
            f.write("two")
        s = self.start()
        c = self.conn()
        c.request("GET", "/a.txt")
        self.assertEqual(c.getresponse().read(), b"one")
        cfg = self.base_config(root=other)
        s.write_config(cfg)
        s.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reloaded" not in s.stderr() and time.time() < deadline:
            time.sleep(0.05)
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"two")
        c.request("GET", "/a.txt")  # an older keep-alive connection sees the new config too
        self.assertEqual(c.getresponse().read(), b"two")
        # A bad config keeps the old one, and says why.
        s.write_config('{"servers": [ {"listen": 1, "bogus": true} ]}')
        s.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reload failed" not in s.stderr() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("reload failed", s.stderr())
        self.assertIn("servers[0].bogus", s.stderr())
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"two")
        # A new listen address appears, the old one goes.
        port2 = harness.free_port()
        s.write_config(self.base_config(root=other, listen="127.0.0.1:%d" % port2))
        s.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port2), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        r, body = self.request("GET", "/a.txt", port=port2)
        self.assertEqual(body, b"two")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()

    def test_sigpipe_never_kills(self):
        self.write("big.bin", b"z" * (8 * 1024 * 1024))
        s = self.start()
        for _ in range(20):
            k = socket.create_connection(("127.0.0.1", self.port))
            k.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            k.recv(100)
            k.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            k.close()
        time.sleep(0.3)
        self.assertIsNone(s.proc.poll())
        self.assertEqual(self.request("GET", "/big.bin")[0].status, 200)


class LogTest(harness.ServerTestCase):
    def test_access_log_combined_format(self):
        self.write("a.txt", "hello")
        log = os.path.join(self.tmp, "access.log")
        s = self.start(self.base_config() | {"access_log": log})
        self.request("GET", "/a.txt", headers={"Referer": "http://r.test/", "User-Agent": 'ua "quoted"'})
        self.request("GET", "/missing")
        s.stop()
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        rx = r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /a\.txt HTTP/1\.1" 200 5 "http://r\.test/" "ua \\x22quoted\\x22"$'
        self.assertRegex(lines[0], rx)
        self.assertRegex(lines[1], r'"GET /missing HTTP/1\.1" 404 \d+ "-" "')

    def test_error_log_file_and_level(self):
        log = os.path.join(self.tmp, "error.log")
        s = self.start(self.base_config() | {"error_log": log, "log_level": "warn"})
        s.stop()
        with open(log) as f:
            text = f.read()
        self.assertNotIn("[info]", text)  # info lines are below "warn"
        log2 = os.path.join(self.tmp, "error2.log")
        s = self.start(self.base_config() | {"error_log": log2, "log_level": "info"})
        s.stop()
        with open(log2) as f:
            line = f.readline()
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[info\] \[WS\d{4}\] ")


if __name__ == "__main__":
    harness.main()

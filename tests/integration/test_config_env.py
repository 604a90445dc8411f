"""SPEC §6 config environment: "${NAME}", "${NAME:-default}" and "$$" in config
strings, expanded from the server's environment at start, at -t and at every
reload; an unset variable without a default is an error naming the JSON path."""
import os
import signal
import subprocess
import time

import harness


def wait_stderr(server, text, before=0, timeout=5.0):
    deadline = time.time() + timeout * harness.SLOW
    while server.stderr().count(text) <= before and time.time() < deadline:
        time.sleep(0.05)
    return server.stderr().count(text) > before


class ConfigEnvTest(harness.ServerTestCase):
    def make_root(self, name, text):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "a.txt"), "w") as f:
            f.write(text)
        return d

    def env_config(self, root_expr, body_expr="price: $$5, $1"):
        cfg = self.base_config(locations=[{"path": "/", "static": {}},
                                          {"path": "/note", "return": {"status": 200, "body": body_expr}}],
                               root=root_expr)
        cfg["servers"][0]["listen"] = ["127.0.0.1:${WS_TEST_PORT}"]
        cfg["$schema"] = "server.schema.json"  # editors' key: accepted and ignored
        return cfg

    def test_start_and_reload(self):
        one = self.make_root("one", "one")
        two = self.make_root("two", "two")
        s = self.start(self.env_config("${WS_TEST_ROOT}"),
                       env={"WS_TEST_ROOT": one, "WS_TEST_PORT": str(self.port), "WS_TEST_UNSET": ""})
        r, body = self.request("GET", "/a.txt")
        self.assertEqual((r.status, body), (200, b"one"))
        r, body = self.request("GET", "/note")
        self.assertEqual(body, b"price: $5, $1")

        # Reload: the new file is expanded too (here through a default).
        reloaded = s.stderr().count("reloaded")
        s.write_config(self.env_config("${WS_TEST_NOT_SET:-%s}" % two, "${WS_TEST_NOT_SET:-fallback body}"))
        s.signal(signal.SIGHUP)
        self.assertTrue(wait_stderr(s, "reloaded", reloaded), s.stderr())
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"two")
        r, body = self.request("GET", "/note")
        self.assertEqual(body, b"fallback body")

        # An unset variable without default: the reload fails naming the path; the old config stays.
        failed = s.stderr().count("reload failed")
        s.write_config(self.env_config("${WS_TEST_NOT_SET}"))
        s.signal(signal.SIGHUP)
        self.assertTrue(wait_stderr(s, "reload failed", failed), s.stderr())
        self.assertIn("servers[0].root: environment variable WS_TEST_NOT_SET is not set", s.stderr())
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"two")

    def test_check_reports_path(self):
        cfg = self.env_config("${WS_TEST_ROOT}")
        s = harness.Server(cfg, self.tmp)
        env = dict(os.environ, WS_TEST_PORT=str(self.port))
        env.pop("WS_TEST_ROOT", None)
        p = subprocess.run([harness.BIN, "-t", s.config_path], capture_output=True, text=True, env=env, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s: servers[0].root: environment variable WS_TEST_ROOT is not set" % s.config_path, p.stderr)
        env["WS_TEST_ROOT"] = self.root
        p = subprocess.run([harness.BIN, "-t", s.config_path], capture_output=True, text=True, env=env, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout + p.stderr)


if __name__ == "__main__":
    harness.main()

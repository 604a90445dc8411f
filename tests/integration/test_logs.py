"""Issue 9: logs. Combined and JSON access logs, reopening after rotation
(SIGUSR1, also through a master), the error-log line format."""
import json
import os
import re
import signal
import time

import harness

ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[(error|warn|info|debug)\] \[WS\d{4}\] \S.*$")
COMBINED = re.compile(r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(.*)" (\d{3}) (\d+|-) "(.*)" "(.*)"$')


def lines(path):
    try:
        with open(path, "rb") as f:
            return [ln.decode("utf-8") for ln in f.read().splitlines()]
    except FileNotFoundError:
        return []


def wait_for(cond, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


class LogsTest(harness.ServerTestCase):
    modules = ["static"]

    def setUp(self):
        super().setUp()
        self.write("index.html", "home\n")
        self.acc = os.path.join(self.tmp, "access.log")
        self.err = os.path.join(self.tmp, "error.log")

    def config(self, fmt=None, workers=1):
        cfg = self.base_config()
        cfg.update({"access_log": "access.log", "error_log": "error.log", "log_level": "debug", "workers": workers})
        if fmt:
            cfg["access_log_format"] = fmt
        return cfg

    def test_combined_log_format(self):
        self.start(self.config())
        self.request("GET", "/index.html", headers={"Referer": "http://r/x", "User-Agent": 'ua "q" \\'})
        self.raw(b"GET /missing HTTP/1.0\r\n\r\n")
        self.assertTrue(wait_for(lambda: len(lines(self.acc)) == 2))
        first, second = [COMBINED.match(ln) for ln in lines(self.acc)]
        self.assertTrue(first and second, lines(self.acc))
        self.assertEqual(first.group(1), "127.0.0.1")
        self.assertEqual(first.group(3), "GET /index.html HTTP/1.1")
        self.assertEqual((first.group(4), first.group(5)), ("200", "5"))
        self.assertEqual(first.group(6), "http://r/x")
        self.assertEqual(first.group(7), "ua \\x22q\\x22 \\x5c")
        self.assertEqual((second.group(3), second.group(4), second.group(7)), ("GET /missing HTTP/1.0", "404", "-"))

    def test_json_lines(self):
        self.start(self.config("json"))
        self.request("GET", "/index.html?a=1", headers={"User-Agent": 'caf\u00e9 "x" \\ \tz'.encode("utf-8")})
        # Raw bytes a header may carry: invalid UTF-8 and obs-text.
        self.raw(b"GET /nope HTTP/1.1\r\nHost: h\r\nUser-Agent: a\xffb\xc3\r\nReferer: \xe2\x82\xac\r\n"
                 b"Connection: close\r\n\r\n")
        self.raw(b"BAD\r\n\r\n")
        self.assertTrue(wait_for(lambda: len(lines(self.acc)) == 3), lines(self.acc))
        recs = [json.loads(ln) for ln in lines(self.acc)]  # each line is one JSON object
        a, b, c = recs
        self.assertEqual(a["method"], "GET")
        self.assertEqual(a["target"], "/index.html?a=1")
        self.assertEqual(a["protocol"], "HTTP/1.1")
        self.assertEqual(a["request"], "GET /index.html?a=1 HTTP/1.1")
        self.assertEqual((a["status"], a["bytes"]), (200, 5))
        self.assertEqual(a["user_agent"], 'caf\u00e9 "x" \\ \tz')
        self.assertEqual(a["remote_addr"], "127.0.0.1")
        self.assertIsInstance(a["remote_port"], int)
        self.assertIsNone(a["referer"])
        self.assertEqual(a["pid"], self.server.proc.pid)
        self.assertRegex(a["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(b["status"], 404)
        self.assertEqual(b["host"], "h")
        self.assertEqual(b["user_agent"], "a\u00ffb\u00c3")  # bytes that are not UTF-8: \u00XX
        self.assertEqual(b["referer"], "\u20ac")
        self.assertEqual(c["status"], 400)
        self.assertIsNone(c["method"])
        raw_lines = lines(self.acc)
        self.assertNotIn("\t", raw_lines[0])  # control characters are escaped
        self.assertIn("\\u0009", raw_lines[0])

    def test_json_long_fields_stay_one_valid_line(self):
        self.start(self.config("json"))
        ua = ("\u00e9\"" * 3000).encode("utf-8")
        self.raw(b"GET /" + b"a" * 6000 + b" HTTP/1.1\r\nHost: h\r\nUser-Agent: " + ua + b"\r\nConnection: close\r\n\r\n")
        self.assertTrue(wait_for(lambda: len(lines(self.acc)) == 1), lines(self.acc))
        rec = json.loads(lines(self.acc)[0])
        self.assertEqual(rec["status"], 404)
        self.assertLessEqual(len(lines(self.acc)[0]), 8192)

    def test_bad_format_is_a_config_error(self):
        cfg = self.config("xml")
        s = harness.Server(cfg, self.tmp)
        self.assertEqual(s.start(expect_fail=True), 1)
        s.stop()
        self.assertIn("access_log_format", s.stderr())
        self.assertIn('expected "combined" or "json"', s.stderr())

    def rotation(self, workers):
        self.start(self.config("json", workers))
        self.request("GET", "/index.html")
        self.assertTrue(wait_for(lambda: len(lines(self.acc)) == 1))
        os.rename(self.acc, self.acc + ".1")
        os.rename(self.err, self.err + ".1")
        self.request("GET", "/index.html")  # still goes to the renamed file
        self.assertTrue(wait_for(lambda: len(lines(self.acc + ".1")) == 2))
        self.server.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: os.path.exists(self.acc)), "access log not reopened")
        # Every worker has reopened once the file exists for each: send until a
        # line lands in the new file, then check nothing more goes to the old one.
        for _ in range(20):
            self.request("GET", "/index.html")
        self.assertTrue(wait_for(lambda: len(lines(self.acc)) == 20), (len(lines(self.acc)), len(lines(self.acc + ".1"))))
        self.assertEqual(len(lines(self.acc + ".1")), 2)
        self.assertTrue(os.path.exists(self.err))
        # New error-log lines go to the new file too.
        self.server.write_config('{"bogus": ')
        self.server.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: any("reload failed" in ln for ln in lines(self.err))), lines(self.err))
        self.assertFalse(any("reload failed" in ln for ln in lines(self.err + ".1")))

    def test_sigusr1_reopens_logs(self):
        self.rotation(1)

    def test_sigusr1_reopens_logs_in_every_worker(self):
        self.rotation(3)

    def test_error_log_line_format(self):
        self.start(self.config())
        self.server.write_config('{"servers": 1}')
        self.server.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: any("[WS0101]" in ln for ln in lines(self.err))), lines(self.err))
        got = lines(self.err)
        self.assertTrue(got)
        for ln in got:
            self.assertRegex(ln, ERROR_LINE)
        self.assertTrue(any(re.search(r"\[info\] \[WS0106\] webserv \S+ serving", ln) for ln in got), got)
        bad = [ln for ln in got if "[WS0101]" in ln][0]
        self.assertRegex(bad, r"\[error\] \[WS0101\] reload failed, keeping the old configuration: .*server\.json")
        self.assertEqual(self.request("GET", "/index.html")[0].status, 200)


if __name__ == "__main__":
    harness.main()

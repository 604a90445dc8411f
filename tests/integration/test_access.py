"""mod_access: ordered allow/deny rules over IPv4/IPv6 addresses and CIDR
ranges, first match wins, a default otherwise; denied → 403. Config errors
name the rule's JSON path."""
import json
import os
import socket
import subprocess

import harness


def check_config(tmp, cfg):
    """webserv -t on this config: (exit status, stderr)."""
    path = os.path.join(tmp, "check.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([harness.BIN, "-t", path], capture_output=True, timeout=20)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class AccessTest(harness.ServerTestCase):
    modules = ["static", "access"]

    def setUp(self):
        super().setUp()
        self.write("a.txt", "open\n")
        self.write("private/p.txt", "secret\n")

    def cfg(self, access, **server):
        return self.base_config(locations=[{"path": "/", "static": {}},
                                           {"path": "/private", "static": {}, "access": access}], **server)

    def test_first_matching_rule_decides(self):
        self.start(self.cfg({"rules": [{"deny": "127.0.0.2"}, {"allow": "127.0.0.0/8"}, {"deny": "all"}]}))
        r, body = self.request("GET", "/private/p.txt")
        self.assertEqual((r.status, body), (200, b"secret\n"))
        r, _ = self.request("GET", "/a.txt")
        self.assertEqual(r.status, 200)

    def test_deny_is_403_and_other_locations_stay_open(self):
        self.start(self.cfg({"rules": [{"allow": "10.0.0.0/8"}, {"deny": "all"}]}))
        r, _ = self.request("GET", "/private/p.txt")
        self.assertEqual(r.status, 403)
        r, _ = self.request("GET", "/private")  # no 301 revealing the folder before access
        self.assertEqual(r.status, 403)
        r, body = self.request("GET", "/a.txt")
        self.assertEqual(body, b"open\n")

    def test_default(self):
        self.start(self.cfg({"rules": [{"allow": "192.168.0.0/16"}], "default": "deny"}))
        self.assertEqual(self.request("GET", "/private/p.txt")[0].status, 403)

    def test_default_allow_without_rules(self):
        self.start(self.cfg({}))
        self.assertEqual(self.request("GET", "/private/p.txt")[0].status, 200)

    def test_ipv6_client(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback on this machine")
        port6 = harness.free_port("::1", socket.AF_INET6)
        cfg = self.cfg({"rules": [{"allow": "::1/128"}, {"deny": "all"}]},
                       listen=["127.0.0.1:%d" % self.port, "[::1]:%d" % port6])
        self.start(cfg, ports=[("127.0.0.1", self.port), ("::1", port6)])
        data = harness.raw(port6, b"GET /private/p.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", host="::1")
        self.assertEqual(harness.parse_responses(data)[0].status, 200)
        self.assertEqual(self.request("GET", "/private/p.txt")[0].status, 403)

    def test_bad_rules_are_startup_errors_with_their_path(self):
        cases = [
            ({"rules": [{"allow": "10.0.0.0/33"}]}, "servers[0].locations[1].access.rules[0].allow"),
            ({"rules": [{"allow": "all"}, {"deny": "not-an-address"}]}, "rules[1].deny"),
            ({"rules": [{"allow": "all", "deny": "all"}]}, "rules[0]"),
            ({"rules": [{"permit": "all"}]}, "rules[0]"),
            ({"default": "maybe"}, "access.default"),
            ({"rules": "all"}, "access.rules"),
        ]
        for access, where in cases:
            rc, err = check_config(self.tmp, self.cfg(access))
            self.assertEqual(rc, 1, access)
            self.assertIn(where, err, access)


if __name__ == "__main__":
    harness.main()

"""webserv --schema (SPEC §6): the generated JSON Schema (draft 2020-12) is a
valid schema, the build writes it, the demo config follows it, a third-party
module's keys appear in it, and for every key of the core and of every bundled
module the schema and the server's validation agree on a pool of values.
Runs with Debian's python3 (python3-jsonschema)."""
import concurrent.futures
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schema_rules  # noqa: E402

BUILD = os.environ.get("WEBSERV_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("WEBSERV_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BIN = os.environ.get("WEBSERV_BIN", os.path.join(BUILD, "webserv"))
MODULES = os.environ.get("WEBSERV_MODULES", os.path.join(BUILD, "modules"))
TESTMODS = os.environ.get("WEBSERV_TESTMODS", os.path.join(BUILD, "tests/modules"))
# A top-level upstream group for the modules that name one (proxy, fastcgi).
UPSTREAMS = {"app": {"servers": [{"address": "127.0.0.1:9000"}]}}
BUNDLED = sorted(n[4:-3] for n in os.listdir(MODULES) if n.startswith("mod_") and n.endswith(".so"))


def run(*args, **kw):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30, **kw)


def schema_of(config_path):
    p = run("--schema", config_path)
    if p.returncode != 0:
        raise AssertionError("webserv --schema %s: %s" % (config_path, p.stderr))
    return json.loads(p.stdout)


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="webserv-schema-")
        with open(os.path.join(BUILD, "server.schema.json")) as f:
            cls.schema = json.load(f)
        cls.validator = jsonschema.Draft202012Validator(cls.schema)
        cls.errfile = os.path.join(cls.tmp, "err.html")
        with open(cls.errfile, "w") as f:
            f.write("error")
        cls.cfg_path = os.path.join(cls.tmp, "server.json")
        # The smallest settings each module accepts, its required keys filled in: each key is
        # tried beside them (as return's keys are tried beside status and location).
        cls.module_bases = {"auth_basic": {"realm": "r", "user_file": os.path.join(SRC, "conf/demo.htpasswd")},
                            "proxy": {"upstream": "app"}, "fastcgi": {"upstream": "app"}}
        # The same for the objects inside a module's key (a rule, cors): "module.key" → base.
        cls.nested_bases = {"rewrite.rules": {"match": "^/a/(.*)$", "to": "/b"}, "headers.cors": {"origins": "*"}}
        cls.cert, cls.key = os.path.join(cls.tmp, "cert.pem"), os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", cls.key, "-out", cls.cert, "-days", "30", "-subj", "/CN=localhost"],
                       check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.tmp])

    def server_verdict(self, cfg, path=None):
        path = path or self.cfg_path
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = run("-t", path)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return p.returncode == 0, p.stderr.strip().replace(path, self.cfg_path)

    def server_verdicts(self, cfgs):
        """server_verdict of each config, several `webserv -t` at a time (one
        config file per thread): the agreement test starts ~11,000 of them."""
        local = threading.local()

        def one(cfg):
            if not hasattr(local, "path"):
                fd, local.path = tempfile.mkstemp(suffix=".json", dir=self.tmp)
                os.close(fd)
            return self.server_verdict(cfg, local.path)

        # The same config twice (a pool value equal to a base's) is asked once.
        texts = [json.dumps(c, sort_keys=True) for c in cfgs]
        unique = list(dict.fromkeys(texts))
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
            verdict = dict(zip(unique, pool.map(lambda t: one(json.loads(t)), unique)))
        return [verdict[t] for t in texts]

    # ---- the schema itself ----

    def test_build_writes_the_schema_of_every_bundled_module(self):
        jsonschema.Draft202012Validator.check_schema(self.schema)
        self.assertEqual(self.schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
        self.assertEqual(schema_of(os.path.join(BUILD, "schema-modules.json")), self.schema)
        loc = self.schema["$defs"]["location"]["properties"]
        for m in BUNDLED:
            self.assertIn(m, loc)
            self.assertIn("module." + m, self.schema["$defs"])
        # Every core key carries a type (or alternatives) and a description.
        defs = dict(self.schema["$defs"], top=self.schema)
        for scope in ("top", "timeouts", "limits", "server", "location", "return", "location_timeouts", "listen",
                      "tls"):
            for key, prop in defs[scope]["properties"].items():
                if key in BUNDLED:
                    continue
                self.assertTrue(prop.get("description"), "%s.%s" % (scope, key))
                self.assertTrue({"type", "anyOf", "$ref"} & set(prop), "%s.%s: %r" % (scope, key, prop))

    def test_demo_config_validates(self):
        with open(os.path.join(SRC, "conf/server.json")) as f:
            demo = json.load(f)
        self.assertEqual(demo["$schema"], "../build/server.schema.json")
        errors = [e.message for e in self.validator.iter_errors(demo)]
        self.assertEqual(errors, [])

    def test_third_party_module_keys_placed_in_locations(self):
        cfg = {"modules": ["static", os.path.join(TESTMODS, "mod_cfgcheck.so")], "modules_dir": MODULES,
               "servers": [{"listen": "8080"}]}
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)
        s = schema_of(self.cfg_path)
        jsonschema.Draft202012Validator.check_schema(s)
        mod = s["$defs"]["module.cfgcheck"]
        # Exactly the keys its configure() reads, typed by the getter that reads them.
        self.assertEqual(set(mod["properties"]), {"enabled", "count", "limit", "timeout", "name", "dir", "list",
                                                  "map", "fail", "silentfail"})
        self.assertEqual(mod["properties"]["count"], {"type": "integer", "minimum": 0, "maximum": 100})
        self.assertEqual(mod["properties"]["enabled"], {"type": "boolean"})
        self.assertFalse(mod["additionalProperties"])
        self.assertIn("cfgcheck", s["$defs"]["location"]["properties"])
        v = jsonschema.Draft202012Validator(s)
        good = dict(cfg, servers=[{"listen": "8080", "locations": [
            {"path": "/", "cfgcheck": {"count": 3, "enabled": True, "limit": "1K", "map": {"a": "b"}}}]}])
        self.assertTrue(v.is_valid(good))
        self.assertTrue(self.server_verdict(good)[0])
        bad = copy.deepcopy(good)
        bad["servers"][0]["locations"][0]["cfgcheck"]["count"] = 101
        self.assertFalse(v.is_valid(bad))
        self.assertFalse(self.server_verdict(bad)[0])

    def test_schema_cli_errors(self):
        p = run("--schema", os.path.join(self.tmp, "missing.json"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing.json: cannot open", p.stderr)
        with open(self.cfg_path, "w") as f:
            json.dump({"modules": ["nosuchmodule"], "modules_dir": MODULES}, f)
        p = run("--schema", self.cfg_path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("modules[0]", p.stderr)
        p = run("--schema", "-t", self.cfg_path)
        self.assertEqual(p.returncode, 2)

    # ---- agreement: every key, both ways ----

    def base(self):
        return {"modules": list(BUNDLED), "modules_dir": MODULES,
                "servers": [{"listen": "127.0.0.1:8080", "root": self.tmp}]}

    def pool(self, prop):
        vals = [True, False, None, 0, 1, -1, 2, 1.5, 255, 256, 65535, 65536, 1000000000, 1000000001,
                "", "x", "auto", "/", "/abs/path", "rel/path", "a b", "10K", "1G", "2G", "100", "8080",
                "127.0.0.1:8080", "[::1]:8080", "localhost:80", "999.1.1.1:80", "*:80", "1.2.3:80",
                "GET", "bad method", "html", "json", "info", "combined", "bogus",
                [], ["x"], ["GET", "POST"], ["bad method"], ["a/b"], [1], ["127.0.0.1:8080", "8081"], [""],
                {}, {"a": "b"}, {".py": "/usr/bin/python3"}, {"py": "/usr/bin/python3"}, {".py": "python3"},
                {"404": self.errfile}, {"200": self.errfile}, {"md": "text/markdown"}, {".": "x"},
                {"A_B": "1"}, {"1A": "x"}, {"a": 1},
                MODULES, 301, [{"listen": "8080"}], {"status": 204},
                ["http/1.1"], ["h2", "http/1.1"], ["h2c", "http/1.1"], ["h2"], ["TLSv1.2"], ["TLSv1.3", "TLSv1.1"],
                "X25519:P-256", ["X25519", "P-256"], "X25519 P-256", self.cert, self.key, "/etc/hostname", "ECDHE-RSA-AES128-GCM-SHA256",
                {"address": "127.0.0.1:8443", "tls": True}, [{"address": "8080"}],
                {"certificate": self.cert, "key": self.key}]
        # The schema's own boundaries and values.
        for p in [prop] + prop.get("anyOf", []):
            for k in ("minimum", "maximum"):
                if k in p:
                    vals += [p[k], p[k] - 1, p[k] + 1]
            vals += p.get("enum", [])
            if "const" in p:
                vals.append(p["const"])
        if "default" in prop:
            vals.append(prop["default"])
        vals += prop.get("examples", [])
        return vals

    def slots(self):
        """(name, prop schema, place(value) → config) for every key of every object."""
        s = self.schema
        defs = s["$defs"]
        out = []

        def top(key):
            def place(v):
                cfg = self.base()
                cfg[key] = v
                return cfg
            return place

        def nested(scope, key):
            def place(v):
                cfg = self.base()
                cfg[scope] = {key: v}
                return cfg
            return place

        def server(key):
            def place(v):
                cfg = self.base()
                cfg["servers"][0][key] = v
                return cfg
            return place

        def location(key, extra=None, sub=None):
            def place(v):
                cfg = self.base()
                loc = {"path": "/t"}
                loc.update(extra or {})
                loc[key] = {sub: v} if sub else v
                cfg["servers"][0]["locations"] = [loc]
                return cfg
            return place

        def ret(key, base):
            def place(v):
                cfg = self.base()
                r = {k: x for k, x in base.items() if k != key}
                r[key] = v
                cfg["servers"][0]["locations"] = [{"path": "/t", "return": r}]
                return cfg
            return place

        def module(name, key):
            def place(v):
                cfg = self.base()
                cfg["upstreams"] = copy.deepcopy(UPSTREAMS)
                settings = dict(self.module_bases.get(name, {}))
                settings[key] = v
                cfg["servers"][0]["locations"] = [{"path": "/t", name: settings}]
                return cfg
            return place

        for key, prop in s["properties"].items():
            out.append(("top." + key, prop, top(key)))
        out.append(("top.<unknown>", {}, top("bogus_key")))
        for scope in ("timeouts", "limits"):
            for key, prop in defs[scope]["properties"].items():
                out.append(("%s.%s" % (scope, key), prop, nested(scope, key)))
            out.append(("%s.<unknown>" % scope, {}, nested(scope, "bogus_key")))
        for key, prop in defs["server"]["properties"].items():
            out.append(("server." + key, prop, server(key)))
        out.append(("server.<unknown>", {}, server("bogus_key")))
        for key, prop in defs["location"]["properties"].items():
            out.append(("location." + key, prop, location(key)))
        out.append(("location.<unknown>", {}, location("bogus_key")))
        def listen_obj(key, base):
            def place(v):
                cfg = self.base()
                o = {k: x for k, x in base.items() if k != key}
                o[key] = v
                cfg["servers"][0]["listen"] = [o]
                cfg["servers"][0]["tls"] = {"certificate": self.cert, "key": self.key}
                return cfg
            return place

        def tls(key):
            def place(v):
                cfg = self.base()
                t = {"certificate": self.cert, "key": self.key}
                t[key] = v
                cfg["servers"][0]["tls"] = t
                return cfg
            return place

        for base in ({"address": "127.0.0.1:8443", "tls": True}, {"address": "127.0.0.1:8080"}):
            tag = "listen(%s)" % ("tls" if base.get("tls") else "plain")
            for key, prop in defs["listen"]["properties"].items():
                out.append(("%s.%s" % (tag, key), prop, listen_obj(key, base)))
            out.append(("%s.<unknown>" % tag, {}, listen_obj("bogus_key", base)))
        for key, prop in defs["tls"]["properties"].items():
            out.append(("tls." + key, prop, tls(key)))
        out.append(("tls.<unknown>", {}, tls("bogus_key")))
        for key, prop in defs["location_timeouts"]["properties"].items():
            out.append(("location.timeouts." + key, prop, location("timeouts", None, key)))
        out.append(("location.timeouts.<unknown>", {}, location("timeouts", None, "bogus_key")))
        for base in ({"status": 302, "location": "/"}, {"status": 200}):
            for key, prop in defs["return"]["properties"].items():
                out.append(("return(%d).%s" % (base["status"], key), prop, ret(key, base)))
            out.append(("return(%d).<unknown>" % base["status"], {}, ret("bogus_key", base)))
        def module_nested(name, key, sub, in_list):
            def place(v):
                inner = dict(self.nested_bases.get("%s.%s" % (name, key), {}))
                inner[sub] = v
                return module(name, key)([inner] if in_list else inner)
            return place

        for m in BUNDLED:
            for key, prop in defs["module." + m]["properties"].items():
                if key in self.module_bases.get(m, {}):
                    prop = dict(prop, examples=[self.module_bases[m][key]])  # a value both must accept
                out.append(("%s.%s" % (m, key), prop, module(m, key)))
                # Keys of the objects a module key holds (an object, or a list of them), beside their base.
                for in_list, obj in ((False, prop), (True, prop.get("items", {}))):
                    if not isinstance(obj, dict) or "properties" not in obj:
                        continue
                    for sub, sprop in obj["properties"].items():
                        out.append(("%s.%s%s.%s" % (m, key, "[0]" if in_list else "", sub), sprop,
                                    module_nested(m, key, sub, in_list)))
                    out.append(("%s.%s%s.<unknown>" % (m, key, "[0]" if in_list else ""), {},
                                module_nested(m, key, "bogus_key", in_list)))
            out.append(("%s.<unknown>" % m, {}, module(m, "bogus_key")))
        return out

    def test_schema_and_validation_agree_on_every_key(self):
        slots = self.slots()
        module_keys = [n for n, _, _ in slots if n.split(".")[0] in BUNDLED and not n.endswith("<unknown>")]
        self.assertTrue(module_keys, "no bundled module declares a key?")
        problems, tolerated, runs = [], {}, 0
        per_slot = [(name, [(v, place(v)) for v in self.pool(prop)]) for name, prop, place in slots]
        verdicts = iter(self.server_verdicts([cfg for _, cases in per_slot for _, cfg in cases]))
        for name, cases in per_slot:
            accepted_both = 0
            for v, cfg in cases:
                ok_server, err = next(verdicts)
                ok_schema = self.validator.is_valid(cfg)
                runs += 1
                if ok_server and ok_schema:
                    accepted_both += 1
                if ok_server and not ok_schema:
                    problems.append("%s = %r: the server accepts it, the schema refuses it" % (name, v))
                elif ok_schema and not ok_server:
                    rule = schema_rules.inexpressible(err)
                    if rule:
                        tolerated.setdefault(rule, []).append("%s = %r" % (name, v))
                    else:
                        problems.append("%s = %r: the schema accepts it, the server refuses it: %s" % (name, v, err))
            # Keys that no value makes valid in that place: "body" with a redirect, "location" without.
            never = name in ("return(302).body", "return(200).location")
            # A DER OCSP response is more than this test makes: its key is still tried both ways above.
            if name == "tls.ocsp_staple":
                continue
            if not name.endswith("<unknown>") and bool(accepted_both) == never:
                problems.append("%s: %s value accepted by both" % (name, "a" if never else "no"))
        print("%d slots, %d configs checked both ways" % (len(slots), runs))
        for rule, cases in tolerated.items():
            print("not expressible (%d): %s; e.g. %s" % (len(cases), rule, ", ".join(cases[:40])))
        self.assertEqual(problems, [], "\n".join(problems))

    def test_address_patterns_follow_inet_pton(self):
        """The address patterns of access rules and proxy trusted_proxies say what
        inet_pton (which both modules call) accepts, on random strings; the
        /bits forms are tried against the server itself."""
        import random
        import re
        import socket
        mods = self.schema["$defs"]
        access = mods["module.access"]["properties"]["rules"]["items"]["properties"]["allow"]["pattern"]
        trusted = mods["module.proxy"]["properties"]["trusted_proxies"]["items"]["pattern"]

        def pton(text):
            for fam in (socket.AF_INET, socket.AF_INET6):
                try:
                    socket.inet_pton(fam, text)
                    return True
                except (OSError, ValueError):
                    pass
            return False

        rnd = random.Random(7)
        samples = ["::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4",
                   "::ffff:1.2.3.4", "1:2:3:4:5::1.2.3.4", "1:2:3:4:5:6::1.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3",
                   "12345::", "::01.2.3.4", "1.2.3.4", "01.2.3.4", "1.2.3", "256.1.1.1", "fe80::1%eth0", "all", ""]
        samples += ["".join(rnd.choice("0123456789abcdefABCDEF:.:::") for _ in range(rnd.randint(1, 24)))
                    for _ in range(20000)]
        samples += [".".join(str(rnd.choice([0, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255, 256, 300, "01", ""]))
                             for _ in range(rnd.randint(3, 5))) for _ in range(5000)]
        for text in samples:
            self.assertEqual(bool(re.search(access, text)), text == "all" or pton(text), "access: %r" % text)
            self.assertEqual(bool(re.search(trusted, text)), pton(text), "trusted_proxies: %r" % text)
        bits = ["10.0.0.0/8", "10.0.0.0/0", "10.0.0.0/32", "10.0.0.0/33", "10.0.0.0/008", "10.0.0.0/0008",
                "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/-0", "10.0.0.0/-1", "::1/128",
                "::1/129", "::1/0128", "2001:db8::/32", "all/8", "1.2.3.4/8/8", "::ffff:1.2.3.4/120", "1.2.3.4:80"]
        cfgs = []
        for b in bits:
            for m, settings in (("access", {"rules": [{"allow": b}]}), ("proxy", {"upstream": "app", "trusted_proxies": [b]})):
                cfg = self.base()
                cfg["upstreams"] = copy.deepcopy(UPSTREAMS)
                cfg["servers"][0]["locations"] = [{"path": "/t", m: settings}]
                cfgs.append((m, b, cfg))
        for (m, b, cfg), (ok_server, err) in zip(cfgs, self.server_verdicts([c for _, _, c in cfgs])):
            self.assertEqual(ok_server, self.validator.is_valid(cfg), "%s %r: %s" % (m, b, err))

    def test_module_objects_agree(self):
        for m in BUNDLED:
            for v in (True, False, {}, None, 1, "x", [], self.module_bases.get(m, {"bogus_key": 1})):
                cfg = self.base()
                cfg["upstreams"] = copy.deepcopy(UPSTREAMS)
                cfg["servers"][0]["locations"] = [{"path": "/t", m: v}]
                ok_server, err = self.server_verdict(cfg)
                self.assertEqual(ok_server, self.validator.is_valid(cfg), "%s = %r: %s" % (m, v, err))


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Every config the test suites load, checked against the generated schema.

The unit tests (tests/unit/cfgtest.h) and the integration harness keep each
config they load, with the server's verdict, in $WEBSERV_CONFIG_CORPUS
(build/config-corpus; ctest runs this test after all the others). This test
also fills a private corpus itself from the config unit tests and the module
refusal tests, so it checks something even when run alone. Then:
  - a config the server accepted must validate against the schema that
    `webserv --schema` prints for it (same modules);
  - a config the server refused must fail the schema, unless its error falls
    under a rule no JSON Schema can express (schema_rules.py), which is counted.
Runs with Debian's python3 (python3-jsonschema)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schema_rules  # noqa: E402

BUILD = os.environ.get("WEBSERV_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("WEBSERV_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BIN = os.environ.get("WEBSERV_BIN", os.path.join(BUILD, "webserv"))
SHARED = os.environ.get("WEBSERV_CONFIG_CORPUS", os.path.join(BUILD, "config-corpus"))


class Duplicate(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Duplicate()
    return dict(pairs)


class CorpusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="webserv-corpus-")
        self.schemas = {}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fill_private(self, corpus):
        env = dict(os.environ, WEBSERV_CONFIG_CORPUS=corpus, WEBSERV_BUILD=BUILD, WEBSERV_SRC=SRC)
        for prog in ("unit_test_config", "unit_test_config_env"):
            p = subprocess.run([os.path.join(BUILD, prog)], env=env, capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout[-2000:])
        p = subprocess.run([sys.executable, os.path.join(SRC, "tests/integration/test_module_refusals.py")],
                           env=env, capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])

    def schema_for(self, cfg):
        """The schema `webserv --schema` prints for this config's modules, or None."""
        key = json.dumps([cfg.get("modules", []), cfg.get("modules_dir")])
        if key not in self.schemas:
            path = os.path.join(self.tmp, "modules-%d.json" % len(self.schemas))
            with open(path, "w") as f:
                json.dump({k: cfg[k] for k in ("modules", "modules_dir") if k in cfg}, f)
            p = subprocess.run([BIN, "--schema", path], capture_output=True, text=True, timeout=30)
            self.schemas[key] = (jsonschema.Draft202012Validator(json.loads(p.stdout))
                                 if p.returncode == 0 else None)
        return self.schemas[key]

    def test_corpus(self):
        private = os.path.join(self.tmp, "corpus")
        self.fill_private(private)
        metas = sorted(glob.glob(os.path.join(private, "*.meta")) + glob.glob(os.path.join(SHARED, "*.meta")))
        counts = {"accepted": 0, "refused": 0}
        skipped, tolerated, problems = {}, {}, []
        for meta in metas:
            with open(meta) as f:
                lines = f.read().split("\n")
            verdict, error = lines[0], lines[1] if len(lines) > 1 else ""
            with open(meta[:-5] + ".json", encoding="utf-8", errors="replace") as f:
                text = f.read()
            counts[verdict] = counts.get(verdict, 0) + 1
            name = os.path.basename(meta[:-5])
            try:
                cfg = json.loads(text, object_pairs_hook=no_duplicates)
            except (ValueError, Duplicate):
                self.assertEqual(verdict, "refused", "%s: not JSON, yet accepted" % name)
                skipped.setdefault("not JSON or duplicate keys (no schema applies)", []).append(name)
                continue
            if "${" in text:
                skipped.setdefault("holds ${NAME} (checked as written, before expansion)", []).append(name)
                continue
            v = self.schema_for(cfg) if isinstance(cfg, dict) else None
            if v is None:
                if verdict == "accepted":
                    skipped.setdefault("its modules cannot be loaded any more (temporary files)", []).append(name)
                    continue
                v = self.schema_for({})
            ok = v.is_valid(cfg)
            if verdict == "accepted" and not ok:
                errs = "; ".join("%s: %s" % (e.json_path, e.message[:200]) for e in v.iter_errors(cfg))
                problems.append("%s: accepted by the server, refused by the schema: %s" % (name, errs))
            elif verdict == "refused" and ok:
                rule = schema_rules.inexpressible(error)
                if rule:
                    tolerated.setdefault(rule, []).append(name)
                else:
                    problems.append("%s: refused by the server (%s), accepted by the schema" % (name, error))
        print("corpus: %d configs (%d accepted, %d refused) from %s and the private run" %
              (len(metas), counts["accepted"], counts["refused"], SHARED))
        for why, names in skipped.items():
            print("  not checked (%d): %s" % (len(names), why))
        for rule, names in tolerated.items():
            print("  refused, schema cannot say (%d): %s" % (len(names), rule))
        self.assertGreater(counts["accepted"], 10)
        self.assertGreater(counts["refused"], 20)
        self.assertEqual(problems, [], "\n".join(problems))
        # The shared corpus is read once: the next run starts afresh.
        for meta in glob.glob(os.path.join(SHARED, "*.meta")):
            for f in (meta, meta[:-5] + ".json"):
                try:
                    os.unlink(f)
                except OSError:
                    pass


if __name__ == "__main__":
    unittest.main(verbosity=2)

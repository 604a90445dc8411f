"""Modules the server must refuse at startup (SPEC §2, §5): each refusal is one
line on stderr naming the file, and exit status 1, for `-t` and for a real
start alike. Bad modules come from tests/testmods (built into tests/modules)."""
import os
import re

import harness

TM = harness.TESTMODS


def loaded_libc():
    """A plain shared library (no webserv_module symbol): the C library this python runs on."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if re.search(r"/libc[.-][^/]*\.so", path) or path.endswith("/libc.so.6"):
                return path
    return None


class ModuleRefusalTest(harness.ServerTestCase):

    def config(self, modules, locations=None, modules_dir=TM):
        cfg = self.base_config(locations=locations or [{"path": "/"}])
        cfg["modules"] = modules
        if modules_dir:
            cfg["modules_dir"] = modules_dir
        else:
            del cfg["modules_dir"]
        return cfg

    def refuse(self, cfg, *needles):
        """Start with -t and for real: exit 1, one stderr line holding every needle."""
        for args in (("-t",), ()):
            s = harness.Server(cfg, self.tmp)
            rc = s.start(expect_fail=True, args=args)
            err = s.stderr()
            s.stop()
            lines = [ln for ln in err.splitlines() if ln.strip()]
            self.assertEqual(rc, 1, "args %r: exit %r, stderr %r" % (args, rc, err))
            self.assertEqual(len(lines), 1, "args %r: not one line: %r" % (args, err))
            self.assertTrue(lines[0].startswith("webserv: "), lines[0])
            for n in needles:
                self.assertIn(n, lines[0], "args %r" % (args,))
        return lines[0]

    def test_wrong_abi_major(self):
        line = self.refuse(self.config(["badabi"]), os.path.join(TM, "mod_badabi.so"), "modules[0]")
        self.assertIn("ABI 99", line)

    def test_newer_minor(self):
        self.refuse(self.config(["newminor"]), os.path.join(TM, "mod_newminor.so"), "newer than this server")

    def test_missing_symbol(self):
        self.refuse(self.config(["nosymbol"]), os.path.join(TM, "mod_nosymbol.so"), "webserv_module")

    def test_text_file_named_like_a_module(self):
        d = os.path.join(self.tmp, "mods")
        os.makedirs(d)
        with open(os.path.join(d, "mod_x.so"), "w") as f:
            f.write("this is not a shared object, only some text in a file\n" * 20)
        self.refuse(self.config(["x"], modules_dir=d), os.path.join(d, "mod_x.so"), "cannot load module")

    def test_plain_shared_library(self):
        lib = loaded_libc()
        if not lib:
            self.skipTest("no libc path in /proc/self/maps")
        self.refuse(self.config([lib]), lib, "not a webserv module")

    def test_missing_file(self):
        self.refuse(self.config(["nonesuch"]), os.path.join(TM, "mod_nonesuch.so"), "cannot load module")

    def test_missing_bare_name_names_every_folder_tried(self):
        # No modules_dir: beside the executable, the installed folder seen from
        # it, the build-time installed folder. All of them are in the message.
        bindir = os.path.dirname(os.path.realpath(harness.BIN))
        line = self.refuse(self.config(["nonesuch"], modules_dir=None), 'module "nonesuch" not found',
                           "no mod_nonesuch.so in", os.path.join(bindir, "modules"), "lib/webserv/modules or ")

    def test_duplicate_name(self):
        line = self.refuse(self.config(["cfgcheck", "dupname"]), "modules[1]", os.path.join(TM, "mod_dupname.so"))
        self.assertIn(os.path.join(TM, "mod_cfgcheck.so"), line)
        self.assertIn('"cfgcheck"', line)

    def test_listed_twice(self):
        self.refuse(self.config(["cfgcheck", "cfgcheck"]), "modules[1]", "listed twice")

    def test_init_refuses(self):
        self.refuse(self.config(["initfail"]), os.path.join(TM, "mod_initfail.so"), "refused to start")

    def test_descriptor_too_small(self):
        self.refuse(self.config(["smalldesc"]), os.path.join(TM, "mod_smalldesc.so"), "too small")

    def test_no_name(self):
        self.refuse(self.config(["noname"]), os.path.join(TM, "mod_noname.so"), "no name")

    def test_invalid_settings(self):
        cfg = self.config(["cfgcheck"], locations=[{"path": "/", "cfgcheck": {"count": 500}}])
        self.refuse(cfg, "server.json", "servers[0].locations[0].cfgcheck.count")

    def test_module_reported_error(self):
        cfg = self.config(["cfgcheck"], locations=[{"path": "/", "cfgcheck": {"name": "bad"}}])
        self.refuse(cfg, "server.json", "servers[0].locations[0].cfgcheck.name", 'must not be "bad"')

    def test_unknown_setting(self):
        cfg = self.config(["cfgcheck"], locations=[{"path": "/", "cfgcheck": {"bogus": 1}}])
        self.refuse(cfg, "server.json", "servers[0].locations[0].cfgcheck.bogus")

    def test_good_module_still_loads(self):
        """The control case: the same machinery accepts a good module."""
        cfg = self.config(["cfgcheck"], locations=[{"path": "/", "cfgcheck": {"count": 5}}])
        s = harness.Server(cfg, self.tmp)
        self.assertEqual(s.start(expect_fail=True, args=("-t",)), 0, s.stderr())
        s.stop()
        self.assertTrue(s.stdout().startswith("configuration OK\n"))


if __name__ == "__main__":
    harness.main()

"""conf/server.json as shipped, for the tests that run the demo (test_autoindex, test_headers):
on the test's free port and over a copy of www/ (tests write into it), without the HTTPS
listener (its certificate is made by make run), and with its user files named by absolute
path (the config is copied away from conf/)."""
import json
import os
import shutil

import harness


def config(test):
    """The demo config for test (a harness.ServerTestCase), ready for test.start(config=...)."""
    www = os.path.join(test.tmp, "demo-www")
    shutil.copytree(os.path.join(harness.SRC, "www"), www)
    with open(os.path.join(harness.SRC, "conf/server.json")) as f:
        cfg = json.load(f)
    cfg["modules_dir"] = harness.MODULES
    cfg["access_log"] = "off"
    s = cfg["servers"][0]
    s["listen"] = ["127.0.0.1:%d" % test.port]
    s.pop("tls", None)
    s["root"] = www
    s["error_pages"] = {"404": os.path.join(www, "errors/404.html")}
    for loc in s["locations"]:
        if "auth_basic" in loc:
            loc["auth_basic"]["user_file"] = os.path.join(harness.SRC, "conf", loc["auth_basic"]["user_file"])
    return cfg

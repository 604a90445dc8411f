"""mod_headers: set/add/remove on 2xx/3xx (and every status with always),
expires by extension and by type, CORS on responses and preflights answered
with 204, and config errors with their JSON paths."""
import base64
import email.utils
import time

import democonf
import harness
from test_access import check_config


class HeadersTest(harness.ServerTestCase):
    modules = ["static", "headers"]

    def setUp(self):
        super().setUp()
        self.write("a.css", "body{}\n")
        self.write("p.png", b"\x89PNG....")
        self.write("i.html", "<p>i</p>\n")
        self.write("d/x.txt", "x\n")

    def cfg(self, hd):
        return self.base_config(locations=[{"path": "/", "static": {}, "headers": hd}])

    def test_set_add_remove(self):
        self.start(self.cfg({"set": {"X-Frame-Options": "DENY", "Content-Type": "text/x-forced"},
                             "add": {"Link": "</a.css>; rel=preload"}}))
        r, body = self.request("GET", "/i.html")
        self.assertEqual(body, b"<p>i</p>\n")
        self.assertEqual(r.getheader("X-Frame-Options"), "DENY")
        self.assertEqual(r.getheader("Content-Type"), "text/x-forced")  # set replaces
        self.assertEqual(r.getheader("Link"), "</a.css>; rel=preload")
        r, _ = self.request("GET", "/d")  # the core's 301 is a 3xx: it gets them too
        self.assertEqual((r.status, r.getheader("X-Frame-Options")), (301, "DENY"))
        r, _ = self.request("GET", "/missing")  # not on a 404 without "always"
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.getheader("X-Frame-Options"))

    def test_remove_a_handlers_field(self):
        self.start(self.cfg({"remove": ["Content-Type"]}))
        r, body = self.request("GET", "/i.html")
        self.assertEqual((body, r.getheader("Content-Type")), (b"<p>i</p>\n", None))

    def test_always(self):
        self.start(self.cfg({"set": {"X-Frame-Options": "DENY"}, "always": True}))
        r, _ = self.request("GET", "/missing")
        self.assertEqual((r.status, r.getheader("X-Frame-Options")), (404, "DENY"))

    def test_expires_by_extension_and_type(self):
        self.start(self.cfg({"expires": {".css": 3600, "image/*": 86400, "text/html": 0}}))
        r, _ = self.request("GET", "/a.css")
        self.assertEqual(r.getheader("Cache-Control"), "max-age=3600")
        exp = email.utils.parsedate_to_datetime(r.getheader("Expires")).timestamp()
        self.assertAlmostEqual(exp, time.time() + 3600, delta=5)
        self.assertEqual(self.request("GET", "/p.png")[0].getheader("Cache-Control"), "max-age=86400")
        self.assertEqual(self.request("GET", "/i.html")[0].getheader("Cache-Control"), "max-age=0")
        self.assertIsNone(self.request("GET", "/d/x.txt")[0].getheader("Cache-Control"))
        # A 304 carries them too (RFC 9110 §15.4.5).
        etag = self.request("GET", "/a.css")[0].getheader("ETag")
        r, _ = self.request("GET", "/a.css", headers={"If-None-Match": etag})
        self.assertEqual((r.status, r.getheader("Cache-Control")), (304, "max-age=3600"))

    def test_cors_list(self):
        self.start(self.cfg({"cors": {"origins": ["https://app.example"], "methods": ["GET", "PUT"],
                                      "headers": ["Content-Type", "X-Token"], "credentials": True, "max_age": 120}}))
        r, _ = self.request("GET", "/a.css", headers={"Origin": "https://app.example"})
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "https://app.example")
        self.assertEqual(r.getheader("Access-Control-Allow-Credentials"), "true")
        self.assertIn("Origin", r.getheader("Vary"))
        r, _ = self.request("GET", "/missing", headers={"Origin": "https://app.example"})
        self.assertEqual((r.status, r.getheader("Access-Control-Allow-Origin")), (404, "https://app.example"))
        r, _ = self.request("GET", "/a.css", headers={"Origin": "https://evil.example"})
        self.assertIsNone(r.getheader("Access-Control-Allow-Origin"))
        r, body = self.request("OPTIONS", "/a.css", headers={"Origin": "https://app.example",
                                                            "Access-Control-Request-Method": "PUT",
                                                            "Access-Control-Request-Headers": "x-token"})
        self.assertEqual((r.status, body), (204, b""))
        self.assertEqual(r.getheader("Access-Control-Allow-Methods"), "GET, PUT")
        self.assertEqual(r.getheader("Access-Control-Allow-Headers"), "Content-Type, X-Token")
        self.assertEqual(r.getheader("Access-Control-Max-Age"), "120")
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "https://app.example")
        # A preflight from elsewhere, or a plain OPTIONS, gets the core's answer.
        r, _ = self.request("OPTIONS", "/a.css", headers={"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "PUT"})
        self.assertEqual((r.status, r.getheader("Access-Control-Allow-Methods")), (204, None))
        self.assertIn("GET", r.getheader("Allow"))

    def test_cors_any_origin(self):
        self.start(self.cfg({"cors": {"origins": "*"}}))
        r, _ = self.request("GET", "/a.css", headers={"Origin": "https://x.example"})
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "*")
        r, _ = self.request("OPTIONS", "/a.css", headers={"Origin": "https://x.example",
                                                         "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.getheader("Access-Control-Allow-Headers"), "content-type")
        self.assertEqual(r.getheader("Access-Control-Max-Age"), "600")

    def test_config_errors(self):
        cases = [
            ({"set": {"Bad Name": "x"}}, "headers.set"),
            ({"set": {"Content-Length": "5"}}, "headers.set"),
            ({"add": {"X-A": "a\nb"}}, "headers.add"),
            ({"remove": ["Date"]}, "headers.remove"),
            ({"expires": {"css": 5}}, "headers.expires.css"),
            ({"expires": {".css": -1}}, "headers.expires..css"),
            ({"cors": {}}, "headers.cors.origins"),
            ({"cors": {"origins": "*", "credentials": True}}, "headers.cors.credentials"),
            ({"cors": {"origins": ["app.example"]}}, "headers.cors.origins"),
            ({"cors": {"origins": "*", "nope": 1}}, "headers.cors.nope"),
            ({"always": "yes"}, "headers.always"),
        ]
        for hd, where in cases:
            rc, err = check_config(self.tmp, self.cfg(hd))
            self.assertEqual(rc, 1, hd)
            self.assertIn("servers[0].locations[0]." + where, err, hd)


class DemoPhasesTest(harness.ServerTestCase):
    """conf/server.json as shipped: its password-protected folder, CORS header and rewrites."""

    def test_demo(self):
        cfg = democonf.config(self)
        self.start(config=cfg)
        self.assertEqual(self.request("GET", "/members/")[0].status, 401)
        demo = {"Authorization": "Basic " + base64.b64encode(b"demo:demo").decode()}
        r, body = self.request("GET", "/members/", headers=demo)
        self.assertEqual(r.status, 200)
        self.assertIn(b"Members only", body)
        r, body = self.request("GET", "/home", headers={"Origin": "https://elsewhere.example"})
        self.assertIn(b"webserv is running", body)
        self.assertEqual(r.getheader("Access-Control-Allow-Origin"), "*")
        r, _ = self.request("GET", "/documents/notes.md")
        self.assertEqual((r.status, r.getheader("Location")), (301, "/docs/notes.md"))


if __name__ == "__main__":
    harness.main()

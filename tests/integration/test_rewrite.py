"""mod_rewrite: PCRE2 rules in order, $N replacements (percent-encoded), internal
rewrites that are routed again, redirects 301/302/307/308 keeping the query,
the single-page-app fallback, the loop bound, and startup errors naming the
rule's JSON path."""
import harness
from test_access import check_config


class RewriteTest(harness.ServerTestCase):
    modules = ["static", "rewrite"]

    def setUp(self):
        super().setUp()
        self.write("new/page.txt", "new page\n")
        self.write("posts/42.html", "post 42\n")
        self.write("app/index.html", "<app>\n")
        self.write("app/logo.txt", "logo\n")
        self.write("space dir/f.txt", "spaced\n")

    def cfg(self, rw, path="/"):
        return self.base_config(locations=[{"path": "/", "static": {}, "rewrite": rw}] if path == "/" else
                                [{"path": "/", "static": {}}, {"path": path, "static": {}, "rewrite": rw}])

    def test_internal_rewrite_with_capture(self):
        self.start(self.cfg({"rules": [{"match": "^/blog/([0-9]+)$", "to": "/posts/$1.html"}]}))
        r, body = self.request("GET", "/blog/42")
        self.assertEqual((r.status, body), (200, b"post 42\n"))
        self.assertIsNone(r.getheader("Location"))
        self.assertEqual(self.request("GET", "/blog/x")[0].status, 404)

    def test_redirects_keep_the_query(self):
        self.start(self.cfg({"rules": [
            {"match": "^/old/(.*)$", "to": "/new/$1", "redirect": 301},
            {"match": "^/tmp/(.*)$", "to": "/new/$1", "redirect": 302},
            {"match": "^/t7/(.*)$", "to": "https://example.test/$1", "redirect": 307},
            {"match": "^/t8$", "to": "/new/page.txt?from=t8", "redirect": 308},
        ]}))
        for path, status, loc in [("/old/page.txt?a=1", 301, "/new/page.txt?a=1"), ("/tmp/x", 302, "/new/x"),
                                  ("/t7/y", 307, "https://example.test/y"), ("/t8?q=2", 308, "/new/page.txt?from=t8")]:
            r, _ = self.request("GET", path)
            self.assertEqual((r.status, r.getheader("Location")), (status, loc), path)

    def test_first_matching_rule_applies(self):
        self.start(self.cfg({"rules": [{"match": "^/x", "to": "/new/page.txt"},
                                       {"match": "^/x", "to": "/posts/42.html"}]}))
        self.assertEqual(self.request("GET", "/xyz")[1], b"new page\n")

    def test_captures_are_encoded_again(self):
        self.start(self.cfg({"rules": [{"match": "^/s/(.*)$", "to": "/space dir/$1"},
                                       {"match": "^/r/(.*)$", "to": "/new/$1", "redirect": 302}]}))
        self.assertEqual(self.request("GET", "/s/f.txt")[1], b"spaced\n")
        r, _ = self.request("GET", "/r/a%20b%3Fc")
        self.assertEqual(r.getheader("Location"), "/new/a%20b%3Fc")

    def test_fallback_for_a_single_page_app(self):
        self.start(self.cfg({"fallback": "/app/index.html"}, path="/app"))
        self.assertEqual(self.request("GET", "/app/logo.txt")[1], b"logo\n")
        r, body = self.request("GET", "/app/some/client/route")
        self.assertEqual((r.status, body), (200, b"<app>\n"))
        self.assertEqual(self.request("GET", "/elsewhere")[0].status, 404)
        self.assertEqual(self.request("DELETE", "/app/nothing")[0].status, 501)

    def test_loop_is_500(self):
        self.start(self.cfg({"rules": [{"match": "^/a(.*)$", "to": "/a$1"}]}))
        r, _ = self.request("GET", "/aaa")
        self.assertEqual(r.status, 500)
        self.assertIn("more than 10 rewrites", self.server.stderr())

    def test_bad_rules_name_their_json_path(self):
        cases = [
            ({"rules": [{"match": "^/ok$", "to": "/x"}, {"match": "^/(unclosed", "to": "/x"}]},
             "servers[0].locations[0].rewrite.rules[1].match", "bad regular expression"),
            ({"rules": [{"match": "^/(a)$", "to": "/$2"}]}, "rules[0].to", "$2"),
            ({"rules": [{"match": "^/a$", "to": "/b", "redirect": 303}]}, "rules[0].redirect", "301"),
            ({"rules": [{"match": "^/a$"}]}, "rules[0].to", "required"),
            ({"rules": [{"match": "^/a$", "to": "relative"}]}, "rules[0].to", "local path"),
            ({"rules": [{"match": "^/a$", "to": "/b", "extra": 1}]}, "rules[0].extra", "unknown key"),
            ({"fallback": "index.html"}, "rewrite.fallback", "local path"),
        ]
        for rw, where, what in cases:
            rc, err = check_config(self.tmp, self.cfg(rw))
            self.assertEqual(rc, 1, rw)
            self.assertIn(where, err, rw)
            self.assertIn(what, err, rw)


if __name__ == "__main__":
    harness.main()

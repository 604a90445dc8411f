#!/usr/bin/python3
"""Demo CGI script: a form that greets you by name, by GET or by POST.

Runs under webserv's cgi module (conf/server.json maps ".py" to python3).
It uses only the CGI/1.1 interface of RFC 3875: meta-variables in the
environment, the request body on stdin, a header block then the body on
stdout.
"""
import html
import os
import sys
import urllib.parse


def form_fields():
    """The fields of the query string, and for POST those of the body too."""
    fields = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))
    if os.environ.get("REQUEST_METHOD") == "POST":
        length = int(os.environ.get("CONTENT_LENGTH") or 0)
        body = sys.stdin.buffer.read(length).decode("utf-8", "replace")
        ctype = os.environ.get("CONTENT_TYPE", "").split(";")[0].strip()
        if ctype in ("", "application/x-www-form-urlencoded"):
            fields.update(urllib.parse.parse_qs(body))
    return fields


def main():
    fields = form_fields()
    name = (fields.get("name") or [""])[0].strip()[:100]
    method = os.environ.get("REQUEST_METHOD", "GET")
    script = html.escape(os.environ.get("SCRIPT_NAME", "/cgi-bin/hello.py"), quote=True)
    if name:
        greeting = "<p class=greeting>Hello, <strong>%s</strong>! (sent by %s)</p>" % (
            html.escape(name), html.escape(method))
    else:
        greeting = "<p>Tell me your name.</p>"
    page = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Hello from CGI</title></head>
<body>
<h1>Hello from CGI</h1>
%s
<form method="get" action="%s">
  <label>Name (GET): <input name="name"></label> <button>Greet</button>
</form>
<form method="post" action="%s">
  <label>Name (POST): <input name="name"></label> <button>Greet</button>
</form>
<p><small>%s via %s, %s</small></p>
</body>
</html>
""" % (greeting, script, script,
       html.escape(os.environ.get("SERVER_SOFTWARE", "")),
       html.escape(os.environ.get("GATEWAY_INTERFACE", "")),
       html.escape(os.environ.get("SERVER_PROTOCOL", "")))
    data = page.encode("utf-8")
    sys.stdout.buffer.write(b"Content-Type: text/html; charset=utf-8\r\n")
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(data))
    sys.stdout.buffer.write(data)


if __name__ == "__main__":
    main()

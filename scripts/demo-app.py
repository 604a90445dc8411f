#!/usr/bin/python3
"""The demo's application server: what the demo's /app/ location proxies to
(proxy module), on a Unix socket. Run by scripts/demo-upstreams.sh (make run)
and by the browser test, with Debian's python3-websockets.

  GET /app/           a page that talks to the WebSocket below and to the API
  GET /app/api/hello  JSON: a greeting, this process, and the X-Forwarded-*
                      fields the proxy added (so the page can show them)
  /app/ws             WebSocket echo (RFC 6455, tunnelled by the proxy)

Usage: demo-app.py SOCKET_PATH
"""
import asyncio
import http
import json
import os
import signal
import sys

import websockets
import websockets.server

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>webserv demo: an application behind the proxy</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<h1>An application behind webserv</h1>
<p>This page comes from a small Python application on a Unix socket; webserv's proxy module
forwards <code>/app/</code> to it, and tunnels the WebSocket below.</p>
<p id="api">asking the application&hellip;</p>
<h2>WebSocket echo</h2>
<p>Status: <span id="status">connecting</span></p>
<form id="echo-form">
  <input id="message" name="message" value="hello over a WebSocket" size="40">
  <button id="send" type="submit">Send</button>
</form>
<ol id="echoes"></ol>
<p><a href="/">Back to the start page</a></p>
<script>
fetch('/app/api/hello').then((r) => r.json()).then((j) => {
  document.getElementById('api').textContent =
    j.message + ' (process ' + j.pid + ', X-Forwarded-Proto: ' + j.forwarded_proto + ')';
});
const status = document.getElementById('status');
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/app/ws');
ws.onopen = () => { status.textContent = 'open'; };
ws.onclose = () => { status.textContent = 'closed'; };
ws.onerror = () => { status.textContent = 'error'; };
ws.onmessage = (e) => {
  const li = document.createElement('li');
  li.textContent = e.data;
  document.getElementById('echoes').appendChild(li);
};
document.getElementById('echo-form').addEventListener('submit', (e) => {
  e.preventDefault();
  ws.send(document.getElementById('message').value);
});
</script>
</body>
</html>
"""


def answer(status, ctype, body):
    body = body.encode()
    return status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store")], body


async def plain_http(path, headers):
    """Everything but the WebSocket: answered here, before any handshake."""
    path = path.split("?", 1)[0]
    if path == "/app/ws":
        return None  # go on with the WebSocket handshake
    if path in ("/app", "/app/"):
        return answer(http.HTTPStatus.OK, "text/html; charset=utf-8", PAGE)
    if path == "/app/api/hello":
        return answer(http.HTTPStatus.OK, "application/json", json.dumps({
            "message": "Hello from the demo application",
            "pid": os.getpid(),
            "forwarded_for": headers.get("X-Forwarded-For", ""),
            "forwarded_proto": headers.get("X-Forwarded-Proto", ""),
        }))
    return answer(http.HTTPStatus.NOT_FOUND, "text/plain", "no such page in the demo application\n")


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def main(sock):
    try:
        os.unlink(sock)
    except FileNotFoundError:
        pass
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.server.unix_serve(echo, sock, process_request=plain_http, max_size=1 << 20):
        await stop
    try:
        os.unlink(sock)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))

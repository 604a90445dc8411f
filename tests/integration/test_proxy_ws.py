"""WebSockets through the proxy (issue 17; modules/proxy/proxy_tunnel.c on
the ABI 1.3 upgrade): a Python websockets server started by the test is the
upstream (Debian's python3-websockets: this runs with /usr/bin/python3).
Echo, a 1 MiB message, the close handshake both ways, a client that goes
away, an upstream that refuses the upgrade (its status passes through), and
a client that does not read while the upstream sends (memory bounded)."""
import asyncio
import os
import socket
import threading
import time

import websockets

import harness
import procstat
from test_proxy import Upstream, ok
from wsutil import close_code_after, run


class WsUpstream:
    """A websockets server in its own thread and event loop."""

    def __init__(self):
        self.headers = []
        self.closed = threading.Event()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def handler(ws, path=None):
            self.headers.append(dict(ws.request_headers))
            try:
                async for msg in ws:
                    if msg == "close-4000":
                        await ws.close(code=4000, reason="upstream says bye")
                        break
                    if msg == "flood":
                        for _ in range(64):
                            await ws.send(b"f" * (1 << 20))
                        continue
                    await ws.send(msg)
            except websockets.exceptions.ConnectionClosed:
                pass
            finally:
                self.closed.set()

        async def main():
            self.server = await websockets.serve(handler, "127.0.0.1", 0, max_size=8 << 20, ping_interval=None)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            await self.server.wait_closed()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        ready.wait(10)
        self.addr = "127.0.0.1:%d" % self.port

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class ProxyWebSocketTest(harness.ServerTestCase):
    modules = ["proxy"]

    def config(self, addr, **group):
        up = {"servers": [{"address": addr}], "keepalive": 4, "timeouts": {"connect": 2, "send": 5, "read": 10}}
        up.update(group)
        cfg = self.base_config(locations=[{"path": "/", "proxy": {"upstream": "app"}}])
        cfg["upstreams"] = {"app": up}
        return cfg

    def test_echo_big_message_and_close(self):
        u = WsUpstream()
        self.addCleanup(u.stop)
        self.start(self.config(u.addr))

        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/chat?room=1" % self.port, max_size=8 << 20,
                                          extra_headers={"X-Client": "yes"}) as ws:
                await ws.send("hello through the proxy")
                self.assertEqual(await ws.recv(), "hello through the proxy")
                big = os.urandom(1 << 20)
                await ws.send(big)
                self.assertEqual(await ws.recv(), big)
                for i in range(100):
                    await ws.send("m%d" % i)
                for i in range(100):
                    self.assertEqual(await ws.recv(), "m%d" % i)
                await asyncio.wait_for(await ws.ping(b"x"), 5)
                await ws.close(code=1000)
                return ws.close_code
        self.assertEqual(run(talk()), 1000)
        self.assertTrue(u.closed.wait(5), "the upstream's side was not closed")
        h = {k.lower(): v for k, v in u.headers[0].items()}
        self.assertEqual(h["upgrade"].lower(), "websocket")
        self.assertIn("upgrade", h["connection"].lower())
        self.assertEqual(h["x-client"], "yes")
        self.assertEqual(h["x-forwarded-for"], "127.0.0.1")
        # The proxy still serves ordinary requests after the tunnel (nothing pooled from it).
        r, _ = self.request("GET", "/plain")
        self.assertIn(r.status, (400, 404, 405, 426))  # websockets answers a plain GET with an error

    def test_upstream_close_ends_both(self):
        u = WsUpstream()
        self.addCleanup(u.stop)
        self.start(self.config(u.addr))
        self.assertEqual(close_code_after("ws://127.0.0.1:%d/" % self.port, "close-4000"), 4000)

    def test_client_gone_closes_upstream(self):
        u = WsUpstream()
        self.addCleanup(u.stop)
        self.start(self.config(u.addr))
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 101 "), data)
        self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", data)
        self.assertIn(b"Upgrade: websocket\r\n", data)
        s.close()  # gone without a close frame
        self.assertTrue(u.closed.wait(5), "the upstream connection outlived the client")

    def test_upgrade_refused_by_upstream_passes_status(self):
        def refuse(req, sock):
            self.seen = req
            return ok(b"no websockets here\n", status=b"403 Forbidden", extra=b"X-Why: policy\r\n")
        u = Upstream(refuse)
        self.addCleanup(u.stop)
        self.start(self.config(u.addr))
        r, body = self.request("GET", "/ws", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        self.assertEqual((r.status, body, r.getheader("X-Why")), (403, b"no websockets here\n", "policy"))
        self.assertEqual(self.seen.get("Upgrade"), "websocket")
        self.assertEqual(self.seen.get("Connection"), "upgrade")
        # A request without Connection: upgrade never asks the upstream to switch.
        r, body = self.request("GET", "/ws", headers={"Upgrade": "websocket"})
        self.assertEqual(r.status, 403)
        self.assertIsNone(self.seen.get("Upgrade"))
        self.assertNotEqual(self.seen.get("Connection"), "upgrade")

        # An upstream 101 naming a protocol the client did not ask for is a 502.
        def wrong(req, sock):
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n")
            time.sleep(0.5)
            return None
        w = Upstream(wrong)
        self.addCleanup(w.stop)
        self.server.stop()
        self.start(self.config(w.addr))
        r, _ = self.request("GET", "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        self.assertEqual(r.status, 502)

    def test_client_not_reading_keeps_memory_bounded(self):
        """The upstream sends 64 MiB; the client reads nothing for a while: the
        proxy stops reading the upstream once the client's queue is full, so
        the worker's RSS stays far below 64 MiB; then everything arrives."""
        u = WsUpstream()
        self.addCleanup(u.stop)
        srv = self.start(self.config(u.addr))
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        rest = data.partition(b"\r\n\r\n")[2]
        mask = b"\x01\x02\x03\x04"
        payload = b"flood"
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        with procstat.RssSampler(srv.proc.pid) as mem:
            time.sleep(2.0)  # the upstream sends; nobody reads
        print("\n64 MiB from the upstream, client not reading for 2 s: server RSS growth %d KiB"
              % (mem.growth() // 1024), end=" ", flush=True)
        if not procstat.ASAN and not procstat.VALGRIND:
            self.assertLess(mem.growth(), 16 << 20, "the proxy buffered what the client does not read")
        got = len(rest)
        want = 64 * ((1 << 20) + 10)  # 64 binary frames of 1 MiB (10-byte headers)
        while got < want:
            b = s.recv(1 << 20)
            if not b:
                break
            got += len(b)
        self.assertEqual(got, want)


if __name__ == "__main__":
    harness.main()

"""examples/modules/websocket-echo in the real server (ABI 1.3 connection
upgrade): Python's websockets client (Debian's python3-websockets, so this
runs with /usr/bin/python3) for echo, a 1 MiB message, ping/pong, the close
handshake and wss://; raw sockets for malformed frames (1002, 1007, 1009)
and bad handshakes (400/426/403)."""
import asyncio
import base64
import hashlib
import os
import socket
import ssl
import struct

import websockets

import harness
from harness import ServerTestCase
from wsutil import close_code_after, run

WSECHO = os.path.join(harness.TESTMODS, "mod_websocket_echo.so")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(first, payload, mask=b"\x11\x22\x33\x44", masked=True):
    n = len(payload)
    if n < 126:
        h = bytes([first, (0x80 if masked else 0) | n])
    elif n < 65536:
        h = bytes([first, (0x80 if masked else 0) | 126]) + struct.pack("!H", n)
    else:
        h = bytes([first, (0x80 if masked else 0) | 127]) + struct.pack("!Q", n)
    if not masked:
        return h + payload
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frames(s, timeout=5):
    """The server's frames until it closes: [(opcode, payload)]."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass
    out, i = [], 0
    while i + 2 <= len(data):
        op, n, h = data[i] & 0x0F, data[i + 1] & 0x7F, 2
        if n == 126:
            n, h = struct.unpack("!H", data[i + 2:i + 4])[0], 4
        elif n == 127:
            n, h = struct.unpack("!Q", data[i + 2:i + 10])[0], 10
        out.append((op, data[i + h:i + h + n]))
        i += h + n
    return out


class WebSocketEchoTest(ServerTestCase):

    def config(self, settings=None, **extra):
        cfg = {"modules": ["static", WSECHO], "servers": [{
            "listen": ["127.0.0.1:%d" % self.port], "root": self.root,
            "locations": [{"path": "/", "static": {}},
                          {"path": "/ws", "websocket_echo": settings if settings is not None else {}}]}]}
        cfg.update(extra)
        return cfg

    def handshake(self, extra=b"", key=b"dGhlIHNhbXBsZSBub25jZQ=="):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            b = s.recv(4096)
            if not b:
                break
            data += b
        head, _, rest = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.assertIn(b"Sec-WebSocket-Accept: " + accept, head)
        self.assertEqual(rest, b"")
        return s

    def test_echo_big_message_ping_and_close(self):
        self.start(self.config({"max_message": "2M"}))

        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/ws" % self.port, max_size=4 << 20) as ws:
                await ws.send("héllo €")
                self.assertEqual(await ws.recv(), "héllo €")
                await ws.send(b"\x00\x01\xff")
                self.assertEqual(await ws.recv(), b"\x00\x01\xff")
                big = os.urandom(1 << 20)
                await ws.send(big)
                self.assertEqual(await ws.recv(), big)
                # a fragmented text message (websockets sends an iterable as fragments)
                await ws.send(["fra", "gmen", "ted"])
                self.assertEqual(await ws.recv(), "fragmented")
                pong = await ws.ping(b"are you there")
                await asyncio.wait_for(pong, 5)
                for i in range(50):
                    await ws.send("m%d" % i)
                for i in range(50):
                    self.assertEqual(await ws.recv(), "m%d" % i)
                await ws.close(code=1000, reason="done")
                return ws.close_code
        self.assertEqual(run(talk()), 1000)

    def test_too_big_is_1009(self):
        self.start(self.config({"max_message": "64K"}))
        self.assertEqual(close_code_after("ws://127.0.0.1:%d/ws" % self.port, b"x" * (64 * 1024 + 1)), 1009)

    def test_malformed_frames(self):
        self.start(self.config({"max_message": "1M"}))
        cases = [
            (frame(0x81, b"hi", masked=False), 1002),         # unmasked
            (frame(0xC1, b"hi"), 1002),                       # RSV1 without an extension
            (frame(0x83, b"hi"), 1002),                       # reserved opcode
            (frame(0x09, b"hi"), 1002),                       # fragmented ping
            (frame(0x89, b"p" * 126), 1002),                  # control frame over 125 bytes
            (frame(0x80, b"hi"), 1002),                       # continuation of nothing
            (frame(0x01, b"a") + frame(0x81, b"b"), 1002),    # new message inside a fragmented one
            (frame(0x81, b"\xc0\xaf"), 1007),                 # overlong UTF-8
            (frame(0x01, b"\xe2\x82") + frame(0x80, b"\xac\xff"), 1007),  # bad UTF-8 across fragments
            (frame(0x88, b"\x03"), 1002),                     # close payload of one byte
            (frame(0x88, b"\x03\xee"), 1002),                 # close code 1006 may not be sent
            (frame(0x88, b"\x03\xe8\xff"), 1007),             # close reason not UTF-8
            (bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 40), 1009),  # announced 1 TiB
            (bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63), 1002),  # length MSB set
            (bytes([0x82, 0x80 | 126, 0, 5]), 1002),          # non-minimal length
        ]
        for data, code in cases:
            s = self.handshake()
            s.sendall(data)
            frames = read_frames(s)
            self.assertTrue(frames, data[:20])
            op, payload = frames[-1]
            self.assertEqual(op, 0x8, (data[:20], frames))
            self.assertEqual(struct.unpack("!H", payload[:2])[0], code, data[:20])
        # a close with a code is echoed with it, and the server closes the connection
        s = self.handshake()
        s.sendall(frame(0x89, b"ping!") + frame(0x88, struct.pack("!H", 4001) + b"bye"))
        self.assertEqual(read_frames(s), [(0xA, b"ping!"), (0x8, struct.pack("!H", 4001))])
        # bytes right behind the handshake are read as frames
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" +
                  frame(0x81, b"early") + frame(0x88, b""))
        data = b""
        s.settimeout(5)
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        self.assertTrue(data.startswith(b"HTTP/1.1 101 "))
        self.assertTrue(data.endswith(b"\x81\x05early\x88\x00"), data[-20:])

    def test_bad_handshakes(self):
        self.start(self.config({"origins": ["http://good.example"]}))
        r, _ = self.request("GET", "/ws")
        self.assertEqual(r.status, 426)
        base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "http://good.example"}
        r, _ = self.request("GET", "/ws", headers=dict(base, **{"Sec-WebSocket-Version": "8"}))
        self.assertEqual((r.status, r.getheader("Sec-WebSocket-Version")), (426, "13"))
        for bad in ({"Sec-WebSocket-Key": "short"}, {"Sec-WebSocket-Key": "!" * 22 + "=="},
                    {"Connection": "keep-alive"}):
            r, _ = self.request("GET", "/ws", headers=dict(base, **bad))
            self.assertEqual(r.status, 400, bad)
        r, _ = self.request("GET", "/ws", headers=dict(base, Origin="http://evil.example"))
        self.assertEqual(r.status, 403)
        # HTTP/1.0 cannot upgrade
        data = self.raw(b"GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        b"Origin: http://good.example\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:40])
        self.assertNotIn(b"Sec-WebSocket-Accept", data)
        # only GET (RFC 6455 §4.1): no loaded module takes POST here, so the core says 501
        r, _ = self.request("POST", "/ws", body=b"x", headers=base)
        self.assertEqual(r.status, 501)

    def test_server_pings_keep_an_idle_connection(self):
        # timeouts.body (the idle timeout of an upgraded connection) is 1 s; pings every 0.3 s keep it open.
        self.start(self.config({"ping_interval": 0.3}, timeouts={"body": 1}))

        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/ws" % self.port, ping_interval=None) as ws:
                await asyncio.sleep(2.5)
                await ws.send("still here")
                return await ws.recv()
        self.assertEqual(run(talk()), "still here")

        # without pings, an idle connection is closed after timeouts.body
        self.server.stop()
        self.start(self.config({}, timeouts={"body": 1}))

        async def idle():
            async with websockets.connect("ws://127.0.0.1:%d/ws" % self.port, ping_interval=None) as ws:
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                except websockets.exceptions.ConnectionClosed:
                    return "closed"
                return "open"
        self.assertEqual(run(idle()), "closed")

    def test_wss(self):
        self.start(harness.tls_config(self.config()))
        ctx = ssl._create_unverified_context()

        async def talk():
            async with websockets.connect("wss://127.0.0.1:%d/ws" % self.port, ssl=ctx,
                                          server_hostname="localhost", max_size=None) as ws:
                big = os.urandom(512 * 1024)
                await ws.send(big)
                echoed = await ws.recv()
                await ws.close()
                return echoed == big
        self.assertTrue(run(talk()))


if __name__ == "__main__":
    harness.main()

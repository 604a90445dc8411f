"""HTTP/2 clients for the tests (not a test file: ctest registers only test_*.py).

H2Client: Python's h2 library (Debian's python3-h2; run with /usr/bin/python3)
over a plain (h2c prior knowledge) or TLS (ALPN h2) socket, collecting what
each stream and the connection receive.
RawH2: frames built by hand (with hpack for the header blocks), for what the
h2 library refuses to send: malformed requests, floods."""
import select
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 7, 8, 9, 11


def connect(port, tls=False, alpn=("h2",), timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        ctx = ssl._create_unverified_context()
        ctx.set_alpn_protocols(list(alpn))
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


class Stream:
    def __init__(self):
        self.headers = None
        self.informational = []
        self.data = bytearray()
        self.ended = False
        self.reset = None  # error code of a RST_STREAM from the server
        self.trailers = None

    @property
    def status(self):
        return int(self.headers[":status"]) if self.headers else None

    @property
    def done(self):
        return self.ended or self.reset is not None


class H2Client:
    def __init__(self, port, tls=False, settings=None, timeout=10, auto_ack=True, sock=None):
        self.sock = sock or connect(port, tls, timeout=timeout)
        self.sock.settimeout(timeout)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings or {})
        self.conn.initiate_connection()
        self.streams = {}
        self.goaway = None  # (error code, last stream id)
        self.closed = False
        self.auto_ack = auto_ack
        self.events = []
        self.flush()

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def request(self, method, path, headers=(), body=None, end=True, authority="localhost"):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)] + list(headers)
        self.conn.send_headers(sid, hs, end_stream=end and body is None)
        self.streams[sid] = Stream()
        self.flush()
        if body is not None:
            self.send_body(sid, body, end=end)
        return sid

    def send_body(self, sid, body, end=True):
        """Send as much as flow control allows; the rest goes out as windows open (pump)."""
        st = self.streams[sid]
        st.pending = (bytes(st.pending) if getattr(st, "pending", None) else b"") + body
        st.pending = memoryview(st.pending)
        st.pending_end = end
        self._send_pending()

    def _send_pending(self):
        for sid, st in self.streams.items():
            p = getattr(st, "pending", None)
            if p is None or st.done:
                continue
            while len(p):
                try:
                    w = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size, len(p))
                except Exception:
                    w = 0
                if w <= 0:
                    break
                self.conn.send_data(sid, p[:w].tobytes())
                p = p[w:]
            st.pending = p
            if not len(p) and st.pending_end:
                try:
                    self.conn.end_stream(sid)
                except Exception:
                    pass
                st.pending = None
        self.flush()

    def pump(self, timeout=None):
        """Read once (waiting up to timeout) and handle what came. False when the server closed."""
        if self.closed:
            return False
        r, _, _ = select.select([self.sock], [], [], self.sock.gettimeout() if timeout is None else timeout)
        if not r and not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return True
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            self.events.append(ev)
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st.headers = dict(ev.headers)
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                st.informational.append(dict(ev.headers))
            elif isinstance(ev, h2.events.TrailersReceived):
                st.trailers = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                st.data += ev.data
                if self.auto_ack and ev.flow_controlled_length:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                st.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if st is not None:
                    st.reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = (ev.error_code, ev.last_stream_id)
        self._send_pending()
        self.flush()
        return True

    def wait(self, cond, timeout=30):
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                raise AssertionError("timed out waiting")
            if not self.pump(timeout=0.5) and not cond():
                raise AssertionError("server closed the connection (goaway=%r)" % (self.goaway,))

    def get(self, path, method="GET", headers=(), body=None, authority="localhost", timeout=30):
        sid = self.request(method, path, headers, body, authority=authority)
        self.wait(lambda: self.streams[sid].done, timeout)
        return self.streams[sid]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


class RawH2:
    """Hand-made frames; reads frames back."""

    def __init__(self, port, tls=False, settings=b"", timeout=10):
        self.sock = connect(port, tls, timeout=timeout)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.heads = {}  # stream id -> the first response head, decoded
        self.data = {}  # stream id -> DATA payload received
        self.ended = set()  # streams the server ended
        self.last_goaway = None  # (error code, last stream id)
        self.buf = b""
        self.frames = []
        self.closed = False
        self.send_failed = False
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.send_failed = True
            return False

    def block(self, headers):
        return self.enc.encode(headers)

    def headers(self, sid, headers, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return self.send(frame(HEADERS, flags, sid, self.block(headers)))

    def read_frames(self, until=None, timeout=5.0):
        """Read frames until until(frame) is true, the server closes, or timeout. Returns the frames seen."""
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < timeout:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF, self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                self.frames.append(f)
                seen.append(f)
                if f[0] == DATA:
                    self.data[f[2]] = self.data.get(f[2], b"") + f[3]
                if f[0] in (DATA, HEADERS) and f[1] & END_STREAM:
                    self.ended.add(f[2])
                if f[0] == GOAWAY:
                    self.last_goaway = (int.from_bytes(f[3][4:8], "big"), int.from_bytes(f[3][:4], "big") & 0x7FFFFFFF)
                if f[0] == HEADERS:
                    payload = f[3]
                    if f[1] & PADDED:
                        payload = payload[1:len(payload) - payload[0]]
                    if f[1] & PRIO:
                        payload = payload[5:]
                    self.heads.setdefault(f[2], dict(self.dec.decode(payload)))
                if f[0] == SETTINGS and not f[1] & ACK and not self.send_failed:
                    self.send(frame(SETTINGS, ACK, 0))
                if until and until(f):
                    return seen
            if self.closed:
                return seen
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if not r:
                continue
            try:
                d = self.sock.recv(65536)
            except (ConnectionResetError, OSError):
                d = b""
            if not d:
                self.closed = True
                continue
            self.buf += d
        return seen

    def goaway(self, timeout=5.0):
        """The GOAWAY error code the server sent, or None."""
        fs = self.read_frames(lambda f: f[0] == GOAWAY, timeout)
        for f in fs:
            if f[0] == GOAWAY:
                return int.from_bytes(f[3][4:8], "big")
        return None

    def rst(self, sid, timeout=5.0):
        """The RST_STREAM error code the server sent for sid, or None."""
        for f in self.frames:
            if f[0] == RST_STREAM and f[2] == sid:
                return int.from_bytes(f[3][:4], "big")
        fs = self.read_frames(lambda f: f[0] in (RST_STREAM, GOAWAY) and (f[2] == sid or f[0] == GOAWAY), timeout)
        for f in fs:
            if f[0] == RST_STREAM and f[2] == sid:
                return int.from_bytes(f[3][:4], "big")
        return None

    def status(self, sid, timeout=5.0):
        """The :status of the response HEADERS on sid, or None."""
        if sid not in self.heads:
            self.read_frames(lambda f: f[0] in (HEADERS, RST_STREAM) and f[2] == sid, timeout)
        h = self.heads.get(sid)
        return int(h[":status"]) if h else None

    def wait_closed(self, timeout=5.0):
        self.read_frames(None, timeout) if not self.closed else None
        return self.closed

    def close(self):
        self.sock.close()


class H2Response:
    """What http.client.HTTPResponse offers the tests, from an HTTP/2 stream."""

    def __init__(self, st):
        import http.client
        self.status = st.status
        self.reason = http.client.responses.get(self.status, "")
        self.version = 20
        self.msg = self.headers = http.client.HTTPMessage()
        for k, v in (st.headers or {}).items():
            if not k.startswith(":"):
                self.headers[k] = v
        self._data = bytes(st.data)
        self._pos = 0
        self.closed = False

    def read(self, amt=None):
        end = len(self._data) if amt is None else min(len(self._data), self._pos + amt)
        out = self._data[self._pos:end]
        self._pos = end
        return out

    def getheader(self, name, default=None):
        return self.headers.get(name, default)

    def getheaders(self):
        return list(self.headers.items())

    def close(self):
        self.closed = True


class H2HTTPConnection:
    """http.client.HTTPConnection's calls the tests use, over one HTTP/2
    connection (h2c with prior knowledge). Request bodies are gathered in
    memory and sent when the response is asked for."""

    def __init__(self, host, port=None, timeout=10, **kw):
        self.host, self.port, self.timeout = host, port, timeout
        self.client = None
        self._req = None

    def _client(self):
        if self.client is None or self.client.closed or self.client.goaway:
            self.client = H2Client(self.port, timeout=self.timeout or 10)
        return self.client

    def putrequest(self, method, url, skip_host=False, skip_accept_encoding=False):
        self._req = [method, url, [], []]

    def putheader(self, name, *values):
        self._req[2].append((name.lower(), ", ".join(str(v) for v in values)))

    def endheaders(self, message_body=None, **kw):
        if message_body is not None:
            self.send(message_body)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        if hasattr(data, "read"):
            data = data.read()
        self._req[3].append(bytes(data))

    def request(self, method, url, body=None, headers=None, **kw):
        self.putrequest(method, url)
        for k, v in (headers or {}).items():
            self.putheader(k, v)
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            if hasattr(body, "read"):
                body = body.read()
            elif not isinstance(body, (bytes, bytearray, memoryview)):
                # An iterable of pieces (http.client sends it chunked without a
                # Content-Length): streamed in DATA frames as the server's
                # window opens, never gathered, so a 1 GiB body costs the
                # client no more memory than over HTTP/1.1.
                self._req[3] = iter(body)
                return
            self.send(body)
            if not any(k == "content-length" for k, _ in self._req[2]) and \
                    not any(k == "transfer-encoding" for k, _ in self._req[2]):
                self._req[2].append(("content-length", str(len(body))))

    def getresponse(self):
        method, url, hs, parts = self._req
        self._req = None
        c = self._client()
        authority = "%s:%s" % (self.host, self.port)
        fields = []
        for k, v in hs:
            if k == "host":
                authority = v
            elif k in ("connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection") or \
                    (k == "te" and v != "trailers"):
                continue  # RFC 9113 §8.2.2: not on HTTP/2
            else:
                fields.append((k, v))
        timeout = max(self.timeout or 30, 30)
        if not isinstance(parts, list):
            st = self._stream_body(c, method, url, fields, parts, authority, timeout)
        else:
            body = b"".join(parts) if parts else None
            if method in ("GET", "HEAD", "DELETE", "OPTIONS") and not body:
                body = None
            st = c.get(url, method=method, headers=fields, body=body, authority=authority, timeout=timeout)
        if st.reset is not None and st.headers is None:
            raise ConnectionResetError("stream reset by the server (%d)" % st.reset)
        return H2Response(st)

    @staticmethod
    def _stream_body(c, method, url, fields, pieces, authority, timeout):
        """Headers, then the pieces one by one: at most ~1 MiB waits in the
        client for the server's flow-control window at any time."""
        sid = c.request(method, url, fields, None, end=False, authority=authority)
        st = c.streams[sid]
        for piece in pieces:
            c.send_body(sid, bytes(piece), end=False)
            t0 = time.monotonic()
            while getattr(st, "pending", None) is not None and len(st.pending) > (1 << 20) and not st.done:
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError("the server's window stayed shut for %ss" % timeout)
                if not c.pump(timeout=0.5):
                    break
            if st.done or c.closed:
                break  # answered early or cut: read what came
        if not st.done and not c.closed:
            c.send_body(sid, b"", end=True)
        if not c.closed:
            c.wait(lambda: st.done, timeout)
        return st

    def set_debuglevel(self, level):
        pass

    def connect(self):
        self._client()

    @property
    def sock(self):
        return self.client.sock if self.client else None

    def close(self):
        if self.client:
            self.client.close()
            self.client = None

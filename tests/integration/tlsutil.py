"""Certificates for the TLS tests, made with the openssl command into a test's
own temp folder (never committed), and client-side helpers. Not a test file
itself (ctest registers only test_*.py)."""
import os
import socket
import ssl
import subprocess


def _run(args, cwd):
    p = subprocess.run(args, cwd=cwd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(args), p.stderr.decode(errors="replace")))


def make_ca(folder, name="ca"):
    """A CA key and self-signed certificate: <name>.key, <name>.crt."""
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", name + ".key", "-out", name + ".crt", "-days", "30", "-subj", "/CN=webserv test CA " + name],
         folder)
    return os.path.join(folder, name + ".crt")


def make_cert(folder, cn, ca="ca", out=None, key_type="ec", days=30, client=False):
    """A certificate for cn (also its subjectAltName) signed by ca: <out>.crt,
    <out>.key (out defaults to cn). key_type "ec" (P-256) or "rsa" (2048)."""
    out = out or cn
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    ext = os.path.join(folder, out + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\n" % cn)
        f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
    _run(["openssl", "req", *newkey, "-nodes", "-keyout", out + ".key", "-out", out + ".csr", "-subj", "/CN=" + cn],
         folder)
    _run(["openssl", "x509", "-req", "-in", out + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
          "-CAcreateserial", "-days", str(days), "-out", out + ".crt", "-extfile", ext], folder)
    return os.path.join(folder, out + ".crt"), os.path.join(folder, out + ".key")


def client_context(cafile=None, verify=True):
    ctx = ssl.create_default_context(cafile=cafile) if verify else ssl._create_unverified_context()
    if not verify:
        ctx.check_hostname = False
    return ctx


def tls_connect(port, server_hostname=None, ctx=None, session=None, timeout=10, host="127.0.0.1"):
    """A connected, handshaken SSLSocket."""
    ctx = ctx or client_context(verify=False)
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except Exception:
        raw.close()
        raise


def https_get(sock, path="/", host="a.test", close=True, extra=""):
    """Send one GET over sock; return the raw response bytes (until close when close)."""
    req = "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n" % (path, host, extra, "Connection: close\r\n" if close else "")
    sock.sendall(req.encode())
    chunks = []
    while True:
        try:
            b = sock.recv(65536)
        except (ssl.SSLZeroReturnError,):
            break
        if not b:
            break
        chunks.append(b)
        if not close:
            data = b"".join(chunks)
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(rest) >= int(line.split(b":")[1]):
                            return data
    return b"".join(chunks)


def peer_cn(sock):
    """The CN of the certificate the server presented (binary form parsed by openssl)."""
    der = sock.getpeercert(binary_form=True)
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253"],
                       input=der, capture_output=True, timeout=30)
    out = p.stdout.decode().strip()
    return out.split("CN=", 1)[1].split(",")[0] if "CN=" in out else out


def fingerprint(sock):
    import hashlib
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()

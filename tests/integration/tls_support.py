"""TLS pieces for the integration tests: a throwaway PKI made with the
openssl CLI, and a TLS terminator (Python's ssl module) that pipes each
connection to a plain backend (the mock) and counts what happened."""

import os
import socket
import ssl
import subprocess
import threading

import harness


def _openssl(d, *args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)


def make_ca(d, name="ca"):
    """A CA certificate and key: (pem path, key path)."""
    _openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=agd test " + name)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


def make_leaf(d, ca, name, san="IP:127.0.0.1,DNS:localhost", days=2):
    """A server certificate signed by ca (from make_ca) for san; days < 0
    gives one that has expired. Returns (cert path, key path)."""
    ca_pem, ca_key = ca
    _openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=" + name)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    _openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
             "-out", name + ".pem", "-days", str(days), "-extfile", name + ".ext")
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


def make_pki(d):
    """One CA and a leaf for 127.0.0.1 / localhost: (ca pem, leaf, key)."""
    ca = make_ca(d)
    cert, key = make_leaf(d, ca, "leaf")
    return ca[0], cert, key


class TlsTerminator:
    """Accepts TLS on a free port and pipes each connection to the backend.
    Counts handshakes (and those that resumed a session), failed handshakes,
    and keeps the negotiated versions and ALPN protocols. drop_all() closes
    every open connection, quietly, as an upstream's idle timeout would."""

    def __init__(self, cert, key, backend_port, max_version=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["http/1.1"])
        if max_version:
            self.ctx.maximum_version = max_version
        self.backend = backend_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.handshakes = 0
        self.resumed = 0
        self.failed_handshakes = 0
        self.versions = []
        self.alpn = []
        self.open = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.failed_handshakes += 1
            raw.close()
            return
        with self.lock:
            self.handshakes += 1
            self.resumed += 1 if tls.session_reused else 0
            self.versions.append(tls.version())
            self.alpn.append(tls.selected_alpn_protocol())
            self.open.append(tls)
        back = socket.create_connection(("127.0.0.1", self.backend))

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        other = threading.Thread(target=pump, args=(back, tls), daemon=True)
        other.start()
        pump(tls, back)
        other.join(harness.t(10))
        with self.lock:
            if tls in self.open:
                self.open.remove(tls)
        tls.close()
        back.close()

    def drop_all(self):
        with self.lock:
            conns, self.open = self.open, []
        for tls in conns:
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.sock.close()

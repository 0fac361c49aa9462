#!/usr/bin/env python3
"""HTTPS upstreams and a private CA ([provider.NAME] ca_file): a TLS
terminator (Python's ssl module) in front of the mock, its certificate from
a CA made here with the openssl CLI. Verification is never skipped: without
the CA the request fails with a 502 naming the certificate problem, with it
the answer comes through."""

import os
import shutil
import socket
import ssl
import subprocess
import threading
import unittest

import harness
from harness import AgdTestCase, build_config, cred_of, openai_provider, post

K1 = "tls-cred-one-1111"


def make_pki(d):
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=agd test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem",
        "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(d, "ca.pem"), os.path.join(d, "leaf.pem"), os.path.join(d, "leaf.key")


class TlsTerminator:
    """Accepts TLS on a free port and pipes each connection to the mock."""

    def __init__(self, cert, key, backend_port):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.backend = backend_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.failed_handshakes = 0
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
            self.failed_handshakes += 1
            raw.close()
            return
        self.handshakes += 1
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
        tls.close()
        back.close()

    def close(self):
        self.closed = True
        self.sock.close()


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
class HttpsCaTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.ca, cert, key = make_pki(self.tmp)
        self.tls = TlsTerminator(cert, key, self.mock.port)
        self.addCleanup(self.tls.close)

    def daemon(self, ca_file=None, name="agd"):
        p = openai_provider("https://127.0.0.1:%d" % self.tls.port, [K1], "gpt-*")
        if ca_file:
            p["ca_file"] = ca_file
        server = {k: os.path.join(self.tmp, name + s)
                  for k, s in (("pid_file", ".pid"), ("control_socket", ".sock"), ("state_dir", ".state"))}
        return self.start_daemon(build_config(self.tmp, server=server, providers=[("oa", p)]), name=name)

    def chat(self, d):
        return post(d.port, "/v1/chat/completions", {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]})

    def test_the_private_ca_lets_the_answer_through(self):
        d = self.daemon(self.ca)
        for _ in range(3):
            r = self.chat(d)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(cred_of(r.json()["choices"][0]["message"]["content"]), K1)
        self.assertGreaterEqual(self.tls.handshakes, 1)

    def test_without_the_ca_the_certificate_is_refused_never_skipped(self):
        d = self.daemon(None, name="noca")
        r = self.chat(d)
        self.assertEqual(r.status, 502, r)
        self.assertRegex(r.json()["error"]["message"], "(?i)certificate|issuer|SSL", r)
        self.assertEqual(self.mock.requests(), [])  # nothing reached the upstream
        self.assertGreaterEqual(self.tls.failed_handshakes, 1)

    def test_a_ca_file_that_is_no_certificate_is_a_config_error(self):
        bad = os.path.join(self.tmp, "bad.pem")
        with open(bad, "w") as f:
            f.write("hello\n")
        cfg = build_config(self.tmp, providers=[("oa", dict(openai_provider("https://127.0.0.1:1", [K1], "gpt-*"),
                                                              ca_file=bad))])
        path = os.path.join(self.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(cfg)
        r = subprocess.run([harness.AGD_BIN, "check-config", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("holds no PEM certificate", r.stderr)


if __name__ == "__main__":
    harness.main()

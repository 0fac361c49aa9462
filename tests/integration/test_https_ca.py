#!/usr/bin/env python3
"""HTTPS upstreams and a private CA ([provider.NAME] ca_file), through both
HTTP clients (the native one and libcurl): a TLS terminator (Python's ssl
module) in front of the mock, its certificate from a CA made here with the
openssl CLI. Verification is never skipped: without
the CA the request fails with a 502 naming the certificate problem, with it
the answer comes through."""

import os
import shutil
import subprocess
import unittest

import harness
from harness import AgdTestCase, build_config, cred_of, openai_provider, post
from tls_support import TlsTerminator, make_pki

K1 = "tls-cred-one-1111"


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
class HttpsCaTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.ca, cert, key = make_pki(self.tmp)
        self.tls = TlsTerminator(cert, key, self.mock.port)
        self.addCleanup(self.tls.close)

    def daemon(self, ca_file=None, name="agd", http_client="auto"):
        p = openai_provider("https://127.0.0.1:%d" % self.tls.port, [K1], "gpt-*")
        p["http_client"] = http_client
        if ca_file:
            p["ca_file"] = ca_file
        server = {k: os.path.join(self.tmp, name + s)
                  for k, s in (("pid_file", ".pid"), ("control_socket", ".sock"), ("state_dir", ".state"))}
        return self.start_daemon(build_config(self.tmp, server=server, providers=[("oa", p)]), name=name)

    def chat(self, d):
        return post(d.port, "/v1/chat/completions", {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]})

    def test_the_private_ca_lets_the_answer_through(self):
        for client in ("auto", "libcurl"):
            with self.subTest(http_client=client):
                before = self.tls.handshakes
                d = self.daemon(self.ca, name="ca-" + client, http_client=client)
                for _ in range(3):
                    r = self.chat(d)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(cred_of(r.json()["choices"][0]["message"]["content"]), K1)
                self.assertGreaterEqual(self.tls.handshakes, before + 1)

    def test_without_the_ca_the_certificate_is_refused_never_skipped(self):
        for client in ("auto", "libcurl"):
            with self.subTest(http_client=client):
                before = self.tls.failed_handshakes
                d = self.daemon(None, name="noca-" + client, http_client=client)
                r = self.chat(d)
                self.assertEqual(r.status, 502, r)
                self.assertRegex(r.json()["error"]["message"], "(?i)certificate|issuer|SSL", r)
                self.assertEqual(self.mock.requests(), [])  # nothing reached the upstream
                self.assertGreaterEqual(self.tls.failed_handshakes, before + 1)

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

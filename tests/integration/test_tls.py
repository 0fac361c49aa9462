#!/usr/bin/env python3
"""https upstreams through the native HTTP/1.1 client: keep-alive reuse on
one handshake, ALPN http/1.1, session resumption (TLS 1.3 tickets and TLS 1.2
sessions) after the upstream closed an idle connection, verification
failures that name their reason and never fall back to no verification,
and peers that break the handshake. One worker, so that connections and
sessions are counted exactly."""

import os
import shutil
import socket
import ssl
import threading
import unittest

import harness
from harness import AgdTestCase, build_config, cred_of, openai_provider, post, stream
from tls_support import TlsTerminator, make_ca, make_leaf

K1 = "tls-native-key-1111"
CHAT = "/v1/chat/completions"


def chat(model, **kw):
    return dict({"model": model, "messages": [{"role": "user", "content": "hi"}]}, **kw)


class HandshakeBreaker:
    """A TCP server that reads the ClientHello, then either closes or answers
    with bytes that are not TLS."""

    def __init__(self, answer=b""):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                c.recv(4096)
                if self.answer:
                    c.sendall(self.answer)
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
class NativeTlsTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.ca = make_ca(self.tmp)
        self.cert = make_leaf(self.tmp, self.ca, "leaf")

    def terminator(self, cert=None, max_version=None):
        cert, key = cert or self.cert
        t = TlsTerminator(cert, key, self.mock.port, max_version)
        self.addCleanup(t.close)
        return t

    def daemon(self, providers):
        return self.start_daemon(build_config(self.tmp, server={"workers": "1"}, providers=providers))

    def provider(self, port, models, ca=True):
        p = openai_provider("https://127.0.0.1:%d" % port, [K1], models)
        if ca:
            p["ca_file"] = self.ca[0]
        return p

    def test_one_handshake_carries_many_requests(self):
        term = self.terminator()
        d = self.daemon([("oa", self.provider(term.port, "gpt-*"))])
        for i in range(20):
            r = post(d.port, CHAT, chat("gpt-%d" % i))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(cred_of(r.json()["choices"][0]["message"]["content"]), K1)
        r = stream(d.port, CHAT, chat("gpt-s+chunks=9", stream=True))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.events[-1].data, "[DONE]")
        self.assertEqual(len(self.mock.requests()), 21)
        self.assertEqual(term.handshakes, 1)
        self.assertEqual(term.alpn, ["http/1.1"])
        self.assertEqual(term.versions, ["TLSv1.3"])

    def test_big_answers_cross_many_records(self):
        term = self.terminator()
        d = self.daemon([("oa", self.provider(term.port, "gpt-*"))])
        r = stream(d.port, CHAT, chat("gpt-big+chunks=40+piece_size=65536", stream=True))
        self.assertEqual(r.status, 200, r)
        pieces = [ch["delta"]["content"] for e in r.events[:-1] for ch in e.json()["choices"]
                  if ch["delta"].get("content")]
        self.assertEqual(len(pieces), 40)
        for i, p in enumerate(pieces):
            self.assertEqual(len(p), 65536)
            self.assertIn("#%d;" % i, p[:200])
        # A request body larger than one record (16 KiB), sent in pieces.
        big = chat("gpt-x", messages=[{"role": "user", "content": "z" * 300000}])
        r = post(d.port, CHAT, big)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.mock.requests()), 2)
        self.assertEqual(term.handshakes, 1)

    def resumes(self, max_version):
        term = self.terminator(max_version=max_version)
        d = self.daemon([("oa", self.provider(term.port, "gpt-*"))])
        for round in range(3):
            r = post(d.port, CHAT, chat("gpt-x"))
            self.assertEqual(r.status, 200, r)
            # The upstream ends the kept-alive connection, as an idle timeout
            # would; the next request opens another, resuming the session.
            term.drop_all()
        self.assertEqual(term.handshakes, 3)
        self.assertEqual(term.resumed, 2)
        return term

    def test_tls13_session_resumes_on_the_next_connection(self):
        term = self.resumes(None)
        self.assertEqual(set(term.versions), {"TLSv1.3"})

    def test_tls12_session_resumes_on_the_next_connection(self):
        term = self.resumes(ssl.TLSVersion.TLSv1_2)
        self.assertEqual(set(term.versions), {"TLSv1.2"})

    def test_verification_failures_name_the_reason_and_send_nothing(self):
        other_ca = make_ca(self.tmp, "otherca")
        cases = [
            ("wrong-", make_leaf(self.tmp, self.ca, "wronghost", san="DNS:other.example"), "IP address mismatch"),
            ("unknown-", make_leaf(self.tmp, other_ca, "unknownca"), "unable to get local issuer certificate"),
            ("expired-", make_leaf(self.tmp, self.ca, "expired", days=-1), "certificate has expired"),
        ]
        terms = [self.terminator(cert) for _, cert, _ in cases]
        d = self.daemon([("p%d" % i, self.provider(t.port, prefix + "*")) for i, ((prefix, _, _), t)
                         in enumerate(zip(cases, terms))])
        for (prefix, _, reason), term in zip(cases, terms):
            with self.subTest(case=prefix):
                for _ in range(2):  # and again: nothing was remembered as trusted
                    r = post(d.port, CHAT, chat(prefix + "x"))
                    self.assertEqual(r.status, 502, r)
                    msg = r.json()["error"]["message"]
                    self.assertIn("TLS handshake with 127.0.0.1 port %d failed: certificate verify failed: %s"
                                  % (term.port, reason), msg)
                self.assertEqual(term.handshakes, 0)
                self.assertGreaterEqual(term.failed_handshakes, 1)
        self.assertEqual(self.mock.requests(), [])
        # The same daemon still serves a good upstream.
        self.assertTrue(d.alive())

    def test_peers_that_break_the_handshake(self):
        closes = HandshakeBreaker()
        garbage = HandshakeBreaker(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.addCleanup(closes.close)
        self.addCleanup(garbage.close)
        providers = [("closes", self.provider(closes.port, "closes-*")),
                     ("garbage", self.provider(garbage.port, "garbage-*")),
                     # A plain-HTTP upstream named with https://.
                     ("plain", self.provider(self.mock.port, "plain-*"))]
        d = self.daemon(providers)
        for model, port in (("closes-x", closes.port), ("garbage-x", garbage.port), ("plain-x", self.mock.port)):
            with self.subTest(model=model):
                r = post(d.port, CHAT, chat(model))
                self.assertEqual(r.status, 502, r)
                self.assertIn("TLS handshake with 127.0.0.1 port %d failed: " % port, r.json()["error"]["message"])
        # An HTTP answer to the ClientHello: the message says what it likely is.
        r = post(d.port, CHAT, chat("garbage-x"))
        self.assertIn("may not speak TLS: should its URL be http://?", r.json()["error"]["message"])
        self.assertGreaterEqual(closes.accepted, 1)
        self.assertEqual(self.mock.requests(), [])
        self.assertTrue(d.alive())

    def test_without_a_trusted_ca_there_is_no_answer(self):
        # No ca_file: the system store does not know the test CA.
        term = self.terminator()
        d = self.daemon([("oa", self.provider(term.port, "gpt-*", ca=False))])
        r = post(d.port, CHAT, chat("gpt-x"))
        self.assertEqual(r.status, 502, r)
        self.assertIn("certificate verify failed", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)

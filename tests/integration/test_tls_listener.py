#!/usr/bin/env python3
"""TLS on the client listener (`listen = ADDRESS:PORT ssl`, [tls]): HTTPS
requests, streams, uploads and WebSocket sessions through it, TLS versions,
client certificates (client_ca), the certificate renewed by a reload (and a
bad one refused, the running one kept), and the file checks of
check-config and start. The PKI is made here with the openssl CLI."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import unittest
import warnings

import harness
from harness import AgdTestCase, build_config, cred_of, openai_provider, parse_sse, t
from tls_support import make_ca, make_leaf
from ws_client import WsClient

K1 = "tls-listener-key-1111"


def chat(model="gpt-x", stream=False, content="hi"):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
class TlsListenerCase(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.ca = make_ca(self.tmp)
        self.cert, self.key = make_leaf(self.tmp, self.ca, "server")
        os.chmod(self.key, 0o600)

    def config(self, tls_lines=None, name="agd"):
        server = {k: os.path.join(self.tmp, name + s)
                  for k, s in (("pid_file", ".pid"), ("control_socket", ".sock"), ("state_dir", ".state"))}
        text = build_config(self.tmp, server=server, listen=["127.0.0.1:0", "127.0.0.1:0 ssl"],
                            providers=[("oa", openai_provider(self.mock, [K1], "gpt-*"))])
        lines = tls_lines if tls_lines is not None else ["certificate = " + self.cert, "key = " + self.key]
        return text + "\n[tls]\n" + "\n".join(lines) + "\n"

    def daemon(self, tls_lines=None, name="agd"):
        d = self.start_daemon(self.config(tls_lines, name), name=name)
        d.tls_port = None
        for entry in d.status_json()["listeners"]:
            if entry.endswith(" ssl"):
                d.tls_port = int(entry.split(" ")[0].rsplit(":", 1)[1])
        self.assertIsNotNone(d.tls_port, d.status_json()["listeners"])
        return d

    def context(self, cert=None, key=None, **versions):
        ctx = ssl.create_default_context(cafile=self.ca[0])
        if cert:
            ctx.load_cert_chain(cert, key)
        for k, v in versions.items():
            setattr(ctx, k, v)
        return ctx

    def https(self, d, ctx=None):
        return http.client.HTTPSConnection("127.0.0.1", d.tls_port, timeout=t(30), context=ctx or self.context())

    def fetch(self, conn, method, path, body=None, headers=None):
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read(), r

    def once(self, d, ctx=None, method="GET", path="/healthz", body=None):
        """One request on a connection of its own: (status, body)."""
        conn = self.https(d, ctx)
        try:
            status, data, _ = self.fetch(conn, method, path, body)
            return status, data
        finally:
            conn.close()

    def served_certificate(self, d):
        """The serial number of the certificate a new handshake gets."""
        with socket.create_connection(("127.0.0.1", d.tls_port), timeout=t(30)) as raw:
            with self.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.getpeercert()["serialNumber"]


class Serving(TlsListenerCase):

    def test_requests_streams_and_keep_alive_over_tls(self):
        d = self.daemon()
        conn = self.https(d)
        self.addCleanup(conn.close)
        status, body, _ = self.fetch(conn, "GET", "/healthz")
        self.assertEqual(status, 200, body)
        status, body, _ = self.fetch(conn, "POST", "/v1/chat/completions", chat())
        self.assertEqual(status, 200, body)
        self.assertEqual(cred_of(json.loads(body)["choices"][0]["message"]["content"]), K1)
        status, body, r = self.fetch(conn, "POST", "/v1/chat/completions", chat(stream=True))
        self.assertEqual(status, 200, body)
        self.assertEqual(r.getheader("content-type").split(";")[0], "text/event-stream")
        events, rest = parse_sse(body)
        self.assertEqual(rest, "")
        self.assertEqual(events[-1].data, "[DONE]")
        self.assertIn("cred=" + K1, "".join(e.data for e in events))
        self.assertEqual(conn.sock.selected_alpn_protocol(), None)  # http.client offers none
        # One connection carried all three.
        accepted = [x for x in d.access_lines() if "path=/v1/chat/completions" in x or "path=/healthz" in x]
        self.assertEqual(len(accepted), 3)
        # The plain listener still answers plain HTTP.
        self.assertEqual(harness.get(d.port, "/healthz").status, 200)

    def test_alpn_picks_http_1_1_and_a_client_offering_only_h2_goes_on_without(self):
        d = self.daemon()
        for offered, chosen in ((["h2", "http/1.1"], "http/1.1"), (["h2"], None)):
            with self.subTest(offered=offered):
                ctx = self.context()
                ctx.set_alpn_protocols(offered)
                with socket.create_connection(("127.0.0.1", d.tls_port), timeout=t(30)) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        self.assertEqual(s.selected_alpn_protocol(), chosen)
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        got = harness.recv_all(s)
                        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:100])

    def test_a_large_upload_with_expect_continue(self):
        d = self.daemon()
        conn = self.https(d)
        self.addCleanup(conn.close)
        big = chat(content="a" * (3 << 20))
        status, body, _ = self.fetch(conn, "POST", "/v1/chat/completions", big, {"Expect": "100-continue"})
        self.assertEqual(status, 200, body[:300])
        sent = json.loads(self.mock.requests()[-1]["body"])
        self.assertEqual(len(sent["messages"][0]["content"]), 3 << 20)

    def test_a_malformed_head_is_answered_through_the_session(self):
        d = self.daemon()
        with socket.create_connection(("127.0.0.1", d.tls_port), timeout=t(30)) as raw:
            with self.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n")
                got = harness.recv_all(s)
        self.assertRegex(got[:40].decode(errors="replace"), r"^HTTP/1\.1 431 ")
        self.assertEqual(harness.get(d.port, "/healthz").status, 200)

    def test_plain_http_or_garbage_on_the_tls_port_is_closed_and_harms_nothing(self):
        d = self.daemon()
        for junk in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello", os.urandom(4096)):
            with socket.create_connection(("127.0.0.1", d.tls_port), timeout=t(30)) as s:
                try:
                    s.sendall(junk)
                    got = harness.recv_all(s)
                except (ConnectionResetError, BrokenPipeError):
                    got = b""
                self.assertNotIn(b"HTTP/1.1 200", got)
        self.assertEqual(self.once(d)[0], 200)

    def test_a_websocket_session_over_tls(self):
        d = self.daemon()
        c = WsClient(d.tls_port, tls=self.context(), timeout=t(30),
                     headers={"OpenAI-Beta": "responses_websockets=2026-02-06"})
        self.addCleanup(c.shutdown)
        c.send_json({"type": "response.create", "model": "gpt-x", "stream": True,
                     "input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}]})
        events = c.events_until_done()
        self.assertEqual(events[-1]["type"], "response.completed", [e["type"] for e in events])
        text = "".join(e.get("delta", "") for e in events if e["type"] == "response.output_text.delta")
        self.assertEqual(cred_of(text), K1)
        c.close()
        self.assertEqual(c.wait_closed()[0], 1000)


class Versions(TlsListenerCase):

    def test_tls_1_2_and_1_3_but_nothing_older(self):
        d = self.daemon()
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                ctx = self.context(minimum_version=version, maximum_version=version)
                conn = self.https(d, ctx)
                self.addCleanup(conn.close)
                self.assertEqual(self.fetch(conn, "GET", "/healthz")[0], 200)
                self.assertEqual(conn.sock.version(), version.name.replace("_", "."))
        # What the system's OpenSSL lets a client offer below 1.2 is refused.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca[0])
        ctx.check_hostname = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except ValueError:
            self.skipTest("this OpenSSL cannot offer TLS 1.1")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.once(d, ctx)

    def test_min_version_1_3_refuses_a_1_2_client(self):
        d = self.daemon(["certificate = " + self.cert, "key = " + self.key, "min_version = 1.3"])
        ctx = self.context(maximum_version=ssl.TLSVersion.TLSv1_2)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.once(d, ctx)
        self.assertEqual(self.once(d)[0], 200)


class ClientCertificates(TlsListenerCase):

    def test_client_ca_requires_a_certificate_it_signed(self):
        client_ca = make_ca(self.tmp, "clientca")
        good = make_leaf(self.tmp, client_ca, "alice")
        stranger = make_leaf(self.tmp, make_ca(self.tmp, "otherca"), "mallory")
        d = self.daemon(["certificate = " + self.cert, "key = " + self.key, "client_ca = " + client_ca[0]])
        status, body = self.once(d, self.context(*good), "POST", "/v1/chat/completions", chat())
        self.assertEqual(status, 200, body)
        for name, ctx in (("no certificate", self.context()), ("another CA's", self.context(*stranger))):
            with self.subTest(client=name):
                # TLS 1.3 reports the refusal at the first read.
                with self.assertRaises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
                    self.once(d, ctx)
        self.assertEqual(self.once(d, self.context(*good))[0], 200)


class Reload(TlsListenerCase):

    def test_a_renewed_certificate_serves_new_handshakes_and_a_bad_one_is_refused(self):
        d = self.daemon()
        first = self.served_certificate(d)
        kept = self.https(d)
        self.addCleanup(kept.close)
        self.assertEqual(self.fetch(kept, "GET", "/healthz")[0], 200)

        # Renewed in place (what certbot and friends do), then reloaded.
        make_leaf(self.tmp, self.ca, "server")
        os.chmod(self.key, 0o600)
        r = d.cli("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        second = self.served_certificate(d)
        self.assertNotEqual(first, second)
        self.assertEqual(self.fetch(kept, "GET", "/healthz")[0], 200)  # a session in progress goes on

        # A certificate file that holds no certificate: the reload fails,
        # the running certificate stays.
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        r = d.cli("reload")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("tls.certificate", r.stdout + r.stderr)
        self.assertEqual(self.served_certificate(d), second)
        self.assertEqual(self.once(d, None, "POST", "/v1/chat/completions", chat())[0], 200)


class Upgrade(TlsListenerCase):

    def test_a_binary_upgrade_keeps_the_ssl_listener_ssl(self):
        d = self.daemon()
        port = d.tls_port
        # The successor is not the harness's child: stopped here, even if the test fails.
        self.addCleanup(d.cli, "stop")
        r = d.cli("upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(d.wait_exit(), 0)
        status = d.status_json()
        self.assertIn("127.0.0.1:%d ssl" % port, status["listeners"])
        self.assertEqual(self.once(d)[0], 200)
        self.assertEqual(harness.get(d.port, "/healthz").status, 200)


class FileChecks(TlsListenerCase):

    def check(self, lines):
        path = self.write_config(self.config(lines), name="check.conf")
        return subprocess.run([harness.AGD_BIN, "check-config", "-c", path], capture_output=True, text=True,
                              timeout=t(60))

    def test_check_config_and_start_refuse_what_cannot_serve(self):
        other_cert, other_key = make_leaf(self.tmp, self.ca, "other")
        readable = os.path.join(self.tmp, "readable.key")
        shutil.copy(self.key, readable)
        os.chmod(readable, 0o644)
        cert_as_key = os.path.join(self.tmp, "cert-as.key")
        shutil.copy(self.cert, cert_as_key)
        os.chmod(cert_as_key, 0o600)
        garbage = os.path.join(self.tmp, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        cases = [
            (["certificate = " + self.cert, "key = " + other_key], "is not the private key of"),
            (["certificate = " + self.cert, "key = " + readable], "may be read by other users"),
            (["certificate = " + garbage, "key = " + self.key], "tls.certificate: " + garbage),
            (["certificate = " + self.cert, "key = " + cert_as_key], "not a PEM private key"),
            (["certificate = " + self.cert, "key = /nonexistent/x.key"], "cannot read /nonexistent/x.key"),
            (["certificate = " + self.cert, "key = " + self.key, "client_ca = " + garbage], "tls.client_ca"),
        ]
        for lines, message in cases:
            with self.subTest(message=message):
                r = self.check(lines)
                self.assertEqual(r.returncode, 1, r)
                self.assertIn(message, r.stderr)
                self.assertNotIn("PRIVATE KEY", r.stderr + r.stdout)
        r = self.check(None)
        self.assertEqual(r.returncode, 0, r.stderr)

        # `run` refuses it as a configuration error (78), before binding.
        path = self.write_config(self.config(["certificate = " + self.cert, "key = " + other_key]), "bad.conf")
        r = subprocess.run([harness.AGD_BIN, "run", "-c", path], capture_output=True, text=True, timeout=t(60))
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("is not the private key of", r.stderr)

    def test_an_expired_certificate_is_served_with_a_warning(self):
        cert, key = make_leaf(self.tmp, self.ca, "expired", days=-1)
        os.chmod(key, 0o600)
        r = self.check(["certificate = " + cert, "key = " + key])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("expired on", r.stderr)


if __name__ == "__main__":
    harness.main()

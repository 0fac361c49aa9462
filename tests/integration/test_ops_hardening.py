#!/usr/bin/env python3
"""Operational hardening (issue 10, defects 3, 9, 10, 11):

- the IP filter reads every X-Forwarded-For line behind a trusted proxy,
  believes only the header named by access.real_ip_header, and never lets
  malformed forwarding headers choose the client's address;
- credentials inside a URL (base_url, proxy, an image URL) never appear in
  `status`, `status --json`, the log or an error;
- idle control-socket connections cannot lock out status and reload, and
  the CLI exits non-zero whenever it fails;
- SIGUSR1 and SIGALRM do not kill the daemon (SIGUSR1 reopens the
  log files; SIGUSR2 upgrades: test_upgrade.py), and a stream in flight is not disturbed.
"""

import json
import os
import signal
import socket
import subprocess

import harness
from harness import (AGD_BIN, AgdTestCase, SSEReader, build_config, expected_text, gemini_provider,
                     openai_provider, parse_access, post, raw_exchange, t, text_of_chat_events, wait_until)

KEY = "sk-proj-OPS-provider-5a5a5a5a5a"
GKEY = "AIzaOPS-gemini-6b6b6b6b6b"
SECRET = "pw-SECRET-in-base-url-77"
PROXY_SECRET = "pw-SECRET-in-proxy-88"
IMAGE_SECRET = "pw-SECRET-in-image-99"


def chat_body(model="gpt-a", stream=False):
    b = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
    return b


def health_with(port, header_lines):
    """GET /health with exactly these header lines (repeats allowed),
    straight from 127.0.0.1 (the trusted proxy in these tests)."""
    head = b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
    for name, value in header_lines:
        head += ("%s: %s\r\n" % (name, value)).encode()
    return raw_exchange(port, head + b"\r\n")


class OpsTestCase(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, access=None, server=None, providers=None, name="agd"):
        if providers is None:
            providers = [("oa", openai_provider(self.mock, [KEY], "gpt-*"))]
        return self.start_daemon(build_config(self.tmp, access=access, server=server, providers=providers),
                                 name=name)

    def clients_logged(self, d, n):
        return [parse_access(l)["addr"] for l in d.wait_access_lines(n)]


class ForwardedForTests(OpsTestCase):
    """Defect 3: X-Forwarded-For bypass behind a trusted proxy."""

    def test_second_forwarded_for_line_is_not_ignored_against_allow(self):
        d = self.daemon(access={"allow": "10.0.0.0/8", "trusted_proxy": "127.0.0.1"})
        # One line: the client is 10.1.1.1, allowed.
        self.assertEqual(health_with(d.port, [("X-Forwarded-For", "10.1.1.1")]).status, 200)
        # The bypass: a second line; the list is "10.1.1.1, 192.168.1.5".
        r = health_with(d.port, [("X-Forwarded-For", "10.1.1.1"), ("X-Forwarded-For", "192.168.1.5")])
        self.assertOpenAIError(r, 403)
        # Lines join in order: the rightmost of all of them is the client.
        r = health_with(d.port, [("X-Forwarded-For", "192.168.1.5"), ("x-forwarded-for", "10.2.2.2")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.clients_logged(d, 3), ["10.1.1.1", "192.168.1.5", "10.2.2.2"])

    def test_second_forwarded_for_line_is_not_ignored_against_deny(self):
        d = self.daemon(access={"deny": "192.168.1.0/24", "trusted_proxy": "127.0.0.1"})
        r = health_with(d.port, [("X-Forwarded-For", "10.1.1.1"), ("X-Forwarded-For", "192.168.1.5")])
        self.assertOpenAIError(r, 403)
        r = health_with(d.port, [("X-Forwarded-For", "192.168.1.5, 10.1.1.1")])
        self.assertEqual(r.status, 200, r)

    def test_default_header_is_forwarded_for_and_real_ip_is_ignored(self):
        d = self.daemon(access={"allow": "10.0.0.0/8", "trusted_proxy": "127.0.0.1"})
        r = health_with(d.port, [("X-Real-IP", "10.1.1.1"), ("X-Forwarded-For", "192.168.1.5")])
        self.assertOpenAIError(r, 403)
        # X-Real-IP alone says nothing: the client is the proxy itself.
        r = health_with(d.port, [("X-Real-IP", "10.1.1.1")])
        self.assertOpenAIError(r, 403)
        self.assertEqual(self.clients_logged(d, 2), ["192.168.1.5", "127.0.0.1"])

    def test_real_ip_header_x_real_ip_ignores_the_clients_forwarded_for(self):
        # A proxy that sets only X-Real-IP passes the client's own XFF through.
        d = self.daemon(access={"allow": "10.0.0.0/8", "trusted_proxy": "127.0.0.1",
                                "real_ip_header": "x-real-ip"})
        r = health_with(d.port, [("X-Forwarded-For", "10.1.1.1"), ("X-Real-IP", "192.168.1.5")])
        self.assertOpenAIError(r, 403)
        r = health_with(d.port, [("X-Forwarded-For", "192.168.1.5"), ("X-Real-IP", "10.1.1.1")])
        self.assertEqual(r.status, 200, r)
        # Two X-Real-IP values: nobody knows which one the proxy set.
        r = health_with(d.port, [("X-Real-IP", "10.1.1.1"), ("X-Real-IP", "10.1.1.2")])
        self.assertOpenAIError(r, 403)
        self.assertEqual(self.clients_logged(d, 3), ["192.168.1.5", "10.1.1.1", "unknown"])

    def test_malformed_forwarded_for_never_chooses_the_address(self):
        # The proxy itself is allowed: falling back to its address would let garbage in.
        d = self.daemon(access={"allow": ["10.0.0.0/8", "127.0.0.1", "198.51.100.0/24"],
                                "trusted_proxy": ["127.0.0.1", "10.0.0.0/8"]})
        bad = [
            [("X-Forwarded-For", "garbage")],
            [("X-Forwarded-For", "192.168.1.5, garbage, 10.0.0.9")],
            [("X-Forwarded-For", ", ".join(["10.0.0.1"] * 40))],           # too many hops to walk
            [("X-Forwarded-For", "10.0.0.%d" % i) for i in range(40)],      # too many lines
        ]
        for lines in bad:
            with self.subTest(lines=lines[:2]):
                err = self.assertOpenAIError(health_with(d.port, lines), 403)
                self.assertIn("X-Forwarded-For", err["message"])
        # Garbage to the left of the client is never reached.
        self.assertEqual(health_with(d.port, [("X-Forwarded-For", "garbage, 198.51.100.7, 10.1.1.1")]).status, 200)
        self.assertEqual(self.clients_logged(d, len(bad) + 1), ["unknown"] * len(bad) + ["198.51.100.7"])
        self.assertTrue(d.alive())


class RedactionTests(OpsTestCase):
    """Defect 9: no password from a URL in status, status --json, the log or an error."""

    def test_url_credentials_are_masked_everywhere(self):
        closed = harness.free_port_nobody_listens_on()
        base = "http://alice:%s@127.0.0.1:%d" % (SECRET, self.mock.port)
        providers = [
            ("oa", openai_provider(base, [KEY], "gpt-*")),
            ("px", dict(openai_provider(self.mock, [KEY + "2"], "px-*"),
                        proxy="http://bob:%s@127.0.0.1:%d" % (PROXY_SECRET, closed))),
            ("ge", gemini_provider(self.mock, [GKEY], "gem-*")),
        ]
        d = self.daemon(providers=providers, server={"log_level": "debug"})
        # Requests that fail in ways that quote URLs: through the dead proxy,
        # and an image (chat -> Gemini downloads it) on a URL with a password.
        post(d.port, "/v1/chat/completions", chat_body("px-a"))
        image_url = "http://carol:%s@127.0.0.1:%d/missing.png" % (IMAGE_SECRET, self.mock.port)
        body = {"model": "gem-a", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": image_url}}]}]}
        r = post(d.port, "/v1/chat/completions", body)
        err = self.assertOpenAIError(r, 400)
        self.assertNotIn(IMAGE_SECRET, r.body.decode())
        self.assertIn("http://***@127.0.0.1:%d/missing.png" % self.mock.port, err["message"])
        d.wait_access_lines(2)

        text = d.cli("status")
        self.assertEqual(text.returncode, 0, text.stderr)
        js = d.cli("status", "--json")
        self.assertEqual(js.returncode, 0, js.stderr)
        status = json.loads(js.stdout)
        by_name = {p["name"]: p for p in status["providers"]}
        self.assertEqual(by_name["oa"]["base_url"], "http://***@127.0.0.1:%d/v1" % self.mock.port)
        self.assertEqual(by_name["px"]["proxy"], "http://***@127.0.0.1:%d" % closed)
        self.assertIn("http://***@127.0.0.1:%d/v1" % self.mock.port, text.stdout)
        self.assertIn("proxy: http://***@127.0.0.1:%d" % closed, text.stdout)
        check = subprocess.run([AGD_BIN, "check-config", "-c", d.config_path], capture_output=True, text=True,
                               timeout=t(60))
        self.assertEqual(check.returncode, 0, check.stderr)
        self.stop_daemon(d)
        for secret in (SECRET, PROXY_SECRET, IMAGE_SECRET):
            for what, out in (("status", text.stdout + text.stderr), ("status --json", js.stdout + js.stderr),
                              ("check-config", check.stdout + check.stderr), ("the log", d.log())):
                self.assertNotIn(secret, out, "a URL password is in %s" % what)


class ControlSocketTests(OpsTestCase):
    """Defect 10: idle control connections lock out the admin; refusals exit 0."""

    def test_idle_connections_do_not_lock_out_status_and_reload(self):
        d = self.daemon()
        path = os.path.join(self.tmp, "ctl.sock")
        idle = []
        try:
            for _ in range(160):  # more than the 128 slots
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)  # blocking: waits while the daemon's backlog is full
                idle.append(s)
            for args in (("status", "--json"), ("status",), ("reload",), ("status", "--json")):
                with self.subTest(args=args):
                    r = d.cli(*args)
                    self.assertEqual(r.returncode, 0, "%r: rc=%d\n%s%s" % (args, r.returncode, r.stdout, r.stderr))
                    if args == ("status", "--json"):
                        self.assertEqual(json.loads(r.stdout)["pid"], d.proc.pid, r.stdout)
        finally:
            for s in idle:
                s.close()
        self.assertTrue(d.alive())

    def test_status_that_cannot_be_written_exits_non_zero(self):
        d = self.daemon()
        with open("/dev/full", "w") as full:
            r = subprocess.run([AGD_BIN, "status", "--json", "-c", d.config_path], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=t(60))
        self.assertEqual(r.returncode, 74, r.stderr)
        self.assertIn("cannot write to standard output", r.stderr)


class SignalTests(OpsTestCase):
    """Defect 11: SIGUSR1 and SIGUSR2 killed the daemon."""

    def test_usr1_alrm_do_not_kill_and_streams_go_on(self):  # SIGUSR2 upgrades: test_upgrade.py
        d = self.daemon()
        chunks = 20
        model = "gpt-a+chunks=%d+pace=50ms" % chunks
        reader = SSEReader(d.port, "/v1/chat/completions", chat_body(model, stream=True))
        self.addCleanup(reader.close)
        self.assertIsNotNone(reader.next_event())  # the stream is under way

        d.send_signal(signal.SIGALRM)
        d.send_signal(signal.SIGUSR1)
        d.wait_log(r"SIGUSR1 received: nothing to reopen: the log goes to standard error")
        self.assertTrue(d.alive(), d.log())

        reader.read_all()
        self.assertIsNone(reader.error, reader.events[-3:])
        self.assertEqual(reader.events[-1].data, "[DONE]")
        self.assertEqual(text_of_chat_events(reader.events), expected_text(KEY, model, chunks))
        self.assertEqual(post(d.port, "/v1/chat/completions", chat_body()).status, 200)
        self.assertEqual(d.cli("status", "--json").returncode, 0)

        # A clean stop afterwards: status 0, PID file and socket removed.
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0, d.log())
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "agd.pid")))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "ctl.sock")))


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Hostile clients at the HTTP level: pipelining, request framing (RFC 9112),
oversized heads, slow heads and bodies, running out of descriptors, and a
sweep of careless or malicious requests. Each test ends by checking that the
daemon still serves. Deep JSON is in test_json_limits.py, forwarded
addresses, the control socket and signals in test_ops_hardening.py, bounded
stream memory in test_stream_bounds.py."""

import itertools
import json
import resource
import socket
import time

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, connect, gemini_provider, get,
                     openai_provider, parse_access, parse_http_response, post, recv_all, t, wait_until)

KEY_OA = "sk-oa-hostile-key-0a0a0a0a0a0a"
KEY_AN = "sk-ant-hostile-key-0b0b0b0b0b0b"
KEY_GE = "AIza-hostile-key-0c0c0c0c0c0c"

CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()


def chat_request(extra_headers=b""):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s\r\n%s" % (len(CHAT), extra_headers, CHAT))


HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
HEALTH_CLOSE = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def read_responses(sock, n, timeout):
    """Reads n complete HTTP/1.1 responses (Content-Length or chunked) from
    sock; returns the list of harness Responses read before the deadline."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    while len(out) < n:
        parsed = split_response(buf)
        if parsed:
            resp, buf = parsed
            out.append(resp)
            continue
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        buf += data
    return out


def split_response(buf):
    """One complete response off the front of buf: (Response, rest) or None."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        pos = 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(rest[pos:eol].split(b";")[0], 16)
            pos = eol + 2 + size + 2
            if pos > len(rest):
                return None
            if size == 0:
                break
        return parse_http_response(head + sep + rest[:pos]), rest[pos:]
    n = int(headers.get("content-length", "0"))
    if len(rest) < n:
        return None
    return parse_http_response(head + sep + rest[:n]), rest[n:]


def closed_by_peer(sock, timeout):
    """True when the server closed the connection (EOF or reset) in time."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class HostileTests(AgdTestCase):

    server_extra = {}

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        server = {"workers": "1", "max_body_size": "1M"}
        server.update(self.server_extra)
        self.d = self.start_daemon(build_config(
            self.tmp, server=server,
            providers=[("oa", openai_provider(self.mock, [KEY_OA], "gpt-4o, gpt-*")),
                       ("an", anthropic_provider(self.mock, [KEY_AN], "claude-*")),
                       ("ge", gemini_provider(self.mock, [KEY_GE], "gemini-*"))]))

    def assertServing(self):
        r = get(self.d.port, "/health")
        self.assertEqual(r.status, 200, "the daemon stopped serving: %r" % r)
        self.assertTrue(self.d.alive())

    def assertNothingFromLibevhtp(self):
        lines = [l for l in self.d.log().splitlines() if "ODDITY" in l or "evhtp.c" in l]
        self.assertEqual(lines, [], "libevhtp wrote to stderr")

    def exchange(self, payload, timeout=None):
        """Sends payload in one write, reads until the server closes (the
        payload must make it close: Connection: close, HTTP/1.0, an error).
        No half-close: the daemon takes a client's end of stream for the
        client leaving."""
        s = connect(self.d.port, timeout=t(10) if timeout is None else timeout)
        try:
            s.sendall(payload)
            return recv_all(s)
        finally:
            s.close()


class PipeliningTests(HostileTests):

    def test_pipelined_local_requests_all_answered_in_order(self):
        s = connect(self.d.port)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            got = read_responses(s, 3, t(10))
            self.assertEqual([r.status for r in got], [200, 200, 404], got)
            self.assertIn("data", got[1].json())
            # The connection is still open and serves the next request.
            s.sendall(HEALTH)
            self.assertEqual([r.status for r in read_responses(s, 1, t(10))], [200])
        finally:
            s.close()
        self.assertNothingFromLibevhtp()

    def test_pipelined_proxied_and_local_requests(self):
        s = connect(self.d.port)
        try:
            s.sendall(chat_request() + HEALTH + chat_request() + HEALTH_CLOSE)
            got = read_responses(s, 4, t(10))
            self.assertEqual([r.status for r in got], [200, 200, 200, 200], got)
            self.assertIn("choices", got[0].json())
            self.assertEqual(got[1].json().get("status"), "ok")
            self.assertIn("choices", got[2].json())
            self.assertTrue(closed_by_peer(s, t(10)), "Connection: close was not honoured")
        finally:
            s.close()
        self.assertNothingFromLibevhtp()

    def test_blank_lines_between_requests_are_ignored(self):
        """RFC 9112 §2.2: empty lines before a request line are skipped (the
        parser used to stall on them until the client's next write)."""
        s = connect(self.d.port)
        try:
            s.sendall(b"\r\n\r\n" + HEALTH + b"\r\n" + chat_request() + b"\r\n\r\n" + HEALTH)
            got = read_responses(s, 3, t(10))
            self.assertEqual([r.status for r in got], [200, 200, 200], got)
        finally:
            s.close()
        self.assertNothingFromLibevhtp()

    def test_nothing_is_parsed_after_connection_close(self):
        raw = self.exchange(HEALTH_CLOSE + HEALTH)
        self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw)
        self.assertServing()
        self.assertNothingFromLibevhtp()

    def test_http10_keeps_one_request_per_connection(self):
        raw = self.exchange(b"GET /health HTTP/1.0\r\n\r\n")
        r = parse_http_response(raw)
        self.assertEqual(r.status, 200)
        self.assertServing()


class FramingTests(HostileTests):
    """Each shape is answered (never a silent drop or a reset) and the
    connection closed: what follows cannot be trusted to be a request."""

    CASES = [
        ("content-length and transfer-encoding", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HEALTH),
        ("two different content-lengths", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("unknown transfer-encoding", 501,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello"),
        ("unknown transfer-encoding with content-length", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
         b"Content-Length: 5\r\n\r\nhello"),
        ("chunked in capitals (not decoded by the parser)", 501,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n"),
        ("transfer-encoding twice", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("transfer-encoding in HTTP/1.0", 400,
         b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("negative content-length", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nhello"),
        ("garbage content-length", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\nhello"),
        ("content-length over 2^64", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nhello"),
        ("content-length list", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"),
        ("space before the colon", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello"),
        ("obs-fold", 400, b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n"),
        ("bare CR", 400, b"GET /health HTTP/1.1\r\nHost: x\rX-A: a\r\n\r\n"),
        ("bad chunk size", 400,
         b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
        ("binary request line", 400, b"\x00\x01\x02 hello\r\n\r\n"),
        ("bare LF ending the head", 400, b"POST /v1/chat/completions HTTP/1.1\r\n\n" + HEALTH),
        ("bare LF line ends", 400, b"GET /health HTTP/1.1\nHost: x\n\n"),
        ("HTTP/0.9 request line", 400, b"GET /health\r\n\r\n"),
        ("request line broken by a CR LF", 400,
         b"POST /v1beta/models/gpt\r\nX-Injected: 1:generateContent HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("header line of 9 KiB", 431, b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9216 + b"\r\n\r\n"),
        ("header name of 9 KiB", 431, b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X" * 9216 + b": a\r\n\r\n"),
        ("200 header fields", 431,
         b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n"),
        ("70 KiB of header fields", 431,
         b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 7000) for i in range(10))
         + b"\r\n"),
        ("URL of 100 KiB", 414, b"GET /health?" + b"a" * 102400 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]

    def test_each_shape_is_answered_and_closed(self):
        for name, status, payload in self.CASES:
            with self.subTest(name):
                s = connect(self.d.port, timeout=t(10))
                try:
                    s.sendall(payload)
                    raw = b""
                    s.settimeout(t(10))
                    try:
                        while True:
                            data = s.recv(65536)
                            if not data:
                                break
                            raw += data
                    except ConnectionResetError:
                        self.fail("%s: connection reset after %r" % (name, raw[:200]))
                    except socket.timeout:
                        self.fail("%s: not closed (got %r)" % (name, raw[:200]))
                finally:
                    s.close()
                self.assertTrue(raw, "%s: no answer" % name)
                r = parse_http_response(raw)
                self.assertEqual(r.status, status, "%s: %r" % (name, r))
                first = split_response(raw)
                self.assertTrue(first and first[1] == b"", "%s: more than one answer: %r" % (name, raw[:400]))
                body = r.json()
                self.assertIn("error", body, name)
                self.assertIn("message", body["error"], name)
        self.assertServing()
        self.assertNothingFromLibevhtp()
        # Every refusal has its line in the log, with its status.
        statuses = [parse_access(l).get("status") for l in self.d.access_lines()]
        for _, status, _ in self.CASES:
            self.assertIn(str(status), statuses)

    def test_error_shape_follows_the_path(self):
        """A head refused by the parser is answered in the protocol of its path
        when the path was read."""
        raw = self.exchange(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")
        r = parse_http_response(raw)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json().get("type"), "error", r.body)
        raw = self.exchange(b"POST /v1beta/models/gemini-pro:generateContent HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: zz\r\n\r\n")
        r = parse_http_response(raw)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"].get("status"), "INVALID_ARGUMENT", r.body)

    def test_refused_body_is_not_parsed_as_a_request(self):
        """A smuggled request inside a refused body never reaches the upstream."""
        smuggled = chat_request()
        payload = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s" % (len(smuggled), smuggled))
        raw = self.exchange(payload)
        self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw)
        self.assertEqual(self.mock.stats()["requests"], 0)
        self.assertServing()

    def test_duplicate_equal_content_lengths_are_accepted(self):
        s = connect(self.d.port)
        try:
            s.sendall(chat_request(b"Content-Length: %d\r\n" % len(CHAT)))
            got = read_responses(s, 1, t(10))
            self.assertEqual([r.status for r in got], [200], got)
        finally:
            s.close()


class MutationTests(HostileTests):
    """A deterministic mutation sweep over request heads (the request parser
    path, hooks and framing checks included): whatever the bytes, the
    daemon answers with an HTTP status line or closes, and keeps serving.
    Under the ASan build a memory error in that path fails the test."""

    SEEDS = [HEALTH, HEALTH_CLOSE, chat_request(),
             b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nanthropic-version: 2023-06-01\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
             b"GET /v1beta/models?key=k HTTP/1.0\r\n\r\n"] + [c[2] for c in FramingTests.CASES[:16]]
    TOKENS = [b"\r\n", b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"Content-Length: 3\r\n",
              b"Transfer-Encoding: chunked\r\n", b"Expect: 100-continue\r\n", b"Connection: close\r\n",
              b"HTTP/1.1", b"\xff", b"%00", b"/../", b"0\r\n\r\n", b"ffffffffffffffff\r\n"]

    def mutate(self, rng, data):
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(5)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                data[pos:pos] = rng.choice(self.TOKENS)
            elif op == 2:
                del data[pos:pos + rng.randint(1, 8)]
            elif op == 3:
                other = rng.choice(self.SEEDS)
                data[pos:] = other[rng.randrange(len(other)):]
            else:
                data = data[:pos]
        return bytes(data)

    def test_mutated_heads(self):
        import random
        rng = random.Random(20261204)
        rounds = 300 if harness.SCALE_SMALL else 1200
        for i in range(rounds):
            payload = self.mutate(rng, rng.choice(self.SEEDS))
            s = connect(self.d.port, timeout=t(10))
            try:
                try:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                raw = recv_all_quiet(s)
            finally:
                s.close()
            if raw:
                self.assertTrue(raw.startswith(b"HTTP/1."), "round %d: %r -> %r" % (i, payload[:200], raw[:200]))
            if i % 100 == 0:
                self.assertTrue(self.d.alive(), "round %d: the daemon died on %r" % (i, payload[:300]))
        self.assertServing()
        self.assertNothingFromLibevhtp()


class TimeoutTests(HostileTests):
    """client_header_timeout and client_body_timeout, set short here; the
    tests wait for the daemon to act, never assert how long it took."""

    server_extra = {"client_header_timeout": "300ms", "client_body_timeout": "300ms"}

    def test_slow_head_gets_408_and_close(self):
        s = connect(self.d.port)
        try:
            # One byte at a time, each well inside any idle timeout: only a
            # deadline on the whole head ends this.
            head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
            raw = trickle_until_answer(s, (head[i:i + 1] for i in range(len(head))), t(30))
        finally:
            s.close()
        r = parse_http_response(raw)
        self.assertEqual(r.status, 408, r)
        self.assertIn("client_header_timeout", r.json()["error"]["message"])
        self.assertServing()

    def test_silent_client_gets_408(self):
        s = connect(self.d.port)
        try:
            s.sendall(b"GET /heal")
            s.settimeout(t(10))
            raw = recv_all_quiet(s)
        finally:
            s.close()
        self.assertEqual(parse_http_response(raw).status, 408, raw)

    def test_stalled_body_gets_408_and_close(self):
        s = connect(self.d.port)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"model\":")
            s.settimeout(t(10))
            raw = recv_all_quiet(s)
        finally:
            s.close()
        r = parse_http_response(raw)
        self.assertEqual(r.status, 408, r)
        self.assertIn("client_body_timeout", r.json()["error"]["message"])
        self.assertEqual(self.mock.stats()["requests"], 0)
        # The access line is written by the logger thread: wait for it.
        wait_until(lambda: [l for l in self.d.access_lines() if parse_access(l).get("status") == "408"], t(30),
                   "the 408's access line")
        self.assertServing()

    def test_trickled_body_gets_408(self):
        """A byte at a time, each well inside the gap timeout: the minimum
        average rate ends it."""
        s = connect(self.d.port)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n")
            raw = trickle_until_answer(s, itertools.repeat(b" "), t(30))
        finally:
            s.close()
        r = parse_http_response(raw)
        self.assertEqual(r.status, 408, r)
        self.assertIn("KiB/s", r.json()["error"]["message"])
        self.assertServing()

    def test_idle_keepalive_connection_is_not_timed_out(self):
        """The head deadline runs from a request's first byte: a kept-alive
        connection idle longer than it still serves its next request."""
        s = connect(self.d.port)
        try:
            s.sendall(HEALTH)
            self.assertEqual([r.status for r in read_responses(s, 1, t(10))], [200])
            # Idle past the head deadline (twice over), then a request.
            self.assertFalse(closed_by_peer(s, 0.7), "an idle kept-alive connection was closed")
            s.sendall(HEALTH)
            self.assertEqual([r.status for r in read_responses(s, 1, t(10))], [200])
        finally:
            s.close()


class PeerLimitTests(HostileTests):
    """server.max_connections_per_ip: one address cannot hold every
    connection the daemon can serve."""

    server_extra = {"max_connections_per_ip": "3"}

    def test_connections_over_the_quota_get_429(self):
        held = []
        try:
            for _ in range(3):
                s = connect(self.d.port)
                s.sendall(HEALTH)
                self.assertEqual([r.status for r in read_responses(s, 1, t(10))], [200])
                held.append(s)
            extra = connect(self.d.port)
            extra.settimeout(t(10))
            raw = recv_all_quiet(extra)
            extra.close()
            r = parse_http_response(raw)
            self.assertEqual(r.status, 429, r)
            self.assertIn("max_connections_per_ip", r.json()["error"]["message"])
            # The held connections still serve.
            held[0].sendall(HEALTH)
            self.assertEqual([r.status for r in read_responses(held[0], 1, t(10))], [200])
        finally:
            for s in held:
                s.close()
        # Their quota comes back as they close.
        wait_until(lambda: health_ok(self.d.port), t(10), "a new connection once the others closed")


def recv_all_quiet(sock):
    """Everything until the server closes; b"" when it never does."""
    try:
        return recv_all(sock)
    except socket.timeout:
        return b""


def trickle_until_answer(sock, pieces, timeout):
    """Sends pieces one at a time, 50 ms apart, until the server answers or
    closes; returns what it sent back (until it closed)."""
    deadline = time.monotonic() + timeout
    raw = b""
    sock.settimeout(0.05)
    for piece in pieces:
        if time.monotonic() >= deadline:
            break
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            raw += sock.recv(65536)
            break
        except socket.timeout:
            pass
    sock.settimeout(t(10))
    return raw + recv_all_quiet(sock)


class DescriptorExhaustionTests(AgdTestCase):
    """At the open-file limit the listener backs off instead of spinning on
    accept(), logs a bounded number of lines, and serves again once
    descriptors are free."""

    LIMIT = 64

    def test_emfile_backs_off_and_recovers(self):
        mock = self.start_mock()
        config = build_config(self.tmp, server={"workers": "1"},
                              providers=[("oa", openai_provider(mock, [KEY_OA], "gpt-*"))])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.LIMIT, hard))
        try:
            d = self.start_daemon(config, wait=False)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        d.wait_ready()
        held = []
        try:
            for _ in range(self.LIMIT + 20):
                held.append(connect(d.port))
            d.wait_log(r"cannot accept connections: Too many open files")
            self.assertTrue(d.alive())
        finally:
            for s in held:
                s.close()
        # Descriptors are free again: it serves.
        wait_until(lambda: health_ok(d.port), t(30), "the daemon serving again after EMFILE")
        log = d.log()
        accept_lines = [l for l in log.splitlines() if "accept" in l.lower()]
        self.assertLessEqual(len(accept_lines), 2, "accept failures are not rate-limited:\n%s"
                             % "\n".join(accept_lines[:10]))
        self.assertNotIn("Error from accept() call", log)


def health_ok(port):
    try:
        return get(port, "/health", timeout=t(2)).status == 200
    except OSError:
        return False


class SweepTests(HostileTests):
    """Careless and malicious requests: each gets a clear error in its
    protocol, and the daemon keeps serving."""

    def test_malformed_json_per_protocol(self):
        bodies = [b"{", b"[1,2", b"nul", b"{\"model\": }", b"\"just a string\"", b"{}{}", b"\xff\xfe{}"]
        for body in bodies:
            with self.subTest(body=body):
                r = post(self.d.port, "/v1/chat/completions", body,
                         headers={"Content-Type": "application/json"})
                self.assertOpenAIError(r, 400)
                r = post(self.d.port, "/v1/messages", body,
                         headers={"Content-Type": "application/json", "anthropic-version": "2023-06-01"})
                self.assertAnthropicError(r, 400)
                r = post(self.d.port, "/v1beta/models/gemini-pro:generateContent", body,
                         headers={"Content-Type": "application/json"})
                self.assertGeminiError(r, 400)
        self.assertServing()

    def test_nul_bytes(self):
        body = b'{"model":"gpt-4o\x00x","messages":[{"role":"user","content":"a\x00b"}]}'
        r = post(self.d.port, "/v1/chat/completions", body, headers={"Content-Type": "application/json"})
        self.assertOpenAIError(r, 400)
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "a\u0000b"}]}).encode()
        r = post(self.d.port, "/v1/chat/completions", body, headers={"Content-Type": "application/json"})
        self.assertIn(r.status, (200, 400), r)
        self.assertServing()

    def test_hostile_model_names(self):
        names = ["x" * 10240, "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "gpt-4o/../../admin",
                 "gpt\r\nX-Injected: 1", "*", "gpt-*"]
        for name in names:
            with self.subTest(name=name[:40]):
                body = json.dumps({"model": name, "messages": [{"role": "user", "content": "hi"}]}).encode()
                r = post(self.d.port, "/v1/chat/completions", body, headers={"Content-Type": "application/json"})
                self.assertIn(r.status, (200, 400, 404), r)
                self.assertNotIn("x-injected", r.headers)
                if r.status != 200:
                    self.assertOpenAIError(r, r.status)
                # Gemini carries the model in the path (raw, as a hostile client sends it).
                path = "/v1beta/models/%s:generateContent" % name
                if len(path) < 8000:
                    body = b'{"contents":[{"parts":[{"text":"hi"}]}]}'
                    raw = self.exchange(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                        % (path.encode(), len(body), body))
                    r = parse_http_response(raw)
                    self.assertIn(r.status, (200, 400, 404), r)
                    self.assertNotIn("x-injected", r.headers)
        # Nothing but configured upstream paths was asked of the mock.
        for req in self.mock.requests():
            self.assertNotIn("..", req.get("path", ""), req)
        self.assertServing()

    def test_wrong_methods(self):
        for method, path in [("GET", "/v1/chat/completions"), ("PUT", "/v1/messages"),
                             ("DELETE", "/v1/responses"), ("PATCH", "/health"), ("OPTIONS", "/v1/models"),
                             ("TRACE", "/v1/chat/completions"), ("CONNECT", "/v1/models")]:
            with self.subTest(method=method, path=path):
                raw = self.exchange(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                    % (method.encode(), path.encode()))
                r = parse_http_response(raw)
                self.assertIn(r.status, (400, 404, 405), r)
        self.assertServing()

    def test_http10_requests(self):
        raw = self.exchange(b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(CHAT), CHAT))
        r = parse_http_response(raw)
        self.assertEqual(r.status, 200, r)
        self.assertIn("choices", r.json())
        stream = json.dumps({"model": "gpt-4o", "stream": True,
                             "messages": [{"role": "user", "content": "hi"}]}).encode()
        raw = self.exchange(b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(stream), stream))
        self.assertTrue(raw.startswith(b"HTTP/1."), raw[:100])
        self.assertNotIn(b"transfer-encoding: chunked", raw.lower().split(b"\r\n\r\n")[0])
        self.assertIn(b"[DONE]", raw)
        self.assertServing()

    def test_expect_100_continue_over_the_limit(self):
        s = connect(self.d.port)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (50 << 20))
            s.settimeout(t(10))
            raw = recv_all_quiet(s)
        finally:
            s.close()
        r = parse_http_response(raw)
        self.assertEqual(r.status, 413, r)
        self.assertNotIn(b"100 Continue", raw)
        self.assertServing()

    def test_body_over_the_limit_without_expect(self):
        s = connect(self.d.port)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
            try:
                for _ in range(40):  # 2.5 MiB against a 1 MiB limit
                    s.sendall(chunk)
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            s.settimeout(t(10))
            raw = recv_all_quiet(s)
        finally:
            s.close()
        self.assertEqual(parse_http_response(raw).status, 413, raw[:300])
        self.assertServing()


if __name__ == "__main__":
    harness.main()

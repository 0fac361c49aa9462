#!/usr/bin/env python3
"""Client authentication (auth.mode, the four ways to present a key), the IP
filter (allow/deny, X-Forwarded-For only from trusted proxies, walked right
to left), request size limits (413 by Content-Length and for chunked
uploads) and the rule that no key ever appears in the log or the status."""

import json

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, chunked, fingerprint, gemini_provider,
                     get, openai_provider, parse_access, post, raw_exchange, t)

PK_OA = "sk-proj-PROVIDER-oa-7c1e9f2a44d0b3"
PK_OA2 = "sk-proj-PROVIDER-oa-second-55aa11"
PK_AN = "sk-ant-api03-PROVIDER-an-0b9d8c7e"
PK_GE = "AIzaPROVIDER-ge-3f4e5d6c7b8a9"
CK1 = "gw-laptop-CLIENT-7f3c9a0011"
CK2 = "gw-phone-CLIENT-2b81de2233"
WRONG = "gw-WRONG-CLIENT-KEY-998877"
ALL_KEYS = (PK_OA, PK_OA2, PK_AN, PK_GE, CK1, CK2, WRONG)

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"
GEM = "/v1beta/models/gemini-a:generateContent"


def chat_body(model="gpt-a"):
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def msgs_body(model="claude-a"):
    return {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


class AccessTestCase(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, auth=None, access=None, server=None, name="agd"):
        return self.start_daemon(build_config(self.tmp, auth=auth, access=access, server=server, providers=[
            ("oa", openai_provider(self.mock, [PK_OA, PK_OA2], "gpt-*")),
            ("an", anthropic_provider(self.mock, [PK_AN], "claude-*")),
            ("ge", gemini_provider(self.mock, [PK_GE], "gemini-*")),
        ]), name=name)


class AuthTests(AccessTestCase):

    def test_strict_missing_or_wrong_key_is_401_per_protocol(self):
        d = self.daemon(auth={"mode": "strict", "key": [CK1, CK2]})
        for hdrs in ({}, {"Authorization": "Bearer " + WRONG}, {"x-api-key": WRONG},
                     {"x-goog-api-key": WRONG}, {"Authorization": "Basic " + CK1}):
            with self.subTest(headers=hdrs):
                self.assertOpenAIError(post(d.port, CHAT, chat_body(), hdrs), 401, code="invalid_api_key")
                self.assertAnthropicError(post(d.port, MSGS, msgs_body(), hdrs), 401, "authentication_error")
                self.assertGeminiError(post(d.port, GEM, {"contents": []}, hdrs), 401, "UNAUTHENTICATED")
                self.assertOpenAIError(get(d.port, "/v1/models", hdrs), 401)
        self.assertGeminiError(post(d.port, GEM + "?key=" + WRONG, {"contents": []}), 401, "UNAUTHENTICATED")
        self.assertEqual(self.mock.requests(), [], "an unauthenticated request reached a provider")

    def test_strict_protects_health_too(self):
        d = self.daemon(auth={"mode": "strict", "key": CK1})
        self.assertEqual(get(d.port, "/health").status, 401)
        self.assertEqual(get(d.port, "/healthz").status, 401)
        self.assertEqual(get(d.port, "/health", {"Authorization": "Bearer " + CK1}).status, 200)

    def test_every_key_form_is_accepted_on_every_endpoint(self):
        d = self.daemon(auth={"mode": "strict", "key": [CK1, CK2]})
        forms = [
            ({"Authorization": "Bearer " + CK1}, ""),
            ({"x-api-key": CK2}, ""),
            ({"x-goog-api-key": CK1}, ""),
            ({}, "?key=" + CK2),
        ]
        for hdrs, query in forms:
            with self.subTest(headers=hdrs, query=query):
                r = post(d.port, CHAT + query, chat_body(), hdrs)
                self.assertEqual(r.status, 200, r)
                r = post(d.port, MSGS + query, msgs_body(), dict(hdrs, **{"anthropic-version": "2023-06-01"}))
                self.assertEqual(r.status, 200, r)
                r = post(d.port, GEM + query, {"contents": []}, hdrs)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(get(d.port, "/v1/models" + query, hdrs).status, 200)
        # The client's key never reaches a provider, whichever way it came.
        recorded = json.dumps(self.mock.requests())
        for k in (CK1, CK2):
            self.assertNotIn(k, recorded)

    def test_all_except_health(self):
        d = self.daemon(auth={"mode": "all_except_health", "key": CK1})
        self.assertEqual(get(d.port, "/health").status, 200)
        self.assertEqual(get(d.port, "/healthz").status, 200)
        self.assertOpenAIError(get(d.port, "/v1/models"), 401)
        self.assertOpenAIError(post(d.port, CHAT, chat_body()), 401)
        self.assertGeminiError(get(d.port, "/v1beta/models"), 401)
        self.assertEqual(post(d.port, CHAT, chat_body(), {"Authorization": "Bearer " + CK1}).status, 200)

    def test_auto_on_loopback_needs_no_key(self):
        d = self.daemon(auth={"mode": "auto"})
        self.assertEqual(d.status_json()["auth_mode"], "off")
        self.assertEqual(post(d.port, CHAT, chat_body()).status, 200)

    def test_auto_with_keys_on_loopback_is_still_off(self):
        d = self.daemon(auth={"mode": "auto", "key": CK1})
        self.assertEqual(post(d.port, CHAT, chat_body()).status, 200)

    def test_no_key_in_log_or_status(self):
        d = self.daemon(auth={"mode": "strict", "key": [CK1, CK2]}, server={"log_level": "debug"})
        ok = {"Authorization": "Bearer " + CK1}
        reqs = [
            lambda: post(d.port, CHAT, chat_body(), ok),
            lambda: post(d.port, CHAT, chat_body(), {"Authorization": "Bearer " + WRONG}),
            lambda: post(d.port, CHAT + "?key=" + WRONG, chat_body()),
            lambda: post(d.port, GEM + "?key=" + CK2, {"contents": []}),
            lambda: post(d.port, GEM + "?alt=sse&key=" + CK2, {"contents": []}),
            lambda: post(d.port, MSGS, msgs_body(), {"x-api-key": CK2}),
            # (Keys must not be written into the model name here: the
            # model is client input and is logged as sent.)
            lambda: post(d.port, CHAT, chat_body("gpt-a+status=500"), ok),  # failover, all attempts fail
            lambda: post(d.port, CHAT, dict(chat_body("gpt-a+chunks=3+reset_after=1"), stream=True), ok),
            lambda: post(d.port, CHAT, b"{not json " + CK1.encode(), ok),
            lambda: post(d.port, CHAT, chat_body("gpt-a+status=429+retry_after=600"), ok),  # cooldown
            lambda: post(d.port, CHAT, chat_body(), ok),  # all cooling: 429 from the gateway
        ]
        for send in reqs:
            send()
        lines = d.wait_access_lines(len(reqs))
        self.assertEqual(len(lines), len(reqs), lines)
        d.cli("reload")
        status = d.cli("status")
        status_json = d.cli("status", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.stop_daemon(d)
        log = d.log()
        for key in ALL_KEYS:
            self.assertNotIn(key, log, "a key is in the log")
            self.assertNotIn(key, status.stdout + status.stderr, "a key is in `status`")
            self.assertNotIn(key, status_json.stdout + status_json.stderr, "a key is in `status --json`")
        # Credentials are named by fingerprint instead.
        self.assertIn("cred=" + fingerprint(PK_GE), log)
        self.assertIn("cred=" + fingerprint(PK_AN), log)
        for k in (PK_OA, PK_OA2, PK_AN, PK_GE):
            self.assertIn(fingerprint(k), status_json.stdout)
        for line in lines:
            cred = parse_access(line).get("cred", "-")
            self.assertRegex(cred, r"^(-|[0-9a-f]{8})$", line)


class IpFilterTests(AccessTestCase):

    def test_allow_list_excludes_client(self):
        d = self.daemon(access={"allow": "10.0.0.0/8"})
        self.assertOpenAIError(post(d.port, CHAT, chat_body()), 403)
        self.assertAnthropicError(post(d.port, MSGS, msgs_body()), 403, "permission_error")
        self.assertGeminiError(post(d.port, GEM, {"contents": []}), 403, "PERMISSION_DENIED")
        self.assertEqual(get(d.port, "/health").status, 403)
        self.assertEqual(self.mock.requests(), [])

    def test_deny_wins_and_applies_before_auth(self):
        d = self.daemon(access={"allow": "127.0.0.0/8", "deny": "127.0.0.2"},
                        auth={"mode": "strict", "key": CK1})
        self.assertEqual(get(d.port, "/health", {"Authorization": "Bearer " + CK1}).status, 200)
        # From 127.0.0.2: denied even with a valid key, and 403 (not 401) without one.
        self.assertOpenAIError(get(d.port, "/health", {"Authorization": "Bearer " + CK1}, source="127.0.0.2"), 403)
        self.assertOpenAIError(post(d.port, CHAT, chat_body(), source="127.0.0.2"), 403)
        self.assertEqual(get(d.port, "/health", {"Authorization": "Bearer " + CK1}, source="127.0.0.3").status, 200)

    def test_forwarded_for_only_from_trusted_proxy(self):
        d = self.daemon(access={"allow": "198.51.100.0/24", "trusted_proxy": ["127.0.0.1", "10.0.0.0/8"]})
        cases = [
            # (source, X-Forwarded-For, expected status, expected client in the log)
            ("127.0.0.1", None, 403, "127.0.0.1"),
            ("127.0.0.1", "198.51.100.9", 200, "198.51.100.9"),
            ("127.0.0.2", "198.51.100.9", 403, "127.0.0.2"),          # not a trusted proxy: ignored
            ("127.0.0.1", "198.51.100.9, 203.0.113.7", 403, "203.0.113.7"),  # rightmost untrusted wins
            ("127.0.0.1", "203.0.113.7, 198.51.100.9", 200, "198.51.100.9"),  # a spoofed left entry is ignored
            ("127.0.0.1", "198.51.100.9, 10.1.2.3", 200, "198.51.100.9"),    # walks through trusted hops
            ("127.0.0.1", "203.0.113.7,10.1.2.3", 403, "203.0.113.7"),
        ]
        for source, xff, want, client in cases:
            with self.subTest(source=source, xff=xff):
                hdrs = {"X-Forwarded-For": xff} if xff else {}
                r = get(d.port, "/health", hdrs, source=source)
                self.assertEqual(r.status, want, r)
                if want == 403:
                    self.assertOpenAIError(r, 403)
        lines = d.wait_access_lines(len(cases))
        clients = [parse_access(l)["addr"] for l in lines]
        self.assertEqual(clients, [c[3] for c in cases])

    def test_untrusted_real_ip_ignored(self):
        d = self.daemon(access={"deny": "203.0.113.0/24"})
        r = get(d.port, "/health", {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8"})
        self.assertEqual(r.status, 200, r)


class BodyLimitTests(AccessTestCase):

    LIMIT = 1024

    def setUp(self):
        super().setUp()
        self.d = self.daemon(server={"max_body_size": "1K"})

    def body_of(self, size, model="gpt-a"):
        head = b'{"model":"%s","messages":[],"pad":"' % model.encode()
        tail = b'"}'
        b = head + b"p" * (size - len(head) - len(tail)) + tail
        assert len(b) == size
        return b

    def test_content_length_over_limit_is_413_per_protocol(self):
        big = self.LIMIT + 1
        self.assertOpenAIError(post(self.d.port, CHAT, self.body_of(big)), 413)
        self.assertOpenAIError(post(self.d.port, "/v1/responses", self.body_of(big)), 413)
        self.assertAnthropicError(post(self.d.port, MSGS, self.body_of(big, "claude-a")), 413, "request_too_large")
        self.assertGeminiError(post(self.d.port, GEM, self.body_of(big)), 413)
        self.assertEqual(self.mock.requests(), [])

    def test_body_at_the_limit_is_relayed(self):
        body = self.body_of(self.LIMIT)
        r = post(self.d.port, CHAT, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.mock.requests()[0]["body"].encode(), body)

    def _chunked_head(self, path):
        return (b"POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % path.encode())

    def test_chunked_upload_over_limit_is_413(self):
        r = raw_exchange(self.d.port, self._chunked_head(CHAT), chunked(self.body_of(3 * self.LIMIT), 100))
        self.assertOpenAIError(r, 413)
        r = raw_exchange(self.d.port, self._chunked_head(MSGS),
                         chunked(self.body_of(self.LIMIT + 1, "claude-a"), 64))
        self.assertAnthropicError(r, 413, "request_too_large")
        r = raw_exchange(self.d.port, self._chunked_head(GEM), chunked(self.body_of(2 * self.LIMIT), 300))
        self.assertGeminiError(r, 413)
        self.assertEqual(self.mock.requests(), [])

    def test_chunked_upload_under_limit_is_relayed_exactly(self):
        body = self.body_of(self.LIMIT - 24)
        r = raw_exchange(self.d.port, self._chunked_head(CHAT), chunked(body, 37))
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.error)
        self.assertEqual(self.mock.requests()[0]["body"].encode(), body)

    def test_expect_100_continue_under_limit_is_continued(self):
        body = self.body_of(self.LIMIT - 100)
        sock = harness.connect(self.d.port)
        self.addCleanup(sock.close)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(4096)
            self.assertTrue(chunk, "connection closed instead of 100 Continue")
            interim += chunk
        self.assertTrue(interim.startswith(b"HTTP/1.1 100"), interim[:200])
        rest = interim.split(b"\r\n\r\n", 1)[1]
        sock.sendall(body)
        r = harness.parse_http_response(rest + harness.recv_all(sock))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.mock.requests()[0]["body"].encode(), body)

    def test_expect_100_continue_over_limit_is_refused_without_the_body(self):
        # A client that asks first must be told 413 at once, not after it
        # gave up waiting and sent the whole (here 50 MB) body.
        sock = harness.connect(self.d.port, timeout=t(10))
        self.addCleanup(sock.close)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 52428800\r\n\r\n")
        try:
            data = sock.recv(65536)
        except TimeoutError:
            self.fail("no answer to Expect: 100-continue with an over-limit Content-Length "
                      "(see FINDINGS.md)")
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Named clients ([client.NAME]): the key names the client on its access
line and in status; model globs refuse other models (403); each limit
refuses in each protocol's shape with Retry-After and a message naming
the limit, and lets the client back in; an expired key is 401."""

import http.client
import json
import socket
import time

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, gemini_provider, get, openai_provider,
                     parse_access, post, t, wait_until)

PK = "sk-proj-PROVIDER-7c1e9f2a44d0b3"
CK_A = "gw-team-a-CLIENT-7f3c9a0011"
CK_A2 = "gw-team-a-CLIENT-second-77"
CK_B = "gw-team-b-CLIENT-2b81de2233"
CK_DEF = "gw-default-CLIENT-998877aa"

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"


def gem(model):
    return "/v1beta/models/%s:generateContent" % model


def chat_body(model="gpt-a"):
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def msgs_body(model="claude-a"):
    return {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


GEM_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def bearer(key):
    return {"Authorization": "Bearer " + key}


class ClientsCase(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, clients, auth=None, name="agd"):
        au = {"mode": "strict"}
        au.update(auth or {})
        return self.start_daemon(build_config(self.tmp, auth=au, clients=clients, providers=[
            ("oa", openai_provider(self.mock, [PK], "gpt-*")),
            ("an", anthropic_provider(self.mock, [PK], "claude-*")),
            ("ge", gemini_provider(self.mock, [PK], "gemini-*")),
        ]), name=name)

    def each_protocol(self, d, key, model_suffix=""):
        """One request per protocol; returns [(protocol, response)]."""
        h = bearer(key)
        return [
            ("openai", post(d.port, CHAT, chat_body("gpt-a" + model_suffix), h)),
            ("anthropic", post(d.port, MSGS, msgs_body("claude-a" + model_suffix), h)),
            ("gemini", post(d.port, gem("gemini-a" + model_suffix), GEM_BODY, {"x-goog-api-key": key})),
        ]

    def assert_refused(self, proto, r, status, words):
        if proto == "openai":
            err = self.assertOpenAIError(r, status)
            if status == 429:
                self.assertEqual(err["code"], "rate_limit_exceeded")
        elif proto == "anthropic":
            err = self.assertAnthropicError(r, status, "rate_limit_error" if status == 429 else "permission_error")
        else:
            err = self.assertGeminiError(r, status, "RESOURCE_EXHAUSTED" if status == 429 else "PERMISSION_DENIED")
        for w in words:
            self.assertIn(w, err["message"])
        return err


class IdentityTests(ClientsCase):

    def test_key_names_the_client_in_the_access_line_and_status(self):
        d = self.daemon([("team-a", {"key": [CK_A, CK_A2]}), ("team-b", {"key": CK_B})], auth={"key": CK_DEF})
        for key in (CK_A, CK_A2, CK_B, CK_DEF):
            self.assertEqual(post(d.port, CHAT, chat_body(), bearer(key)).status, 200)
        lines = [parse_access(l) for l in d.wait_access_lines(4)]
        self.assertEqual([a["client"] for a in lines], ["team-a", "team-a", "team-b", "default"])
        self.assertEqual([a["addr"] for a in lines], ["127.0.0.1"] * 4)
        st = {c["name"]: c for c in d.status_json()["clients"]}
        self.assertEqual(sorted(st), ["default", "team-a", "team-b"])
        self.assertEqual(st["team-a"]["keys"], 2)
        self.assertEqual(st["team-a"]["requests"], 2)
        self.assertEqual(st["team-b"]["requests"], 1)
        self.assertEqual(st["team-a"]["in_flight"], 0)
        text = d.cli("status").stdout
        self.assertIn("clients:\n", text)
        self.assertIn("  team-a: 2 keys", text)
        # No key ever shows.
        for key in (CK_A, CK_A2, CK_B, CK_DEF):
            self.assertNotIn(key, d.log())
            self.assertNotIn(key, text)

    def test_auth_off_still_names_a_client_that_sends_its_key(self):
        d = self.daemon([("team-a", {"key": CK_A})], auth={"mode": "off"})
        self.assertEqual(post(d.port, CHAT, chat_body(), bearer(CK_A)).status, 200)
        self.assertEqual(post(d.port, CHAT, chat_body(), bearer("gw-someone-else-123456")).status, 200)
        self.assertEqual(post(d.port, CHAT, chat_body()).status, 200)
        clients = [parse_access(l)["client"] for l in d.wait_access_lines(3)]
        self.assertEqual(clients, ["team-a", "-", "-"])

    def test_expired_key_is_401_in_each_protocol(self):
        d = self.daemon([("old", {"key": CK_A, "expires": "2020-01-31"}), ("new", {"key": CK_B, "expires": "2999-12-31"})])
        for proto, r in self.each_protocol(d, CK_A):
            with self.subTest(proto=proto):
                if proto == "openai":
                    err = self.assertOpenAIError(r, 401)
                elif proto == "anthropic":
                    err = self.assertAnthropicError(r, 401, "authentication_error")
                else:
                    err = self.assertGeminiError(r, 401, "UNAUTHENTICATED")
                self.assertIn("expired", err["message"])
                self.assertIn("2020-01-31", err["message"])
        for proto, r in self.each_protocol(d, CK_B):
            self.assertEqual(r.status, 200, (proto, r))
        st = {c["name"]: c for c in d.status_json()["clients"]}
        self.assertTrue(st["old"]["expired"])
        self.assertFalse(st["new"]["expired"])


class ModelGlobTests(ClientsCase):

    def test_models_outside_the_globs_are_403_in_each_protocol(self):
        d = self.daemon([("narrow", {"key": CK_A, "models": "gpt-*, claude-a*"}), ("wide", {"key": CK_B})])
        h = bearer(CK_A)
        self.assertEqual(post(d.port, CHAT, chat_body("gpt-a"), h).status, 200)
        self.assertEqual(post(d.port, MSGS, msgs_body("claude-a"), h).status, 200)
        self.assert_refused("anthropic", post(d.port, MSGS, msgs_body("claude-b"), h), 403,
                            ["client 'narrow' may not use model 'claude-b'", "gpt-*, claude-a*"])
        self.assert_refused("gemini", post(d.port, gem("gemini-a"), GEM_BODY, {"x-goog-api-key": CK_A}), 403,
                            ["may not use model 'gemini-a'"])
        self.assertEqual(post(d.port, gem("gemini-a"), GEM_BODY, {"x-goog-api-key": CK_B}).status, 200)
        # Refused before any upstream request.
        refused = [parse_access(l) for l in d.wait_access_lines(5) if parse_access(l)["status"] == "403"]
        self.assertEqual([a["limit"] for a in refused], ["models", "models"])
        self.assertEqual([a["attempts"] for a in refused], ["0", "0"])


class RateLimitTests(ClientsCase):

    def test_rpm_refuses_with_retry_after_in_each_protocol_then_recovers(self):
        d = self.daemon([("busy", {"key": CK_A, "rpm": "60"}), ("calm", {"key": CK_B})])
        # A minute's worth at once (60), then one a second.
        for i in range(60):
            self.assertEqual(post(d.port, CHAT, chat_body(), bearer(CK_A)).status, 200, i)
        for proto, r in self.each_protocol(d, CK_A):
            with self.subTest(proto=proto):
                self.assert_refused(proto, r, 429, ["client 'busy'", "request rate limit", "60 requests per minute"])
                self.assertIn(r.header("retry-after"), ("1", "2"))
        # Another client is not affected.
        self.assertEqual(post(d.port, CHAT, chat_body(), bearer(CK_B)).status, 200)
        # Back within the Retry-After.
        wait_until(lambda: post(d.port, CHAT, chat_body(), bearer(CK_A)).status == 200, t(10), "rpm window to reopen")
        st = {c["name"]: c for c in d.status_json()["clients"]}
        self.assertGreaterEqual(st["busy"]["limited"], 3)
        # Access lines are written by the logger thread: wait for them.
        wait_until(lambda: len([l for l in d.access_lines() if parse_access(l).get("limit") == "rpm"]) >= 3, t(30),
                   "three rpm-limited access lines")
        limited = [parse_access(l) for l in d.access_lines() if parse_access(l).get("limit") == "rpm"]
        self.assertTrue(all(a["status"] == "429" and a["client"] == "busy" for a in limited))

    def test_max_concurrent_counts_requests_in_flight(self):
        d = self.daemon([("one", {"key": CK_A, "max_concurrent": "1"})])
        body = json.dumps({"model": "gpt-a+hold=60s+chunks=2", "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]})
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=t(30))
        conn.request("POST", CHAT, body=body, headers=dict(bearer(CK_A), **{"Content-Type": "application/json"}))
        held = conn.getresponse()
        self.assertEqual(held.status, 200)
        held.fp.readline()  # the first piece is out: the request is in flight
        for proto, r in self.each_protocol(d, CK_A):
            with self.subTest(proto=proto):
                self.assert_refused(proto, r, 429, ["too many requests in flight", "max_concurrent = 1"])
                self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual(d.status_json()["clients"][0]["in_flight"], 1)
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        wait_until(lambda: d.status_json()["clients"][0]["in_flight"] == 0, t(10), "the held request to end")
        self.assertEqual(post(d.port, CHAT, chat_body(), bearer(CK_A)).status, 200)


class TokenLimitTests(ClientsCase):
    """Tokens are known after the answer: the request that spends a window
    passes, the ones after it are refused."""

    BODY = {"model": "gpt-a+chunks=3", "messages": [{"role": "user", "content": "count my tokens please"}]}

    def tokens(self):
        # The mock: input = body bytes / 4, output = pieces (passthrough: the body goes as sent).
        return max(1, len(json.dumps(self.BODY)) // 4) + 3

    def spend(self, d, key):
        r = post(d.port, CHAT, self.BODY, bearer(key))
        self.assertEqual(r.status, 200, r)
        a = parse_access(d.wait_access_lines(1)[0])
        self.assertEqual(int(a["in"]) + int(a["out"]), self.tokens())

    def test_tpm_refuses_once_the_minute_is_spent_then_recovers(self):
        u = self.tokens()
        d = self.daemon([("tok", {"key": CK_A, "tpm": str(u - 1)})])
        self.spend(d, CK_A)
        # u tokens at (u-1) per minute: the window is over by 60/(u-1) s.
        wait_s = 60.0 / (u - 1)
        for proto, r in self.each_protocol(d, CK_A):
            with self.subTest(proto=proto):
                self.assert_refused(proto, r, 429, ["token rate limit", "%d tokens per minute" % (u - 1)])
                self.assertLessEqual(int(r.header("retry-after")), int(wait_s) + 1)
        wait_until(lambda: post(d.port, CHAT, self.BODY, bearer(CK_A)).status == 200, t(wait_s + 10),
                   "the tpm window to reopen")

    def test_an_answer_without_usage_is_charged_its_bytes(self):
        d = self.daemon([("quiet", {"key": CK_A, "daily_tokens": "1G"})])
        body = {"model": "gpt-a+chunks=4", "stream": True, "stream_options": {"include_usage": False},
                "messages": [{"role": "user", "content": "no usage for you"}]}
        r = harness.stream(d.port, CHAT, body, bearer(CK_A))
        self.assertEqual(r.status, 200)
        a = parse_access(d.wait_access_lines(1)[0])
        self.assertEqual(a["usage"], "missing")
        st = d.status_json()["clients"][0]
        self.assertEqual(st["tokens_today"], (int(a["bytes_in"]) + int(a["bytes_out"])) // 4)

    def test_daily_and_monthly_tokens_refuse_until_the_period_turns(self):
        u = self.tokens()
        d = self.daemon([("day", {"key": CK_A, "daily_tokens": str(u)}),
                         ("month", {"key": CK_B, "monthly_tokens": str(u)})])
        self.spend(d, CK_A)
        now = time.time()
        lt = time.localtime(now)
        midnight = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday + 1, 0, 0, 0, 0, 0, -1))
        for proto, r in self.each_protocol(d, CK_A):
            with self.subTest(proto=proto):
                self.assert_refused(proto, r, 429, ["daily token limit", "%d tokens per day" % u])
                self.assertAlmostEqual(int(r.header("retry-after")), midnight - now, delta=5)
        r = post(d.port, CHAT, self.BODY, bearer(CK_B))
        self.assertEqual(r.status, 200, r)
        month_end = time.mktime((lt.tm_year + (lt.tm_mon == 12), lt.tm_mon % 12 + 1, 1, 0, 0, 0, 0, 0, -1))
        for proto, r in self.each_protocol(d, CK_B):
            with self.subTest(proto=proto):
                self.assert_refused(proto, r, 429, ["monthly token limit"])
                self.assertAlmostEqual(int(r.header("retry-after")), month_end - now, delta=5)
        st = {c["name"]: c for c in d.status_json()["clients"]}
        self.assertEqual(st["day"]["tokens_today"], u)
        self.assertEqual(st["month"]["tokens_month"], u)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""The mock upstream on its own (no daemon): the limit hints it sends (reset
hints on error answers in every format the daemon reads, remaining-quota
headers on success answers, streamed or not), the fail_times counter of an
upstream that recovers early, and its OAuth 2.0 token endpoint (seeded and
rotated refresh tokens, the RFC 6749 errors, client secrets, scripted
failures, delays, revocation and auth=oauth on every API)."""

import base64
import calendar
import email.utils
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.parse

import harness
from harness import AgdTestCase, SSEReader, get, post, request

CHAT = "/v1/chat/completions"
RESP = "/v1/responses"
MSGS = "/v1/messages"
TOKEN = "/oauth/token"
USER = [{"role": "user", "content": "hi"}]
GEM = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}

OPENAI_NAMES = ["x-ratelimit-%s-%s" % (k, w) for w in ("requests", "tokens")
                for k in ("limit", "remaining", "reset")]
IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT$")
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def gemini_path(model, op="generateContent"):
    path = "/v1beta/models/%s:%s" % (urllib.parse.quote(model, safe=""), op)
    return path + "?alt=sse" if op == "streamGenerateContent" else path


def rfc3339_unix(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def form(**fields):
    return urllib.parse.urlencode(fields).encode()


class MockHintTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.port = self.mock.port

    # -- helpers -------------------------------------------------------------------

    def api_request(self, api, model, cred="k1", stream=False, port=None):
        """One generation request on `api` (chat, responses, messages, gemini)."""
        port = port or self.port
        if api == "chat":
            body = {"model": model, "messages": USER, "stream": stream}
            return post(port, CHAT, body, {"Authorization": "Bearer " + cred})
        if api == "responses":
            return post(port, RESP, {"model": model, "input": "hi", "stream": stream},
                        {"Authorization": "Bearer " + cred})
        if api == "messages":
            body = {"model": model, "max_tokens": 16, "messages": USER, "stream": stream}
            return post(port, MSGS, body, {"x-api-key": cred, "anthropic-version": "2023-06-01"})
        op = "streamGenerateContent" if stream else "generateContent"
        return post(port, gemini_path(model, op), GEM, {"x-goog-api-key": cred})

    def chat(self, model, cred="k1", status=None):
        r = self.api_request("chat", model, cred)
        if status is not None:
            self.assertEqual(r.status, status, r)
        return r

    def values(self, r, name):
        return [v for k, v in r.header_list if k == name.lower()]

    def one(self, r, name):
        got = self.values(r, name)
        self.assertEqual(len(got), 1, "%s: %r in %r" % (name, got, r.header_list))
        return got[0]

    def token(self, status=200, body=None, headers=None, **fields):
        raw = body if body is not None else form(**fields)
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        hdrs.update(headers or {})
        r = post(self.port, TOKEN, raw, hdrs)
        if status is not None:
            self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("cache-control"), "no-store", r.headers)
        return r.json()

    def refresh(self, rt, status=200, **extra):
        return self.token(status, grant_type="refresh_token", refresh_token=rt, **extra)

    def oauth_state(self, port=None):
        r = get(port or self.port, "/__mock/oauth")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def configure(self, status=200, **cfg):
        r = post(self.port, "/__mock/oauth", cfg)
        self.assertEqual(r.status, status, r)
        return r.json()

    def reset_state(self):
        r = request(self.port, "DELETE", "/__mock/state")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}), r)

    # -- reset hints on error answers ----------------------------------------------------

    def test_retry_after_seconds_rounded_up(self):
        for wait, want in (("90s", "90"), ("1.2s", "2"), ("250ms", "1"), ("2m", "120"),
                           ("5h", "18000"), ("7d", "604800"), ("0", "0")):
            with self.subTest(wait=wait):
                r = self.chat("m+status=429+hint=retry-after+wait=" + wait, status=429)
                self.assertEqual(self.one(r, "retry-after"), want)
        # Without wait= a hint means 60 s.
        r = self.chat("m+status=503+hint=retry-after", status=503)
        self.assertEqual(self.one(r, "retry-after"), "60")
        # Above 400 days the wait is not taken (the default stays).
        r = self.chat("m+status=429+hint=retry-after+wait=401d", status=429)
        self.assertEqual(self.one(r, "retry-after"), "60")
        r = self.chat("m+status=429+hint=retry-after+wait=400d", status=429)
        self.assertEqual(self.one(r, "retry-after"), str(400 * 86400))

    def test_retry_after_http_date(self):
        for wait_s in (30, 5 * 3600):
            with self.subTest(wait=wait_s):
                before = time.time()
                r = self.chat("m+status=429+hint=retry-after-date+wait=%ds" % wait_s, status=429)
                after = time.time()
                value = self.one(r, "retry-after")
                self.assertRegex(value, IMF_FIXDATE)
                at = email.utils.parsedate_to_datetime(value).timestamp()
                self.assertGreaterEqual(at, int(before) + wait_s)
                self.assertLessEqual(at, after + wait_s + 5)

    def test_retry_after_ms(self):
        for wait, want in (("1500ms", "1500"), ("2.5s", "2500"), ("7d", "604800000"), ("250us", "1")):
            with self.subTest(wait=wait):
                r = self.chat("m+status=429+hint=retry-after-ms+wait=" + wait, status=429)
                self.assertEqual(self.one(r, "retry-after-ms"), want)
                self.assertEqual(self.values(r, "retry-after"), [])

    def test_openai_reset_durations(self):
        for wait, want in (("6m", "6m0s"), ("3723s", "1h2m3s"), ("20ms", "20ms"), ("1.5s", "1.5s"),
                           ("7d", "168h0m0s"), ("60", "60ms"), ("90s", "1m30s"), ("1h", "1h0m0s")):
            with self.subTest(wait=wait):
                r = self.chat("m+status=429+hint=openai+wait=" + wait, status=429)
                got = {n: self.one(r, n) for n in OPENAI_NAMES}
                self.assertEqual(got, {
                    "x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": want,
                    "x-ratelimit-limit-tokens": "100000", "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": want})
                self.assertEqual(self.values(r, "retry-after"), [])

    def test_anthropic_request_window(self):
        before = time.time()
        r = self.api_request("messages", "c+status=429+hint=anthropic+wait=90s")
        after = time.time()
        self.assertAnthropicError(r, 429, "rate_limit_error")
        self.assertEqual(self.one(r, "anthropic-ratelimit-requests-limit"), "50")
        self.assertEqual(self.one(r, "anthropic-ratelimit-requests-remaining"), "0")
        reset = self.one(r, "anthropic-ratelimit-requests-reset")
        self.assertRegex(reset, RFC3339_Z)
        self.assertGreaterEqual(rfc3339_unix(reset), int(before) + 90)
        self.assertLessEqual(rfc3339_unix(reset), after + 90 + 5)
        self.assertEqual(self.one(r, "retry-after"), "90")

    def test_anthropic_unified_windows(self):
        before = time.time()
        r = self.api_request("messages", "c+status=429+hint=anthropic-unified+wait=5h+quota=key")
        after = time.time()
        self.assertAnthropicError(r, 429)
        self.assertEqual(self.values(r, "retry-after"), [])
        for name in ("anthropic-ratelimit-unified-reset", "anthropic-ratelimit-unified-7d-reset"):
            at = int(self.one(r, name))
            self.assertGreaterEqual(at, int(before) + 5 * 3600)
            self.assertLessEqual(at, after + 5 * 3600 + 5)
        fixed = {"anthropic-ratelimit-unified-status": "rejected",
                 "anthropic-ratelimit-unified-7d-status": "rejected",
                 "anthropic-ratelimit-unified-7d-utilization": "1.0",
                 "anthropic-ratelimit-unified-5h-status": "allowed",
                 "anthropic-ratelimit-unified-5h-utilization": "0.2"}
        # One value each: quota=key's own unified headers make way for the hint's.
        self.assertEqual({n: self.one(r, n) for n in fixed}, fixed)
        self.assertEqual(self.values(r, "anthropic-ratelimit-unified-5h-reset"), [])
        # quota=key alone still reports its spent 5-hour window.
        r = self.api_request("messages", "c+status=429+quota=key")
        self.assertEqual(self.one(r, "anthropic-ratelimit-unified-5h-status"), "rejected")

    def gemini_details(self, model):
        r = self.api_request("gemini", model)
        err = self.assertGeminiError(r, 429, "RESOURCE_EXHAUSTED")
        return {d["@type"].rsplit(".", 1)[1]: d for d in err.get("details", [])}, r

    def test_gemini_retry_info_and_error_info(self):
        details, r = self.gemini_details("g+status=429+hint=gemini+wait=1.5s")
        self.assertEqual(sorted(details), ["QuotaFailure", "RetryInfo"])
        self.assertEqual(details["RetryInfo"]["retryDelay"], "2s")
        violation = details["QuotaFailure"]["violations"][0]
        self.assertEqual(violation["quotaId"], "GenerateRequestsPerMinutePerProjectPerModel")
        self.assertEqual(violation["quotaDimensions"]["model"], "mock-model")
        self.assertEqual(self.values(r, "retry-after"), [])

        details, _ = self.gemini_details("g+status=429+hint=gemini+wait=90s+quota=key")
        self.assertEqual(sorted(details), ["ErrorInfo", "QuotaFailure", "RetryInfo"])
        self.assertEqual(details["RetryInfo"]["retryDelay"], "90s")
        self.assertEqual(details["ErrorInfo"]["reason"], "RATE_LIMIT_EXCEEDED")
        self.assertEqual(details["ErrorInfo"]["metadata"]["quotaResetDelay"], "1m30s")
        self.assertEqual(details["QuotaFailure"]["violations"][0]["quotaId"], "GenerateRequestsPerDayPerProject")

        # Without the hint the body is as before: QuotaFailure only.
        details, _ = self.gemini_details("g+status=429+quota=key")
        self.assertEqual(sorted(details), ["QuotaFailure"])
        # Another API has no RetryInfo to carry: the hint changes nothing there.
        r = self.chat("m+status=429+hint=gemini", status=429)
        self.assertEqual(list(r.json()), ["error"])
        self.assertFalse([k for k, _ in r.header_list if "ratelimit" in k or "retry" in k])

    def test_gemini_retry_info_on_other_errors(self):
        r = self.api_request("gemini", "g+status=503+hint=gemini+wait=3s")
        err = self.assertGeminiError(r, 503, "UNAVAILABLE")
        self.assertEqual(err["details"], [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                           "retryDelay": "3s"}])

    def test_hints_on_every_api_and_count_endpoint(self):
        for api in ("chat", "responses", "messages", "gemini"):
            with self.subTest(api=api):
                r = self.api_request(api, "x+status=429+hint=retry-after+wait=7s")
                self.assertEqual((r.status, self.one(r, "retry-after")), (429, "7"))
                r = self.api_request(api, "x+status=429+hint=retry-after+wait=7s", stream=True)
                self.assertEqual((r.status, self.one(r, "retry-after")), (429, "7"))
        r = post(self.port, MSGS + "/count_tokens", {"model": "c+status=429+hint=openai", "messages": USER},
                 {"x-api-key": "k"})
        self.assertEqual((r.status, self.one(r, "x-ratelimit-reset-requests")), (429, "1m0s"))

    def test_hint_ignored_on_success_and_retry_after_yields(self):
        r = self.chat("m+hint=openai+wait=5s", status=200)
        self.assertFalse([k for k, _ in r.header_list if "ratelimit" in k or "retry" in k], r.header_list)
        # retry_after= beside a hint with no Retry-After of its own: both are sent.
        r = self.chat("m+status=429+retry_after=5+hint=openai+wait=9s", status=429)
        self.assertEqual((self.one(r, "retry-after"), self.one(r, "x-ratelimit-reset-requests")), ("5", "9s"))
        # Beside a hint that sends one: only the hint's.
        r = self.chat("m+status=429+retry_after=5+hint=retry-after+wait=9s", status=429)
        self.assertEqual(self.one(r, "retry-after"), "9")
        # fail_cred: the listed credential gets the hint, another a plain answer.
        r = self.chat("m+fail_cred=a+hint=retry-after-ms+wait=2s", cred="a", status=429)
        self.assertEqual(self.one(r, "retry-after-ms"), "2000")
        r = self.chat("m+fail_cred=a+hint=retry-after-ms+wait=2s", cred="b", status=200)
        self.assertEqual(self.values(r, "retry-after-ms"), [])

    # -- remaining quota on success answers ---------------------------------------------------

    def check_remaining(self, api, r, n, reset_go, reset_s, before, after):
        if api == "gemini":
            self.assertFalse([k for k, _ in r.header_list if "ratelimit" in k], r.header_list)
            return
        if api == "messages":
            for window, scale in (("requests", 1), ("tokens", 1000)):
                self.assertEqual(self.one(r, "anthropic-ratelimit-%s-remaining" % window), str(n * scale))
                self.assertEqual(self.one(r, "anthropic-ratelimit-%s-limit" % window), str(max(n, 50) * scale))
                at = rfc3339_unix(self.one(r, "anthropic-ratelimit-%s-reset" % window))
                self.assertGreaterEqual(at, int(before) + reset_s)
                self.assertLessEqual(at, after + reset_s + 5)
            return
        self.assertEqual({name: self.one(r, name) for name in OPENAI_NAMES}, {
            "x-ratelimit-limit-requests": str(max(n, 100)), "x-ratelimit-remaining-requests": str(n),
            "x-ratelimit-reset-requests": reset_go,
            "x-ratelimit-limit-tokens": str(max(n, 100) * 1000), "x-ratelimit-remaining-tokens": str(n * 1000),
            "x-ratelimit-reset-tokens": reset_go})

    def test_remaining_headers_streamed_and_not(self):
        for api in ("chat", "responses", "messages", "gemini"):
            for stream in (False, True):
                for n, reset, reset_go, reset_s in ((7, "", "1m0s", 60), (250, "+reset=5h", "5h0m0s", 18000)):
                    with self.subTest(api=api, stream=stream, n=n):
                        before = time.time()
                        r = self.api_request(api, "x+remaining=%d%s" % (n, reset), stream=stream)
                        after = time.time()
                        self.assertEqual(r.status, 200, r)
                        self.check_remaining(api, r, n, reset_go, reset_s, before, after)

    def test_remaining_headers_come_with_the_stream_head(self):
        # A paced stream: the headers are in the response head, before any event.
        reader = SSEReader(self.port, MSGS, {"model": "c+remaining=0+chunks=3+pace=50ms", "max_tokens": 16,
                                             "messages": USER, "stream": True}, {"x-api-key": "k"})
        self.addCleanup(reader.close)
        self.assertEqual(reader.status, 200)
        self.assertEqual(reader.events, [])
        self.assertEqual(reader.headers["anthropic-ratelimit-requests-remaining"], "0")
        self.assertEqual(reader.headers["anthropic-ratelimit-tokens-remaining"], "0")
        events = reader.read_all()
        self.assertEqual(events[-1].name, "message_stop")
        # Not on errors, and a bad value is ignored.
        r = self.chat("m+remaining=5+status=500", status=500)
        self.assertEqual(self.values(r, "x-ratelimit-remaining-requests"), [])
        r = self.chat("m+remaining=1000000001", status=200)
        self.assertEqual(self.values(r, "x-ratelimit-remaining-requests"), [])

    # -- fail_times ---------------------------------------------------------------------------

    def test_fail_times_per_model_and_credential(self):
        model = "m+status=503+fail_times=2+hint=retry-after+wait=3s"
        got = []
        for _ in range(4):
            r = self.chat(model, cred="a")
            got.append((r.status, r.header("retry-after")))
        self.assertEqual(got, [(503, "3"), (503, "3"), (200, None), (200, None)])
        # Another credential, or another model string, counts on its own.
        self.assertEqual([self.chat(model, cred="b").status for _ in range(3)], [503, 503, 200])
        self.assertEqual(self.chat(model + "+chunks=2", cred="a").status, 503)
        # The API does not matter: the pair (model, credential) is the key.
        self.assertEqual(self.api_request("messages", model, cred="a").status, 200)
        # fail_cred: only the listed credential is counted.
        fc = "m+fail_cred=x+fail_times=1"
        self.assertEqual([self.chat(fc, cred=c).status for c in ("y", "x", "y", "x")], [200, 429, 200, 200])
        # DELETE /__mock/state starts the counts again.
        self.reset_state()
        self.assertEqual([self.chat(model, cred="a").status for _ in range(3)], [503, 503, 200])
        # DELETE /__mock/requests leaves them alone.
        self.mock.clear()
        self.assertEqual(self.chat(model, cred="a").status, 200)

    def test_fail_times_across_threads(self):
        mock = self.start_mock(threads=4)
        results = []
        lock = threading.Lock()

        def one():
            r = self.api_request("chat", "m+status=429+fail_times=5", cred="t", port=mock.port)
            with lock:
                results.append(r.status)

        threads = [threading.Thread(target=one) for _ in range(24)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(results), [200] * 19 + [429] * 5)

    # -- OAuth token endpoint ---------------------------------------------------------------------

    def test_seeded_refresh_token_rotates(self):
        first = self.refresh("rt-seed one+%&", client_id="cli a&b", scope="read write")
        self.assertEqual(first["token_type"], "Bearer")
        self.assertEqual(first["expires_in"], 3600)
        self.assertEqual(first["scope"], "read write")
        self.assertRegex(first["access_token"], r"^at-mock\d+$")
        self.assertRegex(first["refresh_token"], r"^rt-mock\d+$")
        # The seed is taken once.
        err = self.refresh("rt-seed one+%&", 400)
        self.assertEqual(err["error"], "invalid_grant")
        self.assertIsInstance(err["error_description"], str)
        # The rotated token works once, and the answer has no scope when none was asked.
        second = self.refresh(first["refresh_token"])
        self.assertNotIn("scope", second)
        self.assertNotEqual(second["access_token"], first["access_token"])
        self.assertEqual(self.refresh(first["refresh_token"], 400)["error"], "invalid_grant")
        # A JSON body works as well.
        third = self.token(body=json.dumps({"grant_type": "refresh_token",
                                            "refresh_token": second["refresh_token"], "client_id": "j"}).encode(),
                           headers={"Content-Type": "application/json"})
        self.assertRegex(third["refresh_token"], r"^rt-mock\d+$")
        st = self.oauth_state()
        self.assertEqual((st["requests"], st["refreshes"]), (5, 3))
        self.assertEqual(st["by_client"], {"cli a&b": 1, "": 1, "j": 1})
        self.assertEqual(st["live_refresh_tokens"], [third["refresh_token"]])
        self.assertEqual(st["access_tokens"], 3)
        self.assertEqual(st["last"], {"grant_type": "refresh_token", "client_id": "j", "scope": None,
                                      "refresh_token": second["refresh_token"]})

    def test_token_request_errors(self):
        self.assertEqual(self.refresh("not-a-seed", 400)["error"], "invalid_grant")
        self.assertEqual(self.token(400, grant_type="password", username="u")["error"], "unsupported_grant_type")
        self.assertEqual(self.token(400, grant_type="authorization_code", code="c")["error"],
                         "unsupported_grant_type")
        self.assertEqual(self.token(400, refresh_token="rt-a")["error"], "invalid_request")
        self.assertEqual(self.token(400, grant_type="refresh_token")["error"], "invalid_request")
        self.assertEqual(self.token(400, body=b"grant_type=refresh_token&refresh_token=rt-a&refresh_token=rt-b")
                         ["error"], "invalid_request")
        self.assertEqual(self.token(400, body=b'{"grant_type":"refresh_token","refresh_token":7}',
                                    headers={"Content-Type": "application/json"})["error"], "invalid_request")
        self.assertEqual(self.token(400, body=b"[1,2]", headers={"Content-Type": "application/json"})
                         ["error"], "invalid_request")
        self.assertEqual(self.refresh("rt-" + "x" * 5000, 400)["error"], "invalid_request")
        big = form(grant_type="refresh_token", refresh_token="rt-big", pad="p" * 70000)
        self.assertEqual(self.token(413, body=big)["error"], "invalid_request")
        # None of those took a seed: rt-a and rt-big are still fresh.
        self.assertIn("access_token", self.refresh("rt-a"))
        self.assertIn("access_token", self.refresh("rt-big"))
        st = self.oauth_state()
        self.assertEqual((st["requests"], st["refreshes"]), (12, 2))
        # Any other method or path is not the token endpoint.
        self.assertEqual(get(self.port, TOKEN).status, 404)

    def test_client_secret(self):
        cfg = self.configure(client_secret={"cli": "s3cret"})
        self.assertEqual(cfg["client_secret_for"], ["cli"])
        r = post(self.port, TOKEN, form(grant_type="refresh_token", refresh_token="rt-1", client_id="cli",
                                        client_secret="wrong"),
                 {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))
        self.assertIn("Basic", r.header("www-authenticate"))
        self.assertEqual(self.refresh("rt-1", 401, client_id="cli")["error"], "invalid_client")
        ok = self.refresh("rt-1", client_id="cli", client_secret="s3cret")
        self.assertIn("access_token", ok)
        # HTTP Basic client authentication (RFC 6749 section 2.3.1).
        basic = "Basic " + base64.b64encode(b"cli:s3cret").decode()
        self.assertIn("access_token", self.refresh(ok["refresh_token"], headers={"Authorization": basic}))
        bad = "Basic " + base64.b64encode(b"cli:nope").decode()
        self.assertEqual(self.refresh("rt-2", 401, headers={"Authorization": bad})["error"], "invalid_client")
        # A client without a configured secret needs none.
        self.assertIn("access_token", self.refresh("rt-2", client_id="other"))
        st = self.oauth_state()
        self.assertEqual(st["by_client"], {"cli": 2, "other": 1})
        self.assertNotIn("s3cret", json.dumps(st))
        self.assertEqual(st["last"]["client_id"], "other")

    def test_rotation_off(self):
        self.configure(rotate=False)
        a = self.refresh("rt-keep")
        self.assertNotIn("refresh_token", a)
        b = self.refresh("rt-keep")
        self.assertNotEqual(a["access_token"], b["access_token"])
        self.assertEqual(self.oauth_state()["live_refresh_tokens"], ["rt-keep"])
        # Switched back on: the kept token is used one last time and replaced.
        self.configure(rotate=True)
        c = self.refresh("rt-keep")
        self.assertEqual(self.oauth_state()["live_refresh_tokens"], [c["refresh_token"]])
        self.assertEqual(self.refresh("rt-keep", 400)["error"], "invalid_grant")

    def test_scripted_failures(self):
        cfg = self.configure(fail_status=503, fail_count=2)
        self.assertEqual((cfg["fail_status"], cfg["fail_count"]), (503, 2))
        for _ in range(2):
            self.assertEqual(self.refresh("rt-f", 503)["error"], "temporarily_unavailable")
        self.assertIn("access_token", self.refresh("rt-f"))  # the failures took no seed
        # Without fail_count: every request while fail_status is set.
        self.configure(fail_status=400)
        for _ in range(3):
            self.assertEqual(self.refresh("rt-g", 400)["error"], "invalid_grant")
        self.configure(fail_status=500, fail_count=1)
        self.assertEqual(self.refresh("rt-g", 500)["error"], "server_error")
        self.configure(fail_status=0)
        self.assertIn("access_token", self.refresh("rt-g"))
        st = self.oauth_state()
        self.assertEqual((st["requests"], st["refreshes"]), (8, 2))
        # Bad configurations change nothing.
        self.configure(400, fail_status=200)
        self.configure(400, expires_in=-1)
        self.configure(400, delay_ms="5")
        self.configure(400, rotate=1)
        self.configure(400, unknown=1)
        self.configure(400, client_secret={"a": 1})
        r = post(self.port, "/__mock/oauth", b"[]")
        self.assertEqual(r.status, 400)
        self.assertEqual(self.oauth_state()["config"], {"expires_in": 3600, "rotate": True, "fail_status": 0,
                                                        "fail_count": None, "delay_ms": 0,
                                                        "client_secret_for": []})

    def oauth_apis(self):
        return [(api, stream) for api in ("chat", "responses", "messages", "gemini") for stream in (False, True)]

    def assert_auth_error(self, api, r):
        if api == "messages":
            self.assertAnthropicError(r, 401, "authentication_error")
        elif api == "gemini":
            self.assertGeminiError(r, 401, "UNAUTHENTICATED")
        else:
            self.assertOpenAIError(r, 401, code="invalid_api_key")

    def test_auth_oauth_on_every_api_and_revoke(self):
        at = self.refresh("rt-api")["access_token"]
        model = "x+auth=oauth+chunks=2"
        for api, stream in self.oauth_apis():
            with self.subTest(api=api, stream=stream, token="live"):
                r = self.api_request(api, model, cred=at, stream=stream)
                self.assertEqual(r.status, 200, r)
                self.assertIn(b"cred=" + at.encode(), r.body)
            with self.subTest(api=api, stream=stream, token="unknown"):
                self.assert_auth_error(api, self.api_request(api, model, cred="at-mock999999", stream=stream))
        # A plain model does not care.
        self.assertEqual(self.chat("x", cred="anything").status, 200)
        r = post(self.port, "/__mock/oauth/revoke", b"")
        self.assertEqual((r.status, r.json()), (200, {"revoked": 1}))
        self.assertEqual(self.oauth_state()["access_tokens"], 0)
        for api, stream in self.oauth_apis():
            with self.subTest(api=api, stream=stream, token="revoked"):
                self.assert_auth_error(api, self.api_request(api, model, cred=at, stream=stream))
        # auth=oauth comes before the other directives; a new token works again.
        fresh = self.refresh("rt-api2")["access_token"]
        self.assertEqual(self.chat("x+auth=oauth+status=429", cred=at).status, 401)
        self.assertEqual(self.chat("x+auth=oauth+status=429", cred=fresh).status, 429)
        self.assertEqual(self.chat("x+auth=oauth", cred="").status, 401)

    def test_expires_in(self):
        cfg = self.configure(expires_in=0)
        self.assertEqual(cfg["expires_in"], 0)
        dead = self.refresh("rt-e")
        self.assertEqual(dead["expires_in"], 0)
        self.assertEqual(self.chat("m+auth=oauth", cred=dead["access_token"]).status, 401)
        self.assertEqual(self.oauth_state()["access_tokens"], 0)
        self.configure(expires_in=120)
        live = self.refresh(dead["refresh_token"])
        self.assertEqual(live["expires_in"], 120)
        self.assertEqual(self.chat("m+auth=oauth", cred=live["access_token"]).status, 200)
        self.assertEqual(self.oauth_state()["access_tokens"], 1)

    def wait_in_flight(self, n, port=None):
        harness.wait_until(lambda: self.oauth_state(port)["in_flight"] == n, harness.t(10),
                           "%d token requests in flight" % n)

    def test_max_concurrent_with_delay(self):
        self.configure(delay_ms=1000)
        answers = []

        def one(rt):
            answers.append(self.refresh(rt, status=None))

        # One after the other: never two at once.
        one("rt-s1")
        one(answers[0]["refresh_token"])
        st = self.oauth_state()
        self.assertEqual((st["max_concurrent"], st["in_flight"], st["refreshes"]), (1, 0, 2))
        # Two at once, with the same seed: one wins, the other gets invalid_grant.
        answers.clear()
        first = threading.Thread(target=one, args=("rt-twice",))
        first.start()
        self.wait_in_flight(1)
        second = threading.Thread(target=one, args=("rt-twice",))
        second.start()
        first.join()
        second.join()
        st = self.oauth_state()
        self.assertEqual((st["max_concurrent"], st["in_flight"], st["refreshes"]), (2, 0, 3))
        self.assertEqual(sorted("access_token" in a for a in answers), [False, True])
        self.assertEqual(sorted(a.get("error", "") for a in answers), ["", "invalid_grant"])

    def test_client_leaving_during_delay(self):
        self.configure(delay_ms=30000)
        sock = harness.connect(self.port)
        raw = form(grant_type="refresh_token", refresh_token="rt-left")
        sock.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(raw), raw))
        self.wait_in_flight(1)
        sock.close()
        self.wait_in_flight(0)
        st = self.oauth_state()
        self.assertEqual((st["requests"], st["refreshes"], st["max_concurrent"]), (1, 0, 1))
        # Nothing was decided: the seed is still fresh.
        self.configure(delay_ms=0)
        self.assertIn("access_token", self.refresh("rt-left"))

    def test_delete_state(self):
        self.configure(expires_in=99, rotate=False, delay_ms=5, client_secret={"c": "s"})
        at = self.refresh("rt-d", client_id="c", client_secret="s")["access_token"]
        self.assertEqual(self.chat("m+auth=oauth", cred=at).status, 200)
        self.reset_state()
        st = self.oauth_state()
        self.assertEqual(st, {"requests": 0, "refreshes": 0, "in_flight": 0, "max_concurrent": 0,
                              "by_client": {}, "last": None, "live_refresh_tokens": [], "access_tokens": 0,
                              "config": {"expires_in": 3600, "rotate": True, "fail_status": 0,
                                         "fail_count": None, "delay_ms": 0, "client_secret_for": []}})
        self.assertEqual(self.chat("m+auth=oauth", cred=at).status, 401)
        # The used seed is fresh again; token names never repeat.
        again = self.refresh("rt-d", client_id="c")
        self.assertNotEqual(again["access_token"], at)

    def test_refreshes_across_threads(self):
        mock = self.start_mock(threads=4)
        out = []
        lock = threading.Lock()

        def one(i):
            r = post(mock.port, TOKEN, form(grant_type="refresh_token", refresh_token="rt-p%d" % i,
                                             client_id="c%d" % (i % 2)),
                     {"Content-Type": "application/x-www-form-urlencoded"})
            with lock:
                out.append((r.status, r.json().get("access_token")))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual([s for s, _ in out], [200] * 40)
        self.assertEqual(len({a for _, a in out}), 40)
        st = self.oauth_state(mock.port)
        self.assertEqual((st["requests"], st["refreshes"], st["by_client"]), (40, 40, {"c0": 20, "c1": 20}))
        self.assertEqual(len(st["live_refresh_tokens"]), 40)


if __name__ == "__main__":
    if not os.path.exists(harness.AGD_MOCK):
        sys.stderr.write("missing mock binary: AGD_MOCK=%s\n" % harness.AGD_MOCK)
        sys.exit(1)
    unittest.main(verbosity=2)

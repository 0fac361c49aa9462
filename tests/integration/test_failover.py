#!/usr/bin/env python3
"""Credential selection and failover: round-robin and fill-first (seen through
the mock's credential echo), failover on 429/5xx/401/403/connection
refused/timeout before the first byte, max_attempts, never the same
credential twice, cooldowns (Retry-After honoured) and the 429 every client
gets when all credentials are cooling."""

import json
import os
import signal

import harness
from harness import (AgdTestCase, SilentUpstream, anthropic_provider, build_config, cred_of,
                     free_port_nobody_listens_on, gemini_provider, openai_provider, parse_access, post, t,
                     wait_until)

K1, K2, K3, K4 = ("fo-cred-one-1111", "fo-cred-two-2222", "fo-cred-three-3333", "fo-cred-four-4444")
A1, A2 = "fo-ant-one-aaaa", "fo-ant-two-bbbb"
G1, G2 = "fo-gem-one-cccc", "fo-gem-two-dddd"


def chat(port, model, headers=None):
    return post(port, "/v1/chat/completions",
                {"model": model, "messages": [{"role": "user", "content": "hi"}]}, headers)


def answer_cred(r):
    return cred_of(r.json()["choices"][0]["message"]["content"])


class FailoverTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, keys=(K1, K2, K3), strategy="round-robin", routing=None, server=None,
               extra_providers=(), name="agd"):
        r = {"strategy": strategy}
        r.update(routing or {})
        # Own PID file and control socket per name, so that one daemon left
        # behind by a failed subtest cannot block the next one.
        srv = {"pid_file": os.path.join(self.tmp, name + ".pid"),
               "control_socket": os.path.join(self.tmp, name + ".sock"),
               "state_dir": os.path.join(self.tmp, name + ".state")}
        srv.update(server or {})
        providers = list(extra_providers) + [("oa", openai_provider(self.mock, keys, "gpt-*"))]
        return self.start_daemon(build_config(self.tmp, routing=r, server=srv, providers=providers),
                                 name=name)

    def upstream_creds(self):
        return [r["credential"] for r in self.mock.requests()]

    # -- strategies --------------------------------------------------------------------

    def test_round_robin_cycles_through_credentials(self):
        d = self.daemon()
        seq = []
        for _ in range(9):
            r = chat(d.port, "gpt-rr")
            self.assertEqual(r.status, 200, r)
            seq.append(answer_cred(r))
        order = [K1, K2, K3]
        self.assertEqual(set(seq[:3]), set(order), seq)
        start = order.index(seq[0])
        self.assertEqual(seq, [order[(start + i) % 3] for i in range(9)], "not round-robin: %r" % seq)
        self.assertEqual(self.upstream_creds(), seq)

    def test_round_robin_spans_providers_serving_the_model(self):
        d = self.daemon(keys=(K1, K2), extra_providers=[
            ("second", openai_provider(self.mock, [K3], "gpt-*"))])
        seq = [answer_cred(chat(d.port, "gpt-span")) for _ in range(9)]
        self.assertEqual(sorted(seq), sorted([K1, K2, K3] * 3), seq)
        for i in range(6):
            self.assertEqual(seq[i], seq[i + 3], "not a fixed rotation: %r" % seq)

    def test_fill_first_sticks_to_first_healthy_credential(self):
        d = self.daemon(strategy="fill-first")
        for _ in range(5):
            r = chat(d.port, "gpt-ff")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(answer_cred(r), K1)
        # K1's whole quota is spent: the request fails over to K2, and K2 is
        # then the first healthy credential.
        r = chat(d.port, "gpt-ff+fail_cred=%s+quota=key" % K1)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(answer_cred(r), K2)
        for _ in range(3):
            self.assertEqual(answer_cred(chat(d.port, "gpt-ff")), K2)
        self.assertEqual(self.upstream_creds(), [K1] * 5 + [K1, K2] + [K2] * 3)

    # -- failover before the first byte -------------------------------------------------------

    def test_429_fails_over_and_cools_the_credential(self):
        d = self.daemon(strategy="fill-first", routing={"cooldown": "10m"})
        r = chat(d.port, "gpt-x+fail_cred=%s|%s+quota=key" % (K1, K2))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(answer_cred(r), K3)
        self.assertEqual(self.upstream_creds(), [K1, K2, K3])
        a = parse_access(d.wait_access_lines(1)[-1])
        self.assertEqual(a["attempts"], "3")
        self.assertEqual(a["cred"], harness.fingerprint(K3))
        for k in (K1, K2):
            st = d.credential_state(k)
            self.assertEqual(st["state"], "cooldown", st)
            self.assertEqual(st["last_status"], 429, st)
            self.assertGreaterEqual(st["failures"], 1, st)
        self.assertEqual(d.credential_state(K3)["state"], "ok")
        # Cooling credentials are skipped: straight to K3.
        self.mock.clear()
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K3)
        self.assertEqual(self.upstream_creds(), [K3])

    def test_5xx_401_403_fail_over(self):
        for i, status in enumerate((500, 502, 503, 504, 401, 403)):
            with self.subTest(status=status):
                d = self.daemon(strategy="fill-first", name="s%d" % status)
                self.mock.clear()
                r = chat(d.port, "gpt-x+status=%d+fail_cred=%s" % (status, K1))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(answer_cred(r), K2)
                self.assertEqual(self.upstream_creds(), [K1, K2])
                self.stop_daemon(d)

    def test_max_attempts_bounds_the_tries(self):
        d = self.daemon(keys=(K1, K2, K3, K4), routing={"max_attempts": "2"})
        r = chat(d.port, "gpt-x+status=500")
        self.assertIn(r.status, (500, 502), r)
        self.assertOpenAIError(r, r.status)
        creds = self.upstream_creds()
        self.assertEqual(len(creds), 2, creds)
        self.assertEqual(len(set(creds)), 2, "same credential tried twice: %r" % creds)
        self.assertEqual(parse_access(d.wait_access_lines(1)[-1])["attempts"], "2")

    def test_never_the_same_credential_twice(self):
        d = self.daemon(keys=(K1, K2), routing={"max_attempts": "5"})
        r = chat(d.port, "gpt-x+status=503")
        self.assertGreaterEqual(r.status, 500, r)
        self.assertOpenAIError(r, r.status)
        creds = self.upstream_creds()
        self.assertEqual(sorted(creds), sorted([K1, K2]), creds)

    def test_connection_refused_fails_over_to_next_provider(self):
        dead = "http://127.0.0.1:%d" % free_port_nobody_listens_on()
        d = self.daemon(strategy="fill-first",
                        extra_providers=[("dead", openai_provider(dead, ["dead-key-0000"], "gpt-*"))])
        r = chat(d.port, "gpt-x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(answer_cred(r), K1)
        a = parse_access(d.wait_access_lines(1)[-1])
        self.assertEqual(a["attempts"], "2")
        self.assertEqual(a["provider"], "oa")

    def test_connection_refused_everywhere_is_502(self):
        dead = "http://127.0.0.1:%d" % free_port_nobody_listens_on()
        self.start_daemon(build_config(self.tmp, providers=[
            ("deadoa", openai_provider(dead, ["d1-key-1111", "d2-key-2222"], "gpt-*")),
            ("deadan", anthropic_provider(dead, ["d3-key-3333"], "claude-*")),
            ("deadge", gemini_provider(dead, ["d4-key-4444"], "gemini-*")),
        ]))
        d = self._daemons[-1]
        self.assertOpenAIError(chat(d.port, "gpt-x"), 502)
        self.assertAnthropicError(post(d.port, "/v1/messages",
                                       {"model": "claude-x", "max_tokens": 5, "messages": []}), 502)
        self.assertGeminiError(post(d.port, "/v1beta/models/gemini-x:generateContent", {"contents": []}), 502)
        self.assertEqual(parse_access(d.wait_access_lines(3)[0])["attempts"], "2")

    def test_timeout_before_first_byte_fails_over(self):
        silent = SilentUpstream()
        self.addCleanup(silent.close)
        d = self.daemon(strategy="fill-first", server={"upstream_timeout": "1s"},
                        extra_providers=[("silent", openai_provider("http://127.0.0.1:%d" % silent.port,
                                                                    ["silent-key-0000"], "gpt-*"))])
        r = chat(d.port, "gpt-x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(answer_cred(r), K1)
        self.assertEqual(parse_access(d.wait_access_lines(1)[-1])["attempts"], "2")

    def test_timeout_everywhere_is_504(self):
        d = self.daemon(keys=(K1, K2), server={"upstream_timeout": "1s"})
        r = chat(d.port, "gpt-x+delay=120s")
        self.assertOpenAIError(r, 504)
        self.assertEqual(sorted(self.upstream_creds()), [K1, K2])

    def test_gemini_timeout_is_504_deadline_exceeded(self):
        self.start_daemon(build_config(self.tmp, server={"upstream_timeout": "1s"}, providers=[
            ("ge", gemini_provider(self.mock, [G1], "gemini-*"))]))
        d = self._daemons[-1]
        r = post(d.port, "/v1beta/models/gemini-x+delay=120s:generateContent", {"contents": []})
        self.assertGeminiError(r, 504, "DEADLINE_EXCEEDED")

    # -- cooldown -------------------------------------------------------------------------

    # -- upstream connections ---------------------------------------------------------

    def test_sequential_requests_share_one_upstream_connection(self):
        d = self.daemon(keys=(K1,), server={"workers": 1})
        self.assertEqual(chat(d.port, "gpt-warm").status, 200)
        before = self.mock.stats()["connections"]  # this query is one connection of its own
        for _ in range(10):
            r = chat(d.port, "gpt-pool")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(answer_cred(r), K1)
        self.assertEqual(self.mock.stats()["connections"] - before, 1,
                         "the daemon opened new upstream connections instead of reusing its kept-alive one")

    def test_pooled_connection_closed_by_upstream_is_retried_on_a_new_one(self):
        # The upstream closes a kept-alive connection the moment the daemon
        # reuses it: the request is sent again on a new connection, with the
        # same credential, and the client never sees the failure.
        d = self.daemon(keys=(K1, K2), strategy="fill-first", server={"workers": 1})
        self.assertEqual(chat(d.port, "gpt-warm").status, 200)
        self.mock.clear()
        model = "gpt-stale+hangup_reused=1"
        r = chat(d.port, model)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(answer_cred(r), K1)
        self.assertEqual(self.upstream_creds(), [K1, K1])
        a = parse_access(d.wait_access_lines(2)[-1])
        self.assertEqual(a["attempts"], "1", a)

    def test_upstream_hanging_up_without_answer_fails_over_then_502(self):
        d = self.daemon(keys=(K1, K2), strategy="fill-first")
        r = chat(d.port, "gpt-gone+hangup=1")
        self.assertEqual(r.status, 502, r)
        self.assertOpenAIError(r, 502)
        self.assertEqual(set(self.upstream_creds()), {K1, K2})

    def test_connection_close_answers_are_not_reused(self):
        d = self.daemon(keys=(K1,), server={"workers": 1})
        self.assertEqual(chat(d.port, "gpt-warm").status, 200)
        before = self.mock.stats()["connections"]
        for _ in range(3):
            r = chat(d.port, "gpt-cc+conn_close=1")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(answer_cred(r), K1)
        # the warm connection carries the first; each Connection: close ends its connection
        self.assertEqual(self.mock.stats()["connections"] - before, 3)

    def test_upstream_named_localhost(self):
        base = "http://localhost:%d" % self.mock.port
        d = self.start_daemon(build_config(self.tmp, server={"workers": 1}, providers=[
            ("local", openai_provider(base, [K4], "gpt-*"))]))
        for _ in range(5):
            r = chat(d.port, "gpt-local")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(answer_cred(r), K4)

    def test_all_credentials_cooling_gives_429_with_retry_after(self):
        self.start_daemon(build_config(self.tmp, routing={"cooldown": "1s"}, providers=[
            ("oa", openai_provider(self.mock, [K1, K2], "gpt-*")),
            ("an", anthropic_provider(self.mock, [A1, A2], "claude-*")),
            ("ge", gemini_provider(self.mock, [G1, G2], "gemini-*")),
        ]))
        d = self._daemons[-1]
        cases = [
            ("/v1/chat/completions", lambda m: {"model": m, "messages": []}, "gpt-x", (K1, K2),
             lambda r: self.assertOpenAIError(r, 429)),
            ("/v1/messages", lambda m: {"model": m, "max_tokens": 4, "messages": []}, "claude-x", (A1, A2),
             lambda r: self.assertAnthropicError(r, 429, "rate_limit_error")),
            ("/v1beta/models/{m}:generateContent", lambda m: {"contents": []}, "gemini-x", (G1, G2),
             lambda r: self.assertGeminiError(r, 429, "RESOURCE_EXHAUSTED")),
        ]
        for path, body, model, keys, check in cases:
            with self.subTest(path=path):
                self.mock.clear()
                scripted = "%s+fail_cred=%s|%s+retry_after=100" % (model, keys[0], keys[1])
                # Both credentials get 429 with Retry-After: 100: the last
                # upstream 429 is passed on.
                r = post(d.port, path.format(m=scripted), body(scripted))
                check(r)
                self.assertEqual(sorted(c["credential"] for c in self.mock.requests()), sorted(keys))
                self.assertIsNotNone(r.header("retry-after"), r.headers)
                # Now both rest for this model ~100 s (Retry-After wins over
                # cooldown = 1s): the gateway answers 429 itself without
                # asking anyone.
                self.mock.clear()
                r = post(d.port, path.format(m=scripted), body(scripted))
                check(r)
                ra = r.header("retry-after")
                self.assertIsNotNone(ra, "429 without Retry-After: %r" % r.headers)
                self.assertTrue(ra.isdigit(), ra)
                self.assertGreater(int(ra), 1, "Retry-After %s ignores the upstream's 100 s" % ra)
                self.assertLessEqual(int(ra), 100)
                self.assertEqual(self.mock.requests(), [], "cooling credentials were used")

    def test_retry_after_wins_over_routing_cooldown(self):
        d = self.daemon(keys=(K1, K2), strategy="fill-first", routing={"cooldown": "1s"})
        model = "gpt-x+fail_cred=%s+retry_after=600" % K1
        r = chat(d.port, model)
        self.assertEqual(answer_cred(r), K2)
        st = d.credential_state(K1)
        self.assertEqual(st["state"], "models_cooling", st)
        self.assertEqual([m["model"] for m in st["models_cooling"]], [model], st)
        self.assertGreater(st["models_cooling"][0]["remaining_s"], 300, st)
        self.assertLessEqual(st["models_cooling"][0]["remaining_s"], 600, st)
        self.assertEqual(st["why"]["scope"], "model", st)
        self.assertEqual(st["why"]["status"], 429, st)
        self.assertEqual(st["why"]["hint_ms"], 600000, st)
        self.assertIn("rate_limit", st["why"]["why"], st)

    def test_routing_cooldown_without_retry_after(self):
        d = self.daemon(keys=(K1, K2), strategy="fill-first", routing={"cooldown": "250s"})
        r = chat(d.port, "gpt-x+fail_cred=%s+quota=key" % K1)
        self.assertEqual(answer_cred(r), K2)
        st = d.credential_state(K1)
        self.assertEqual(st["state"], "cooldown", st)
        self.assertGreater(st["cooldown_remaining_s"], 100, st)
        self.assertLessEqual(st["cooldown_remaining_s"], 250, st)
        self.assertEqual(st["why"]["scope"], "credential", st)
        self.assertNotIn(K1, json.dumps(st), "the key quoted by the upstream is shown")

    def test_credential_is_used_again_after_its_cooldown(self):
        d = self.daemon(keys=(K1, K2), strategy="fill-first", routing={"cooldown": "1s"})
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+quota=key" % K1)), K2)
        wait_until(lambda: d.credential_state(K1)["state"] == "ok", t(30), "K1 to leave cooldown",
                   interval=0.2)
        self.mock.clear()
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K1)
        self.assertEqual(self.upstream_creds(), [K1])

    # -- scope: what a failure cools ------------------------------------------------------

    def test_a_models_quota_leaves_the_key_serving_other_models(self):
        d = self.daemon(keys=(K1, K2), strategy="fill-first", routing={"cooldown": "10m"})
        limited = "gpt-x+fail_cred=%s" % K1
        self.assertEqual(answer_cred(chat(d.port, limited)), K2)
        self.mock.clear()
        # The same model skips K1; any other model is still K1's.
        self.assertEqual(answer_cred(chat(d.port, limited)), K2)
        self.assertEqual(answer_cred(chat(d.port, "gpt-y")), K1)
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K1)
        self.assertEqual(self.upstream_creds(), [K2, K1, K1])

    def test_each_wire_says_whether_a_429_is_the_models_or_the_keys(self):
        self.start_daemon(build_config(self.tmp, routing={"cooldown": "10m"}, providers=[
            ("oa", openai_provider(self.mock, [K1], "gpt-*")),
            ("an", anthropic_provider(self.mock, [A1], "claude-*")),
            ("ge", gemini_provider(self.mock, [G1], "gemini-*")),
        ]))
        d = self._daemons[-1]
        cases = [("/v1/chat/completions", lambda m: {"model": m, "messages": []}, "gpt-x", K1),
                 ("/v1/messages", lambda m: {"model": m, "max_tokens": 4, "messages": []}, "claude-x", A1),
                 ("/v1beta/models/{m}:generateContent", lambda m: {"contents": []}, "gemini-x", G1)]
        for path, body, model, key in cases:
            for quota, state in (("model", "models_cooling"), ("key", "cooldown")):
                with self.subTest(path=path, quota=quota):
                    scripted = "%s+status=429+quota=%s" % (model, quota)
                    r = post(d.port, path.format(m=scripted), body(scripted))
                    self.assertEqual(r.status, 429, r)
                    st = d.credential_state(key)
                    self.assertEqual(st["state"], state, st)
                    self.assertEqual(st["why"]["scope"], "model" if quota == "model" else "credential", st)
                    self.assertIn("429", st["why"]["why"], st)

    def test_a_revoked_key_is_out_until_a_reload(self):
        d = self.daemon(keys=(K1, K2), strategy="fill-first")
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+status=401" % K1)), K2)
        st = d.credential_state(K1)
        self.assertEqual(st["state"], "refused", st)
        self.assertEqual(st["why"]["status"], 401, st)
        self.mock.clear()
        for _ in range(3):
            self.assertEqual(answer_cred(chat(d.port, "gpt-other")), K2)
        # A reload tries it again (the administrator may have fixed the key).
        self.assertEqual(d.cli("reload").returncode, 0)
        self.assertEqual(d.credential_state(K1)["state"], "ok")
        self.assertEqual(answer_cred(chat(d.port, "gpt-other")), K1)

    def test_the_breaker_opens_after_consecutive_failures(self):
        # (Its half-open test request and closing are unit tests, on a
        # clock of their own: here it would be a wait on the wall clock.)
        d = self.daemon(keys=(K1, K2), strategy="fill-first",
                        routing={"breaker_failures": "3", "breaker_cooldown": "1h"})
        for _ in range(2):
            self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+status=503" % K1)), K2)
        self.assertEqual(d.credential_state(K1)["state"], "ok")  # 2 < breaker_failures
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+status=503" % K1)), K2)
        st = d.credential_state(K1)
        self.assertEqual(st["state"], "breaker_open", st)
        self.assertEqual(st["why"]["scope"], "transport", st)
        self.assertEqual(st["why"]["status"], 503, st)
        self.mock.clear()
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K2)
        self.assertEqual(answer_cred(chat(d.port, "gpt-other")), K2)
        self.assertEqual(self.upstream_creds(), [K2, K2])

    def test_the_ledger_survives_a_restart(self):
        state = os.path.join(self.tmp, "kept.state")
        cfg = build_config(self.tmp, routing={"strategy": "fill-first", "cooldown": "1s"},
                           server={"state_dir": state},
                           providers=[("oa", openai_provider(self.mock, [K1, K2, K3], "gpt-*"))])
        d = self.start_daemon(cfg, name="first")
        # K1: a key-wide 429 (rests for every model); K2: one model's (that model only).
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+retry_after=600+quota=key" % K1)), K2)
        limited = "gpt-y+fail_cred=%s+retry_after=900" % K2
        self.assertEqual(answer_cred(chat(d.port, limited)), K3)
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        path = os.path.join(state, "ledger.json")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o640)
        with open(path) as f:
            saved = json.load(f)["credentials"]
        self.assertEqual(sorted(saved), sorted("oa/" + harness.fingerprint(k) for k in (K1, K2)))
        for entry in saved.values():  # the upstream quoted the key in its message: never kept
            self.assertIn("[redacted]", entry["why"]["why"])
            for k in (K1, K2, K3):
                self.assertNotIn(k, entry["why"]["why"])
        # A new daemon on the same state directory goes on where it stopped.
        d2 = self.start_daemon(cfg, name="second")
        st = d2.credential_state(K1)
        self.assertEqual(st["state"], "cooldown", st)
        self.assertGreater(st["cooldown_remaining_s"], 300, st)
        self.assertEqual(st["why"]["scope"], "credential", st)
        st2 = d2.credential_state(K2)
        self.assertEqual([m["model"] for m in st2["models_cooling"]], [limited], st2)
        self.assertGreater(st2["models_cooling"][0]["remaining_s"], 600, st2)
        self.mock.clear()
        self.assertEqual(answer_cred(chat(d2.port, limited)), K3)
        self.assertEqual(answer_cred(chat(d2.port, "gpt-other")), K2)
        self.assertEqual(self.upstream_creds(), [K3, K2])

    def test_single_credential_429_is_passed_on(self):
        d = self.daemon(keys=(K1,))
        r = chat(d.port, "gpt-x+status=429+retry_after=7")
        self.assertOpenAIError(r, 429)
        self.assertEqual(r.header("retry-after"), "7")
        self.assertEqual(self.upstream_creds(), [K1])


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Choosing a credential: weighted shares, priority tiers, and sticky
sessions (a conversation stays on the credential that served it, named by
what each client already sends, and moves when that credential rests)."""

import json

import harness
from harness import AgdTestCase, anthropic_provider, build_config, cred_of, openai_provider, post

K1, K2, K3 = "rt-cred-one-1111", "rt-cred-two-2222", "rt-cred-three-3333"
A1, A2, A3 = "rt-ant-one-aaaa", "rt-ant-two-bbbb", "rt-ant-three-cccc"


def chat(port, model, extra=None, headers=None):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    body.update(extra or {})
    r = post(port, "/v1/chat/completions", body, headers)
    assert r.status == 200, r
    return cred_of(r.json()["choices"][0]["message"]["content"])


def messages(port, model, user_id):
    r = post(port, "/v1/messages", {"model": model, "max_tokens": 8, "metadata": {"user_id": user_id},
                                     "messages": [{"role": "user", "content": "hi"}]})
    return r


def responses(port, model, headers=None, extra=None):
    body = {"model": model, "input": "hi"}
    body.update(extra or {})
    r = post(port, "/v1/responses", body, headers)
    assert r.status == 200, r
    out = r.json()["output"][0]["content"][0]["text"]
    return cred_of(out)


class RoutingTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def test_weighted_shares(self):
        cfg = build_config(self.tmp, routing={"strategy": "weighted"}, providers=[
            ("oa", openai_provider(self.mock, [K1 + " weight=3", K2], "gpt-*"))])
        d = self.start_daemon(cfg)
        seen = [chat(d.port, "gpt-w") for _ in range(40)]
        self.assertEqual(seen.count(K1), 30, seen)
        self.assertEqual(seen.count(K2), 10, seen)

    def test_a_lower_tier_serves_only_when_the_higher_one_is_out(self):
        spare = openai_provider(self.mock, [K3], "gpt-*")
        spare["priority"] = "1"
        cfg = build_config(self.tmp, routing={"cooldown": "10m"}, providers=[
            ("main", openai_provider(self.mock, [K1, K2], "gpt-*")), ("spare", spare)])
        d = self.start_daemon(cfg)
        self.assertEqual(sorted(set(chat(d.port, "gpt-t") for _ in range(6))), sorted([K1, K2]))
        for k in (K1, K2):
            self.assertEqual(d.cli("credentials", "disable", "main/" + harness.fingerprint(k)).returncode, 0)
        self.assertEqual([chat(d.port, "gpt-t") for _ in range(3)], [K3] * 3)
        self.assertEqual(d.cli("credentials", "enable", "main").returncode, 0)
        self.assertIn(chat(d.port, "gpt-t"), (K1, K2))

    def test_an_anthropic_conversation_sticks_for_20_turns_and_moves_when_its_key_rests(self):
        cfg = build_config(self.tmp, routing={"sticky": "session", "cooldown": "10m"}, providers=[
            ("an", anthropic_provider(self.mock, [A1, A2, A3], "claude-*"))])
        d = self.start_daemon(cfg)
        user = "user_abc_account_x_session_0f3e"

        def turn(model="claude-s"):
            r = messages(d.port, model, user)
            self.assertEqual(r.status, 200, r)
            return cred_of(r.json()["content"][0]["text"])

        first = turn()
        self.assertEqual([turn() for _ in range(19)], [first] * 19)
        # Another conversation is not tied to it: the rotation goes on.
        others = set()
        for i in range(6):
            r = messages(d.port, "claude-s", "user_abc_account_x_session_%d" % i)
            others.add(cred_of(r.json()["content"][0]["text"]))
        self.assertGreater(len(others), 1)
        # Its key rests (a key-wide 429, met by other requests: the rotation
        # reaches it within three): the conversation moves, and stays there.
        for i in range(3):
            messages(d.port, "claude-z+fail_cred=%s+status=429+quota=key" % first, "other-%d" % i)
        self.assertEqual(d.credential_state(first)["state"], "cooldown")
        after = [turn() for _ in range(5)]
        self.assertNotEqual(after[0], first)
        self.assertEqual(after, [after[0]] * 5)

    def test_openai_and_codex_name_their_sessions_too(self):
        cfg = build_config(self.tmp, routing={"sticky": "session"}, providers=[
            ("oa", openai_provider(self.mock, [K1, K2, K3], "gpt-*", api="responses"))])
        d = self.start_daemon(cfg)
        for how in ({"headers": {"session-id": "codex-1"}}, {"headers": {"x-session-id": "any-1"}},
                    {"extra": {"prompt_cache_key": "pck-1"}}, {"extra": {"user": "u-1"}}):
            with self.subTest(how=how):
                got = [responses(d.port, "gpt-s", **how) for _ in range(6)]
                self.assertEqual(len(set(got)), 1, got)
        # No session named: round-robin as before.
        got = [responses(d.port, "gpt-s") for _ in range(6)]
        self.assertEqual(len(set(got)), 3, got)

    def test_route_explains_without_sending_anything(self):
        spare = anthropic_provider(self.mock, [A1], "gpt-*")
        spare["priority"] = "3"
        cfg = build_config(self.tmp, providers=[("main", openai_provider(self.mock, [K1, K2], "gpt-*")),
                                                ("spare", spare)])
        d = self.start_daemon(cfg)
        self.assertEqual(d.cli("credentials", "disable", "main/" + harness.fingerprint(K1)).returncode, 0)
        r = d.cli("route", "--model", "gpt-r", "--protocol", "anthropic", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        ex = json.loads(r.stdout)
        self.assertEqual([c["provider"] for c in ex["candidates"]], ["main", "main", "spare"])
        self.assertEqual([c["translated"] for c in ex["candidates"]], [True, True, False])
        self.assertEqual(ex["candidates"][0]["gate"], "out")
        self.assertEqual(ex["candidates"][0]["reason"], "disabled by an administrator")
        self.assertEqual(ex["pick"]["id"], "main/" + harness.fingerprint(K2))
        text = d.cli("route", "--model", "gpt-r")
        self.assertIn("pick: main/%s with model gpt-r" % harness.fingerprint(K2), text.stdout)
        self.assertEqual(self.mock.requests(), [])  # nothing was sent
        r = d.cli("route", "--model", "llama")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("no provider serves model 'llama'", r.stderr)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Payload rules ([rule.NAME]): edits of the upstream body and extra
upstream headers, matched by the upstream model, wire and client, on
passthrough and translated requests alike; a request no rule matches goes
upstream byte for byte; `route` names the rules a candidate would get."""

import json

import harness
from harness import AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, post

TEAM_KEY = "gw-team-aaaaaaaaaaaa"
OTHER_KEY = "gw-other-bbbbbbbbbbbb"

RULES = """
[rule.claude-long]
models = claude-opus-*
wire = anthropic
default = max_tokens=32000
set = temperature=1
remove = top_p
header = anthropic-beta: context-1m-2025-08-07

[rule.gemini-cap]
wire = gemini
default = generationConfig.maxOutputTokens=777

[rule.team-tag]
client = team
models = gpt-*
set = metadata={"team": "blue"}
"""


class RuleTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        cfg = build_config(self.tmp, auth={"mode": "strict"},
                           clients=[("team", {"key": TEAM_KEY}), ("other", {"key": OTHER_KEY})],
                           providers=[("an", anthropic_provider(self.mock, ["ka"], "claude-*")),
                                      ("gm", gemini_provider(self.mock, ["kg"], "gemini-*")),
                                      ("oa", openai_provider(self.mock, ["ko"], "gpt-*"))])
        self.d = self.start_daemon(cfg + RULES)

    def last(self):
        reqs = self.mock.requests()
        self.assertTrue(reqs, "nothing reached the upstream")
        return reqs[-1]

    def send(self, path, body, key=TEAM_KEY, headers=None):
        h = {"authorization": "Bearer " + key}
        h.update(headers or {})
        r = post(self.d.port, path, body, headers=h)
        self.assertEqual(r.status, 200, r)
        return self.last()

    def test_anthropic_passthrough_gets_its_edits_and_header(self):
        body = {"model": "claude-opus-4+x", "max_tokens": 50, "temperature": 0.2, "top_p": 0.9,
                "messages": [{"role": "user", "content": "hi"}]}
        up = self.send("/v1/messages", body, headers={"anthropic-version": "2023-06-01",
                                                      "anthropic-beta": "interleaved-thinking-2025-05-14"})
        sent = json.loads(up["body"])
        self.assertEqual(sent["max_tokens"], 50, "default sets only what is absent")
        self.assertEqual(sent["temperature"], 1)
        self.assertNotIn("top_p", sent)
        self.assertEqual(sent["messages"], body["messages"])
        self.assertEqual(up["headers"]["anthropic-beta"],
                         "interleaved-thinking-2025-05-14, context-1m-2025-08-07")

    def test_a_translated_request_gets_the_rules_of_its_upstream_wire(self):
        body = {"model": "claude-opus-4", "messages": [{"role": "user", "content": "hi"}], "top_p": 0.5}
        sent = json.loads(self.send("/v1/chat/completions", body)["body"])
        self.assertEqual(sent["temperature"], 1)
        self.assertNotIn("top_p", sent)
        self.assertEqual(sent["max_tokens"], 8192, "the translation's own max_tokens: default leaves it")
        # Toward Gemini: a nested default, made where absent, kept where given.
        g = json.loads(self.send("/v1/chat/completions",
                                 {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]})["body"])
        self.assertEqual(g["generationConfig"]["maxOutputTokens"], 777)
        g = json.loads(self.send("/v1/chat/completions",
                                 {"model": "gemini-2.5-pro", "max_tokens": 40,
                                  "messages": [{"role": "user", "content": "hi"}]})["body"])
        self.assertEqual(g["generationConfig"]["maxOutputTokens"], 40)

    def test_rules_of_another_model_wire_or_client_change_nothing(self):
        raw = b'{"model": "gpt-4o",  "messages": [{"role": "user", "content": "hi"}] }'
        r = harness.request(self.d.port, "POST", "/v1/chat/completions", raw,
                            headers={"authorization": "Bearer " + OTHER_KEY, "content-type": "application/json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.last()["body"], raw.decode(), "no rule matched: the body goes byte for byte")
        # The same request from the team client gets the team's rule.
        sent = json.loads(self.send("/v1/chat/completions", json.loads(raw))["body"])
        self.assertEqual(sent["metadata"], {"team": "blue"})
        # claude-sonnet is not claude-opus-*: only the wire matches.
        sent = json.loads(self.send("/v1/messages", {"model": "claude-sonnet-4", "max_tokens": 5, "top_p": 0.3,
                                                     "messages": [{"role": "user", "content": "hi"}]},
                                    headers={"anthropic-version": "2023-06-01"})["body"])
        self.assertEqual(sent["top_p"], 0.3)
        self.assertNotIn("temperature", sent)

    def test_count_tokens_is_left_alone(self):
        body = {"model": "claude-opus-4", "top_p": 0.1, "messages": [{"role": "user", "content": "hi"}]}
        sent = json.loads(self.send("/v1/messages/count_tokens", body,
                                    headers={"anthropic-version": "2023-06-01"})["body"])
        self.assertEqual(sent["top_p"], 0.1)
        self.assertNotIn("max_tokens", sent)

    def test_route_names_the_rules_each_candidate_would_get(self):
        r = self.d.cli("route", "--model", "claude-opus-4", "--protocol", "openai-chat", "--client", "team", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        ex = json.loads(r.stdout)
        self.assertEqual([c["rules"] for c in ex["candidates"]], [["claude-long"]])
        r = self.d.cli("route", "--model", "gpt-4o", "--client", "team", "--json")
        self.assertEqual([c["rules"] for c in json.loads(r.stdout)["candidates"]], [["team-tag"]])
        r = self.d.cli("route", "--model", "gpt-4o", "--client", "other", "--json")
        self.assertEqual([c["rules"] for c in json.loads(r.stdout)["candidates"]], [[]])
        text = self.d.cli("route", "--model", "claude-opus-4").stdout
        self.assertIn("; rules claude-long", text)


if __name__ == "__main__":
    harness.main()

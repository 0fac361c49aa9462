#!/usr/bin/env python3
"""Model fallback: [model.NAME] fallback = other-model, third-model. When
every credential of a model failed before the first byte, the request is
tried on the next model of the list (translated if that model's provider
speaks another API), in every client protocol, streamed or not; the answer
names the model that served (its model field and x-antigravityd-model)."""

import harness
from harness import AgdTestCase, anthropic_provider, build_config, cred_of, gemini_provider, openai_provider, post
from harness import parse_sse
from test_translation import CLIENTS, client_request, shown_model, stream_text, whole_text

K1 = "fb-oa-one-1111"
A1 = "fb-an-one-aaaa"
G1 = "fb-ge-one-gggg"


class FallbackTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, models, clients=None, auth=None):
        # breaker_failures: the 503s of one test must not open the breaker.
        cfg = build_config(self.tmp, routing={"cooldown": "10m", "breaker_failures": "1000"}, clients=clients,
                           auth=auth, providers=[
            ("oa", openai_provider(self.mock, [K1], "gpt-*")),
            ("an", anthropic_provider(self.mock, [A1], "claude-*")),
            ("ge", gemini_provider(self.mock, [G1], "gemini-*"))])
        for name, fallback in models:
            cfg += "\n[model.%s]\nfallback = %s\n" % (name, fallback)
        return self.start_daemon(cfg)

    def test_every_client_protocol_reaches_the_second_model(self):
        # gpt-down* fails on its only key (503: the breaker counts, nothing
        # else serves it); claude-back serves, through a translation for
        # all but the Anthropic client.
        d = self.daemon([("gpt-down*", "claude-back")])
        for client in CLIENTS:
            for stream in (False, True):
                with self.subTest(client=client, stream=stream):
                    model = "gpt-down-%s-%d+status=503" % (client, stream)
                    path, body, headers = client_request(client, model, stream=stream)
                    self.mock.clear()
                    r = post(d.port, path, body, headers)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.header("x-antigravityd-model"), "claude-back", r)
                    if stream:
                        events, _ = parse_sse(r.body)
                        text, clean, error = stream_text(client, events)
                        self.assertTrue(clean, events)
                        self.assertIsNone(error)
                    else:
                        obj = r.json()
                        text = whole_text(client, obj)
                        self.assertIn("claude-back", shown_model(client, obj) or "", obj)
                    self.assertEqual(cred_of(text), A1, text)
                    self.assertIn("model=claude-back;", text)
                    seen = [(q["credential"], q["path"]) for q in self.mock.requests()]
                    self.assertEqual([c for c, _ in seen], [K1, A1], seen)
                    self.assertTrue(seen[1][1].endswith("/v1/messages"), seen)

    def test_the_list_is_walked_in_order_and_the_last_failure_is_told(self):
        # The first fallback is down too; the second serves.
        d = self.daemon([("gpt-a*", "gemini-b+status=500, claude-c")])
        r = post(d.port, "/v1/chat/completions", {"model": "gpt-a+status=503", "messages": [
            {"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-antigravityd-model"), "claude-c")
        self.assertEqual([q["credential"] for q in self.mock.requests()], [K1, G1, A1])
        # All down: the last model's failure, no fallback header lie.
        d2 = self.start_daemon(build_config(self.tmp, server={"pid_file": self.tmp + "/b.pid",
                                                              "control_socket": self.tmp + "/b.sock",
                                                              "state_dir": self.tmp + "/b.state"},
                                            providers=[("oa", openai_provider(self.mock, [K1], "gpt-*")),
                                                       ("an", anthropic_provider(self.mock, [A1], "claude-*"))])
                               + "\n[model.gpt-x*]\nfallback = claude-y+status=502\n", name="b")
        r = post(d2.port, "/v1/chat/completions", {"model": "gpt-x+status=503", "messages": [
            {"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.header("x-antigravityd-model"), "claude-y+status=502")

    def test_a_clients_own_error_is_not_a_reason_to_fall_back(self):
        d = self.daemon([("gpt-bad*", "claude-back")])
        r = post(d.port, "/v1/chat/completions", {"model": "gpt-bad+status=400", "messages": [
            {"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 400, r)
        self.assertIsNone(r.header("x-antigravityd-model"))
        self.assertEqual([q["credential"] for q in self.mock.requests()], [K1])

    def test_a_resting_model_falls_back_at_once(self):
        d = self.daemon([("gpt-rest*", "claude-back")])
        first = post(d.port, "/v1/chat/completions", {"model": "gpt-rest+status=429+retry_after=600",
                                                      "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(first.status, 200, first)
        self.mock.clear()
        # The key rests for that model: the fallback serves without asking it.
        again = post(d.port, "/v1/chat/completions", {"model": "gpt-rest+status=429+retry_after=600",
                                                      "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(again.status, 200, again)
        self.assertEqual([q["credential"] for q in self.mock.requests()], [A1])

    def test_a_client_only_falls_back_to_models_it_may_use(self):
        d = self.daemon([("gpt-lim*", "claude-no, gemini-yes")], clients=[
            ("team", {"key": "fb-team-key-0001", "models": "gpt-*, gemini-*"})],
            auth={"mode": "strict"})
        r = post(d.port, "/v1/chat/completions", {"model": "gpt-lim+status=503", "messages": [
            {"role": "user", "content": "hi"}]}, {"Authorization": "Bearer fb-team-key-0001"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-antigravityd-model"), "gemini-yes")
        self.assertEqual([q["credential"] for q in self.mock.requests()], [K1, G1])


if __name__ == "__main__":
    harness.main()

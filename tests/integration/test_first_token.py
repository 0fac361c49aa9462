#!/usr/bin/env python3
"""The first-token deadline ([routing] / [model.NAME] first_token_timeout):
a stream whose first content does not come in time is dropped before the
client got a byte and tried on another credential; the opening events held
back meanwhile reach the client in order, once content comes."""

import harness
from harness import AgdTestCase, anthropic_provider, build_config, cred_of, openai_provider, parse_sse, post
from test_translation import client_request, stream_text

K1, K2 = "ft-slow-1111", "ft-fast-2222"
A1, A2 = "ft-ant-slow-aaaa", "ft-ant-fast-bbbb"
SLOW = "+first_hold=60s+slow_cred=%s"


class FirstTokenTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, routing=None, models=""):
        # fill-first: the first key is tried first; SLOW makes its streams
        # open, then wait 60 s before their first piece.
        r = {"strategy": "fill-first", "breaker_failures": "1000"}
        r.update(routing or {})
        cfg = build_config(self.tmp, routing=r, providers=[
            ("oa", openai_provider(self.mock, [K1, K2], "gpt-*")),
            ("an", anthropic_provider(self.mock, [A1, A2], "claude-*"))])
        return self.start_daemon(cfg + models)

    def stream(self, d, client, model):
        path, body, headers = client_request(client, model, stream=True)
        r = post(d.port, path, body, headers, timeout=harness.t(30))
        self.assertEqual(r.status, 200, r)
        events, _ = parse_sse(r.body)
        text, clean, error = stream_text(client, events)
        return r, events, text, clean, error

    def test_a_silent_stream_fails_over_before_the_client_sees_a_byte(self):
        d = self.daemon(routing={"first_token_timeout": "300ms"})
        for client, model, slow, fast in (("chat", "gpt-ft" + SLOW % K1, K1, K2),
                                          ("anthropic", "claude-ft" + SLOW % A1, A1, A2),
                                          ("responses", "gpt-ft" + SLOW % K1, K1, K2)):
            with self.subTest(client=client):
                self.mock.clear()
                r, events, text, clean, error = self.stream(d, client, model)
                self.assertTrue(clean, events)
                self.assertIsNone(error)
                self.assertEqual(cred_of(text), fast, text)
                # One answer only: the slow upstream's opening events never
                # reached the client (one message_start / response.created).
                names = [e.name or "" for e in events]
                if client == "anthropic":
                    self.assertEqual(names.count("message_start"), 1, names)
                if client == "responses":
                    self.assertEqual(names.count("response.created"), 1, names)
                self.assertEqual([q["credential"] for q in self.mock.requests()], [slow, fast])
                st = d.credential_state(slow)
                self.assertEqual(st["why"]["scope"], "transport", st)
                self.assertIn("first token", st["why"]["why"], st)

    def test_a_stream_whose_content_comes_in_time_is_whole_and_in_order(self):
        # The deadline is long: the held opening events go out with the content.
        d = self.daemon(routing={"first_token_timeout": "30s"})
        for client, model, cred in (("anthropic", "claude-x+chunks=4", A1), ("chat", "gpt-x+chunks=4", K1),
                                    ("responses", "gpt-x+chunks=4", K1)):
            with self.subTest(client=client):
                r, events, text, clean, error = self.stream(d, client, model)
                self.assertTrue(clean, events)
                self.assertEqual(text, harness.expected_text(cred, model, 4))
                if client == "anthropic":
                    self.assertEqual(events[0].name, "message_start", events[:3])
                if client == "responses":
                    self.assertEqual(events[0].name, "response.created", events[:3])

    def test_a_models_own_deadline_wins_and_off_is_off(self):
        # Off globally, on for claude-ft: only Anthropic streams fail over.
        d = self.daemon(models="\n[model.claude-ft*]\nfirst_token_timeout = 300ms\n")
        r, events, text, clean, error = self.stream(d, "anthropic", "claude-ft" + SLOW % A1)
        self.assertEqual(cred_of(text), A2, text)
        # [routing] has it on, the model turns it off (0s): the slow stream is waited for.
        d2 = self.start_daemon(build_config(self.tmp, routing={"first_token_timeout": "300ms"},
                                            server={"pid_file": self.tmp + "/b.pid",
                                                    "control_socket": self.tmp + "/b.sock",
                                                    "state_dir": self.tmp + "/b.state"},
                                            providers=[("oa", openai_provider(self.mock, [K1], "gpt-*"))])
                               + "\n[model.gpt-wait*]\nfirst_token_timeout = 0s\n", name="b")
        self.mock.clear()
        r, events, text, clean, error = self.stream(d2, "chat", "gpt-wait+first_hold=1s")
        self.assertTrue(clean, events)
        self.assertEqual(cred_of(text), K1)
        self.assertEqual(len(self.mock.requests()), 1)


if __name__ == "__main__":
    harness.main()

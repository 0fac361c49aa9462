#!/usr/bin/env python3
"""POST /v1/responses/compact (Codex's remote compaction): passed through
to an OpenAI Responses provider; toward another wire, the model is asked
for a summary and the compacted history is the user's own messages and
that summary, as Responses input items Codex takes back."""

import json

import harness
from harness import AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, post

HISTORY = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the failing test"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
    {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"cmd\":\"make test\"}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "1 failed"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and keep it fast"}]},
]
TOOLS = [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]


class CompactTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        cfg = build_config(self.tmp, providers=[
            ("resp", openai_provider(self.mock, ["kr"], "gpt-r*", api="responses")),
            ("chat", openai_provider(self.mock, ["kc"], "gpt-c*")),
            ("anth", anthropic_provider(self.mock, ["ka"], "claude-*")),
            ("gem", gemini_provider(self.mock, ["kg"], "gemini-*"))])
        self.d = self.start_daemon(cfg)

    def compact(self, model):
        body = {"model": model, "input": HISTORY, "instructions": "You are Codex.", "tools": TOOLS,
                "parallel_tool_calls": False}
        r = post(self.d.port, "/v1/responses/compact", body)
        self.assertEqual(r.status, 200, r)
        return r.json(), self.mock.requests()[-1]

    def test_a_responses_provider_compacts_itself(self):
        out, up = self.compact("gpt-r1")
        self.assertEqual(up["path"], "/v1/responses/compact")
        self.assertEqual(json.loads(up["body"])["input"], HISTORY)
        self.assertEqual(out["output"][0]["type"], "compaction")
        self.assertEqual(out["output"][0]["encrypted_content"], "mock-compaction:5")

    def test_other_wires_summarise_and_keep_the_users_messages(self):
        for model, path in (("gpt-c1", "/v1/chat/completions"), ("claude-x", "/v1/messages"),
                            ("gemini-x", "/v1beta/models/gemini-x:generateContent")):
            with self.subTest(model=model):
                out, up = self.compact(model)
                self.assertEqual(up["path"], path)
                sent = json.loads(up["body"])
                self.assertNotIn("stream", {k for k, v in sent.items() if v is True})
                self.assertIn("Write a summary of this conversation", up["body"])
                items = out["output"]
                self.assertEqual([i["type"] for i in items], ["message"] * 3, items)
                self.assertEqual([i["role"] for i in items], ["user"] * 3)
                texts = [i["content"][0]["text"] for i in items]
                self.assertEqual(texts[:2], ["fix the failing test", "and keep it fast"])
                self.assertTrue(texts[2].startswith("Summary of the earlier part of this conversation"), texts[2])
                self.assertGreater(len(texts[2]), 100)
                # The summary is no tool call: tools are offered with a choice of none.
                if path == "/v1/messages":
                    self.assertEqual(sent["tool_choice"]["type"], "none")
                elif path == "/v1/chat/completions":
                    self.assertEqual(sent["tool_choice"], "none")

    def test_compaction_v2_gives_one_compaction_item_that_later_turns_read(self):
        """Codex's compaction v2: a compaction_trigger item last in a
        /v1/responses input asks for exactly one compaction item back; its
        content, replayed later, reaches the model as the summary."""
        for model in ("gpt-c1", "claude-x", "gemini-x"):
            for stream in (False, True):
                with self.subTest(model=model, stream=stream):
                    body = {"model": model, "input": HISTORY + [{"type": "compaction_trigger"}], "tools": TOOLS,
                            "stream": stream, "store": False}
                    if stream:
                        r = harness.stream(self.d.port, "/v1/responses", body)
                        self.assertEqual(r.status, 200, r)
                        events = [json.loads(ev.data) for ev in r.events]
                        items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
                        self.assertEqual(events[-1]["type"], "response.completed")
                        self.assertNotIn("response.output_text.delta", [e["type"] for e in events])
                    else:
                        r = post(self.d.port, "/v1/responses", body)
                        self.assertEqual(r.status, 200, r)
                        items = r.json()["output"]
                    self.assertIn("Write a summary of this conversation", self.mock.requests()[-1]["body"])
                    compactions = [i for i in items if i["type"] == "compaction"]
                    self.assertEqual(len(compactions), 1, items)
                    item = compactions[0]
                    self.assertTrue(item["encrypted_content"].startswith("agd-summary-v1:"), item)
                    # The next turn replays it: the model reads the summary.
                    later = {"model": model, "input": [item, {"type": "message", "role": "user",
                                                              "content": [{"type": "input_text", "text": "go on"}]}]}
                    r = post(self.d.port, "/v1/responses", later)
                    self.assertEqual(r.status, 200, r)
                    sent = self.mock.requests()[-1]["body"]
                    self.assertIn("Summary of the earlier part of this conversation", sent)
                    self.assertNotIn("agd-summary-v1:", sent)
        # A Responses upstream does its own compaction: the trigger goes as it came.
        body = {"model": "gpt-r1", "input": HISTORY + [{"type": "compaction_trigger"}], "store": False}
        post(self.d.port, "/v1/responses", body)
        self.assertEqual(json.loads(self.mock.requests()[-1]["body"])["input"][-1], {"type": "compaction_trigger"})

    def test_a_bad_body_is_a_400_in_openai_form(self):
        r = post(self.d.port, "/v1/responses/compact", {"model": "claude-x"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("input", r.json()["error"]["message"])


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""The mock upstream on its own (no daemon): tool calls, tool-result echoes,
thinking and cached usage in the four wire formats, streamed and not
(including Gemini's JSON array), and the request checks that make it
reject what the real APIs reject. The gateway's translation tests rely on
these shapes, so they are pinned here."""

import json
import os
import socket
import sys
import unittest

import harness
from harness import AgdTestCase, parse_sse, post

CHAT = "/v1/chat/completions"
RESP = "/v1/responses"
MSGS = "/v1/messages"

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
        "verbose": {"type": "boolean"},
        "optional": {"type": "number"},
    },
    "required": ["city", "unit", "days", "verbose"],
}
WEATHER_ARGS = {"city": "Paris", "unit": "celsius", "days": 1, "verbose": True}
# No "required": every property is filled in.
CLOCK_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}, "opts": {"type": "object"},
                                                 "list": {"type": "array"}, "ratio": {"type": "number"}}}
CLOCK_ARGS = {"tz": "Paris", "opts": {}, "list": [], "ratio": 1}


def chat_tools():
    return [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}},
            {"type": "function", "function": {"name": "get_time", "parameters": CLOCK_SCHEMA}}]


def responses_tools():
    return [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA},
            {"type": "function", "name": "get_time", "parameters": CLOCK_SCHEMA}]


def anthropic_tools():
    return [{"name": "get_weather", "input_schema": WEATHER_SCHEMA},
            {"name": "get_time", "input_schema": CLOCK_SCHEMA}]


def gemini_tools():
    upper = json.loads(json.dumps(WEATHER_SCHEMA).replace('"string"', '"STRING"')
                       .replace('"integer"', '"INTEGER"').replace('"boolean"', '"BOOLEAN"')
                       .replace('"number"', '"NUMBER"').replace('"object"', '"OBJECT"'))
    return [{"functionDeclarations": [{"name": "get_weather", "parameters": upper},
                                      {"name": "get_time", "parameters": CLOCK_SCHEMA}]}]


def gemini_path(model, op="generateContent", sse=True):
    path = "/v1beta/models/%s:%s" % (model, op)
    return path + "?alt=sse" if op == "streamGenerateContent" and sse else path


def encode(body):
    return json.dumps(body).encode()


def prompt_tokens(raw):
    return max(1, len(raw) // 4)


class MockFormatTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.port = self.mock.port

    # -- transport helpers ---------------------------------------------------------

    def call(self, path, body, headers=None, status=200):
        raw = body if isinstance(body, bytes) else encode(body)
        r = post(self.port, path, raw, headers)
        self.assertEqual(r.status, status, r)
        r.raw_request = raw
        return r

    def events(self, path, body, headers=None):
        r = self.call(path, body, headers)
        self.assertTrue(r.header("content-type", "").startswith("text/event-stream"), r.headers)
        events, leftover = parse_sse(r.body)
        self.assertEqual(leftover.strip(), "", "unterminated SSE tail")
        return events, r

    def gemini_chunks(self, model, body, sse=True):
        r = self.call(gemini_path(model, "streamGenerateContent", sse), body)
        if sse:
            self.assertIn(b"\r\n\r\n", r.body)
            events, _ = parse_sse(r.body)
            return [e.json() for e in events], r
        self.assertTrue(r.body.startswith(b"[{") and r.body.endswith(b"\n]"), r.body[:80])
        return json.loads(r.body), r

    # -- Chat Completions ----------------------------------------------------------

    def chat_body(self, model, **extra):
        b = {"model": model, "messages": [{"role": "user", "content": "weather?"}], "tools": chat_tools()}
        b.update(extra)
        return b

    def test_chat_tool_call_not_streamed(self):
        r = self.call(CHAT, self.chat_body("m"))
        obj = r.json()
        n = obj["id"].split("chatcmpl-mock")[1]
        choice = obj["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        self.assertIsNone(choice["message"]["content"])
        calls = choice["message"]["tool_calls"]
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["id"], "call_mock%s_0" % n)
        self.assertEqual(calls[0]["type"], "function")
        self.assertEqual(calls[0]["function"]["name"], "get_weather")
        self.assertIsInstance(calls[0]["function"]["arguments"], str)
        self.assertEqual(json.loads(calls[0]["function"]["arguments"]), WEATHER_ARGS)

    def test_calls_zero_answers_with_text_though_tools_are_offered(self):
        obj = self.call(CHAT, self.chat_body("m+calls=0")).json()
        choice = obj["choices"][0]
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertNotIn("tool_calls", choice["message"])
        self.assertIn("model=m+calls=0;#0;", choice["message"]["content"])
        obj = self.call(MSGS, self.msgs_body("c+calls=0")).json()
        self.assertEqual(obj["stop_reason"], "end_turn")
        self.assertEqual([b["type"] for b in obj["content"]], ["text"])

    def test_chat_parallel_calls_streamed(self):
        body = self.chat_body("m+calls=3+think", stream=True, stream_options={"include_usage": True})
        events, r = self.events(CHAT, body)
        self.assertEqual(events[-1].data, "[DONE]")
        chunks = [e.json() for e in events[:-1]]
        n = chunks[0]["id"].split("chatcmpl-mock")[1]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "")
                            for c in chunks if c["choices"])
        self.assertEqual(reasoning, "mock thinking")
        calls, fragments = {}, {}
        for c in chunks:
            if not c["choices"]:
                continue
            for tc in c["choices"][0]["delta"].get("tool_calls") or []:
                i = tc["index"]
                if "id" in tc:
                    self.assertNotIn(i, calls, "a call started twice")
                    self.assertEqual(tc["type"], "function")
                    self.assertEqual(tc["function"]["arguments"], "")
                    calls[i] = {"id": tc["id"], "name": tc["function"]["name"], "args": ""}
                    fragments[i] = 0
                else:
                    self.assertEqual(set(tc), {"index", "function"})
                    calls[i]["args"] += tc["function"]["arguments"]
                    fragments[i] += 1
        self.assertEqual(sorted(calls), [0, 1, 2])
        self.assertEqual([calls[i]["name"] for i in range(3)], ["get_weather", "get_time", "get_weather"])
        self.assertEqual([calls[i]["id"] for i in range(3)], ["call_mock%s_%d" % (n, i) for i in range(3)])
        self.assertEqual(json.loads(calls[1]["args"]), CLOCK_ARGS)
        self.assertEqual(json.loads(calls[2]["args"]), WEATHER_ARGS)
        self.assertTrue(all(f >= 2 for f in fragments.values()), fragments)
        finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        self.assertEqual([c["choices"][0]["finish_reason"] for c in finish], ["tool_calls"])
        usage = chunks[-1]["usage"]
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(usage["completion_tokens_details"]["reasoning_tokens"], 5)
        self.assertEqual(usage["completion_tokens"], sum(fragments.values()) + 5)

    def test_chat_tool_choice(self):
        forced = self.call(CHAT, self.chat_body(
            "m+calls=2", tool_choice={"type": "function", "function": {"name": "get_time"}})).json()
        names = [c["function"]["name"] for c in forced["choices"][0]["message"]["tool_calls"]]
        self.assertEqual(names, ["get_time", "get_time"])
        none = self.call(CHAT, self.chat_body("m", tool_choice="none")).json()
        self.assertEqual(none["choices"][0]["finish_reason"], "stop")
        self.assertTrue(none["choices"][0]["message"]["content"].startswith("cred="))
        allowed = self.call(CHAT, self.chat_body("m", tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "get_time"}}]}}))
        self.assertEqual(allowed.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_time")

    def chat_round_trip(self, model, **extra):
        return self.chat_body(model, messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp_c\":21}"},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "noon"}]}], **extra)

    def test_chat_tool_result_echo(self):
        obj = self.call(CHAT, self.chat_round_trip("m")).json()
        self.assertEqual(obj["choices"][0]["finish_reason"], "stop")
        self.assertEqual(obj["choices"][0]["message"]["content"], "tool result: {\"temp_c\":21}\nnoon")
        events, _ = self.events(CHAT, self.chat_round_trip("m+chunks=4", stream=True))
        text = harness.text_of_chat_events(events)
        self.assertEqual(text, "tool result: {\"temp_c\":21}\nnoon")

    def test_chat_thinking_and_cached_usage(self):
        r = self.call(CHAT, {"model": "m+think+cached=40", "messages": [{"role": "user", "content": "hi"}]})
        obj = r.json()
        msg = obj["choices"][0]["message"]
        self.assertEqual(msg["reasoning_content"], "mock thinking")
        self.assertTrue(msg["content"].startswith("cred="))
        u = obj["usage"]
        self.assertEqual(u["prompt_tokens"], prompt_tokens(r.raw_request) + 40)
        self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 40)
        self.assertEqual(u["completion_tokens"], 3 + 5)
        self.assertEqual(u["completion_tokens_details"]["reasoning_tokens"], 5)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

    def test_chat_rejections(self):
        assistant = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
        cases = [
            ([{"role": "user", "content": "q"}, assistant, {"role": "tool", "tool_call_id": "call_2", "content": "x"}],
             {}, "tool_call_id"),
            ([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
             {}, "role 'tool'"),
            ([{"role": "user", "content": "q"}, assistant, {"role": "user", "content": "next"}],
             {}, "call_1"),
            ([{"role": "user", "content": "q"},
              {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                                    "function": {"name": "f", "arguments": {"a": 1}}}]},
              {"role": "tool", "tool_call_id": "call_1", "content": "x"}], {}, "arguments"),
            ([{"role": "user", "content": "q"}],
             {"tools": [{"type": "function", "function": {"name": "bad.name", "parameters": {}}}]}, "pattern"),
            ([{"role": "user", "content": "q"}],
             {"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "pattern"),
            ([{"role": "user", "content": "q"}], {"stream_options": {"include_usage": True}}, "stream_options"),
            ([{"role": "user", "content": "q"}], {"stream": False, "stream_options": {"include_usage": True}},
             "stream_options"),
        ]
        for messages, extra, word in cases:
            body = {"model": "m", "messages": messages}
            body.update(extra)
            with self.subTest(word=word, body=body):
                err = self.assertOpenAIError(post(self.port, CHAT, body), 400, etype="invalid_request_error")
                self.assertIn(word, err["message"])
        ok = self.call(CHAT, {"model": "m", "stream": True, "stream_options": {"include_usage": True},
                              "messages": [{"role": "user", "content": "q"}]})
        self.assertEqual(ok.status, 200)

    # -- Responses ---------------------------------------------------------------------

    def test_responses_tool_call_and_reasoning_not_streamed(self):
        r = self.call(RESP, {"model": "m+think+cached=12", "input": "weather?", "tools": responses_tools()})
        obj = r.json()
        n = obj["id"].split("resp_mock")[1]
        self.assertEqual(obj["status"], "completed")
        kinds = [o["type"] for o in obj["output"]]
        self.assertEqual(kinds, ["reasoning", "function_call"])
        rs, fc = obj["output"]
        self.assertEqual(rs["summary"], [{"type": "summary_text", "text": "mock thinking"}])
        self.assertEqual(rs["encrypted_content"], "enc_mock%s" % n)
        self.assertEqual(fc["id"], "fc_mock%s_0" % n)
        self.assertEqual(fc["call_id"], "call_mock%s_0" % n)
        self.assertEqual(fc["name"], "get_weather")
        self.assertEqual(json.loads(fc["arguments"]), WEATHER_ARGS)
        u = obj["usage"]
        self.assertEqual(u["input_tokens"], prompt_tokens(r.raw_request) + 12)
        self.assertEqual(u["input_tokens_details"]["cached_tokens"], 12)
        self.assertEqual(u["output_tokens_details"]["reasoning_tokens"], 5)
        self.assertEqual(u["total_tokens"], u["input_tokens"] + u["output_tokens"])

    def test_responses_streamed_calls(self):
        events, _ = self.events(RESP, {"model": "m+think+calls=2", "stream": True, "input": "weather?",
                                       "tools": responses_tools()})
        for i, e in enumerate(events):
            self.assertEqual(e.json()["type"], e.name)
            self.assertEqual(e.json()["sequence_number"], i)
        names = [e.name for e in events]
        self.assertEqual(names[:9], [
            "response.created", "response.in_progress", "response.output_item.added",
            "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done", "response.output_item.done"])
        self.assertEqual(names[-1], "response.completed")
        self.assertNotIn("response.output_text.delta", names)
        # Each call: added, >= 2 argument deltas, arguments.done, item done.
        rest = [e.json() for e in events[9:-1]]
        by_item = {}
        for ev in rest:
            if ev["type"] == "response.output_item.added":
                item = ev["item"]
                self.assertEqual((item["type"], item["arguments"], item["status"]), ("function_call", "", "in_progress"))
                by_item[item["id"]] = {"index": ev["output_index"], "deltas": [], "item": item}
            elif ev["type"] == "response.function_call_arguments.delta":
                by_item[ev["item_id"]]["deltas"].append(ev["delta"])
            elif ev["type"] == "response.function_call_arguments.done":
                self.assertEqual(ev["arguments"], "".join(by_item[ev["item_id"]]["deltas"]))
            elif ev["type"] == "response.output_item.done":
                by_item[ev["item"]["id"]]["done"] = ev["item"]
        self.assertEqual([v["index"] for v in by_item.values()], [1, 2])
        for v in by_item.values():
            self.assertGreaterEqual(len(v["deltas"]), 2)
            self.assertEqual(v["done"]["arguments"], "".join(v["deltas"]))
        final = events[-1].json()["response"]
        self.assertEqual([o["type"] for o in final["output"]], ["reasoning", "function_call", "function_call"])
        self.assertEqual(json.loads(final["output"][2]["arguments"]), CLOCK_ARGS)

    def test_responses_tool_result_echo(self):
        body = {"model": "m", "tools": responses_tools(), "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}
        obj = self.call(RESP, body).json()
        self.assertEqual([o["type"] for o in obj["output"]], ["message"])
        self.assertEqual(obj["output"][0]["content"][0]["text"], "tool result: sunny")
        body["stream"] = True
        events, _ = self.events(RESP, body)
        text = "".join(e.json()["delta"] for e in events if e.name == "response.output_text.delta")
        self.assertEqual(text, "tool result: sunny")

    def test_responses_rejections(self):
        call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
        cases = [
            ({"input": [dict(call, id="call_1")]}, "begins with 'fc'"),
            ({"input": [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]}, "call_9"),
            ({"input": [call, {"type": "function_call_output", "call_id": "call_2", "output": "x"}]}, "call_2"),
            ({"input": "hi", "n": 1}, "'n'"),
            ({"input": "hi", "tools": [{"type": "function", "name": "a/b", "parameters": {}}]}, "pattern"),
        ]
        for extra, word in cases:
            body = {"model": "m"}
            body.update(extra)
            with self.subTest(word=word):
                err = self.assertOpenAIError(post(self.port, RESP, body), 400, etype="invalid_request_error")
                self.assertIn(word, err["message"])
        ok = {"model": "m", "input": [dict(call, id="fc_1"), {"type": "function_call_output", "call_id": "call_1",
                                                               "output": "x"}]}
        self.call(RESP, ok)

    def test_custom_tools_chat_and_responses(self):
        want = "*** Begin Patch\n\"Paris\" \\ caf\u00e9 \u2192 \U0001F600\n*** End Patch"
        chat = {"model": "m+chunks=3", "messages": [{"role": "user", "content": "patch"}],
                "tools": chat_tools() + [{"type": "custom", "custom": {"name": "apply_patch"}}],
                "tool_choice": {"type": "custom", "custom": {"name": "apply_patch"}}}
        call = self.call(CHAT, chat).json()["choices"][0]["message"]["tool_calls"][0]
        self.assertEqual((call["type"], call["custom"]), ("custom", {"name": "apply_patch", "input": want}))
        chat["stream"] = True
        events, _ = self.events(CHAT, chat)
        deltas = [tc for e in events if e.data != "[DONE]" for ch in e.json()["choices"]
                  for tc in ch["delta"].get("tool_calls", [])]
        self.assertEqual((deltas[0]["type"], deltas[0]["custom"]["name"]), ("custom", "apply_patch"))
        self.assertGreaterEqual(len(deltas), 3)
        self.assertEqual("".join(d["custom"]["input"] for d in deltas), want)

        resp = {"model": "m+chunks=3", "input": "patch",
                "tools": [{"type": "custom", "name": "apply_patch"}] + responses_tools(),
                "tool_choice": {"type": "custom", "name": "apply_patch"}}
        item = self.call(RESP, resp).json()["output"][0]
        self.assertEqual((item["type"], item["name"], item["input"]), ("custom_tool_call", "apply_patch", want))
        self.assertTrue(item["id"].startswith("ctc_"))
        resp["stream"] = True
        events, _ = self.events(RESP, resp)
        names = [e.name for e in events]
        self.assertNotIn("response.function_call_arguments.delta", names)
        text = "".join(e.json()["delta"] for e in events if e.name == "response.custom_tool_call_input.delta")
        self.assertEqual(text, want)
        done = [e.json()["input"] for e in events if e.name == "response.custom_tool_call_input.done"]
        self.assertEqual(done, [want])

        # A custom call's output is a tool result; one without its call is refused.
        history = [{"role": "user", "content": "patch"},
                   {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "apply_patch", "input": "x"},
                   {"type": "custom_tool_call_output", "call_id": "call_1", "output": "applied"}]
        obj = self.call(RESP, {"model": "m", "input": history}).json()
        self.assertEqual(obj["output"][0]["content"][0]["text"], "tool result: applied")
        err = self.assertOpenAIError(post(self.port, RESP, {"model": "m", "input": history[2:]}), 400,
                                     etype="invalid_request_error")
        self.assertIn("call_1", err["message"])

    # -- Anthropic Messages ------------------------------------------------------------

    def msgs_body(self, model, **extra):
        b = {"model": model, "max_tokens": 4096, "messages": [{"role": "user", "content": "weather?"}],
             "tools": anthropic_tools()}
        b.update(extra)
        return b

    def test_anthropic_tool_call_not_streamed(self):
        r = self.call(MSGS, self.msgs_body("c+think+cached=100+calls=2"))
        obj = r.json()
        n = obj["id"].split("msg_mock")[1]
        self.assertEqual(obj["stop_reason"], "tool_use")
        self.assertEqual([b["type"] for b in obj["content"]], ["thinking", "tool_use", "tool_use"])
        self.assertEqual(obj["content"][0], {"type": "thinking", "thinking": "mock thinking",
                                             "signature": "sig_mock%s" % n})
        self.assertEqual(obj["content"][1], {"type": "tool_use", "id": "toolu_mock%s_0" % n,
                                             "name": "get_weather", "input": WEATHER_ARGS})
        self.assertEqual(obj["content"][2]["input"], CLOCK_ARGS)
        u = obj["usage"]
        self.assertEqual(u["input_tokens"], prompt_tokens(r.raw_request))
        self.assertEqual(u["cache_read_input_tokens"], 100)

    def test_anthropic_streamed_tool_use(self):
        events, _ = self.events(MSGS, self.msgs_body("c+think+cached=30+calls=2", stream=True))
        names = [e.name for e in events]
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[-2:], ["message_delta", "message_stop"])
        start = events[0].json()["message"]["usage"]
        self.assertEqual(start["cache_read_input_tokens"], 30)
        blocks, order = {}, []
        for e in events:
            ev = e.json()
            if e.name == "content_block_start":
                blocks[ev["index"]] = {"block": ev["content_block"], "deltas": []}
                order.append(ev["index"])
            elif e.name == "content_block_delta":
                self.assertEqual(order[-1], ev["index"], "blocks interleave")
                blocks[ev["index"]]["deltas"].append(ev["delta"])
            elif e.name == "content_block_stop":
                blocks[ev["index"]]["stopped"] = True
        self.assertEqual(order, [0, 1, 2])
        think = blocks[0]
        self.assertEqual(think["block"]["type"], "thinking")
        self.assertEqual("".join(d.get("thinking", "") for d in think["deltas"]), "mock thinking")
        self.assertEqual(think["deltas"][-1]["type"], "signature_delta")
        self.assertTrue(think["deltas"][-1]["signature"].startswith("sig_mock"))
        for i, want in ((1, WEATHER_ARGS), (2, CLOCK_ARGS)):
            b = blocks[i]
            self.assertEqual(b["block"]["type"], "tool_use")
            self.assertEqual(b["block"]["input"], {})
            self.assertTrue(b["block"]["id"].startswith("toolu_mock"))
            self.assertEqual({d["type"] for d in b["deltas"]}, {"input_json_delta"})
            self.assertEqual(b["deltas"][0]["partial_json"], "")
            self.assertGreaterEqual(len([d for d in b["deltas"] if d["partial_json"]]), 2)
            self.assertEqual(json.loads("".join(d["partial_json"] for d in b["deltas"])), want)
            self.assertTrue(b["stopped"])
        delta = events[-2].json()
        self.assertEqual(delta["delta"]["stop_reason"], "tool_use")
        self.assertEqual(delta["usage"]["cache_read_input_tokens"], 30)
        self.assertEqual(delta["usage"]["input_tokens"], start["input_tokens"])
        self.assertGreater(delta["usage"]["output_tokens"], 5)

    def anthropic_round_trip(self, model, result_content, think_block=None, **extra):
        assistant = [{"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]
        if think_block:
            assistant.insert(0, think_block)
        return self.msgs_body(model, messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": assistant},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": result_content},
                                         {"type": "text", "text": "thanks"}]}], **extra)

    def test_anthropic_tool_result_echo(self):
        obj = self.call(MSGS, self.anthropic_round_trip("c", "21 C")).json()
        self.assertEqual(obj["stop_reason"], "end_turn")
        self.assertEqual(obj["content"], [{"type": "text", "text": "tool result: 21 C"}])
        events, _ = self.events(MSGS, self.anthropic_round_trip(
            "c+chunks=5", [{"type": "text", "text": "21 "}, {"type": "text", "text": "C"}], stream=True))
        text = "".join(e.json()["delta"].get("text", "") for e in events if e.name == "content_block_delta")
        self.assertEqual(text, "tool result: 21 C")
        # With thinking on, the replayed turn keeps its (mock-signed) thinking block.
        signed = {"type": "thinking", "thinking": "t", "signature": "sig_mock7"}
        self.call(MSGS, self.anthropic_round_trip("c", "x", signed,
                                                  thinking={"type": "enabled", "budget_tokens": 1024}))

    def test_anthropic_rejections(self):
        user = {"role": "user", "content": "q"}
        use = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}
        result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}]}
        think = {"type": "enabled", "budget_tokens": 2048}
        cases = [
            ({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}, "non-empty"),
            ({"messages": [{"role": "user", "content": [{"type": "text", "text": " \n\t"}]}]}, "non-whitespace"),
            ({"messages": [{"role": "assistant", "content": "a"}, user]}, "first message"),
            ({"messages": [{"role": "system", "content": "s"}, user]}, "role"),
            ({"messages": [user, {"role": "tool", "content": "s"}]}, "role"),
            ({"messages": [user, use, user]}, "toolu_1"),
            ({"messages": [user, use]}, "toolu_1"),
            ({"messages": [user, use, {"role": "user", "content": [
                {"type": "text", "text": "first"}, {"type": "tool_result", "tool_use_id": "toolu_1"}]}]}, "first"),
            ({"messages": [user, use, {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_2"}]}]}, "toolu_"),
            ({"messages": [user], "tools": [{"name": "a.b", "input_schema": {"type": "object"}}]}, "pattern"),
            ({"messages": [user], "tools": [{"name": "x" * 129, "input_schema": {"type": "object"}}]}, "pattern"),
            ({"messages": [user], "tools": [{"name": "f", "input_schema": {"properties": {}}}]}, "object"),
            ({"messages": [user, {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call.1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call.1"}]}]}, "pattern"),
            ({"messages": [user], "thinking": {"type": "enabled", "budget_tokens": 1000}}, "1024"),
            ({"messages": [user], "max_tokens": 2048, "thinking": think}, "max_tokens"),
            ({"messages": [user], "thinking": think, "temperature": 0.5}, "temperature"),
            ({"messages": [user], "thinking": think, "top_k": 5}, "top_k"),
            ({"messages": [user], "thinking": think, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
              "tool_choice": {"type": "any"}}, "tool_choice"),
            ({"messages": [user], "thinking": think, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
              "tool_choice": {"type": "tool", "name": "f"}}, "tool_choice"),
            ({"messages": [user, {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "EqQBforeign"}, {"type": "text", "text": "a"}]},
                user]}, "signature"),
            ({"messages": [user, use, result], "thinking": think}, "thinking"),
        ]
        for extra, word in cases:
            body = {"model": "c", "max_tokens": 4096}
            body.update(extra)
            with self.subTest(word=word, body=body):
                err = self.assertAnthropicError(post(self.port, MSGS, body), 400, "invalid_request_error")
                self.assertIn(word, err["message"])
        # Accepted: thinking with temperature 1, the beta that allows system turns.
        self.call(MSGS, {"model": "c", "max_tokens": 4096, "thinking": think, "temperature": 1,
                         "messages": [user]})
        beta = {"anthropic-beta": "interleaved-thinking-2025-05-14,mid-conversation-system-2026-04-07"}
        self.call(MSGS, {"model": "c", "max_tokens": 10,
                         "messages": [user, {"role": "system", "content": "be brief"}, user]}, beta)
        self.call(MSGS, {"model": "c", "max_tokens": 10, "messages": [user, use, result]})

    # -- Gemini ------------------------------------------------------------------------

    def gem_body(self, **extra):
        b = {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}], "tools": gemini_tools()}
        b.update(extra)
        return b

    def test_gemini_calls_not_streamed(self):
        r = self.call(gemini_path("gemini-2.5-flash+think+cached=50+calls=2"), self.gem_body())
        obj = r.json()
        cand = obj["candidates"][0]
        self.assertEqual(cand["finishReason"], "STOP")
        parts = cand["content"]["parts"]
        self.assertEqual(parts[0], {"text": "mock thinking", "thought": True})
        self.assertEqual(parts[1]["functionCall"], {"name": "get_weather", "args": WEATHER_ARGS})
        self.assertEqual(parts[1]["thoughtSignature"], "gsig_mock%s" % obj["responseId"][4:])
        self.assertEqual(parts[2], {"functionCall": {"name": "get_time", "args": CLOCK_ARGS}})
        u = obj["usageMetadata"]
        self.assertEqual(u["promptTokenCount"], prompt_tokens(r.raw_request) + 50)
        self.assertEqual(u["cachedContentTokenCount"], 50)
        self.assertEqual(u["thoughtsTokenCount"], 5)
        self.assertEqual(u["totalTokenCount"], u["promptTokenCount"] + u["candidatesTokenCount"] + 5)

    def check_gemini_call_stream(self, chunks):
        calls = []
        finish_at = None
        for i, ch in enumerate(chunks):
            cand = ch["candidates"][0]
            for p in cand["content"]["parts"]:
                if "functionCall" in p:
                    self.assertNotIn("id", p["functionCall"])
                    calls.append((i, p["functionCall"]))
            if "finishReason" in cand:
                self.assertIsNone(finish_at, "two finish chunks")
                finish_at = i
                self.assertEqual(cand["finishReason"], "STOP")
                self.assertIn("candidatesTokenCount", ch["usageMetadata"])
        self.assertEqual(finish_at, len(chunks) - 1)
        self.assertTrue(calls)
        self.assertLess(calls[-1][0], finish_at, "finishReason must come in a later chunk")
        return [c for _, c in calls]

    def test_gemini_streamed_calls_sse_and_array(self):
        for sse in (True, False):
            with self.subTest(sse=sse):
                chunks, _ = self.gemini_chunks("gemini-2.5+think+calls=2", self.gem_body(), sse)
                self.assertEqual(chunks[0]["candidates"][0]["content"]["parts"],
                                 [{"text": "mock thinking", "thought": True}])
                calls = self.check_gemini_call_stream(chunks)
                self.assertEqual(calls, [{"name": "get_weather", "args": WEATHER_ARGS},
                                         {"name": "get_time", "args": CLOCK_ARGS}])
                first = next(p for ch in chunks for p in ch["candidates"][0]["content"]["parts"]
                             if "functionCall" in p)
                self.assertTrue(first["thoughtSignature"].startswith("gsig_mock"))
                self.assertEqual(chunks[-1]["usageMetadata"]["thoughtsTokenCount"], 5)

    def test_gemini3_signs_its_calls_and_checks_them_back(self):
        obj = self.call(gemini_path("gemini-3-flash"), self.gem_body()).json()
        model_turn = obj["candidates"][0]["content"]
        self.assertTrue(model_turn["parts"][0]["thoughtSignature"].startswith("gsig_mock"))
        answer = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 1}}}]}
        history = [{"role": "user", "parts": [{"text": "weather?"}]}, model_turn, answer]
        obj = self.call(gemini_path("gemini-3-flash"), self.gem_body(contents=history)).json()
        self.assertEqual(obj["candidates"][0]["content"]["parts"][0]["text"], "tool result: {\"t\":1}")
        stripped = dict(model_turn, parts=[{"functionCall": model_turn["parts"][0]["functionCall"]}])
        err = self.assertGeminiError(post(self.port, gemini_path("gemini-3-flash"),
                                          self.gem_body(contents=[history[0], stripped, answer])), 400)
        self.assertIn("thought_signature", err["message"])

    def test_gemini_text_with_thought_signature(self):
        chunks, _ = self.gemini_chunks("g+think+chunks=2", {"contents": [{"parts": [{"text": "hi"}]}]})
        parts = [ch["candidates"][0]["content"]["parts"][0] for ch in chunks]
        self.assertEqual(parts[0], {"text": "mock thinking", "thought": True})
        self.assertTrue(parts[1]["thoughtSignature"].startswith("gsig_mock"))
        self.assertNotIn("thoughtSignature", parts[2])

    def test_gemini_tool_result_echo(self):
        body = self.gem_body(contents=[
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}},
                                        {"functionCall": {"name": "get_time", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                                       {"functionResponse": {"name": "get_time", "response": {"t": "noon"}}}]}])
        obj = self.call(gemini_path("gemini-2.5"), body).json()
        self.assertEqual(obj["candidates"][0]["content"]["parts"],
                         [{"text": "tool result: {\"temp_c\":21}\n{\"t\":\"noon\"}"}])
        chunks, _ = self.gemini_chunks("gemini-2.5+chunks=3", body, sse=False)
        text = "".join(ch["candidates"][0]["content"]["parts"][0]["text"] for ch in chunks)
        self.assertEqual(text, "tool result: {\"temp_c\":21}\n{\"t\":\"noon\"}")

    def test_gemini_rejections(self):
        user = {"role": "user", "parts": [{"text": "q"}]}
        call = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
        signed = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "x"},
                                             {"functionCall": {"name": "f", "args": {}}}]}
        answer = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]}

        def decl(params):
            return [{"functionDeclarations": [{"name": "f", "parameters": params}]}]

        cases = [
            ("gemini-2.5", {"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text"),
            ("gemini-2.5", {"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
            ("gemini-2.5", {"contents": [{"role": "assistant", "parts": [{"text": "q"}]}]}, "role"),
            ("gemini-2.5", {"contents": [user], "tools": decl({"type": "object", "additionalProperties": False})},
             "additionalProperties"),
            ("gemini-2.5", {"contents": [user], "tools": decl({"type": "object", "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string", "$schema": "x"}}}}})}, "$schema"),
            ("gemini-2.5", {"contents": [user], "tools": decl({"type": "object", "properties": {
                "a": {"type": ["string", "null"]}}})}, "repeating"),
            ("gemini-2.5", {"contents": [user], "generationConfig": {"thinkingConfig": {
                "thinkingBudget": 100, "thinkingLevel": "LOW"}}}, "thinking"),
            ("gemini-2.5", {"contents": [user, call, user]}, "function response"),
            ("gemini-2.5", {"contents": [user, signed, answer]}, "function response"),
            ("gemini-2.5", {"contents": [user, call]}, "function response"),
            ("gemini-2.5", {"contents": [user, call, {"role": "user", "parts": [
                {"functionResponse": {"name": "f", "response": "sunny"}}]}]}, "response"),
            ("gemini-3-pro-preview", {"contents": [user, call, answer]}, "thought_signature"),
        ]
        for model, body, word in cases:
            with self.subTest(word=word, body=body):
                err = self.assertGeminiError(post(self.port, gemini_path(model), body), 400, "INVALID_ARGUMENT")
                self.assertIn(word, err["message"])
        # Accepted: property names that look like keywords, a signed Gemini 3 history.
        names = {"type": "OBJECT", "properties": {"format": {"type": "STRING"}, "default": {"type": "STRING"},
                                                  "additionalProperties": {"type": "STRING"}}}
        obj = self.call(gemini_path("gemini-2.5"), {"contents": [user], "tools": decl(names)}).json()
        self.assertEqual(obj["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
                         {"format": "Paris", "default": "Paris", "additionalProperties": "Paris"})
        two = dict(answer, parts=answer["parts"] * 2)
        self.call(gemini_path("gemini-3-pro-preview"), {"contents": [user, signed, two]})

    # -- directives and introspection ------------------------------------------------

    def test_plain_text_unchanged_without_tools(self):
        obj = self.call(CHAT, {"model": "m+chunks=2", "messages": [{"role": "user", "content": "hi"}]}).json()
        self.assertEqual(obj["choices"][0]["message"]["content"], harness.expected_text("", "m+chunks=2", 2))
        self.assertNotIn("reasoning_content", obj["choices"][0]["message"])
        self.assertEqual(obj["usage"]["prompt_tokens_details"]["cached_tokens"], 0)

    def test_mid_error_and_noterm_with_tool_calls(self):
        events, _ = self.events(CHAT, self.chat_body("m+mid_error=1", stream=True))
        self.assertIn("error", events[-1].json())
        self.assertNotIn("[DONE]", [e.data for e in events])
        chunks, _ = self.gemini_chunks("g+noterm", self.gem_body())
        self.assertFalse(any("finishReason" in ch["candidates"][0] for ch in chunks))
        events, _ = self.events(MSGS, self.msgs_body("c+noterm", stream=True))
        self.assertEqual(events[-1].name, "message_delta")

    def test_recorded_request_has_the_full_body(self):
        self.mock.clear()
        raw = encode(self.msgs_body("c"))
        self.call(MSGS, raw, {"anthropic-version": "2023-06-01"})
        rec = self.mock.requests()[-1]
        self.assertEqual(rec["path"], MSGS)
        self.assertEqual(rec["body"].encode(), raw)
        self.assertEqual(rec["headers"].get("anthropic-version"), "2023-06-01")

    # -- connection directives and counters ------------------------------------------
    # Raw sockets: several requests on one kept-alive connection, and exactly
    # what comes back on it (bytes, EOF or reset).

    def generation_requests(self, model):
        """(name, path, body) for every endpoint that takes a model, streamed
        and not, the count endpoints included."""
        user = [{"role": "user", "content": "hi"}]
        gem = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        return [
            ("chat", CHAT, {"model": model, "messages": user}),
            ("chat stream", CHAT, {"model": model, "messages": user, "stream": True}),
            ("responses", RESP, {"model": model, "input": "hi"}),
            ("responses stream", RESP, {"model": model, "input": "hi", "stream": True}),
            ("anthropic", MSGS, {"model": model, "max_tokens": 64, "messages": user}),
            ("anthropic stream", MSGS, {"model": model, "max_tokens": 64, "messages": user, "stream": True}),
            ("anthropic count", MSGS + "/count_tokens", {"model": model, "messages": user}),
            ("gemini", gemini_path(model), gem),
            ("gemini sse", gemini_path(model, "streamGenerateContent"), gem),
            ("gemini array", gemini_path(model, "streamGenerateContent", sse=False), gem),
            ("gemini count", gemini_path(model, "countTokens"), gem),
        ]

    def connect(self, mock=None):
        sock = harness.connect((mock or self.mock).port, timeout=harness.t(10))
        self.addCleanup(sock.close)
        return sock, sock.makefile("rb")

    def send(self, sock, path, body):
        raw = encode(body)
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"x-api-key: k-conn\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(raw), raw))

    def read_response(self, f):
        """One response off a kept-alive connection, read by its framing
        (Content-Length or chunked). Returns (status, headers, body)."""
        status_line = f.readline()
        self.assertTrue(status_line.startswith(b"HTTP/1.1 "), "no answer: %r" % status_line)
        headers = {}
        while True:
            line = f.readline()
            self.assertTrue(line, "connection closed inside the response head")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") != "chunked":  # chunked wins over a Content-Length
            self.assertIn("content-length", headers)
            body = f.read(int(headers["content-length"]))
        else:
            body = b""
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    self.assertEqual(f.readline(), b"\r\n")
                    break
                body += f.read(size)
                self.assertEqual(f.readline(), b"\r\n")
        return int(status_line.split()[1]), headers, body

    def read_to_eof(self, f):
        """Everything that arrives until the mock closes the connection with a
        FIN. A reset raises ConnectionResetError; a connection left open
        fails the test once the timeout expires."""
        try:
            return f.read()
        except socket.timeout:
            self.fail("the mock kept the connection open")

    def test_hangup_reused_closes_a_reused_connection_unanswered(self):
        for name, path, body in self.generation_requests("m+hangup_reused"):
            with self.subTest(endpoint=name):
                self.mock.clear()
                before = self.mock.stats()
                sock, f = self.connect()
                # The first request of the connection is answered as usual.
                self.send(sock, path, body)
                status, headers, first = self.read_response(f)
                self.assertEqual(status, 200, first[:300])
                self.assertNotEqual(headers.get("connection"), "close")
                self.assertTrue(first)
                # The second one is read whole, then the connection is closed
                # (FIN, not RST) without a single byte.
                self.send(sock, path, body)
                self.assertEqual(self.read_to_eof(f), b"")
                after = self.mock.stats()
                self.assertEqual(after["requests"] - before["requests"], 2)
                self.assertEqual(after["active_streams"], 0)
                recorded = [r for r in self.mock.requests() if r["credential"] == "k-conn"]
                self.assertEqual([r["path"] for r in recorded], [path.split("?")[0]] * 2)
                self.assertEqual([json.loads(r["body"]) for r in recorded], [body, body])
        # A request without the directive is answered on a reused connection.
        sock, f = self.connect()
        for _ in range(2):
            self.send(sock, CHAT, {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
            self.assertEqual(self.read_response(f)[0], 200)
        # The directive looks only at the request that carries it: a
        # connection reused after a plain request is hung up on.
        self.send(sock, gemini_path("g+hangup_reused=1"), {"contents": [{"parts": [{"text": "hi"}]}]})
        self.assertEqual(self.read_to_eof(f), b"")

    def test_hangup_closes_even_a_fresh_connection(self):
        for name, path, body in self.generation_requests("m+hangup+status=500+delay=5s"):
            with self.subTest(endpoint=name):
                self.mock.clear()
                before = self.mock.stats()
                sock, f = self.connect()
                self.send(sock, path, body)
                self.assertEqual(self.read_to_eof(f), b"")
                after = self.mock.stats()
                self.assertEqual(after["requests"] - before["requests"], 1)
                self.assertEqual(after["streams_started"], before["streams_started"])
                self.assertEqual(after["streams_cancelled"], before["streams_cancelled"])
                recorded = [r for r in self.mock.requests() if r["credential"] == "k-conn"]
                self.assertEqual(len(recorded), 1)
                self.assertEqual(json.loads(recorded[0]["body"]), body)

    def test_conn_close_answers_then_closes(self):
        for name, path, body in self.generation_requests("m+conn_close+chunks=4+pace=5ms"):
            with self.subTest(endpoint=name):
                sock, f = self.connect()
                self.send(sock, path, body)
                status, headers, answer = self.read_response(f)
                self.assertEqual(status, 200, answer[:300])
                self.assertEqual(headers.get("connection"), "close", headers)
                # The whole answer comes before the close.
                if "count" in name:
                    self.assertEqual(len(json.loads(answer)), 1)
                else:
                    self.assertIn(b"#3;", answer)
                if "stream" in name or "sse" in name:
                    self.assertTrue(headers["content-type"].startswith("text/event-stream"))
                    events, leftover = parse_sse(answer)
                    self.assertGreaterEqual(len(events), 4)
                    self.assertEqual(leftover.strip(), "")
                self.assertEqual(self.read_to_eof(f), b"")
        # An error answer closes too.
        sock, f = self.connect()
        self.send(sock, MSGS, {"model": "c+conn_close+status=529", "max_tokens": 8,
                               "messages": [{"role": "user", "content": "hi"}]})
        status, headers, answer = self.read_response(f)
        self.assertEqual((status, headers.get("connection")), (529, "close"))
        self.assertEqual(json.loads(answer)["error"]["type"], "overloaded_error")
        self.assertEqual(self.read_to_eof(f), b"")
        # Without the directive the connection stays open for the next request.
        sock, f = self.connect()
        self.send(sock, CHAT, {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        status, headers, _ = self.read_response(f)
        self.assertNotIn("connection", headers)
        self.send(sock, CHAT, {"model": "m+conn_close", "messages": [{"role": "user", "content": "hi"}]})
        status, headers, _ = self.read_response(f)
        self.assertEqual((status, headers.get("connection")), (200, "close"))
        self.assertEqual(self.read_to_eof(f), b"")

    def test_both_lengths_sends_content_length_beside_chunked(self):
        sock, f = self.connect()
        self.send(sock, CHAT, {"model": "m+both_lengths+chunks=3", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]})
        status, head, body = self.read_response(f)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual((head.get("transfer-encoding"), head.get("content-length")), ("chunked", "1"))
        events, leftover = parse_sse(body)
        self.assertEqual(leftover.strip(), "")
        self.assertEqual(events[-1].data, "[DONE]")
        self.assertIn(b"#2;", body)
        # Without the directive a stream has no Content-Length.
        self.send(sock, CHAT, {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        _, headers, _ = self.read_response(f)
        self.assertNotIn("content-length", headers)

    def count_connections(self, mock):
        zeroed = mock.reset_stats()
        self.assertEqual(zeroed["connections"], 0)
        self.assertEqual(zeroed["requests"], 0)
        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        # One kept-alive connection with three requests...
        sock, f = self.connect(mock)
        for _ in range(3):
            self.send(sock, CHAT, chat)
            self.assertEqual(self.read_response(f)[0], 200)
        # ...plus twelve connections of one request each (one hung up on,
        # one closed by the mock after its answer).
        for i in range(12):
            sock, f = self.connect(mock)
            if i == 0:
                self.send(sock, CHAT, dict(chat, model="m+hangup"))
                self.assertEqual(self.read_to_eof(f), b"")
            else:
                self.send(sock, CHAT, dict(chat, model="m+conn_close" if i == 1 else "m"))
                self.assertEqual(self.read_response(f)[0], 200)
        # ...plus the connection that asks for the stats.
        stats = mock.stats()
        self.assertEqual(stats["connections"], 1 + 12 + 1, stats)
        self.assertEqual(stats["requests"], 3 + 12)
        self.assertEqual(mock.stats()["connections"], 1 + 12 + 2)
        self.assertEqual(mock.reset_stats()["connections"], 0)

    def test_connections_counter(self):
        self.count_connections(self.mock)

    def test_connections_counter_with_threads(self):
        self.count_connections(self.start_mock(threads=4))


if __name__ == "__main__":
    if not os.path.exists(harness.AGD_MOCK):
        sys.stderr.write("missing mock binary: AGD_MOCK=%s\n" % harness.AGD_MOCK)
        sys.exit(1)
    unittest.main(verbosity=2)

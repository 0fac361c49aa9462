#!/usr/bin/env python3
"""Protocol translation through the real daemon: every client protocol
against every upstream wire, streamed and not, checked on both sides (what
the client got, and what the mock upstream received); upstream errors before
and after the first byte in the client's protocol; legacy completions;
count_tokens; tool-call round trips."""

import base64
import http.server
import json
import re

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, post)

KEYS = {
    "chat": "sk-chat-upstream-key-0a0a0a",
    "resp": "sk-resp-upstream-key-0b0b0b",
    "anth": "sk-ant-upstream-key-0c0c0c",
    "gem": "AIza-gem-upstream-key-0d0d0d",
}
UPSTREAMS = ("chat", "resp", "anth", "gem")
CLIENTS = ("chat", "responses", "anthropic", "gemini")
UPSTREAM_PATH = {
    "chat": "/v1/chat/completions",
    "resp": "/v1/responses",
    "anth": "/v1/messages",
    "gem": None,  # /v1beta/models/<model>:generateContent or :streamGenerateContent
}
SAME = {("chat", "chat"), ("responses", "resp"), ("anthropic", "anth"), ("gemini", "gem")}

WEATHER_TOOL_SCHEMA = {
    "type": "object",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "additionalProperties": False,
    "properties": {"city": {"type": "string", "description": "City name"},
                   "format": {"type": ["string", "null"], "enum": ["c", "f"]}},
    "required": ["city"],
}


# -- requests per client protocol ---------------------------------------------------------

def client_request(client, model, text="Say hi.", stream=False, system="Be brief.", tools=False, history=None,
                   max_tokens=64):
    """(path, body, headers) for a plain request in the client's protocol."""
    if client == "chat":
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": text}] + (history or [])
        body = {"model": model, "messages": msgs, "max_tokens": max_tokens}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                               "parameters": WEATHER_TOOL_SCHEMA}}]
        return "/v1/chat/completions", body, {}
    if client == "responses":
        items = [{"role": "user", "content": text}] + (history or [])
        body = {"model": model, "instructions": system, "input": items, "max_output_tokens": max_tokens}
        if stream:
            body["stream"] = True
        if tools:
            body["tools"] = [{"type": "function", "name": "get_weather", "description": "Weather",
                              "parameters": WEATHER_TOOL_SCHEMA}]
        return "/v1/responses", body, {}
    if client == "anthropic":
        msgs = [{"role": "user", "content": text}] + (history or [])
        body = {"model": model, "system": system, "messages": msgs, "max_tokens": max_tokens}
        if stream:
            body["stream"] = True
        if tools:
            body["tools"] = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_TOOL_SCHEMA}]
        return "/v1/messages", body, {"anthropic-version": "2023-06-01"}
    contents = [{"role": "user", "parts": [{"text": text}]}] + (history or [])
    body = {"systemInstruction": {"parts": [{"text": system}]}, "contents": contents,
            "generationConfig": {"maxOutputTokens": max_tokens}}
    if tools:
        # A Gemini client sends what Gemini accepts (the OpenAPI subset).
        schema = {"type": "OBJECT", "properties": {"city": {"type": "STRING", "description": "City name"},
                                                   "format": {"type": "STRING", "nullable": True,
                                                              "enum": ["c", "f"]}},
                  "required": ["city"]}
        body["tools"] = [{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
                                                    "parameters": schema}]}]
    op = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return "/v1beta/models/%s:%s" % (model, op), body, {}


# -- reading answers per client protocol --------------------------------------------------

def whole_text(client, obj):
    if client == "chat":
        return obj["choices"][0]["message"]["content"] or ""
    if client == "responses":
        return "".join(c["text"] for item in obj["output"] if item["type"] == "message"
                       for c in item["content"] if c["type"] == "output_text")
    if client == "anthropic":
        return "".join(b["text"] for b in obj["content"] if b["type"] == "text")
    return "".join(p.get("text", "") for p in obj["candidates"][0]["content"]["parts"] if not p.get("thought"))


def stream_text(client, events):
    """(text, ended cleanly, error object or None) from parsed SSE events."""
    text, clean, error = "", False, None
    for ev in events:
        data = ev.data
        if client == "chat":
            if data == "[DONE]":
                clean = True
                continue
            obj = json.loads(data)
            if "error" in obj:
                error = obj["error"]
                continue
            for ch in obj.get("choices", []):
                text += ch.get("delta", {}).get("content") or ""
        elif client == "responses":
            obj = json.loads(data)
            if obj["type"] == "response.output_text.delta":
                text += obj["delta"]
            elif obj["type"] == "response.completed":
                clean = True
            elif obj["type"] in ("error", "response.failed"):
                error = obj
        elif client == "anthropic":
            obj = json.loads(data)
            if obj["type"] == "content_block_delta" and obj["delta"]["type"] == "text_delta":
                text += obj["delta"]["text"]
            elif obj["type"] == "message_stop":
                clean = True
            elif obj["type"] == "error":
                error = obj["error"]
        else:
            obj = json.loads(data)
            if "error" in obj:
                error = obj["error"]
                continue
            cand = obj["candidates"][0]
            text += "".join(p.get("text", "") for p in cand.get("content", {}).get("parts", []) if not p.get("thought"))
            if cand.get("finishReason"):
                clean = True
    return text, clean, error


# The input of every custom tool call the mock makes (tools/mock-upstream/formats.h kCustomInput).
CUSTOM_INPUT = "*** Begin Patch\n\"Paris\" \\ caf\u00e9 \u2192 \U0001F600\n*** End Patch"


def shown_model(client, obj):
    return obj.get("modelVersion") if client == "gemini" else obj.get("model")


class TranslationTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.d = self.start_daemon(build_config(self.tmp, providers=[
            ("chat", openai_provider(self.mock, [KEYS["chat"]], "to-chat-*")),
            ("resp", openai_provider(self.mock, [KEYS["resp"]], "to-resp-*", api="responses")),
            ("anth", anthropic_provider(self.mock, [KEYS["anth"]], "to-anth-*")),
            ("gem", gemini_provider(self.mock, [KEYS["gem"]], "to-gem-*")),
        ]))

    def last_upstream(self):
        reqs = self.mock.requests()
        self.assertTrue(reqs, "the upstream was not contacted")
        return reqs[-1]

    # -- every pair, plain text --------------------------------------------------------------

    def test_every_pair_whole_answer(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                with self.subTest(client=client, upstream=up):
                    model = "to-%s-plain+chunks=3" % up
                    path, body, hdrs = client_request(client, model)
                    self.mock.clear()
                    r = post(self.d.port, path, body, headers=hdrs)
                    self.assertEqual(r.status, 200, r)
                    obj = r.json()
                    self.assertEqual(whole_text(client, obj), harness.expected_text(KEYS[up], model, 3))
                    self.assertEqual(shown_model(client, obj), model)
                    rec = self.last_upstream()
                    if UPSTREAM_PATH[up]:
                        self.assertEqual(rec["path"], UPSTREAM_PATH[up])
                    else:
                        self.assertTrue(rec["path"].endswith(":generateContent"), rec["path"])
                    sent = json.loads(rec["body"])
                    if up != "gem":
                        self.assertEqual(sent["model"], model)
                    self.assertIn("Be brief.", json.dumps(sent), "the system prompt must reach the upstream")
                    self.assertIn("Say hi.", json.dumps(sent))
                    self.check_usage(client, obj)

    def check_usage(self, client, obj):
        if client == "chat":
            u = obj["usage"]
            self.assertGreater(u["prompt_tokens"], 0)
            self.assertEqual(u["completion_tokens"], 3)
            self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])
        elif client == "responses":
            u = obj["usage"]
            self.assertGreater(u["input_tokens"], 0)
            self.assertEqual(u["output_tokens"], 3)
        elif client == "anthropic":
            u = obj["usage"]
            self.assertGreater(u["input_tokens"], 0)
            self.assertEqual(u["output_tokens"], 3)
        else:
            u = obj["usageMetadata"]
            self.assertGreater(u["promptTokenCount"], 0)
            self.assertEqual(u["candidatesTokenCount"], 3)

    def test_every_pair_streamed(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                with self.subTest(client=client, upstream=up):
                    model = "to-%s-stream+chunks=5" % up
                    path, body, hdrs = client_request(client, model, stream=True)
                    r = harness.stream(self.d.port, path, body, headers=hdrs)
                    self.assertEqual(r.status, 200, r)
                    self.assertTrue(r.header("content-type", "").startswith("text/event-stream"), r.headers)
                    text, clean, error = stream_text(client, r.events)
                    self.assertIsNone(error, r.body[:2000])
                    self.assertTrue(clean, "stream must end with the client protocol's terminal: %r" % r.body[-500:])
                    self.assertEqual(text, harness.expected_text(KEYS[up], model, 5))

    def test_streamed_pieces_are_not_merged(self):
        # Each upstream piece is relayed as its own client event.
        for client in CLIENTS:
            for up in UPSTREAMS:
                if (client, up) in SAME:
                    continue
                with self.subTest(client=client, upstream=up):
                    model = "to-%s-pieces+chunks=4" % up
                    path, body, hdrs = client_request(client, model, stream=True)
                    r = harness.stream(self.d.port, path, body, headers=hdrs)
                    pieces = []
                    for ev in r.events:
                        if ev.data == "[DONE]":
                            continue
                        t, _, _ = stream_text(client, [ev])
                        if t:
                            pieces.append(t)
                    self.assertEqual(len(pieces), 4, pieces)

    def test_gemini_array_stream_from_other_wires(self):
        # streamGenerateContent without ?alt=sse: one JSON array, written as it goes.
        for up in ("chat", "resp", "anth"):
            with self.subTest(upstream=up):
                model = "to-%s-arr+chunks=4" % up
                _, body, _ = client_request("gemini", model)
                r = post(self.d.port, "/v1beta/models/%s:streamGenerateContent" % model, body)
                self.assertEqual(r.status, 200, r)
                self.assertIsNone(r.error, r)
                arr = json.loads(r.body)
                self.assertIsInstance(arr, list)
                text = "".join(p.get("text", "") for el in arr for p in el["candidates"][0]["content"]["parts"])
                self.assertEqual(text, harness.expected_text(KEYS[up], model, 4))
                self.assertEqual(arr[-1]["candidates"][0]["finishReason"], "STOP")
                # A failure after the first byte cannot be said in the array: the connection is cut.
                model = "to-%s-arrerr+chunks=4+mid_error=2" % up
                r = post(self.d.port, "/v1beta/models/%s:streamGenerateContent" % model, body)
                self.assertEqual(r.status, 200, r)
                self.assertIsNotNone(r.error, "a failed array stream must be cut, got %r" % r.body[-300:])

    # -- errors -----------------------------------------------------------------------------

    def test_upstream_error_before_first_byte_in_client_protocol(self):
        cases = [  # upstream status -> (OpenAI status, Anthropic status, Gemini status name)
            (400, 400, 400, "INVALID_ARGUMENT"),
            (404, 404, 404, "NOT_FOUND"),
            (529, 503, 529, "UNAVAILABLE"),
        ]
        for up in ("chat", "anth", "gem"):
            for upstatus, oa, an, gem_status in cases:
                if upstatus == 529 and up != "anth":
                    continue
                model = "to-%s-err+status=%d" % (up, upstatus)
                for client in CLIENTS:
                    if (client, up) in SAME:
                        continue
                    with self.subTest(upstream=up, status=upstatus, client=client):
                        path, body, hdrs = client_request(client, model)
                        r = post(self.d.port, path, body, headers=hdrs)
                        if client in ("chat", "responses"):
                            err = self.assertOpenAIError(r, oa)
                        elif client == "anthropic":
                            err = self.assertAnthropicError(r, an)
                        else:
                            err = self.assertGeminiError(r, 503 if gem_status == "UNAVAILABLE" else upstatus,
                                                         status_name=gem_status)
                        self.assertIn("mock error %d" % upstatus, err["message"],
                                      "the upstream's message must be kept")

    def test_rate_limit_passes_retry_after(self):
        model = "to-anth-rl+status=429+retry_after=7"
        path, body, hdrs = client_request("chat", model)
        r = post(self.d.port, path, body, headers=hdrs)
        self.assertOpenAIError(r, 429)
        self.assertEqual(r.header("retry-after"), "7")

    def test_midstream_error_is_the_client_protocols_error(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                if (client, up) in SAME:
                    continue
                with self.subTest(client=client, upstream=up):
                    model = "to-%s-mid+chunks=5+mid_error=2" % up
                    path, body, hdrs = client_request(client, model, stream=True)
                    r = harness.stream(self.d.port, path, body, headers=hdrs)
                    self.assertEqual(r.status, 200, r)
                    text, clean, error = stream_text(client, r.events)
                    self.assertFalse(clean, "a failed stream must not end cleanly: %r" % r.body[-600:])
                    self.assertIsNotNone(error, r.body[-600:])
                    self.assertIn("mock mid-stream error", json.dumps(error))
                    self.assertTrue(text.startswith("cred="), text)

    def test_stream_cut_without_terminal_is_an_error(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                if (client, up) in SAME:
                    continue
                with self.subTest(client=client, upstream=up):
                    model = "to-%s-noterm+chunks=3+noterm" % up
                    path, body, hdrs = client_request(client, model, stream=True)
                    r = harness.stream(self.d.port, path, body, headers=hdrs)
                    text, clean, error = stream_text(client, r.events)
                    self.assertFalse(clean, r.body[-600:])
                    self.assertIsNotNone(error, r.body[-600:])

    def test_bad_request_is_400_in_client_protocol_without_upstream(self):
        cases = [
            ("/v1/chat/completions", {"model": "to-anth-x", "messages": "not a list"}, "openai"),
            ("/v1/messages", {"model": "to-chat-x", "max_tokens": 5, "messages": 7}, "anthropic"),
            ("/v1beta/models/to-anth-x:generateContent", {"contents": "nope"}, "gemini"),
            ("/v1/responses", {"model": "to-gem-x", "input": 5}, "openai"),
        ]
        for path, body, surface in cases:
            with self.subTest(path=path):
                r = post(self.d.port, path, body, headers={"anthropic-version": "2023-06-01"})
                if surface == "openai":
                    self.assertOpenAIError(r, 400)
                elif surface == "anthropic":
                    self.assertAnthropicError(r, 400)
                else:
                    self.assertGeminiError(r, 400)
        self.assertEqual(self.mock.requests(), [], "no upstream may be contacted")

    # -- tool calls -----------------------------------------------------------------------

    def first_call(self, client, obj):
        """(id, name, args dict, finish) of the first tool call of a whole answer."""
        if client == "chat":
            ch = obj["choices"][0]
            tc = ch["message"]["tool_calls"][0]
            return tc["id"], tc["function"]["name"], json.loads(tc["function"]["arguments"]), ch["finish_reason"]
        if client == "responses":
            fc = [i for i in obj["output"] if i["type"] == "function_call"][0]
            self.assertTrue(fc["id"].startswith("fc"), fc)
            self.assertNotEqual(fc["id"], fc["call_id"])
            return fc["call_id"], fc["name"], json.loads(fc["arguments"]), obj["status"]
        if client == "anthropic":
            tu = [b for b in obj["content"] if b["type"] == "tool_use"][0]
            return tu["id"], tu["name"], tu["input"], obj["stop_reason"]
        cand = obj["candidates"][0]
        fc = [p for p in cand["content"]["parts"] if "functionCall" in p][0]
        return fc["functionCall"].get("id"), fc["functionCall"]["name"], fc["functionCall"]["args"], cand["finishReason"]

    def stream_calls(self, client, events):
        """{index: [name, args text]} and the finish, accumulated the way the SDKs do."""
        calls, finish = {}, None
        for ev in events:
            if ev.data == "[DONE]":
                continue
            obj = json.loads(ev.data)
            if client == "chat":
                for ch in obj.get("choices", []):
                    for tc in ch.get("delta", {}).get("tool_calls") or []:
                        c = calls.setdefault(tc["index"], ["", ""])
                        c[0] += tc.get("function", {}).get("name") or ""
                        c[1] += tc.get("function", {}).get("arguments") or ""
                    finish = ch.get("finish_reason") or finish
            elif client == "responses":
                if obj["type"] == "response.output_item.added" and obj["item"]["type"] == "function_call":
                    calls[obj["item"]["id"]] = [obj["item"]["name"], ""]
                elif obj["type"] == "response.function_call_arguments.delta":
                    calls[obj["item_id"]][1] += obj["delta"]
                elif obj["type"] == "response.completed":
                    finish = obj["response"]["status"]
            elif client == "anthropic":
                if obj["type"] == "content_block_start" and obj["content_block"]["type"] == "tool_use":
                    calls[obj["index"]] = [obj["content_block"]["name"], ""]
                elif obj["type"] == "content_block_delta" and obj["delta"]["type"] == "input_json_delta":
                    calls[obj["index"]][1] += obj["delta"]["partial_json"]
                elif obj["type"] == "message_delta":
                    finish = obj["delta"]["stop_reason"]
            else:
                cand = obj["candidates"][0]
                for part in cand.get("content", {}).get("parts", []):
                    if "functionCall" in part:
                        calls[len(calls)] = [part["functionCall"]["name"], json.dumps(part["functionCall"]["args"])]
                finish = cand.get("finishReason") or finish
        return calls, finish

    TOOL_FINISH = {"chat": "tool_calls", "responses": "completed", "anthropic": "tool_use", "gemini": "STOP"}

    def follow_up(self, client, answer, call_id, name, args):
        """The history that answers the call with the result "21 degrees"."""
        if client == "chat":
            return [{"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
                    {"role": "tool", "tool_call_id": call_id, "content": "21 degrees"}]
        if client == "responses":
            items = [dict(i) for i in answer["output"] if i["type"] in ("function_call", "reasoning")]
            return items + [{"type": "function_call_output", "call_id": call_id, "output": "21 degrees"}]
        if client == "anthropic":
            return [{"role": "assistant", "content": answer["content"]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                                  "content": "21 degrees"}]}]
        return [answer["candidates"][0]["content"],
                {"role": "user", "parts": [{"functionResponse": {"name": name, "response": {"output": "21 degrees"}}}]}]

    def test_tool_call_round_trip_every_pair(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                for think in (False, True):
                    with self.subTest(client=client, upstream=up, think=think):
                        model = "to-%s-tools%s" % (up, "+think" if think else "")
                        path, body, hdrs = client_request(client, model, tools=True)
                        r = post(self.d.port, path, body, headers=hdrs)
                        self.assertEqual(r.status, 200, r)
                        answer = r.json()
                        call_id, name, args, finish = self.first_call(client, answer)
                        self.assertEqual(name, "get_weather")
                        self.assertEqual(args.get("city"), "Paris", args)
                        self.assertEqual(finish, self.TOOL_FINISH[client], answer)
                        if client != "gemini":
                            self.assertTrue(call_id, "the client needs a call id")
                        # The round trip: the mock rejects any history its real API would reject.
                        path, body, hdrs = client_request(client, model, tools=True,
                                                          history=self.follow_up(client, answer, call_id, name, args))
                        r2 = post(self.d.port, path, body, headers=hdrs)
                        self.assertEqual(r2.status, 200, "%r\nupstream got: %s" % (r2, self.last_upstream()["body"][:3000]))
                        text = whole_text(client, r2.json())
                        self.assertIn("tool result:", text)
                        self.assertIn("21 degrees", text)

    def test_streamed_tool_calls_every_pair(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                with self.subTest(client=client, upstream=up):
                    model = "to-%s-stools+calls=2+chunks=3" % up
                    path, body, hdrs = client_request(client, model, stream=True, tools=True)
                    r = harness.stream(self.d.port, path, body, headers=hdrs)
                    self.assertEqual(r.status, 200, r)
                    calls, finish = self.stream_calls(client, r.events)
                    self.assertEqual(len(calls), 2, r.body[-3000:])
                    for name, argtext in calls.values():
                        self.assertEqual(name, "get_weather")
                        self.assertEqual(json.loads(argtext).get("city"), "Paris")
                    self.assertEqual(finish, self.TOOL_FINISH[client])
                    if client == "chat":
                        self.assertEqual(sorted(calls), [0, 1], "tool indexes must be 0-based and contiguous")

    # -- Codex's tool kinds ------------------------------------------------------------

    CODEX_TOOLS = [
        {"type": "custom", "name": "apply_patch", "description": "Edit files",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "Agents", "tools": [
            {"type": "function", "name": "spawn_agent", "description": "Spawn", "strict": False,
             "parameters": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]}}]},
        {"type": "web_search", "external_web_access": False},
    ]

    def codex_body(self, model, stream, lite):
        body = {"model": model, "input": [{"role": "user", "content": "patch it"}], "stream": stream,
                "tool_choice": "auto", "store": False}
        if lite:
            body["input"].insert(0, {"type": "additional_tools", "role": "developer", "tools": self.CODEX_TOOLS})
        else:
            body["tools"] = self.CODEX_TOOLS
        return body

    def test_codex_tool_kinds_reach_every_wire_and_come_back(self):
        # Chat has custom tools: apply_patch goes as one (the others take functions only).
        wires = {"chat": lambda b: [t.get("function", t.get("custom"))["name"] for t in b["tools"]],
                 "anth": lambda b: [t["name"] for t in b["tools"]
                                    if not t.get("type", "").startswith("web_search_")],
                 "gem": lambda b: [f["name"] for t in b["tools"] for f in t.get("functionDeclarations", [])]}
        for up, names in wires.items():
            for stream in (False, True):
                for lite in (False, True):
                    with self.subTest(upstream=up, stream=stream, lite=lite):
                        self.mock.clear()
                        body = self.codex_body("to-%s-codex+calls=2" % up, stream, lite)
                        if stream:
                            r = harness.stream(self.d.port, "/v1/responses", body)
                            self.assertEqual(r.status, 200, r)
                            items = [json.loads(ev.data)["item"] for ev in r.events
                                     if json.loads(ev.data)["type"] == "response.output_item.done"]
                        else:
                            r = post(self.d.port, "/v1/responses", body)
                            self.assertEqual(r.status, 200, r)
                            items = r.json()["output"]
                        sent = json.loads(self.last_upstream()["body"])
                        self.assertEqual(names(sent), ["apply_patch", "multi_agent_v1__spawn_agent"])
                        # web_search: Anthropic's own server tool; none beside functions on the others.
                        searches = [t for t in sent["tools"] if t.get("type", "").startswith("web_search_")
                                    or "googleSearch" in t]
                        self.assertEqual(searches, [{"type": "web_search_20250305", "name": "web_search"}]
                                         if up == "anth" else [])
                        by_type = {i["type"]: i for i in items}
                        self.assertEqual(set(by_type), {"custom_tool_call", "function_call"}, items)
                        patch = by_type["custom_tool_call"]
                        # Chat: the mock's custom call; the others: the one-string function's argument.
                        self.assertEqual((patch["name"], patch["input"]),
                                         ("apply_patch", CUSTOM_INPUT if up == "chat" else "Paris"))
                        if up == "chat":
                            self.assertEqual(sent["tools"][0]["type"], "custom")
                            self.assertEqual(sent["tools"][0]["custom"]["format"],
                                             {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}})
                        spawn = by_type["function_call"]
                        self.assertEqual((spawn["namespace"], spawn["name"]), ("multi_agent_v1", "spawn_agent"))
                        self.assertEqual(json.loads(spawn["arguments"]), {"task": "Paris"})
        # web_search has no form on Chat, and none beside functions on Gemini:
        # said per provider (and worker), not per request.
        def warned():
            return re.findall(r"provider (\S+): a client's web_search tool has no form", self.d.log())
        harness.wait_until(lambda: len(set(warned())) == 2, harness.t(30), "a web_search warning per provider")
        for provider in set(warned()):
            self.assertLess(warned().count(provider), 4, "one line per request: %r" % warned())

    # -- Chat clients' custom tools ---------------------------------------------------------

    CHAT_CUSTOM_TOOLS = [
        {"type": "function", "function": {"name": "shell", "description": "Run a command",
                                          "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                                                         "required": ["cmd"]}}},
        {"type": "custom", "custom": {"name": "apply_patch", "description": "Edit files",
                                      "format": {"type": "grammar",
                                                 "grammar": {"syntax": "lark", "definition": "start: /.+/"}}}},
    ]

    def chat_custom_body(self, model, stream, history=None):
        body = {"model": model, "messages": [{"role": "user", "content": "patch it"}] + (history or []),
                "tools": self.CHAT_CUSTOM_TOOLS, "tool_choice": {"type": "custom", "custom": {"name": "apply_patch"}},
                "max_tokens": 64}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def chat_custom_declared(self, up, sent):
        """Checks the custom tool and the forced choice in the upstream's form."""
        if up == "chat":
            self.assertEqual(sent["tools"], self.CHAT_CUSTOM_TOOLS)  # passthrough
            return
        if up == "resp":
            tool = [t for t in sent["tools"] if t.get("name") == "apply_patch"][0]
            self.assertEqual(tool, {"type": "custom", "name": "apply_patch", "description": "Edit files",
                                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}})
            self.assertEqual(sent["tool_choice"], {"type": "custom", "name": "apply_patch"})
            return
        if up == "anth":
            tool = [t for t in sent["tools"] if t["name"] == "apply_patch"][0]
            schema = tool["input_schema"]
            self.assertEqual(sent["tool_choice"]["type"], "tool")
            self.assertEqual(sent["tool_choice"]["name"], "apply_patch")
        else:
            decls = [f for t in sent["tools"] for f in t.get("functionDeclarations", [])]
            tool = [f for f in decls if f["name"] == "apply_patch"][0]
            schema = tool.get("parameters") or tool.get("parametersJsonSchema")
            fcc = sent["toolConfig"]["functionCallingConfig"]
            self.assertEqual((fcc["mode"], fcc["allowedFunctionNames"]), ("ANY", ["apply_patch"]))
        self.assertEqual(tool["description"], "Edit files")
        self.assertEqual(list(schema["properties"]), ["input"])
        self.assertIn("start: /.+/", schema["properties"]["input"]["description"])

    def test_chat_custom_tools_reach_every_wire_and_come_back(self):
        for up in UPSTREAMS:
            # The mock calls a custom tool with CUSTOM_INPUT where the wire has them, and a
            # function's string parameter with "Paris".
            want = CUSTOM_INPUT if up in ("chat", "resp") else "Paris"
            for stream in (False, True):
                with self.subTest(upstream=up, stream=stream):
                    self.mock.clear()
                    model = "to-%s-custom+chunks=4" % up
                    body = self.chat_custom_body(model, stream)
                    if stream:
                        r = harness.stream(self.d.port, "/v1/chat/completions", body)
                        self.assertEqual(r.status, 200, r)
                        call, pieces, finish = {}, [], None
                        for ev in r.events:
                            if ev.data == "[DONE]":
                                continue
                            for ch in json.loads(ev.data).get("choices", []):
                                finish = ch.get("finish_reason") or finish
                                for tc in ch.get("delta", {}).get("tool_calls") or []:
                                    self.assertEqual(tc["index"], 0)
                                    self.assertNotIn("function", tc)
                                    if "id" in tc:
                                        call = {"id": tc["id"], "type": tc["type"], "name": tc["custom"]["name"]}
                                    pieces.append(tc["custom"]["input"])
                        self.assertEqual(call["type"], "custom", r.body[-3000:])
                        self.assertEqual(call["name"], "apply_patch")
                        self.assertEqual("".join(pieces), want)
                        if up != "gem":  # Gemini sends each call whole
                            self.assertGreater(len([p for p in pieces if p]), 1, "input streamed in pieces")
                        call_id = call["id"]
                    else:
                        r = post(self.d.port, "/v1/chat/completions", body)
                        self.assertEqual(r.status, 200, r)
                        choice = r.json()["choices"][0]
                        finish = choice["finish_reason"]
                        calls = choice["message"]["tool_calls"]
                        self.assertEqual(len(calls), 1, calls)
                        self.assertEqual(calls[0]["type"], "custom")
                        self.assertEqual(calls[0]["custom"], {"name": "apply_patch", "input": want})
                        self.assertNotIn("function", calls[0])
                        call_id = calls[0]["id"]
                    self.assertEqual(finish, "tool_calls")
                    self.assertTrue(call_id)
                    self.chat_custom_declared(up, json.loads(self.last_upstream()["body"]))

                    # The round trip: the custom call replayed with its output.
                    history = [{"role": "assistant", "content": None, "tool_calls": [
                        {"id": call_id, "type": "custom", "custom": {"name": "apply_patch", "input": want}}]},
                               {"role": "tool", "tool_call_id": call_id, "content": "patched OK"}]
                    r2 = post(self.d.port, "/v1/chat/completions", self.chat_custom_body(model, False, history))
                    self.assertEqual(r2.status, 200, "%r\nupstream got: %s" % (r2, self.last_upstream()["body"][:3000]))
                    text = r2.json()["choices"][0]["message"]["content"]
                    self.assertIn("tool result:", text)
                    self.assertIn("patched OK", text)
                    sent = json.loads(self.last_upstream()["body"])
                    if up == "resp":
                        kinds = [i.get("type") for i in sent["input"]]
                        self.assertIn("custom_tool_call", kinds)
                        self.assertIn("custom_tool_call_output", kinds)
                        replayed = [i for i in sent["input"] if i.get("type") == "custom_tool_call"][0]
                        self.assertEqual(replayed["input"], want)
                    elif up == "anth":
                        use = [b for m in sent["messages"] if isinstance(m["content"], list)
                               for b in m["content"] if b["type"] == "tool_use"][0]
                        self.assertEqual(use["input"], {"input": want})
                    elif up == "gem":
                        fc = [p["functionCall"] for c in sent["contents"] for p in c["parts"] if "functionCall" in p][0]
                        self.assertEqual(fc["args"], {"input": want})

    def test_codex_tool_search_is_a_function_upstream_and_a_tool_search_call_back(self):
        tool = {"type": "tool_search", "execution": "client", "description": "Find tools",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}
        for up in ("chat", "anth", "gem"):
            for stream in (False, True):
                with self.subTest(upstream=up, stream=stream):
                    self.mock.clear()
                    body = {"model": "to-%s-ts" % up, "input": "find a deploy tool", "tools": [tool],
                            "stream": stream, "store": False}
                    if stream:
                        r = harness.stream(self.d.port, "/v1/responses", body)
                        self.assertEqual(r.status, 200, r)
                        names = [json.loads(ev.data)["type"] for ev in r.events]
                        self.assertNotIn("response.function_call_arguments.delta", names)
                        items = [json.loads(ev.data)["item"] for ev in r.events
                                 if json.loads(ev.data)["type"] == "response.output_item.done"]
                    else:
                        r = post(self.d.port, "/v1/responses", body)
                        self.assertEqual(r.status, 200, r)
                        items = r.json()["output"]
                    sent = self.last_upstream()["body"]
                    self.assertIn('"tool_search"', sent)
                    calls = [i for i in items if i["type"] == "tool_search_call"]
                    self.assertEqual(len(calls), 1, items)
                    self.assertEqual(calls[0]["execution"], "client")
                    self.assertEqual(calls[0]["arguments"], {"query": "Paris"})
                    self.assertTrue(calls[0]["call_id"])

    def test_an_unknown_tool_type_is_a_400_in_the_clients_protocol(self):
        body = {"model": "to-anth-x", "input": "hi", "tools": [{"type": "teleport"}]}
        r = post(self.d.port, "/v1/responses", body)
        self.assertEqual(r.status, 400, r)
        self.assertIn("'teleport'", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [], "nothing went upstream")

    # -- images by URL toward Gemini ------------------------------------------------------

    def serve_files(self, files):
        """A local web server: path -> (status, content type, bytes). Returns its base URL."""
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, ctype, data = files.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return self.serve_http(Handler)

    def test_image_url_is_downloaded_and_inlined_for_gemini(self):
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        web = self.serve_files({"/cat.png": (200, "image/png; charset=binary", png),
                                "/page.html": (200, "text/html", b"<html></html>")})
        body = {"model": "to-gem-img", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": web + "/cat.png"}}]}]}
        r = post(self.d.port, "/v1/chat/completions", body)
        self.assertEqual(r.status, 200, r)
        sent = json.loads(self.last_upstream()["body"])
        parts = sent["contents"][0]["parts"]
        inline = [p for p in parts if "inlineData" in p or "inline_data" in p]
        self.assertEqual(len(inline), 1, parts)
        data = inline[0].get("inlineData") or inline[0].get("inline_data")
        self.assertEqual(data.get("mimeType") or data.get("mime_type"), "image/png")
        self.assertEqual(base64.b64decode(data["data"]), png)

        # A missing image or a page that is not an image: 400 in the client's protocol, nothing sent upstream.
        for path in ("/missing.png", "/page.html"):
            with self.subTest(path=path):
                self.mock.clear()
                body["messages"][0]["content"][1]["image_url"]["url"] = web + path
                err = self.assertOpenAIError(post(self.d.port, "/v1/chat/completions", body), 400)
                self.assertIn(path, err["message"])
                self.assertEqual(self.mock.requests(), [])

    # -- legacy completions, count_tokens -----------------------------------------------------

    def test_legacy_completions(self):
        for up in UPSTREAMS:
            with self.subTest(upstream=up):
                model = "to-%s-legacy+chunks=2" % up
                r = post(self.d.port, "/v1/completions", {"model": model, "prompt": "Once upon", "max_tokens": 20})
                self.assertEqual(r.status, 200, r)
                obj = r.json()
                self.assertEqual(obj["object"], "text_completion")
                self.assertEqual(obj["choices"][0]["text"], harness.expected_text(KEYS[up], model, 2))
                self.assertIn("Once upon", self.last_upstream()["body"])
                s = harness.stream(self.d.port, "/v1/completions",
                                   {"model": model, "prompt": "Once upon", "stream": True})
                self.assertEqual(s.status, 200, s)
                self.assertEqual(s.events[-1].data, "[DONE]")
                text = "".join(json.loads(e.data)["choices"][0]["text"] for e in s.events[:-1]
                               if json.loads(e.data).get("choices"))
                self.assertEqual(text, harness.expected_text(KEYS[up], model, 2))

    def test_count_tokens_across_protocols(self):
        body = {"model": "to-gem-count", "messages": [{"role": "user", "content": "count these words"}]}
        self.mock.clear()
        r = post(self.d.port, "/v1/messages/count_tokens", body, headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json()["input_tokens"], 0)
        rec = self.last_upstream()
        self.assertTrue(rec["path"].endswith(":countTokens"), rec["path"])
        self.assertIn("generateContentRequest", json.loads(rec["body"]))

        # No count endpoint at OpenAI: a local estimate, no upstream call.
        self.mock.clear()
        body["model"] = "to-chat-count"
        r = post(self.d.port, "/v1/messages/count_tokens", body, headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json()["input_tokens"], 0)
        self.assertEqual(self.mock.requests(), [])

        g = post(self.d.port, "/v1beta/models/to-anth-count:countTokens",
                 {"contents": [{"role": "user", "parts": [{"text": "count these words too"}]}]})
        self.assertEqual(g.status, 200, g)
        self.assertGreater(g.json()["totalTokens"], 0)
        self.assertEqual(self.last_upstream()["path"], "/v1/messages/count_tokens")


if __name__ == "__main__":
    harness.main()

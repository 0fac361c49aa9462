#!/usr/bin/env python3
"""JSON a peer controls, through the real daemon: nesting deeper than
server.max_json_depth in every field translation re-serializes (tool
schemas, tool-call arguments, tool results, response schemas), from the
client (400 in the client's protocol) and from the upstream (502, or the
protocol's error event once a stream has begun); invalid UTF-8, lone
surrogate escapes and NUL bytes in a client body. After each case the
daemon must still be serving (a stack overflow used to kill it)."""

import json
import os

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, gemini_provider, get, openai_provider, post)

KEYS = {
    "chat": "sk-chat-limits-key-1a1a1a",
    "resp": "sk-resp-limits-key-2b2b2b",
    "anth": "sk-ant-limits-key-3c3c3c",
    "gem": "AIza-gem-limits-key-4d4d4d",
}
UPSTREAMS = ("chat", "resp", "anth", "gem")
CLIENTS = ("chat", "responses", "anthropic", "gemini")
SAME = {("chat", "chat"), ("responses", "resp"), ("anthropic", "anth"), ("gemini", "gem")}
DEEP = 100000  # the repro: far past any stack
MARK = "__DEEP_VALUE__"


def deep(n, inner="1"):
    """An object nested n levels deep: {"a":{"a":...1...}}."""
    return '{"a":' * n + inner + "}" * n


def with_value(body, text, as_string=False):
    """The JSON text of body with the string MARK replaced by `text` (raw
    JSON, or a JSON string holding it): json.dumps cannot nest 100,000 deep."""
    raw = json.dumps(body)
    assert raw.count('"%s"' % MARK) == 1, raw
    return raw.replace('"%s"' % MARK, json.dumps(text) if as_string else text).encode()


def request_with(client, model, field):
    """(path, body dict with MARK where the deep value goes, headers, MARK is a string)
    for a request whose `field` holds the deep value."""
    hdrs = {"anthropic-version": "2023-06-01"} if client == "anthropic" else {}
    user = {"role": "user", "content": "hi"}
    if client == "chat":
        body = {"model": model, "messages": [user], "max_tokens": 32}
        if field == "parameters":
            body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {
                "type": "object", "properties": {"p": MARK}}}}]
        elif field == "arguments":
            body["messages"] = [user, {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": MARK}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]
        elif field == "tool_result":
            body["messages"] = [user, {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": MARK}]
        elif field == "schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": {
                "type": "object", "properties": {"p": MARK}}}}
        return "/v1/chat/completions", body, hdrs, field in ("arguments", "tool_result")
    if client == "responses":
        body = {"model": model, "input": [user], "max_output_tokens": 32}
        if field == "parameters":
            body["tools"] = [{"type": "function", "name": "f", "parameters": {
                "type": "object", "properties": {"p": MARK}}}]
        elif field == "arguments":
            body["input"] = [user, {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": MARK},
                             {"type": "function_call_output", "call_id": "call_1", "output": "ok"}]
        elif field == "tool_result":
            body["input"] = [user, {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                             {"type": "function_call_output", "call_id": "call_1", "output": MARK}]
        elif field == "schema":
            body["text"] = {"format": {"type": "json_schema", "name": "s", "schema": {
                "type": "object", "properties": {"p": MARK}}}}
        return "/v1/responses", body, hdrs, field in ("arguments", "tool_result")
    if client == "anthropic":
        body = {"model": model, "messages": [user], "max_tokens": 32}
        if field == "parameters":
            body["tools"] = [{"name": "f", "input_schema": {"type": "object", "properties": {"p": MARK}}}]
        elif field == "arguments":
            body["messages"] = [user, {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"p": MARK}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}]
        elif field == "tool_result":
            body["messages"] = [user, {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": MARK}]}]
        elif field == "schema":
            return None
        return "/v1/messages", body, hdrs, field == "tool_result"
    contents = [{"role": "user", "parts": [{"text": "hi"}]}]
    body = {"contents": contents, "generationConfig": {"maxOutputTokens": 32}}
    if field == "parameters":
        body["tools"] = [{"functionDeclarations": [{"name": "f", "parameters": {
            "type": "OBJECT", "properties": {"p": MARK}}}]}]
    elif field == "arguments":
        body["contents"] = contents + [
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"p": MARK}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": "ok"}}}]}]
    elif field == "tool_result":
        body["contents"] = contents + [
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": MARK}}}]}]
    elif field == "schema":
        body["generationConfig"]["responseMimeType"] = "application/json"
        body["generationConfig"]["responseSchema"] = {"type": "OBJECT", "properties": {"p": MARK}}
    return "/v1beta/models/%s:generateContent" % model, body, hdrs, False


def tools_request(client, model, stream):
    """A request offering one tool (the mock answers with a call to it)."""
    hdrs = {"anthropic-version": "2023-06-01"} if client == "anthropic" else {}
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    user = {"role": "user", "content": "weather?"}
    if client == "chat":
        body = {"model": model, "messages": [user], "max_tokens": 32,
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": schema}}]}
        path = "/v1/chat/completions"
    elif client == "responses":
        body = {"model": model, "input": [user], "max_output_tokens": 32,
                "tools": [{"type": "function", "name": "get_weather", "parameters": schema}]}
        path = "/v1/responses"
    elif client == "anthropic":
        body = {"model": model, "messages": [user], "max_tokens": 32,
                "tools": [{"name": "get_weather", "input_schema": schema}]}
        path = "/v1/messages"
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
                "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
                    "type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]}
        op = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return "/v1beta/models/%s:%s" % (model, op), body, hdrs
    if stream:
        body["stream"] = True
    return path, body, hdrs


def stream_error(client, events):
    """(the error object of a streamed answer or None, ended cleanly)."""
    error, clean = None, False
    for ev in events:
        if ev.data == "[DONE]":
            clean = True
            continue
        try:
            obj = json.loads(ev.data)
        except ValueError:
            continue
        if client == "chat" and "error" in obj:
            error = obj["error"]
        elif client == "responses" and obj.get("type") in ("error", "response.failed"):
            error = obj
        elif client == "responses" and obj.get("type") == "response.completed":
            clean = True
        elif client == "anthropic" and obj.get("type") == "error":
            error = obj["error"]
        elif client == "anthropic" and obj.get("type") == "message_stop":
            clean = True
        elif client == "gemini" and "error" in obj:
            error = obj["error"]
        elif client == "gemini" and obj.get("candidates", [{}])[0].get("finishReason"):
            clean = True
    return error, clean


def tool_args(client, obj):
    """The arguments of the first tool call of a whole answer, parsed."""
    if client == "chat":
        return json.loads(obj["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    if client == "responses":
        return json.loads(next(i for i in obj["output"] if i["type"] == "function_call")["arguments"])
    if client == "anthropic":
        return next(b for b in obj["content"] if b["type"] == "tool_use")["input"]
    return next(p for p in obj["candidates"][0]["content"]["parts"] if "functionCall" in p)["functionCall"]["args"]


def depth_of(value):
    d = 0
    while isinstance(value, dict) and value:
        value = next(iter(value.values()))
        d += 1
    return d


class JsonLimitTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.d = self.start_daemon(self.config())

    def config(self, server=None):
        return build_config(self.tmp, server=server, providers=[
            ("chat", openai_provider(self.mock, [KEYS["chat"]], "to-chat-*")),
            ("resp", openai_provider(self.mock, [KEYS["resp"]], "to-resp-*", api="responses")),
            ("anth", anthropic_provider(self.mock, [KEYS["anth"]], "to-anth-*")),
            ("gem", gemini_provider(self.mock, [KEYS["gem"]], "to-gem-*")),
        ])

    def assertClientError(self, client, r, status):
        if client in ("chat", "responses"):
            return self.assertOpenAIError(r, status)
        if client == "anthropic":
            return self.assertAnthropicError(r, status)
        return self.assertGeminiError(r, status)

    def assertServing(self, d=None):
        d = d or self.d
        self.assertTrue(d.alive(), "the daemon died:\n" + d.log()[-3000:])
        self.assertEqual(get(d.port, "/health").status, 200)
        r = post(d.port, "/v1/messages", {"model": "to-chat-alive", "max_tokens": 16,
                                          "messages": [{"role": "user", "content": "hi"}]},
                 headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)

    # -- from the client ----------------------------------------------------------------------

    def test_deep_values_in_a_client_body_are_400_in_its_protocol(self):
        # The body itself nests 100,000 deep: the body scan refuses it, for
        # every pair (translated or not), before any upstream is asked.
        for client in CLIENTS:
            for up in UPSTREAMS:
                for field in ("parameters", "arguments", "tool_result", "schema"):
                    req = request_with(client, "to-%s-deep" % up, field)
                    if req is None:
                        continue
                    path, body, hdrs, _ = req
                    with self.subTest(client=client, upstream=up, field=field):
                        self.mock.clear()
                        r = post(self.d.port, path, with_value(body, deep(DEEP)), headers=hdrs)
                        err = self.assertClientError(client, r, 400)
                        self.assertIn("max_json_depth", err["message"])
                        self.assertEqual(self.mock.requests(), [], "nothing may reach the upstream")
        self.assertServing()

    def test_deep_json_inside_a_string_is_400_when_translated(self):
        # Tool-call arguments (OpenAI: a JSON string) and tool results carried
        # as text are parsed by the translation: nested too deep, the client
        # gets 400, and no credential is tried.
        for client in ("chat", "responses", "anthropic"):
            for up in UPSTREAMS:
                if (client, up) in SAME:
                    continue
                for field in ("arguments", "tool_result"):
                    req = request_with(client, "to-%s-deepstr" % up, field)
                    if req is None or not req[3]:
                        continue
                    path, body, hdrs, _ = req
                    # A tool result is parsed as JSON only toward Gemini (functionResponse.response).
                    if field == "tool_result" and up != "gem":
                        continue
                    with self.subTest(client=client, upstream=up, field=field):
                        self.mock.clear()
                        r = post(self.d.port, path, with_value(body, deep(DEEP), as_string=True), headers=hdrs)
                        err = self.assertClientError(client, r, 400)
                        self.assertIn("max_json_depth", err["message"])
                        self.assertEqual(self.mock.requests(), [])
        self.assertServing()

    def test_the_limit_is_the_configured_one(self):
        mock = self.mock
        d = self.start_daemon(self.config(server={
            "max_json_depth": "32", "pid_file": os.path.join(self.tmp, "agd32.pid"),
            "control_socket": os.path.join(self.tmp, "agd32.sock"),
            "state_dir": os.path.join(self.tmp, "agd32.state")}), name="agd32")
        # Body depth: root 1, tools 2, tool 3, function 4, parameters 5,
        # properties 6, p 7..: a value of depth n under "p" makes 6 + n.
        for client, up in (("chat", "chat"), ("chat", "anth"), ("chat", "gem"), ("anthropic", "resp"),
                           ("gemini", "chat")):
            with self.subTest(client=client, upstream=up):
                path, body, hdrs, _ = request_with(client, "to-%s-lim" % up, "parameters")
                base = {"chat": 6, "anthropic": 5, "gemini": 7}[client]
                n_ok = 32 - base
                ok = with_value(body, deep(n_ok - 1, '{"type":"string"}'))
                r = post(d.port, path, ok, headers=hdrs)
                self.assertEqual(r.status, 200, r)
                bad = with_value(body, deep(n_ok, '{"type":"string"}'))
                r = post(d.port, path, bad, headers=hdrs)
                err = self.assertClientError(client, r, 400)
                self.assertIn("32 levels", err["message"])
        # Arguments inside a string are held to the same limit.
        path, body, hdrs, _ = request_with("chat", "to-anth-lim", "arguments")
        r = post(d.port, path, with_value(body, deep(31), as_string=True), headers=hdrs)
        self.assertEqual(r.status, 200, r)
        sent = json.loads(mock.requests()[-1]["body"])
        self.assertEqual(depth_of(sent["messages"][1]["content"][0]["input"]), 31)
        r = post(d.port, path, with_value(body, deep(33), as_string=True), headers=hdrs)
        self.assertOpenAIError(r, 400)
        self.assertServing(d)

    # -- from the upstream --------------------------------------------------------------------

    def test_deep_tool_arguments_from_the_upstream_are_502(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                if (client, up) in SAME:
                    continue
                with self.subTest(client=client, upstream=up):
                    path, body, hdrs = tools_request(client, "to-%s-deepans+deep_args=%d" % (up, DEEP), False)
                    r = post(self.d.port, path, body, headers=hdrs)
                    err = self.assertClientError(client, r, 502)
                    self.assertIn("max_json_depth", err["message"])
        self.assertServing()

    def test_deep_tool_arguments_in_an_upstream_stream_end_it_with_an_error(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                if (client, up) in SAME:
                    continue
                with self.subTest(client=client, upstream=up):
                    path, body, hdrs = tools_request(client, "to-%s-deepsse+deep_args=%d" % (up, DEEP), True)
                    r = harness.stream(self.d.port, path, body, headers=hdrs)
                    self.assertEqual(r.status, 200, r)
                    error, clean = stream_error(client, r.events)
                    self.assertFalse(clean, r.body[-600:])
                    self.assertIsNotNone(error, r.body[-600:])
                    self.assertIn("max_json_depth", json.dumps(error))
        # A Gemini JSON-array stream has no error event: failed before its
        # first byte, it is answered 502 as a whole; after, it is cut.
        for up in ("chat", "resp", "anth"):
            with self.subTest(client="gemini-array", upstream=up):
                path, body, hdrs = tools_request("gemini", "to-%s-deeparr+deep_args=%d" % (up, DEEP), False)
                path = path.replace(":generateContent", ":streamGenerateContent")
                r = post(self.d.port, path, body, headers=hdrs)
                err = self.assertGeminiError(r, 502)
                self.assertIn("max_json_depth", err["message"])
                model = "to-%s-deeparr2+think+deep_args=%d" % (up, DEEP)
                path, body, hdrs = tools_request("gemini", model, False)
                path = path.replace(":generateContent", ":streamGenerateContent")
                r = post(self.d.port, path, body, headers=hdrs)
                self.assertEqual(r.status, 200, r)
                self.assertIsNotNone(r.error, "a failed array stream must be cut: %r" % r.body[-300:])
        self.assertServing()

    def test_tool_arguments_within_the_limit_pass_every_pair(self):
        for client in CLIENTS:
            for up in UPSTREAMS:
                for stream in (False, True):
                    if stream and client == "gemini":
                        continue  # checked whole below, the SSE form carries the same parts
                    with self.subTest(client=client, upstream=up, stream=stream):
                        path, body, hdrs = tools_request(client, "to-%s-okargs+deep_args=100" % up, stream)
                        if not stream:
                            r = post(self.d.port, path, body, headers=hdrs)
                            self.assertEqual(r.status, 200, r)
                            self.assertEqual(depth_of(tool_args(client, r.json())), 100)
                        else:
                            r = harness.stream(self.d.port, path, body, headers=hdrs)
                            error, clean = stream_error(client, r.events)
                            self.assertIsNone(error, r.body[-600:])
                            self.assertTrue(clean, r.body[-600:])
        self.assertServing()

    # -- bytes --------------------------------------------------------------------------------

    def test_invalid_utf8_and_nul_in_a_client_body_are_400(self):
        bad = [
            (b"caf\xe9", "UTF-8"),            # Latin-1, not UTF-8
            (b"\xc0\xaf", "UTF-8"),           # overlong
            (b"\xed\xa0\x80", "UTF-8"),       # a surrogate encoded
            (b"\\udc00", "UTF-8"),            # a lone low surrogate escape
            (b"\\ud800x", "surrogate"),       # a lone high surrogate escape
            (b"a\x00b", "NUL"),               # a raw NUL byte
        ]
        for client in CLIENTS:
            for up in ("chat", "anth") if client != "anthropic" else ("anth", "gem"):
                path, body, hdrs, _ = request_with(client, "to-%s-bytes" % up, None)
                raw = json.dumps(body)
                target = '"hi"'
                for text, why in bad:
                    with self.subTest(client=client, upstream=up, text=text):
                        self.mock.clear()
                        data = raw.replace(target, '"' + text.decode("latin-1") + '"', 1).encode("latin-1")
                        r = post(self.d.port, path, data, headers=hdrs)
                        err = self.assertClientError(client, r, 400)
                        self.assertIn(why, err["message"])
                        self.assertEqual(self.mock.requests(), [])
                # Valid UTF-8, escaped or not, and an escaped NUL, reach the upstream as valid JSON.
                with self.subTest(client=client, upstream=up, text="valid"):
                    self.mock.clear()
                    data = raw.replace(target, '"caf\u00e9 \\u00e9 \\ud83d\\ude00 \U0001F600 a\\u0000b"', 1)
                    r = post(self.d.port, path, data.encode("utf-8"), headers=hdrs)
                    self.assertEqual(r.status, 200, r)
                    rec = self.mock.requests()[-1]
                    sent = json.loads(rec["body"])
                    self.assertIn("caf\u00e9 \u00e9 \U0001F600 \U0001F600 a\\u0000b", json.dumps(sent, ensure_ascii=False))
        self.assertServing()


if __name__ == "__main__":
    harness.main()

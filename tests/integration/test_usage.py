#!/usr/bin/env python3
"""Usage from every answer: for each client protocol against each upstream
wire, streamed and not, passthrough and translated, the record (the access
line) carries the upstream's exact token numbers; a stream cut before its
usage says so; a Chat stream's usage is asked for the client and its chunk
never shown."""

import http.server
import json

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider,
                     parse_access, post, stream)

PK = "sk-proj-PROVIDER-7c1e9f2a44d0b3"
CHUNKS = 3

# Client protocols: how to ask, streamed or not.
CLIENTS = ["chat", "responses", "anthropic", "gemini"]
# Upstream wires, chosen by the model's prefix.
WIRES = {"chat": "gpt-u", "responses": "resp-u", "anthropic": "claude-u", "gemini": "gemini-u"}


def ask(port, client, model, streamed):
    text = [{"role": "user", "content": "say something about usage"}]
    if client == "chat":
        body = {"model": model, "messages": text, "stream": streamed}
        return (stream if streamed else post)(port, "/v1/chat/completions", body)
    if client == "responses":
        body = {"model": model, "input": "say something about usage", "stream": streamed}
        return (stream if streamed else post)(port, "/v1/responses", body)
    if client == "anthropic":
        body = {"model": model, "max_tokens": 64, "messages": text, "stream": streamed}
        return (stream if streamed else post)(port, "/v1/messages", body, {"anthropic-version": "2023-06-01"})
    body = {"contents": [{"role": "user", "parts": [{"text": "say something about usage"}]}]}
    if streamed:
        return stream(port, "/v1beta/models/%s:streamGenerateContent?alt=sse" % model, body)
    return post(port, "/v1beta/models/%s:generateContent" % model, body)


class UsageTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.d = self.start_daemon(build_config(self.tmp, providers=[
            ("oa", openai_provider(self.mock, [PK], "gpt-*")),
            ("or", openai_provider(self.mock, [PK], "resp-*", api="responses")),
            ("an", anthropic_provider(self.mock, [PK], "claude-*")),
            ("ge", gemini_provider(self.mock, [PK], "gemini-*")),
        ]))

    def last_access(self, n):
        return parse_access(self.d.wait_access_lines(n)[-1])

    def test_exact_tokens_for_every_pair_streamed_and_not(self):
        n = 0
        for client in CLIENTS:
            for wire, prefix in WIRES.items():
                for streamed in (False, True):
                    with self.subTest(client=client, wire=wire, stream=streamed):
                        self.mock.clear()
                        model = "%s+chunks=%d" % (prefix, CHUNKS)
                        r = ask(self.d.port, client, model, streamed)
                        self.assertEqual(r.status, 200, r)
                        n += 1
                        up = self.mock.requests()[-1]
                        prompt = max(1, len(up["body"].encode()) // 4)
                        a = self.last_access(n)
                        self.assertEqual(a["usage"], "reported", a)
                        self.assertEqual(a["in"], str(prompt), a)
                        self.assertEqual(a["out"], str(CHUNKS), a)
                        self.assertNotEqual(a["ttft_ms"], "-1", a)

    def test_gemini_json_array_stream_passthrough(self):
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        r = post(self.d.port, "/v1beta/models/gemini-a+chunks=4:streamGenerateContent", body)
        self.assertEqual(r.status, 200, r)
        up = self.mock.requests()[-1]
        a = self.last_access(1)
        self.assertEqual(a["usage"], "reported")
        self.assertEqual((a["in"], a["out"]), (str(max(1, len(up["body"].encode()) // 4)), "4"))

    def test_cache_and_reasoning_figures(self):
        # cached=N: N prompt tokens read from cache; think: 5 reasoning tokens.
        cases = [("gpt-c+chunks=2+cached=40+think", "chat"), ("resp-c+chunks=2+cached=40+think", "responses"),
                 ("claude-c+chunks=2+cached=40", "anthropic"), ("gemini-c+chunks=2+cached=40+think", "gemini")]
        for i, (model, client) in enumerate(cases, start=1):
            with self.subTest(model=model):
                r = ask(self.d.port, client, model, False)
                self.assertEqual(r.status, 200, r)
                a = self.last_access(i)
                self.assertEqual(a["cache_read"], "40", a)
                self.assertGreaterEqual(int(a["in"]), 40, a)
                if "think" in model:
                    self.assertEqual(a["reasoning"], "5", a)
                    self.assertEqual(a["out"], "7", a)

    def test_stream_cut_before_usage_is_recorded_as_cut(self):
        r = stream(self.d.port, "/v1/messages",
                   {"model": "claude-x+chunks=6+reset_after=2", "max_tokens": 64, "stream": True,
                    "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200)
        a = self.last_access(1)
        self.assertEqual(a["usage"], "cut", a)
        # message_start carried the input figure: it was spent, and is kept.
        self.assertNotEqual(a["in"], "-", a)
        r = stream(self.d.port, "/v1/chat/completions",
                   {"model": "gpt-x+chunks=6+reset_after=2", "stream": True,
                    "messages": [{"role": "user", "content": "hi"}]})
        a = self.last_access(2)
        self.assertEqual(a["usage"], "cut", a)
        self.assertEqual(a["in"], "-", a)

    def test_local_answers_and_errors_carry_no_usage(self):
        post(self.d.port, "/v1/messages/count_tokens",
             {"model": "claude-a", "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "2023-06-01"})
        post(self.d.port, "/v1/chat/completions", {"model": "nobody-serves-this", "messages": []})
        for a in map(parse_access, self.d.wait_access_lines(2)):
            self.assertNotIn("usage", a)


class SpacedUpstreamTests(AgdTestCase):
    """An OpenAI-compatible upstream that writes JSON with spaces."""

    def test_asked_usage_chunk_is_dropped_whatever_the_upstream_spacing(self):
        # Python servers write JSON with ", " and ": " (json.dumps): the usage
        # chunk asked for the client is `"choices": []`; the client, which did
        # not ask for it, must not see it (clients read choices[0]).
        chunks = [{"id": "c1", "object": "chat.completion.chunk", "model": "spaced",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}],
                   "usage": None},
                  {"id": "c1", "object": "chat.completion.chunk", "model": "spaced",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
                  {"id": "c1", "object": "chat.completion.chunk", "model": "spaced", "choices": [],
                   "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}]
        sse = "".join("data: %s\n\n" % json.dumps(c) for c in chunks) + "data: [DONE]\n\n"

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                data = sse.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        base = self.serve_http(Handler)
        d = self.start_daemon(build_config(self.tmp, providers=[("py", openai_provider(base, [PK], "spaced"))]))
        r = stream(d.port, "/v1/chat/completions",
                   {"model": "spaced", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.events[-1].data, "[DONE]")
        self.assertTrue(all(e.json()["choices"] for e in r.events[:-1]), r.body)
        a = parse_access(d.wait_access_lines(1)[-1])
        self.assertEqual((a["usage"], a["in"], a["out"]), ("reported", "11", "2"), a)
        self.assertEqual(int(a["bytes_out"]), len(r.body))


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Endpoints: local ones (health, model lists), same-protocol passthrough for
the four client APIs (with byte-for-byte fidelity checked through the mock's
request log), errors in the client's protocol (404 / 400), and the access log line.
Translation between protocols is tested in test_translation.py."""

import http.client
import json

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, fingerprint, gemini_provider,
                     get, openai_provider, parse_access, post, t, wait_until)

KEY_OA = "sk-oa-provider-key-1f2e3d4c5b6a"
KEY_RS = "sk-rs-provider-key-9a8b7c6d5e4f"
KEY_AN = "sk-ant-provider-key-77aa88bb99cc"
KEY_GE = "AIza-gemini-provider-key-0011223344"
CLIENT_KEY = "gw-client-key-5d5d5d5d5d5d"


class EndpointTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.d = self.start_daemon(self.config())

    def config(self, auth=None):
        return build_config(
            self.tmp,
            auth=auth or {"mode": "off"},
            providers=[
                ("oa", openai_provider(self.mock, [KEY_OA], "gpt-4o, gpt-*, fast=gpt-real")),
                ("rs", openai_provider(self.mock, [KEY_RS], "resp-model, resp-*", api="responses")),
                ("an", anthropic_provider(self.mock, [KEY_AN],
                                          "claude-sonnet, claude-*, sonnet=claude-real")),
                ("ge", gemini_provider(self.mock, [KEY_GE], "gemini-pro, gemini-*, gem=gemini-real")),
            ])

    def restart_strict(self):
        """Same providers, auth strict with CLIENT_KEY."""
        self.stop_daemon(self.d)
        self.d = self.start_daemon(self.config({"mode": "strict", "key": CLIENT_KEY}), name="strict")

    def only_request(self):
        reqs = self.mock.requests()
        self.assertEqual(len(reqs), 1, "want exactly one upstream request, got %r" % reqs)
        return reqs[0]

    # -- local endpoints -----------------------------------------------------------

    def test_health_endpoints(self):
        for path in ("/health", "/healthz", "/api/hello"):
            r = get(self.d.port, path)
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header("content-type", "").startswith("application/json"), r.headers)
            self.assertIsInstance(r.json(), dict)
        # Claude Code's warm-up: HEAD, no key.
        r = harness.request(self.d.port, "HEAD", "/api/hello")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.mock.stats()["requests"], 0, "health must not contact an upstream")

    def test_openai_model_list(self):
        r = get(self.d.port, "/v1/models")
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        self.assertEqual(obj.get("object"), "list", obj)
        ids = [m["id"] for m in obj["data"]]
        for want in ("gpt-4o", "fast", "resp-model", "claude-sonnet", "sonnet", "gemini-pro", "gem"):
            self.assertIn(want, ids)
        for m in obj["data"]:
            self.assertEqual(m.get("object"), "model", m)
        self.assertEqual(self.mock.stats()["requests"], 0)

    def test_anthropic_model_list(self):
        r = get(self.d.port, "/v1/models", headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        self.assertNotIn("object", obj, "Anthropic form has no object:list")
        self.assertIs(obj.get("has_more"), False, obj)
        ids = [m["id"] for m in obj["data"]]
        self.assertIn("claude-sonnet", ids)
        self.assertIn("gpt-4o", ids)
        for m in obj["data"]:
            self.assertEqual(m.get("type"), "model", m)
        self.assertEqual(obj.get("first_id"), ids[0])
        self.assertEqual(obj.get("last_id"), ids[-1])

    def test_get_one_model(self):
        r = get(self.d.port, "/v1/models/gpt-4o")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("id"), "gpt-4o")
        self.assertEqual(r.json().get("object"), "model")
        # Served through a glob pattern.
        r = get(self.d.port, "/v1/models/gpt-anything")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("id"), "gpt-anything")
        r = get(self.d.port, "/v1/models/claude-sonnet", headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("type"), "model")
        self.assertEqual(r.json().get("id"), "claude-sonnet")

    def test_get_unknown_model(self):
        self.assertOpenAIError(get(self.d.port, "/v1/models/no-such-model"), 404, code="model_not_found")
        self.assertAnthropicError(get(self.d.port, "/v1/models/no-such-model",
                                      headers={"anthropic-version": "2023-06-01"}),
                                  404, "not_found_error")
        self.assertGeminiError(get(self.d.port, "/v1beta/models/no-such-model"), 404, "NOT_FOUND")

    def test_gemini_model_list_and_get(self):
        r = get(self.d.port, "/v1beta/models")
        self.assertEqual(r.status, 200, r)
        names = [m["name"] for m in r.json()["models"]]
        self.assertIn("models/gemini-pro", names)
        self.assertIn("models/gpt-4o", names)
        r = get(self.d.port, "/v1beta/models/gemini-pro")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("name"), "models/gemini-pro")

    def test_unknown_path(self):
        self.assertOpenAIError(get(self.d.port, "/v1/no/such/endpoint"), 404)
        self.assertOpenAIError(post(self.d.port, "/v1/completions-nope", {"model": "gpt-4o"}), 404)
        self.assertGeminiError(get(self.d.port, "/v1beta/nothing-here"), 404)

    # -- OpenAI Chat passthrough --------------------------------------------------------

    def test_a_responses_websocket_of_another_version_is_told_the_version(self):
        """The WebSocket transport itself is test_websocket.py's; here: a
        handshake of another version gets 426 naming 13 (RFC 6455 §4.4), a
        bad key 400, and a plain GET stays a 405."""
        ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "OpenAI-Beta": "responses_websockets=2026-02-06"}
        r = harness.request(self.d.port, "GET", "/v1/responses", headers=ws)
        self.assertEqual(r.status, 426, r)
        self.assertEqual(r.header("Sec-WebSocket-Version"), "13")
        self.assertEqual(r.json()["error"]["code"], "upgrade_required")
        ws["Sec-WebSocket-Version"] = "13"
        ws["Sec-WebSocket-Key"] = "short"
        r = harness.request(self.d.port, "GET", "/v1/responses", headers=ws)
        self.assertEqual(r.status, 400, r)
        self.assertIn("Sec-WebSocket-Key", r.json()["error"]["message"])
        r = harness.request(self.d.port, "GET", "/v1/responses")
        self.assertEqual(r.status, 405, r)
        # The connection still serves a request after the refused upgrade.
        r = harness.request(self.d.port, "GET", "/health")
        self.assertEqual(r.status, 200, r)

    def test_chat_passthrough_is_byte_exact(self):
        self.restart_strict()
        # Odd spacing, key order, escapes, non-ASCII and unknown fields: all
        # must reach the provider exactly as sent.
        body = ('{ "messages" : [ {"role":"user","content":"h\\u00e9llo \u20ac \\"q\\" \\n"} ],\n'
                '  "model":"gpt-4o",\t"temperature": 0.50, "x_vendor_field": {"nested": [1, 2.0, null, true]} }'
                ).encode("utf-8")
        r = post(self.d.port, "/v1/chat/completions", body, headers={
            "Authorization": "Bearer " + CLIENT_KEY,
            "Connection": "keep-alive, X-Hop-Test",
            "X-Hop-Test": "must-not-pass",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic dXNlcjpwYXNz",
            "Proxy-Connection": "keep-alive",
        })
        self.assertEqual(r.status, 200, r)
        answer = r.json()
        self.assertEqual(answer["object"], "chat.completion")
        self.assertEqual(answer["choices"][0]["message"]["content"],
                         harness.expected_text(KEY_OA, "gpt-4o", 3))
        rec = self.only_request()
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["path"], "/v1/chat/completions")
        self.assertEqual(rec["body"].encode("utf-8"), body, "forwarded body differs")
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + KEY_OA)
        self.assertEqual(rec["credential"], KEY_OA)
        for hop in ("keep-alive", "te", "proxy-authorization", "proxy-connection", "x-hop-test",
                    "x-api-key", "x-goog-api-key", "upgrade", "trailer"):
            self.assertNotIn(hop, rec["headers"], "header %s forwarded upstream" % hop)
        self.assertNotIn("x-hop-test", rec["headers"].get("connection", "").lower())
        dumped = json.dumps(rec)
        self.assertNotIn(CLIENT_KEY, dumped, "the client's key reached the provider")
        self.assertNotIn("dXNlcjpwYXNz", dumped)

    def test_chat_rename_changes_only_the_model(self):
        body = (b'{"model":"fast","messages":[{"role":"user","content":"the model is fast"}],'
                b'"metadata":{"model":"fast"}}')
        r = post(self.d.port, "/v1/chat/completions", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"],
                         harness.expected_text(KEY_OA, "gpt-real", 3))
        rec = self.only_request()
        want = b'{"model":"gpt-real","messages":[{"role":"user","content":"the model is fast"}],' \
               b'"metadata":{"model":"fast"}}'
        self.assertEqual(rec["body"].encode(), want)

    def test_chat_rename_model_not_first_field(self):
        body = b'{"messages":[],"stream":false,  "model" :  "fast" ,"n":1}'
        r = post(self.d.port, "/v1/chat/completions", body)
        self.assertEqual(r.status, 200, r)
        rec = self.only_request()
        self.assertEqual(rec["body"].encode(), b'{"messages":[],"stream":false,  "model" :  "gpt-real" ,"n":1}')

    def test_rename_ignores_nested_model_keys_and_decodes_escapes(self):
        # A nested "model" comes first; the top-level one is written with a
        # JSON escape ("f\u0061st" is "fast"): only the top-level value is
        # replaced, escapes and all.
        body = b'{"metadata":{"model":"fast","tags":["model"]},"model":"f\\u0061st","messages":[]}'
        r = post(self.d.port, "/v1/chat/completions", body)
        self.assertEqual(r.status, 200, r)
        self.assertIn("model=gpt-real;", r.json()["choices"][0]["message"]["content"])
        self.assertEqual(self.only_request()["body"].encode(),
                         b'{"metadata":{"model":"fast","tags":["model"]},"model":"gpt-real","messages":[]}')

    def test_keep_alive_connection_serves_several_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=harness.t(60))
        self.addCleanup(conn.close)
        bodies = [
            {"model": "gpt-4o", "messages": []},
            {"model": "gpt-4o+chunks=4", "stream": True, "messages": []},
            {"model": "nobody", "messages": []},
            {"model": "gpt-4o+chunks=2", "messages": []},
        ]
        statuses = []
        for b in bodies:
            conn.request("POST", "/v1/chat/completions", body=json.dumps(b),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            statuses.append(r.status)
            if b.get("stream"):
                events, _ = harness.parse_sse(data)
                self.assertEqual(events[-1].data, "[DONE]")
        self.assertEqual(statuses, [200, 200, 404, 200])
        self.assertEqual(len(self.mock.requests()), 3)

    def test_pipelined_requests_are_answered_in_order(self):
        # Two requests in one write, the first one relayed upstream (the
        # connection is paused meanwhile), the second one local.
        body = b'{"model":"gpt-4o+chunks=2","messages":[]}'
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body +
                b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        sock = harness.connect(self.d.port)
        self.addCleanup(sock.close)
        sock.sendall(data)
        raw = harness.recv_all(sock)
        first = harness.parse_http_response(raw)
        self.assertEqual(first.status, 200, first)
        self.assertIsNone(first.error)
        self.assertIn("cred=%s;" % KEY_OA, first.json()["choices"][0]["message"]["content"])
        head_end = raw.index(b"\r\n\r\n") + 4
        second_raw = raw[head_end + int(first.header("content-length")):]
        second = harness.parse_http_response(second_raw)
        self.assertEqual(second.status, 200, second)
        self.assertIsInstance(second.json(), dict)

    def test_request_pipelined_while_the_first_waits_upstream(self):
        # The second request arrives while the first is paused on the
        # upstream (the client connection keeps reading meanwhile): it waits
        # unparsed, and is answered after the first, in order.
        body = b'{"model":"gpt-4o+delay=300ms","messages":[]}'
        first = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
        second = b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
        sock = harness.connect(self.d.port)
        self.addCleanup(sock.close)
        self.mock.clear()
        sock.sendall(first)
        wait_until(lambda: len(self.mock.requests()) == 1, t(10), "the first request to reach the mock")
        sock.sendall(second)
        raw = harness.recv_all(sock)
        one = harness.parse_http_response(raw)
        self.assertEqual(one.status, 200, one)
        self.assertIn("cred=%s;" % KEY_OA, one.json()["choices"][0]["message"]["content"])
        head_end = raw.index(b"\r\n\r\n") + 4
        two = harness.parse_http_response(raw[head_end + int(one.header("content-length")):])
        self.assertEqual(two.status, 200, two)
        self.assertEqual(two.json().get("status"), "ok", two)

    def test_large_response_body(self):
        size = 3 * 1024 * 1024
        r = post(self.d.port, "/v1/chat/completions", {"model": "gpt-4o+size=%d" % size, "messages": []})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.error)
        self.assertEqual(int(r.header("content-length")), len(r.body))
        text = r.json()["choices"][0]["message"]["content"]
        self.assertEqual(len(text), size)
        self.assertTrue(text.startswith(harness.expected_text(KEY_OA, "gpt-4o+size=%d" % size, 3)))

    def test_upstream_response_headers_relayed(self):
        r = post(self.d.port, "/v1/chat/completions", {"model": "gpt-4o", "messages": []})
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.header("x-request-id", ""), r"^req_mock\d+$")
        r = post(self.d.port, "/v1/messages", {"model": "claude-sonnet", "max_tokens": 1, "messages": []})
        self.assertRegex(r.header("request-id", ""), r"^req_mock\d+$")

    def test_upstream_client_error_is_relayed_not_retried(self):
        # 400 from the provider is the client's fault: relayed, one attempt.
        r = post(self.d.port, "/v1/chat/completions", {"model": "gpt-4o+status=400", "messages": []})
        self.assertOpenAIError(r, 400)
        self.assertEqual(len(self.mock.requests()), 1)

    # -- OpenAI Responses ----------------------------------------------------------------

    def test_responses_passthrough(self):
        body = b'{"model":"resp-model","input":"hello","store":false}'
        r = post(self.d.port, "/v1/responses", body)
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        self.assertEqual(obj["object"], "response")
        self.assertEqual(obj["status"], "completed")
        text = obj["output"][0]["content"][0]["text"]
        self.assertEqual(text, harness.expected_text(KEY_RS, "resp-model", 3))
        rec = self.only_request()
        self.assertEqual(rec["path"], "/v1/responses")
        self.assertEqual(rec["body"].encode(), body)
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + KEY_RS)

    # -- Anthropic -------------------------------------------------------------------------

    def test_anthropic_passthrough_headers(self):
        self.restart_strict()
        body = b'{"model":"claude-sonnet","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
        r = post(self.d.port, "/v1/messages", body, headers={
            "x-api-key": CLIENT_KEY,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "interleaved-thinking-2025-05-14",
        })
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        self.assertEqual(obj["type"], "message")
        self.assertEqual(obj["content"][0]["text"], harness.expected_text(KEY_AN, "claude-sonnet", 3))
        rec = self.only_request()
        self.assertEqual(rec["path"], "/v1/messages")
        self.assertEqual(rec["body"].encode(), body)
        self.assertEqual(rec["headers"].get("x-api-key"), KEY_AN)
        self.assertEqual(rec["headers"].get("anthropic-version"), "2023-06-01")
        self.assertEqual(rec["headers"].get("anthropic-beta"), "interleaved-thinking-2025-05-14")
        self.assertNotIn("authorization", rec["headers"])
        self.assertNotIn(CLIENT_KEY, json.dumps(rec))

    def test_anthropic_version_is_supplied(self):
        body = b'{"model":"claude-sonnet","max_tokens":8,"messages":[]}'
        r = post(self.d.port, "/v1/messages", body)
        self.assertEqual(r.status, 200, r)
        rec = self.only_request()
        self.assertTrue(rec["headers"].get("anthropic-version"), rec["headers"])
        self.assertEqual(rec["headers"].get("x-api-key"), KEY_AN)

    def test_anthropic_rename(self):
        body = b'{"model":"sonnet","max_tokens":8,"messages":[]}'
        r = post(self.d.port, "/v1/messages", body, headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["content"][0]["text"], harness.expected_text(KEY_AN, "claude-real", 3))
        self.assertEqual(self.only_request()["body"].encode(),
                         b'{"model":"claude-real","max_tokens":8,"messages":[]}')

    def test_anthropic_count_tokens(self):
        body = b'{"model":"claude-sonnet","messages":[{"role":"user","content":"count these tokens please"}]}'
        r = post(self.d.port, "/v1/messages/count_tokens", body, headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"input_tokens": max(1, len(body) // 4)})
        rec = self.only_request()
        self.assertEqual(rec["path"], "/v1/messages/count_tokens")
        self.assertEqual(rec["body"].encode(), body)

    # -- Gemini ------------------------------------------------------------------------------

    def test_gemini_generate_content(self):
        self.restart_strict()
        body = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0.1}}'
        r = post(self.d.port, "/v1beta/models/gemini-pro:generateContent?key=" + CLIENT_KEY, body)
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        self.assertEqual(obj["candidates"][0]["content"]["parts"][0]["text"],
                         harness.expected_text(KEY_GE, "gemini-pro", 3))
        rec = self.only_request()
        self.assertEqual(rec["path"], "/v1beta/models/gemini-pro:generateContent")
        self.assertEqual(rec["body"].encode(), body)
        self.assertEqual(rec["headers"].get("x-goog-api-key"), KEY_GE)
        self.assertNotIn("key=", rec["query"])
        self.assertNotIn(CLIENT_KEY, json.dumps(rec))

    def test_gemini_client_key_header_not_forwarded(self):
        self.restart_strict()
        body = b'{"contents":[]}'
        r = post(self.d.port, "/v1beta/models/gemini-pro:generateContent", body,
                 headers={"x-goog-api-key": CLIENT_KEY})
        self.assertEqual(r.status, 200, r)
        rec = self.only_request()
        self.assertEqual(rec["headers"].get("x-goog-api-key"), KEY_GE)
        self.assertNotIn(CLIENT_KEY, json.dumps(rec))

    def test_gemini_rename_goes_into_the_path(self):
        body = b'{"contents":[]}'
        r = post(self.d.port, "/v1beta/models/gem:generateContent", body)
        self.assertEqual(r.status, 200, r)
        rec = self.only_request()
        self.assertEqual(rec["path"], "/v1beta/models/gemini-real:generateContent")
        self.assertEqual(rec["body"].encode(), body)

    def test_gemini_count_tokens(self):
        body = b'{"contents":[{"parts":[{"text":"a few words to count"}]}]}'
        r = post(self.d.port, "/v1beta/models/gemini-pro:countTokens", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"totalTokens": max(1, len(body) // 4)})
        self.assertEqual(self.only_request()["path"], "/v1beta/models/gemini-pro:countTokens")

    # -- errors in the client's protocol ----------------------------------------------------

    def test_unknown_model_is_404_per_protocol(self):
        err = self.assertOpenAIError(post(self.d.port, "/v1/chat/completions",
                                          {"model": "nobody-serves-this", "messages": []}),
                                     404, code="model_not_found")
        self.assertIn("nobody-serves-this", err["message"])
        self.assertOpenAIError(post(self.d.port, "/v1/responses", {"model": "nobody-serves-this", "input": ""}),
                               404, code="model_not_found")
        self.assertAnthropicError(post(self.d.port, "/v1/messages",
                                       {"model": "nobody-serves-this", "max_tokens": 1, "messages": []}),
                                  404, "not_found_error")
        self.assertGeminiError(post(self.d.port, "/v1beta/models/nobody-serves-this:generateContent",
                                    {"contents": []}), 404, "NOT_FOUND")
        self.assertGeminiError(post(self.d.port, "/v1beta/models/nobody-serves-this:streamGenerateContent?alt=sse",
                                    {"contents": []}), 404, "NOT_FOUND")
        self.assertEqual(self.mock.requests(), [])

    def test_malformed_json_is_400_per_protocol(self):
        bad = b'{"model": "gpt-4o", "messages": [ '
        self.assertOpenAIError(post(self.d.port, "/v1/chat/completions", bad), 400, etype="invalid_request_error")
        self.assertOpenAIError(post(self.d.port, "/v1/responses", b'{"model":"resp-model",}'), 400)
        self.assertAnthropicError(post(self.d.port, "/v1/messages", b'{"model":"claude-sonnet"'),
                                  400, "invalid_request_error")
        self.assertAnthropicError(post(self.d.port, "/v1/messages/count_tokens", b'nope'),
                                  400, "invalid_request_error")
        self.assertGeminiError(post(self.d.port, "/v1beta/models/gemini-pro:generateContent", b'{"contents":'),
                               400, "INVALID_ARGUMENT")
        self.assertGeminiError(post(self.d.port, "/v1beta/models/gemini-pro:countTokens", b'[1,2'),
                               400, "INVALID_ARGUMENT")
        self.assertEqual(self.mock.requests(), [])

    def test_not_an_object_or_no_model_is_400(self):
        self.assertOpenAIError(post(self.d.port, "/v1/chat/completions", b'[{"model":"gpt-4o"}]'), 400)
        self.assertOpenAIError(post(self.d.port, "/v1/chat/completions", b'{"messages":[]}'), 400)
        self.assertOpenAIError(post(self.d.port, "/v1/chat/completions", b''), 400)
        self.assertAnthropicError(post(self.d.port, "/v1/messages", b'{"model":42,"max_tokens":1}'), 400)
        self.assertEqual(self.mock.requests(), [])

    # -- access log ------------------------------------------------------------------------------

    def test_access_log_line(self):
        body = b'{"model":"fast","messages":[{"role":"user","content":"log me"}]}'
        r = post(self.d.port, "/v1/chat/completions", body)
        self.assertEqual(r.status, 200, r)
        lines = self.d.wait_access_lines(1)
        a = parse_access(lines[-1])
        self.assertEqual(a["status"], "200")
        self.assertEqual(a["proto"], "openai-chat")
        self.assertEqual(a["path"], "/v1/chat/completions")
        self.assertEqual(a["method"], "POST")
        self.assertEqual(a["model"], "fast")
        self.assertEqual(a["model_sent"], "gpt-real")
        self.assertEqual(a["provider"], "oa")
        self.assertEqual(a["cred"], fingerprint(KEY_OA))
        self.assertRegex(a["cred"], r"^[0-9a-f]{8}$")
        self.assertEqual(a["attempts"], "1")
        self.assertEqual(a["upstream_status"], "200")
        self.assertEqual(int(a["bytes_in"]), len(body))
        self.assertEqual(int(a["bytes_out"]), len(r.body))
        self.assertRegex(a["ttfb_ms"], r"^\d+(\.\d+)?$")
        self.assertRegex(a["total_ms"], r"^\d+(\.\d+)?$")
        self.assertTrue(a["id"])
        self.assertEqual(a["addr"], "127.0.0.1")

    def test_access_log_for_local_and_error_answers(self):
        get(self.d.port, "/health")
        post(self.d.port, "/v1/messages", {"model": "nobody", "max_tokens": 1, "messages": []})
        lines = self.d.wait_access_lines(2)
        statuses = sorted(parse_access(l)["status"] for l in lines)
        self.assertEqual(statuses, ["200", "404"])
        err_line = [parse_access(l) for l in lines if parse_access(l)["status"] == "404"][0]
        self.assertEqual(err_line["proto"], "anthropic")
        self.assertEqual(err_line["model"], "nobody")
        self.assertEqual(err_line["attempts"], "0")

    def test_ready_log_line_names_the_port(self):
        self.d.wait_log(r"listening on 127\.0\.0\.1:%d\b" % self.d.port)
        status = self.d.ready_message.get("STATUS", "")
        self.assertIn("127.0.0.1:%d" % self.d.port, status)
        self.assertRegex(status, r"generation 1\b")


if __name__ == "__main__":
    harness.main()

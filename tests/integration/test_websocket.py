#!/usr/bin/env python3
"""The Responses API over a WebSocket (GET /v1/responses upgraded, as Codex
uses it with supports_websockets): response.create messages in, the SSE
stream's events out as text frames, against every upstream wire;
previous_response_id within the connection; warm-ups; errors as Codex reads
them; the key, address and client limits checked per message, one request
record per message; and the framing edge cases (fragments, ping/pong,
close codes, oversized, binary and unmasked frames)."""

import json
import signal
import socket
import struct

import harness
import ws_client
from harness import (AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, parse_access,
                     t, wait_until)
from ws_client import BINARY, CLOSE, CONT, PING, PONG, TEXT, HandshakeRefused, WsClient

KEY = "gw-ws-CLIENT-5a5a5a5a5a"
OTHER = "gw-ws-OTHER-6b6b6b6b6b"
MODELS = [("gpt-r1", "/v1/responses"), ("gpt-c1", "/v1/chat/completions"), ("claude-x", "/v1/messages"),
          ("gemini-x", "/v1beta/models/gemini-x:streamGenerateContent")]
TOOLS = [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]


def create(model, input_, **kw):
    msg = {"type": "response.create", "model": model, "input": input_, "store": False, "stream": True}
    msg.update(kw)
    return msg


def user(text):
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def texts_sent(path, body):
    """The conversation's texts as the upstream got them, in order."""
    out = []
    if path.startswith("/v1/responses"):
        for item in body["input"]:
            c = item.get("content")
            if isinstance(c, str):
                out.append(c)
            elif isinstance(c, list):
                out.extend(p.get("text", "") for p in c)
    elif path.startswith("/v1/chat"):
        for m in body["messages"]:
            c = m.get("content")
            out.extend([c] if isinstance(c, str) else [p.get("text", "") for p in c or []])
    elif path.startswith("/v1/messages"):
        for m in body["messages"]:
            c = m["content"]
            out.extend([c] if isinstance(c, str) else [p.get("text", "") for p in c])
    else:
        for c in body["contents"]:
            out.extend(p.get("text", "") for p in c["parts"])
    return [x for x in out if x]


class WebSocketCase(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, server=None, auth=None, access=None, clients=None):
        au = {"mode": "strict", "key": KEY}
        au.update(auth or {})
        if clients:
            au = {"mode": "strict"}
        self.conf_args = dict(server=server, auth=au, access=access, clients=clients, providers=[
            ("resp", openai_provider(self.mock, ["kr"], "gpt-r*", api="responses")),
            ("chat", openai_provider(self.mock, ["kc"], "gpt-c*")),
            ("anth", anthropic_provider(self.mock, ["ka"], "claude-*")),
            ("gem", gemini_provider(self.mock, ["kg"], "gemini-*"))])
        self.d = self.start_daemon(build_config(self.tmp, **self.conf_args))
        return self.d

    def connect(self, key=KEY, **kw):
        headers = {"Authorization": "Bearer " + key, "OpenAI-Beta": "responses_websockets=2026-02-06"}
        headers.update(kw.pop("headers", {}))
        c = WsClient(self.d.port, headers=headers, timeout=t(30), **kw)
        self.addCleanup(c.shutdown)
        return c

    def ws_lines(self, n):
        def lines():
            got = [parse_access(x) for x in self.d.access_lines() if " method=WS " in x]
            return got if len(got) >= n else None
        return wait_until(lines, t(30), "%d access lines of WebSocket messages" % n)


class Transport(WebSocketCase):

    def test_every_upstream_wire_streams_and_continues_the_conversation(self):
        self.daemon()
        c = self.connect()
        self.assertNotIn("sec-websocket-extensions", c.headers)  # permessage-deflate not taken up
        for model, path in MODELS:
            with self.subTest(model=model):
                self.mock.clear()
                c.send_json(create(model, [user("first question")], tools=TOOLS, tool_choice="none"))
                evs = c.events_until_done()
                types = [e["type"] for e in evs]
                self.assertEqual(types[0], "response.created")
                self.assertEqual(types[-1], "response.completed", types)
                self.assertIn("response.output_text.delta", types)
                first = evs[-1]["response"]
                answer = "".join(e["delta"] for e in evs if e["type"] == "response.output_text.delta")
                self.assertIn("model=%s;#0;#1;#2;" % model, answer)

                c.send_json(create(model, [user("second question")], previous_response_id=first["id"],
                                   tools=TOOLS, tool_choice="none"))
                evs = c.events_until_done()
                self.assertEqual(evs[-1]["type"], "response.completed")
                ups = [q for q in self.mock.requests() if q["method"] == "POST"]
                self.assertEqual(len(ups), 2)
                self.assertTrue(ups[1]["path"].startswith(path), ups[1]["path"])
                sent = json.loads(ups[1]["body"])
                self.assertNotIn("previous_response_id", sent)
                self.assertEqual(texts_sent(ups[1]["path"], sent), ["first question", answer, "second question"])
        lines = self.ws_lines(2 * len(MODELS))
        self.assertEqual([x["status"] for x in lines], ["200"] * len(lines))
        self.assertEqual({x["proto"] for x in lines}, {"openai-responses"})
        self.assertEqual([x["model"] for x in lines], [m for m, _ in MODELS for _ in (0, 1)])
        self.assertEqual({x["path"] for x in lines}, {"/v1/responses"})
        handshake = [parse_access(x) for x in self.d.access_lines() if " method=GET " in x]
        self.assertEqual([h["status"] for h in handshake], ["101"])
        c.close()
        self.assertEqual(c.wait_closed(), (1000, b""))

    def test_a_warm_up_is_answered_here_and_continued(self):
        self.daemon()
        c = self.connect()
        c.send_json(create("claude-x", [user("context only")], generate=False, instructions="be brief"))
        evs = c.events_until_done()
        self.assertEqual([e["type"] for e in evs], ["response.created", "response.completed"])
        self.assertEqual(evs[1]["response"]["output"], [])
        self.assertEqual(self.mock.requests(), [])  # no model was asked
        c.send_json(create("claude-x", [user("now answer")], previous_response_id=evs[1]["response"]["id"]))
        self.assertEqual(c.events_until_done()[-1]["type"], "response.completed")
        up = json.loads(self.mock.requests()[-1]["body"])
        self.assertEqual(texts_sent("/v1/messages", up), ["context only", "now answer"])

    def test_a_stale_previous_response_id_is_an_error_the_connection_survives(self):
        self.daemon()
        c = self.connect()
        c.send_json(create("gpt-c1", [user("a")]))
        first = c.events_until_done()[-1]["response"]["id"]
        c.send_json(create("gpt-c1", [user("b")]))
        c.events_until_done()
        c.send_json(create("gpt-c1", [user("c")], previous_response_id=first))
        err = c.recv_json()
        self.assertEqual(err["type"], "error")
        self.assertEqual(err["status"], 400)
        self.assertEqual(err["error"]["code"], "previous_response_not_found")
        c.send_json(create("gpt-c1", [user("d")]))
        self.assertEqual(c.events_until_done()[-1]["type"], "response.completed")

    def test_messages_sent_at_once_are_answered_in_order(self):
        self.daemon()
        c = self.connect()
        for i in range(3):
            c.send_json(create("gpt-c1+chunks=%d" % (i + 1), [user("q%d" % i)]))
        for i in range(3):
            evs = c.events_until_done()
            self.assertEqual(evs[-1]["type"], "response.completed")
            self.assertEqual(evs[-1]["response"]["model"], "gpt-c1+chunks=%d" % (i + 1))

    def test_upstream_errors_are_error_frames_with_a_status(self):
        self.daemon()
        c = self.connect()
        c.send_json(create("claude-x+status=429+retry_after=7", [user("a")]))
        err = c.recv_json()
        self.assertEqual(err["type"], "error")
        self.assertEqual(err["status"], 429)
        self.assertIn("message", err["error"])
        self.assertEqual(err["headers"].get("retry-after"), "7")
        # An error inside the stream (after its first events).
        for model in ("gpt-r1+mid_error=1", "gemini-x+mid_error=1"):
            c.send_json(create(model, [user("b")]))
            evs = c.events_until_done()
            self.assertEqual(evs[-1]["type"], "error", evs[-1])
            self.assertGreaterEqual(evs[-1]["status"], 400)
        # A model no provider serves.
        c.send_json(create("nobody-serves-this", [user("c")]))
        err = c.recv_json()
        self.assertEqual((err["type"], err["status"]), ("error", 404))
        # The connection still serves.
        c.send_json(create("gpt-r1", [user("d")]))
        self.assertEqual(c.events_until_done()[-1]["type"], "response.completed")

    def test_bad_messages_get_error_frames(self):
        self.daemon()
        c = self.connect()
        for payload, code in (("not json", "invalid_json"), ('{"type":"session.update"}', "unknown_message_type"),
                              ('{"type":"response.create","input":"x"}', "invalid_request_error"),
                              ('{"type":"response.create","model":"gpt-r1","input":{"a":1}}', "invalid_request_error")):
            c.send_text(payload)
            err = c.recv_json()
            self.assertEqual((err["type"], err["status"]), ("error", 400), err)
            self.assertEqual(err["error"]["code"], code)
        # response.processed needs no answer: the next frame answers the create after it.
        c.send_json({"type": "response.processed", "response_id": "resp_x"})
        c.send_json(create("gpt-r1", [user("a")]))
        self.assertEqual(c.recv_json()["type"], "response.created")

    def test_a_client_that_leaves_mid_stream_cancels_the_upstream(self):
        self.daemon()
        c = self.connect()
        c.send_json(create("claude-x+chunks=50+pace=100ms", [user("a")]))
        self.assertEqual(c.recv_json()["type"], "response.created")
        c.shutdown()
        line = self.ws_lines(1)[0]
        self.assertIn("client closed", line.get("error", "") + self.d.access_lines()[-1])
        # The daemon goes on serving.
        c2 = self.connect()
        c2.send_json(create("gpt-c1", [user("b")]))
        self.assertEqual(c2.events_until_done()[-1]["type"], "response.completed")


class Admission(WebSocketCase):

    def test_the_handshake_needs_the_key(self):
        self.daemon()
        with self.assertRaises(HandshakeRefused) as e:
            self.connect(key="wrong-key")
        self.assertEqual(e.exception.status, 401)
        self.assertIn("error", json.loads(e.exception.body))

    def test_the_handshake_needs_an_allowed_address(self):
        self.daemon(access={"deny": "127.0.0.0/8"})
        with self.assertRaises(HandshakeRefused) as e:
            self.connect()
        self.assertEqual(e.exception.status, 403)

    def test_a_websocket_keeps_counting_toward_max_connections_per_ip(self):
        self.daemon(server={"max_connections_per_ip": "2"})
        a, b = self.connect(), self.connect()
        r = harness.request(self.d.port, "GET", "/health")
        self.assertEqual(r.status, 429, r)
        a.close()
        self.assertEqual(a.wait_closed()[0], 1000)
        wait_until(lambda: harness.request(self.d.port, "GET", "/health").status != 429, t(30),
                   "a connection slot freed by the closed WebSocket")
        b.send_json(create("gpt-r1", [user("still here")]))
        self.assertEqual(b.events_until_done()[-1]["type"], "response.completed")

    def test_a_reload_that_revokes_the_key_ends_the_next_message(self):
        self.daemon()
        c = self.connect()
        c.send_json(create("gpt-r1", [user("a")]))
        self.assertEqual(c.events_until_done()[-1]["type"], "response.completed")
        args = dict(self.conf_args)
        args["auth"] = {"mode": "strict", "key": OTHER}
        self.write_config(build_config(self.tmp, **args))
        n = self.d.notify.count()
        self.d.send_signal(signal.SIGHUP)
        self.d.notify.wait_for(lambda m: m.get("READY") == "1" and "generation 2" in m.get("STATUS", ""), t(30),
                               start=n, what="READY=1 after reload")
        c.send_json(create("gpt-r1", [user("b")]))
        err = c.recv_json()
        self.assertEqual((err["type"], err["status"]), ("error", 401), err)

    def test_client_limits_and_records_apply_per_message(self):
        self.daemon(clients=[("codex", {"key": KEY, "rpm": "2"})])
        c = self.connect()
        for i in range(2):
            c.send_json(create("gpt-c1", [user("q%d" % i)]))
            self.assertEqual(c.events_until_done()[-1]["type"], "response.completed")
        c.send_json(create("gpt-c1", [user("q2")]))
        err = c.recv_json()
        self.assertEqual((err["type"], err["status"]), ("error", 429), err)
        self.assertIn("retry-after", err["headers"])
        lines = self.ws_lines(3)
        self.assertEqual([x["client"] for x in lines], ["codex"] * 3)
        self.assertEqual([x["status"] for x in lines], ["200", "200", "429"])
        self.assertEqual(lines[2].get("limit"), "rpm")
        # The request store has each message, its usage and the body sent.
        def stored():
            r = self.d.cli("log", "--json", "--limit", "10")
            rows = json.loads(r.stdout) if r.returncode == 0 else []
            rows = [x for x in rows if x.get("method") == "WS"]
            return rows if len(rows) >= 3 else None
        rows = wait_until(stored, t(30), "the messages in the request store")
        ok = [x for x in rows if x["status"] == 200]
        self.assertEqual(len(ok), 2)
        for row in ok:
            self.assertEqual(row["client"], "codex")
            self.assertGreater(row["usage"]["input"], 0)
            self.assertEqual(row["path"], "/v1/responses")


class Framing(WebSocketCase):

    def test_fragments_with_a_ping_between_them(self):
        self.daemon()
        c = self.connect()
        text = json.dumps(create("gpt-r1", [user("fragmented")]))
        a, b, d = text[:10], text[10:30], text[30:]
        c.send_frame(TEXT, a, fin=False)
        c.send_frame(PING, b"are you there")
        fin, op, payload = c.recv_frame()
        self.assertEqual((op, payload), (PONG, b"are you there"))
        c.send_frame(CONT, b, fin=False)
        c.send_frame(CONT, d, fin=True)
        evs = c.events_until_done()
        self.assertEqual(evs[-1]["type"], "response.completed")
        body = json.loads(self.mock.requests()[-1]["body"])
        self.assertEqual(texts_sent("/v1/responses", body), ["fragmented"])

    def test_a_binary_message_closes_with_1003(self):
        self.daemon()
        c = self.connect()
        c.send_frame(BINARY, b"\x00\x01")
        self.assertEqual(c.wait_closed()[0], 1003)

    def test_an_unmasked_frame_closes_with_1002(self):
        self.daemon()
        c = self.connect()
        c.send_frame(TEXT, json.dumps(create("gpt-r1", [user("x")])), mask=False)
        self.assertEqual(c.wait_closed()[0], 1002)

    def test_a_message_over_max_body_size_closes_with_1009(self):
        self.daemon(server={"max_body_size": "64k"})
        c = self.connect()
        c.send_json(create("gpt-r1", [user("x" * 70000)]))
        self.assertEqual(c.wait_closed()[0], 1009)
        # Announced in a frame header: refused before the payload arrives.
        c2 = self.connect()
        c2.sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 40) + b"\x00\x00\x00\x00" + b"{" * 1024)
        self.assertEqual(c2.wait_closed()[0], 1009)

    def test_a_conversation_over_max_body_size_is_refused(self):
        self.daemon(server={"max_body_size": "64k"})
        c = self.connect()
        c.send_json(create("gpt-r1+piece_size=5000", [user("a" * 30000)]))
        first = c.events_until_done()[-1]
        self.assertEqual(first["type"], "response.completed")
        c.send_json(create("gpt-r1", [user("b" * 25000)], previous_response_id=first["response"]["id"]))
        err = c.recv_json()
        self.assertEqual((err["type"], err["status"]), ("error", 413), err)
        self.assertIn("server.max_body_size", err["error"]["message"])

    def test_the_closing_handshake(self):
        self.daemon()
        c = self.connect()
        c.close(1000, b"bye")
        self.assertEqual(c.wait_closed()[0], 1000)
        c.sock.settimeout(t(10))
        self.assertEqual(c.sock.recv(10), b"")  # then the server closes the TCP connection

    def test_a_stopping_daemon_closes_with_1001(self):
        self.daemon()
        c = self.connect()
        c.send_json(create("gpt-r1", [user("a")]))
        self.assertEqual(c.events_until_done()[-1]["type"], "response.completed")
        self.d.send_signal(signal.SIGTERM)
        self.assertEqual(c.wait_closed()[0], 1001)
        self.assertEqual(self.d.wait_exit(), 0)


if __name__ == "__main__":
    harness.main()

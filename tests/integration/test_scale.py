#!/usr/bin/env python3
"""Scale, bounded: a 100 MB request body relayed intact, 10,000 streamed
chunks arriving complete and in order, and 1,000 concurrent streams all
completing. AGD_SCALE=small shrinks them (10 MB, 1,000 chunks, 200 streams)
for sanitizer builds. No timing is asserted."""

import json
import resource
import selectors
import socket

import harness
from harness import (AgdTestCase, SCALE_SMALL, anthropic_provider, build_config, expected_text, gemini_provider,
                     openai_provider, post, stream, t)

BODY_BYTES = (10 if SCALE_SMALL else 100) * 1024 * 1024
CHUNKS = 1000 if SCALE_SMALL else 10000
STREAMS = 200 if SCALE_SMALL else 1000

KO = "sc-oa-key-1111"
KA = "sc-ant-key-2222"
KG = "sc-gem-key-3333"


def raise_nofile(want):
    """Raises RLIMIT_NOFILE for this process and the daemons it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # works as root
            return want
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class ScaleTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        # Client sockets + the daemon's client and upstream sockets + the mock's.
        self.nofile = raise_nofile(max(8192, 4 * STREAMS + 512))
        self.mock = self.start_mock()
        self.d = self.start_daemon(build_config(
            self.tmp, server={"max_body_size": "%dM" % (2 * BODY_BYTES // (1024 * 1024)), "log_level": "info"},
            providers=[("oa", openai_provider(self.mock, [KO], "gpt-*")),
                       ("an", anthropic_provider(self.mock, [KA], "claude-*")),
                       ("ge", gemini_provider(self.mock, [KG], "gemini-*"))]))

    def test_large_request_body_is_relayed_intact(self):
        head = b'{"model":"gpt-big","messages":[{"role":"user","content":"'
        tail = b'"}],"max_tokens":1}'
        # A repeating, position-dependent pattern so that a lost or
        # reordered piece cannot go unnoticed.
        unit = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"
        n = BODY_BYTES - len(head) - len(tail)
        filler = (unit * (n // len(unit) + 1))[:n]
        body = head + filler + tail
        self.assertEqual(len(body), BODY_BYTES)
        r = post(self.d.port, "/v1/chat/completions", body, timeout=t(600))
        self.assertEqual(r.status, 200, r)
        # The mock counts body bytes / 4 as prompt tokens.
        self.assertEqual(r.json()["usage"]["prompt_tokens"], BODY_BYTES // 4)
        recs = self.mock.requests()
        self.assertEqual(len(recs), 1)
        got = recs[0]["body"].encode()
        self.assertEqual(len(got), len(body))
        self.assertTrue(got == body, "the relayed body differs from the client's")
        self.mock.clear()

    def test_many_small_chunks_arrive_complete_and_in_order(self):
        model = "gpt-many+chunks=%d" % CHUNKS
        r = stream(self.d.port, "/v1/chat/completions",
                   {"model": model, "stream": True, "messages": []}, timeout=t(300))
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.error)
        self.assertEqual(r.events[-1].data, "[DONE]")
        self.assertEqual(len(r.events), CHUNKS + 3)  # role chunk, pieces, finish chunk, [DONE]
        self.assertEqual(harness.text_of_chat_events(r.events), expected_text(KO, model, CHUNKS))

        model = "claude-many+chunks=%d" % CHUNKS
        r = stream(self.d.port, "/v1/messages",
                   {"model": model, "stream": True, "max_tokens": 10, "messages": []}, timeout=t(300))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.events[-1].name, "message_stop")
        text = "".join(e.json()["delta"]["text"] for e in r.events if e.name == "content_block_delta")
        self.assertEqual(text, expected_text(KA, model, CHUNKS))

        model = "gemini-many+chunks=%d" % CHUNKS
        r = post(self.d.port, "/v1beta/models/%s:streamGenerateContent?alt=sse" % model, {"contents": []},
                 timeout=t(300))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.count(b"\r\n\r\n"), CHUNKS)
        events, _ = harness.parse_sse(r.body)
        text = "".join(e.json()["candidates"][0]["content"]["parts"][0]["text"] for e in events)
        self.assertEqual(text, expected_text(KG, model, CHUNKS))

    def test_concurrent_streams_all_complete(self):
        self.assertGreaterEqual(self.nofile, 2 * STREAMS + 64,
                                "RLIMIT_NOFILE %d is too low for %d streams" % (self.nofile, STREAMS))
        # Each stream lasts ~10 s at the mock (20 pieces, 500 ms apart), long
        # enough for all of them to be open at once.
        chunks = 20
        model = "gpt-conc+chunks=%d+pace=500ms" % chunks
        body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "x"}]}).encode()
        req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        sel = selectors.DefaultSelector()
        conns = []
        try:
            for i in range(STREAMS):
                s = socket.create_connection(("127.0.0.1", self.d.port), timeout=t(60))
                s.sendall(req)
                s.setblocking(False)
                state = {"i": i, "buf": bytearray(), "first": False, "done": False}
                conns.append((s, state))
                sel.register(s, selectors.EVENT_READ, state)
            firsts_when_first_done = None
            remaining = STREAMS
            while remaining:
                ready = sel.select(timeout=t(120))
                self.assertTrue(ready, "no progress for a long time; %d streams unfinished" % remaining)
                for key, _ in ready:
                    st = key.data
                    try:
                        data = key.fileobj.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        data = b""
                    if data:
                        st["buf"] += data
                        if not st["first"] and b"#0;" in st["buf"]:
                            st["first"] = True
                        continue
                    sel.unregister(key.fileobj)
                    st["done"] = True
                    remaining -= 1
                    if firsts_when_first_done is None:
                        firsts_when_first_done = sum(1 for _, x in conns if x["first"])
        finally:
            sel.close()
            for s, _ in conns:
                s.close()
        failures = []
        for _, st in conns:
            r = harness.parse_http_response(bytes(st["buf"]))
            events, _ = harness.parse_sse(r.body)
            ok = (r.status == 200 and r.error is None and events and events[-1].data == "[DONE]"
                  and harness.text_of_chat_events(events) == expected_text(KO, model, chunks))
            if not ok:
                failures.append((st["i"], r.status, r.error, bytes(st["buf"][-300:])))
        self.assertEqual(failures, [], "%d of %d streams incomplete; first: %r"
                         % (len(failures), STREAMS, failures[:1]))
        self.assertEqual(firsts_when_first_done, STREAMS,
                         "only %s streams had started when the first one ended: they did not run "
                         "concurrently" % firsts_when_first_done)
        st = self.d.status_json()
        self.assertEqual(st["in_flight"], 0)


if __name__ == "__main__":
    harness.main()

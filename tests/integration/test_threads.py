#!/usr/bin/env python3
"""The daemon's cross-thread paths at once, for ThreadSanitizer (scripts/test.sh
runs every integration suite in a TSan build; this one exists to put the
threads in each other's way): traffic on both workers (passthrough, streamed,
translated, native client and libcurl on a host name, which their lookup
threads answer, 429s that put credentials in cooldown, Gemini 3 tool calls
whose signatures go through the process-wide cache) while the main
thread reloads every 50 ms between two configurations (the snapshot is
swapped and credentials leave the health registry while workers hold them),
takes SIGUSR1 (log reopen) and answers `status --json`; every connection
counts against max_connections_per_ip; then SIGTERM with streams in flight
(the main thread stops the workers' listeners and loops).

Every request must succeed, and the daemon must stop cleanly with no
sanitizer report. No timing is asserted; the load lasts a few seconds."""

import os
import signal
import threading
import time

import harness
from harness import (AgdTestCase, SSEReader, anthropic_provider, build_config, gemini_provider, openai_provider,
                     post, t, wait_until)

K1, K2, K3 = "th-key-one-1111", "th-key-two-2222", "th-key-three-3333"
KA = "th-ant-key-4444"
KG = "th-gem-key-5555"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
SECONDS = 4 if harness.SCALE_SMALL else 6


def chat_body(model, stream=False):
    b = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
    return b


class ThreadTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock(threads=2)

    def cfg(self, generation):
        # Odd generations: K1+K2; even ones: K1+K3 (K2's health entry is
        # dropped by the reload while a worker may be reporting on it).
        keys = [K1, K2] if generation % 2 else [K1, K3]
        by_name = openai_provider("http://localhost:%d" % self.mock.port, keys, "gpt-*")
        curl = openai_provider("http://localhost:%d" % self.mock.port, [K1], "cu-*")  # libcurl's resolver thread
        curl["http_client"] = "libcurl"
        providers = [("oa", by_name), ("cu", curl), ("an", anthropic_provider(self.mock, [KA], "claude-*")),
                     ("g", gemini_provider(self.mock, [KG], "gemini-*"))]
        # max_connections_per_ip: every connection takes and gives back its
        # address's count in the map the workers share (PeerLimit).
        return build_config(self.tmp, server={"max_connections_per_ip": "1000"},
                            routing={"cooldown": "%dms" % (100 + generation % 3 * 50)}, providers=providers)

    def signed_tool_round_trip(self, port):
        """A Gemini 3 tool call through a Chat client, then the conversation
        replayed without the call's signature: the daemon's process-wide
        signature cache (shared by the workers) must supply it, or the mock
        answers 400."""
        body = {"model": "gemini-3-flash", "messages": [{"role": "user", "content": "weather?"}], "tools": TOOLS}
        r = post(port, "/v1/chat/completions", body)
        if r.status != 200:
            return r
        msg = r.json()["choices"][0]["message"]
        call = msg["tool_calls"][0]
        call.pop("extra_content", None)
        history = body["messages"] + [msg, {"role": "tool", "tool_call_id": call["id"], "content": "{}"}]
        return post(port, "/v1/chat/completions", dict(body, messages=history))

    def test_traffic_reloads_and_status_at_once(self):
        d = self.start_daemon(self.cfg(1))
        stop = threading.Event()
        errors = []
        counts = {"requests": 0, "reloads": 0, "status": 0}
        lock = threading.Lock()

        def note(kind, problem=None):
            with lock:
                counts[kind] += 1
                if problem:
                    errors.append(problem)

        def client(i):
            n = 0
            while not stop.is_set():
                n += 1
                kind = (i + n) % 6
                try:
                    if kind == 0:
                        r = post(d.port, "/v1/chat/completions", chat_body("gpt-plain"))
                    elif kind == 1:
                        r = harness.stream(d.port, "/v1/chat/completions",
                                           chat_body("gpt-s+chunks=8+pace=5ms", stream=True))
                        if r.status == 200 and (not r.events or r.events[-1].data != "[DONE]"):
                            note("requests", "stream %d/%d ended with %r" % (i, n, r.events[-1:]))
                            continue
                    elif kind == 2:
                        # K1 answers 429: failover, and K1 cools down.
                        r = post(d.port, "/v1/chat/completions", chat_body("gpt-x+fail_cred=%s" % K1))
                    elif kind == 3:
                        r = harness.stream(d.port, "/v1/chat/completions",
                                           chat_body("claude-t+chunks=4", stream=True))
                    elif kind == 4:
                        r = post(d.port, "/v1/chat/completions", chat_body("cu-plain"))
                    else:
                        r = self.signed_tool_round_trip(d.port)
                except Exception as e:  # noqa: BLE001 - any failure is reported below
                    note("requests", "client %d request %d: %r" % (i, n, e))
                    continue
                note("requests", None if r.status == 200 else "client %d request %d: %r" % (i, n, r))

        def reloader():
            gen = 1
            while not stop.is_set():
                gen += 1
                self.write_config(self.cfg(gen), "agd.conf")
                d.send_signal(signal.SIGHUP)
                if gen % 4 == 0:
                    d.send_signal(signal.SIGUSR1)  # log reopen (logrotate's habit), from the main loop
                note("reloads")
                stop.wait(0.05)

        def status():
            while not stop.is_set():
                r = d.cli("status", "--json")
                note("status", None if r.returncode == 0 else "status: %r" % r)
                report = harness.sanitizer_reports(r.stderr)
                if report:
                    note("status", "sanitizer report in status's stderr:\n%s" % report)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        threads += [threading.Thread(target=reloader), threading.Thread(target=status)]
        for th in threads:
            th.start()
        try:
            time.sleep(SECONDS)
        finally:
            stop.set()
            for th in threads:
                th.join(t(120))
        self.assertEqual(errors[:5], [], "%d problems in %r" % (len(errors), counts))
        self.assertGreater(counts["reloads"], 5, counts)
        self.assertGreater(counts["status"], 0, counts)
        self.assertGreater(counts["requests"], 20, counts)
        # The last reload is live (SIGHUP is handled from the main loop).
        wait_until(lambda: d.status_json()["generation"] >= 2, t(30), "a reload to be live")

        # SIGTERM with streams in flight on both workers: they finish.
        readers = [SSEReader(d.port, "/v1/chat/completions",
                             chat_body("gpt-end+chunks=4+pace=100ms", stream=True)) for _ in range(6)]
        for r in readers:
            self.addCleanup(r.close)
            self.assertEqual(r.status, 200)
        d.send_signal(signal.SIGTERM)
        for r in readers:
            r.read_all()
            self.assertIsNone(r.error)
            self.assertEqual(r.events[-1].data, "[DONE]")
        self.assertEqual(d.wait_exit(), 0, d.log()[-3000:])


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""HTTP/2 upstreams that answer early (http_client = libcurl-h2): h2_early.py
answers each request before it has read the body, then resets the stream
with RST_STREAM(NO_ERROR), as RFC 9113 section 8.1 allows. A complete answer
is relayed as complete (sequential, concurrent, on a kept-alive client
connection, streamed) and leaves the credential in service; an answer cut
short still fails. Every connection must have negotiated "h2", and no
stream may have sent its whole request body.

Most tests have the reset follow the answer by RST_DELAY. When the reset
comes right behind the answer, libcurl 7.88.1 sometimes loses the answer's
last bytes, or all of it, when another transfer on the connection reads
both at once (a quarter of small concurrent answers here): those bytes
never reach the daemon, which fails the request.
test_a_reset_right_behind_the_answer_fails_only_what_never_arrived checks
that nothing else fails."""

import http.client
import json
import os
import shutil
import tempfile
import unittest
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import harness
from harness import AgdTestCase, build_config, openai_provider, parse_access, post, stream
from h2_early import H2EarlyServer
from tls_support import make_pki

K1 = "h2-early-key-1111"
RST_DELAY = harness.t(0.05)  # scaled: a slower daemon reads its answers later
BIG = "q" * 300_000  # far more than the 65,535 bytes a stream may send unanswered
CONTENT = "early answer;" + "x" * 20_000  # more than one DATA frame
SHORT = "early answer, short"  # one DATA frame


def answer(content=CONTENT):
    return json.dumps({
        "id": "chatcmpl-h2early", "object": "chat.completion", "created": 1, "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }).encode()


ANSWER = answer()


def sse_answer():
    def chunk(delta, finish=None):
        return "data: " + json.dumps({"id": "chatcmpl-h2early", "object": "chat.completion.chunk", "created": 1,
                                      "model": "gpt-x", "choices": [{"index": 0, "delta": delta,
                                                                     "finish_reason": finish}]}) + "\n\n"
    pieces = [CONTENT[i:i + 1000] for i in range(0, len(CONTENT), 1000)]
    out = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": p}) for p in pieces]
    out += [chunk({}, "stop"), "data: [DONE]\n\n"]
    return "".join(out).encode()


def chat(stream_it=False):
    b = {"model": "gpt-x", "messages": [{"role": "user", "content": BIG}]}
    if stream_it:
        b["stream"] = True
    return b


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
class H2EarlyAnswerTests(AgdTestCase):

    @classmethod
    def setUpClass(cls):
        cls._pki = tempfile.TemporaryDirectory(prefix="agd-h2-pki-")
        cls.ca, cls.cert, cls.key = make_pki(cls._pki.name)

    @classmethod
    def tearDownClass(cls):
        cls._pki.cleanup()

    def serve(self, mode="early", body=ANSWER, content_type="application/json", rst_delay=RST_DELAY):
        srv = H2EarlyServer(self.cert, self.key, body, content_type, mode, rst_delay)
        self.addCleanup(srv.close)
        return srv

    def daemon(self, srv, upstream_timeout="10s", name="agd", routing=None):
        p = openai_provider("https://127.0.0.1:%d" % srv.port, [K1], "gpt-*")
        p.update(ca_file=self.ca, http_client="libcurl-h2")
        server = {k: os.path.join(self.tmp, name + s)
                  for k, s in (("pid_file", ".pid"), ("control_socket", ".sock"), ("state_dir", ".state"))}
        server["upstream_timeout"] = upstream_timeout
        return self.start_daemon(build_config(self.tmp, server=server, routing=routing, providers=[("h2", p)]),
                                 name=name)

    def answered(self, r, content=CONTENT):
        """"" when r is the upstream's whole answer, else what is wrong."""
        if r.status != 200 or r.error is not None:
            return "%d%s" % (r.status, " cut" if r.error else "")
        try:
            return "" if r.json()["choices"][0]["message"]["content"] == content else "other content"
        except ValueError:
            return "not JSON"

    def unclean(self, d, n):
        """The access lines (n of them) that are not a 200 with no error and
        its usage read: a transfer that failed after the client had its
        bytes shows only there."""
        lines = [parse_access(l) for l in d.wait_access_lines(n)]
        return [l for l in lines if l.get("status") != "200" or "error" in l or l.get("usage") == "cut"]

    def assertAllThrough(self, d, wrong, n, what):
        wrong = [w for w in wrong if w]
        unclean = self.unclean(d, n)
        self.assertEqual((len(wrong), len(unclean)), (0, 0),
                         "%d of %d %s did not reach the client whole (%r), %d failed upstream (%r)"
                         % (len(wrong), n, what, Counter(w[:60] for w in wrong), len(unclean),
                            Counter((l.get("status"), l.get("error")) for l in unclean)))

    def assertEarlyH2(self, srv, answered):
        self.assertTrue(srv.alpn, "no connection reached the upstream")
        self.assertEqual(set(srv.alpn), {"h2"}, srv.alpn)
        self.assertGreaterEqual(srv.answered, answered)
        self.assertLess(srv.max_body_seen, len(BIG), "a whole request reached the upstream")
        self.assertEqual(srv.errors, [])

    def test_complete_early_answers_are_relayed_sequential_and_concurrent(self):
        srv = self.serve()
        d = self.daemon(srv)
        wrong = [self.answered(post(d.port, "/v1/chat/completions", chat())) for _ in range(100)]
        with ThreadPoolExecutor(16) as pool:
            wrong += pool.map(lambda _: self.answered(post(d.port, "/v1/chat/completions", chat())), range(100))
        self.assertAllThrough(d, wrong, 200, "answers")
        self.assertEarlyH2(srv, 200)
        self.assertEqual(d.credential_state(K1)["state"], "ok")

    def test_a_reset_right_behind_the_answer_fails_only_what_never_arrived(self):
        # No pause before the reset: libcurl may lose answers (see above),
        # and those fail, but an answer the client got whole must not be
        # logged as failed. The breaker stays shut so that a lost answer
        # does not rest the credential for the rest of the run.
        srv = self.serve(rst_delay=0)
        d = self.daemon(srv, routing={"breaker_failures": "1000"})
        with ThreadPoolExecutor(16) as pool:
            wrong = list(pool.map(lambda _: self.answered(post(d.port, "/v1/chat/completions", chat())),
                                  range(200)))
        whole = wrong.count("")
        unclean = self.unclean(d, 200)
        self.assertEqual(whole, 200 - len(unclean),
                         "%d answers reached the client whole, %d requests failed upstream (%r)"
                         % (whole, len(unclean), Counter((l.get("status"), l.get("error")) for l in unclean)))
        self.assertGreater(whole, 150, Counter(wrong))
        self.assertEarlyH2(srv, 200)

    def test_a_kept_alive_client_connection_gets_every_answer(self):
        # The next request on the connection waits for the previous transfer
        # to end: a transfer left running after a complete answer shows here.
        # A short answer: HEADERS and one DATA frame.
        srv = self.serve(body=answer(SHORT))
        d = self.daemon(srv, upstream_timeout="5s")
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=harness.t(60))
        self.addCleanup(conn.close)
        for i in range(10):
            conn.request("POST", "/v1/chat/completions", body=json.dumps(chat()),
                         headers={"Content-Type": "application/json"})
            try:
                r = conn.getresponse()
            except http.client.RemoteDisconnected:
                self.fail("request %d on the connection: closed without an answer; the daemon's log: %r"
                          % (i, [l.get("error") for l in self.unclean(d, i)]))
            self.assertEqual(r.status, 200, i)
            self.assertEqual(json.loads(r.read())["choices"][0]["message"]["content"], SHORT, i)
        self.assertAllThrough(d, [], 10, "answers")
        self.assertEarlyH2(srv, 10)

    def test_streamed_early_answers_are_relayed(self):
        # A stream that declares its length (text/event-stream with a
        # content-length) is known complete the same way.
        srv = self.serve(body=sse_answer(), content_type="text/event-stream")
        d = self.daemon(srv, upstream_timeout="5s")

        def one(_):
            r = stream(d.port, "/v1/chat/completions", chat(stream_it=True))
            if r.status != 200 or r.error is not None:
                return "%d%s" % (r.status, " cut" if r.error else "")
            if not r.events or r.events[-1].data != "[DONE]":
                return "ended with %r" % (r.events[-1].data[:100] if r.events else None)
            return "" if harness.text_of_chat_events(r.events) == CONTENT else "other content"

        wrong = [one(i) for i in range(20)]
        with ThreadPoolExecutor(10) as pool:
            wrong += pool.map(one, range(40))
        self.assertAllThrough(d, wrong, 60, "streams")
        self.assertEarlyH2(srv, 60)

    def test_an_answer_cut_short_still_fails(self):
        for mode in ("truncated", "cut"):
            with self.subTest(mode=mode):
                srv = self.serve(mode)
                d = self.daemon(srv, name=mode)
                # Either a 502, or the head went out with the first half of
                # the body and the client sees the cut: never a complete-
                # looking answer. A failure rests the credential: the next
                # ones may get a 429.
                for i in range(3):
                    r = post(d.port, "/v1/chat/completions", chat())
                    self.assertTrue(r.status != 200 or r.error is not None, "run %d: %r" % (i, r))
                    self.assertFalse(r.status == 200 and len(r.body) >= len(ANSWER), r)
                self.assertEqual(len(self.unclean(d, 3)), 3)
                self.assertEarlyH2(srv, 1)
                self.stop_daemon(d)

    def test_an_answer_with_no_byte_of_body_is_a_502(self):
        # content-length 1, no DATA, then the reset: nothing reached the
        # client, so it gets the daemon's own 502.
        srv = self.serve("truncated", body=b"x")
        d = self.daemon(srv)
        for _ in range(5):
            self.assertOpenAIError(post(d.port, "/v1/chat/completions", chat()), 502)
        self.assertEarlyH2(srv, 1)


if __name__ == "__main__":
    harness.main()

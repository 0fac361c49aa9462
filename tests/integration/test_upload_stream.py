#!/usr/bin/env python3
"""Streamed audio uploads: a transcription body longer than
server.upload_buffer_size goes upstream while the client still sends it
(the mock sees its bytes before the client has sent them all), the model
renamed on the way, checked by the multipart scan before any byte of a
part leaves (a second model field never reaches the provider), retried
on another provider only while its first bytes are still held, and the
daemon's memory stays near the buffer whatever the body's size. Both
HTTP clients (native and libcurl) carry it."""

import os
import socket

import harness
from harness import (AgdTestCase, build_config, free_port_nobody_listens_on, openai_provider, parse_access, t,
                     wait_until)

BOUNDARY = "agdUploadBoundary0Q9z"
BUFFER = 64 * 1024


def field(name, value):
    return (b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
            % (BOUNDARY.encode(), name.encode(), value.encode()))


def file_part(data, name="file", filename="talk.wav"):
    return (b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
            b"Content-Type: audio/wav\r\n\r\n" % (BOUNDARY.encode(), name.encode(), filename.encode())
            + data + b"\r\n")


def closing():
    return b"--%s--\r\n" % BOUNDARY.encode()


def audio(size):
    """Printable bytes (the mock's request log is text), with lines that
    look like delimiters but are not."""
    unit = b"RIFF....WAVEfmt \r\n--not-" + BOUNDARY.encode()[:-2] + b"\r\n" + bytes(range(33, 127)) * 10
    return (unit * (size // len(unit) + 1))[:size]


class Upload:
    """One POST /v1/audio/transcriptions over a raw socket, sent in pieces
    the test releases."""

    def __init__(self, port, body, path="/v1/audio/transcriptions"):
        self.body = body
        self.sent = 0
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=t(60))
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
                "Content-Length: %d\r\n\r\n" % (path, BOUNDARY, len(body))).encode()
        self.sock.sendall(head)

    def send(self, upto):
        self.sock.sendall(self.body[self.sent:upto])
        self.sent = upto

    def answer(self):
        self.send(len(self.body))
        f = self.sock.makefile("rb")
        status = int(f.readline().split()[1])
        headers = {}
        while True:
            line = f.readline().strip()
            if not line:
                break
            k, v = line.decode().split(":", 1)
            headers[k.lower()] = v.strip()
        body = f.read(int(headers.get("content-length", "0")))
        f.close()
        self.sock.close()
        return harness.Response(status, headers, body)


class UploadStreamTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, http_client=None, extra=(), buffer=BUFFER, routing=None, name="agd"):
        oa = openai_provider(self.mock, ["k-stream-1111"], "whisper-*, gpt-4o-*, my-whisper=whisper-1")
        if http_client:
            oa["http_client"] = http_client
        cfg = build_config(self.tmp, server={"upload_buffer_size": str(buffer)}, routing=routing,
                           providers=list(extra) + [("oa", oa)])
        return self.start_daemon(cfg, name=name)

    def transcribed(self, r, size):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["text"], "mock transcript of talk.wav (%d bytes)" % size)

    def test_the_upstream_gets_the_body_while_the_client_sends_it(self):
        for http_client in (None, "libcurl"):
            with self.subTest(http_client=http_client or "native"):
                d = self.daemon(http_client, name="agd-" + (http_client or "native"))
                self.mock.reset_stats()
                self.mock.clear()
                data = audio(3 * 1024 * 1024)
                body = field("model", "my-whisper") + field("response_format", "json") + file_part(data) + closing()
                up = Upload(d.port, body)
                half = len(body) // 2
                up.send(half)
                # Buffered whole, nothing would reach the mock before the rest is sent.
                wait_until(lambda: self.mock.stats()["body_bytes"] >= half - 2 * BUFFER, t(30),
                           "the first half of the upload reaching the upstream")
                r = up.answer()
                self.transcribed(r, len(data))
                got = self.mock.requests()[-1]
                self.assertEqual(got["path"], "/v1/audio/transcriptions")
                expected = body.replace(b"my-whisper", b"whisper-1", 1)
                self.assertEqual(len(got["body"]), len(expected))
                self.assertEqual(got["body"].encode(), expected)
                a = parse_access(d.wait_access_lines(1)[-1])
                self.assertEqual((a["status"], a["model_sent"], a["attempts"]), ("200", "whisper-1", "1"), a)
                self.assertEqual(int(a["bytes_in"]), len(body), a)
                d.stop()

    def test_a_model_after_the_file_is_waited_for(self):
        d = self.daemon()
        data = audio(1024 * 1024)
        body = file_part(data) + field("model", "my-whisper") + closing()
        r = Upload(d.port, body).answer()
        self.transcribed(r, len(data))
        self.assertEqual(self.mock.requests()[-1]["body"].encode(), body.replace(b"my-whisper", b"whisper-1"))

    def test_a_second_model_field_never_reaches_the_upstream(self):
        d = self.daemon()
        data = audio(2 * 1024 * 1024)
        body = field("model", "whisper-1") + file_part(data) + field("model", "gpt-4o-transcribe") + closing()
        r = Upload(d.port, body).answer()
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["message"], "multipart body with more than one 'model' field")
        self.assertEqual(r.json()["error"]["type"], "invalid_request_error")
        # The upstream never saw the second field: its request was cut
        # before it (the mock records only whole requests).
        self.assertLess(self.mock.stats()["body_bytes"], body.index(b"gpt-4o-transcribe"))
        for got in self.mock.requests():
            self.assertNotIn("gpt-4o-transcribe", got["body"])
        a = parse_access(d.wait_access_lines(1)[-1])
        self.assertEqual(a["status"], "400", a)
        # The connection's next request is served.
        r = harness.post(d.port, "/v1/audio/transcriptions", field("model", "whisper-1") + file_part(b"abc") +
                         closing(), headers={"Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
        self.transcribed(r, 3)

    def test_a_body_without_its_closing_boundary_is_refused(self):
        d = self.daemon()
        body = field("model", "whisper-1") + file_part(audio(512 * 1024))
        r = Upload(d.port, body).answer()
        self.assertEqual(r.status, 400, r)
        self.assertIn("truncated", r.json()["error"]["message"])
        self.assertEqual([g for g in self.mock.requests() if g["path"].startswith("/v1/audio")], [])

    def test_no_model_field_is_refused_at_the_end(self):
        d = self.daemon()
        r = Upload(d.port, file_part(audio(256 * 1024)) + closing()).answer()
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["message"], "missing required form field 'model' (a non-empty string)")

    def test_a_refused_connection_is_retried_with_the_body_still_held(self):
        dead = "http://127.0.0.1:%d" % free_port_nobody_listens_on()
        d = self.daemon(extra=[("dead", openai_provider(dead, ["k-dead-0000"], "whisper-*"))],
                        routing={"strategy": "fill-first"})
        data = audio(1024 * 1024)
        body = field("model", "whisper-1") + file_part(data) + closing()
        r = Upload(d.port, body).answer()
        self.transcribed(r, len(data))
        a = parse_access(d.wait_access_lines(1)[-1])
        self.assertEqual((a["provider"], a["attempts"]), ("oa", "2"), a)
        self.assertEqual(self.mock.requests()[-1]["body"].encode(), body)

    def test_an_upstream_error_after_the_body_is_relayed_without_a_retry(self):
        # The body is gone once sent: the 429 is the client's (OpenAI's form).
        oa2 = openai_provider(self.mock, ["k-other-2222"], "whisper-*")
        d = self.daemon(extra=[("oa2", oa2)], routing={"strategy": "fill-first"})
        data = audio(1024 * 1024)
        body = field("model", "whisper-1+status=429") + file_part(data) + closing()
        r = Upload(d.port, body).answer()
        self.assertEqual(r.status, 429, r)
        self.assertIn("error", r.json())
        a = parse_access(d.wait_access_lines(1)[-1])
        self.assertEqual(a["attempts"], "1", a)

    def test_memory_stays_near_the_buffer(self):
        size = (8 if os.environ.get("AGD_SCALE") == "small" else 48) * 1024 * 1024
        d = self.daemon()
        data = audio(size)
        body = field("model", "whisper-1") + file_part(data) + closing()
        before = harness.rss_bytes(d.proc.pid)
        up = Upload(d.port, body)
        peak = 0
        step = 1024 * 1024
        for upto in range(step, len(body), step):
            up.send(upto)
            peak = max(peak, harness.rss_bytes(d.proc.pid))
        r = up.answer()
        self.transcribed(r, size)
        # A sanitizer's allocator keeps what was freed (ASan's quarantine:
        # every read's buffer) and its shadow: the daemon's own memory is
        # not what RSS shows there. The plain build measures it.
        if harness.sanitizer_runtime(d.proc.pid):
            return
        # Read whole first, the body alone would add `size`.
        self.assertLess(peak - before, size // 2, (before, peak))


if __name__ == "__main__":
    harness.main()

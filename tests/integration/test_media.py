#!/usr/bin/env python3
"""Images and audio: OpenAI's /v1/images/generations, /v1/images/edits,
/v1/audio/transcriptions, /v1/audio/translations and /v1/audio/speech,
passed through to OpenAI providers (uploads as multipart, the model found
in the form); image generation translated for Gemini image models;
hostile uploads refused with a 400 in OpenAI's form; upstream errors
relayed; usage recorded where the answer carries it."""

import base64
import json

import harness
from harness import AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, post, wait_until

PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
BOUNDARY = "agdTestBoundary7MA4YWxk"


def form(fields, boundary=BOUNDARY):
    """multipart/form-data body: fields is a list of (name, value) or
    (name, filename, bytes, content_type)."""
    out = b""
    for f in fields:
        out += b"--" + boundary.encode() + b"\r\n"
        if len(f) == 2:
            out += b'Content-Disposition: form-data; name="%s"\r\n\r\n' % f[0].encode()
            out += f[1].encode() + b"\r\n"
        else:
            name, filename, data, ctype = f
            out += b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name.encode(), filename.encode())
            out += b"Content-Type: %s\r\n\r\n" % ctype.encode()
            out += data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


def post_form(port, path, body, boundary=BOUNDARY, content_type=None):
    ctype = content_type or "multipart/form-data; boundary=" + boundary
    return post(port, path, body, headers={"Content-Type": ctype})


AUDIO = b"RIFF\x00\x00\x00\x00WAVEfmt \r\n--not-the-boundary\r\n" + bytes(range(32, 127)) * 40


class MediaTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        cfg = build_config(self.tmp, providers=[
            ("oa", openai_provider(self.mock, ["ko"],
                                   "gpt-image-*, dall-e-*, whisper-*, gpt-4o-*, tts-*, my-whisper=whisper-1")),
            ("resp", openai_provider(self.mock, ["kr"], "resp-image=gpt-image-1", api="responses")),
            ("gm", gemini_provider(self.mock, ["kg"], "gemini-*-image*, gemini-tts-*, nano=gemini-2.5-flash-image")),
            ("an", anthropic_provider(self.mock, ["ka"], "claude-*"))])
        self.d = self.start_daemon(cfg)

    def last(self):
        return self.mock.requests()[-1]

    def access(self, n):
        return harness.parse_access(self.d.wait_access_lines(n)[-1])

    def test_image_generation_passes_through(self):
        for model, sent in (("gpt-image-1", "gpt-image-1"), ("resp-image", "gpt-image-1")):
            with self.subTest(model=model):
                body = {"model": model, "prompt": "a red cube", "n": 2, "size": "1024x1024"}
                r = post(self.d.port, "/v1/images/generations", body)
                self.assertEqual(r.status, 200, r)
                j = r.json()
                self.assertEqual([d["b64_json"] for d in j["data"]], [PNG_B64, PNG_B64])
                self.assertEqual(j["usage"]["output_tokens"], 200)
                up = self.last()
                self.assertEqual(up["path"], "/v1/images/generations")
                self.assertEqual(json.loads(up["body"]), dict(body, model=sent))
        line = self.access(2)
        self.assertEqual((line["path"], line["provider"], line["usage"], line["in"], line["out"]),
                         ("/v1/images/generations", "resp", "reported", "3", "200"), line)
        # dall-e answers carry no usage: recorded as missing.
        r = post(self.d.port, "/v1/images/generations", {"model": "dall-e-3", "prompt": "x"})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("usage", r.json())
        self.assertEqual(self.access(3)["usage"], "missing")

    def test_streamed_image_generation_is_relayed_with_its_usage(self):
        body = {"model": "gpt-image-1", "prompt": "abcdefgh", "stream": True, "partial_images": 2}
        r = post(self.d.port, "/v1/images/generations", body)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("content-type").startswith("text/event-stream"), r.headers)
        events, leftover = harness.parse_sse(r.body)
        self.assertEqual(leftover, "")
        self.assertEqual([e.name for e in events], ["image_generation.partial_image"] * 2 + ["image_generation.completed"])
        self.assertEqual(events[-1].json()["b64_json"], PNG_B64)
        line = self.access(1)
        self.assertEqual((line["usage"], line["in"], line["out"]), ("reported", "2", "100"), line)
        self.assertNotIn("error", line)
        self.assertNotEqual(line["ttft_ms"], "-1", line)

    def test_image_generation_through_gemini(self):
        body = {"model": "gemini-2.5-flash-image", "prompt": "a red cube", "n": 2, "size": "1792x1024"}
        r = post(self.d.port, "/v1/images/generations", body)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual([d["b64_json"] for d in j["data"]], [PNG_B64, PNG_B64])
        self.assertEqual(j["data"][1]["revised_prompt"], "mock image 1 for: a red cube (16:9)")
        self.assertIsInstance(j["created"], int)
        self.assertEqual(j["usage"], {"input_tokens": 3, "output_tokens": 2580, "total_tokens": 2583,
                                      "input_tokens_details": {"text_tokens": 3, "image_tokens": 0}})
        up = self.last()
        self.assertEqual(up["path"], "/v1beta/models/gemini-2.5-flash-image:generateContent")
        sent = json.loads(up["body"])
        self.assertEqual(sent["contents"], [{"role": "user", "parts": [{"text": "a red cube"}]}])
        self.assertEqual(sent["generationConfig"], {"responseModalities": ["TEXT", "IMAGE"], "candidateCount": 2,
                                                    "imageConfig": {"aspectRatio": "16:9"}})
        line = self.access(1)
        self.assertEqual((line["provider"], line["model_sent"], line["usage"], line["in"], line["out"]),
                         ("gm", "gemini-2.5-flash-image", "reported", "3", "2580"), line)
        # A renamed model, and response_format=url answered with data: URLs.
        r = post(self.d.port, "/v1/images/generations", {"model": "nano", "prompt": "p", "response_format": "url"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"][0]["url"], "data:image/png;base64," + PNG_B64)
        self.assertEqual(self.last()["path"], "/v1beta/models/gemini-2.5-flash-image:generateContent")
        # What Gemini cannot do is a clear 400, before any upstream call.
        self.mock.clear()
        r = post(self.d.port, "/v1/images/generations", {"model": "nano", "prompt": "p", "stream": True})
        self.assertEqual(r.status, 400, r)
        self.assertIn("stream", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [])

    def test_image_edit_passes_the_upload_through(self):
        r = post_form(self.d.port, "/v1/images/edits",
                      form([("prompt", "make it blue"), ("model", "gpt-image-1"),
                            ("image", "cube.png", base64.b64decode(PNG_B64), "image/png")]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"][0]["revised_prompt"], "edit of cube.png (70 bytes): make it blue")
        up = self.last()
        self.assertEqual(up["path"], "/v1/images/edits")
        self.assertEqual(up["headers"]["content-type"], "multipart/form-data; boundary=" + BOUNDARY)

    def test_transcription_and_translation_pass_through(self):
        body = form([("file", "talk.wav", AUDIO, "audio/wav"), ("model", "gpt-4o-transcribe"),
                     ("response_format", "json")])
        r = post_form(self.d.port, "/v1/audio/transcriptions", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["text"], "mock transcript of talk.wav (%d bytes)" % len(AUDIO))
        up = self.last()
        self.assertEqual(up["path"], "/v1/audio/transcriptions")
        self.assertEqual(up["body"].encode("latin-1", "replace")[:4], b"--" + BOUNDARY.encode()[:2])
        line = self.access(1)
        self.assertEqual((line["path"], line["usage"], line["in"], line["out"]),
                         ("/v1/audio/transcriptions", "reported", "11", "7"), line)
        # A renamed model: the form's field carries the upstream's name.
        body = form([("model", "my-whisper"), ("file", "talk.wav", AUDIO, "audio/wav"),
                     ("response_format", "text")])
        r = post_form(self.d.port, "/v1/audio/transcriptions", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"mock transcript of talk.wav (%d bytes)\n" % len(AUDIO))
        self.assertTrue(r.header("content-type").startswith("text/plain"), r.headers)
        self.assertIn('name="model"\r\n\r\nwhisper-1\r\n', self.last()["body"])
        self.assertEqual(self.access(2)["usage"], "missing")
        # Whisper's usage is seconds of audio, not tokens: missing too.
        r = post_form(self.d.port, "/v1/audio/transcriptions",
                      form([("model", "whisper-1"), ("file", "a.wav", AUDIO, "audio/wav")]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["usage"], {"type": "duration", "seconds": 3})
        self.assertEqual(self.access(3)["usage"], "missing")
        r = post_form(self.d.port, "/v1/audio/translations",
                      form([("model", "whisper-1"), ("file", "a.wav", AUDIO, "audio/wav")]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["text"], "mock translation of a.wav (%d bytes)" % len(AUDIO))
        self.assertEqual(self.last()["path"], "/v1/audio/translations")

    def test_streamed_transcription_is_relayed_with_its_usage(self):
        body = form([("model", "gpt-4o-mini-transcribe"), ("stream", "true"), ("file", "s.wav", AUDIO, "audio/wav")])
        r = post_form(self.d.port, "/v1/audio/transcriptions", body)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("content-type").startswith("text/event-stream"), r.headers)
        events = [e.json() for e in harness.parse_sse(r.body)[0]]
        self.assertEqual([e["type"] for e in events],
                         ["transcript.text.delta", "transcript.text.delta", "transcript.text.done"])
        line = self.access(1)
        self.assertEqual((line["usage"], line["in"], line["out"]), ("reported", "11", "7"), line)
        self.assertNotIn("error", line)

    def test_speech_relays_audio_bytes(self):
        size = 3 * 1024 * 1024 + 17
        r = post(self.d.port, "/v1/audio/speech",
                 {"model": "tts-1+size=%d" % size, "input": "hello", "voice": "alloy"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "audio/mpeg")
        self.assertEqual(len(r.body), size)
        self.assertEqual(r.body[:3], b"ID3")
        self.assertEqual(r.body[1000:1010], bytes((i % 251) for i in range(1000, 1010)))
        self.assertEqual(self.last()["path"], "/v1/audio/speech")
        line = self.access(1)
        self.assertEqual((line["path"], line["status"], line["usage"]), ("/v1/audio/speech", "200", "missing"), line)
        r = post(self.d.port, "/v1/audio/speech",
                 {"model": "gpt-4o-mini-tts", "input": "hi", "voice": "alloy", "response_format": "wav"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "audio/wav")
        self.assertEqual(len(r.body), 4096)

    def test_hostile_uploads_get_a_400_in_openai_form(self):
        good = form([("model", "whisper-1"), ("file", "a.wav", AUDIO, "audio/wav")])
        cases = (
            ("no boundary", good, "multipart/form-data", "boundary"),
            ("truncated", good[:len(good) // 2], None, "truncated"),
            ("no close", good[:-len(BOUNDARY) - 6], None, "truncated"),
            ("huge headers", b"--" + BOUNDARY.encode() + b"\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\nv\r\n"
             + b"--" + BOUNDARY.encode() + b"--", None, "headers exceed"),
            ("no model", form([("file", "a.wav", AUDIO, "audio/wav")]), None, "model"),
            ("two models", form([("model", "whisper-1"), ("model", "claude-x")]), None, "more than one"),
            ("garbage", b"\x00\xff" * 1000, None, "boundary"),
        )
        for name, body, ctype, words in cases:
            with self.subTest(case=name):
                r = post_form(self.d.port, "/v1/audio/transcriptions", body, content_type=ctype)
                self.assertEqual(r.status, 400, r)
                err = r.json()["error"]
                self.assertIn(words, err["message"])
                self.assertEqual(err["type"], "invalid_request_error")
        many = form([("f%d" % i, "v") for i in range(1001)] + [("model", "whisper-1")])
        r = post_form(self.d.port, "/v1/images/edits", many)
        self.assertEqual(r.status, 400, r)
        self.assertIn("parts", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [])
        # The daemon is still well.
        r = post_form(self.d.port, "/v1/audio/transcriptions", good)
        self.assertEqual(r.status, 200, r)

    def test_providers_without_the_api_are_skipped_or_refused(self):
        r = post(self.d.port, "/v1/images/generations", {"model": "claude-x", "prompt": "p"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("no image generation API", r.json()["error"]["message"])
        r = post_form(self.d.port, "/v1/audio/transcriptions",
                      form([("model", "gemini-tts-1"), ("file", "a.wav", AUDIO, "audio/wav")]))
        self.assertEqual(r.status, 400, r)
        self.assertIn("audio API", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [])

    def test_upstream_errors_are_relayed_in_openai_form(self):
        r = post(self.d.port, "/v1/images/generations", {"model": "gpt-image-1+status=400", "prompt": "p"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["message"], "mock: scripted failure")
        r = post_form(self.d.port, "/v1/audio/transcriptions",
                      form([("model", "whisper-1+status=422"), ("file", "a.wav", AUDIO, "audio/wav")]))
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["error"]["message"], "mock: scripted failure")
        # Translated: Gemini's error, in OpenAI's form.
        r = post(self.d.port, "/v1/images/generations", {"model": "gemini-2.5-flash-image+status=400", "prompt": "p"})
        self.assertEqual(r.status, 400, r)
        err = r.json()["error"]
        self.assertIn("mock: scripted failure", err["message"])
        self.assertEqual(err["type"], "invalid_request_error")
        line = self.access(3)
        self.assertEqual((line["status"], line["upstream_status"]), ("400", "400"), line)

    def test_usage_reaches_the_store(self):
        post(self.d.port, "/v1/images/generations", {"model": "gpt-image-1", "prompt": "abcdefgh"})
        post(self.d.port, "/v1/images/generations", {"model": "gemini-2.5-flash-image", "prompt": "abcd"})

        def rows():
            r = self.d.cli("log", "--json", "--limit", "10")
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)

        wait_until(lambda: len(rows()) >= 2, harness.t(10), "two rows in the store")
        by_model = {row["model"]: row for row in rows()}
        self.assertEqual(by_model["gpt-image-1"]["usage"]["output"], 100, by_model)
        self.assertEqual(by_model["gemini-2.5-flash-image"]["usage"]["output"], 1290, by_model)
        self.assertEqual(by_model["gemini-2.5-flash-image"]["operation"], "images.generations", by_model)
        self.assertEqual(by_model["gpt-image-1"]["usage_state"], "reported", by_model)


class MediaClientTests(AgdTestCase):

    def test_a_clients_model_globs_apply_to_the_forms_model(self):
        self.mock = self.start_mock()
        key = "gw-media-CLIENT-5d1e0c9b77"
        cfg = build_config(self.tmp, auth={"mode": "strict"},
                           clients=[("team", {"key": [key], "models": "whisper-*"})],
                           providers=[("oa", openai_provider(self.mock, ["ko"], "whisper-*, gpt-4o-*"))])
        d = self.start_daemon(cfg)
        auth = {"Authorization": "Bearer " + key}
        ok = form([("file", "a.wav", AUDIO, "audio/wav"), ("model", "whisper-1")])
        r = post(d.port, "/v1/audio/transcriptions", ok,
                 headers=dict(auth, **{"Content-Type": "multipart/form-data; boundary=" + BOUNDARY}))
        self.assertEqual(r.status, 200, r)
        self.mock.clear()
        no = form([("file", "a.wav", AUDIO, "audio/wav"), ("model", "gpt-4o-transcribe")])
        r = post(d.port, "/v1/audio/transcriptions", no,
                 headers=dict(auth, **{"Content-Type": "multipart/form-data; boundary=" + BOUNDARY}))
        self.assertEqual(r.status, 403, r)
        self.assertIn("may not use model 'gpt-4o-transcribe'", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [])


if __name__ == "__main__":
    harness.main()

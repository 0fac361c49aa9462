#!/usr/bin/env python3
"""Embeddings: OpenAI's POST /v1/embeddings and Gemini's :embedContent /
:batchEmbedContents, passed through to a provider of the same API and
translated to the other one; Anthropic providers, which have none, are
skipped; usage is recorded where the upstream reports it."""

import base64
import json
import struct

import harness
from harness import AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider, post


def mock_vector(text, dims=8):
    """The mock's vector for a text (tools/mock-upstream/embed.cc)."""
    h = 1469598103934665603
    for c in text.encode():
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    out = []
    for _ in range(dims):
        h ^= h >> 29
        h = (h * 0xbf58476d1ce4e5b9) & 0xFFFFFFFFFFFFFFFF
        out.append(((h >> 40) & 0xFF) / 256.0)
    return out


class EmbeddingTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        cfg = build_config(self.tmp, providers=[
            ("oa", openai_provider(self.mock, ["ko"], "text-embedding-*, both-embed")),
            ("resp", openai_provider(self.mock, ["kr"], "resp-embed", api="responses")),
            ("gm", gemini_provider(self.mock, ["kg"], "gemini-embedding-*, renamed-embed=gemini-embedding-001")),
            ("an", anthropic_provider(self.mock, ["ka"], "claude-*, both-embed"))])
        self.d = self.start_daemon(cfg)

    def last(self):
        return self.mock.requests()[-1]

    def test_openai_client_to_openai_provider_passes_through(self):
        for model in ("text-embedding-3-small", "resp-embed"):
            with self.subTest(model=model):
                body = {"model": model, "input": ["alpha", "beta"], "dimensions": 4}
                r = post(self.d.port, "/v1/embeddings", body)
                self.assertEqual(r.status, 200, r)
                j = r.json()
                self.assertEqual([e["embedding"] for e in j["data"]], [mock_vector("alpha", 4), mock_vector("beta", 4)])
                self.assertEqual(j["usage"]["prompt_tokens"], 3)  # the mock's: ceil(bytes / 4) per text
                up = self.last()
                self.assertEqual(up["path"], "/v1/embeddings")
                self.assertEqual(json.loads(up["body"]), body)

    def test_openai_client_to_gemini_is_translated_both_ways(self):
        body = {"model": "gemini-embedding-001", "input": ["alpha", "beta", "gamma"], "dimensions": 6}
        r = post(self.d.port, "/v1/embeddings", body)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["object"], "list")
        self.assertEqual(j["model"], "gemini-embedding-001")
        self.assertEqual([e["index"] for e in j["data"]], [0, 1, 2])
        self.assertEqual([e["embedding"] for e in j["data"]], [mock_vector(t, 6) for t in body["input"]])
        self.assertGreater(j["usage"]["prompt_tokens"], 0)
        up = self.last()
        self.assertEqual(up["path"], "/v1beta/models/gemini-embedding-001:batchEmbedContents")
        sent = json.loads(up["body"])
        self.assertEqual(len(sent["requests"]), 3)
        self.assertEqual(sent["requests"][1]["content"]["parts"][0]["text"], "beta")
        self.assertEqual(sent["requests"][0]["outputDimensionality"], 6)
        # base64: float32 little-endian, as OpenAI sends it.
        body = {"model": "gemini-embedding-001", "input": "alpha", "encoding_format": "base64"}
        r = post(self.d.port, "/v1/embeddings", body)
        self.assertEqual(r.status, 200, r)
        raw = base64.b64decode(r.json()["data"][0]["embedding"])
        self.assertEqual(list(struct.unpack("<%df" % (len(raw) // 4), raw)), mock_vector("alpha"))

    def test_gemini_client_passthrough_and_translation(self):
        one = {"content": {"parts": [{"text": "alpha"}]}, "outputDimensionality": 5}
        r = post(self.d.port, "/v1beta/models/gemini-embedding-001:embedContent", one)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"embedding": {"values": mock_vector("alpha", 5)}})
        self.assertEqual(self.last()["path"], "/v1beta/models/gemini-embedding-001:embedContent")
        # A renamed model: the batch's entries name the upstream's model.
        batch = {"requests": [{"model": "models/renamed-embed", "content": {"parts": [{"text": t}]}}
                              for t in ("alpha", "beta")]}
        r = post(self.d.port, "/v1beta/models/renamed-embed:batchEmbedContents", batch)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"embeddings": [{"values": mock_vector("alpha")}, {"values": mock_vector("beta")}]})
        self.assertEqual(json.loads(self.last()["body"])["requests"][0]["model"], "models/gemini-embedding-001")
        # Toward an OpenAI provider.
        r = post(self.d.port, "/v1beta/models/text-embedding-3-small:batchEmbedContents",
                 {"requests": [{"model": "models/text-embedding-3-small", "content": {"parts": [{"text": "beta"}]}}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"embeddings": [{"values": mock_vector("beta")}]})
        self.assertEqual(json.loads(self.last()["body"]),
                         {"model": "text-embedding-3-small", "input": ["beta"], "encoding_format": "float"})
        r = post(self.d.port, "/v1beta/models/text-embedding-3-small:embedContent",
                 {"content": {"parts": [{"text": "al"}, {"text": "pha"}]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"embedding": {"values": mock_vector("al\npha")}})

    def test_anthropic_providers_are_skipped_and_refused_clearly(self):
        r = post(self.d.port, "/v1/embeddings", {"model": "both-embed", "input": "x"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.last()["path"], "/v1/embeddings")
        self.mock.clear()
        r = post(self.d.port, "/v1/embeddings", {"model": "claude-x", "input": "x"})
        self.assertEqual(r.status, 400, r)
        self.assertIn("no embeddings API", r.json()["error"]["message"])
        self.assertEqual(self.mock.requests(), [])

    def test_bad_requests_are_400s_in_the_clients_protocol(self):
        for body, words in (({"model": "gemini-embedding-001", "input": [[1, 2]]}, "token ids"),
                            ({"model": "gemini-embedding-001", "input": []}, "must not be empty"),
                            ({"model": "gemini-embedding-001", "input": ["x"] * 101}, "at most 100"),
                            ({"model": "gemini-embedding-001", "input": "x", "encoding_format": "hex"}, "encoding_format")):
            with self.subTest(words=words):
                r = post(self.d.port, "/v1/embeddings", body)
                self.assertEqual(r.status, 400, r)
                self.assertIn(words, r.json()["error"]["message"])
        r = post(self.d.port, "/v1beta/models/text-embedding-3-small:embedContent", {"content": {"parts": []}})
        self.assertEqual(r.status, 400, r)
        self.assertIn("text", r.json()["error"]["message"])
        self.assertEqual(r.json()["error"]["status"], "INVALID_ARGUMENT")

    def test_usage_is_recorded(self):
        r = post(self.d.port, "/v1/embeddings", {"model": "text-embedding-3-small", "input": "alphabet"})
        self.assertEqual(r.status, 200, r)
        line = harness.parse_access(self.d.wait_access_lines(1)[-1])
        self.assertEqual((line["path"], line["provider"], line["usage"]), ("/v1/embeddings", "oa", "reported"), line)
        self.assertEqual(line["in"], "2", line)

    def test_gemini_embeddings_record_an_estimate(self):
        """Gemini says nothing of an embedding's tokens: the record has the
        estimate of the input the client was told (bytes / 4), marked
        estimated, not the vectors' size."""
        r = post(self.d.port, "/v1/embeddings", {"model": "gemini-embedding-001", "input": ["alpha", "betagamma"]})
        self.assertEqual(r.status, 200, r)
        told = r.json()["usage"]["prompt_tokens"]
        self.assertEqual(told, 2 + 3)
        line = harness.parse_access(self.d.wait_access_lines(1)[-1])
        self.assertEqual((line["provider"], line["usage"], line["in"], line["out"]), ("gm", "estimated", "5", "0"), line)
        # Passed through (a Gemini client), the body's bytes / 4.
        body = {"content": {"parts": [{"text": "x" * 400}]}}
        r = post(self.d.port, "/v1beta/models/gemini-embedding-001:embedContent", body)
        self.assertEqual(r.status, 200, r)
        line = harness.parse_access(self.d.wait_access_lines(2)[-1])
        self.assertEqual(line["usage"], "estimated", line)
        self.assertGreaterEqual(int(line["in"]), 100)
        self.assertLess(int(line["in"]), 150)


if __name__ == "__main__":
    harness.main()

// Embeddings across APIs: OpenAI's POST /v1/embeddings and Gemini's
// :embedContent / :batchEmbedContents, one to the other (docs/TRANSLATION.md,
// "Embeddings"). A request is a list of texts; an answer, one vector per
// text in the same order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "pipeline/protocol.h"
#include "translate/json_util.h"

namespace agd::translate {

struct EmbedRequest {
    std::vector<std::string> texts;
    std::optional<int64_t> dimensions;  // OpenAI dimensions, Gemini outputDimensionality
    std::string task_type, title;       // Gemini's, carried to Gemini only
    bool base64 = false;                // an OpenAI client's encoding_format
    std::string user;                   // OpenAI's, carried to OpenAI only
};

struct EmbedResponse {
    std::vector<std::vector<double>> vectors;
    int64_t prompt_tokens = -1;  // -1: not reported (Gemini reports none)
};

// At most this many texts per request toward Gemini (its batch limit).
inline constexpr size_t kMaxGeminiBatch = 100;

// The client's body (op: Embeddings, GeminiEmbedContent or
// GeminiBatchEmbed); a 400 message when it cannot be read.
Result<EmbedRequest> decode_embed_request(Operation op, const JsonValue& body);

// The upstream body for `wire` (an OpenAI wire: /v1/embeddings; Gemini:
// :batchEmbedContents); a 400 when the wire cannot take it.
Result<std::string> encode_embed_request(Protocol wire, const EmbedRequest& r, const std::string& upstream_model);

// The upstream's answer; a 502 message when it cannot be read or does not
// hold one vector per text.
Result<EmbedResponse> decode_embed_response(Protocol wire, std::string_view body, size_t texts);

// The client's answer for `op`.
// The input tokens of an embeddings request by estimate (its texts' bytes
// / 4), for upstreams that report none (Gemini).
int64_t estimate_embed_tokens(const EmbedRequest& r);

std::string encode_embed_response(Operation op, const EmbedResponse& a, const EmbedRequest& r,
                                  std::string_view client_model);

// Float32 little-endian bytes of `v`, base64: OpenAI's encoding_format=base64.
std::string base64_floats(const std::vector<double>& v);

}  // namespace agd::translate

// Body scan: validates the JSON body (iteratively, so deep nesting cannot
// overflow the stack; nesting past `max_depth` and strings that are not
// valid UTF-8 are refused) and picks out the few top-level fields the gateway
// needs on a passthrough, without building a DOM; or, for a request that may
// be translated, building the DOM the codecs decode in the same pass.
#pragma once

#include <cstddef>
#include <string>

#include "common/json.h"
#include "common/result.h"

namespace agd::translate {
class JsonDoc;
}

namespace agd {

struct BodyInfo {
    bool is_object = false;
    // A multipart/form-data body (pipeline/multipart.h): the model span
    // below is the raw bytes of its `model` field, not a JSON string.
    bool multipart = false;
    bool has_model = false;
    std::string model;          // decoded top-level "model"
    size_t model_begin = 0;     // byte span of the "model" value token, quotes included
    size_t model_end = 0;
    bool has_stream = false;
    bool stream = false;        // top-level "stream": true
    bool has_stream_options = false;  // a top-level "stream_options" member
    // What clients send to name a conversation (sticky sessions), each cut
    // to kMaxSessionField bytes: top-level "prompt_cache_key" (OpenAI,
    // Codex) and "user" (OpenAI), "metadata"."user_id" (Anthropic).
    std::string prompt_cache_key;
    std::string user;
    std::string metadata_user_id;
};

inline constexpr size_t kMaxSessionField = 512;

// data must be followed by a NUL byte (data[len] == 0). Errors carry a
// message fit for the client ("invalid JSON at byte 17: Missing a comma...").
// max_depth counts levels of arrays and objects (`{}` is 1): server.max_json_depth.
// With `dom`, the one pass also builds the body's DOM there: its strings
// point into a copy of the text in the document's pool, unescaped in place,
// so nothing of it may be kept past the document (see ParseOptions::in_place).
// On failure the document is left null.
Result<BodyInfo> scan_body(const char* data, size_t len, unsigned max_depth = kDefaultMaxJsonDepth,
                           translate::JsonDoc* dom = nullptr);

}  // namespace agd

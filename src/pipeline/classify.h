// Classification: which API surface and operation a request is, from its
// method and path alone. The first step of every request; it decides the
// protocol of every error the client may get afterwards.
#pragma once

#include <string>
#include <string_view>

#include "pipeline/protocol.h"

namespace agd {

struct Route {
    Operation op = Operation::NotFound;
    Protocol protocol = Protocol::OpenAIChat;  // the client's protocol
    Surface surface = Surface::OpenAI;         // whose error JSON it gets
    std::string model;                         // from the path (Gemini, GET /v1/models/{id})
    bool gemini_sse = false;                   // streamGenerateContent?alt=sse
};

enum class HttpMethod { Get, Post, Head, Other };

// path: the raw request path without the query; query: the raw query (no '?').
// anthropic_hint: the request carries anthropic-version (decides the form of GET /v1/models,
// unless ?format=openai|anthropic|gemini says otherwise).
Route classify(HttpMethod method, std::string_view path, std::string_view query, bool anthropic_hint);

// Value of a query parameter (percent-decoded), or nullopt-like empty + found=false.
bool query_param(std::string_view query, std::string_view name, std::string* value);

// Percent-decoding; returns false on a malformed escape.
bool percent_decode(std::string_view in, std::string* out);

}  // namespace agd

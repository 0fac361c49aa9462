// Helpers shared by the libFuzzer targets (README.md here).
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "pipeline/protocol.h"
#include "translate/session.h"

namespace agd::fuzz {

inline constexpr Protocol kProtocols[] = {Protocol::OpenAIChat, Protocol::OpenAIResponses, Protocol::Anthropic,
                                          Protocol::Gemini};

inline Protocol protocol_from(unsigned bits) { return kProtocols[bits & 3]; }

// Is `text` one complete JSON value (and nothing after it)? Iterative, so a
// deeply nested value cannot overflow the stack. RapidJSON 1.1.0 silently
// skips any of the UTF-8 BOM bytes EF BB BF at the very start, which strict
// parsers reject: refuse them here.
inline bool valid_json(std::string_view text) {
    if (!text.empty()) {
        unsigned char c = static_cast<unsigned char>(text.front());
        if (c == 0xEF || c == 0xBB || c == 0xBF) return false;
    }
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
    return !d.HasParseError();
}

// An invariant failed: print what and stop, so libFuzzer saves the input.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "\n*** fuzz invariant failed: %s\n", what);
    if (!detail.empty()) {
        constexpr size_t kMax = 4000;
        std::fprintf(stderr, "%.*s%s\n", static_cast<int>(detail.size() < kMax ? detail.size() : kMax), detail.data(),
                     detail.size() > kMax ? "\n[... truncated]" : "");
    }
    std::fflush(stderr);
    __builtin_trap();
}

inline void require_json(std::string_view text, const char* what) {
    if (!valid_json(text)) fail(what, text);
}

// A session as the daemon would make one, with deterministic ids and clock
// so that a crash reproduces.
inline translate::Session make_session(Protocol client, Protocol upstream) {
    translate::Session s;
    s.client = client;
    s.upstream = upstream;
    s.client_model = "m";
    s.upstream_model = "m";
    s.provider = "fuzz";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

}  // namespace agd::fuzz

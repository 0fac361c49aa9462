// ArrayEndWatch: the end of a relayed Gemini JSON-array stream is found
// whatever the read boundaries.
#include <doctest/doctest.h>

#include <string>

#include "dispatch/exchange.h"

using agd::dispatch::ArrayEndWatch;
using agd::dispatch::carries_content;
namespace sse = agd::sse;

TEST_CASE("array watch: finishReason or an error element is seen across every split") {
    const std::string last = R"(,
{"candidates":[{"content":{"role":"model","parts":[{"text":"b"}]},"finishReason":"STOP","index":0}]}
])";
    const std::string error = R"(,
{"error":{"code":503,"message":"x","status":"UNAVAILABLE"}}
])";
    const std::string head = R"([{"candidates":[{"content":{"role":"model","parts":[{"text":"say \"finishReason\""}]},"index":0}]})";
    for (const std::string& tail : {last, error}) {
        std::string body = head + tail;
        for (size_t a = 0; a < body.size(); ++a)
            for (size_t b = a; b < body.size(); b += 7) {
                ArrayEndWatch w;
                w.scan(std::string_view(body).substr(0, a));
                w.scan(std::string_view(body).substr(a, b - a));
                w.scan(std::string_view(body).substr(b));
                INFO(a << " " << b);
                REQUIRE(w.seen());
            }
    }
    // The name inside text (escaped quotes) is not the end; one byte at a time.
    ArrayEndWatch w;
    for (char c : head + ",\n{\"candidates\":[]}\n]") w.scan(std::string_view(&c, 1));
    CHECK_FALSE(w.seen());
}

TEST_CASE("first content: each wire's content events, compact or spaced JSON; empty deltas are not content") {
    auto ev = [](std::string name, std::string data) {
        sse::Event e;
        e.name = std::move(name);
        e.data = std::move(data);
        return e;
    };
    using agd::Protocol;
    CHECK(carries_content(Protocol::Gemini, ev("", R"({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]})")));
    CHECK(carries_content(Protocol::Gemini, ev("", R"({"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]})")));
    CHECK(carries_content(Protocol::Gemini, ev("", R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]})")));
    CHECK_FALSE(carries_content(Protocol::Gemini, ev("", R"({"candidates": [{"content": {"parts": [{"text": ""}]}}]})")));
    CHECK_FALSE(carries_content(Protocol::Gemini, ev("", R"({"usageMetadata": {"promptTokenCount": 3}})")));
    CHECK(carries_content(Protocol::OpenAIChat, ev("", R"({"choices": [{"delta": {"content": "Hi"}}]})")));
    CHECK(carries_content(Protocol::OpenAIChat, ev("", R"({"choices":[{"delta":{"reasoning_content":"hm"}}]})")));
    CHECK(carries_content(Protocol::OpenAIChat, ev("", R"({"choices":[{"delta":{"tool_calls":[]}}]})")));
    CHECK_FALSE(carries_content(Protocol::OpenAIChat, ev("", R"({"choices":[{"delta":{"role":"assistant","content":""}}]})")));
    CHECK(carries_content(Protocol::Anthropic, ev("content_block_delta", "{}")));
    CHECK_FALSE(carries_content(Protocol::Anthropic, ev("ping", "{}")));
    CHECK(carries_content(Protocol::OpenAIResponses, ev("response.output_text.delta", "{}")));
    CHECK_FALSE(carries_content(Protocol::OpenAIResponses, ev("response.created", "{}")));
}

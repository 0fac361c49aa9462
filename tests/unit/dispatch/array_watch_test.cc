// ArrayEndWatch: the end of a relayed Gemini JSON-array stream is found
// whatever the read boundaries.
#include <doctest/doctest.h>

#include <string>

#include "dispatch/exchange.h"

using agd::dispatch::ArrayEndWatch;

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

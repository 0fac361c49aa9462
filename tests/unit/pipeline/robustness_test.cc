// Randomised inputs (fixed seeds, so runs are repeatable) for the parsers
// that read bytes from the network: they must never crash, and what they
// report must stay consistent with the bytes.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "pipeline/body.h"
#include "scan_both.h"
#include "pipeline/classify.h"
#include "translate/sse.h"

using namespace agd;

namespace {

std::string mutate(std::string s, std::mt19937& rng) {
    static const char alphabet[] = "{}[]\":,\\ \n\r\tabcmodelstream0123456789truefalsenull\x01\xff";
    std::uniform_int_distribution<int> op(0, 3);
    std::uniform_int_distribution<size_t> ch(0, sizeof alphabet - 2);
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
        size_t at = rng() % s.size();
        switch (op(rng)) {
            case 0: s.erase(at, 1 + rng() % 3); break;
            case 1: s.insert(at, 1, alphabet[ch(rng)]); break;
            case 2: s[at] = alphabet[ch(rng)]; break;
            default: s = s.substr(0, at); break;
        }
    }
    return s;
}

}  // namespace

TEST_CASE("body scan: mutated bodies never crash, and a found model matches its span") {
    const std::string seeds[] = {
        R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi \"there\""}]})",
        R"({"messages":[],"model":"a\\b\"c","stream_options":{"include_usage":true}})",
        R"({"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"temperature":0.5}})",
    };
    std::mt19937 rng(20261122);
    int parsed = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string s = mutate(seeds[i % 3], rng);
        auto r = test::scan_both(s);
        if (!r.ok()) {
            CHECK(r.error().code == 400);
            continue;
        }
        ++parsed;
        if (r->has_model) {
            REQUIRE(r->model_begin < r->model_end);
            REQUIRE(r->model_end <= s.size());
            CHECK(s[r->model_begin] == '"');
            CHECK(s[r->model_end - 1] == '"');
        }
    }
    CHECK(parsed > 0);
}

TEST_CASE("sse framing: any split of a stream yields the same events") {
    const std::string stream =
        "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\nevent: e\rdata: z\r\r"
        "data: {\"candidates\":[]}\r\n\r\n";
    std::string whole_names, whole_data;
    sse::for_each_event(std::string_view(stream).substr(0, sse::complete_prefix(stream)), [&](const sse::Event& e) {
        whole_names += std::string(e.name) + "|";
        whole_data += e.data + "|";
    });
    CHECK(whole_names == "message_start||e||");
    CHECK(whole_data == "{\"a\":1}|x\ny|z|{\"candidates\":[]}|");
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        // Feed the stream in random pieces, as a relay does, carrying the incomplete tail.
        std::string carry, names, data;
        size_t pos = 0;
        while (pos < stream.size()) {
            size_t n = 1 + rng() % 17;
            carry.append(stream, pos, n);
            pos += n;
            size_t done = sse::complete_prefix(carry);
            sse::for_each_event(std::string_view(carry).substr(0, done), [&](const sse::Event& e) {
                names += std::string(e.name) + "|";
                data += e.data + "|";
            });
            carry.erase(0, done);
        }
        REQUIRE(carry.empty());
        CHECK(names == whole_names);
        CHECK(data == whole_data);
    }
}

TEST_CASE("classify: random paths never crash") {
    std::mt19937 rng(3);
    const std::string seeds[] = {"/v1beta/models/gemini-pro:streamGenerateContent", "/v1/chat/completions",
                                 "/v1/models/%41%2", "/v1/messages/count_tokens"};
    for (int i = 0; i < 20000; ++i) {
        std::string p = mutate(seeds[i % 4], rng);
        Route r = classify(i % 2 ? HttpMethod::Post : HttpMethod::Get, p, "alt=sse&key=%zz", false);
        if (r.op == Operation::GenerateContent || r.op == Operation::StreamGenerateContent) CHECK_FALSE(r.model.empty());
    }
}

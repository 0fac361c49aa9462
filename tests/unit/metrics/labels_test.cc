#include "metrics/labels.h"

#include <doctest/doctest.h>

#include <random>
#include <set>

#include "test_config.h"

using namespace agd;
using namespace agd::metrics;

TEST_CASE("model labels: the config's names and patterns, other, none") {
    auto cfg = test::sample_config();
    ModelLabels m(*cfg);
    CHECK(m.label("gpt-4o", 0) == "gpt-4o");
    CHECK(m.label("gpt-4o-mini", 0) == "gpt-*");   // a glob: the pattern's text
    CHECK(m.label("fast", 0) == "fast");           // a rename: the client-side name
    CHECK(m.label("gpt-real", 0) == "gpt-*");      // the upstream name is not a client-side name
    CHECK(m.label("claude-opus-4", 1) == "claude-*");
    CHECK(m.label("llama-3", -1) == "other");
    CHECK(m.label("", 0) == "-");
    // Without a provider (a model no provider serves, a refusal before
    // routing): an exact name first, then the first glob in config order.
    CHECK(m.label("claude-sonnet", -1) == "claude-sonnet");
    CHECK(m.label("gpt-5", -1) == "gpt-*");
    // An out-of-range provider index is no provider.
    CHECK(m.label("gpt-5", 17) == "gpt-*");
}

TEST_CASE("model labels: the serving provider's own list comes first") {
    config::Config cfg;
    cfg.providers.push_back(test::provider("a", {"claude-*"}));
    cfg.providers.push_back(test::provider("b", {"claude-x*", "claude-xy"}));
    ModelLabels m(cfg);
    CHECK(m.label("claude-xy", 1) == "claude-x*");  // b's first match, in b's order
    CHECK(m.label("claude-xy", 0) == "claude-*");
    CHECK(m.label("claude-xy", -1) == "claude-xy");  // exact names before globs
    CHECK(m.label("claude-xz", -1) == "claude-*");
}

TEST_CASE("model labels: 10,000 random names are all other") {
    auto cfg = test::sample_config();
    ModelLabels m(*cfg);
    std::mt19937 rng(42);
    std::set<std::string> labels;
    for (int i = 0; i < 10000; ++i) {
        std::string name;
        size_t len = 1 + rng() % 40;
        for (size_t k = 0; k < len; ++k) name += static_cast<char>(1 + rng() % 255);
        if (name.rfind("gpt-", 0) == 0 || name.rfind("claude-", 0) == 0 || name == "fast") continue;
        labels.insert(std::string(m.label(name, static_cast<int>(rng() % 3) - 1)));
    }
    CHECK(labels == std::set<std::string>{"other"});
    CHECK(m.names().size() == 2 + 5);  // "-", "other" and the five entries
}

TEST_CASE("label escaping") {
    auto esc = [](std::string_view v) {
        std::string out;
        append_escaped(out, v);
        return out;
    };
    CHECK(esc("plain-name_1.2") == "plain-name_1.2");
    CHECK(esc("a\\b") == "a\\\\b");
    CHECK(esc("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(esc("two\nlines") == "two\\nlines");
    CHECK(esc("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    CHECK(esc("bad\xFFz") == "bad\xEF\xBF\xBDz");
    CHECK(esc("cut\xC3") == "cut\xEF\xBF\xBD");
    CHECK(esc("overlong\xC0\xAF") == "overlong\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(esc("surrogate\xED\xA0\x80") == "surrogate\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(esc(std::string_view("nul\0x", 5)) == std::string("nul\0x", 5));
}

TEST_CASE("fingerprints, statuses, limits, protocols") {
    uint32_t fp = 0;
    CHECK(parse_fingerprint("1a2B3c4D", fp));
    CHECK(format_fingerprint(fp) == "1a2b3c4d");
    CHECK(format_fingerprint(0) == "00000000");
    CHECK_FALSE(parse_fingerprint("1a2b3c4", fp));
    CHECK_FALSE(parse_fingerprint("1a2b3c4d5", fp));
    CHECK_FALSE(parse_fingerprint("1a2b3c4g", fp));
    CHECK(status_label(200) == 200);
    CHECK(status_label(499) == 499);
    CHECK(status_label(99) == 0);
    CHECK(status_label(600) == 0);
    CHECK(status_label(-1) == 0);
    CHECK(limit_label("rpm") == "rpm");
    CHECK(limit_label("daily_tokens") == "daily_tokens");
    CHECK(limit_label("Rpm") == "other");
    CHECK(limit_label("rpm\"x") == "other");
    CHECK(limit_label(std::string(33, 'a')) == "other");
    CHECK(protocol_label(protocol_id(true, Protocol::OpenAIChat)) == "openai-chat");
    CHECK(protocol_label(protocol_id(true, Protocol::OpenAIResponses)) == "openai-responses");
    CHECK(protocol_label(protocol_id(true, Protocol::Anthropic)) == "anthropic");
    CHECK(protocol_label(protocol_id(true, Protocol::Gemini)) == "gemini");
    CHECK(protocol_label(protocol_id(false, Protocol::Gemini)) == "local");
}

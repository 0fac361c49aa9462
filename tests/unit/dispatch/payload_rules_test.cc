// Payload rules applied to an upstream request: which rules match, the
// body edits, the headers, and a body left alone when nothing matches.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "dispatch/payload_rules.h"
#include "upstream/client.h"

using namespace agd;
using namespace agd::dispatch;

namespace {

std::shared_ptr<const config::Config> rules(const std::string& text) {
    config::LoadResult r = config::load_string("[client.team]\nkey = gw-aaaaaaaaaaaa\n" + text, "test.conf");
    for (const auto& e : r.errors) MESSAGE(e.str());
    REQUIRE(r.ok());
    return r.config;
}

struct Applied {
    int count = -1;
    std::string body;
    std::vector<std::string> headers;
    std::string error;
};

Applied apply(const config::Config& cfg, const std::string& body, std::string_view model = "claude-opus-4",
              Protocol wire = Protocol::Anthropic, std::string_view client = "",
              std::vector<std::string> headers = {"x-api-key: k"}) {
    upstream::Request req;
    req.body = body.data();
    req.body_len = body.size();
    req.headers = std::move(headers);
    std::string owned;
    Result<int> r = apply_rules(cfg, model, wire, client, req, owned);
    Applied a;
    if (!r) {
        a.error = r.error().message;
        return a;
    }
    a.count = r.value();
    a.body.assign(req.body, req.body_len);
    a.headers = req.headers;
    return a;
}

}  // namespace

TEST_CASE("payload rules: default, set and remove, nested paths made as needed") {
    auto cfg = rules(
        "[rule.r]\n"
        "models = claude-*\n"
        "default = max_tokens=32000\n"
        "default = temperature=0.5\n"
        "set = top_k=40\n"
        "set = thinking={\"type\":\"enabled\",\"budget_tokens\":1024}\n"
        "set = metadata.user_id=team\n"
        "remove = top_p\n"
        "remove = absent.path\n");
    Applied a = apply(*cfg, R"({"model":"claude-opus-4","temperature":1,"top_p":0.9,"top_k":5,"messages":[]})");
    CHECK(a.count == 1);
    CHECK(a.body ==
          R"({"model":"claude-opus-4","temperature":1,"top_k":40,"messages":[],"max_tokens":32000,)"
          R"("thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"team"}})");
}

TEST_CASE("payload rules: a member on the path that is not an object leaves the body as it is") {
    auto cfg = rules("[rule.r]\nset = metadata.user_id=x\nremove = messages.0\n");
    Applied a = apply(*cfg, R"({"metadata":"plain","messages":[1]})");
    CHECK(a.body == R"({"metadata":"plain","messages":[1]})");
}

TEST_CASE("payload rules: matched by upstream model, wire and client; no match, no change") {
    auto cfg = rules(
        "[rule.anth]\nmodels = claude-*\nwire = anthropic\nset = a=1\n"
        "[rule.openai]\nwire = openai\nset = b=2\n"
        "[rule.team]\nclient = team\nset = c=3\n");
    const std::string body = R"({ "x" : 0 })";
    CHECK(apply(*cfg, body, "claude-opus-4", Protocol::Anthropic).body == R"({"x":0,"a":1})");
    CHECK(apply(*cfg, body, "gpt-5", Protocol::Anthropic).count == 0);
    CHECK(apply(*cfg, body, "gpt-5", Protocol::Anthropic).body == body);  // untouched, byte for byte
    CHECK(apply(*cfg, body, "gpt-5", Protocol::OpenAIResponses).body == R"({"x":0,"b":2})");
    CHECK(apply(*cfg, body, "gpt-5", Protocol::OpenAIChat).body == R"({"x":0,"b":2})");
    CHECK(apply(*cfg, body, "gpt-5", Protocol::Gemini, "team").body == R"({"x":0,"c":3})");
    CHECK(apply(*cfg, body, "claude-x", Protocol::Anthropic, "team").body == R"({"x":0,"a":1,"c":3})");
    CHECK(apply(*cfg, body, "claude-x", Protocol::Anthropic, "team").count == 2);
}

TEST_CASE("payload rules: headers are added, or joined to the request's own list") {
    auto cfg = rules(
        "[rule.h]\n"
        "header = anthropic-beta: context-1m-2025-08-07\n"
        "header = x-team: blue\n");
    Applied a = apply(*cfg, R"({ "a" : 1 })", "m", Protocol::Anthropic, "",
                      {"x-api-key: k", "anthropic-beta: interleaved-thinking-2025-05-14"});
    CHECK(a.headers == std::vector<std::string>{"x-api-key: k",
                                                "anthropic-beta: interleaved-thinking-2025-05-14, context-1m-2025-08-07",
                                                "x-team: blue"});
    CHECK(a.body == R"({ "a" : 1 })");  // headers alone: the body is not parsed, not rewritten
}

TEST_CASE("payload rules: a body a rule cannot edit is refused") {
    auto cfg = rules("[rule.r]\nset = a=1\n");
    CHECK(apply(*cfg, "[1,2]").error.find("not a JSON object") != std::string::npos);
    CHECK(apply(*cfg, "{\"a\":").error.find("not a JSON object") != std::string::npos);
}

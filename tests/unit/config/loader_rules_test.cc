// [rule.NAME]: payload rules, as read from the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/loader.h"

using namespace agd::config;

namespace {

const std::string kFile = "/etc/antigravityd/antigravityd.conf";

LoadResult load(const std::string& text) { return load_string(text, kFile); }

std::vector<std::string> errors_of(const LoadResult& r) {
    std::vector<std::string> out;
    for (const auto& d : r.errors) out.push_back(d.str());
    return out;
}

std::string at(int line, const std::string& msg) { return kFile + ":" + std::to_string(line) + ": " + msg; }

}  // namespace

TEST_CASE("config rules: every key, in order") {
    LoadResult r = load(
        "[client.team]\n"
        "key = gw-aaaaaaaaaaaa\n"
        "[rule.claude-long]\n"
        "models = claude-opus-*, claude-sonnet-4*\n"
        "wire = anthropic\n"
        "client = team\n"
        "default = max_tokens=32000\n"
        "set = temperature=1\n"
        "set = thinking={\"type\": \"enabled\", \"budget_tokens\": 1024}\n"
        "set = metadata.user_id=team-a\n"
        "remove = top_p\n"
        "header = anthropic-beta: context-1m-2025-08-07\n"
        "[rule.all]\n"
        "set = store=false\n");
    REQUIRE(errors_of(r) == std::vector<std::string>{});
    REQUIRE(r.config->rules.size() == 2);
    const RuleConfig& c = r.config->rules[0];
    CHECK(c.name == "claude-long");
    CHECK(c.models == std::vector<std::string>{"claude-opus-*", "claude-sonnet-4*"});
    CHECK(c.wire == RuleWire::Anthropic);
    CHECK(c.client == "team");
    REQUIRE(c.edits.size() == 5);
    CHECK(c.edits[0].kind == RuleEdit::Kind::Default);
    CHECK(c.edits[0].path == std::vector<std::string>{"max_tokens"});
    CHECK(c.edits[0].value == "32000");
    CHECK(c.edits[1].value == "1");
    CHECK(c.edits[2].value == "{\"type\":\"enabled\",\"budget_tokens\":1024}");  // compacted
    CHECK(c.edits[3].path == std::vector<std::string>{"metadata", "user_id"});
    CHECK(c.edits[3].value == "\"team-a\"");  // a bare word is a string
    CHECK(c.edits[4].kind == RuleEdit::Kind::Remove);
    CHECK(c.edits[4].path == std::vector<std::string>{"top_p"});
    CHECK(c.headers == std::vector<std::string>{"anthropic-beta: context-1m-2025-08-07"});
    CHECK(c.line == 3);
    const RuleConfig& all = r.config->rules[1];
    CHECK(all.models.empty());
    CHECK(all.wire == RuleWire::Any);
    CHECK(all.edits[0].value == "false");
}

TEST_CASE("config rules: mistakes are named, with their line") {
    struct Case {
        const char* text;
        std::string error;
    } cases[] = {
        {"[rule.a]\nset = max_tokens\n", at(2, "rule.a.set: expected PATH=VALUE (such as max_tokens=32000)")},
        {"[rule.a]\nset = =5\n", at(2, "rule.a.set: a JSON path is needed before '=' (such as max_tokens or generationConfig.topK)")},
        {"[rule.a]\nset = a..b=5\n", at(2, "rule.a.set: the path 'a..b' has an empty member name")},
        {"[rule.a]\nset = x={\"a\":\n", at(2, "rule.a.set: the value '{\"a\":' is not valid JSON")},
        {"[rule.a]\nremove = top_p=1\n", at(2, "rule.a.remove: remove takes a path alone, without '=VALUE'")},
        {"[rule.a]\nheader = x-api-key: k\n", at(2, "rule.a.header: the daemon sets 'x-api-key' itself; a rule cannot")},
        {"[rule.a]\nheader = nocolon\n", at(2, "rule.a.header: expected 'Name: value'")},
        {"[rule.a]\nwire = grpc\nset = a=1\n",
         at(2, "rule.a.wire: unknown wire \"grpc\" (expected openai, chat, responses, anthropic or gemini)")},
        {"[rule.a]\nfrob = 1\n", at(2, "rule.a.frob: unknown key (expected models, wire, client, default, set, remove or header)")},
        {"[rule.a]\nmodels = x\n", at(1, "rule.a: the rule changes nothing: give it default, set, remove or header lines")},
        {"[rule.a]\nclient = nobody\nset = a=1\n",
         at(1, "rule.a.client: no client \"nobody\" ([client.NAME], or default for the [auth] keys)")},
        {"[rule.a]\nset = a=1\n[rule.a]\nset = b=1\n", at(3, "rule.a: duplicate rule section (first defined on line 1)")},
        {"[rule]\n", at(1, "rule: missing rule name: write [rule.NAME]")},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        LoadResult r = load(c.text);
        CHECK_FALSE(r.ok());
        std::vector<std::string> errs = errors_of(r);
        CHECK(std::find(errs.begin(), errs.end(), c.error) != errs.end());
        if (std::find(errs.begin(), errs.end(), c.error) == errs.end())
            for (const auto& e : errs) MESSAGE(e);
    }
}

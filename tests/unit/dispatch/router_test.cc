#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "config/loader.h"
#include "dispatch/router.h"

using namespace agd;
using namespace agd::dispatch;

namespace {

std::shared_ptr<const config::Config> load(const std::string& text) {
    auto r = config::load_string(text, "test.conf");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.ok());
    return r.config;
}

const char* kTwoProviders = R"(
[server]
listen = 127.0.0.1:0
[routing]
strategy = %s
cooldown = 30s
[provider.a]
type = openai
base_url = http://127.0.0.1:1/v1
key = key-a1
key = key-a2
key = key-a3
models = gpt-*, fast=gpt-4o-mini
[provider.b]
type = anthropic
base_url = http://127.0.0.1:1
key = key-b1
models = claude-*, gpt-4o
)";

std::string conf(const char* strategy) {
    char buf[1024];
    snprintf(buf, sizeof buf, kTwoProviders, strategy);
    return buf;
}

}  // namespace

TEST_CASE("router: globs, renames and provider order") {
    auto cfg = load(conf("round-robin"));
    HealthRegistry reg;
    Router r(*cfg, reg);
    auto m = r.match("gpt-4o");
    REQUIRE(m.size() == 2);
    CHECK(r.providers()[m[0].provider].cfg->name == "a");
    CHECK(r.providers()[m[1].provider].wire == Protocol::Anthropic);
    auto f = r.match("fast");
    REQUIRE(f.size() == 1);
    CHECK(f[0].upstream_model == "gpt-4o-mini");
    CHECK(r.match("claude-3").size() == 1);
    CHECK(r.match("llama").empty());
    auto listed = r.listed_models();
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].first == "fast");
    CHECK(listed[1].first == "gpt-4o");
}

TEST_CASE("router: round-robin rotates; tried credentials are skipped") {
    auto cfg = load(conf("round-robin"));
    HealthRegistry reg;
    Router r(*cfg, reg);
    auto m = r.match("gpt-5");
    std::vector<std::string> order;
    for (int i = 0; i < 6; ++i) order.push_back(r.pick(m, {}, 0).cred->key);
    CHECK(order == std::vector<std::string>{"key-a1", "key-a2", "key-a3", "key-a1", "key-a2", "key-a3"});

    std::vector<const Credential*> tried;
    for (int i = 0; i < 3; ++i) {
        auto p = r.pick(m, tried, 0);
        REQUIRE(p.status == Router::PickStatus::Ok);
        CHECK(std::find(tried.begin(), tried.end(), p.cred) == tried.end());
        tried.push_back(p.cred);
    }
    CHECK(r.pick(m, tried, 0).status == Router::PickStatus::Exhausted);
}

TEST_CASE("router: fill-first and cooldown") {
    auto cfg = load(conf("fill-first"));
    HealthRegistry reg;
    Router r(*cfg, reg);
    auto m = r.match("gpt-5");
    for (int i = 0; i < 3; ++i) CHECK(r.pick(m, {}, 1000).cred->key == "key-a1");
    const Credential* first = r.pick(m, {}, 1000).cred;
    Router::report(*first, Outcome::RateLimited, 429, 5000, 1000);
    CHECK(r.pick(m, {}, 2000).cred->key == "key-a2");
    CHECK(r.pick(m, {}, 6001).cred->key == "key-a1");  // cooldown over
    CHECK(first->health->failures.load() == 1);
    CHECK(first->health->last_status.load() == 429);

    for (const auto& c : r.providers()[0].creds) Router::report(c, Outcome::RateLimited, 429, 10000, 1000);
    auto p = r.pick(m, {}, 3000);
    CHECK(p.status == Router::PickStatus::AllCooling);
    CHECK(p.retry_after_ms == 8000);
}

TEST_CASE("router: health survives a rebuild from a new config") {
    HealthRegistry reg;
    auto cfg1 = load(conf("round-robin"));
    Router r1(*cfg1, reg);
    Router::report(r1.providers()[0].creds[1], Outcome::RateLimited, 429, 60000, 0);
    auto cfg2 = load(conf("fill-first"));
    Router r2(*cfg2, reg);
    CHECK(r2.providers()[0].creds[1].health->cooldown_until_ms.load() == 60000);
    CHECK(r2.providers()[0].creds[0].health->cooldown_until_ms.load() == 0);
    reg.retain_only({});
    Router r3(*cfg2, reg);
    CHECK(r3.providers()[0].creds[1].health->cooldown_until_ms.load() == 0);
}

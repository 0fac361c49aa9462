#include <doctest/doctest.h>

#include "../support.h"

#include <algorithm>
#include <string>

#include "config/loader.h"
#include "dispatch/router.h"

using namespace agd;
using namespace agd::dispatch;

namespace {

std::shared_ptr<const config::Config> load(const std::string& text) { return agd::testing::load_config(text); }

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
    agd::credentials::Ledger reg;
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
    agd::credentials::Ledger reg;
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

namespace {

using agd::credentials::Hints;
using agd::credentials::Scope;
using agd::credentials::Verdict;

Verdict rate_limited(int64_t wait_ms) {
    Verdict v;
    v.scope = Scope::Model;
    v.wait_ms = wait_ms;
    v.why = "429";
    return v;
}

}  // namespace

TEST_CASE("router: fill-first and cooldown") {
    auto cfg = load(conf("fill-first"));
    agd::credentials::Ledger reg;
    Router r(*cfg, reg);
    auto m = r.match("gpt-5");
    for (int i = 0; i < 3; ++i) CHECK(r.pick(m, {}, 1000).cred->key == "key-a1");
    const Credential* first = r.pick(m, {}, 1000).cred;
    r.report(*first, "gpt-5", rate_limited(5000), Hints{}, 429, 1000);
    CHECK(r.pick(m, {}, 2000).cred->key == "key-a2");
    CHECK(r.pick(m, {}, 6001).cred->key == "key-a1");  // cooldown over
    CHECK(first->state->failures.load() == 1);
    CHECK(first->state->last_status.load() == 429);

    for (const auto& c : r.providers()[0].creds) r.report(c, "gpt-5", rate_limited(10000), Hints{}, 429, 1000);
    auto p = r.pick(m, {}, 3000);
    CHECK(p.status == Router::PickStatus::AllCooling);
    CHECK(p.retry_after_ms == 8000);
}

TEST_CASE("router: a model's quota cools that model only") {
    auto cfg = load(conf("fill-first"));
    agd::credentials::Ledger reg;
    Router r(*cfg, reg);
    auto gpt5 = r.match("gpt-5");
    auto gpt4o = r.match("gpt-4o");
    const Credential* a1 = r.pick(gpt5, {}, 1000).cred;
    REQUIRE(a1->key == "key-a1");
    r.report(*a1, "gpt-5", rate_limited(60000), Hints{}, 429, 1000);
    CHECK(r.pick(gpt5, {}, 2000).cred->key == "key-a2");
    CHECK(r.pick(gpt4o, {}, 2000).cred->key == "key-a1");  // the other model still served
    auto cooling = a1->state->models_cooling(2000);
    REQUIRE(cooling.size() == 1);
    CHECK(cooling[0].model == "gpt-5");
    // A success for the model clears it at once.
    r.report(*a1, "gpt-5", Verdict{}, Hints{}, 200, 3000);
    CHECK(r.pick(gpt5, {}, 3000).cred->key == "key-a1");
}

TEST_CASE("router: a key-wide limit cools every model; a 401 takes the key out for good") {
    auto cfg = load(conf("fill-first"));
    agd::credentials::Ledger reg;
    Router r(*cfg, reg);
    auto gpt5 = r.match("gpt-5");
    auto gpt4o = r.match("gpt-4o");
    const auto& creds = r.providers()[0].creds;
    Verdict key_wide;
    key_wide.scope = Scope::Credential;
    key_wide.wait_ms = 30000;
    r.report(creds[0], "gpt-5", key_wide, Hints{}, 429, 1000);
    CHECK(r.pick(gpt4o, {}, 2000).cred->key == "key-a2");
    Verdict revoked;
    revoked.scope = Scope::Credential;
    revoked.disable = true;
    r.report(creds[1], "gpt-5", revoked, Hints{}, 401, 1000);
    CHECK(r.pick(gpt5, {}, 2000).cred->key == "key-a3");
    CHECK(creds[1].state->disabled());
    // Hours later key-a1 is back; key-a2 stays out until enabled.
    CHECK(r.pick(gpt5, {}, 10'000'000).cred->key == "key-a1");
    std::vector<const Credential*> tried{&creds[0], &creds[2]};
    CHECK(r.pick(gpt5, tried, 10'000'000).status == Router::PickStatus::Exhausted);  // not "cooling"
    creds[1].state->enable();
    CHECK(r.pick(gpt5, tried, 10'000'000).cred->key == "key-a2");
}

TEST_CASE("router: a request's own error cools nothing") {
    auto cfg = load(conf("fill-first"));
    agd::credentials::Ledger reg;
    Router r(*cfg, reg);
    auto gpt5 = r.match("gpt-5");
    Verdict bad;
    bad.scope = Scope::Request;
    r.report(r.providers()[0].creds[0], "gpt-5", bad, Hints{}, 400, 1000);
    CHECK(r.pick(gpt5, {}, 1001).cred->key == "key-a1");
    // Nor does it end a rest: a 400 from a request in flight says nothing
    // of the rate limit a key-wide 429 reported meanwhile.
    Verdict key_wide;
    key_wide.scope = Scope::Credential;
    key_wide.wait_ms = 60000;
    r.report(r.providers()[0].creds[0], "gpt-5", key_wide, Hints{}, 429, 2000);
    r.report(r.providers()[0].creds[0], "gpt-5", bad, Hints{}, 400, 2001);
    CHECK(r.pick(gpt5, {}, 2002).cred->key == "key-a2");
    CHECK(r.providers()[0].creds[0].state->cooling_until() == 62000);
}

TEST_CASE("router: the breaker opens after consecutive transport failures, then lets one request test it") {
    auto cfg = load(conf("fill-first"));
    agd::credentials::Ledger reg;
    Router r(*cfg, reg);
    auto gpt5 = r.match("gpt-5");
    const Credential& a1 = r.providers()[0].creds[0];
    Verdict down = agd::credentials::transport_failure("connection refused");
    for (int i = 0; i < 4; ++i) r.report(a1, "gpt-5", down, Hints{}, 0, 1000);
    CHECK(r.pick(gpt5, {}, 1000).cred == &a1);  // 4 < breaker_failures (5): still tried
    r.report(a1, "gpt-5", down, Hints{}, 0, 1000);
    CHECK(r.pick(gpt5, {}, 1000).cred->key == "key-a2");  // open
    CHECK(a1.state->breaker_open(1000));
    // After breaker_cooldown (30 s): one request tests it, the next does not.
    CHECK_FALSE(a1.state->breaker_half_open(30'999));
    CHECK(a1.state->breaker_half_open(31'001));
    auto test = r.pick(gpt5, {}, 31'001);
    CHECK(test.cred == &a1);
    CHECK(test.probe);
    CHECK(r.pick(gpt5, {}, 31'002).cred->key == "key-a2");
    // The test fails: open again at once.
    r.report(a1, "gpt-5", down, Hints{}, 0, 31'100);
    CHECK(r.pick(gpt5, {}, 40'000).cred->key == "key-a2");
    // The next test succeeds: closed.
    CHECK(r.pick(gpt5, {}, 61'101).cred == &a1);
    r.report(a1, "gpt-5", Verdict{}, Hints{}, 200, 61'200);
    CHECK(r.pick(gpt5, {}, 61'201).cred == &a1);
    CHECK(r.pick(gpt5, {}, 61'202).cred == &a1);
}

TEST_CASE("router: a long hint is capped and probed; a spent window is avoided first") {
    auto cfg = load(conf("fill-first"));
    agd::credentials::Ledger reg;
    Router r(*cfg, reg);
    auto gpt5 = r.match("gpt-5");
    const auto& creds = r.providers()[0].creds;
    // A 7-day hint: cooled for max_cooldown (1 h) at most, tested every probe_interval (5 min).
    r.report(creds[0], "gpt-5", rate_limited(7LL * 86'400'000), Hints{}, 429, 0);
    CHECK(r.pick(gpt5, {}, 1000).cred->key == "key-a2");
    auto probe = r.pick(gpt5, {}, 300'000);
    CHECK(probe.cred == &creds[0]);
    CHECK(probe.probe);
    CHECK(r.pick(gpt5, {}, 300'001).cred->key == "key-a2");  // one probe per interval
    CHECK(r.pick(gpt5, {}, 600'000).cred == &creds[0]);      // the next interval's
    CHECK(r.pick(gpt5, {}, 3'600'001).cred == &creds[0]);    // the cap: back whatever the hint said

    // A success that says a window is spent: avoided while others are ready.
    agd::credentials::Ledger reg2;
    Router r2(*cfg, reg2);
    const auto& c2 = r2.providers()[0].creds;
    Hints spent;
    spent.requests.remaining = 0;
    spent.requests.reset_unix_ms = INT64_MAX / 4;  // far ahead of the wall clock
    r2.report(c2[0], "gpt-5", Verdict{}, spent, 200, 1000);
    CHECK(r2.pick(gpt5, {}, 2000).cred->key == "key-a2");
    std::vector<const Credential*> tried{&c2[1], &c2[2]};
    CHECK(r2.pick(gpt5, tried, 2000).cred == &c2[0]);  // nothing else: still used
}

TEST_CASE("router: health survives a rebuild from a new config") {
    agd::credentials::Ledger reg;
    auto cfg1 = load(conf("round-robin"));
    Router r1(*cfg1, reg);
    Verdict key_wide;
    key_wide.scope = Scope::Credential;
    key_wide.wait_ms = 60000;
    r1.report(r1.providers()[0].creds[1], "gpt-5", key_wide, Hints{}, 429, 0);
    auto cfg2 = load(conf("fill-first"));
    Router r2(*cfg2, reg);
    CHECK(r2.providers()[0].creds[1].state->cooling_until() == 60000);
    CHECK(r2.providers()[0].creds[0].state->cooling_until() == 0);
    reg.retain_only({});
    Router r3(*cfg2, reg);
    CHECK(r3.providers()[0].creds[1].state->cooling_until() == 0);
}

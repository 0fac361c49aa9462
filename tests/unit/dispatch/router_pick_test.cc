// The pick: weights, tiers, the client's protocol before a translation,
// sticky sessions, and explain() telling a pick without making it.
#include <doctest/doctest.h>

#include "../support.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "config/loader.h"
#include "credentials/sessions.h"
#include "dispatch/router.h"

using namespace agd;
using namespace agd::dispatch;
using agd::credentials::Hints;
using agd::credentials::Scope;
using agd::credentials::Verdict;

namespace {

std::shared_ptr<const config::Config> load(const std::string& text) { return agd::testing::load_config(text); }

Verdict key_wide(int64_t wait_ms) {
    Verdict v;
    v.scope = Scope::Credential;
    v.wait_ms = wait_ms;
    v.why = "429";
    return v;
}

std::map<std::string, int> count_picks(const Router& r, const std::vector<Match>& m, int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
        auto p = r.pick(m, {}, 0);
        REQUIRE(p.status == Router::PickStatus::Ok);
        ++seen[p.cred->key];
    }
    return seen;
}

const char* kTiers = R"(
[routing]
strategy = round-robin
[provider.main]
type = openai
base_url = http://127.0.0.1:1/v1
key = main-1
key = main-2
models = gpt-*
[provider.spare]
type = anthropic
base_url = http://127.0.0.1:1
priority = 5
key = spare-1
models = gpt-*
[provider.last]
type = openai
base_url = http://127.0.0.1:1/v1
priority = 9
key = last-1
models = gpt-*
)";

}  // namespace

TEST_CASE("router: weighted shares follow the weights exactly over a rotation") {
    auto cfg = load(R"(
[routing]
strategy = weighted
[provider.a]
type = openai
base_url = http://127.0.0.1:1/v1
weight = 2
key = heavy weight=5
key = light weight=1
key = plain
models = gpt-*
)");
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto m = r.match("gpt-5");
    auto seen = count_picks(r, m, 80);  // 10 rotations of 5 + 1 + 2
    CHECK(seen["heavy"] == 50);
    CHECK(seen["light"] == 10);
    CHECK(seen["plain"] == 20);
    // A resting credential's turns go to the next one in the rotation.
    r.report(r.providers()[0].creds[0], "gpt-5", key_wide(60'000), Hints{}, 429, 0);
    seen = count_picks(r, m, 80);
    CHECK(seen.count("heavy") == 0);
    CHECK(seen["light"] + seen["plain"] == 80);
}

TEST_CASE("router: lower tiers only when every credential of the higher tier is out") {
    auto cfg = load(kTiers);
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto m = r.match("gpt-5");
    REQUIRE(m.size() == 3);
    auto seen = count_picks(r, m, 10);
    CHECK(seen["main-1"] == 5);
    CHECK(seen["main-2"] == 5);

    const auto& main = r.providers()[0].creds;
    r.report(main[0], "gpt-5", key_wide(60'000), Hints{}, 429, 0);
    CHECK(count_picks(r, m, 4)["main-2"] == 4);  // one of the tier is enough
    r.report(main[1], "gpt-5", key_wide(60'000), Hints{}, 429, 0);
    CHECK(count_picks(r, m, 3)["spare-1"] == 3);
    r.report(r.providers()[1].creds[0], "gpt-5", key_wide(30'000), Hints{}, 429, 0);
    CHECK(count_picks(r, m, 3)["last-1"] == 3);
    r.report(r.providers()[2].creds[0], "gpt-5", key_wide(90'000), Hints{}, 429, 0);
    auto none = r.pick(m, {}, 0);
    CHECK(none.status == Router::PickStatus::AllCooling);
    CHECK(none.retry_after_ms == 30'000);  // the soonest of every tier

    // A window reported spent is the last resort, after every tier's ready ones.
    credentials::Ledger l2;
    Router r2(*cfg, l2);
    Hints spent;
    spent.requests.remaining = 0;
    spent.requests.reset_unix_ms = INT64_MAX / 4;
    for (const auto& c : r2.providers()[0].creds) r2.report(c, "gpt-5", Verdict{}, spent, 200, 0);
    CHECK(r2.pick(m, {}, 1).cred->key == "spare-1");
    std::vector<const Credential*> tried{&r2.providers()[1].creds[0], &r2.providers()[2].creds[0]};
    CHECK(r2.pick(m, tried, 1).cred->key.starts_with("main-"));
}

TEST_CASE("router: within a tier the client's own protocol first, a translation when none can serve") {
    auto cfg = load(kTiers);
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto m = r.match("gpt-5");
    // An Anthropic client: spare speaks it, but it is in a lower tier.
    for (auto& x : m) x.translated = r.providers()[x.provider].wire != Protocol::Anthropic;
    CHECK(r.pick(m, {}, 0).cred->key.starts_with("main-"));
    // Same tier: the passthrough wins.
    auto flat = load(std::string(kTiers).replace(std::string(kTiers).find("priority = 5"), 12, "priority = 0"));
    credentials::Ledger l2;
    Router r2(*flat, l2);
    auto m2 = r2.match("gpt-5");
    for (auto& x : m2) x.translated = r2.providers()[x.provider].wire != Protocol::Anthropic;
    for (int i = 0; i < 4; ++i) CHECK(r2.pick(m2, {}, 0).cred->key == "spare-1");
    r2.report(r2.providers()[1].creds[0], "gpt-5", key_wide(1000), Hints{}, 429, 0);
    CHECK(r2.pick(m2, {}, 0).cred->key.starts_with("main-"));
}

TEST_CASE("router: a sticky session stays on its credential while it serves, then moves") {
    auto cfg = load(R"(
[routing]
strategy = round-robin
sticky = session
sticky_ttl = 10m
[provider.a]
type = openai
base_url = http://127.0.0.1:1/v1
key = k1
key = k2
key = k3
models = gpt-*
)");
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto m = r.match("gpt-5");
    uint64_t conv = credentials::session_key("", "gpt-5", "conversation-1");
    const Credential* first = r.pick(m, {}, 0, conv).cred;
    for (int turn = 1; turn < 20; ++turn) CHECK(r.pick(m, {}, turn * 1000, conv).cred == first);
    // Others still rotate.
    std::set<const Credential*> others;
    for (int i = 0; i < 6; ++i) others.insert(r.pick(m, {}, 30'000).cred);
    CHECK(others.size() == 3);
    // Its credential cools: the session moves, and stays where it moved.
    r.report(*first, "gpt-5", key_wide(3'600'000), Hints{}, 429, 40'000);
    const Credential* moved = r.pick(m, {}, 41'000, conv).cred;
    CHECK(moved != first);
    for (int turn = 0; turn < 5; ++turn) CHECK(r.pick(m, {}, 42'000 + turn, conv).cred == moved);
    // A failover inside one request still skips what it tried.
    std::vector<const Credential*> tried{moved};
    auto next = r.pick(m, tried, 50'000, conv);
    CHECK(next.cred != moved);
    CHECK(next.cred != first);
    // Unused past sticky_ttl: forgotten (the rotation decides again).
    CHECK(ledger.sessions().find(conv, 50'000 + 11 * 60'000, 600'000) == 0);

    // With sticky off, a session key changes nothing.
    auto plain = load("[provider.a]\ntype = openai\nbase_url = http://127.0.0.1:1/v1\nkey = k1\nkey = k2\nmodels = gpt-*\n");
    credentials::Ledger l2;
    Router r2(*plain, l2);
    auto m2 = r2.match("gpt-5");
    CHECK(r2.pick(m2, {}, 0, conv).cred != r2.pick(m2, {}, 0, conv).cred);
    CHECK(l2.sessions().size() == 0);
}

TEST_CASE("router: explain tells the pick and every exclusion without claiming or rotating") {
    auto cfg = load(kTiers);
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto m = r.match("gpt-5");
    const auto& main = r.providers()[0].creds;
    r.report(main[0], "gpt-5", key_wide(7LL * 86'400'000), Hints{}, 429, 0);  // past the cap: probed
    main[1].state->disable();
    int64_t at = 300'000;  // the probe is due
    auto ex = r.explain(m, at);
    REQUIRE(ex.candidates.size() == 4);
    CHECK(ex.candidates[0].cred == &main[0]);
    CHECK(ex.candidates[0].check.gate == credentials::CredentialState::Gate::Probe);
    CHECK(ex.candidates[1].check.gate == credentials::CredentialState::Gate::Out);
    CHECK(std::string(ex.candidates[1].check.reason) == "disabled by an administrator");
    CHECK(ex.candidates[2].tier == 5);
    CHECK(ex.pick.cred == &main[0]);
    CHECK(ex.pick.probe);
    // Explaining twice claims nothing: the real pick still gets the probe.
    r.explain(m, at);
    auto p = r.pick(m, {}, at);
    CHECK(p.cred == &main[0]);
    CHECK(p.probe);
    // ...and only one.
    CHECK(r.pick(m, {}, at).cred->key == "spare-1");
}

TEST_CASE("router: a spent window is the model's, set by a success, ended by the next success") {
    auto cfg = load(R"(
[routing]
strategy = fill-first
[provider.a]
type = openai
base_url = http://127.0.0.1:1/v1
key = k1
key = k2
models = gpt-*
)");
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto x = r.match("gpt-x"), y = r.match("gpt-y");
    const auto& k1 = r.providers()[0].creds[0];
    Hints spent;
    spent.requests.remaining = 0;
    spent.requests.reset_unix_ms = credentials::wall_ms() + 3'600'000LL * 24 * 7;

    // A 429 that also says "0 remaining" (OpenAI sends its headers on
    // errors too): the verdict rests that model; the key serves others.
    Verdict model_429;
    model_429.scope = Scope::Model;
    model_429.wait_ms = 90'000;
    model_429.why = "429";
    r.report(k1, "gpt-x", model_429, spent, 429, 0);
    CHECK(r.pick(x, {}, 1).cred->key == "k2");
    CHECK(r.pick(y, {}, 1).cred->key == "k1");
    CHECK(k1.state->soft_until() == 0);

    // A success saying "0 remaining" for gpt-y: k1 is used last for gpt-y only.
    r.report(k1, "gpt-y", Verdict{}, spent, 200, 2);
    CHECK(r.pick(y, {}, 3).cred->key == "k2");
    CHECK(k1.state->soft_model() == "gpt-y");
    auto z = r.match("gpt-z");
    CHECK(r.pick(z, {}, 3).cred->key == "k1");
    // Another model's success leaves it; gpt-y's next success without
    // figures (the window came back early) ends it.
    r.report(k1, "gpt-z", Verdict{}, Hints{}, 200, 4);
    CHECK(r.pick(y, {}, 5).cred->key == "k2");
    r.report(k1, "gpt-y", Verdict{}, Hints{}, 200, 6);
    CHECK(r.pick(y, {}, 7).cred->key == "k1");
}

TEST_CASE("router: a sticky credential that rests still counts; a better tier wins it back") {
    auto cfg = load(R"(
[routing]
strategy = fill-first
sticky = session
[provider.main]
type = openai
base_url = http://127.0.0.1:1/v1
key = m1
models = gpt-*
[provider.spare]
type = openai
base_url = http://127.0.0.1:1/v1
priority = 1
key = s1
models = gpt-*
)");
    credentials::Ledger ledger;
    Router r(*cfg, ledger);
    auto m = r.match("gpt-5");
    const auto& m1 = r.providers()[0].creds[0];
    const auto& s1 = r.providers()[1].creds[0];
    uint64_t conv = credentials::session_key("", "gpt-5", "c");
    CHECK(r.pick(m, {}, 0, conv).cred == &m1);
    // m1 rests: the session moves to the spare tier, and stays there...
    r.report(m1, "gpt-5", key_wide(10'000), Hints{}, 429, 0);
    CHECK(r.pick(m, {}, 1, conv).cred == &s1);
    CHECK(r.pick(m, {}, 2, conv).cred == &s1);
    // ...until the better tier is ready again.
    CHECK(r.pick(m, {}, 10'001, conv).cred == &m1);
    CHECK(r.pick(m, {}, 10'002, conv).cred == &m1);

    // Every credential resting, the session's too: the 429's retry time,
    // not a 502.
    r.report(m1, "gpt-5", key_wide(30'000), Hints{}, 429, 20'000);
    r.report(s1, "gpt-5", key_wide(40'000), Hints{}, 429, 20'000);
    auto p = r.pick(m, {}, 20'001, conv);
    CHECK(p.status == Router::PickStatus::AllCooling);
    CHECK(p.retry_after_ms == 29'999);
    // A session whose credential's window is spent still gets it as a last resort.
    credentials::Ledger l2;
    Router r2(*cfg, l2);
    auto m2 = r2.match("gpt-5");
    CHECK(r2.pick(m2, {}, 0, conv).cred == &r2.providers()[0].creds[0]);
    Hints spent;
    spent.requests.remaining = 0;
    spent.requests.reset_unix_ms = credentials::wall_ms() + 3'600'000;
    r2.report(r2.providers()[0].creds[0], "gpt-5", Verdict{}, spent, 200, 1);
    r2.providers()[1].creds[0].state->disable();
    auto last = r2.pick(m2, {}, 2, conv);
    REQUIRE(last.status == Router::PickStatus::Ok);
    CHECK(last.cred == &r2.providers()[0].creds[0]);
}

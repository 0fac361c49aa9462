#include <doctest/doctest.h>

#include <string>
#include <unordered_set>

#include "credentials/ledger.h"
#include "credentials/ledger_file.h"

using namespace agd::credentials;

namespace {

constexpr int64_t kWall = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr int64_t kNow = 5'000'000;            // steady clock

Verdict verdict(Scope scope, int64_t wait_ms, const char* why) {
    Verdict v;
    v.scope = scope;
    v.wait_ms = wait_ms;
    v.why = why;
    return v;
}

}  // namespace

TEST_CASE("ledger file: what rests is written and read back, shifted to the new clocks") {
    Policy p;
    Ledger a;
    auto key_wide = a.get("oa", "1a2b3c4d");
    key_wide->record("gpt-4o", verdict(Scope::Credential, 600'000, "429 insufficient_quota: spent"), Hints{}, 429,
                     kNow, p);
    auto model = a.get("oa", "5e6f7a8b");
    model->record("gpt-5", verdict(Scope::Model, 90'000, "429 rate_limit_error"), Hints{}, 429, kNow, p);
    auto revoked = a.get("an", "99990000");
    Verdict v401 = verdict(Scope::Credential, -1, "401 authentication_error");
    v401.disable = true;
    revoked->record("claude-x", v401, Hints{}, 401, kNow, p);
    auto broken = a.get("ge", "00001111");
    for (int i = 0; i < p.breaker_failures; ++i)
        broken->record("gemini-x", transport_failure("connection refused"), Hints{}, 0, kNow, p);
    a.get("oa", "aaaabbbb");  // nothing to keep
    auto spent = a.get("an", "55556666");  // a success said gpt-s's window is spent
    Hints zero;
    zero.requests.remaining = 0;
    zero.requests.reset_unix_ms = wall_ms() + 3'600'000LL * 24 * 365;  // far ahead of kWall too
    spent->record("gpt-s", Verdict{}, zero, 200, kNow, p);
    REQUIRE(spent->soft_until() == kNow + p.max_cooldown_ms);

    std::string text = ledger_json(a, kNow + 1000, kWall);
    CHECK(text.find("aaaabbbb") == std::string::npos);

    // Read by a daemon started 10 s later (wall), whose steady clock starts anew.
    Ledger b;
    const int64_t now2 = 42, wall2 = kWall + 10'000;
    auto n = load_ledger_json(b, text, now2, wall2);
    REQUIRE(n);
    CHECK(*n == 5);
    auto soft = b.get("an", "55556666");
    CHECK(soft->soft_model() == "gpt-s");
    CHECK(soft->check("gpt-s", now2, p).gate == CredentialState::Gate::Soft);
    CHECK(soft->check("gpt-t", now2, p).gate == CredentialState::Gate::Ready);
    auto kw = b.get("oa", "1a2b3c4d");
    // 600 s from kNow, written at kNow + 1 s, read 10 s of wall clock later: 589 s left.
    CHECK(kw->cooling_until() == now2 + 589'000);
    auto ev = kw->evidence();
    CHECK(ev.scope == Scope::Credential);
    CHECK(ev.status == 429);
    CHECK(ev.why == "429 insufficient_quota: spent");
    CHECK(ev.wait_ms == 600'000);
    auto cooling = b.get("oa", "5e6f7a8b")->models_cooling(now2);
    REQUIRE(cooling.size() == 1);
    CHECK(cooling[0].model == "gpt-5");
    CHECK(cooling[0].until_ms == now2 + 79'000);
    // A start reads the configuration again: a refused key gets its chance,
    // as after a reload; why it was out is still shown.
    CHECK_FALSE(b.get("an", "99990000")->disabled());
    CHECK(b.get("an", "99990000")->evidence().status == 401);
    CHECK(b.get("ge", "00001111")->breaker_open(now2));
    CHECK(b.get("oa", "5e6f7a8b")->check("gpt-4o", now2, p).gate == CredentialState::Gate::Ready);
    CHECK(b.get("oa", "5e6f7a8b")->check("gpt-5", now2, p).gate == CredentialState::Gate::Out);
    // A day later everything but the 401 has passed.
    Ledger c;
    REQUIRE(load_ledger_json(c, text, now2, kWall + 86'400'000));
    CHECK(c.get("oa", "1a2b3c4d")->cooling_until() == 0);
    CHECK(c.get("oa", "5e6f7a8b")->models_cooling(now2).empty());
    // Only configured credentials are restored.
    Ledger d;
    std::unordered_set<std::string> configured{"oa/1a2b3c4d"};
    auto only = load_ledger_json(d, text, now2, wall2, &configured);
    REQUIRE(only);
    CHECK(*only == 1);
    CHECK(d.entries().size() == 1);
}

TEST_CASE("ledger file: every change is counted, so the file is written when it moved") {
    Policy p;
    Ledger l;
    auto s = l.get("oa", "1a2b3c4d");
    uint64_t c0 = l.changes();
    s->record("m", Verdict{}, Hints{}, 200, kNow, p);  // nothing was resting: no change
    CHECK(l.changes() == c0);
    s->record("m", verdict(Scope::Model, 1000, "429"), Hints{}, 429, kNow, p);
    uint64_t c1 = l.changes();
    CHECK(c1 > c0);
    s->record("m", Verdict{}, Hints{}, 200, kNow + 10, p);  // clears the model: a change
    CHECK(l.changes() > c1);
}

TEST_CASE("ledger file: a damaged or foreign file is refused whole or in part, never trusted blindly") {
    Ledger l;
    CHECK_FALSE(load_ledger_json(l, "", kNow, kWall));
    CHECK_FALSE(load_ledger_json(l, "not json", kNow, kWall));
    CHECK_FALSE(load_ledger_json(l, "[]", kNow, kWall));
    CHECK_FALSE(load_ledger_json(l, R"({"version":2,"credentials":{}})", kNow, kWall));
    CHECK_FALSE(load_ledger_json(l, R"({"version":1})", kNow, kWall));
    // Deep nesting: read iteratively, refused or skipped, no crash.
    std::string deep = R"({"version":1,"credentials":{"oa/x":)" + std::string(100'000, '[') +
                       std::string(100'000, ']') + "}}";
    auto d = load_ledger_json(l, deep, kNow, kWall);
    CHECK((!d || *d == 0));
    // Wrong types are skipped; a deadline a thousand days ahead is not believed;
    // ids without a provider or fingerprint are skipped.
    auto n = load_ledger_json(l,
                              R"({"version":1,"credentials":{)"
                              R"("oa/1a2b3c4d":{"disabled":"yes","until":"soon","models":[{"model":"m","until":9e99}]},)"
                              R"("oa/5e6f7a8b":{"until":)" + std::to_string(kWall + 1000LL * 86'400'000) + R"(},)"
                              R"("nofingerprint":{"disabled":true},"/x":{"disabled":true},"x/":{"disabled":true}}})",
                              kNow, kWall);
    REQUIRE(n);
    CHECK(*n == 2);
    CHECK_FALSE(l.get("oa", "1a2b3c4d")->disabled());
    CHECK(l.get("oa", "1a2b3c4d")->cooling_until() == 0);
    CHECK(l.get("oa", "1a2b3c4d")->models_cooling(kNow).empty());
    CHECK(l.get("oa", "5e6f7a8b")->cooling_until() == 0);
    CHECK(l.entries().size() == 2);
    // Over the size bound: refused unread.
    CHECK_FALSE(load_ledger_json(l, std::string(kMaxLedgerFile + 1, ' '), kNow, kWall));
}

#include "metrics/shard.h"

#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "metrics/exposition.h"
#include "test_config.h"

using namespace agd;
using namespace agd::metrics;
using test::upstream_record;

namespace {

Merged merged(const Shard& s) {
    Merged m;
    m.add(s.data());
    return m;
}

const std::string kChatGpt = R"(client="team-a",protocol="openai-chat",model="gpt-*",provider="oa",status="200")";

}  // namespace

TEST_CASE("shard: requests, durations, first tokens") {
    auto cfg = test::sample_config();
    Shard s;
    auto r = upstream_record(*cfg, "gpt-4o-mini", 0);
    r.ttft_us = 30'000;
    s.add(r);
    s.add(r);
    r.status = 429;
    r.ttft_us = -1;
    r.total_us = 700'000'000;  // above the last bound
    s.add(r);
    Merged m = merged(s);
    CHECK(m.requests.size() == 2);
    CHECK(m.requests[kChatGpt] == 2);
    CHECK(m.requests[R"(client="team-a",protocol="openai-chat",model="gpt-*",provider="oa",status="429")"] == 1);
    REQUIRE(m.duration.size() == 1);
    const auto& d = m.duration.begin()->second;
    CHECK(m.duration.begin()->first == R"(protocol="openai-chat",model="gpt-*",provider="oa")");
    CHECK(d.count() == 3);
    CHECK(d.counts[5] == 2);  // 0.12 s: in (0.1, 0.25]
    CHECK(d.counts[kDurationBoundsUs.size()] == 1);
    CHECK(d.sum_us == 2 * 120'000 + 700'000'000ull);
    REQUIRE(m.ttft.size() == 1);
    CHECK(m.ttft.begin()->second.count() == 2);  // the record without a first token is not observed
    CHECK(m.ttft.begin()->second.counts[0] == 2);
}

TEST_CASE("shard: local requests, unknown clients, providers and models") {
    auto cfg = test::sample_config();
    Shard s;
    record::RequestRecord local;
    local.config = cfg.get();
    local.generation = 1;
    local.status = 404;
    local.path = "/v1/secret/path/a-client-made-up";
    s.add(local);
    auto r = upstream_record(*cfg, "llama-3", -1, -1, 404);
    s.add(r);
    r.client = 99;  // out of range: not a configured client
    s.add(r);
    Merged m = merged(s);
    CHECK(m.requests[R"(client="-",protocol="local",model="-",provider="-",status="404")"] == 1);
    CHECK(m.requests[R"(client="-",protocol="openai-chat",model="other",provider="-",status="404")"] == 2);
    CHECK(m.requests.size() == 2);
}

TEST_CASE("shard: 10,000 random model names make one series") {
    auto cfg = test::sample_config();
    Shard s;
    std::mt19937 rng(7);
    for (int i = 0; i < 10000; ++i) {
        std::string name = "m" + std::to_string(rng()) + "\"\n\\";
        s.add(upstream_record(*cfg, name, 0, 1, 502));
    }
    Merged m = merged(s);
    REQUIRE(m.requests.size() == 1);
    CHECK(m.requests.begin()->first.find(R"(model="other")") != std::string::npos);
    CHECK(m.requests.begin()->second == 10000);
    CHECK(s.data().models.size() <= 2 + 5);  // none of them was interned
}

TEST_CASE("shard: tokens, attempts, client limits") {
    auto cfg = test::sample_config();
    Shard s;
    auto r = upstream_record(*cfg, "claude-sonnet", 1, 1);
    r.usage.input = 100;
    r.usage.output = 20;
    r.usage.cache_read = 60;
    r.usage.reasoning = 5;  // cache_write unknown
    r.attempts.push_back({1, "AAAA0001", 429, record::AttemptOutcome::RateLimited});
    r.attempts.push_back({1, "aaaa0002", 200, record::AttemptOutcome::Ok});
    s.add(r);
    r.usage = {};  // unknown: no token counted
    r.attempts = {{1, "not-a-fingerprint", 0, record::AttemptOutcome::Timeout}};
    s.add(r);
    auto limited = upstream_record(*cfg, "claude-sonnet", -1, 1, 429);
    limited.limit = "rpm";
    s.add(limited);
    limited.limit = "made up by someone";
    s.add(limited);

    Merged m = merged(s);
    REQUIRE(m.tokens.size() == 1);
    CHECK(m.tokens.begin()->first == R"(client="team-b",model="claude-sonnet",provider="an")");
    CHECK(m.tokens.begin()->second == TokenCounts{100, 20, 60, 0, 5});
    CHECK(m.attempts.size() == 3);
    CHECK(m.attempts[R"(provider="an",credential="aaaa0001",outcome="rate_limited")"] == 1);
    CHECK(m.attempts[R"(provider="an",credential="aaaa0002",outcome="ok")"] == 1);
    CHECK(m.attempts[R"(provider="an",credential="other",outcome="timeout")"] == 1);
    CHECK(m.limited.size() == 2);
    CHECK(m.limited[R"(client="team-b",limit="rpm")"] == 1);
    CHECK(m.limited[R"(client="team-b",limit="other")"] == 1);
}

TEST_CASE("shard: config generations, and requests of an old one still finishing") {
    auto one = test::sample_config();
    auto two = test::sample_config();
    two->clients[0].name = "renamed";
    two->providers[0].models = {test::pattern("gpt-4o"), test::pattern("gpt-4*")};
    Shard s;
    auto a = upstream_record(*one, "gpt-4o-mini", 0);
    auto b = upstream_record(*two, "gpt-4o-mini", 0);
    b.generation = 2;
    for (int i = 0; i < 3; ++i) {
        s.add(a);
        s.add(b);
    }
    Merged m = merged(s);
    CHECK(m.requests[kChatGpt] == 3);
    CHECK(m.requests[R"(client="renamed",protocol="openai-chat",model="gpt-4*",provider="oa",status="200")"] == 3);
    CHECK(m.requests.size() == 2);
}

TEST_CASE("merged: shards add up") {
    auto cfg = test::sample_config();
    Shard s1, s2;
    auto r = upstream_record(*cfg, "gpt-4o-mini", 0);
    r.usage.input = 10;
    r.usage.output = 1;
    s1.add(r);
    s2.add(r);
    s2.add(r);
    // The same labels get different ids in each shard (interned in another order).
    s2.add(upstream_record(*cfg, "claude-x", 1, 1));
    Merged m;
    m.add(s1.data());
    m.add(s2.data());
    CHECK(m.requests[kChatGpt] == 3);
    CHECK(m.duration[R"(protocol="openai-chat",model="gpt-*",provider="oa")"].count() == 3);
    CHECK(m.tokens[R"(client="team-a",model="gpt-*",provider="oa")"] == TokenCounts{30, 3, 0, 0, 0});
    CHECK(m.requests.size() == 2);
}

// The per-request cost of counting (run with --no-skip: unit-tests -tc='*cost*' --no-skip).
TEST_CASE("shard: cost per record" * doctest::skip()) {
    auto cfg = test::sample_config();
    Shard s;
    auto r = upstream_record(*cfg, "claude-sonnet-4-5-20250929", 1, 1);
    r.ttft_us = 400'000;
    r.usage.input = 1200;
    r.usage.output = 300;
    r.attempts.push_back({1, "1a2b3c4d", 200, record::AttemptOutcome::Ok});
    for (int i = 0; i < 1000; ++i) s.add(r);
    const int n = 2'000'000;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        r.total_us = 1000 + (i & 0xFFFFF);
        s.add(r);
    }
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
    MESSAGE("Shard::add: " << ns << " ns per record (glob model, tokens, ttft, one attempt)");
    r.model = "claude-sonnet";
    r.ttft_us = -1;
    r.usage = {};
    r.attempts.clear();
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) s.add(r);
    ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
    MESSAGE("Shard::add: " << ns << " ns per record (exact model, nothing else)");
    CHECK(merged(s).requests.size() == 2);
}

// What a scrape costs the main thread and a worker, for a large shard
// (unit-tests -tc='*scrape cost*' --no-skip).
TEST_CASE("shard: scrape cost" * doctest::skip()) {
    config::Config cfg;
    std::vector<std::string> models;
    for (int p = 0; p < 4; ++p) {
        std::vector<std::string> names;
        for (int m = 0; m < 10; ++m) names.push_back("model-" + std::to_string(p) + "-" + std::to_string(m));
        cfg.providers.push_back(test::provider("p" + std::to_string(p), names));
    }
    for (int c = 0; c < 20; ++c) {
        config::ClientConfig cc;
        cc.name = "client-" + std::to_string(c);
        cfg.clients.push_back(cc);
    }
    Shard s;
    for (int p = 0; p < 4; ++p)
        for (int m = 0; m < 10; ++m)
            for (int c = 0; c < 20; ++c)
                for (int status : {200, 429, 500}) {
                    auto r = test::upstream_record(cfg, "model-" + std::to_string(p) + "-" + std::to_string(m), p, c,
                                                   status);
                    r.ttft_us = 1000;
                    r.usage.input = 5;
                    r.attempts.push_back({p, "1a2b3c4d", status, record::AttemptOutcome::Ok});
                    s.add(r);
                }
    auto t0 = std::chrono::steady_clock::now();
    ShardData copy = s.data();
    auto t1 = std::chrono::steady_clock::now();
    Merged m;
    m.add(copy);
    m.add(copy);  // a second worker
    auto t2 = std::chrono::steady_clock::now();
    std::string text = render(m, Gauges{});
    auto t3 = std::chrono::steady_clock::now();
    auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
    MESSAGE(m.requests.size() << " request series, " << m.duration.size() << " histogram series, " << text.size()
                              << " bytes: copy " << us(t0, t1) << " us (worker), merge of two shards " << us(t1, t2)
                              << " us, render " << us(t2, t3) << " us (main thread)");
    CHECK(m.requests.size() == 2400);
}

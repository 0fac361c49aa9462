#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "store/reader.h"
#include "store/stats.h"
#include "store/writer.h"
#include "support.h"

using namespace agd::store;
using store_test::TempDir;

TEST_CASE("stats: latency percentiles within a bin's width") {
    LatencyHistogram h;
    CHECK(h.percentile(0.5) == -1);
    for (int ms = 1; ms <= 1000; ++ms) h.add(int64_t{ms} * 1000);
    CHECK(h.count() == 1000);
    auto near = [](double got, double want) { return std::abs(got - want) <= want * 0.05; };
    CHECK(near(h.percentile(0.5), 500));
    CHECK(near(h.percentile(0.9), 900));
    CHECK(near(h.percentile(0.99), 990));
    CHECK(near(h.percentile(1.0), 1000));
    CHECK(near(h.percentile(0.0), 1));
    // Extremes stay in the outer bins; a negative (unknown) time is left out.
    LatencyHistogram x;
    x.add(0);
    x.add(-1);
    x.add(INT64_MAX);
    CHECK(x.count() == 2);
    CHECK(x.percentile(0.5) < 0.01);
    CHECK(x.percentile(1.0) > 3'600'000);
    LatencyHistogram m;
    m.merge(h);
    m.merge(x);
    CHECK(m.count() == 1002);
}

TEST_CASE("stats: buckets cover the window; errors, tokens and percentiles") {
    StatsQuery q;
    q.since_ms = 1'000'000;
    q.until_ms = 1'000'000 + 60'000;
    q.buckets = 6;
    Stats s;
    s.init(q);
    REQUIRE(s.series.size() == 6);
    CHECK(s.bucket_ms == 10'000);
    CHECK(s.series[5].start_ms == 1'050'000);
    s.add(1'000'000, 200, 10, 5, 3, -1, -1, 100'000, 40'000);
    s.add(1'059'999, 200, 10, 5, -1, 2, 1, 300'000, -1);
    s.add(1'025'000, 502, -1, -1, -1, -1, -1, 5'000, -1);
    s.add(999'999, 200, 10, 5, 0, 0, 0, 1, 1);     // before the window
    s.add(1'060'000, 200, 10, 5, 0, 0, 0, 1, 1);   // at its end: outside
    CHECK(s.requests == 3);
    CHECK(s.errors == 1);
    CHECK(s.input == 20);
    CHECK(s.output == 10);
    CHECK(s.cache_read == 3);
    CHECK(s.cache_write == 2);
    CHECK(s.reasoning == 1);
    CHECK(s.series[0].requests == 1);
    CHECK(s.series[2].errors == 1);
    CHECK(s.series[5].requests == 1);
    // The failed request's 5 ms is not a latency of the upstreams.
    CHECK(s.latency.count() == 2);
    CHECK(s.ttft.count() == 1);
    CHECK(std::abs(s.ttft.percentile(0.5) - 40) < 3);
    // A window that does not divide evenly still ends at until_ms.
    q.buckets = 7;
    s.init(q);
    CHECK(s.series.back().start_ms + s.bucket_ms >= q.until_ms);
    CHECK(s.series.back().start_ms < q.until_ms);
}

TEST_CASE("stats: read from the store's rows") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.retention = std::chrono::milliseconds(0);
    constexpr int64_t t0 = 1'796'774'400'000;
    {
        Writer w(cfg);
        for (int i = 0; i < 40; ++i) {
            auto r = store_test::record(static_cast<uint64_t>(i + 1), t0 + i * 1000);
            r.total_us = (i + 1) * 10'000;  // 10 .. 400 ms
            if (i % 10 == 9) r.status = 429;
            w.on_complete(r);
        }
        auto internal = store_test::record(100, t0 + 500);  // not an API operation (a /healthz)
        internal.upstream = false;
        w.on_complete(internal);
        REQUIRE(w.flush());
    }
    auto reader = Reader::open(path);
    REQUIRE(reader);
    StatsQuery q;
    q.since_ms = t0;
    q.until_ms = t0 + 40'000;
    q.buckets = 4;
    auto s = reader->stats(q);
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    CHECK(s->requests == 40);
    CHECK(s->errors == 4);
    CHECK(s->scanned == 40);
    CHECK_FALSE(s->truncated);
    CHECK(s->input == 4000);
    CHECK(s->series.size() == 4);
    CHECK(s->series[0].requests == 10);
    CHECK(s->series[0].errors == 1);
    // 36 successes, 10..400 ms without every tenth: the median is about 200 ms.
    CHECK(std::abs(s->latency.percentile(0.5) - 190) < 20);
    // A narrower window, and a bound on what is read.
    q.since_ms = t0 + 30'000;
    s = reader->stats(q);
    REQUIRE(s);
    CHECK(s->requests == 10);
    q.since_ms = t0;
    q.max_rows = 5;
    s = reader->stats(q);
    REQUIRE(s);
    CHECK(s->truncated);
    CHECK(s->scanned == 5);
    CHECK(s->requests == 5);
}

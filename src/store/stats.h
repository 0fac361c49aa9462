// Request statistics over a window of the request log (the admin console's
// Overview): how many requests, how many failed, the tokens, and the
// latency and time-to-first-token percentiles, for the whole window and
// for each of its equal buckets (Reader::stats reads them).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace agd::store {

// Durations in a fixed log-scale histogram: 8 bins per doubling from 1 µs
// to over an hour, so a percentile is exact to within 9 %, in constant
// memory whatever the number of requests.
class LatencyHistogram {
public:
    static constexpr int kBinsPerDoubling = 8;
    static constexpr int kBins = 32 * kBinsPerDoubling;  // 1 µs .. 2^32 µs (71 minutes)

    void add(int64_t us);
    uint64_t count() const { return count_; }
    // The duration, in milliseconds, below which a fraction `p` (0..1) of
    // the durations added lie; -1 when none was added.
    double percentile(double p) const;
    void merge(const LatencyHistogram& o);

private:
    std::array<uint32_t, kBins> bins_{};
    uint64_t count_ = 0;
};

struct StatsQuery {
    int64_t since_ms = 0;  // requests that started at or after
    int64_t until_ms = 0;  // and before
    int buckets = 60;      // the window cut into this many (1..1440)
    // At most this many requests are read (the newest); the answer says
    // when the window held more.
    uint64_t max_rows = 2'000'000;
};

struct StatsBucket {
    int64_t start_ms = 0;
    uint64_t requests = 0, errors = 0, input = 0, output = 0;
    LatencyHistogram latency, ttft;
};

struct Stats {
    int64_t since_ms = 0, until_ms = 0, bucket_ms = 0;
    uint64_t requests = 0, errors = 0;  // API operations; an error: status 400 or above
    uint64_t input = 0, output = 0, cache_read = 0, cache_write = 0, reasoning = 0;
    // Of the requests that did not fail; ttft: those that had a first token.
    LatencyHistogram latency, ttft;
    std::vector<StatsBucket> series;
    uint64_t scanned = 0;    // requests read
    bool truncated = false;  // the window held more than max_rows

    // Sets the window and makes the empty buckets.
    void init(const StatsQuery& q);
    // Counts one API operation that started at ts_ms (inside the window).
    void add(int64_t ts_ms, int status, int64_t input, int64_t output, int64_t cache_read, int64_t cache_write,
             int64_t reasoning, int64_t total_us, int64_t ttft_us);
};

}  // namespace agd::store

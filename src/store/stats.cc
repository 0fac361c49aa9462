#include "store/stats.h"

#include <algorithm>
#include <cmath>

namespace agd::store {

void LatencyHistogram::add(int64_t us) {
    if (us < 0) return;
    int bin = us <= 1 ? 0 : static_cast<int>(std::lround(std::log2(static_cast<double>(us)) * kBinsPerDoubling));
    bins_[static_cast<size_t>(std::clamp(bin, 0, kBins - 1))]++;
    ++count_;
}

double LatencyHistogram::percentile(double p) const {
    if (count_ == 0) return -1;
    // The rank of the wanted duration, counting from 1 (nearest rank).
    auto rank = static_cast<uint64_t>(std::ceil(std::clamp(p, 0.0, 1.0) * static_cast<double>(count_)));
    rank = std::max<uint64_t>(rank, 1);
    uint64_t seen = 0;
    for (int i = 0; i < kBins; ++i) {
        seen += bins_[static_cast<size_t>(i)];
        if (seen >= rank) return std::exp2(static_cast<double>(i) / kBinsPerDoubling) / 1000.0;
    }
    return std::exp2(static_cast<double>(kBins - 1) / kBinsPerDoubling) / 1000.0;
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < bins_.size(); ++i) bins_[i] += o.bins_[i];
    count_ += o.count_;
}

void Stats::init(const StatsQuery& q) {
    since_ms = q.since_ms;
    until_ms = std::max(q.until_ms, q.since_ms + 1);
    int n = std::clamp(q.buckets, 1, 1440);
    int64_t span = until_ms - since_ms;
    bucket_ms = std::max<int64_t>((span + n - 1) / n, 1);
    series.clear();
    for (int64_t start = since_ms; start < until_ms; start += bucket_ms) {
        series.emplace_back();
        series.back().start_ms = start;
    }
}

void Stats::add(int64_t ts_ms, int status, int64_t in, int64_t out, int64_t cr, int64_t cw, int64_t rs,
                int64_t total_us, int64_t ttft_us) {
    if (ts_ms < since_ms || ts_ms >= until_ms || series.empty()) return;
    auto pos = static_cast<size_t>((ts_ms - since_ms) / bucket_ms);
    StatsBucket& b = series[std::min(pos, series.size() - 1)];
    bool error = status >= 400;
    auto n = [](int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; };
    ++requests;
    ++b.requests;
    errors += error;
    b.errors += error;
    input += n(in);
    output += n(out);
    b.input += n(in);
    b.output += n(out);
    cache_read += n(cr);
    cache_write += n(cw);
    reasoning += n(rs);
    if (error) return;  // a refusal's speed says nothing of the upstreams'
    latency.add(total_us);
    b.latency.add(total_us);
    if (ttft_us >= 0) {
        ttft.add(ttft_us);
        b.ttft.add(ttft_us);
    }
}

}  // namespace agd::store

#include "admin/stats_json.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

#include "store/stats.h"

namespace agd::admin {

namespace {

// A duration in milliseconds to 0.1 ms, or null when there was none.
void ms(std::string& out, double v) {
    if (v < 0 || !std::isfinite(v))
        out += "null";
    else
        fmt::format_to(std::back_inserter(out), "{:.1f}", v);
}

void percentiles(std::string& out, const store::LatencyHistogram& h) {
    if (h.count() == 0) {
        out += "null";
        return;
    }
    out += "{\"p50\":";
    ms(out, h.percentile(0.5));
    out += ",\"p90\":";
    ms(out, h.percentile(0.9));
    out += ",\"p99\":";
    ms(out, h.percentile(0.99));
    fmt::format_to(std::back_inserter(out), ",\"count\":{}}}", h.count());
}

}  // namespace

std::string render_stats_json(const store::Stats& s) {
    std::string out;
    out.reserve(256 + s.series.size() * 160);
    double seconds = static_cast<double>(s.until_ms - s.since_ms) / 1000.0;
    double rate = seconds > 0 ? static_cast<double>(s.requests) / seconds : 0;
    double error_rate = s.requests ? static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0;
    fmt::format_to(std::back_inserter(out),
                   "{{\"since_ms\":{},\"until_ms\":{},\"bucket_ms\":{},\"requests\":{},\"errors\":{},"
                   "\"rate\":{:.4f},\"error_rate\":{:.4f},\"tokens\":{{\"input\":{},\"output\":{},"
                   "\"cache_read\":{},\"cache_write\":{},\"reasoning\":{}}},\"latency_ms\":",
                   s.since_ms, s.until_ms, s.bucket_ms, s.requests, s.errors, rate, error_rate, s.input, s.output,
                   s.cache_read, s.cache_write, s.reasoning);
    percentiles(out, s.latency);
    out += ",\"ttft_ms\":";
    percentiles(out, s.ttft);
    out += ",\"series\":[";
    for (size_t i = 0; i < s.series.size(); ++i) {
        const store::StatsBucket& b = s.series[i];
        fmt::format_to(std::back_inserter(out),
                       "{}{{\"start_ms\":{},\"requests\":{},\"errors\":{},\"input\":{},\"output\":{},"
                       "\"latency_p50_ms\":",
                       i ? "," : "", b.start_ms, b.requests, b.errors, b.input, b.output);
        ms(out, b.latency.percentile(0.5));
        out += ",\"latency_p99_ms\":";
        ms(out, b.latency.percentile(0.99));
        out += ",\"ttft_p50_ms\":";
        ms(out, b.ttft.percentile(0.5));
        out += "}";
    }
    fmt::format_to(std::back_inserter(out), "],\"scanned\":{},\"truncated\":{}}}", s.scanned,
                   s.truncated ? "true" : "false");
    return out;
}

}  // namespace agd::admin

// The text exposition format (Prometheus 0.0.4): every worker's shard added
// up (Merged), the gauges read on the main thread at the scrape (Gauges),
// rendered with HELP and TYPE lines. Main thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "metrics/process.h"
#include "metrics/shard.h"

namespace agd::metrics {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Shards added up, keyed by their rendered label pairs ("client=\"a\",...",
// escaped). std::map: the output is sorted, the same from one scrape to the next.
struct Merged {
    std::map<std::string, uint64_t> requests;
    std::map<std::string, DurationHistogram> duration;
    std::map<std::string, TtftHistogram> ttft;
    std::map<std::string, TokenCounts> tokens;
    std::map<std::string, uint64_t> attempts;
    std::map<std::string, uint64_t> limited;

    void add(const ShardData& shard);
};

struct CredentialGauge {
    std::string provider;
    std::string credential;  // fingerprint
    bool up = true;          // usable now (not cooling down)
};

struct Gauges {
    int64_t in_flight = 0;
    uint64_t config_generation = 0;
    uint64_t log_dropped = 0;
    std::vector<CredentialGauge> credentials;
    bool have_process = false;
    ProcessStats process;
};

std::string render(const Merged& merged, const Gauges& gauges);

}  // namespace agd::metrics

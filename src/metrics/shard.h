// Shard: what one worker counted. Each worker has its own, touched only by
// its own thread (no lock, no atomic); the main thread gets a copy through
// the worker's mailbox at a scrape and adds the copies up (exposition.h).
//
// A series is keyed by label ids packed in a 64-bit integer; the ids index
// the shard's own tables of label values, which only grow (a value keeps its
// id for the life of the process, across config generations). Per request:
// the record's config generation is looked up in a cache of two (a reload
// builds the new generation's label rules once per worker, from the
// record's config), then one hash lookup per series touched.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace agd::record {
struct RequestRecord;
}

namespace agd::metrics {

// Histogram bucket bounds (inclusive upper bounds), in microseconds.
inline constexpr std::array<int64_t, 16> kDurationBoundsUs = {
    5'000,      10'000,     25'000,     50'000,      100'000,     250'000,     500'000,     1'000'000,
    2'500'000,  5'000'000,  10'000'000, 30'000'000,  60'000'000,  120'000'000, 300'000'000, 600'000'000};
inline constexpr std::array<int64_t, 13> kTtftBoundsUs = {
    50'000,    100'000,    250'000,    500'000,    1'000'000,  2'000'000,  3'000'000,
    5'000'000, 10'000'000, 20'000'000, 30'000'000, 60'000'000, 120'000'000};

template <size_t N>
struct Histogram {
    std::array<uint64_t, N + 1> counts{};  // per bucket, not cumulative; [N] is above the last bound
    uint64_t sum_us = 0;

    void observe(int64_t us, const std::array<int64_t, N>& bounds) {
        if (us < 0) us = 0;
        size_t i = 0;
        while (i < N && us > bounds[i]) ++i;
        ++counts[i];
        sum_us += static_cast<uint64_t>(us);
    }
    void add(const Histogram& o) {
        for (size_t i = 0; i <= N; ++i) counts[i] += o.counts[i];
        sum_us += o.sum_us;
    }
    uint64_t count() const {
        uint64_t n = 0;
        for (uint64_t c : counts) n += c;
        return n;
    }
};
using DurationHistogram = Histogram<kDurationBoundsUs.size()>;
using TtftHistogram = Histogram<kTtftBoundsUs.size()>;

enum TokenType : unsigned { kInput, kOutput, kCacheRead, kCacheWrite, kReasoning, kTokenTypes };
std::string_view token_type_label(unsigned type);  // input, output, cache_read, cache_write, reasoning
using TokenCounts = std::array<uint64_t, kTokenTypes>;

// Series keys. Ids are the shard's label ids (16 bits each); protocol is a
// protocol_id() (labels.h), status a status_label(), outcome a
// record::AttemptOutcome, credential a parsed fingerprint (valid: whether
// the text was one; "other" otherwise).
struct RequestKey {
    uint16_t client = 0, model = 0, provider = 0, protocol = 0, status = 0;
    uint64_t pack() const {
        return uint64_t{client} << 48 | uint64_t{model} << 32 | uint64_t{provider} << 16 | uint64_t{protocol} << 10 |
               (status & 1023u);
    }
    static RequestKey unpack(uint64_t k) {
        return {static_cast<uint16_t>(k >> 48), static_cast<uint16_t>(k >> 32), static_cast<uint16_t>(k >> 16),
                static_cast<uint16_t>((k >> 10) & 63u), static_cast<uint16_t>(k & 1023u)};
    }
};
struct LatencyKey {  // the histograms
    uint16_t model = 0, provider = 0, protocol = 0;
    uint64_t pack() const { return uint64_t{model} << 32 | uint64_t{provider} << 16 | protocol; }
    static LatencyKey unpack(uint64_t k) {
        return {static_cast<uint16_t>(k >> 32), static_cast<uint16_t>(k >> 16), static_cast<uint16_t>(k)};
    }
};
struct TokenKey {
    uint16_t client = 0, model = 0, provider = 0;
    uint64_t pack() const { return uint64_t{client} << 32 | uint64_t{model} << 16 | provider; }
    static TokenKey unpack(uint64_t k) {
        return {static_cast<uint16_t>(k >> 32), static_cast<uint16_t>(k >> 16), static_cast<uint16_t>(k)};
    }
};
struct AttemptKey {
    uint16_t provider = 0;
    uint8_t outcome = 0;
    bool valid = false;
    uint32_t credential = 0;
    uint64_t pack() const {
        return uint64_t{provider} << 40 | uint64_t{outcome & 7u} << 33 | uint64_t{valid} << 32 | credential;
    }
    static AttemptKey unpack(uint64_t k) {
        return {static_cast<uint16_t>(k >> 40), static_cast<uint8_t>((k >> 33) & 7u), ((k >> 32) & 1u) != 0,
                static_cast<uint32_t>(k)};
    }
};
struct LimitKey {
    uint16_t client = 0, limit = 0;
    uint64_t pack() const { return uint64_t{client} << 16 | limit; }
    static LimitKey unpack(uint64_t k) { return {static_cast<uint16_t>(k >> 16), static_cast<uint16_t>(k)}; }
};

// The counters of one shard with its label tables: what a scrape copies.
struct ShardData {
    // Label values by id. In each table id 0 is "-" and id 1 "other"
    // (limits: id 0 is "other").
    std::vector<std::string> models, clients, providers, limits;

    std::unordered_map<uint64_t, uint64_t> requests;             // RequestKey
    std::unordered_map<uint64_t, DurationHistogram> duration;    // LatencyKey
    std::unordered_map<uint64_t, TtftHistogram> ttft;            // LatencyKey
    std::unordered_map<uint64_t, TokenCounts> tokens;            // TokenKey
    std::unordered_map<uint64_t, uint64_t> attempts;             // AttemptKey
    std::unordered_map<uint64_t, uint64_t> limited;              // LimitKey

    ShardData();
};

class alignas(64) Shard {
public:
    Shard();
    ~Shard();
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    // Counts one finished request (its worker's thread only):
    //  - requests_total and request_duration: every request, local ones
    //    with protocol "local";
    //  - time_to_first_token: when the record has one (ttft_us >= 0);
    //  - tokens: the types the answer reported (>= 0), when it reported any;
    //  - upstream_attempts: one per attempt;
    //  - client_limited: when a client limit refused the request.
    void add(const record::RequestRecord& rec);

    const ShardData& data() const { return data_; }

private:
    struct Generation;
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using Index = std::unordered_map<std::string, uint16_t, Hash, std::equal_to<>>;

    Generation& generation_of(const record::RequestRecord& rec);
    static uint16_t intern(std::vector<std::string>& names, Index& index, std::string_view value, uint16_t overflow);

    ShardData data_;
    Index model_ids_, client_ids_, provider_ids_, limit_ids_;
    std::unique_ptr<Generation> gens_[2];  // [0] the most recently used
};

}  // namespace agd::metrics

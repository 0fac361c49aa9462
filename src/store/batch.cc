// One transaction's worth of rows (store/batch.h).
#include "store/batch.h"

#include <algorithm>


namespace agd::store {

namespace {

constexpr int64_t kHourMs = 3'600'000;

int64_t known(int64_t v) { return v > 0 ? v : 0; }

// Sums of figures from upstreams: saturating, never a signed overflow.
void add_saturating(int64_t& sum, int64_t v) { sum = v > INT64_MAX - sum ? INT64_MAX : sum + v; }

void add_key_part(std::string& key, std::string_view part) {
    key.append(part.data(), part.size());
    key.push_back('\0');
}

}  // namespace

int64_t hour_of(int64_t ts_ms) {
    int64_t h = ts_ms / kHourMs;
    if (ts_ms % kHourMs < 0) --h;
    return h * 3600;
}

bool Batch::add(std::string_view packed, std::unique_ptr<Bodies> bodies) {
    PackedRow r;
    if (!unpack_row(packed, r)) return false;
    if (rows_ == 0) {
        ts_min_ = ts_max_ = r.ts_ms;
        id_min_ = id_max_ = r.request_id;
    } else {
        ts_min_ = std::min(ts_min_, r.ts_ms);
        ts_max_ = std::max(ts_max_, r.ts_ms);
        id_min_ = std::min(id_min_, r.request_id);
        id_max_ = std::max(id_max_, r.request_id);
    }
    if (rows_ == 0) {
        append_to_segment(segment_, packed);
    } else {
        delta_.clear();
        pack_delta(delta_, r, prev_.row);
        append_to_segment(segment_, delta_);
    }
    prev_.assign(r);
    if (bodies && r.has_bodies()) {
        body_bytes_ += bodies->bytes();
        bodies_.push_back(Body{rows_, r.ts_ms, std::move(bodies)});
    }
    ++rows_;

    if (!r.upstream()) return true;
    // Unrouted names (no provider took them) are not kept apart, or clients
    // asking for made-up models would multiply the rows.
    std::string_view model = r.routed() ? r.model : std::string_view();
    std::string_view provider = r.routed() ? r.provider : std::string_view();
    std::string_view credential = r.routed() ? r.credential : std::string_view();
    int64_t hour = hour_of(r.ts_ms);
    key_.assign(reinterpret_cast<const char*>(&hour), sizeof hour);
    add_key_part(key_, r.client);
    add_key_part(key_, model);
    add_key_part(key_, provider);
    add_key_part(key_, credential);
    auto it = rollups_.find(std::string_view(key_));
    if (it == rollups_.end()) {
        Rollup fresh;
        fresh.hour = hour;
        fresh.client = r.client;
        fresh.model = model;
        fresh.provider = provider;
        fresh.credential = credential;
        it = rollups_.emplace(key_, std::move(fresh)).first;
    }
    RollupSums& s = it->second.sums;
    s.requests += 1;
    s.errors += r.status >= 400 ? 1 : 0;
    add_saturating(s.input, known(r.input));
    add_saturating(s.output, known(r.output));
    add_saturating(s.cache_read, known(r.cache_read));
    add_saturating(s.cache_write, known(r.cache_write));
    add_saturating(s.reasoning, known(r.reasoning));
    add_saturating(s.total_us, std::max<int64_t>(r.total_us, 0));
    return true;
}

void Batch::clear() {
    segment_.clear();
    rows_ = 0;
    bodies_.clear();
    body_bytes_ = 0;
    rollups_.clear();
}

}  // namespace agd::store

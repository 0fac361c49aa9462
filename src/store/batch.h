// Batch: what the writer thread writes in one transaction. Packed rows are
// appended to one segment (a single SQLite row, store/schema.h), the first
// as it came, the others as delta rows against the one before; their
// bodies are listed apart, and the hourly rollups summed as they come.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/packed.h"

namespace agd::store {

// A request's bodies, kept by [log] bodies: made on the worker, handed to
// the writer with its packed row.
struct Bodies {
    std::string request, response;
    bool request_truncated = false, response_truncated = false;
    size_t bytes() const { return request.size() + response.size(); }
};

struct RollupSums {
    int64_t requests = 0, errors = 0, input = 0, output = 0, cache_read = 0, cache_write = 0, reasoning = 0;
    int64_t total_us = 0;
};

struct Rollup {
    int64_t hour = 0;  // unix seconds at the start of the hour
    std::string client, model, provider, credential;
    RollupSums sums;
};

// The start of the hour holding ts_ms, in unix seconds (floor, also before 1970).
int64_t hour_of(int64_t ts_ms);

class Batch {
public:
    static constexpr size_t kMaxRows = 2048;

    struct Body {
        size_t index = 0;  // of its row in the segment
        int64_t ts_ms = 0;
        std::unique_ptr<Bodies> bodies;
    };

    // Adds one packed row and, when it has them, its bodies. False when the
    // bytes are not a packed row (left out).
    bool add(std::string_view packed, std::unique_ptr<Bodies> bodies);
    void clear();

    bool empty() const { return rows_ == 0; }
    size_t rows() const { return rows_; }
    bool full() const { return rows_ >= kMaxRows; }
    const std::string& segment() const { return segment_; }
    int64_t ts_min() const { return ts_min_; }
    int64_t ts_max() const { return ts_max_; }
    uint64_t id_min() const { return id_min_; }
    uint64_t id_max() const { return id_max_; }
    const std::vector<Body>& bodies() const { return bodies_; }
    uint64_t body_bytes() const { return body_bytes_; }
    // Keyed by hour, client, model, provider and credential.
    const std::map<std::string, Rollup, std::less<>>& rollups() const { return rollups_; }

private:
    std::string segment_;
    size_t rows_ = 0;
    int64_t ts_min_ = 0, ts_max_ = 0;
    uint64_t id_min_ = 0, id_max_ = 0;
    std::vector<Body> bodies_;
    uint64_t body_bytes_ = 0;
    std::map<std::string, Rollup, std::less<>> rollups_;
    std::string key_;    // scratch
    std::string delta_;  // scratch: the row as stored
    OwnedRow prev_;      // the row before, for the next delta
};

}  // namespace agd::store

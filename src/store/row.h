// Row: one finished request as the store keeps it. Built on the worker that
// served the request from its RequestRecord (which is valid only during the
// completion call), owned, every string cut to the store's bounds; then
// queued for the writer thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace agd::record {
struct RequestRecord;
}

namespace agd::store {

struct Row {
    int64_t request_id = 0;
    int64_t ts_ms = 0;
    std::string client, addr, method, path;
    const char* op = "";
    const char* protocol = nullptr;  // nullptr: not an upstream operation
    std::string model, model_sent, provider, credential;
    int attempts = 0;
    std::string attempt_detail;  // "provider/cred:status:outcome,..."
    int status = 0, upstream_status = 0;
    std::string error, limit;
    bool stream = false;
    bool upstream = false;  // counted in the rollups (an API operation, not a health check or model list)
    bool routed = false;    // a provider took it: the rollups name its model
    int64_t input = -1, output = -1, cache_read = -1, cache_write = -1, reasoning = -1;
    const char* usage_state = "none";
    int64_t ttfb_us = -1, ttft_us = -1, total_us = 0;
    uint64_t bytes_in = 0, bytes_out = 0;

    bool has_bodies = false;
    std::string request_body, response_body;
    bool request_truncated = false, response_truncated = false;

    unsigned worker = 0;  // the worker that made it (and gets it back for reuse)

    // Bytes of the bodies (what the writer's body budget counts).
    size_t body_bytes() const { return request_body.size() + response_body.size(); }
    // Ready for reuse: fill_row() assigns every field; bodies are dropped
    // (their memory too, when large).
    void recycle();
};

// Whether [log] bodies keeps this request's bodies: `errors` keeps those of a
// request answered with status >= 400 or that failed (error set); `all`
// every one.
bool keeps_bodies(const record::RequestRecord& rec, config::LogBodies mode);

// The row for `rec`, without bodies.
void fill_row(Row& row, const record::RequestRecord& rec);
// Adds the bodies, each cut to `body_max` bytes (marked truncated when cut,
// or when the request path had already cut it).
void add_bodies(Row& row, const record::RequestRecord& rec, uint64_t body_max);

// The longest prefix of `s` of at most `max` bytes that does not end inside
// a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, size_t max);
// "provider/credential:status:outcome" per attempt, comma-separated.
std::string attempt_detail(const record::RequestRecord& rec);
void attempt_detail(std::string& out, const record::RequestRecord& rec);  // into out (cleared), reusing its memory

}  // namespace agd::store

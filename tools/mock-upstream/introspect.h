// What the tests can ask the mock: the recent requests, and request, stream
// and connection counters.
// Shared by all worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mock {

struct RecordedRequest {
    std::string method;
    std::string path;    // as received (not decoded)
    std::string query;   // raw, without '?'
    std::vector<std::pair<std::string, std::string>> headers;  // lowercased names
    std::string body;
    std::string credential;
    std::string auth_header;  // authorization | x-api-key | x-goog-api-key | query | none
};

// Keeps the last kCapacity requests.
void record_request(RecordedRequest request);
void clear_requests();
std::string requests_json();  // oldest first

struct Stats {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> streams_started{0};
    std::atomic<uint64_t> streams_completed{0};
    std::atomic<uint64_t> streams_cancelled{0};
    std::atomic<uint64_t> connections{0};  // TCP connections accepted
    // Request body bytes read so far, counted as they arrive (a test sees
    // an upload reach the mock before the client has sent all of it).
    std::atomic<uint64_t> body_bytes{0};
};

Stats& stats();
std::string stats_json();
// Zeroes the counters; streams still running stay counted as active.
void reset_stats();

}  // namespace mock

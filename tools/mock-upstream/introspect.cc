#include "introspect.h"

#include <deque>
#include <mutex>

#include "json.h"

namespace mock {
namespace {

constexpr std::size_t kCapacity = 200;

std::mutex g_mutex;
std::deque<RecordedRequest> g_requests;

void write_request(JsonOut& j, const RecordedRequest& r) {
    j.obj()
        .ks("method", r.method)
        .ks("path", r.path)
        .ks("query", r.query)
        .key("headers").obj();
    // Repeated headers are joined with ", " (as HTTP allows).
    std::vector<std::pair<std::string, std::string>> merged;
    for (const auto& [name, value] : r.headers) {
        bool found = false;
        for (auto& m : merged) {
            if (m.first == name) {
                m.second += ", ";
                m.second += value;
                found = true;
                break;
            }
        }
        if (!found) merged.emplace_back(name, value);
    }
    for (const auto& [name, value] : merged) {
        j.ks(name, value);
    }
    j.end()
        .ks("body", r.body)
        .ks("credential", r.credential)
        .ks("auth_header", r.auth_header)
        .end();
}

}  // namespace

void record_request(RecordedRequest request) {
    std::lock_guard lock(g_mutex);
    if (g_requests.size() == kCapacity) {
        g_requests.pop_front();
    }
    g_requests.push_back(std::move(request));
}

void clear_requests() {
    std::lock_guard lock(g_mutex);
    g_requests.clear();
}

std::string requests_json() {
    JsonOut j;
    j.arr();
    std::lock_guard lock(g_mutex);
    for (const RecordedRequest& r : g_requests) {
        write_request(j, r);
    }
    j.end();
    return j.take();
}

Stats& stats() {
    static Stats s;
    return s;
}

std::string stats_json() {
    Stats& s = stats();
    // Read the finishing counters first so active never goes negative.
    uint64_t completed = s.streams_completed.load();
    uint64_t cancelled = s.streams_cancelled.load();
    uint64_t started = s.streams_started.load();
    uint64_t ended = completed + cancelled;
    JsonOut j;
    j.obj()
        .ki("requests", static_cast<int64_t>(s.requests.load()))
        .ki("streams_started", static_cast<int64_t>(started))
        .ki("streams_completed", static_cast<int64_t>(completed))
        .ki("streams_cancelled", static_cast<int64_t>(cancelled))
        .ki("active_streams", static_cast<int64_t>(started > ended ? started - ended : 0))
        .ki("connections", static_cast<int64_t>(s.connections.load()))
        .ki("body_bytes", static_cast<int64_t>(s.body_bytes.load()))
        .end();
    return j.take();
}

void reset_stats() {
    Stats& s = stats();
    uint64_t completed = s.streams_completed.exchange(0);
    uint64_t cancelled = s.streams_cancelled.exchange(0);
    s.requests.store(0);
    s.connections.store(0);
    s.body_bytes.store(0);
    // Keep the streams still running counted as started (and active).
    s.streams_started.fetch_sub(completed + cancelled);
}

}  // namespace mock

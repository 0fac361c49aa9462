// Sticky sessions (credentials/sessions.h).
#include "credentials/sessions.h"

#include <functional>

namespace agd::credentials {

namespace {

// FNV-1a, 64 bits: stable within a process and across threads.
uint64_t fnv(uint64_t h, std::string_view s) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

constexpr uint64_t kBasis = 14695981039346656037ULL;

}  // namespace

uint64_t session_key(std::string_view client, std::string_view model, std::string_view session) {
    if (session.empty()) return 0;
    uint64_t h = fnv(kBasis, client);
    h = fnv(h, std::string_view("\0", 1));
    h = fnv(h, model);
    h = fnv(h, std::string_view("\0", 1));
    h = fnv(h, session);
    // Mix the high bits (the shard is chosen by them).
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h == 0 ? 1 : h;
}

uint64_t credential_key(std::string_view provider, std::string_view fingerprint) {
    uint64_t h = fnv(fnv(fnv(kBasis, provider), "/"), fingerprint);
    return h == 0 ? 1 : h;
}

uint64_t Sessions::find(uint64_t session, int64_t now, int64_t ttl) {
    Shard& s = shard(session);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(session);
    if (it == s.map.end()) return 0;
    if (now - it->second.used_ms > ttl) {
        s.map.erase(it);
        return 0;
    }
    return it->second.credential;
}

void Sessions::remember(uint64_t session, uint64_t credential, int64_t now, int64_t ttl) {
    Shard& s = shard(session);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(session);
    if (it != s.map.end()) {
        it->second = {credential, now};
        return;
    }
    if (s.map.size() >= kPerShard) make_room(s, now, ttl);
    s.map.emplace(session, Entry{credential, now});
}

void Sessions::make_room(Shard& s, int64_t now, int64_t ttl) {
    // What expired goes, at most once a second (a full shard of live
    // sessions must not sweep on every new one); otherwise the least
    // recently used of a small sample.
    if (now - s.last_sweep_ms >= 1000) {
        s.last_sweep_ms = now;
        std::erase_if(s.map, [&](const auto& e) { return now - e.second.used_ms > ttl; });
        if (s.map.size() < kPerShard) return;
    }
    auto oldest = s.map.begin();
    size_t n = 0;
    for (auto it = s.map.begin(); it != s.map.end() && n < 16; ++it, ++n)
        if (it->second.used_ms < oldest->second.used_ms) oldest = it;
    s.map.erase(oldest);
}

void Sessions::forget(uint64_t session) {
    Shard& s = shard(session);
    std::lock_guard lock(s.mu);
    s.map.erase(session);
}

size_t Sessions::size() {
    size_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.map.size();
    }
    return n;
}

}  // namespace agd::credentials

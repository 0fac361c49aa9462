// Sessions: which credential served a conversation, so that its next turns
// go there too ([routing] sticky = session): the upstream's prompt cache
// stays warm and its thinking signatures stay valid.
//
// A session is a 64-bit key (session_key(): the client's name, the model asked
// and what the client sent to name its conversation); its credential is
// the hash of the ledger id (provider/fingerprint), so a reload that keeps
// the key keeps the session. Entries not used for `ttl` are forgotten.
// Bounded: kShards × kPerShard sessions; a full shard first drops what has
// expired, then the least recently used entry of a sample. Each shard has
// its own short mutex (a leaf: no I/O under it, no other lock taken).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace agd::credentials {

// 0 when `session` is empty (no stickiness). `client`: the named client's
// name ("" for none), so a reload that reorders clients keeps sessions.
uint64_t session_key(std::string_view client, std::string_view model, std::string_view session);
// The hash a session remembers for a credential.
uint64_t credential_key(std::string_view provider, std::string_view fingerprint);

class Sessions {
public:
    static constexpr size_t kShards = 16;
    static constexpr size_t kPerShard = 8192;

    // The credential remembered for `session` and used within `ttl_ms`; 0 none.
    uint64_t find(uint64_t session, int64_t now_ms, int64_t ttl_ms);
    // `session` was served by `credential` now. A full shard drops what
    // was unused for `ttl_ms` first.
    void remember(uint64_t session, uint64_t credential, int64_t now_ms, int64_t ttl_ms);
    void forget(uint64_t session);
    size_t size();

private:
    struct Entry {
        uint64_t credential;
        int64_t used_ms;
    };
    struct Shard {
        std::mutex mu;
        std::unordered_map<uint64_t, Entry> map;
        int64_t last_sweep_ms = 0;
    };
    Shard& shard(uint64_t session) { return shards_[(session >> 56) % kShards]; }
    static void make_room(Shard& s, int64_t now_ms, int64_t ttl_ms);

    std::array<Shard, kShards> shards_;
};

}  // namespace agd::credentials

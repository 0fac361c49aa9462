// SignatureCache: a bounded, process-wide map from a tool call id (as the
// client sees it) to the signature that must accompany that call when the
// conversation is replayed to the upstream that made it (a Gemini
// thoughtSignature, or an Anthropic thinking block). Chat and Responses
// clients cannot carry signatures; with this cache their multi-turn tool
// use still works against Gemini 3 and Claude with thinking.
// Thread-safe: workers share it; each call holds a mutex briefly.
// Bounded in entries and in bytes: an entry (signature and thinking text)
// over kMaxEntryBytes is not cached, and the oldest entries go while the
// total is over kMaxBytes.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pipeline/protocol.h"

namespace agd::translate {

struct CachedSignature {
    Protocol protocol = Protocol::Gemini;  // upstream that made it
    std::string model;                     // upstream model name
    std::string signature;                 // Gemini thoughtSignature, or the Anthropic thinking signature
    std::string thinking;                  // Anthropic: the thinking text the signature covers
};

class SignatureCache {
public:
    static constexpr size_t kMaxEntryBytes = size_t{1} << 20;
    static constexpr size_t kMaxBytes = size_t{64} << 20;
    static size_t bytes_of(const CachedSignature& v) { return v.signature.size() + v.thinking.size() + v.model.size(); }

    explicit SignatureCache(size_t capacity = 16384, size_t max_bytes = kMaxBytes)
        : capacity_(capacity), max_bytes_(max_bytes) {}
    void put(std::string_view call_id, CachedSignature value);
    std::optional<CachedSignature> get(std::string_view call_id) const;
    size_t size() const;
    size_t bytes() const;  // of the entries held

    // The daemon's instance.
    static SignatureCache& global();

private:
    size_t capacity_;
    size_t max_bytes_;
    size_t bytes_ = 0;
    mutable std::mutex mu_;
    std::unordered_map<std::string, CachedSignature> map_;
    std::deque<std::string> order_;  // insertion order, oldest first
};

}  // namespace agd::translate

#include "translate/signature_cache.h"

namespace agd::translate {

void SignatureCache::put(std::string_view call_id, CachedSignature value) {
    if (call_id.empty() || value.signature.empty() || capacity_ == 0) return;
    size_t n = bytes_of(value) + call_id.size();
    if (n > kMaxEntryBytes || n > max_bytes_) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(std::string(call_id));
    if (it != map_.end()) {
        bytes_ -= bytes_of(it->second) + it->first.size();
        it->second = std::move(value);
    } else {
        it = map_.emplace(std::string(call_id), std::move(value)).first;
        order_.push_back(it->first);
    }
    bytes_ += n;
    while ((map_.size() > capacity_ || bytes_ > max_bytes_) && !order_.empty()) {
        auto old = map_.find(order_.front());
        if (old != map_.end()) {
            bytes_ -= bytes_of(old->second) + old->first.size();
            map_.erase(old);
        }
        order_.pop_front();
    }
}

std::optional<CachedSignature> SignatureCache::get(std::string_view call_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(std::string(call_id));
    if (it == map_.end()) return std::nullopt;
    return it->second;
}

size_t SignatureCache::size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
}

size_t SignatureCache::bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
}

SignatureCache& SignatureCache::global() {
    static SignatureCache cache;
    return cache;
}

}  // namespace agd::translate

#include "translate/signature_cache.h"

namespace agd::translate {

void SignatureCache::put(std::string_view call_id, CachedSignature value) {
    if (call_id.empty() || value.signature.empty() || capacity_ == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = map_.insert_or_assign(std::string(call_id), std::move(value));
    if (inserted) order_.push_back(it->first);
    while (map_.size() > capacity_ && !order_.empty()) {
        map_.erase(order_.front());
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

SignatureCache& SignatureCache::global() {
    static SignatureCache cache;
    return cache;
}

}  // namespace agd::translate

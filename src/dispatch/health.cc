#include "dispatch/health.h"

#include <time.h>

#include <unordered_set>

namespace agd::dispatch {

int64_t steady_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::shared_ptr<CredentialHealth> HealthRegistry::get(const std::string& provider, const std::string& fingerprint) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = map_[id(provider, fingerprint)];
    if (!slot) slot = std::make_shared<CredentialHealth>();
    return slot;
}

void HealthRegistry::retain_only(const std::vector<std::string>& ids) {
    std::unordered_set<std::string> keep(ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = map_.begin(); it != map_.end();) {
        if (keep.count(it->first)) ++it;
        else it = map_.erase(it);
    }
}

}  // namespace agd::dispatch

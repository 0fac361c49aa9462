// Credential health: cooldowns and counters. The only state shared by all
// workers and kept across reloads, keyed by provider name + key fingerprint.
// Lock order: HealthRegistry::mu_ is a leaf lock, taken on the main thread
// only (snapshot build, status); workers use the atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace agd::dispatch {

int64_t steady_ms();  // CLOCK_MONOTONIC in ms

struct CredentialHealth {
    std::atomic<int64_t> cooldown_until_ms{0};  // steady_ms() timestamp
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<int> last_status{0};
};

class HealthRegistry {
public:
    std::shared_ptr<CredentialHealth> get(const std::string& provider, const std::string& fingerprint);
    // Forget credentials that are no longer configured.
    void retain_only(const std::vector<std::string>& ids);
    static std::string id(const std::string& provider, const std::string& fingerprint) { return provider + "/" + fingerprint; }

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<CredentialHealth>> map_;
};

}  // namespace agd::dispatch

// Accounting: the consumers of finished requests the daemon runs (client
// usage charge, access log, request store) and what they need from the main
// thread: registration before the workers start, the client counters seeded
// from the store, [log] changes on reload, their figures for status and
// metrics, and the store's orderly stop after the workers are gone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clients/usage_charge.h"
#include "record/access_log.h"

namespace agd {
class Runtime;
namespace config {
struct Config;
}
namespace store {
class Writer;
}

namespace daemon {

class Accounting {
public:
    explicit Accounting(Runtime& runtime);
    ~Accounting();

    // Main thread, before the workers start: opens the store (its thread
    // does the disk work), registers every consumer, seeds the clients'
    // day and month counts from the store.
    void start(const config::Config& cfg, unsigned workers);
    // Main thread, after a new snapshot is published. `new_clients`: names
    // the registry did not have before (seeded from the store).
    void reload(const config::Config& old_cfg, const config::Config& cfg, const std::vector<std::string>& new_clients);
    // After the workers stopped: the store writes what is queued (bounded).
    void stop();

    // The "store" member of the status JSON ("null" without a store).
    std::string status_json() const;
    uint64_t dropped() const;  // records the store could not take (queue full) or lost

private:
    void apply_access_log(const config::Config& cfg);
    void seed(const config::Config& cfg, const std::vector<std::string>& names);

    Runtime& runtime_;
    clients::UsageCharge charge_;
    record::AccessLog access_log_;
    std::unique_ptr<store::Writer> writer_;
    std::string database_;  // the open store's path ("" = none)
};

}  // namespace daemon
}  // namespace agd

// Runtime: the process-wide state of a running daemon that outlives config
// generations: the live snapshot, credential health, counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "clients/registry.h"
#include "credentials/ledger.h"
#include "record/hook.h"
#include "server/peer_limit.h"
#include "server/snapshot.h"

namespace agd {

struct Counters {
    std::atomic<uint64_t> requests_served{0};
    // Requests alive on a worker (the answer may still be flushing): what a
    // drain waits for.
    std::atomic<int64_t> in_flight{0};
    // Requests not yet answered (their record not yet made): what status and
    // the in-flight gauge show, so a client that has its answer never sees
    // its own request still counted.
    std::atomic<int64_t> unanswered{0};
    // Client connections open on the workers (HTTP; not WebSocket sessions):
    // a drain also waits for these, so that no connection accepted just
    // before the listeners closed loses the request on its way.
    std::atomic<int64_t> connections{0};
};

class Runtime {
public:
    std::shared_ptr<const Snapshot> snapshot() const { return snap_.load(std::memory_order_acquire); }
    void publish(std::shared_ptr<const Snapshot> s) { snap_.store(std::move(s), std::memory_order_release); }

    credentials::Ledger& ledger() { return ledger_; }
    Counters& counters() { return counters_; }
    PeerLimit& peers() { return peers_; }
    clients::Registry& clients() { return clients_; }
    // Consumers of finished requests; registered before the workers start.
    record::Hook& hook() { return hook_; }

    // Set on SIGTERM: responses close their connection instead of keeping it alive.
    std::atomic<bool> draining{false};

private:
    std::atomic<std::shared_ptr<const Snapshot>> snap_;
    credentials::Ledger ledger_;
    Counters counters_;
    PeerLimit peers_;
    clients::Registry clients_;
    record::Hook hook_;
};

}  // namespace agd

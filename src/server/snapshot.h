// Snapshot: everything a request needs from one generation of the config:
// the config itself, the stages built from it and the router. Immutable;
// published atomically by the main thread (Runtime::publish) and held by
// each request from start to end, so a reload never changes a request in flight.
#pragma once

#include <cstdint>
#include <memory>

#include "clients/registry.h"
#include "config/config.h"
#include "dispatch/router.h"
#include "pipeline/stage.h"


namespace agd {

class ListenerTls;

struct Snapshot {
    std::shared_ptr<const config::Config> config;
    uint64_t generation = 0;
    int64_t loaded_at_unix = 0;
    Chain chain;
    std::unique_ptr<dispatch::Router> router;
    std::vector<std::shared_ptr<clients::ClientState>> clients;  // of config->clients, in order
    // What the `ssl` listeners accept with (server/listener_tls.h); null
    // when there is none.
    std::shared_ptr<const ListenerTls> tls;
};

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> config, uint64_t generation,
                                               credentials::Ledger& ledger, clients::Registry& clients,
                                               std::shared_ptr<const ListenerTls> tls);

}  // namespace agd

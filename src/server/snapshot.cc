#include "server/snapshot.h"

#include <time.h>

#include "auth/api_key.h"
#include "auth/ip_filter.h"
#include "clients/limit_stage.h"
#include "dispatch/dispatch_stage.h"
#include "pipeline/body_stage.h"
#include "pipeline/local_endpoints.h"

namespace agd {

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> config, uint64_t generation,
                                               credentials::Ledger& ledger, clients::Registry& clients) {
    auto s = std::make_shared<Snapshot>();
    s->config = std::move(config);
    s->generation = generation;
    s->loaded_at_unix = static_cast<int64_t>(time(nullptr));
    const config::Config& c = *s->config;
    // The request path, top to bottom.
    s->chain.add(std::make_unique<auth::IpFilterStage>(c.access));
    s->chain.add(std::make_unique<auth::ApiKeyStage>(c));
    s->chain.add(std::make_unique<BodyStage>());
    s->chain.add(std::make_unique<LocalEndpointsStage>());
    s->chain.add(std::make_unique<clients::LimitStage>());
    s->chain.add(std::make_unique<dispatch::DispatchStage>());
    s->router = std::make_unique<dispatch::Router>(c, ledger);
    std::vector<std::string> names;
    for (const auto& cl : c.clients) {
        s->clients.push_back(clients.get(cl.name));
        names.push_back(cl.name);
    }
    clients.retain_only(names);
    return s;
}

}  // namespace agd

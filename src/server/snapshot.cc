#include "server/snapshot.h"

#include <strings.h>
#include <time.h>

#include "auth/api_key.h"
#include "auth/ip_filter.h"
#include "clients/limit_stage.h"
#include "common/log.h"
#include "dispatch/dispatch_stage.h"
#include "pipeline/body_stage.h"
#include "pipeline/local_endpoints.h"
#include "server/listener_tls.h"

namespace agd {

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const config::Config> config, uint64_t generation,
                                               credentials::Ledger& ledger, clients::Registry& clients,
                                               std::shared_ptr<const ListenerTls> tls) {
    auto s = std::make_shared<Snapshot>();
    s->tls = std::move(tls);
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
    // TLS contexts for the https providers the native engine carries: made
    // here, on the main thread, as they read the trusted certificates.
    for (size_t i = 0; i < c.providers.size(); ++i) {
        const config::ProviderConfig& pc = c.providers[i];
        if (pc.http_client != config::HttpClient::Auto || !pc.proxy.empty() ||
            strncasecmp(pc.base_url.c_str(), "https://", 8) != 0)
            continue;
        std::string error;
        auto tls = upstream::TlsContext::get(pc.ca_file, error);
        if (!tls) log::warning("provider {}: {}; its requests go through libcurl", pc.name, error);
        s->router->set_tls(i, std::move(tls));
    }
    std::vector<std::string> names;
    for (const auto& cl : c.clients) {
        s->clients.push_back(clients.get(cl.name));
        names.push_back(cl.name);
    }
    clients.retain_only(names);
    return s;
}

}  // namespace agd

// The "clients" member of the daemon's status JSON: each configured client
// with its limits, what it has in flight and the tokens it used today and
// this month (server local time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace agd::config {
struct Config;
}

namespace agd::clients {

class ClientState;

// A JSON array. `states` parallels cfg.clients.
std::string status_json(const config::Config& cfg, const std::vector<std::shared_ptr<ClientState>>& states,
                        int64_t unix_now);

}  // namespace agd::clients

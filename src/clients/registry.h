// Registry: the ClientState of every configured client, by name, shared by
// all workers and kept across reloads (a client renamed is a new client).
// Lock order: Registry::mu_ is a leaf lock taken on the main thread only
// (snapshot build, status, start-up seeding); workers reach a ClientState
// through their snapshot and touch its atomics only.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "clients/client_state.h"

namespace agd::clients {

class Registry {
public:
    std::shared_ptr<ClientState> get(const std::string& name);
    // Forget clients that are no longer configured.
    void retain_only(const std::vector<std::string>& names);

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<ClientState>> map_;
};

}  // namespace agd::clients

#include "clients/registry.h"

#include <algorithm>

namespace agd::clients {

std::shared_ptr<ClientState> Registry::get(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = map_[name];
    if (!slot) slot = std::make_shared<ClientState>();
    return slot;
}

void Registry::retain_only(const std::vector<std::string>& names) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = map_.begin(); it != map_.end();) {
        if (std::find(names.begin(), names.end(), it->first) == names.end())
            it = map_.erase(it);
        else
            ++it;
    }
}

}  // namespace agd::clients

// Client limit stage (body phase, before dispatch): a named client may use
// only the models its `models` globs allow (others: 403) and no more than
// its limits (429 with Retry-After and a message naming the limit). Only
// operations relayed upstream are counted; local answers (health, model
// lists) are not. An admitted request holds its client's in-flight slot
// until it ends.
#pragma once

#include <string_view>

#include "pipeline/stage.h"

namespace agd::config {
struct ClientConfig;
}

namespace agd::clients {

// Whether the client's `models` globs allow `model` (none: every model).
bool model_allowed(const config::ClientConfig& c, std::string_view model);

class LimitStage final : public Stage {
public:
    const char* name() const override { return "client_limits"; }
    Phase phase() const override { return Phase::Body; }
    StageResult on_request(RequestContext& ctx) const override;
};

}  // namespace agd::clients

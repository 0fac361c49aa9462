// Endpoints answered by the gateway itself: health, the model lists (from
// the config: every non-glob model name) and the errors for unknown paths.
#pragma once

#include "pipeline/stage.h"

namespace agd {

class LocalEndpointsStage final : public Stage {
public:
    const char* name() const override { return "local"; }
    Phase phase() const override { return Phase::Body; }
    StageResult on_request(RequestContext& ctx) const override;
};

}  // namespace agd

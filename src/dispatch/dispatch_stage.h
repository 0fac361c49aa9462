// The dispatcher stage: model -> matching providers that speak the client's
// protocol -> an Exchange that runs the request upstream.
#pragma once

#include "pipeline/stage.h"

namespace agd::dispatch {

class DispatchStage final : public Stage {
public:
    const char* name() const override { return "dispatch"; }
    Phase phase() const override { return Phase::Body; }
    StageResult on_request(RequestContext& ctx) const override;
};

}  // namespace agd::dispatch

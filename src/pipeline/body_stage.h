// Body stage: validates the JSON body of a relayed operation and picks out
// the model (and the stream flag) for the dispatcher. Malformed JSON = 400
// in the client's protocol.
#pragma once

#include "pipeline/stage.h"

namespace agd {

class BodyStage final : public Stage {
public:
    const char* name() const override { return "body"; }
    Phase phase() const override { return Phase::Body; }
    StageResult on_request(RequestContext& ctx) const override;
};

}  // namespace agd

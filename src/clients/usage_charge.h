// UsageCharge: counts each answer's tokens against its client's windows
// (tpm, daily, monthly), a consumer of the completion hook.
#pragma once

#include "record/hook.h"

namespace agd::clients {

class UsageCharge final : public record::Consumer {
public:
    bool wants(const config::Config& cfg) const override;
    void on_complete(const record::RequestRecord& rec) override;
};

}  // namespace agd::clients

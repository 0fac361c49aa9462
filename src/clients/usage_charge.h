// UsageCharge: counts each answer's tokens against its client's windows
// (tpm, daily, monthly), a consumer of the completion hook: input + output
// as reported; an answer that ended without its usage (or never reports
// one) is charged its request and answer bytes at four to a token.
#pragma once

#include <cstdint>

#include "record/hook.h"

namespace agd::clients {

class UsageCharge final : public record::Consumer {
public:
    bool wants(const config::Config& cfg) const override;
    void on_complete(const record::RequestRecord& rec) override;
    static int64_t tokens_of(const record::RequestRecord& rec);
};

}  // namespace agd::clients

// API key stage: client keys from `Authorization: Bearer`, `x-api-key`,
// `x-goog-api-key` or `?key=`, compared in constant time with [auth] key.
// auth.mode (resolved): off, strict (every path), all_except_health.
// Failures are 401 in the client's protocol.
#pragma once

#include <string_view>

#include "config/config.h"
#include "pipeline/protocol.h"
#include "pipeline/stage.h"

namespace agd::auth {

class ApiKeyStage final : public Stage {
public:
    explicit ApiKeyStage(const config::AuthConfig& auth) : auth_(auth) {}
    const char* name() const override { return "api_key"; }
    Phase phase() const override { return Phase::Headers; }
    StageResult on_request(RequestContext& ctx) const override;

    bool key_accepted(std::string_view key) const;

    // The decision without the request plumbing: the keys the client
    // presented (from every accepted place) for an operation.
    enum class Verdict { Pass, Missing, Invalid };
    Verdict check(Operation op, const std::string_view* presented, size_t count) const;

private:
    const config::AuthConfig& auth_;
};

}  // namespace agd::auth

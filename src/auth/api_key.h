// API key stage: client keys from `Authorization: Bearer`, `x-api-key`,
// `x-goog-api-key` or `?key=`, compared in constant time with every
// client's keys ([client.NAME] key, and [auth] key for the client named
// "default"). The client a key belongs to is recorded on the request, even
// with auth off (a key that matches names its client; none is no refusal).
// auth.mode (resolved): off, strict (every path), all_except_health.
// Failures, and keys of a client past its `expires` day, are 401 in the
// client's protocol.
#pragma once

#include <string_view>

#include "config/config.h"
#include "pipeline/protocol.h"
#include "pipeline/stage.h"

namespace agd::auth {

class ApiKeyStage final : public Stage {
public:
    explicit ApiKeyStage(const config::Config& cfg) : cfg_(cfg) {}
    const char* name() const override { return "api_key"; }
    Phase phase() const override { return Phase::Headers; }
    StageResult on_request(RequestContext& ctx) const override;

    // The client owning `key` (index in cfg.clients), -1 for none. Every
    // key of every client is compared, whatever matched.
    int client_of(std::string_view key) const;
    bool key_accepted(std::string_view key) const { return client_of(key) >= 0; }

    // The decision without the request plumbing: the keys the client
    // presented (from every accepted place) for an operation.
    enum class Verdict { Pass, Missing, Invalid };
    struct Decision {
        Verdict verdict = Verdict::Pass;
        int client = -1;  // the client of the first presented key that matched
    };
    Decision check(Operation op, const std::string_view* presented, size_t count) const;

private:
    const config::Config& cfg_;
};

}  // namespace agd::auth

// IP filter stage: finds the client's address (X-Forwarded-For walked right
// to left, honoured only when the TCP peer is a trusted proxy; X-Real-IP
// likewise) and applies [access] deny, then allow. Refusals are 403 in the
// client's protocol. Clients on a unix socket are local and always allowed.
#pragma once

#include <string_view>

#include "common/cidr.h"
#include "config/config.h"
#include "pipeline/stage.h"

namespace agd::auth {

class IpFilterStage final : public Stage {
public:
    explicit IpFilterStage(const config::AccessConfig& access) : access_(access) {}
    const char* name() const override { return "ip_filter"; }
    Phase phase() const override { return Phase::Headers; }
    StageResult on_request(RequestContext& ctx) const override;

    // The client address given the TCP peer and the forwarding headers ("" when absent).
    IpAddr client_address(const IpAddr& peer, std::string_view forwarded_for, std::string_view real_ip) const;
    bool allowed(const IpAddr& client) const;

private:
    bool trusted(const IpAddr& ip) const;
    const config::AccessConfig& access_;
};

}  // namespace agd::auth

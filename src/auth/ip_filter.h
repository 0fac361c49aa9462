// IP filter stage: finds the client's address and applies [access] deny,
// then allow. Refusals are 403 in the client's protocol. Clients on a unix
// socket are local and always allowed.
//
// The client address is the TCP peer's, unless the peer is a trusted proxy
// (access.trusted_proxy): then the one header named by access.real_ip_header
// speaks for it, and the other forwarding header is ignored whatever it says.
//   x-forwarded-for (default): every X-Forwarded-For line, joined in order
//     (RFC 9110 list semantics: "a, b" + "c" = "a, b, c"), walked right to
//     left; each trusted hop speaks for the one before it, so the first
//     untrusted address from the right is the client (all trusted: the
//     leftmost). Empty list elements are skipped.
//   x-real-ip: exactly one X-Real-IP value, one address.
// Entries are IPv4 or IPv6 addresses, optionally bracketed and with a port
// ("1.2.3.4:80", "[2001:db8::1]:443"). Malformed input never lets a client
// pick its address: an unparseable entry reached by the walk, more than
// kMaxForwardedEntries list elements or kMaxForwardedLines header lines
// walked, several X-Real-IP values: the client is "unknown", which no allow
// rule matches and every deny rule is taken to match (with no rules it is
// served; the access line says client=unknown).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "common/cidr.h"
#include "config/config.h"
#include "pipeline/stage.h"

namespace agd::auth {

// The client as the forwarding headers describe it.
struct ClientAddress {
    IpAddr addr;        // when known
    bool known = true;  // false: a trusted proxy's header could not be read
};

class IpFilterStage final : public Stage {
public:
    static constexpr std::size_t kMaxForwardedLines = 32;    // header lines of the configured header
    static constexpr std::size_t kMaxForwardedEntries = 32;  // list elements walked, empty ones included

    explicit IpFilterStage(const config::AccessConfig& access) : access_(access) {}
    const char* name() const override { return "ip_filter"; }
    Phase phase() const override { return Phase::Headers; }
    StageResult on_request(RequestContext& ctx) const override;

    // The client address given the TCP peer and every line of the
    // configured header (access.real_ip_header), in the order received.
    ClientAddress client_address(const IpAddr& peer, const std::string_view* lines, std::size_t count) const;
    ClientAddress client_address(const IpAddr& peer, std::initializer_list<std::string_view> lines) const {
        return client_address(peer, lines.begin(), lines.size());
    }
    bool allowed(const IpAddr& client) const;
    bool allowed(const ClientAddress& client) const;

    // "1.2.3.4", "1.2.3.4:80", "::1", "[::1]", "[::1]:443" -> the address.
    static std::optional<IpAddr> parse_node(std::string_view entry);

private:
    bool trusted(const IpAddr& ip) const;
    ClientAddress walk_forwarded_for(const IpAddr& peer, const std::string_view* lines, std::size_t count) const;
    const config::AccessConfig& access_;
};

}  // namespace agd::auth

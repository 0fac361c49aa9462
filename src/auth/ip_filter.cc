#include "auth/ip_filter.h"

#include <strings.h>

#include <algorithm>
#include <array>

#include "server/request_context.h"

namespace agd::auth {
namespace {

bool any_contains(const std::vector<Cidr>& list, const IpAddr& ip) {
    return std::any_of(list.begin(), list.end(), [&](const Cidr& c) { return c.contains(ip); });
}

// RFC 9110 OWS.
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

ClientAddress unknown(const IpAddr& peer) { return {peer, false}; }

}  // namespace

std::optional<IpAddr> IpFilterStage::parse_node(std::string_view e) {
    if (!e.empty() && e.front() == '[') {  // [v6] or [v6]:port
        std::size_t close = e.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view rest = e.substr(close + 1);
        if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1)))) return std::nullopt;
        std::string_view inner = e.substr(1, close - 1);
        if (inner.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6
        return parse_ip(inner);
    }
    std::size_t colon = e.find(':');
    if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
        // One colon: IPv4 with a port.
        if (!all_digits(e.substr(colon + 1))) return std::nullopt;
        std::string_view host = e.substr(0, colon);
        if (host.find(':') != std::string_view::npos) return std::nullopt;
        auto ip = parse_ip(host);
        if (!ip || !ip->is_v4()) return std::nullopt;
        return ip;
    }
    return parse_ip(e);  // IPv4, or IPv6 without brackets (no port possible)
}

bool IpFilterStage::trusted(const IpAddr& ip) const { return any_contains(access_.trusted_proxies, ip); }

ClientAddress IpFilterStage::walk_forwarded_for(const IpAddr& peer, const std::string_view* lines,
                                                std::size_t count) const {
    IpAddr client = peer;  // the last address a trusted hop vouched for
    std::size_t entries = 0;
    // The last line first, each line right to left: the joined list, from the right.
    for (std::size_t li = count; li-- > 0;) {
        std::string_view line = lines[li];
        for (;;) {
            std::size_t comma = line.rfind(',');
            std::string_view elem = trim(comma == std::string_view::npos ? line : line.substr(comma + 1));
            if (++entries > kMaxForwardedEntries) return unknown(peer);
            if (!elem.empty()) {  // RFC 9110 5.6.1: empty elements do not count
                auto ip = parse_node(elem);
                if (!ip) return unknown(peer);  // a hop we trust wrote garbage: who is behind it?
                client = *ip;
                if (!trusted(client)) return {client, true};
            }
            if (comma == std::string_view::npos) break;
            line = line.substr(0, comma);
        }
    }
    return {client, true};  // every hop trusted: the leftmost (or the peer, with no entry)
}

ClientAddress IpFilterStage::client_address(const IpAddr& peer, const std::string_view* lines,
                                            std::size_t count) const {
    if (!trusted(peer)) return {peer, true};
    if (count > kMaxForwardedLines) return unknown(peer);
    if (access_.real_ip_header == config::RealIpHeader::XForwardedFor) return walk_forwarded_for(peer, lines, count);

    // X-Real-IP: one address, set (not appended) by the proxy.
    std::string_view value;
    std::size_t values = 0;
    for (std::size_t i = 0; i < count; ++i) {
        std::string_view v = trim(lines[i]);
        if (v.empty()) continue;
        value = v;
        ++values;
    }
    if (values == 0) return {peer, true};
    if (values > 1 || value.find(',') != std::string_view::npos) return unknown(peer);
    auto ip = parse_node(value);
    if (!ip) return unknown(peer);
    return {*ip, true};
}

bool IpFilterStage::allowed(const IpAddr& client) const {
    if (any_contains(access_.deny, client)) return false;
    if (!access_.allow.empty() && !any_contains(access_.allow, client)) return false;
    return true;
}

bool IpFilterStage::allowed(const ClientAddress& client) const {
    // An unknown client might be anyone: in no allow range, in every deny range.
    if (!client.known) return access_.allow.empty() && access_.deny.empty();
    return allowed(client.addr);
}

StageResult IpFilterStage::on_request(RequestContext& ctx) const {
    if (!ctx.peer_is_ip) {
        ctx.client_text = "unix";
        return StageResult::Continue;
    }
    ClientAddress client{ctx.peer, true};
    const bool xff = access_.real_ip_header == config::RealIpHeader::XForwardedFor;
    if (trusted(ctx.peer)) {
        // Every line of the configured header, in order (RequestContext::header
        // gives only the first). One more than the limit is enough to know.
        const char* header = xff ? "x-forwarded-for" : "x-real-ip";
        std::array<std::string_view, kMaxForwardedLines + 1> lines;
        std::size_t n = ctx.header_values(header, lines.data(), lines.size());
        client = client_address(ctx.peer, lines.data(), n);
    }
    ctx.client = client.addr;
    ctx.client_text = client.known ? client.addr.str() : std::string("unknown");
    if (allowed(client)) return StageResult::Continue;
    if (!client.known) {
        ctx.fail(ErrorKind::Forbidden, std::string("access refused: the client address cannot be read from the ") +
                                           (xff ? "X-Forwarded-For" : "X-Real-IP") + " header sent by trusted proxy " +
                                           ctx.peer.str());
        return StageResult::Reply;
    }
    ctx.fail(ErrorKind::Forbidden, "access from " + ctx.client_text + " is not allowed");
    return StageResult::Reply;
}

}  // namespace agd::auth

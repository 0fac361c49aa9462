#include "auth/ip_filter.h"

#include <algorithm>

#include "server/request_context.h"

namespace agd::auth {
namespace {

bool any_contains(const std::vector<Cidr>& list, const IpAddr& ip) {
    return std::any_of(list.begin(), list.end(), [&](const Cidr& c) { return c.contains(ip); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool IpFilterStage::trusted(const IpAddr& ip) const { return any_contains(access_.trusted_proxies, ip); }

IpAddr IpFilterStage::client_address(const IpAddr& peer, std::string_view forwarded_for, std::string_view real_ip) const {
    if (!trusted(peer)) return peer;
    IpAddr client = peer;
    if (!forwarded_for.empty()) {
        // Right to left: each hop we trust may speak for the one before it.
        while (!forwarded_for.empty()) {
            size_t comma = forwarded_for.rfind(',');
            std::string_view hop = trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
            forwarded_for = comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
            auto ip = parse_ip(hop);
            if (!ip) break;  // garbage: stop at the last address we could vouch for
            client = *ip;
            if (!trusted(client)) break;
        }
        return client;
    }
    if (!real_ip.empty()) {
        if (auto ip = parse_ip(trim(real_ip))) return *ip;
    }
    return client;
}

bool IpFilterStage::allowed(const IpAddr& client) const {
    if (any_contains(access_.deny, client)) return false;
    if (!access_.allow.empty() && !any_contains(access_.allow, client)) return false;
    return true;
}

StageResult IpFilterStage::on_request(RequestContext& ctx) const {
    if (!ctx.peer_is_ip) {
        ctx.client_text = "unix";
        return StageResult::Continue;
    }
    ctx.client = client_address(ctx.peer, ctx.header("x-forwarded-for"), ctx.header("x-real-ip"));
    ctx.client_text = ctx.client.str();
    if (allowed(ctx.client)) return StageResult::Continue;
    ctx.fail(ErrorKind::Forbidden, "access from " + ctx.client_text + " is not allowed");
    return StageResult::Reply;
}

}  // namespace agd::auth

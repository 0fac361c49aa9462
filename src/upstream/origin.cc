#include "upstream/origin.h"

#include <cctype>

namespace agd::upstream {

namespace {

bool iequal_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

}  // namespace

bool parse_origin(std::string_view url, Origin& origin, std::string_view& target) {
    std::string_view rest;
    if (iequal_prefix(url, "http://")) {
        origin.tls = false;
        rest = url.substr(7);
    } else if (iequal_prefix(url, "https://")) {
        origin.tls = true;
        rest = url.substr(8);
    } else {
        return false;
    }
    size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    target = end == std::string_view::npos ? std::string_view("/") : rest.substr(end);
    if (target.find('#') != std::string_view::npos) return false;
    if (authority.empty() || authority.find('@') != std::string_view::npos) return false;

    std::string_view host = authority, port;
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return false;
            port = after.substr(1);
        }
    } else {
        size_t colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
        }
        if (host.empty()) return false;
    }
    uint32_t p = origin.tls ? 443 : 80;
    if (!port.empty()) {
        if (port.size() > 5) return false;
        p = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return false;
            p = p * 10 + static_cast<uint32_t>(c - '0');
        }
        if (p == 0 || p > 65535) return false;
    }
    for (char c : host)
        if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '\\') return false;

    origin.host.assign(host);
    origin.port = static_cast<uint16_t>(p);
    origin.authority.assign(authority);
    bool v6 = authority.front() == '[';
    origin.key.clear();
    if (v6) origin.key += '[';
    origin.key += origin.host;
    if (v6) origin.key += ']';
    origin.key += ':';
    origin.key += std::to_string(p);
    return true;
}

}  // namespace agd::upstream

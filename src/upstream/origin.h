// The parts of an upstream URL the native HTTP/1.1 engine needs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agd::upstream {

struct Origin {
    bool tls = false;
    std::string host;       // without the brackets of an IPv6 literal
    uint16_t port = 0;      // the scheme's default when the URL has none
    std::string authority;  // the Host header: host[:port] as written, no userinfo
    std::string key;        // "host:port" (IPv6 bracketed): one connection pool per key
};

// Splits "http[s]://host[:port][/path][?query]" into origin and request
// target ("/" when the URL has no path; it starts with '?' when the URL has
// a query but no path, and the request line then needs a '/' before it). False for other schemes, a URL with
// userinfo, an empty host, a bad port or a fragment.
bool parse_origin(std::string_view url, Origin& origin, std::string_view& target);

}  // namespace agd::upstream

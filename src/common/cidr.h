// IP addresses and CIDR ranges, IPv4 and IPv6. IPv4 addresses are kept as
// IPv4-mapped IPv6 (::ffff:a.b.c.d) so that one comparison serves both, and
// an IPv4-mapped peer matches an IPv4 rule.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace agd {

struct IpAddr {
    std::array<uint8_t, 16> bytes{};  // network order; IPv4 as ::ffff:a.b.c.d
    bool is_v4() const;               // true for IPv4-mapped
    std::string str() const;          // "10.0.0.1" or "2001:db8::1"
    bool operator==(const IpAddr&) const = default;
};

// "10.1.2.3", "::1", "::ffff:10.1.2.3", "[::1]" -> address; anything else -> nullopt.
std::optional<IpAddr> parse_ip(std::string_view text);
// AF_INET / AF_INET6 sockaddr -> address; AF_UNIX and others -> nullopt.
std::optional<IpAddr> ip_from_sockaddr(const sockaddr* sa);

struct Cidr {
    IpAddr addr;        // masked to the prefix
    unsigned prefix = 128;  // in IPv6 bits: an IPv4 /24 is stored as /120
    std::string text;   // as written
    bool contains(const IpAddr& ip) const;
};

// "10.0.0.0/8", "192.168.1.66" (= /32), "fe80::/10", "::1" (= /128).
// Host bits set below the prefix are accepted and masked off.
std::optional<Cidr> parse_cidr(std::string_view text);

bool is_loopback(const IpAddr& ip);  // 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104

}  // namespace agd

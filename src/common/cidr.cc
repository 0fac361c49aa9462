// IP addresses and CIDR ranges, IPv4 stored as IPv4-mapped IPv6.
#include "common/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

namespace agd {

namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

IpAddr from_v4(const void* four_bytes) {
    IpAddr ip;
    std::memcpy(ip.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(ip.bytes.data() + 12, four_bytes, 4);
    return ip;
}

bool all_digits(std::string_view s) {
    if (s.empty() || s.size() > 3) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

}  // namespace

bool IpAddr::is_v4() const {
    return std::memcmp(bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

std::string IpAddr::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4()) {
        if (inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf) == nullptr) return {};
    } else {
        if (inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf) == nullptr) return {};
    }
    return buf;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);  // inet_pton needs a NUL-terminated string
    unsigned char buf[16] = {};
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), buf) == 1) return from_v4(buf);
        return std::nullopt;
    }
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        IpAddr ip;
        std::memcpy(ip.bytes.data(), buf, 16);
        return ip;
    }
    return std::nullopt;
}

std::optional<IpAddr> ip_from_sockaddr(const sockaddr* sa) {
    if (sa == nullptr) return std::nullopt;
    if (sa->sa_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, sa, sizeof in);
        return from_v4(&in.sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, sa, sizeof in6);
        IpAddr ip;
        std::memcpy(ip.bytes.data(), &in6.sin6_addr, 16);
        return ip;
    }
    return std::nullopt;
}

bool Cidr::contains(const IpAddr& ip) const {
    unsigned full = prefix / 8;
    for (unsigned i = 0; i < full && i < 16; ++i)
        if (ip.bytes[i] != addr.bytes[i]) return false;
    unsigned rem = prefix % 8;
    if (rem != 0 && full < 16) {
        auto mask = static_cast<uint8_t>(0xffu << (8 - rem));
        if ((ip.bytes[full] & mask) != (addr.bytes[full] & mask)) return false;
    }
    return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    std::string_view addr_part = text;
    std::optional<unsigned> written_prefix;
    auto slash = text.find('/');
    if (slash != std::string_view::npos) {
        addr_part = text.substr(0, slash);
        std::string_view len = text.substr(slash + 1);
        if (!all_digits(len)) return std::nullopt;
        unsigned v = 0;
        for (char c : len) v = v * 10 + static_cast<unsigned>(c - '0');
        written_prefix = v;
    }
    // Brackets are allowed around a bare IPv6 address but not with a prefix inside.
    auto ip = parse_ip(addr_part);
    if (!ip) return std::nullopt;
    bool v4_written = addr_part.find(':') == std::string_view::npos;
    unsigned prefix = 128;
    if (written_prefix) {
        if (v4_written) {
            if (*written_prefix > 32) return std::nullopt;
            prefix = 96 + *written_prefix;
        } else {
            if (*written_prefix > 128) return std::nullopt;
            prefix = *written_prefix;
        }
    }
    Cidr c;
    c.prefix = prefix;
    c.text = std::string(text);
    c.addr = *ip;
    for (unsigned bit = prefix; bit < 128; ++bit)
        c.addr.bytes[bit / 8] = static_cast<uint8_t>(c.addr.bytes[bit / 8] & ~(0x80u >> (bit % 8)));
    return c;
}

bool is_loopback(const IpAddr& ip) {
    if (ip.is_v4()) return ip.bytes[12] == 127;
    static constexpr std::array<uint8_t, 16> kV6Loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return ip.bytes == kV6Loopback;
}

}  // namespace agd

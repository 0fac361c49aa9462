#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "common/cidr.h"

using agd::Cidr;
using agd::IpAddr;
using agd::parse_cidr;
using agd::parse_ip;

namespace {

IpAddr ip(const char* s) {
    auto r = parse_ip(s);
    REQUIRE(r);
    return *r;
}

Cidr cidr(const char* s) {
    auto r = parse_cidr(s);
    REQUIRE(r);
    return *r;
}

}  // namespace

TEST_CASE("cidr: parse_ip") {
    CHECK(ip("10.1.2.3").is_v4());
    CHECK(ip("10.1.2.3").str() == "10.1.2.3");
    CHECK_FALSE(ip("::1").is_v4());
    CHECK(ip("::1").str() == "::1");
    CHECK(ip("[::1]").str() == "::1");
    CHECK(ip("2001:DB8:0:0::1").str() == "2001:db8::1");
    // IPv4-mapped IPv6 is the same address as the IPv4 one.
    CHECK(ip("::ffff:10.1.2.3") == ip("10.1.2.3"));
    CHECK(ip("::ffff:10.1.2.3").str() == "10.1.2.3");
    CHECK(ip("10.1.2.3").bytes[10] == 0xff);
    CHECK(ip("10.1.2.3").bytes[12] == 10);

    CHECK_FALSE(parse_ip(""));
    CHECK_FALSE(parse_ip("localhost"));
    CHECK_FALSE(parse_ip("10.1.2"));
    CHECK_FALSE(parse_ip("10.1.2.256"));
    CHECK_FALSE(parse_ip("10.1.2.3/8"));
    CHECK_FALSE(parse_ip("::1::2"));
    CHECK_FALSE(parse_ip("[10.1.2.3"));
    CHECK_FALSE(parse_ip(" 10.1.2.3"));
    CHECK_FALSE(parse_ip("[]"));
}

TEST_CASE("cidr: ip_from_sockaddr") {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "192.168.1.66", &in.sin_addr);
    auto a = agd::ip_from_sockaddr(reinterpret_cast<sockaddr*>(&in));
    REQUIRE(a);
    CHECK(a->str() == "192.168.1.66");

    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.1.66", &in6.sin6_addr);
    auto b = agd::ip_from_sockaddr(reinterpret_cast<sockaddr*>(&in6));
    REQUIRE(b);
    CHECK(*b == *a);

    inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
    auto c = agd::ip_from_sockaddr(reinterpret_cast<sockaddr*>(&in6));
    REQUIRE(c);
    CHECK(c->str() == "fe80::1");

    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    CHECK_FALSE(agd::ip_from_sockaddr(reinterpret_cast<sockaddr*>(&un)));
    CHECK_FALSE(agd::ip_from_sockaddr(nullptr));
}

TEST_CASE("cidr: IPv4 ranges") {
    Cidr c = cidr("192.168.0.0/16");
    CHECK(c.prefix == 112);
    CHECK(c.text == "192.168.0.0/16");
    CHECK(c.contains(ip("192.168.0.1")));
    CHECK(c.contains(ip("192.168.255.255")));
    CHECK_FALSE(c.contains(ip("192.169.0.1")));
    CHECK_FALSE(c.contains(ip("10.0.0.1")));
    // An IPv4-mapped peer (dual-stack socket) matches the IPv4 rule.
    CHECK(c.contains(ip("::ffff:192.168.3.4")));
    // A plain IPv6 address never matches an IPv4 rule.
    CHECK_FALSE(c.contains(ip("::c0a8:1")));
    CHECK_FALSE(c.contains(ip("2001:db8::1")));

    Cidr host = cidr("192.168.1.66");
    CHECK(host.prefix == 128);
    CHECK(host.contains(ip("192.168.1.66")));
    CHECK_FALSE(host.contains(ip("192.168.1.67")));

    Cidr odd = cidr("10.0.0.0/9");
    CHECK(odd.contains(ip("10.127.255.255")));
    CHECK_FALSE(odd.contains(ip("10.128.0.0")));

    Cidr all4 = cidr("0.0.0.0/0");
    CHECK(all4.prefix == 96);
    CHECK(all4.contains(ip("8.8.8.8")));
    CHECK_FALSE(all4.contains(ip("2001:db8::1")));  // still only IPv4
}

TEST_CASE("cidr: host bits are masked off") {
    Cidr c = cidr("10.1.2.3/8");
    CHECK(c.addr == ip("10.0.0.0"));
    CHECK(c.contains(ip("10.200.0.1")));
    Cidr d = cidr("2001:db8::1234/32");
    CHECK(d.addr == ip("2001:db8::"));
}

TEST_CASE("cidr: IPv6 ranges") {
    Cidr c = cidr("fe80::/10");
    CHECK(c.prefix == 10);
    CHECK(c.contains(ip("fe80::1")));
    CHECK(c.contains(ip("febf:ffff::1")));
    CHECK_FALSE(c.contains(ip("fec0::1")));
    CHECK_FALSE(c.contains(ip("10.0.0.1")));

    Cidr one = cidr("::1");
    CHECK(one.prefix == 128);
    CHECK(one.contains(ip("::1")));
    CHECK_FALSE(one.contains(ip("::2")));

    Cidr all = cidr("::/0");
    CHECK(all.contains(ip("2001:db8::1")));
    CHECK(all.contains(ip("10.0.0.1")));  // mapped IPv4 is inside ::/0

    // An IPv4-mapped rule written in IPv6 form is a plain IPv6 prefix.
    Cidr mapped = cidr("::ffff:10.0.0.0/104");
    CHECK(mapped.contains(ip("10.9.8.7")));
    CHECK_FALSE(mapped.contains(ip("11.0.0.1")));

    Cidr bracket = cidr("[2001:db8::1]");
    CHECK(bracket.contains(ip("2001:db8::1")));
}

TEST_CASE("cidr: bad ranges") {
    CHECK_FALSE(parse_cidr(""));
    CHECK_FALSE(parse_cidr("10.0.0.0/33"));
    CHECK_FALSE(parse_cidr("::/129"));
    CHECK_FALSE(parse_cidr("10.0.0.0/"));
    CHECK_FALSE(parse_cidr("10.0.0.0/-1"));
    CHECK_FALSE(parse_cidr("10.0.0.0/8x"));
    CHECK_FALSE(parse_cidr("10.0.0.0/0008"));
    CHECK_FALSE(parse_cidr("/8"));
    CHECK_FALSE(parse_cidr("example.com"));
    CHECK_FALSE(parse_cidr("10.0.0.0/8/8"));
}

TEST_CASE("cidr: loopback") {
    CHECK(agd::is_loopback(ip("127.0.0.1")));
    CHECK(agd::is_loopback(ip("127.255.0.9")));
    CHECK(agd::is_loopback(ip("::1")));
    CHECK(agd::is_loopback(ip("::ffff:127.0.0.1")));
    CHECK_FALSE(agd::is_loopback(ip("128.0.0.1")));
    CHECK_FALSE(agd::is_loopback(ip("0.0.0.0")));
    CHECK_FALSE(agd::is_loopback(ip("::")));
    CHECK_FALSE(agd::is_loopback(ip("::2")));
    CHECK_FALSE(agd::is_loopback(ip("10.0.0.1")));
}

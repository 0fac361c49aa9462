#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "auth/api_key.h"
#include "auth/ip_filter.h"

using namespace agd;
using agd::auth::ApiKeyStage;
using agd::auth::ClientAddress;
using agd::auth::IpFilterStage;

namespace {
Cidr cidr(const char* s) {
    auto c = parse_cidr(s);
    REQUIRE(c.has_value());
    return *c;
}
IpAddr ip(const char* s) {
    auto a = parse_ip(s);
    REQUIRE(a.has_value());
    return *a;
}
}  // namespace

TEST_CASE("ip filter: deny wins over allow; allow refuses the rest") {
    config::AccessConfig acc;
    acc.allow = {cidr("192.168.0.0/16"), cidr("fd00::/8")};
    acc.deny = {cidr("192.168.1.66")};
    IpFilterStage f(acc);
    CHECK(f.allowed(ip("192.168.3.4")));
    CHECK_FALSE(f.allowed(ip("192.168.1.66")));
    CHECK_FALSE(f.allowed(ip("10.0.0.1")));
    CHECK(f.allowed(ip("fd12::1")));
    CHECK_FALSE(f.allowed(ip("2001:db8::1")));
    CHECK(f.allowed(ip("::ffff:192.168.9.9")));  // IPv4-mapped peer matches the IPv4 rule
    CHECK_FALSE(f.allowed(ip("::ffff:192.168.1.66")));

    config::AccessConfig open;
    open.deny = {cidr("10.0.0.0/8")};
    IpFilterStage g(open);
    CHECK(g.allowed(ip("8.8.8.8")));
    CHECK_FALSE(g.allowed(ip("10.1.2.3")));
}

TEST_CASE("ip filter: X-Forwarded-For is honoured only from trusted proxies, right to left") {
    config::AccessConfig acc;
    acc.trusted_proxies = {cidr("127.0.0.1"), cidr("10.0.0.0/8")};
    IpFilterStage f(acc);
    auto client = [&](const char* peer, std::initializer_list<std::string_view> lines) {
        ClientAddress c = f.client_address(ip(peer), lines);
        REQUIRE(c.known);
        return c.addr;
    };
    // Untrusted peer: headers ignored.
    CHECK(client("203.0.113.5", {"1.2.3.4"}) == ip("203.0.113.5"));
    // Trusted peer: the rightmost untrusted hop is the client.
    CHECK(client("127.0.0.1", {"1.2.3.4, 198.51.100.7, 10.1.1.1"}) == ip("198.51.100.7"));
    // A client cannot forge the hops before an untrusted one.
    CHECK(client("127.0.0.1", {"6.6.6.6, 198.51.100.7"}) == ip("198.51.100.7"));
    // All hops trusted: the leftmost one.
    CHECK(client("127.0.0.1", {"10.9.9.9, 10.1.1.1"}) == ip("10.9.9.9"));
    // No header from a trusted peer: the peer.
    CHECK(client("127.0.0.1", {}) == ip("127.0.0.1"));
    CHECK(client("::ffff:127.0.0.1", {"[2001:db8::9]"}) == ip("2001:db8::9"));
}

TEST_CASE("ip filter: every X-Forwarded-For line counts, joined in order") {
    config::AccessConfig acc;
    acc.trusted_proxies = {cidr("127.0.0.1"), cidr("10.0.0.0/8")};
    acc.allow = {cidr("10.0.0.0/8")};
    IpFilterStage f(acc);
    // The bypass: the first line alone would say 10.1.1.1 (allowed);
    // the list is "10.1.1.1, 192.168.1.5" and its rightmost hop is the client.
    ClientAddress c = f.client_address(ip("127.0.0.1"), {"10.1.1.1", "192.168.1.5"});
    REQUIRE(c.known);
    CHECK(c.addr == ip("192.168.1.5"));
    CHECK_FALSE(f.allowed(c));
    // Lines are one list: "a, b" + "c" walks c, b, a.
    c = f.client_address(ip("127.0.0.1"), {"198.51.100.1, 10.0.0.2", "10.0.0.3"});
    REQUIRE(c.known);
    CHECK(c.addr == ip("198.51.100.1"));
    c = f.client_address(ip("127.0.0.1"), {"10.0.0.2", "198.51.100.1, 10.0.0.3", "10.0.0.4"});
    CHECK(c.addr == ip("198.51.100.1"));
    // Empty elements and lines are skipped (RFC 9110 5.6.1).
    c = f.client_address(ip("127.0.0.1"), {"198.51.100.1,, ", "", " ,10.0.0.3,"});
    REQUIRE(c.known);
    CHECK(c.addr == ip("198.51.100.1"));
    // Ports and brackets, as some proxies write them.
    CHECK(f.client_address(ip("127.0.0.1"), {"198.51.100.1:4711"}).addr == ip("198.51.100.1"));
    CHECK(f.client_address(ip("127.0.0.1"), {"[2001:db8::1]:443"}).addr == ip("2001:db8::1"));
    CHECK(f.client_address(ip("127.0.0.1"), {"2001:db8::1"}).addr == ip("2001:db8::1"));
}

TEST_CASE("ip filter: malformed forwarding headers never let a client choose its address") {
    config::AccessConfig acc;
    acc.trusted_proxies = {cidr("127.0.0.1"), cidr("10.0.0.0/8")};
    acc.allow = {cidr("10.0.0.0/8")};
    IpFilterStage f(acc);
    auto unknown = [&](std::initializer_list<std::string_view> lines) {
        return !f.client_address(ip("127.0.0.1"), lines).known;
    };
    // Garbage reached by the walk: nobody knows who is behind it.
    CHECK(unknown({"junk"}));
    CHECK(unknown({"1.2.3.4, junk, 10.1.1.1"}));
    CHECK(unknown({"10.1.1.1", "unknown"}));
    CHECK(unknown({"1.2.3.4:99999999"}));
    CHECK(unknown({"1.2.3.4:http"}));
    CHECK(unknown({"[1.2.3.4]"}));
    CHECK(unknown({"[::1"}));
    CHECK(unknown({"fe80::1%eth0"}));
    CHECK(unknown({"1.2.3.4 5.6.7.8"}));
    // Garbage left of the client is never reached.
    CHECK(f.client_address(ip("127.0.0.1"), {"junk, 198.51.100.7"}).known);
    // Too long a walk through trusted hops.
    std::string many;
    for (std::size_t i = 0; i < IpFilterStage::kMaxForwardedEntries; ++i) many += "10.0.0.1,";
    many += "10.0.0.2";
    CHECK(unknown({many}));
    std::string enough;
    for (std::size_t i = 0; i + 1 < IpFilterStage::kMaxForwardedEntries; ++i) enough += "10.0.0.1,";
    enough += "10.0.0.2";
    CHECK(f.client_address(ip("127.0.0.1"), {enough}).known);
    std::vector<std::string_view> lines(IpFilterStage::kMaxForwardedLines + 1, "10.0.0.1");
    CHECK_FALSE(f.client_address(ip("127.0.0.1"), lines.data(), lines.size()).known);
    // An unknown client matches no allow rule and every deny rule.
    CHECK_FALSE(f.allowed(ClientAddress{ip("10.0.0.1"), false}));
    config::AccessConfig deny_only;
    deny_only.deny = {cidr("192.0.2.0/24")};
    CHECK_FALSE(IpFilterStage(deny_only).allowed(ClientAddress{ip("10.0.0.1"), false}));
    config::AccessConfig open;
    CHECK(IpFilterStage(open).allowed(ClientAddress{ip("10.0.0.1"), false}));
}

TEST_CASE("ip filter: real_ip_header = x-real-ip takes one address") {
    config::AccessConfig acc;
    acc.trusted_proxies = {cidr("127.0.0.1")};
    acc.real_ip_header = config::RealIpHeader::XRealIp;
    IpFilterStage f(acc);
    CHECK(f.client_address(ip("127.0.0.1"), {" 192.0.2.9 "}).addr == ip("192.0.2.9"));
    CHECK(f.client_address(ip("127.0.0.1"), {"[2001:db8::9]"}).addr == ip("2001:db8::9"));
    CHECK(f.client_address(ip("127.0.0.1"), {}).addr == ip("127.0.0.1"));
    CHECK(f.client_address(ip("203.0.113.5"), {"192.0.2.9"}).addr == ip("203.0.113.5"));
    CHECK_FALSE(f.client_address(ip("127.0.0.1"), {"192.0.2.9", "192.0.2.10"}).known);
    CHECK_FALSE(f.client_address(ip("127.0.0.1"), {"192.0.2.9, 192.0.2.10"}).known);
    CHECK_FALSE(f.client_address(ip("127.0.0.1"), {"localhost"}).known);
}

TEST_CASE("ip filter: forwarded node syntax") {
    using P = IpFilterStage;
    CHECK(P::parse_node("1.2.3.4") == ip("1.2.3.4"));
    CHECK(P::parse_node("1.2.3.4:0") == ip("1.2.3.4"));
    CHECK(P::parse_node("::1") == ip("::1"));
    CHECK(P::parse_node("[::1]") == ip("::1"));
    CHECK(P::parse_node("[::1]:80") == ip("::1"));
    CHECK(P::parse_node("::ffff:1.2.3.4") == ip("1.2.3.4"));
    CHECK_FALSE(P::parse_node(""));
    CHECK_FALSE(P::parse_node("1.2.3.4:"));
    CHECK_FALSE(P::parse_node("1.2.3.4:123456"));
    CHECK_FALSE(P::parse_node("[::1]x"));
    CHECK_FALSE(P::parse_node("[::1]:"));
    CHECK_FALSE(P::parse_node("::1:80:"));
    CHECK_FALSE(P::parse_node("host.example:80"));
    CHECK_FALSE(P::parse_node("\"1.2.3.4\""));
}

TEST_CASE("api key: modes and key sources") {
    config::Config cfg;
    config::AuthConfig& a = cfg.auth;
    cfg.clients.push_back({});
    cfg.clients[0].name = "default";
    cfg.clients[0].keys = {"sk-one"};
    cfg.clients.push_back({});
    cfg.clients[1].name = "team";
    cfg.clients[1].keys = {"sk-two"};
    std::string_view good[] = {"sk-two"};
    std::string_view bad[] = {"sk-three"};
    std::string_view mixed[] = {"nope", "sk-one"};

    a.effective = config::AuthMode::Off;
    ApiKeyStage off(cfg);
    CHECK(off.check(Operation::ChatCompletions, nullptr, 0).verdict == ApiKeyStage::Verdict::Pass);

    a.effective = config::AuthMode::Strict;
    ApiKeyStage strict(cfg);
    CHECK(strict.check(Operation::Health, nullptr, 0).verdict == ApiKeyStage::Verdict::Missing);
    CHECK(strict.check(Operation::ChatCompletions, good, 1).verdict == ApiKeyStage::Verdict::Pass);
    CHECK(strict.check(Operation::ChatCompletions, bad, 1).verdict == ApiKeyStage::Verdict::Invalid);
    CHECK(strict.check(Operation::Messages, mixed, 2).verdict == ApiKeyStage::Verdict::Pass);

    a.effective = config::AuthMode::AllExceptHealth;
    ApiKeyStage most(cfg);
    CHECK(most.check(Operation::Health, nullptr, 0).verdict == ApiKeyStage::Verdict::Pass);
    CHECK(most.check(Operation::ListModels, nullptr, 0).verdict == ApiKeyStage::Verdict::Missing);
    CHECK(most.check(Operation::GenerateContent, bad, 1).verdict == ApiKeyStage::Verdict::Invalid);

    CHECK(strict.check(Operation::ChatCompletions, good, 1).client == 1);
    CHECK(strict.check(Operation::Messages, mixed, 2).client == 0);
    CHECK(off.check(Operation::ChatCompletions, good, 1).client == 1);  // auth off still names the client
    CHECK(off.check(Operation::ChatCompletions, bad, 1).client == -1);
    CHECK(strict.client_of("sk-two") == 1);
    CHECK(strict.key_accepted("sk-one"));
    CHECK_FALSE(strict.key_accepted("sk-on"));
    CHECK_FALSE(strict.key_accepted("sk-one "));
    CHECK_FALSE(strict.key_accepted(""));
}

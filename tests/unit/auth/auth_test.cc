#include <doctest/doctest.h>

#include "auth/api_key.h"
#include "auth/ip_filter.h"

using namespace agd;
using agd::auth::ApiKeyStage;
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
    // Untrusted peer: headers ignored.
    CHECK(f.client_address(ip("203.0.113.5"), "1.2.3.4", "5.6.7.8") == ip("203.0.113.5"));
    // Trusted peer: the rightmost untrusted hop is the client.
    CHECK(f.client_address(ip("127.0.0.1"), "1.2.3.4, 198.51.100.7, 10.1.1.1", "") == ip("198.51.100.7"));
    // A client cannot forge the hops before an untrusted one.
    CHECK(f.client_address(ip("127.0.0.1"), "6.6.6.6, 198.51.100.7", "") == ip("198.51.100.7"));
    // All hops trusted: the leftmost one.
    CHECK(f.client_address(ip("127.0.0.1"), "10.9.9.9, 10.1.1.1", "") == ip("10.9.9.9"));
    // Garbage stops the walk at the last address vouched for.
    CHECK(f.client_address(ip("127.0.0.1"), "1.2.3.4, junk, 10.1.1.1", "") == ip("10.1.1.1"));
    // X-Real-IP when there is no X-Forwarded-For.
    CHECK(f.client_address(ip("127.0.0.1"), "", "192.0.2.9") == ip("192.0.2.9"));
    CHECK(f.client_address(ip("::ffff:127.0.0.1"), "[2001:db8::9]", "") == ip("2001:db8::9"));
}

TEST_CASE("api key: modes and key sources") {
    config::AuthConfig a;
    a.keys = {"sk-one", "sk-two"};
    std::string_view good[] = {"sk-two"};
    std::string_view bad[] = {"sk-three"};
    std::string_view mixed[] = {"nope", "sk-one"};

    a.effective = config::AuthMode::Off;
    ApiKeyStage off(a);
    CHECK(off.check(Operation::ChatCompletions, nullptr, 0) == ApiKeyStage::Verdict::Pass);

    a.effective = config::AuthMode::Strict;
    ApiKeyStage strict(a);
    CHECK(strict.check(Operation::Health, nullptr, 0) == ApiKeyStage::Verdict::Missing);
    CHECK(strict.check(Operation::ChatCompletions, good, 1) == ApiKeyStage::Verdict::Pass);
    CHECK(strict.check(Operation::ChatCompletions, bad, 1) == ApiKeyStage::Verdict::Invalid);
    CHECK(strict.check(Operation::Messages, mixed, 2) == ApiKeyStage::Verdict::Pass);

    a.effective = config::AuthMode::AllExceptHealth;
    ApiKeyStage most(a);
    CHECK(most.check(Operation::Health, nullptr, 0) == ApiKeyStage::Verdict::Pass);
    CHECK(most.check(Operation::ListModels, nullptr, 0) == ApiKeyStage::Verdict::Missing);
    CHECK(most.check(Operation::GenerateContent, bad, 1) == ApiKeyStage::Verdict::Invalid);

    CHECK(strict.key_accepted("sk-one"));
    CHECK_FALSE(strict.key_accepted("sk-on"));
    CHECK_FALSE(strict.key_accepted("sk-one "));
    CHECK_FALSE(strict.key_accepted(""));
}

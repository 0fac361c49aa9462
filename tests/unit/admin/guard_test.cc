// The admin plane's gatekeeping: sessions, lockout, Host and Origin checks.
#include <doctest/doctest.h>

#include <string>

#include "admin/guard.h"

using namespace agd::admin;

TEST_CASE("admin guard: sessions live until they expire or close") {
    Sessions s;
    std::string t = s.open(Role::Viewer, 1000, 60'000);
    REQUIRE(t.size() == 64);
    const Sessions::Session* found = s.find(t, 2000);
    REQUIRE(found);
    CHECK(found->role == Role::Viewer);
    CHECK(found->csrf.size() == 32);
    CHECK(s.find(t.substr(0, 63) + (t.back() == 'a' ? "b" : "a"), 2000) == nullptr);
    CHECK(s.find("", 2000) == nullptr);
    CHECK(s.find(t, 61'000) == nullptr);  // expired, and gone
    CHECK(s.size() == 0);
    std::string u = s.open(Role::Admin, 0, 60'000);
    CHECK(u != t);
    s.close(u);
    CHECK(s.find(u, 1) == nullptr);
    for (size_t i = 0; i < Sessions::kMax + 10; ++i) s.open(Role::Admin, static_cast<int64_t>(i), 60'000);
    CHECK(s.size() == Sessions::kMax);
}

TEST_CASE("admin guard: five failures lock an address out for fifteen minutes") {
    LoginGuard g;
    for (int i = 0; i < 4; ++i) CHECK_FALSE(g.failed("10.0.0.1", 1000 + i));
    CHECK(g.locked_for("10.0.0.1", 2000) == 0);
    CHECK(g.failed("10.0.0.1", 2000));
    CHECK(g.locked_for("10.0.0.1", 2000) == LoginGuard::kLockoutMs);
    CHECK(g.locked_for("10.0.0.2", 2000) == 0);  // another address is not
    CHECK(g.locked_for("10.0.0.1", 2000 + LoginGuard::kLockoutMs) == 0);
    CHECK(g.lockouts() == 1);
    // A success forgets the failures; failures spread over more than the
    // window do not add up.
    g.failed("10.0.0.3", 0);
    g.succeeded("10.0.0.3");
    for (int i = 0; i < 4; ++i) g.failed("10.0.0.3", 10);
    CHECK_FALSE(g.failed("10.0.0.3", 10 + LoginGuard::kLockoutMs + 1));
    CHECK(g.locked_for("10.0.0.3", 20 + LoginGuard::kLockoutMs) == 0);
}

TEST_CASE("admin guard: Host names the listener, Origin the console") {
    std::vector<std::string> bound{"127.0.0.1:8046"};
    CHECK(host_allowed("127.0.0.1:8046", bound, 8046, {}));
    CHECK(host_allowed("localhost:8046", bound, 8046, {}));
    CHECK(host_allowed("LOCALHOST:8046", bound, 8046, {}));
    CHECK_FALSE(host_allowed("evil.example:8046", bound, 8046, {}));
    CHECK_FALSE(host_allowed("127.0.0.1", bound, 8046, {}));
    CHECK_FALSE(host_allowed("", bound, 8046, {}));
    CHECK(host_allowed("gw.lan", bound, 8046, {"gw.lan"}));
    CHECK(host_allowed("gw.lan:8046", bound, 8046, {"gw.lan"}));
    CHECK_FALSE(host_allowed("gw.lan:9999", bound, 8046, {"gw.lan"}));
    CHECK_FALSE(host_allowed("localhost:8046", {"192.0.2.1:8046"}, 8046, {}));  // not a loopback listener

    CHECK(origin_allowed("http://127.0.0.1:8046", "127.0.0.1:8046"));
    CHECK(origin_allowed("https://gw.lan", "gw.lan"));
    CHECK_FALSE(origin_allowed("http://evil.example", "127.0.0.1:8046"));
    CHECK_FALSE(origin_allowed("null", "127.0.0.1:8046"));
    CHECK_FALSE(origin_allowed("", "127.0.0.1:8046"));
    CHECK_FALSE(origin_allowed("http://127.0.0.1:8046.evil", "127.0.0.1:8046"));

    CHECK(cookie_value("a=1; agd_admin=tok; b=2", "agd_admin") == "tok");
    CHECK(cookie_value("xagd_admin=tok", "agd_admin").empty());
    CHECK(cookie_value("", "agd_admin").empty());
}

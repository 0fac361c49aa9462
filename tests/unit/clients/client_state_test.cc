#include <doctest/doctest.h>

#include <stdlib.h>
#include <time.h>

#include <string>
#include <thread>
#include <vector>

#include "clients/client_state.h"
#include "config/config.h"

using namespace agd;
using agd::clients::ClientState;
using agd::clients::Refusal;

namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kT0 = 1000 * kSec;  // an arbitrary monotonic start

// A wall-clock time safely inside a day (noon UTC of 2026-12-04, with TZ=UTC).
struct UtcZone {
    UtcZone() {
        const char* tz = getenv("TZ");
        if (tz) old = tz, had = true;
        setenv("TZ", "UTC", 1);
        tzset();
    }
    ~UtcZone() {
        if (had)
            setenv("TZ", old.c_str(), 1);
        else
            unsetenv("TZ");
        tzset();
    }
    std::string old;
    bool had = false;
};
constexpr int64_t kNoon = 1'796'385'600;  // 2026-12-04T12:00:00Z

config::ClientConfig limits() {
    config::ClientConfig c;
    c.name = "team";
    c.keys = {"k"};
    return c;
}

}  // namespace

TEST_CASE("client limits: rpm admits a minute's worth at once, then one per 60/rpm s") {
    ClientState s;
    config::ClientConfig c = limits();
    c.rpm = 6;  // one every 10 s, six at once
    for (int i = 0; i < 6; ++i) {
        Refusal r = s.admit(c, c.name, kT0, kNoon);
        CHECK_FALSE(r);
        s.release();
    }
    Refusal r = s.admit(c, c.name, kT0, kNoon);
    REQUIRE(r);
    CHECK(std::string(r.limit) == "rpm");
    CHECK(r.retry_after_s == 10);
    CHECK(r.message == "client 'team': request rate limit reached (6 requests per minute); retry in 10 s");
    // 9.9 s later: still refused (1 s to go); 10 s later: one more.
    r = s.admit(c, c.name, kT0 + 9'900'000, kNoon);
    REQUIRE(r);
    CHECK(r.retry_after_s == 1);
    CHECK_FALSE(s.admit(c, c.name, kT0 + 10 * kSec, kNoon));
    s.release();
    CHECK(s.admit(c, c.name, kT0 + 10 * kSec, kNoon));
    CHECK(s.limited() == 3);
    CHECK(s.in_flight() == 0);
}

TEST_CASE("client limits: max_concurrent counts requests in flight") {
    ClientState s;
    config::ClientConfig c = limits();
    c.max_concurrent = 2;
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));
    Refusal r = s.admit(c, c.name, kT0, kNoon);
    REQUIRE(r);
    CHECK(std::string(r.limit) == "max_concurrent");
    CHECK(r.retry_after_s == 1);
    CHECK(s.in_flight() == 2);
    s.release();
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));
    CHECK(s.in_flight() == 2);
}

TEST_CASE("client limits: a refusal by rpm gives back the in-flight slot") {
    ClientState s;
    config::ClientConfig c = limits();
    c.rpm = 1;
    c.max_concurrent = 5;
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));
    CHECK(s.admit(c, c.name, kT0, kNoon));
    CHECK(s.in_flight() == 1);
}

TEST_CASE("client limits: tpm refuses once a minute's tokens are spent, and recovers") {
    ClientState s;
    config::ClientConfig c = limits();
    c.tpm = 1000;
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));
    s.release();
    s.charge(c, 600, kT0, kNoon);
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));  // 600 of 1000: still open
    s.release();
    s.charge(c, 900, kT0, kNoon);  // 1500: the window is spent (by 500 tokens = 30 s)
    Refusal r = s.admit(c, c.name, kT0, kNoon);
    REQUIRE(r);
    CHECK(std::string(r.limit) == "tpm");
    CHECK(r.retry_after_s == 30);
    CHECK(s.admit(c, c.name, kT0 + 29 * kSec, kNoon));
    CHECK_FALSE(s.admit(c, c.name, kT0 + 30 * kSec + 1, kNoon));
}

TEST_CASE("client limits: daily and monthly tokens, by the local calendar") {
    UtcZone utc;
    ClientState s;
    config::ClientConfig c = limits();
    c.daily_tokens = 1000;
    c.monthly_tokens = 1500;
    s.charge(c, 999, kT0, kNoon);
    CHECK_FALSE(s.admit(c, c.name, kT0, kNoon));
    s.release();
    s.charge(c, 1, kT0, kNoon);
    Refusal r = s.admit(c, c.name, kT0, kNoon);
    REQUIRE(r);
    CHECK(std::string(r.limit) == "daily_tokens");
    CHECK(r.retry_after_s == 12 * 3600);  // until midnight UTC
    CHECK(r.message == "client 'team': daily token limit reached (1000 tokens per day); retry in 43200 s");
    // The next day: the daily count starts again; the month has 1000 of 1500.
    int64_t tomorrow = kNoon + 86'400;
    CHECK_FALSE(s.admit(c, c.name, kT0, tomorrow));
    s.release();
    s.charge(c, 500, kT0, tomorrow);
    r = s.admit(c, c.name, kT0, tomorrow);
    REQUIRE(r);
    CHECK(std::string(r.limit) == "monthly_tokens");
    CHECK(r.retry_after_s == 26 * 86'400 + 12 * 3600);  // from Dec 5 noon to 2027-01-01T00:00Z
    auto cal = clients::calendar_at(tomorrow);
    CHECK(s.tokens_today(cal) == 500);
    CHECK(s.tokens_this_month(cal) == 1500);
    // A late charge for yesterday does not count in today's window.
    s.charge(c, 100, kT0, kNoon);
    CHECK(s.tokens_today(cal) == 500);
}

TEST_CASE("client limits: the calendar follows the local zone") {
    UtcZone utc;
    auto cal = clients::calendar_at(kNoon);
    CHECK(cal.day == 20261204);
    CHECK(cal.month == 202612);
    CHECK(cal.day_start == kNoon - 12 * 3600);
    CHECK(cal.day_end == kNoon + 12 * 3600);
    CHECK(cal.month_start == kNoon - 3 * 86'400 - 12 * 3600);
    CHECK(cal.month_end == kNoon + 27 * 86'400 + 12 * 3600);
    auto next = clients::calendar_at(cal.day_end);
    CHECK(next.day == 20261205);
    CHECK(next.day_id == cal.day_id + 1);
}

TEST_CASE("client limits: seeding from the store adds to the day and month") {
    UtcZone utc;
    ClientState s;
    config::ClientConfig c = limits();
    c.daily_tokens = 100;
    auto cal = clients::calendar_at(kNoon);
    s.seed(cal, 100, 5000);
    CHECK(s.tokens_today(cal) == 100);
    CHECK(s.tokens_this_month(cal) == 5000);
    CHECK(s.admit(c, c.name, kT0, kNoon));
}

TEST_CASE("client limits: concurrent admissions across threads never pass the limits") {
    ClientState s;
    config::ClientConfig c = limits();
    c.rpm = 1000;  // 1000 at once, then none at the same instant
    std::vector<std::thread> threads;
    std::atomic<int> admitted{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 500; ++i)
                if (!s.admit(c, c.name, kT0, kNoon)) admitted.fetch_add(1);
        });
    for (auto& t : threads) t.join();
    CHECK(admitted.load() == 1000);
    CHECK(s.in_flight() == 1000);
}

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "store/since.h"

using agd::store::local_day_start;
using agd::store::local_month_start;
using agd::store::parse_since;

namespace {

// Sets TZ for the test's duration.
struct Zone {
    std::optional<std::string> old;
    explicit Zone(const char* tz) {
        if (const char* o = std::getenv("TZ")) old = o;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~Zone() {
        if (old)
            ::setenv("TZ", old->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
};

constexpr int64_t kNow = 1'796'774'400 + 13 * 3600 + 45 * 60 + 7;  // 2026-12-09T13:45:07Z

}  // namespace

TEST_CASE("store since: durations, days and months") {
    Zone utc("UTC");
    CHECK(parse_since("30m", kNow) == kNow - 1800);
    CHECK(parse_since("1h", kNow) == kNow - 3600);
    CHECK(parse_since("24h", kNow) == kNow - 86400);
    CHECK(parse_since("7d", kNow) == kNow - 7 * 86400);
    CHECK(parse_since("2w", kNow) == kNow - 14 * 86400);
    CHECK(parse_since("90s", kNow) == kNow - 90);
    CHECK(parse_since("today", kNow) == 1'796'774'400);
    CHECK(parse_since("yesterday", kNow) == 1'796'774'400 - 86400);
    CHECK(parse_since("month", kNow) == 1'796'083'200);  // 2026-12-01T00:00:00Z
    CHECK(parse_since("2026-12-01", kNow) == 1'796'083'200);
    CHECK(parse_since("2026-12-01T13:45", kNow) == 1'796'083'200 + 13 * 3600 + 45 * 60);
    CHECK(parse_since("2026-12-01 13:45:30", kNow) == 1'796'083'200 + 13 * 3600 + 45 * 60 + 30);
    CHECK(parse_since("2026-12-01T13:45:30.250Z", kNow) == 1'796'083'200 + 13 * 3600 + 45 * 60 + 30);
    CHECK(parse_since("2026-12-01T13:45:30+02:00", kNow) == 1'796'083'200 + 11 * 3600 + 45 * 60 + 30);
    CHECK(parse_since("2026-12-01T13:45-0530", kNow) == 1'796'083'200 + 19 * 3600 + 15 * 60);
    CHECK(local_day_start(kNow) == 1'796'774'400);
    CHECK(local_month_start(kNow) == 1'796'083'200);
}

TEST_CASE("store since: local dates follow TZ") {
    Zone paris("Europe/Paris");  // UTC+1 in December
    CHECK(parse_since("2026-12-01", kNow) == 1'796'083'200 - 3600);
    CHECK(parse_since("2026-12-01T13:45Z", kNow) == 1'796'083'200 + 13 * 3600 + 45 * 60);
    CHECK(local_day_start(kNow) == 1'796'774'400 - 3600);
    CHECK(local_month_start(kNow) == 1'796'083'200 - 3600);
    Zone india("Asia/Kolkata");  // UTC+5:30: the day starts at 18:30 UTC
    CHECK(local_day_start(kNow) == 1'796'774'400 - 5 * 3600 - 1800);
}

TEST_CASE("store since: what is not understood") {
    Zone utc("UTC");
    for (const char* bad : {"", "h", "1", "-1h", "1y", "1.5h", "2026-13-01", "2026-02-30", "2026-12-01T25:00",
                            "2026-12-01T13", "2026-12-01T13:45+2", "2026-12-01X13:45", "26-12-01", "month ",
                            "999999999999999999999d"})
        CHECK_MESSAGE(!parse_since(bad, kNow), bad);
}

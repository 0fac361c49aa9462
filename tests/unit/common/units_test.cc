#include <doctest/doctest.h>

#include <chrono>

#include "common/units.h"

using agd::parse_count;
using agd::parse_duration;
using agd::parse_size;
using namespace std::chrono_literals;

TEST_CASE("units: sizes") {
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("100") == 100u);
    CHECK(parse_size("100B") == 100u);
    CHECK(parse_size("64K") == 64u * 1024);
    CHECK(parse_size("64k") == 64u * 1024);
    CHECK(parse_size("64KB") == 64u * 1024);
    CHECK(parse_size("64KiB") == 64u * 1024);
    CHECK(parse_size("100M") == 100ull << 20);
    CHECK(parse_size("100MiB") == 100ull << 20);
    CHECK(parse_size("2G") == 2ull << 30);
    CHECK(parse_size("1T") == 1ull << 40);
}

TEST_CASE("units: bad sizes") {
    CHECK_FALSE(parse_size(""));
    CHECK_FALSE(parse_size("lots"));
    CHECK_FALSE(parse_size("M"));
    CHECK_FALSE(parse_size("-1"));
    CHECK_FALSE(parse_size("-1M"));
    CHECK_FALSE(parse_size("+5"));
    CHECK_FALSE(parse_size("1.5M"));
    CHECK_FALSE(parse_size(" 1M"));
    CHECK_FALSE(parse_size("1 M"));
    CHECK_FALSE(parse_size("1MX"));
    CHECK_FALSE(parse_size("1Q"));
    CHECK_FALSE(parse_size("1MM"));
}

TEST_CASE("units: size overflow") {
    CHECK(parse_size("18446744073709551615") == 18446744073709551615ull);
    CHECK_FALSE(parse_size("18446744073709551616"));
    CHECK_FALSE(parse_size("99999999999999999999999"));
    CHECK(parse_size("16777215T") == 16777215ull << 40);
    CHECK_FALSE(parse_size("16777216T"));  // 2^64
    CHECK_FALSE(parse_size("17179869184G"));
}

TEST_CASE("units: durations") {
    CHECK(parse_duration("250ms") == 250ms);
    CHECK(parse_duration("30s") == 30s);
    CHECK(parse_duration("5m") == 5min);
    CHECK(parse_duration("1h") == 1h);
    CHECK(parse_duration("30d") == 30 * 24h);
    CHECK(parse_duration("1d12h") == 36h);
    CHECK(parse_duration("0s") == 0ms);
    CHECK(parse_duration("0") == 0ms);
    CHECK(parse_duration("45") == 45s);  // bare number = seconds
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("1h2m3s4ms") == 1h + 2min + 3s + 4ms);
}

TEST_CASE("units: bad durations") {
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("s"));
    CHECK_FALSE(parse_duration("-5s"));
    CHECK_FALSE(parse_duration("1.5s"));
    CHECK_FALSE(parse_duration("5 s"));
    CHECK_FALSE(parse_duration("5x"));
    CHECK_FALSE(parse_duration("5S"));
    CHECK_FALSE(parse_duration("5sec"));
    CHECK_FALSE(parse_duration("1m30"));  // bare number only on its own
    CHECK_FALSE(parse_duration("forever"));
}

TEST_CASE("units: counts with decimal multiples") {
    CHECK(parse_count("0") == 0u);
    CHECK(parse_count("60") == 60u);
    CHECK(parse_count("200k") == 200'000u);
    CHECK(parse_count("5M") == 5'000'000u);
    CHECK(parse_count("2g") == 2'000'000'000u);
    CHECK_FALSE(parse_count(""));
    CHECK_FALSE(parse_count("k"));
    CHECK_FALSE(parse_count("5kb"));
    CHECK_FALSE(parse_count("1.5M"));
    CHECK_FALSE(parse_count("-1"));
    CHECK_FALSE(parse_count("20000000000000000000"));
    CHECK_FALSE(parse_count("18446744073709551615k"));  // overflows
}

TEST_CASE("units: duration overflow") {
    CHECK(parse_duration("9223372036854775807ms") == std::chrono::milliseconds(9223372036854775807LL));
    CHECK_FALSE(parse_duration("9223372036854775808ms"));
    CHECK_FALSE(parse_duration("9223372036854775807s"));
    CHECK_FALSE(parse_duration("5124095576030431h"));
    CHECK_FALSE(parse_duration("99999999999999999999999s"));
    CHECK_FALSE(parse_duration("9223372036854775000ms1s"));  // the sum overflows
}

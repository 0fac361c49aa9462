#include <doctest/doctest.h>

#include <string>

#include "admin/console_assets.h"

using namespace agd::admin;

namespace {

std::string header_of(const ConsoleReply& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
        if (name == k) return v;
    return "";
}

}  // namespace

TEST_CASE("console: Accept-Encoding") {
    CHECK(accepts_gzip("gzip"));
    CHECK(accepts_gzip("gzip, deflate, br, zstd"));
    CHECK(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CHECK(accepts_gzip("*"));
    CHECK_FALSE(accepts_gzip(""));
    CHECK_FALSE(accepts_gzip("identity"));
    CHECK_FALSE(accepts_gzip("gzip;q=0"));
    CHECK_FALSE(accepts_gzip("gzip;q=0.000, br"));
    CHECK_FALSE(accepts_gzip("*, gzip;q=0"));
    CHECK_FALSE(accepts_gzip("*;q=0"));
    CHECK_FALSE(accepts_gzip("xgzip, gzipx"));
}

TEST_CASE("console: If-None-Match") {
    CHECK(etag_matches("\"abc\"", "\"abc\""));
    CHECK(etag_matches("W/\"abc\"", "\"abc\""));
    CHECK(etag_matches("\"x\", \"abc\"", "\"abc\""));
    CHECK(etag_matches("*", "\"abc\""));
    CHECK_FALSE(etag_matches("\"abcd\"", "\"abc\""));
    CHECK_FALSE(etag_matches("abc", "\"abc\""));
    CHECK_FALSE(etag_matches("", "\"abc\""));
}

TEST_CASE("console: every file is embedded, small, and served with its policy") {
    const ConsoleAsset* index = find_console_asset("/");
    REQUIRE(index != nullptr);
    CHECK(std::string(index->type).rfind("text/html", 0) == 0);
    CHECK(index->body.find("<html") != std::string_view::npos);
    CHECK(find_console_asset("/index.html") == nullptr);
    CHECK(find_console_asset("/assets/") == nullptr);
    size_t total = 0;
    for (const ConsoleAsset& a : console_assets()) {
        total += a.body.size();
        CHECK(a.body.size() > 0);
        CHECK(std::string(a.path).rfind(a.path[1] == 'a' ? "/assets/" : "/", 0) == 0);
        // A gzip form starts with gzip's magic and is smaller than the file.
        if (!a.gzip.empty()) {
            CHECK(static_cast<unsigned char>(a.gzip[0]) == 0x1f);
            CHECK(a.gzip.size() < a.body.size());
        }
    }
    CHECK(total < 300 * 1024);

    ConsoleReply plain = console_reply(*index, "", "");
    CHECK(plain.status == 200);
    CHECK(plain.body == index->body);
    CHECK(header_of(plain, "ETag") == index->etag);
    CHECK(header_of(plain, "Content-Security-Policy").find("default-src 'self'") == 0);
    CHECK(header_of(plain, "X-Frame-Options") == "DENY");
    CHECK(header_of(plain, "Content-Encoding").empty());
    if (!index->gzip.empty()) {
        ConsoleReply packed = console_reply(*index, "", "gzip, br");
        CHECK(packed.body == index->gzip);
        CHECK(header_of(packed, "Content-Encoding") == "gzip");
    }
    ConsoleReply again = console_reply(*index, index->etag, "gzip");
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    CHECK(header_of(again, "ETag") == index->etag);
}

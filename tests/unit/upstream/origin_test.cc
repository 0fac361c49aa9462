#include <doctest/doctest.h>

#include <string>

#include "upstream/origin.h"

using agd::upstream::Origin;
using agd::upstream::parse_origin;

namespace {

struct Parsed {
    bool ok;
    Origin o;
    std::string target;
};

Parsed parse(std::string_view url) {
    Parsed p;
    std::string_view target;
    p.ok = parse_origin(url, p.o, target);
    if (p.ok) p.target = std::string(target);
    return p;
}

}  // namespace

TEST_CASE("origin: scheme, host, port, target") {
    auto p = parse("http://127.0.0.1:8080/v1/chat/completions");
    REQUIRE(p.ok);
    CHECK_FALSE(p.o.tls);
    CHECK(p.o.host == "127.0.0.1");
    CHECK(p.o.port == 8080);
    CHECK(p.o.authority == "127.0.0.1:8080");
    CHECK(p.o.key == "127.0.0.1:8080");
    CHECK(p.target == "/v1/chat/completions");

    p = parse("HTTPS://api.example.com/v1beta/models/g:streamGenerateContent?alt=sse");
    REQUIRE(p.ok);
    CHECK(p.o.tls);
    CHECK(p.o.port == 443);
    CHECK(p.o.authority == "api.example.com");
    CHECK(p.o.key == "api.example.com:443");
    CHECK(p.target == "/v1beta/models/g:streamGenerateContent?alt=sse");

    p = parse("http://gpu-box");
    REQUIRE(p.ok);
    CHECK(p.o.port == 80);
    CHECK(p.target == "/");

    p = parse("http://gpu-box?x=1");
    REQUIRE(p.ok);
    CHECK(p.target == "?x=1");
}

TEST_CASE("origin: IPv6 literals keep their brackets in the Host header and the key only") {
    auto p = parse("http://[::1]:9000/v1");
    REQUIRE(p.ok);
    CHECK(p.o.host == "::1");
    CHECK(p.o.port == 9000);
    CHECK(p.o.authority == "[::1]:9000");
    CHECK(p.o.key == "[::1]:9000");
    p = parse("http://[fe80::1]/");
    REQUIRE(p.ok);
    CHECK(p.o.port == 80);
}

TEST_CASE("origin: what it refuses") {
    for (const char* bad : {"ftp://h/", "http://", "http:///v1", "http://user:pw@h/", "http://h:0/", "http://h:65536/",
                            "http://h:8x/", "http://[::1/", "http://[]:80/", "http://[::1]x/", "http://h/#frag",
                            "http://h h/", "http://:80/"}) {
        INFO(bad);
        CHECK_FALSE(parse(bad).ok);
    }
}

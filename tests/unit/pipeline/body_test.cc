#include <doctest/doctest.h>

#include <string>

#include "pipeline/body.h"

using namespace agd;

namespace {
Result<BodyInfo> scan(const std::string& s) { return scan_body(s.c_str(), s.size()); }
}  // namespace

TEST_CASE("body scan: model span and stream flag") {
    std::string b = R"({"messages":[{"model":"inner"}],"model":"gpt-4o","stream":true})";
    auto r = scan(b);
    REQUIRE(r.ok());
    CHECK(r->model == "gpt-4o");
    CHECK(r->stream);
    CHECK(b.substr(r->model_begin, r->model_end - r->model_begin) == "\"gpt-4o\"");
}

TEST_CASE("body scan: escaped model names keep their exact byte span") {
    std::string b = R"({ "model" : "a\"b\\" , "x":1})";
    auto r = scan(b);
    REQUIRE(r.ok());
    CHECK(r->model == "a\"b\\");
    CHECK(b.substr(r->model_begin, r->model_end - r->model_begin) == R"("a\"b\\")");
}

TEST_CASE("body scan: nested stream/model fields are not top-level") {
    auto r = scan(R"({"stream_options":{"stream":true,"model":"no"}})");
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_model);
    CHECK_FALSE(r->has_stream);
}

TEST_CASE("body scan: errors") {
    CHECK_FALSE(scan("").ok());
    CHECK_FALSE(scan("[1,2]").ok());
    CHECK_FALSE(scan("\"str\"").ok());
    auto r = scan(R"({"model":"x",})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 400);
    CHECK(r.error().message.find("invalid JSON") != std::string::npos);
    CHECK_FALSE(scan(R"({"a":1} {"b":2})").ok());
    auto m = scan(R"({"model":5})");
    REQUIRE(m.ok());
    CHECK_FALSE(m->has_model);
}

TEST_CASE("body scan: deep nesting does not overflow the stack") {
    std::string deep = "{\"model\":\"m\",\"x\":";
    for (int i = 0; i < 200000; ++i) deep += '[';
    for (int i = 0; i < 200000; ++i) deep += ']';
    deep += '}';
    auto r = scan(deep);
    REQUIRE(r.ok());
    CHECK(r->model == "m");
}

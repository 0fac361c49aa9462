#include <doctest/doctest.h>

#include <string>

#include "pipeline/body.h"
#include "scan_both.h"

using namespace agd;

namespace {
Result<BodyInfo> scan(const std::string& s) { return test::scan_both(s); }
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

TEST_CASE("body scan: deep nesting does not overflow the stack, and past max_depth is refused") {
    std::string deep = "{\"model\":\"m\",\"x\":";
    for (int i = 0; i < 200000; ++i) deep += '[';
    for (int i = 0; i < 200000; ++i) deep += ']';
    deep += '}';
    auto r = scan(deep);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 400);
    CHECK(r.error().message ==
          "the request body nests JSON arrays and objects deeper than 512 levels (server.max_json_depth), at byte 528");
    // The scan itself is iterative: with a limit above the nesting it passes.
    auto all = test::scan_both(deep, 200001);
    REQUIRE(all.ok());
    CHECK(all->model == "m");
}

TEST_CASE("body scan: the depth limit counts arrays and objects, the root included") {
    auto nested = [](int n) {  // {"model":"m","x":{"a":{"a":...[1]...}}}: depth n + 2
        std::string s = "{\"model\":\"m\",\"x\":";
        for (int i = 0; i < n; ++i) s += "{\"a\":";
        s += "[1]";
        for (int i = 0; i < n; ++i) s += '}';
        return s + "}";
    };
    for (unsigned limit : {16u, 512u, 4096u}) {
        CAPTURE(limit);
        std::string ok = nested(static_cast<int>(limit) - 2), bad = nested(static_cast<int>(limit) - 1);
        CHECK(test::scan_both(ok, limit).ok());
        auto r = test::scan_both(bad, limit);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.find("deeper than " + std::to_string(limit) + " levels") != std::string::npos);
    }
    CHECK(scan_body("{}", 2, 1).ok());
    CHECK_FALSE(scan_body("{\"a\":[]}", 8, 1).ok());
}

TEST_CASE("body scan: strings must be valid UTF-8 once decoded") {
    for (const char* ok : {"{\"model\":\"caf\xc3\xa9\"}", "{\"model\":\"\\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80\"}",
                           "{\"k\xc3\xa9\":1,\"model\":\"a\\u0000b\"}"}) {
        CAPTURE(ok);
        CHECK(scan(ok).ok());
    }
    for (const char* bad : {"{\"model\":\"caf\xe9\"}", "{\"model\":\"\xc0\xaf\"}", "{\"model\":\"\xed\xa0\x80\"}",
                            "{\"model\":\"\xf4\x90\x80\x80\"}", "{\"model\":\"\\udc00\"}",
                            "{\"k\xff\":1}", "{\"model\":\"x\",\"m\":[\"ok\",\"\xe2\x82\"]}"}) {
        CAPTURE(bad);
        auto r = scan(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == 400);
        CHECK(r.error().message.find("not valid UTF-8") != std::string::npos);
    }
    auto r = scan("{\"model\":\"x\",\"t\":\"\\udc00\"}");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message ==
          "the request body is not valid UTF-8: the string at byte 17 holds an invalid byte sequence or a lone "
          "surrogate escape");
    // A lone high surrogate escape is RapidJSON's own syntax error.
    auto hi = scan("{\"model\":\"\\ud800x\"}");
    REQUIRE_FALSE(hi.ok());
    CHECK(hi.error().message.find("surrogate") != std::string::npos);
}

TEST_CASE("body scan: a raw NUL byte is named") {
    std::string b("{\"model\":\"a\0b\"}", 15);
    auto r = test::scan_both(b);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "invalid JSON in request body: a NUL byte at byte 11 (a string holds one only as the escape \\u0000)");
    std::string after("{\"model\":\"a\"}\0", 14);
    auto t = test::scan_both(after);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().message.find("NUL byte at byte 13") != std::string::npos);
}

TEST_CASE("body scan: what names a conversation, at its own level only") {
    auto r = scan(R"({"model":"m","metadata":{"x":{"user_id":"deep"},"user_id":"user_1_session_ab","k":[1]},)"
                  R"("prompt_cache_key":"pck-9","user":"u-7","messages":[{"user":"not-top"}]})");
    REQUIRE(r.ok());
    CHECK(r->metadata_user_id == "user_1_session_ab");
    CHECK(r->prompt_cache_key == "pck-9");
    CHECK(r->user == "u-7");

    // Not top-level, not a string, or not inside "metadata": nothing.
    r = scan(R"({"x":{"prompt_cache_key":"no","metadata":{"user_id":"no"}},"user_id":"no","metadata":{"user_id":5},)"
             R"("user":{"id":"no"},"prompt_cache_key":null})");
    REQUIRE(r.ok());
    CHECK(r->metadata_user_id.empty());
    CHECK(r->prompt_cache_key.empty());
    CHECK(r->user.empty());
    r = scan(R"({"metadata":[{"user_id":"no"}],"after":{"user_id":"no"}})");
    REQUIRE(r.ok());
    CHECK(r->metadata_user_id.empty());

    // A huge value is cut: it only names a session.
    r = scan(R"({"prompt_cache_key":")" + std::string(5000, 'k') + R"("})");
    REQUIRE(r.ok());
    CHECK(r->prompt_cache_key.size() == kMaxSessionField);
}

TEST_CASE("body scan: the DOM built in the same pass holds every kind of value") {
    // scan_both compares the DOM with a parse of the text.
    auto r = scan(R"({"model":"m","i":-7,"u":7,"i64":-9000000000,"u64":18000000000000000000,"d":-0.25,)"
                  R"("e":1e300,"b":[true,false,null],"s":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","o":{"k":{}},"a":[[],{}]})");
    REQUIRE(r.ok());
    CHECK(r->model == "m");
}

#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "pipeline/errors.h"

using namespace agd;

namespace {
rapidjson::Document parse(const std::string& s) {
    rapidjson::Document d;
    d.Parse(s.c_str());
    REQUIRE_FALSE(d.HasParseError());
    return d;
}
}  // namespace

TEST_CASE("error replies in each protocol") {
    ErrorReply o = error_reply(Surface::OpenAI, ErrorKind::Unauthorized, "bad \"key\"");
    CHECK(o.status == 401);
    auto d = parse(o.body);
    CHECK(std::string(d["error"]["message"].GetString()) == "bad \"key\"");
    CHECK(std::string(d["error"]["type"].GetString()) == "invalid_request_error");
    CHECK(std::string(d["error"]["code"].GetString()) == "invalid_api_key");
    CHECK(d["error"]["param"].IsNull());

    ErrorReply a = error_reply(Surface::Anthropic, ErrorKind::Unavailable, "busy");
    CHECK(a.status == 529);
    d = parse(a.body);
    CHECK(std::string(d["type"].GetString()) == "error");
    CHECK(std::string(d["error"]["type"].GetString()) == "overloaded_error");

    ErrorReply g = error_reply(Surface::Gemini, ErrorKind::RateLimited, "slow down");
    CHECK(g.status == 429);
    d = parse(g.body);
    CHECK(d["error"]["code"].GetInt() == 429);
    CHECK(std::string(d["error"]["status"].GetString()) == "RESOURCE_EXHAUSTED");

    CHECK(error_reply(Surface::OpenAI, ErrorKind::ModelNotFound, "x").status == 404);
    CHECK(error_reply(Surface::Anthropic, ErrorKind::TooLarge, "x").status == 413);
    CHECK(error_reply(Surface::Gemini, ErrorKind::Timeout, "x").status == 504);
}

TEST_CASE("in-stream error events use each protocol's own framing") {
    std::string c = stream_error_event(Protocol::OpenAIChat, ErrorKind::BadGateway, "lost");
    CHECK(c.rfind("data: {\"error\":", 0) == 0);
    CHECK(c.substr(c.size() - 2) == "\n\n");
    std::string r = stream_error_event(Protocol::OpenAIResponses, ErrorKind::BadGateway, "lost");
    CHECK(r.rfind("event: error\ndata: {\"type\":\"error\"", 0) == 0);
    std::string a = stream_error_event(Protocol::Anthropic, ErrorKind::BadGateway, "lost");
    CHECK(a.rfind("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"", 0) == 0);
    std::string g = stream_error_event(Protocol::Gemini, ErrorKind::BadGateway, "lost");
    CHECK(g.rfind("data: {\"error\":{\"code\":502", 0) == 0);
    CHECK(g.substr(g.size() - 4) == "\r\n\r\n");
}

TEST_CASE("error messages with invalid UTF-8 from an upstream still make valid JSON") {
    ErrorReply o = error_reply(Surface::OpenAI, ErrorKind::BadGateway, std::string("bad \xff\xfe bytes \xe2\x82 \xe2\x82\xac"));
    auto d = parse(o.body);
    CHECK(std::string(d["error"]["message"].GetString()) == "bad \xef\xbf\xbd\xef\xbf\xbd bytes \xef\xbf\xbd\xef\xbf\xbd \xe2\x82\xac");
}

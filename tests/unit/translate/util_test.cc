#include <doctest/doctest.h>

#include "translate/session.h"
#include "translate/signature_cache.h"
#include "translate/util.h"

using namespace agd;
using namespace agd::translate;

TEST_CASE("data URLs split at the first comma, mime before the first semicolon") {
    std::string mime, data;
    CHECK(parse_data_url("data:image/png;base64,iVBOR=", mime, data));
    CHECK(mime == "image/png");
    CHECK(data == "iVBOR=");
    CHECK(parse_data_url("data:image/jpeg;charset=x;base64,AA,BB", mime, data));
    CHECK(mime == "image/jpeg");
    CHECK(data == "AA,BB");
    CHECK_FALSE(parse_data_url("https://example.com/a.png", mime, data));
    CHECK_FALSE(parse_data_url("data:text/plain,hello", mime, data));
    CHECK(make_data_url("image/gif", "R0lG") == "data:image/gif;base64,R0lG");
}

TEST_CASE("tool arguments are repaired to a JSON object") {
    CHECK(repair_args_json("") == "{}");
    CHECK(repair_args_json("  ") == "{}");
    CHECK(repair_args_json("{\"a\":1}") == "{\"a\":1}");
    CHECK(repair_args_json("{\"city\":\"Par") == "{\"city\":\"Par\"}");
    CHECK(repair_args_json("{\"a\":[1,2") == "{\"a\":[1,2]}");
    CHECK(repair_args_json("{\"a\":1,") == "{\"a\":1}");
    CHECK(repair_args_json("{\"a\":1,\"b\":") == "{\"a\":1}");
    CHECK(repair_args_json("[1,2]") == "{}");
    CHECK(repair_args_json("\"text\"") == "{}");
    CHECK(repair_args_json("not json") == "{}");
}

TEST_CASE("effort and budget convert both ways on the documented scale") {
    CHECK(effort_to_budget("none") == 0);
    CHECK(effort_to_budget("minimal") == 512);
    CHECK(effort_to_budget("low") == 1024);
    CHECK(effort_to_budget("medium") == 8192);
    CHECK(effort_to_budget("high") == 24576);
    CHECK(effort_to_budget("xhigh") == 32768);
    CHECK(effort_to_budget("max", 64000) == 64000);
    CHECK(budget_to_effort(0) == "none");
    CHECK(budget_to_effort(512) == "minimal");
    CHECK(budget_to_effort(1000) == "low");
    CHECK(budget_to_effort(8192) == "medium");
    CHECK(budget_to_effort(20000) == "high");
    CHECK(budget_to_effort(100000) == "xhigh");
}

TEST_CASE("signatures are tagged across protocols and checked on replay") {
    Session s;
    s.client = Protocol::OpenAIChat;
    s.upstream = Protocol::Gemini;
    s.upstream_model = "gemini-3-pro";
    std::string shown = signature_for_client("CiQB", s);
    CHECK(shown == "agd|gemini|gemini-3-pro|CiQB");

    ir::Part p;
    untag_signature(shown, Protocol::Anthropic, p);
    CHECK(p.signature == "CiQB");
    REQUIRE(p.origin.protocol);
    CHECK(*p.origin.protocol == Protocol::Gemini);
    CHECK(p.origin.model == "gemini-3-pro");
    CHECK(signature_valid_for(p.origin, s));
    s.upstream_model = "gemini-2.5-flash";
    CHECK_FALSE(signature_valid_for(p.origin, s));

    ir::Part native;
    untag_signature("EqQBCkYI", Protocol::Anthropic, native);
    CHECK(native.signature == "EqQBCkYI");
    CHECK(*native.origin.protocol == Protocol::Anthropic);
    s.upstream = Protocol::Anthropic;
    CHECK(signature_valid_for(native.origin, s));
    s.upstream = Protocol::Gemini;
    CHECK_FALSE(signature_valid_for(native.origin, s));

    s.client = Protocol::Gemini;
    CHECK(signature_for_client("CiQB", s) == "CiQB");
}

TEST_CASE("finish reasons map per the stop-reason table") {
    CHECK(std::string(chat_finish_reason(finish_from_gemini("MAX_TOKENS"))) == "length");
    CHECK(std::string(chat_finish_reason(finish_from_gemini("SAFETY"))) == "content_filter");
    CHECK(std::string(anthropic_stop_reason(finish_from_chat("tool_calls"))) == "tool_use");
    CHECK(std::string(gemini_finish_reason(finish_from_anthropic("max_tokens"))) == "MAX_TOKENS");
    CHECK(std::string(anthropic_stop_reason(finish_from_gemini("IMAGE_SAFETY"))) == "refusal");
    CHECK(finish_from_gemini("") == ir::Finish::Unset);
}

TEST_CASE("session maps names and ids both ways and mints unique ids") {
    Session s;
    s.map_tool_name("web.search", "web_search");
    CHECK(s.upstream_tool_name("web.search") == "web_search");
    CHECK(s.client_tool_name("web_search") == "web.search");
    CHECK(s.client_tool_name("other") == "other");
    std::string a = s.new_id("call_"), b = s.new_id("call_");
    CHECK(a.size() == 5 + 24);
    CHECK(a != b);
    s.seed = 1;
    CHECK(s.new_id("toolu_") == "toolu_1");
}

TEST_CASE("the signature cache is bounded and keeps the newest entries") {
    SignatureCache c(2);
    c.put("a", {Protocol::Gemini, "m", "sa", ""});
    c.put("b", {Protocol::Gemini, "m", "sb", ""});
    c.put("c", {Protocol::Anthropic, "m", "sc", "think"});
    CHECK(c.size() == 2);
    CHECK_FALSE(c.get("a"));
    REQUIRE(c.get("c"));
    CHECK(c.get("c")->thinking == "think");
    c.put("", {Protocol::Gemini, "m", "x", ""});
    CHECK(c.size() == 2);
}

TEST_CASE("tool arguments come out as clean JSON whatever stray bytes precede them") {
    // RapidJSON skips a byte-order mark's bytes before a value; they must not reach a body.
    CHECK(repair_args_json("\xbb{\"city\":\"Paris\"}") == "{\"city\":\"Paris\"}");
    CHECK(repair_args_json("\xef\xbb\xbf{\"a\":1}") == "{\"a\":1}");
    CHECK(repair_args_json("{ \"a\" : [1, 2] }") == "{\"a\":[1,2]}");
}

// A Responses client's custom (freeform) tools toward a Chat upstream,
// which has them: declared, replayed and forced as Chat custom tools, and
// the upstream's custom calls back as custom_tool_call items.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;
using test::parse;
using test::str;
using Ev = ir::StreamEvent;

namespace {

const char* kGrammar = "start: begin_patch hunk+ end_patch";

ir::Request decode(Protocol client, const char* body, Session& s) {
    auto r = decode_request(client, body, s);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

std::string encode(Protocol wire, const ir::Request& r, Session& s) {
    auto out = encode_request(wire, r, s);
    INFO((out ? std::string() : out.error().message));
    REQUIRE(out.ok());
    return out.value();
}

const char* kResponsesCustom = R"({"model":"gpt-5-codex","input":[
  {"type":"message","role":"user","content":[{"type":"input_text","text":"fix"}]},
  {"type":"custom_tool_call","call_id":"call_b","name":"apply_patch","input":"*** Begin Patch\n*** End Patch"},
  {"type":"custom_tool_call_output","call_id":"call_b","output":"Done!"}],
 "tools":[{"type":"custom","name":"apply_patch","description":"Edit files",
   "format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch hunk+ end_patch"}},
  {"type":"function","name":"shell","parameters":{"type":"object","properties":{}}}],
 "tool_choice":{"type":"custom","name":"apply_patch"}})";

Session responses_session() {
    Session s;
    s.client = Protocol::OpenAIResponses;
    s.upstream = Protocol::OpenAIChat;
    s.client_model = "gpt-5-codex";
    s.upstream_model = "upstream-model";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

}  // namespace

TEST_CASE("responses custom tools toward a Chat upstream: declared, replayed and forced as Chat custom tools") {
    Session s = responses_session();
    ir::Request r = decode(Protocol::OpenAIResponses, kResponsesCustom, s);
    auto body = parse(encode(Protocol::OpenAIChat, r, s));
    const JsonValue& tools = *member(body, "tools");
    REQUIRE(tools.Size() == 2);
    CHECK(str(tools[0], "type") == "custom");
    const JsonValue* cu = member(tools[0], "custom");
    REQUIRE(is_object(cu));
    CHECK(str(*cu, "name") == "apply_patch");
    CHECK(str(*cu, "description") == "Edit files");
    const JsonValue* f = member(*cu, "format");
    REQUIRE(is_object(f));
    CHECK(str(*f, "type") == "grammar");
    CHECK(str(*member(*f, "grammar"), "syntax") == "lark");
    CHECK(str(*member(*f, "grammar"), "definition") == kGrammar);
    CHECK(str(tools[1], "type") == "function");

    const JsonValue& msgs = *member(body, "messages");
    const JsonValue* call = nullptr;
    for (const auto& m : msgs.GetArray())
        if (const JsonValue* tcs = member(m, "tool_calls"); is_array(tcs)) call = &(*tcs)[0];
    REQUIRE(call);
    CHECK(str(*call, "type") == "custom");
    CHECK(str(*call, "id") == "call_b");
    CHECK_FALSE(member(*call, "function"));
    CHECK(str(*member(*call, "custom"), "name") == "apply_patch");
    CHECK(str(*member(*call, "custom"), "input") == "*** Begin Patch\n*** End Patch");
    CHECK(str(msgs[msgs.Size() - 1], "role") == "tool");
    CHECK(str(msgs[msgs.Size() - 1], "content") == "Done!");

    const JsonValue* tc = member(body, "tool_choice");
    REQUIRE(is_object(tc));
    CHECK(str(*tc, "type") == "custom");
    CHECK(str(*member(*tc, "custom"), "name") == "apply_patch");
}

TEST_CASE("responses custom tools toward a Chat upstream: its custom calls come back as custom_tool_call items") {
    Session s = responses_session();
    decode(Protocol::OpenAIResponses, kResponsesCustom, s);
    const char* answer = R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"upstream-model",
     "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[
      {"id":"call_2","type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch\n\"q\"\n*** End Patch"}}]}}],
     "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})";
    auto decoded = decode_response(Protocol::OpenAIChat, answer, s);
    REQUIRE(decoded.ok());
    auto out = parse(encode_response(Protocol::OpenAIResponses, decoded.value(), s));
    const JsonValue* items = member(out, "output");
    REQUIRE(is_array(items));
    REQUIRE(items->Size() == 1);
    CHECK(str((*items)[0], "type") == "custom_tool_call");
    CHECK(str((*items)[0], "call_id") == "call_2");
    CHECK(str((*items)[0], "input") == "*** Begin Patch\n\"q\"\n*** End Patch");

    // Streamed: custom input deltas from the Chat upstream.
    Session ss = responses_session();
    ss.stream = true;
    decode(Protocol::OpenAIResponses, kResponsesCustom, ss);
    auto dec = make_stream_decoder(Protocol::OpenAIChat, ss);
    auto enc = make_responses_stream_encoder(ss);
    test::feed(*dec, *enc, R"({"id":"c1","object":"chat.completion.chunk","model":"upstream-model","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_9","type":"custom","custom":{"name":"apply_patch","input":""}}]},"finish_reason":null}]})");
    test::feed(*dec, *enc, R"({"id":"c1","object":"chat.completion.chunk","model":"upstream-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"custom":{"input":"*** Begin \"Patch\"\n"}}]},"finish_reason":null}]})");
    test::feed(*dec, *enc, R"({"id":"c1","object":"chat.completion.chunk","model":"upstream-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"custom":{"input":"*** End Patch"}}]},"finish_reason":null}]})");
    test::feed(*dec, *enc, R"({"id":"c1","object":"chat.completion.chunk","model":"upstream-model","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})");
    test::feed(*dec, *enc, "[DONE]");
    dec->on_close(*enc);
    auto evs = test::split_sse(enc->out);
    std::string delta, done_input;
    for (const auto& e : evs) {
        if (e.name == "response.custom_tool_call_input.delta") delta += str(e.data, "delta");
        if (e.name == "response.output_item.done") done_input = str(*member(e.data, "item"), "input");
    }
    CHECK(delta == "*** Begin \"Patch\"\n*** End Patch");
    CHECK(done_input == "*** Begin \"Patch\"\n*** End Patch");
}

#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;

namespace {

using test::parse;
using test::send;
using test::split_sse;
using test::SseOut;
using Collect = test::RecSink;

using Ev = ir::StreamEvent;

// The §2.3 example answer.
const char* kSpecResponse = R"({"id":"resp_1","object":"response","created_at":1735689600,"status":"completed","model":"gpt-5",
 "output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need tool."}],"encrypted_content":"gAAAA..."},
  {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
  {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}],
 "usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":0},"output_tokens":30,
   "output_tokens_details":{"reasoning_tokens":12},"total_tokens":80},
 "error":null,"incomplete_details":null,"parallel_tool_calls":true,"tool_choice":"auto","tools":[]})";

Session responses_upstream(Protocol client) {
    Session s;
    s.client = client;
    s.upstream = Protocol::OpenAIResponses;
    s.client_model = "my-model";
    s.upstream_model = "gpt-5";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

std::string str(const rapidjson::Value& v, const char* key) { return std::string(get_string(member(v, key))); }

void feed(StreamDecoder& d, EventSink& sink, std::string_view name, std::string data) {
    sse::Event ev;
    ev.name = name;
    ev.data = std::move(data);
    d.on_event(ev, sink);
}

void send_finish(StreamEncoder& enc, ir::Finish f) {
    Ev e;
    e.type = Ev::Type::Finish;
    e.finish = f;
    enc.on(e);
}

}  // namespace

// ---------------------------------------------------------------------------
// Whole answers.

TEST_CASE("responses: the §2.3 answer decodes to the IR") {
    Session s = responses_upstream(Protocol::OpenAIChat);
    auto r = decode_responses_response(kSpecResponse, s);
    REQUIRE(r.ok());
    CHECK(r->id == "resp_1");
    CHECK(r->model == "gpt-5");
    CHECK(r->created == 1735689600);
    REQUIRE(r->content.size() == 3);
    CHECK(r->content[0].kind == ir::PartKind::Thinking);
    CHECK(r->content[0].text == "Need tool.");
    CHECK(r->content[0].signature == "gAAAA...");
    CHECK(r->content[0].origin.protocol == Protocol::OpenAIResponses);
    CHECK(r->content[0].origin.model == "gpt-5");
    CHECK(r->content[1].kind == ir::PartKind::Text);
    CHECK(r->content[1].text == "Checking.");
    CHECK(r->content[2].kind == ir::PartKind::ToolCall);
    CHECK(r->content[2].call_id == "call_1");
    CHECK(r->content[2].name == "get_weather");
    CHECK(r->content[2].args_json == R"({"city":"Paris"})");
    CHECK(r->finish == ir::Finish::ToolCalls);
    CHECK(r->usage.prompt == 50);
    CHECK(r->usage.cache_read == 0);
    CHECK(r->usage.output == 30);
    CHECK(r->usage.reasoning == 12);
}

TEST_CASE("responses: the §2.3 answer re-encoded keeps its shape, with fresh item ids and the client's call id") {
    Session s = responses_upstream(Protocol::OpenAIResponses);
    auto r = decode_responses_response(kSpecResponse, s);
    REQUIRE(r.ok());
    auto d = parse(encode_responses_response(r.value(), s));
    CHECK(str(d, "id") == "resp_1");
    CHECK(str(d, "object") == "response");
    CHECK(get_int(member(d, "created_at")) == 1735689600);
    CHECK(str(d, "status") == "completed");
    CHECK(str(d, "model") == "my-model");
    CHECK(member(d, "error")->IsNull());
    CHECK(member(d, "incomplete_details")->IsNull());
    CHECK(get_bool(member(d, "parallel_tool_calls")) == true);
    CHECK(str(d, "tool_choice") == "auto");
    CHECK(is_array(member(d, "tools")));
    const auto& out = d["output"];
    REQUIRE(out.Size() == 3);
    CHECK(str(out[0], "type") == "reasoning");
    CHECK(str(out[0], "id").rfind("rs_", 0) == 0);
    CHECK(str(out[0]["summary"][0], "type") == "summary_text");
    CHECK(str(out[0]["summary"][0], "text") == "Need tool.");
    CHECK(str(out[0], "encrypted_content") == "gAAAA...");  // same protocol: raw
    CHECK(str(out[1], "type") == "message");
    CHECK(str(out[1], "id").rfind("msg_", 0) == 0);
    CHECK(str(out[1], "role") == "assistant");
    CHECK(str(out[1]["content"][0], "type") == "output_text");
    CHECK(str(out[1]["content"][0], "text") == "Checking.");
    CHECK(out[1]["content"][0]["annotations"].IsArray());
    CHECK(str(out[2], "type") == "function_call");
    CHECK(str(out[2], "id").rfind("fc_", 0) == 0);
    CHECK(str(out[2], "call_id") == "call_1");
    CHECK(str(out[2], "id") != str(out[2], "call_id"));
    CHECK(str(out[2], "name") == "get_weather");
    CHECK(str(out[2], "arguments") == R"({"city":"Paris"})");
    const auto& u = d["usage"];
    CHECK(get_int(member(u, "input_tokens")) == 50);
    CHECK(get_int(member(u["input_tokens_details"], "cached_tokens")) == 0);
    CHECK(get_int(member(u, "output_tokens")) == 30);
    CHECK(get_int(member(u["output_tokens_details"], "reasoning_tokens")) == 12);
    CHECK(get_int(member(u, "total_tokens")) == 80);
}

TEST_CASE("responses: answers from other upstreams get resp_ ids, tagged signatures and incomplete statuses") {
    Session s;
    s.client = Protocol::OpenAIResponses;
    s.upstream = Protocol::Anthropic;
    s.upstream_model = "claude-x";
    s.client_model = "claude";
    s.seed = 1;
    ir::Response r;
    r.id = "msg_01abc";
    ir::Part th;
    th.kind = ir::PartKind::Thinking;
    th.text = "hmm";
    th.signature = "SIG";
    r.content.push_back(th);
    ir::Part t;
    t.text = "cut";
    r.content.push_back(t);
    r.finish = ir::Finish::Length;
    auto d = parse(encode_responses_response(r, s));
    CHECK(str(d, "id") == "resp_msg_01abc");
    CHECK(str(d, "status") == "incomplete");
    CHECK(str(d["incomplete_details"], "reason") == "max_output_tokens");
    CHECK(str(d["output"][0], "encrypted_content") == "agd|anthropic|claude-x|SIG");
    CHECK(get_int(member(d["usage"], "input_tokens")) == 0);

    r.finish = ir::Finish::ContentFilter;
    r.id.clear();
    d = parse(encode_responses_response(r, s));
    CHECK(str(d, "id").rfind("resp_", 0) == 0);
    CHECK(str(d["incomplete_details"], "reason") == "content_filter");

    // A tool call is reported as completed whatever the upstream said.
    ir::Part call;
    call.kind = ir::PartKind::ToolCall;
    call.call_id = "toolu_1";
    call.name = "f";
    r.content.push_back(call);
    r.finish = ir::Finish::Stop;
    d = parse(encode_responses_response(r, s));
    CHECK(str(d, "status") == "completed");
    CHECK(str(d["output"][2], "arguments") == "{}");
    CHECK(str(d["output"][2], "call_id") == "toolu_1");
}

TEST_CASE("responses: upstream statuses and names map back") {
    Session s = responses_upstream(Protocol::Anthropic);
    s.map_tool_name("my.tool", "my_tool");
    s.map_call_id("toolu.1", "toolu_1");
    auto r = decode_responses_response(
        R"({"id":"resp_9","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
            "output":[{"type":"function_call","id":"fc_9","call_id":"toolu_1","name":"my_tool","arguments":"{\"a\":[1,2"}],
            "usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5}})",
        s);
    REQUIRE(r.ok());
    CHECK(r->finish == ir::Finish::Length);
    REQUIRE(r->content.size() == 1);
    CHECK(r->content[0].name == "my.tool");
    CHECK(r->content[0].call_id == "toolu.1");
    CHECK(r->content[0].args_json == R"({"a":[1,2]})");
    CHECK(r->usage.cache_read == 4);
    CHECK(r->usage.reasoning == -1);

    r = decode_responses_response(
        R"({"status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[{"type":"message","content":[{"type":"refusal","refusal":"No."}]}]})",
        s);
    REQUIRE(r.ok());
    CHECK(r->finish == ir::Finish::ContentFilter);
    CHECK(r->content[0].text == "No.");

    r = decode_responses_response(R"({"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]})", s);
    REQUIRE(r.ok());
    CHECK(r->finish == ir::Finish::Stop);

    auto f = decode_responses_response(
        R"({"status":"failed","error":{"code":"rate_limit_exceeded","message":"slow down"},"output":[]})", s);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == 429);
    CHECK(f.error().message == "slow down");
    CHECK_FALSE(decode_responses_response("[1]", s).ok());
    CHECK_FALSE(decode_responses_response("{", s).ok());
}

TEST_CASE("responses: a decoded answer caches the reasoning of each call, and replays it to the same model") {
    SignatureCache cache;
    Session s = responses_upstream(Protocol::OpenAIChat);
    s.signatures = &cache;
    REQUIRE(decode_responses_response(kSpecResponse, s).ok());
    auto c = cache.get("call_1");
    REQUIRE(c.has_value());
    CHECK(c->protocol == Protocol::OpenAIResponses);
    CHECK(c->model == "gpt-5");
    CHECK(c->signature == "gAAAA...");
    CHECK(c->thinking == "Need tool.");

    // The next turn from a Chat client carries the call without any reasoning.
    ir::Request req;
    req.model = "my-model";
    ir::Message a;
    a.role = ir::Role::Assistant;
    ir::Part call;
    call.kind = ir::PartKind::ToolCall;
    call.call_id = "call_1";
    call.name = "get_weather";
    call.args_json = R"({"city":"Paris"})";
    a.parts.push_back(call);
    req.messages.push_back(a);
    Session s2 = responses_upstream(Protocol::OpenAIChat);
    s2.signatures = &cache;
    auto body = encode_responses_request(req, s2);
    REQUIRE(body.ok());
    auto d = parse(body.value());
    const auto& in = d["input"];
    REQUIRE(in.Size() == 2);
    CHECK(str(in[0], "type") == "reasoning");
    CHECK(str(in[0], "encrypted_content") == "gAAAA...");
    CHECK(member(in[0], "id") == nullptr);
    CHECK(str(in[1], "type") == "function_call");

    // Another upstream model does not get it.
    Session s3 = responses_upstream(Protocol::OpenAIChat);
    s3.upstream_model = "gpt-4.1";
    s3.signatures = &cache;
    auto d3 = parse(encode_responses_request(req, s3).value());
    REQUIRE(d3["input"].Size() == 1);
    CHECK(str(d3["input"][0], "type") == "function_call");
}

// ---------------------------------------------------------------------------
// Upstream streams.

TEST_CASE("responses: a full upstream stream decodes event by event") {
    Session s = responses_upstream(Protocol::Anthropic);
    SignatureCache cache;
    s.signatures = &cache;
    auto dec = make_responses_stream_decoder(s);
    REQUIRE(dec);
    Collect c;
    feed(*dec, c, "response.created", R"({"type":"response.created","sequence_number":0,"response":{"id":"resp_1","model":"gpt-5","status":"in_progress","output":[],"usage":null}})");
    feed(*dec, c, "response.in_progress", R"({"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","status":"in_progress","output":[]}})");
    feed(*dec, c, "response.output_item.added", R"({"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}})");
    feed(*dec, c, "response.reasoning_summary_part.added", R"({"type":"response.reasoning_summary_part.added","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}})");
    feed(*dec, c, "response.reasoning_summary_text.delta", R"({"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Need "})");
    feed(*dec, c, "response.reasoning_summary_text.delta", R"({"type":"response.reasoning_summary_text.delta","sequence_number":5,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"tool."})");
    feed(*dec, c, "response.reasoning_summary_text.done", R"({"type":"response.reasoning_summary_text.done","sequence_number":6,"item_id":"rs_1","output_index":0,"summary_index":0,"text":"Need tool."})");
    feed(*dec, c, "response.reasoning_summary_part.done", R"({"type":"response.reasoning_summary_part.done","sequence_number":7,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"Need tool."}})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need tool."}],"encrypted_content":"gAAAA..."}})");
    feed(*dec, c, "response.output_item.added", R"({"type":"response.output_item.added","sequence_number":9,"output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","status":"in_progress","content":[]}})");
    feed(*dec, c, "response.content_part.added", R"({"type":"response.content_part.added","sequence_number":10,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}})");
    feed(*dec, c, "response.output_text.delta", R"({"type":"response.output_text.delta","sequence_number":11,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Check","logprobs":[]})");
    feed(*dec, c, "response.output_text.delta", R"({"type":"response.output_text.delta","sequence_number":12,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"ing.","logprobs":[]})");
    feed(*dec, c, "response.output_text.done", R"({"type":"response.output_text.done","sequence_number":13,"item_id":"msg_1","output_index":1,"content_index":0,"text":"Checking."})");
    feed(*dec, c, "response.content_part.done", R"({"type":"response.content_part.done","sequence_number":14,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":"Checking.","annotations":[]}})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","sequence_number":15,"output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Checking.","annotations":[]}]}})");
    feed(*dec, c, "response.output_item.added", R"({"type":"response.output_item.added","sequence_number":16,"output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"","status":"in_progress"}})");
    feed(*dec, c, "response.function_call_arguments.delta", R"({"type":"response.function_call_arguments.delta","sequence_number":17,"item_id":"fc_1","output_index":2,"delta":"{\"city\""})");
    feed(*dec, c, "response.function_call_arguments.delta", R"({"type":"response.function_call_arguments.delta","sequence_number":18,"item_id":"fc_1","output_index":2,"delta":":\"Paris\"}"})");
    feed(*dec, c, "response.function_call_arguments.done", R"({"type":"response.function_call_arguments.done","sequence_number":19,"item_id":"fc_1","output_index":2,"name":"get_weather","arguments":"{\"city\":\"Paris\"}"})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","sequence_number":20,"output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}})");
    feed(*dec, c, "response.completed", R"({"type":"response.completed","sequence_number":21,"response":{"id":"resp_1","status":"completed","output":[],"usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":8},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":80}}})");
    feed(*dec, c, "", "[DONE]");
    dec->on_close(c);

    std::vector<Ev::Type> types;
    for (const auto& e : c.evs) types.push_back(e.type);
    std::vector<Ev::Type> want = {Ev::Type::Start,    Ev::Type::Thinking, Ev::Type::Thinking, Ev::Type::ThinkingSignature,
                                  Ev::Type::Text,     Ev::Type::Text,     Ev::Type::ToolStart, Ev::Type::ToolArgs,
                                  Ev::Type::ToolArgs, Ev::Type::ToolEnd,  Ev::Type::Usage,    Ev::Type::Finish,
                                  Ev::Type::Done};
    REQUIRE(types == want);
    CHECK(c.evs[0].id == "resp_1");
    CHECK(c.evs[0].name == "gpt-5");
    CHECK(c.evs[1].text + c.evs[2].text == "Need tool.");
    CHECK(c.evs[3].text == "gAAAA...");
    CHECK(c.evs[4].text + c.evs[5].text == "Checking.");
    CHECK(c.evs[6].index == 0);
    CHECK(c.evs[6].id == "call_1");  // call_id, never the fc_ item id
    CHECK(c.evs[6].name == "get_weather");
    CHECK(c.evs[7].index == 0);
    CHECK(c.evs[7].text + c.evs[8].text == R"({"city":"Paris"})");
    CHECK(c.evs[9].index == 0);
    CHECK(c.evs[10].usage.prompt == 50);
    CHECK(c.evs[10].usage.cache_read == 8);
    CHECK(c.evs[10].usage.output == 30);
    CHECK(c.evs[10].usage.reasoning == 12);
    CHECK(c.evs[11].finish == ir::Finish::ToolCalls);
    auto cached = cache.get("call_1");  // the call's reasoning, for the next turn
    REQUIRE(cached.has_value());
    CHECK(cached->signature == "gAAAA...");
    CHECK(cached->model == "gpt-5");
}

TEST_CASE("responses: texts are taken from finished items only when no deltas came") {
    Session s = responses_upstream(Protocol::OpenAIChat);
    auto dec = make_responses_stream_decoder(s);
    Collect c;
    feed(*dec, c, "response.output_text.delta", R"({"type":"response.output_text.delta","delta":"Hi"})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","item":{"type":"message","id":"msg_1","content":[{"type":"output_text","text":"Hi"}]}})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","item":{"type":"message","id":"msg_2","content":[{"type":"output_text","text":"Again"}]}})");
    feed(*dec, c, "response.completed", R"({"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":1}}})");
    std::string text;
    for (const auto& e : c.evs)
        if (e.type == Ev::Type::Text) text += e.text;
    CHECK(text == "Hi");  // unnamed deltas count for every item

    auto dec2 = make_responses_stream_decoder(s);
    Collect c2;
    feed(*dec2, c2, "response.output_item.done", R"({"type":"response.output_item.done","item":{"type":"message","id":"msg_2","content":[{"type":"output_text","text":"Whole"}]}})");
    feed(*dec2, c2, "response.completed", R"({"type":"response.completed","response":{}})");
    REQUIRE(c2.evs.size() == 4);
    CHECK(c2.evs[1].type == Ev::Type::Text);
    CHECK(c2.evs[1].text == "Whole");
}

TEST_CASE("responses: stream decoder keys argument deltas by item id, fills unstreamed arguments, maps names back") {
    Session s = responses_upstream(Protocol::OpenAIChat);
    s.map_tool_name("ns.read", "ns_read");
    auto dec = make_responses_stream_decoder(s);
    Collect c;
    // No response.created: Start still comes first.
    feed(*dec, c, "response.output_item.added", R"({"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","id":"fc_a","call_id":"call_a","name":"ns_read","arguments":""}})");
    feed(*dec, c, "response.output_item.added", R"({"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_b","call_id":"call_b","name":"w","arguments":""}})");
    feed(*dec, c, "response.function_call_arguments.delta", R"({"type":"response.function_call_arguments.delta","item_id":"fc_b","output_index":1,"delta":"{}"})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","output_index":0,"item":{"type":"function_call","id":"fc_a","call_id":"call_a","name":"ns_read","arguments":"{\"p\":1}"}})");
    feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","output_index":1,"item":{"type":"function_call","id":"fc_b","call_id":"call_b","name":"w","arguments":"{}"}})");
    feed(*dec, c, "response.incomplete", R"({"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}})");
    dec->on_close(c);
    REQUIRE(c.evs.size() == 9);
    CHECK(c.evs[0].type == Ev::Type::Start);
    CHECK(c.evs[1].type == Ev::Type::ToolStart);
    CHECK(c.evs[1].name == "ns.read");
    CHECK(c.evs[1].index == 0);
    CHECK(c.evs[2].type == Ev::Type::ToolStart);
    CHECK(c.evs[2].index == 1);
    CHECK(c.evs[3].type == Ev::Type::ToolArgs);
    CHECK(c.evs[3].index == 1);
    CHECK(c.evs[4].type == Ev::Type::ToolArgs);  // nothing streamed for fc_a: the item's arguments
    CHECK(c.evs[4].index == 0);
    CHECK(c.evs[4].text == R"({"p":1})");
    CHECK(c.evs[5].type == Ev::Type::ToolEnd);
    CHECK(c.evs[6].type == Ev::Type::ToolEnd);
    CHECK(c.evs[6].index == 1);
    CHECK(c.evs[7].type == Ev::Type::Finish);
    CHECK(c.evs[7].finish == ir::Finish::Length);
    CHECK(c.evs[8].type == Ev::Type::Done);
}

TEST_CASE("responses: stream decoder turns failures and early ends into errors") {
    Session s = responses_upstream(Protocol::OpenAIChat);
    {
        auto dec = make_responses_stream_decoder(s);
        Collect c;
        feed(*dec, c, "response.created", R"({"type":"response.created","response":{"id":"resp_2"}})");
        feed(*dec, c, "response.output_text.delta", R"({"type":"response.output_text.delta","item_id":"m","delta":"par"})");
        dec->on_close(c);
        REQUIRE(c.evs.size() == 3);
        CHECK(c.evs[2].type == Ev::Type::Error);
        CHECK(c.evs[2].status == 502);
        CHECK(c.evs[2].text == "upstream stream ended early");
    }
    {
        auto dec = make_responses_stream_decoder(s);
        Collect c;
        feed(*dec, c, "response.created", R"({"type":"response.created","response":{"id":"resp_2"}})");
        feed(*dec, c, "response.failed", R"({"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}})");
        dec->on_close(c);
        REQUIRE(c.evs.size() == 2);
        CHECK(c.evs[1].type == Ev::Type::Error);
        CHECK(c.evs[1].text == "boom");
        CHECK(c.evs[1].status >= 500);
    }
    {
        auto dec = make_responses_stream_decoder(s);
        Collect c;
        feed(*dec, c, "error", R"({"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":3})");
        dec->on_close(c);
        REQUIRE(c.evs.size() == 1);
        CHECK(c.evs[0].type == Ev::Type::Error);
        CHECK(c.evs[0].status == 429);
        CHECK(c.evs[0].text == "slow down");
    }
    {  // A completed stream without calls finishes with Stop; the reasoning text alone is used when not streamed.
        auto dec = make_responses_stream_decoder(s);
        Collect c;
        feed(*dec, c, "response.output_item.done", R"({"type":"response.output_item.done","item":{"type":"reasoning","id":"rs_x","summary":[{"type":"summary_text","text":"a"},{"type":"summary_text","text":"b"}]}})");
        feed(*dec, c, "response.completed", R"({"type":"response.completed","response":{"status":"completed"}})");
        REQUIRE(c.evs.size() == 4);
        CHECK(c.evs[1].type == Ev::Type::Thinking);
        CHECK(c.evs[1].text == "a\n\nb");
        CHECK(c.evs[2].finish == ir::Finish::Stop);
        CHECK(c.evs[3].type == Ev::Type::Done);
    }
}

// ---------------------------------------------------------------------------
// Client streams.

namespace {

// Checks the §2.4 invariants of an encoded stream and returns its events.
std::vector<SseOut> check_stream(const std::string& out) {
    auto evs = split_sse(out);
    REQUIRE(evs.size() >= 3);
    int64_t seq = -1;
    for (auto& e : evs) {
        CHECK(str(e.data, "type") == e.name);
        auto n = get_int(member(e.data, "sequence_number"));
        REQUIRE(n.has_value());
        CHECK(*n == seq + 1);
        seq = *n;
    }
    CHECK(evs[0].name == "response.created");
    CHECK(evs[1].name == "response.in_progress");
    CHECK(str(evs[0].data["response"], "status") == "in_progress");
    // Items open and close in order, one at a time; item events name the open item.
    std::string open_id;
    int64_t open_index = -1, next_index = 0;
    for (auto& e : evs) {
        if (e.name == "response.output_item.added") {
            CHECK(open_id.empty());
            open_id = str(e.data["item"], "id");
            open_index = *get_int(member(e.data, "output_index"));
            CHECK(open_index == next_index);
        } else if (e.name == "response.output_item.done") {
            CHECK(str(e.data["item"], "id") == open_id);
            CHECK(get_int(member(e.data, "output_index")) == open_index);
            open_id.clear();
            ++next_index;
        } else if (member(e.data, "item_id")) {
            CHECK(str(e.data, "item_id") == open_id);
            CHECK(get_int(member(e.data, "output_index")) == open_index);
        }
    }
    CHECK(open_id.empty());
    return evs;
}

}  // namespace

TEST_CASE("responses: the stream encoder writes the §2.4 sequence") {
    Session s = responses_upstream(Protocol::OpenAIResponses);
    s.upstream = Protocol::Anthropic;
    s.upstream_model = "claude-x";
    auto enc = make_responses_stream_encoder(s);
    REQUIRE(enc);
    send(*enc, Ev::Type::Start, {}, 0, "msg_01", "claude-x");
    send(*enc, Ev::Type::Thinking, "Need ");
    send(*enc, Ev::Type::Thinking, "tool.");
    send(*enc, Ev::Type::ThinkingSignature, "SIG");
    send(*enc, Ev::Type::Text, "Check");
    send(*enc, Ev::Type::Text, "ing.");
    send(*enc, Ev::Type::ToolStart, {}, 0, "toolu_1", "get_weather");
    send(*enc, Ev::Type::ToolArgs, "{\"city\"", 0);
    send(*enc, Ev::Type::ToolArgs, ":\"Paris\"}", 0);
    send(*enc, Ev::Type::ToolEnd, {}, 0);
    send(*enc, Ev::Type::ToolStart, {}, 1, "toolu_2", "now");
    send(*enc, Ev::Type::ToolEnd, {}, 1);
    send(*enc, Ev::Type::Text, "After.");
    Ev u;
    u.type = Ev::Type::Usage;
    u.usage.prompt = 50;
    u.usage.output = 30;
    u.usage.reasoning = 12;
    enc->on(u);
    send_finish(*enc, ir::Finish::Stop);
    send(*enc, Ev::Type::Done);
    CHECK(enc->finished());
    std::string before = enc->out;
    send(*enc, Ev::Type::Text, "late");
    CHECK(enc->out == before);

    auto evs = check_stream(enc->out);
    std::vector<std::string> names;
    for (auto& e : evs) names.push_back(e.name);
    std::vector<std::string> want = {
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"};
    REQUIRE(names == want);

    std::string id = str(evs[0].data["response"], "id");
    CHECK(id.rfind("resp_", 0) == 0);
    CHECK(str(evs[0].data["response"], "model") == "my-model");
    CHECK(str(evs[8].data["item"], "type") == "reasoning");
    CHECK(str(evs[8].data["item"]["summary"][0], "text") == "Need tool.");
    CHECK(str(evs[8].data["item"], "encrypted_content") == "agd|anthropic|claude-x|SIG");
    CHECK(evs[11].data["logprobs"].IsArray());
    CHECK(str(evs[13].data, "text") == "Checking.");

    // The first call: fc_ item id, the client's call id, arguments = the deltas.
    const auto& added = evs[16].data["item"];
    CHECK(str(added, "type") == "function_call");
    CHECK(str(added, "id").rfind("fc", 0) == 0);
    CHECK(str(added, "call_id") == "toolu_1");
    CHECK(str(added, "id") != str(added, "call_id"));
    CHECK(str(evs[17].data, "item_id") == str(added, "id"));
    std::string deltas = str(evs[17].data, "delta") + str(evs[18].data, "delta");
    CHECK(str(evs[19].data, "arguments") == deltas);
    CHECK(str(evs[19].data, "name") == "get_weather");
    CHECK(str(evs[20].data["item"], "arguments") == deltas);
    // A call without arguments is done with "{}".
    CHECK(str(evs[22].data, "arguments") == "{}");

    const auto& resp = evs.back().data["response"];
    CHECK(str(resp, "id") == id);
    CHECK(str(resp, "status") == "completed");
    const auto& output = resp["output"];
    REQUIRE(output.Size() == 5);
    CHECK(str(output[0], "type") == "reasoning");
    CHECK(str(output[1], "type") == "message");
    CHECK(str(output[1]["content"][0], "text") == "Checking.");
    CHECK(str(output[2], "call_id") == "toolu_1");
    CHECK(str(output[2], "arguments") == R"({"city":"Paris"})");
    CHECK(str(output[3], "arguments") == "{}");
    CHECK(str(output[4]["content"][0], "text") == "After.");
    for (rapidjson::SizeType i = 0; i < output.Size(); ++i)
        for (rapidjson::SizeType j = i + 1; j < output.Size(); ++j) CHECK(str(output[i], "id") != str(output[j], "id"));
    CHECK(str(output[2], "id") == str(added, "id"));
    CHECK(get_int(member(resp["usage"], "input_tokens")) == 50);
    CHECK(get_int(member(resp["usage"], "output_tokens")) == 30);
    CHECK(get_int(member(resp["usage"]["output_tokens_details"], "reasoning_tokens")) == 12);
    CHECK(get_int(member(resp["usage"], "total_tokens")) == 80);
}

TEST_CASE("responses: the stream encoder keeps interleaved calls apart and ends incomplete on a token limit") {
    Session s = responses_upstream(Protocol::OpenAIResponses);
    s.upstream = Protocol::OpenAIChat;
    auto enc = make_responses_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "chatcmpl-1", "m");
    send(*enc, Ev::Type::ToolStart, {}, 0, "call_a", "a");
    send(*enc, Ev::Type::ToolStart, {}, 1, "call_b", "b");
    send(*enc, Ev::Type::ToolArgs, "{\"x\":", 0);
    send(*enc, Ev::Type::ToolArgs, "{\"y\":2}", 1);
    send(*enc, Ev::Type::ToolArgs, "1}", 0);
    send(*enc, Ev::Type::ToolEnd, {}, 0);
    send(*enc, Ev::Type::ToolEnd, {}, 1);
    send_finish(*enc, ir::Finish::ToolCalls);
    send(*enc, Ev::Type::Done);
    auto evs = check_stream(enc->out);
    const auto& out = evs.back().data["response"]["output"];
    CHECK(evs.back().name == "response.completed");
    REQUIRE(out.Size() == 2);
    CHECK(str(out[0], "call_id") == "call_a");
    CHECK(str(out[0], "arguments") == R"({"x":1})");
    CHECK(str(out[1], "call_id") == "call_b");
    CHECK(str(out[1], "arguments") == R"({"y":2})");

    Session s2 = responses_upstream(Protocol::OpenAIResponses);
    auto enc2 = make_responses_stream_encoder(s2);
    send(*enc2, Ev::Type::Start, {}, 0, "resp_7", "m");
    send(*enc2, Ev::Type::Text, "trunc");
    send_finish(*enc2, ir::Finish::Length);
    send(*enc2, Ev::Type::Done);
    auto evs2 = check_stream(enc2->out);
    CHECK(evs2.back().name == "response.incomplete");
    CHECK(str(evs2.back().data["response"], "id") == "resp_7");
    CHECK(str(evs2.back().data["response"], "status") == "incomplete");
    CHECK(str(evs2.back().data["response"]["incomplete_details"], "reason") == "max_output_tokens");
    CHECK(str(evs2.back().data["response"]["output"][0]["content"][0], "text") == "trunc");
}

TEST_CASE("responses: each signed thinking run becomes its own reasoning item") {
    Session s = responses_upstream(Protocol::OpenAIResponses);
    s.upstream = Protocol::Anthropic;
    s.upstream_model = "claude-x";
    auto enc = make_responses_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "msg_1", "claude-x");
    send(*enc, Ev::Type::Thinking, "one");
    send(*enc, Ev::Type::ThinkingSignature, "S1");
    send(*enc, Ev::Type::Thinking, "two");
    send(*enc, Ev::Type::ThinkingSignature, "S2");
    send(*enc, Ev::Type::Text, "ok");
    send(*enc, Ev::Type::Done);
    auto evs = check_stream(enc->out);
    const auto& out = evs.back().data["response"]["output"];
    REQUIRE(out.Size() == 3);
    CHECK(str(out[0]["summary"][0], "text") == "one");
    CHECK(str(out[0], "encrypted_content") == "agd|anthropic|claude-x|S1");
    CHECK(str(out[1]["summary"][0], "text") == "two");
    CHECK(str(out[1], "encrypted_content") == "agd|anthropic|claude-x|S2");
    CHECK(evs.back().name == "response.completed");

    // Replayed by the client, the signatures find their way back.
    Session back;
    back.client = Protocol::OpenAIResponses;
    std::string body = std::string(R"({"model":"m","input":[)") + to_json(out[0]) + "," + to_json(out[2]) +
                       R"(,{"role":"user","content":"more"}]})";
    auto r = decode_request(Protocol::OpenAIResponses, body, back);
    REQUIRE(r.ok());
    REQUIRE(r->messages.size() == 2);
    CHECK(r->messages[0].parts[0].signature == "S1");
    CHECK(r->messages[0].parts[0].text == "one");
    CHECK(r->messages[0].parts[0].origin.protocol == Protocol::Anthropic);
    CHECK(r->messages[0].parts[1].text == "ok");
}

TEST_CASE("responses: a mid-stream error is an error event with its sequence number, then nothing") {
    Session s = responses_upstream(Protocol::OpenAIResponses);
    s.upstream = Protocol::Gemini;
    auto enc = make_responses_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "", "g");
    send(*enc, Ev::Type::Text, "par");
    Ev e;
    e.type = Ev::Type::Error;
    e.status = 503;
    e.text = "overloaded";
    enc->on(e);
    CHECK(enc->finished());
    std::string before = enc->out;
    send(*enc, Ev::Type::Done);
    CHECK(enc->out == before);
    auto evs = split_sse(enc->out);
    const auto& last = evs.back();
    CHECK(last.name == "error");
    CHECK(str(last.data, "type") == "error");
    CHECK(get_int(member(last.data, "sequence_number")) == static_cast<int64_t>(evs.size() - 1));
    CHECK(str(last.data, "message") == "overloaded");
    CHECK(is_object(member(last.data, "error")));
    CHECK(str(last.data["error"], "message") == "overloaded");
    for (auto& ev : evs) CHECK(ev.name != "response.completed");
}

// ---------------------------------------------------------------------------
// Client requests.

TEST_CASE("responses: a request with calls, outputs and reasoning items decodes to the IR") {
    Session s;
    s.client = Protocol::OpenAIResponses;
    const char* body = R"({
      "model":"gpt-5","instructions":"Be brief.","stream":true,"max_output_tokens":500,"temperature":0.5,"top_p":0.9,
      "parallel_tool_calls":false,"user":"u1","stop":["x"],
      "reasoning":{"effort":"high","summary":"auto"},
      "text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true}},
      "tools":[{"type":"function","name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":false},
               {"type":"web_search_preview"}],
      "tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"get_weather"},{"type":"web_search_preview"}]},
      "input":[
        {"role":"developer","content":"Use metric."},
        {"type":"message","role":"user","content":[{"type":"input_text","text":"Weather?"},
           {"type":"input_image","image_url":"data:image/png;base64,iVBOR","detail":"low"},
           {"type":"input_image","image_url":"https://example.com/a.jpg"},
           {"type":"input_file","file_id":"file-1"}]},
        {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need"},{"type":"summary_text","text":"tool."}],
         "encrypted_content":"agd|anthropic|claude-x|SIG"},
        {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
        {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
        {"type":"function_call","call_id":"call_2","name":"get_weather","arguments":""},
        {"type":"function_call_output","call_id":"call_1","output":"18C"},
        {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"20C"}]},
        {"role":"system","content":[{"type":"input_text","text":"Late rule."}]},
        {"role":"user","content":"Thanks"},
        {"type":"web_search_call","id":"ws_1","status":"completed"}
      ]})";
    auto r = decode_request(Protocol::OpenAIResponses, body, s);
    REQUIRE(r.ok());
    CHECK(r->model == "gpt-5");
    CHECK(r->stream);
    REQUIRE(r->system.size() == 3);
    CHECK(r->system[0].text == "Be brief.");
    CHECK(r->system[1].text == "Use metric.");
    CHECK(r->system[2].text == "Late rule.");
    REQUIRE(r->messages.size() == 4);

    const auto& u = r->messages[0];
    CHECK(u.role == ir::Role::User);
    REQUIRE(u.parts.size() == 4);
    CHECK(u.parts[0].text == "Weather?");
    CHECK(u.parts[1].kind == ir::PartKind::Image);
    CHECK(u.parts[1].media.mime == "image/png");
    CHECK(u.parts[1].media.data == "iVBOR");
    CHECK(u.parts[1].media.detail == "low");
    CHECK(u.parts[2].media.url == "https://example.com/a.jpg");
    CHECK(u.parts[3].kind == ir::PartKind::File);
    CHECK(u.parts[3].media.file_id == "file-1");

    const auto& a = r->messages[1];
    CHECK(a.role == ir::Role::Assistant);  // reasoning, message and both calls: one turn
    REQUIRE(a.parts.size() == 4);
    CHECK(a.parts[0].kind == ir::PartKind::Thinking);
    CHECK(a.parts[0].text == "Need\n\ntool.");
    CHECK(a.parts[0].signature == "SIG");
    CHECK(a.parts[0].origin.protocol == Protocol::Anthropic);
    CHECK(a.parts[0].origin.model == "claude-x");
    CHECK(a.parts[1].text == "Checking.");
    CHECK(a.parts[2].kind == ir::PartKind::ToolCall);
    CHECK(a.parts[2].call_id == "call_1");  // the call_id, not the fc_ item id
    CHECK(a.parts[2].args_json == R"({"city":"Paris"})");
    CHECK(a.parts[3].call_id == "call_2");
    CHECK(a.parts[3].args_json == "{}");

    const auto& t = r->messages[2];
    CHECK(t.role == ir::Role::User);
    REQUIRE(t.parts.size() == 2);
    CHECK(t.parts[0].kind == ir::PartKind::ToolResult);
    CHECK(t.parts[0].call_id == "call_1");
    CHECK(t.parts[0].name == "get_weather");
    REQUIRE(t.parts[0].content.size() == 1);
    CHECK(t.parts[0].content[0].text == "18C");
    CHECK(t.parts[1].call_id == "call_2");
    CHECK(t.parts[1].content[0].text == "20C");
    CHECK(r->messages[3].parts[0].text == "Thanks");

    REQUIRE(r->tools.size() == 1);  // the built-in is left out
    CHECK(r->tools[0].name == "get_weather");
    CHECK(r->tools[0].description == "d");
    CHECK(r->tools[0].parameters_json.find("\"city\"") != std::string::npos);
    CHECK(r->tools[0].strict == false);
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Required);
    REQUIRE(r->tool_choice.allowed.size() == 1);
    CHECK(r->tool_choice.allowed[0] == "get_weather");
    CHECK(r->parallel_tool_calls == false);
    CHECK(r->max_tokens == 500);
    CHECK(r->temperature == 0.5);
    CHECK(r->top_p == 0.9);
    CHECK(r->stop.empty());
    CHECK(r->reasoning.mode == ir::ReasoningMode::Effort);
    CHECK(r->reasoning.effort == "high");
    CHECK(r->reasoning.summary == "auto");
    CHECK(r->format.kind == ir::FormatKind::JsonSchema);
    CHECK(r->format.name == "answer");
    CHECK(r->format.schema_json == R"({"type":"object"})");
    CHECK(r->format.strict == true);
    CHECK(r->user == "u1");
}

TEST_CASE("responses: simple request forms decode") {
    Session s;
    auto r = decode_request(Protocol::OpenAIResponses, R"({"model":"m","input":"Hello","tool_choice":{"type":"function","name":"f"},
        "safety_identifier":"sid","text":{"format":{"type":"json_object"}},"reasoning":{"effort":"none"}})", s);
    REQUIRE(r.ok());
    REQUIRE(r->messages.size() == 1);
    CHECK(r->messages[0].role == ir::Role::User);
    CHECK(r->messages[0].parts[0].text == "Hello");
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Named);
    CHECK(r->tool_choice.name == "f");
    CHECK(r->user == "sid");
    CHECK(r->format.kind == ir::FormatKind::JsonObject);
    CHECK(r->reasoning.mode == ir::ReasoningMode::Off);
    CHECK_FALSE(r->stream);

    r = decode_request(Protocol::OpenAIResponses, R"({"model":"m","input":[],"tool_choice":"none"})", s);
    REQUIRE(r.ok());
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::None);
}

TEST_CASE("responses: requests that need OpenAI's server state or cannot be served are refused with 400") {
    Session s;
    auto fails = [&](const char* body, const char* needle) {
        auto r = decode_request(Protocol::OpenAIResponses, body, s);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == 400);
        CHECK_MESSAGE(r.error().message.find(needle) != std::string::npos, r.error().message);
    };
    fails(R"({"model":"m","input":"hi","previous_response_id":"resp_1"})", "OpenAI Responses upstream");
    fails(R"({"model":"m","input":"hi","conversation":"conv_1"})", "OpenAI Responses upstream");
    fails(R"({"model":"m","input":[{"type":"item_reference","id":"msg_1"}]})", "OpenAI Responses upstream");
    fails(R"({"model":"m","input":"hi","n":2})", "n must be 1");
    fails(R"({"model":"m","input":"hi","tool_choice":{"type":"web_search_preview"}})", "built-in");
    fails(R"({"model":"m","input":"hi","tool_choice":{"type":"file_search"}})", "built-in");
    fails(R"({"model":"m"})", "input");
    fails(R"({"model":"m","input":42})", "input");
    fails(R"({"model":"m","input":[{"role":"tool","content":"x"}]})", "unknown role");
    fails(R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})", "call_id");
    fails(R"({"model":"m","input":[{"role":"user","content":[{"type":"input_video"}]}]})", "input_video");
    fails(R"({"model":"m","input":["hi"]})", "input[0]");
    fails(R"({"model":"m","input":"hi","tools":{}})", "tools");
    fails(R"([1,2])", "object");
    fails(R"({"model":"m","input":"hi")", "JSON");
    // Not a Responses field: ignored.
    CHECK(decode_request(Protocol::OpenAIResponses, R"({"model":"m","input":"hi","previous_response_id":null,"stop":"x"})", s).ok());
}

// ---------------------------------------------------------------------------
// Upstream requests.

TEST_CASE("responses: the IR encodes as an upstream Responses request") {
    Session s;
    s.client = Protocol::Anthropic;
    s.upstream = Protocol::OpenAIResponses;
    s.upstream_model = "gpt-5";
    ir::Request r;
    r.model = "claude";
    ir::Part sys1, sys2;
    sys1.text = "One.";
    sys2.text = "Two.";
    r.system = {sys1, sys2};
    ir::Tool tool;
    tool.name = "files.read/v2";
    tool.description = "reads";
    r.tools.push_back(tool);
    r.tool_choice.mode = ir::ToolChoiceMode::Named;
    r.tool_choice.name = "files.read/v2";
    r.parallel_tool_calls = false;
    r.max_tokens = 1000;
    r.temperature = 0.2;
    r.top_k = 5;
    r.seed = 7;
    r.stop = {"END"};
    r.presence_penalty = 0.5;
    r.user = "u";
    r.stream = true;

    ir::Message u1;
    u1.role = ir::Role::User;
    ir::Part txt;
    txt.text = "Read it";
    ir::Part img;
    img.kind = ir::PartKind::Image;
    img.media.mime = "image/png";
    img.media.data = "iVBOR";
    u1.parts = {txt, img};
    ir::Message a;
    a.role = ir::Role::Assistant;
    ir::Part foreign;
    foreign.kind = ir::PartKind::Thinking;
    foreign.text = "claude thought";
    foreign.signature = "SIG";
    foreign.origin = {Protocol::Anthropic, "claude-x"};
    ir::Part own;
    own.kind = ir::PartKind::Thinking;
    own.text = "gpt thought";
    own.signature = "gAAAA";
    own.origin = {Protocol::OpenAIResponses, "gpt-5"};
    ir::Part said;
    said.text = "Reading.";
    ir::Part call;
    call.kind = ir::PartKind::ToolCall;
    call.call_id = "toolu_01";
    call.name = "files.read/v2";
    call.args_json = R"({"p":"a"})";
    a.parts = {foreign, own, said, call};
    ir::Message u2;
    u2.role = ir::Role::User;
    ir::Part after;
    after.text = "and?";
    ir::Part res;
    res.kind = ir::PartKind::ToolResult;
    res.call_id = "toolu_01";
    ir::Part out1, out2;
    out1.text = "line1";
    out2.text = "line2";
    res.content = {out1, out2};
    u2.parts = {after, res};
    r.messages = {u1, a, u2};

    auto body = encode_responses_request(r, s);
    REQUIRE(body.ok());
    auto d = parse(body.value());
    CHECK(str(d, "model") == "gpt-5");
    CHECK(str(d, "instructions") == "One.\n\nTwo.");
    CHECK(get_bool(member(d, "stream")) == true);
    CHECK(get_bool(member(d, "store")) == false);
    CHECK(get_int(member(d, "max_output_tokens")) == 1000);
    CHECK(get_double(member(d, "temperature")) == 0.2);
    CHECK(get_bool(member(d, "parallel_tool_calls")) == false);
    CHECK(str(d, "user") == "u");
    for (const char* k : {"stop", "top_k", "seed", "presence_penalty", "n", "messages", "reasoning", "include"})
        CHECK_MESSAGE(member(d, k) == nullptr, k);

    const auto& tools = d["tools"];
    REQUIRE(tools.Size() == 1);
    CHECK(str(tools[0], "type") == "function");
    CHECK(str(tools[0], "name") == "files_read_v2");
    CHECK(str(tools[0], "description") == "reads");
    CHECK(str(tools[0]["parameters"], "type") == "object");
    CHECK(get_bool(member(tools[0], "strict")) == false);
    CHECK(s.upstream_tool_name("files.read/v2") == "files_read_v2");
    CHECK(s.client_tool_name("files_read_v2") == "files.read/v2");
    CHECK(str(d["tool_choice"], "type") == "function");
    CHECK(str(d["tool_choice"], "name") == "files_read_v2");

    const auto& in = d["input"];
    REQUIRE(in.Size() == 6);
    CHECK(str(in[0], "type") == "message");
    CHECK(str(in[0], "role") == "user");
    CHECK(str(in[0]["content"][0], "type") == "input_text");
    CHECK(str(in[0]["content"][0], "text") == "Read it");
    CHECK(str(in[0]["content"][1], "type") == "input_image");
    CHECK(str(in[0]["content"][1], "image_url") == "data:image/png;base64,iVBOR");
    // The foreign thinking is dropped, the own one replayed without an id.
    CHECK(str(in[1], "type") == "reasoning");
    CHECK(str(in[1], "encrypted_content") == "gAAAA");
    CHECK(str(in[1]["summary"][0], "text") == "gpt thought");
    CHECK(member(in[1], "id") == nullptr);
    CHECK(str(in[2], "role") == "assistant");
    CHECK(str(in[2]["content"][0], "type") == "output_text");
    CHECK(str(in[2]["content"][0], "text") == "Reading.");
    CHECK(str(in[3], "type") == "function_call");
    CHECK(str(in[3], "call_id") == "toolu_01");
    CHECK(member(in[3], "id") == nullptr);  // §7.19: no fake fc_ id
    CHECK(str(in[3], "name") == "files_read_v2");
    CHECK(str(in[3], "arguments") == R"({"p":"a"})");
    // Outputs come before the user's text of the same turn.
    CHECK(str(in[4], "type") == "function_call_output");
    CHECK(str(in[4], "call_id") == "toolu_01");
    CHECK(str(in[4], "output") == "line1\nline2");
    CHECK(str(in[5], "role") == "user");
    CHECK(str(in[5]["content"][0], "text") == "and?");
}

TEST_CASE("responses: request encoding maps reasoning, formats and refuses what it cannot express") {
    Session s;
    s.upstream = Protocol::OpenAIResponses;
    s.upstream_model = "gpt-5";
    ir::Request r;
    r.model = "x";
    ir::Message u;
    ir::Part t;
    t.text = "hi";
    u.parts = {t};
    r.messages = {u};
    r.reasoning.mode = ir::ReasoningMode::Budget;
    r.reasoning.budget = 10000;
    r.temperature = 1.0;
    r.max_tokens = 4;
    r.format.kind = ir::FormatKind::JsonSchema;
    r.format.name = "out";
    r.format.schema_json = R"({"type":"object","properties":{}})";
    r.format.strict = true;
    r.tool_choice.mode = ir::ToolChoiceMode::Auto;
    r.tool_choice.allowed = {"a"};
    auto d = parse(encode_responses_request(r, s).value());
    CHECK(str(d["reasoning"], "effort") == "high");
    CHECK(std::string(d["include"][0].GetString()) == "reasoning.encrypted_content");
    CHECK(member(d, "temperature") == nullptr);  // reasoning models refuse it
    CHECK(get_int(member(d, "max_output_tokens")) == 16);
    const auto& f = d["text"]["format"];
    CHECK(str(f, "type") == "json_schema");
    CHECK(str(f, "name") == "out");
    CHECK(str(f["schema"], "type") == "object");
    CHECK(get_bool(member(f, "strict")) == true);
    CHECK(str(d["tool_choice"], "type") == "allowed_tools");
    CHECK(str(d["tool_choice"], "mode") == "auto");
    CHECK(str(d["tool_choice"]["tools"][0], "name") == "a");
    CHECK(get_bool(member(d, "stream")) == false);

    r.reasoning.mode = ir::ReasoningMode::Off;
    r.reasoning.effort.clear();
    d = parse(encode_responses_request(r, s).value());
    CHECK(member(d, "reasoning") == nullptr);
    CHECK(get_double(member(d, "temperature")) == 1.0);

    r.n = 2;
    auto bad = encode_responses_request(r, s);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == 400);
    r.n.reset();
    ir::Part audio;
    audio.kind = ir::PartKind::Audio;
    audio.media.mime = "audio/wav";
    audio.media.data = "UklG";
    r.messages[0].parts.push_back(audio);
    CHECK(encode_responses_request(r, s).error().code == 400);
}

TEST_CASE("responses: long and invalid tool names become unique valid names") {
    Session s;
    s.upstream = Protocol::OpenAIResponses;
    ir::Request r;
    ir::Tool a, b, c;
    a.name = std::string(80, 'x');
    b.name = "a.b";
    c.name = "a_b";
    r.tools = {a, b, c};
    auto d = parse(encode_responses_request(r, s).value());
    const auto& tools = d["tools"];
    std::string n0 = str(tools[0], "name"), n1 = str(tools[1], "name"), n2 = str(tools[2], "name");
    CHECK(n0.size() == 64);
    CHECK(n1 != n2);
    CHECK(n2 == "a_b");
    CHECK(s.client_tool_name(n0) == std::string(80, 'x'));
    CHECK(s.client_tool_name(n1) == "a.b");
}

TEST_CASE("responses: a request survives Responses -> IR -> Responses") {
    Session s;
    s.client = Protocol::OpenAIResponses;
    s.upstream = Protocol::OpenAIResponses;
    s.upstream_model = "gpt-5";
    const char* body = R"({"model":"gpt-5","instructions":"sys","input":[
        {"role":"user","content":"q"},
        {"type":"reasoning","summary":[],"encrypted_content":"gAAAA"},
        {"type":"function_call","call_id":"call_1","name":"f","arguments":"{\"a\":1}"},
        {"type":"function_call_output","call_id":"call_1","output":"ok"}],
        "tools":[{"type":"function","name":"f","parameters":{"type":"object"},"strict":true}],"tool_choice":"required",
        "reasoning":{"effort":"low"}})";
    auto r = decode_request(Protocol::OpenAIResponses, body, s);
    REQUIRE(r.ok());
    auto d = parse(encode_responses_request(r.value(), s).value());
    CHECK(str(d, "instructions") == "sys");
    const auto& in = d["input"];
    REQUIRE(in.Size() == 4);
    CHECK(str(in[0]["content"][0], "text") == "q");
    CHECK(str(in[1], "type") == "reasoning");
    CHECK(str(in[1], "encrypted_content") == "gAAAA");
    CHECK(in[1]["summary"].Size() == 0);
    CHECK(str(in[2], "call_id") == "call_1");
    CHECK(str(in[2], "arguments") == R"({"a":1})");
    CHECK(str(in[3], "output") == "ok");
    CHECK(get_bool(member(d["tools"][0], "strict")) == true);
    CHECK(str(d, "tool_choice") == "required");
    CHECK(str(d["reasoning"], "effort") == "low");
}

TEST_CASE("responses: reasoning asked by any client gets a summary, so that its text comes back") {
    Session s;
    s.upstream = Protocol::OpenAIResponses;
    s.upstream_model = "gpt-5";
    auto encoded = [&](Protocol client, std::string_view body) {
        Session c = s;
        c.client = client;
        auto r = decode_request(client, body, c);
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        return parse(encode_responses_request(r.value(), c).value());
    };
    // Chat's reasoning_effort.
    auto chat = encoded(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"q"}],"reasoning_effort":"high"})");
    CHECK(str(chat["reasoning"], "effort") == "high");
    CHECK(str(chat["reasoning"], "summary") == "auto");
    // Anthropic thinking (a budget).
    auto ant = encoded(Protocol::Anthropic, R"({"model":"m","max_tokens":9000,"messages":[{"role":"user","content":"q"}],
        "thinking":{"type":"enabled","budget_tokens":4000}})");
    CHECK(str(ant["reasoning"], "summary") == "auto");
    // Gemini thinkingConfig with a budget and no includeThoughts.
    auto gem = encoded(Protocol::Gemini, R"({"contents":[{"role":"user","parts":[{"text":"q"}]}],
        "generationConfig":{"thinkingConfig":{"thinkingBudget":4000}}})");
    CHECK(str(gem["reasoning"], "summary") == "auto");
    // Thoughts explicitly not wanted, reasoning off, or not asked: no summary.
    auto hidden = encoded(Protocol::Gemini, R"({"contents":[{"role":"user","parts":[{"text":"q"}]}],
        "generationConfig":{"thinkingConfig":{"thinkingBudget":4000,"includeThoughts":false}}})");
    CHECK(member(hidden["reasoning"], "summary") == nullptr);
    auto off = encoded(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"q"}],"reasoning_effort":"none"})");
    CHECK(member(off["reasoning"], "summary") == nullptr);
    auto plain = encoded(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"q"}]})");
    CHECK_FALSE(plain.HasMember("reasoning"));
}

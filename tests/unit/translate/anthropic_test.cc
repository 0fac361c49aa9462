#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/sse.h"
#include "translate/util.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;

namespace {

using test::call;
using test::msg;
using test::parse;
using test::result;
using test::send;
using test::text;
using Recorder = test::RecSink;

Session anthropic_session(Protocol client = Protocol::Anthropic) {
    Session s;
    s.client = client;
    s.upstream = Protocol::Anthropic;
    s.client_model = "client-model";
    s.upstream_model = "claude-sonnet-4-5";
    s.seed = 1;
    return s;
}

std::string str(const JsonValue* v) { return std::string(get_string(v)); }
int64_t num(const JsonValue& v) { return get_int(&v).value_or(-999); }

ir::Part thinking(std::string t, std::string sig, Protocol origin, std::string model = "claude-sonnet-4-5") {
    ir::Part p;
    p.kind = ir::PartKind::Thinking;
    p.text = std::move(t);
    p.signature = std::move(sig);
    p.origin = ir::Origin{origin, std::move(model)};
    return p;
}

const auto U = ir::Role::User;
const auto A = ir::Role::Assistant;

rapidjson::Document encode(const ir::Request& r, Session& s) {
    auto out = encode_anthropic_request(r, s);
    REQUIRE_MESSAGE(out.ok(), out.error().message);
    return parse(out.value());
}

void feed(StreamDecoder& d, std::string_view sse_text, EventSink& sink) {
    sse::for_each_event(sse_text, [&](const sse::Event& ev) { d.on_event(ev, sink); });
}

struct Parsed {
    std::string name;
    rapidjson::Document data;
};

std::vector<Parsed> events_of(const std::string& out) {
    std::vector<Parsed> v;
    sse::for_each_event(out, [&](const sse::Event& ev) {
        Parsed p;
        p.name.assign(ev.name);
        std::string err;
        REQUIRE_MESSAGE(parse_json(ev.data, p.data, &err), err);
        CHECK(str(member(p.data, "type")) == p.name);
        v.push_back(std::move(p));
    });
    return v;
}

// Block indexes start at 0, go up by one, and each block runs start, deltas, stop.
void check_blocks(const std::vector<Parsed>& evs) {
    int open = -1, next = 0;
    for (const auto& e : evs) {
        if (e.name == "content_block_start") {
            CHECK(open == -1);
            open = static_cast<int>(*get_int(member(e.data, "index")));
            CHECK(open == next);
        } else if (e.name == "content_block_delta") {
            CHECK(*get_int(member(e.data, "index")) == open);
        } else if (e.name == "content_block_stop") {
            CHECK(*get_int(member(e.data, "index")) == open);
            open = -1;
            ++next;
        }
    }
    CHECK(open == -1);
}

void tool_start(StreamEncoder& enc, int index, std::string_view id, std::string_view name) {
    ir::StreamEvent e;
    e.type = ir::StreamEvent::Type::ToolStart;
    e.index = index;
    e.id = id;
    e.name = name;
    enc.on(e);
}

}  // namespace

// ------------------------------------------------------------ request decode

TEST_CASE("anthropic: a Claude Code request with system turns inside messages decodes, system text in order") {
    Session s = anthropic_session();
    const char* body = R"({
      "model":"claude-sonnet-4-5","stream":true,
      "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
      "messages":[
        {"role":"user","content":"list files"},
        {"role":"assistant","content":[
          {"type":"thinking","thinking":"I should run ls","signature":"SIG1"},
          {"type":"redacted_thinking","data":"REDACTED"},
          {"type":"text","text":"Running ls."},
          {"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls"}}]},
        {"role":"system","content":"<system-reminder>todo list is empty</system-reminder>"},
        {"role":"user","content":[
          {"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"a.txt"}],"is_error":false},
          {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0"}},
          {"type":"document","source":{"type":"text","media_type":"text/plain","data":"hello"},"title":"notes"}]},
        {"role":"system","content":[{"type":"text","text":"second reminder"}]}
      ],
      "tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}},
               {"type":"web_search_20250305","name":"web_search","max_uses":5}],
      "tool_choice":{"type":"any","disable_parallel_tool_use":true},
      "thinking":{"type":"enabled","budget_tokens":4000},
      "stop_sequences":["END"],"temperature":0.5,"top_k":40,"metadata":{"user_id":"u-1"}
    })";
    auto r = decode_request(Protocol::Anthropic, body, s);
    REQUIRE_MESSAGE(r.ok(), r.error().message);
    const ir::Request& q = r.value();
    CHECK(q.model == "claude-sonnet-4-5");
    CHECK(q.stream);
    REQUIRE(q.system.size() == 3);
    CHECK(q.system[0].text == "You are Claude Code.");
    CHECK(q.system[0].cache_control);
    CHECK(q.system[1].text == "<system-reminder>todo list is empty</system-reminder>");
    CHECK(q.system[2].text == "second reminder");
    REQUIRE(q.messages.size() == 3);
    const auto& a = q.messages[1];
    CHECK(a.role == A);
    REQUIRE(a.parts.size() == 4);
    CHECK(a.parts[0].kind == ir::PartKind::Thinking);
    CHECK(a.parts[0].signature == "SIG1");
    CHECK(a.parts[0].origin.protocol == Protocol::Anthropic);
    CHECK(a.parts[1].kind == ir::PartKind::RedactedThinking);
    CHECK(a.parts[1].signature == "REDACTED");
    CHECK(a.parts[1].origin.protocol == Protocol::Anthropic);
    CHECK(a.parts[3].kind == ir::PartKind::ToolCall);
    CHECK(parse(a.parts[3].args_json)["command"] == "ls");
    const auto& u = q.messages[2];
    REQUIRE(u.parts.size() == 3);
    CHECK(u.parts[0].kind == ir::PartKind::ToolResult);
    CHECK(u.parts[0].name == "Bash");
    CHECK(u.parts[0].content.at(0).text == "a.txt");
    CHECK(u.parts[1].kind == ir::PartKind::Image);
    CHECK(u.parts[1].media.mime == "image/png");
    CHECK(u.parts[2].kind == ir::PartKind::File);
    CHECK(u.parts[2].media.mime == "text/plain");
    CHECK(u.parts[2].media.data == "aGVsbG8=");
    CHECK(u.parts[2].media.filename == "notes");
    REQUIRE(q.tools.size() == 1);  // the server tool is skipped
    CHECK(q.tools[0].name == "Bash");
    CHECK(q.tool_choice.mode == ir::ToolChoiceMode::Required);
    CHECK(q.parallel_tool_calls == false);
    CHECK(q.reasoning.mode == ir::ReasoningMode::Budget);
    CHECK(q.reasoning.budget == 4000);
    CHECK(q.stop == std::vector<std::string>{"END"});
    CHECK(q.temperature == 0.5);
    CHECK(q.top_k == 40);
    CHECK(q.user == "u-1");
    CHECK_FALSE(q.max_tokens.has_value());
}

TEST_CASE("anthropic: adaptive thinking, json_schema output and tagged signatures decode") {
    Session s = anthropic_session();
    auto r = decode_request(Protocol::Anthropic, R"({"model":"m","max_tokens":100,
      "thinking":{"type":"adaptive"},"output_config":{"effort":"high","format":{"type":"json_schema","schema":{"type":"object"}}},
      "tool_choice":{"type":"tool","name":"f"},
      "messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"agd|gemini|gemini-3-pro|CiQB"}]}]})",
                                      s);
    REQUIRE(r.ok());
    CHECK(r->max_tokens == 100);
    CHECK(r->reasoning.mode == ir::ReasoningMode::Adaptive);
    CHECK(r->reasoning.effort == "high");
    CHECK(r->format.kind == ir::FormatKind::JsonSchema);
    CHECK(r->format.schema_json == R"({"type":"object"})");
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Named);
    CHECK(r->tool_choice.name == "f");
    const auto& p = r->messages.at(0).parts.at(0);
    CHECK(p.signature == "CiQB");
    CHECK(p.origin.protocol == Protocol::Gemini);
    CHECK(p.origin.model == "gemini-3-pro");

    auto off = decode_request(Protocol::Anthropic, R"({"messages":[],"thinking":{"type":"disabled"}})", s);
    REQUIRE(off.ok());
    CHECK(off->reasoning.mode == ir::ReasoningMode::Off);
}

TEST_CASE("anthropic: malformed requests are 400s, never crashes") {
    Session s = anthropic_session();
    for (const char* body : {"[]", "not json", R"({"model":"m"})", R"({"messages":{}})",
                             R"({"messages":[{"role":"tool","content":"x"}]})", R"({"messages":[42]})",
                             R"({"messages":[{"role":"user","content":42}]})",
                             R"({"messages":[{"role":"user","content":"x"}],"tools":[3]})",
                             R"({"messages":[{"role":"user","content":"x"}],"tools":{}})",
                             R"({"messages":[{"role":"user","content":"x"}],"tools":[{"input_schema":{}}]})"}) {
        auto r = decode_request(Protocol::Anthropic, body, s);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().code == 400);
    }
    // Wrong types inside blocks are skipped, not fatal.
    auto r = decode_request(Protocol::Anthropic, 
        R"({"messages":[{"role":"user","content":[{"type":"text","text":5},{"type":"image","source":7},{"type":"tool_use","input":"x"}]}],"system":9})",
        s);
    REQUIRE(r.ok());
    CHECK(r->messages.at(0).parts.size() == 1);  // the tool_use, input -> {}
    CHECK(r->messages[0].parts[0].args_json == "{}");
}

// ------------------------------------------------------------ request encode

TEST_CASE("anthropic: encode merges same-role turns and puts all tool results first in one user message") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    r.system.push_back(text("Be brief."));
    r.system.push_back(text(" "));
    r.system[0].cache_control = true;
    r.messages.push_back(msg(U, {text("weather in Paris and Rome?")}));
    r.messages.push_back(msg(A, {text("Checking."), call("call_1", "get_weather", R"({"city":"Paris"})")}));
    r.messages.push_back(msg(A, {call("call_2", "get_weather", R"({"city":"Rome"})")}));
    r.messages.push_back(msg(U, {result("call_1", "18C")}));
    r.messages.push_back(msg(U, {text("and be quick"), result("call_2", "21C")}));
    auto d = encode(r, s);
    CHECK(str(member(d, "model")) == "claude-sonnet-4-5");
    CHECK(*get_int(member(d, "max_tokens")) == 8192);
    REQUIRE(d["system"].Size() == 1);
    CHECK(d["system"][0]["text"] == "Be brief.");
    CHECK(d["system"][0]["cache_control"]["type"] == "ephemeral");
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 3);
    CHECK(m[1]["role"] == "assistant");
    REQUIRE(m[1]["content"].Size() == 3);
    CHECK(m[1]["content"][2]["input"]["city"] == "Rome");
    CHECK(m[2]["role"] == "user");
    const auto& c = m[2]["content"];
    REQUIRE(c.Size() == 3);
    CHECK(c[0]["type"] == "tool_result");
    CHECK(c[0]["tool_use_id"] == "call_1");
    CHECK(c[0]["content"][0]["text"] == "18C");
    CHECK(c[1]["type"] == "tool_result");
    CHECK(c[1]["tool_use_id"] == "call_2");
    CHECK(c[2]["type"] == "text");
    CHECK(c[2]["text"] == "and be quick");
    CHECK_FALSE(d.HasMember("temperature"));
    CHECK_FALSE(d.HasMember("thinking"));
}

TEST_CASE("anthropic: an orphan tool_use gets an error result, an orphan tool_result becomes text") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    r.messages.push_back(msg(U, {text("go")}));
    r.messages.push_back(msg(A, {call("call_a", "f"), call("call_b", "f")}));
    r.messages.push_back(msg(U, {result("call_a", "ok"), result("call_zzz", "stale"), text("next")}));
    r.messages.push_back(msg(A, {call("call_c", "f")}));  // last turn, never answered
    auto d = encode(r, s);
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 5);
    const auto& c = m[2]["content"];
    REQUIRE(c.Size() == 4);
    CHECK(c[0]["tool_use_id"] == "call_a");
    CHECK_FALSE(c[0].HasMember("is_error"));
    CHECK(c[1]["tool_use_id"] == "call_b");
    CHECK(c[1]["is_error"].IsTrue());
    CHECK(c[1]["content"][0]["text"] == "no result was recorded for this call");
    CHECK(c[2]["type"] == "text");
    CHECK(std::string(c[2]["text"].GetString()).find("stale") != std::string::npos);
    CHECK(c[3]["text"] == "next");
    CHECK(m[4]["role"] == "user");
    CHECK(m[4]["content"][0]["tool_use_id"] == "call_c");
    CHECK(m[4]["content"][0]["is_error"].IsTrue());
}

TEST_CASE("anthropic: a leading assistant turn gets a user turn, blank text and empty turns are dropped") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    r.messages.push_back(msg(A, {text("Hello! How can I help?")}));
    r.messages.push_back(msg(U, {text("  \n ")}));
    r.messages.push_back(msg(A, {text(""), call("call_1", "f")}));
    r.messages.push_back(msg(U, {result("call_1", "x")}));
    auto d = encode(r, s);
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 3);
    CHECK(m[0]["role"] == "user");
    std::string lead = m[0]["content"][0]["text"].GetString();
    CHECK(lead.find_first_not_of(" \n\t") != std::string::npos);
    CHECK(m[1]["role"] == "assistant");  // both assistant turns merged once the blank user turn is gone
    REQUIRE(m[1]["content"].Size() == 2);
    CHECK(m[1]["content"][0]["text"] == "Hello! How can I help?");
    CHECK(m[1]["content"][1]["type"] == "tool_use");
    CHECK(m[2]["content"][0]["type"] == "tool_result");
}

TEST_CASE("anthropic: thinking on drops temperature/top_k, low top_p, forces auto tool_choice and max_tokens > budget") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    r.messages.push_back(msg(U, {text("hi")}));
    r.tools.push_back(ir::Tool{"f", "", "", std::nullopt});
    r.tool_choice.mode = ir::ToolChoiceMode::Named;
    r.tool_choice.name = "f";
    r.reasoning.mode = ir::ReasoningMode::Effort;
    r.reasoning.effort = "high";
    r.temperature = 0.2;
    r.top_p = 0.5;
    r.top_k = 10;
    auto d = encode(r, s);
    CHECK(d["thinking"]["type"] == "enabled");
    int64_t budget = *get_int(member(d["thinking"], "budget_tokens"));
    CHECK(budget == 24576);
    CHECK(*get_int(member(d, "max_tokens")) > budget);
    CHECK_FALSE(d.HasMember("temperature"));
    CHECK_FALSE(d.HasMember("top_k"));
    CHECK_FALSE(d.HasMember("top_p"));
    CHECK(d["tool_choice"]["type"] == "auto");
    CHECK(d["tools"][0]["input_schema"]["type"] == "object");

    // An explicit small max_tokens lowers the budget (never below 1024) or is raised past it.
    r.reasoning.mode = ir::ReasoningMode::Budget;
    r.reasoning.budget = 10000;
    r.max_tokens = 6000;
    r.top_p = 0.97;
    auto d2 = encode(r, s);
    int64_t b2 = *get_int(member(d2["thinking"], "budget_tokens"));
    CHECK(b2 >= 1024);
    CHECK(*get_int(member(d2, "max_tokens")) > b2);
    CHECK(d2["top_p"].GetDouble() == doctest::Approx(0.97));
    r.max_tokens = 500;
    r.reasoning.budget = 100;
    auto d3 = encode(r, s);
    CHECK(*get_int(member(d3["thinking"], "budget_tokens")) == 1024);
    CHECK(*get_int(member(d3, "max_tokens")) > 1024);

    // Without thinking: temperature clamped to 0..1, tool_choice kept, parallel off.
    ir::Request p;
    p.messages.push_back(msg(U, {text("hi")}));
    p.tools.push_back(ir::Tool{"f", "", "", std::nullopt});
    p.tool_choice.mode = ir::ToolChoiceMode::Required;
    p.parallel_tool_calls = false;
    p.temperature = 1.7;
    p.stop = {"STOP", " "};
    p.user = "u9";
    auto d4 = encode(p, s);
    CHECK(d4["temperature"].GetDouble() == 1.0);
    CHECK(d4["tool_choice"]["type"] == "any");
    CHECK(d4["tool_choice"]["disable_parallel_tool_use"].IsTrue());
    REQUIRE(d4["stop_sequences"].Size() == 1);
    CHECK(d4["metadata"]["user_id"] == "u9");

    // Adaptive thinking: output_config.effort, minimal -> low.
    ir::Request ad;
    ad.messages.push_back(msg(U, {text("hi")}));
    ad.reasoning.mode = ir::ReasoningMode::Adaptive;
    ad.reasoning.effort = "minimal";
    auto d5 = encode(ad, s);
    CHECK(d5["thinking"]["type"] == "adaptive");
    CHECK(d5["output_config"]["effort"] == "low");
    ad.reasoning.mode = ir::ReasoningMode::Off;
    CHECK(encode(ad, s)["thinking"]["type"] == "disabled");
}

TEST_CASE("anthropic: foreign or missing thinking signatures are dropped, ours are replayed first") {
    Session s = anthropic_session();
    ir::Request r;
    r.reasoning.mode = ir::ReasoningMode::Budget;
    r.reasoning.budget = 2048;
    r.messages.push_back(msg(U, {text("q1")}));
    r.messages.push_back(msg(A, {thinking("gemini thoughts", "CiQB", Protocol::Gemini, "gemini-3-pro"), text("a1")}));
    r.messages.push_back(msg(U, {text("q2")}));
    r.messages.push_back(msg(A, {thinking("other claude", "SIGX", Protocol::Anthropic, "claude-opus-4-1"),
                                 thinking("unsigned", "", Protocol::Anthropic), text("a2")}));
    r.messages.push_back(msg(U, {text("q3")}));
    r.messages.push_back(msg(A, {thinking("mine", "SIGOK", Protocol::Anthropic), call("toolu_1", "f")}));
    r.messages.push_back(msg(U, {result("toolu_1", "done")}));
    auto d = encode(r, s);
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 7);
    REQUIRE(m[1]["content"].Size() == 1);
    CHECK(m[1]["content"][0]["type"] == "text");
    REQUIRE(m[3]["content"].Size() == 1);
    CHECK(m[3]["content"][0]["text"] == "a2");
    CHECK(m[5]["content"][0]["type"] == "thinking");
    CHECK(m[5]["content"][0]["signature"] == "SIGOK");
    CHECK(m[5]["content"][0]["thinking"] == "mine");
    CHECK(d["thinking"]["type"] == "enabled");
}

TEST_CASE("anthropic: thinking is turned off when the last tool turn has no signed thinking, unless the cache has it") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    r.reasoning.mode = ir::ReasoningMode::Effort;
    r.reasoning.effort = "medium";
    r.temperature = 0.3;
    r.messages.push_back(msg(U, {text("q")}));
    r.messages.push_back(msg(A, {text("calling"), call("call_9", "f")}));
    r.messages.push_back(msg(U, {result("call_9", "r")}));
    auto d = encode(r, s);
    CHECK_FALSE(d.HasMember("thinking"));
    CHECK(d["temperature"].GetDouble() == doctest::Approx(0.3));

    SignatureCache cache;
    s.signatures = &cache;
    cache.put("call_9", CachedSignature{Protocol::Anthropic, "claude-opus-4-1", "OLD", "old thoughts"});
    CHECK_FALSE(encode(r, s).HasMember("thinking"));  // another model's signature does not count
    cache.put("call_9", CachedSignature{Protocol::Anthropic, "claude-sonnet-4-5", "SIG9", "thoughts"});
    auto d2 = encode(r, s);
    CHECK(d2["thinking"]["type"] == "enabled");
    const auto& c = d2["messages"][1]["content"];
    REQUIRE(c.Size() == 3);
    CHECK(c[0]["type"] == "thinking");
    CHECK(c[0]["thinking"] == "thoughts");
    CHECK(c[0]["signature"] == "SIG9");
    CHECK(c[1]["type"] == "text");
}

TEST_CASE("anthropic: tool names and call ids are sanitized, unique, and mapped back in the answer") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    r.tools.push_back(ir::Tool{"fs.read", "read", R"({"type":"object","properties":{"path":{"type":"string"}}})", true});
    r.tools.push_back(ir::Tool{"fs_read", "other", "", std::nullopt});
    r.tools.push_back(ir::Tool{std::string(140, 'x'), "long", R"({"anyOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"type":"object","properties":{"b":{"type":"integer"}}}]})", std::nullopt});
    r.tool_choice.mode = ir::ToolChoiceMode::Named;
    r.tool_choice.name = "fs.read";
    r.messages.push_back(msg(U, {text("read it")}));
    r.messages.push_back(msg(A, {call("call:1/x", "fs.read", R"({"path":"/a"})")}));
    r.messages.push_back(msg(U, {result("call:1/x", "content")}));
    auto d = encode(r, s);
    const auto& tools = d["tools"];
    REQUIRE(tools.Size() == 3);
    std::string n0 = tools[0]["name"].GetString(), n1 = tools[1]["name"].GetString(), n2 = tools[2]["name"].GetString();
    CHECK(n1 == "fs_read");
    CHECK(n0 != "fs_read");
    CHECK(n0.find('.') == std::string::npos);
    CHECK(n2.size() <= 128);
    CHECK(tools[2]["input_schema"]["type"] == "object");
    CHECK(tools[2]["input_schema"]["properties"].HasMember("a"));
    CHECK(tools[2]["input_schema"]["properties"].HasMember("b"));
    CHECK_FALSE(tools[2]["input_schema"].HasMember("anyOf"));
    CHECK(tools[1]["input_schema"]["type"] == "object");
    CHECK(d["tool_choice"]["name"] == n0.c_str());
    std::string id = d["messages"][1]["content"][0]["id"].GetString();
    CHECK(id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos);
    CHECK(d["messages"][1]["content"][0]["name"] == n0.c_str());
    CHECK(d["messages"][2]["content"][0]["tool_use_id"] == id.c_str());

    // The upstream answers with the sanitized name and a new call with its own id.
    std::string answer = R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[
        {"type":"tool_use","id":")" + id + R"(","name":")" + n0 + R"(","input":{"path":"/b"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":3}})";
    auto resp = decode_anthropic_response(answer, s);
    REQUIRE(resp.ok());
    REQUIRE(resp->content.size() == 1);
    CHECK(resp->content[0].name == "fs.read");
    CHECK(resp->content[0].call_id == "call:1/x");
    CHECK(resp->finish == ir::Finish::ToolCalls);
}

TEST_CASE("anthropic: what Anthropic cannot express is a 400; media map to base64, url and documents") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    ir::Request r;
    ir::Part audio;
    audio.kind = ir::PartKind::Audio;
    audio.media.mime = "audio/wav";
    audio.media.data = "UklGRg==";
    r.messages.push_back(msg(U, {audio}));
    auto a = encode_anthropic_request(r, s);
    REQUIRE_FALSE(a.ok());
    CHECK(a.error().code == 400);

    ir::Request n;
    n.n = 2;
    n.messages.push_back(msg(U, {text("x")}));
    CHECK(encode_anthropic_request(n, s).error().code == 400);

    ir::Request bmp;
    ir::Part img;
    img.kind = ir::PartKind::Image;
    img.media.url = "data:image/bmp;base64,Qk0=";
    bmp.messages.push_back(msg(U, {img}));
    CHECK(encode_anthropic_request(bmp, s).error().code == 400);

    ir::Request ok;
    ir::Part png, url, pdf, txt;
    png.kind = url.kind = ir::PartKind::Image;
    png.media.url = "data:image/png;base64,iVBORw0";
    url.media.url = "https://example.com/cat.jpg";
    pdf.kind = txt.kind = ir::PartKind::File;
    pdf.media.mime = "application/pdf";
    pdf.media.data = "JVBERi0=";
    txt.media.mime = "text/plain";
    txt.media.data = "aGVsbG8=";
    ok.messages.push_back(msg(U, {png, url, pdf, txt, text("describe")}));
    auto d = encode(ok, s);
    const auto& c = d["messages"][0]["content"];
    REQUIRE(c.Size() == 5);
    CHECK(c[0]["source"]["type"] == "base64");
    CHECK(c[0]["source"]["media_type"] == "image/png");
    CHECK(c[0]["source"]["data"] == "iVBORw0");
    CHECK(c[1]["source"]["type"] == "url");
    CHECK(c[2]["type"] == "document");
    CHECK(c[2]["source"]["media_type"] == "application/pdf");
    CHECK(c[3]["source"]["type"] == "text");
    CHECK(c[3]["source"]["data"] == "hello");
}

TEST_CASE("anthropic: JSON output modes and the request's own signature/redacted blocks pass A -> IR -> A") {
    Session s = anthropic_session();
    ir::Request r;
    r.messages.push_back(msg(U, {text("give json")}));
    r.format.kind = ir::FormatKind::JsonObject;
    auto d = encode(r, s);
    REQUIRE(d["system"].Size() == 1);
    CHECK(std::string(d["system"][0]["text"].GetString()).find("JSON") != std::string::npos);
    r.format.kind = ir::FormatKind::JsonSchema;
    r.format.schema_json = R"({"type":"object","properties":{"x":{"type":"integer"}}})";
    auto d2 = encode(r, s);
    CHECK(d2["output_config"]["format"]["type"] == "json_schema");
    CHECK(d2["output_config"]["format"]["schema"]["properties"].HasMember("x"));

    const char* body = R"({"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},
      "messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":[{"type":"redacted_thinking","data":"RD"},{"type":"thinking","thinking":"t","signature":"S"},
          {"type":"tool_use","id":"toolu_x","name":"f","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"ok","is_error":true}]}]})";
    auto q = decode_request(Protocol::Anthropic, body, s);
    REQUIRE(q.ok());
    auto e = encode(q.value(), s);
    const auto& c = e["messages"][1]["content"];
    REQUIRE(c.Size() == 3);
    CHECK(c[0]["type"] == "redacted_thinking");
    CHECK(c[0]["data"] == "RD");
    CHECK(c[1]["signature"] == "S");
    CHECK(e["messages"][2]["content"][0]["is_error"].IsTrue());
    CHECK(num(e["thinking"]["budget_tokens"]) == 1024);
    CHECK(*get_int(member(e, "max_tokens")) == 2000);
}

// ------------------------------------------------------------ response

TEST_CASE("anthropic: response decode sums the prompt, keeps raw signatures and caches them per call") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    SignatureCache cache;
    s.signatures = &cache;
    const char* body = R"({"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5",
      "content":[{"type":"thinking","thinking":"User wants weather","signature":"EqQB"},
        {"type":"text","text":"Let me check."},
        {"type":"tool_use","id":"toolu_01B","name":"get_weather","input":{"city":"Paris"}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":412,"output_tokens":96,"cache_creation_input_tokens":100,"cache_read_input_tokens":1024}})";
    auto r = decode_anthropic_response(body, s);
    REQUIRE(r.ok());
    CHECK(r->id == "msg_01A");
    CHECK(r->usage.prompt == 412 + 100 + 1024);
    CHECK(r->usage.cache_read == 1024);
    CHECK(r->usage.cache_write == 100);
    CHECK(r->usage.output == 96);
    CHECK(r->finish == ir::Finish::ToolCalls);
    REQUIRE(r->content.size() == 3);
    CHECK(r->content[0].signature == "EqQB");
    CHECK(r->content[0].origin.protocol == Protocol::Anthropic);
    CHECK(r->content[0].origin.model == "claude-sonnet-4-5");
    auto hit = cache.get("toolu_01B");
    REQUIRE(hit.has_value());
    CHECK(hit->signature == "EqQB");
    CHECK(hit->thinking == "User wants weather");
    CHECK(hit->protocol == Protocol::Anthropic);

    auto stop = decode_anthropic_response(
        R"({"content":[{"type":"text","text":"a"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":3,"output_tokens":1}})", s);
    REQUIRE(stop.ok());
    CHECK(stop->finish == ir::Finish::StopSequence);
    CHECK(stop->stop_sequence == "END");
    CHECK(stop->usage.prompt == 3);
    CHECK_FALSE(decode_anthropic_response("[1]", s).ok());
}

TEST_CASE("anthropic: response encode shows input = P - C - W, tool_use only with a tool block") {
    Session s = anthropic_session(Protocol::Anthropic);
    s.upstream = Protocol::Gemini;
    s.upstream_model = "gemini-3-pro";
    ir::Response r;
    r.content.push_back(thinking("hmm", "", Protocol::Gemini));
    r.content.push_back(text(""));
    r.content.push_back(text("Hi"));
    r.content.push_back(call("toolu_7", "f", R"({"a":1})"));
    r.finish = ir::Finish::Stop;
    r.usage.prompt = 1536;
    r.usage.cache_read = 1024;
    r.usage.cache_write = 12;
    r.usage.output = 96;
    auto d = parse(encode_anthropic_response(r, s));
    CHECK(std::string(d["id"].GetString()).rfind("msg_", 0) == 0);
    CHECK(d["type"] == "message");
    CHECK(d["model"] == "client-model");
    const auto& c = d["content"];
    REQUIRE(c.Size() == 3);
    CHECK(c[0]["type"] == "thinking");
    CHECK(c[0]["signature"] == "");
    CHECK(c[1]["text"] == "Hi");
    CHECK(c[2]["id"] == "toolu_7");
    CHECK(num(c[2]["input"]["a"]) == 1);
    CHECK(d["stop_reason"] == "tool_use");
    CHECK(d["stop_sequence"].IsNull());
    CHECK(num(d["usage"]["input_tokens"]) == 500);
    CHECK(num(d["usage"]["cache_read_input_tokens"]) == 1024);
    CHECK(num(d["usage"]["cache_creation_input_tokens"]) == 12);
    CHECK(num(d["usage"]["output_tokens"]) == 96);

    ir::Response no_tool;
    no_tool.id = "msg_x";
    no_tool.content.push_back(thinking("t", "SIG", Protocol::Gemini, "gemini-3-pro"));
    no_tool.finish = ir::Finish::ToolCalls;
    no_tool.usage.prompt = 10;
    no_tool.usage.cache_read = 20;  // inconsistent counts never go negative
    auto d2 = parse(encode_anthropic_response(no_tool, s));
    CHECK(d2["id"] == "msg_x");
    CHECK(d2["stop_reason"] == "end_turn");
    CHECK(num(d2["usage"]["input_tokens"]) == 0);
    CHECK(d2["content"][0]["signature"] == "agd|gemini|gemini-3-pro|SIG");
    no_tool.id = "chatcmpl-1";  // ids of another shape get the msg_ prefix
    CHECK(parse(encode_anthropic_response(no_tool, s))["id"] == "msg_chatcmpl-1");
}

// ------------------------------------------------------------ stream decoder

TEST_CASE("anthropic: stream decoder maps the §4.5 stream, overwrites cumulative usage and caches the signature") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    s.map_call_id("call.1", "call_1");
    s.map_tool_name("get.weather", "get_weather");
    SignatureCache cache;
    s.signatures = &cache;
    auto dec = make_anthropic_stream_decoder(s);
    Recorder rec;
    feed(*dec, R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":412,"output_tokens":1,"cache_read_input_tokens":1024}}}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"User wants"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Checking."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_1","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":412,"cache_read_input_tokens":1024,"output_tokens":96}}

event: message_delta
data: {"type":"message_delta","delta":{},"usage":{"output_tokens":120}}

event: message_stop
data: {"type":"message_stop"}

)",
         rec);
    dec->on_close(rec);
    using T = ir::StreamEvent::Type;
    REQUIRE_FALSE(rec.evs.empty());
    CHECK(rec.evs.front().type == T::Start);
    CHECK(rec.evs.front().id == "msg_01A");
    CHECK(rec.evs.front().usage.prompt == 1436);
    CHECK(rec.evs.front().usage.cache_read == 1024);
    CHECK(rec.of(T::Thinking).at(0).text == "User wants");
    CHECK(rec.of(T::ThinkingSignature).at(0).text == "EqQB");
    CHECK(rec.of(T::Text).at(0).text == "Checking.");
    auto starts = rec.of(T::ToolStart);
    REQUIRE(starts.size() == 1);
    CHECK(starts[0].index == 0);
    CHECK(starts[0].id == "call.1");
    CHECK(starts[0].name == "get.weather");
    auto args = rec.of(T::ToolArgs);
    REQUIRE(args.size() == 2);  // the empty fragment is skipped
    CHECK(args[0].text + args[1].text == R"({"city": "Paris"})");
    CHECK(rec.of(T::ToolEnd).size() == 1);
    auto usage = rec.of(T::Usage);
    REQUIRE(usage.size() == 2);
    CHECK(usage.back().usage.prompt == 1436);  // repeated cumulative values are not added up
    CHECK(usage.back().usage.output == 120);
    auto fin = rec.of(T::Finish);
    REQUIRE(fin.size() == 1);
    CHECK(fin[0].finish == ir::Finish::ToolCalls);
    CHECK(rec.evs.back().type == T::Done);
    CHECK(rec.of(T::Error).empty());  // on_close after message_stop is clean
    auto hit = cache.get("call.1");
    REQUIRE(hit.has_value());
    CHECK(hit->signature == "EqQB");
    CHECK(hit->thinking == "User wants");
}

TEST_CASE("anthropic: stream decoder turns in-stream errors and early ends into errors") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    using T = ir::StreamEvent::Type;
    {
        auto dec = make_anthropic_stream_decoder(s);
        Recorder rec;
        feed(*dec, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5}}}\n\n"
                   "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
             rec);
        dec->on_close(rec);
        REQUIRE(rec.of(T::Error).size() == 1);
        CHECK(rec.evs.back().type == T::Error);
        CHECK(rec.evs.back().status == 529);
        CHECK(rec.evs.back().text == "Overloaded");
        CHECK(rec.of(T::Done).empty());
    }
    {
        auto dec = make_anthropic_stream_decoder(s);
        Recorder rec;
        feed(*dec, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n"
                   "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                   "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
             rec);
        dec->on_close(rec);
        CHECK(rec.evs.back().type == T::Error);
        CHECK(rec.evs.back().status == 502);
        CHECK(rec.of(T::Done).empty());
        CHECK(rec.of(T::Finish).empty());
    }
    {
        auto dec = make_anthropic_stream_decoder(s);
        Recorder rec;
        feed(*dec, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n", rec);
        CHECK(rec.evs.back().status == 429);
    }
}

// ------------------------------------------------------------ stream encoder

TEST_CASE("anthropic: stream encoder writes §4.5 events with blocks in order and a real input count") {
    Session s = anthropic_session(Protocol::Anthropic);
    s.upstream = Protocol::OpenAIChat;
    s.upstream_model = "gpt-5";
    s.prompt_estimate = 0;
    auto enc = make_anthropic_stream_encoder(s);
    using T = ir::StreamEvent::Type;
    ir::StreamEvent st;
    st.type = T::Start;
    st.id = "msg_abc";
    enc->on(st);  // no usage known yet: input_tokens must still not be 0
    send(*enc, T::Thinking, "plan");
    send(*enc, T::Thinking, "");
    send(*enc, T::ThinkingSignature, "SIG");
    send(*enc, T::Text, "");
    send(*enc, T::Text, "Hi ");
    send(*enc, T::Text, "there");
    tool_start(*enc, 0, "call_1", "f");
    send(*enc, T::ToolArgs, "{\"a\":", 0);
    tool_start(*enc, 1, "call_2", "g");  // interleaves with tool 0
    send(*enc, T::ToolArgs, "{\"b\":2}", 1);
    send(*enc, T::ToolArgs, "1}", 0);
    send(*enc, T::Text, "late text");
    send(*enc, T::ToolEnd, {}, 0);
    send(*enc, T::ToolEnd, {}, 1);
    ir::StreamEvent u;
    u.type = T::Usage;
    u.usage.prompt = 300;
    u.usage.cache_read = 100;
    u.usage.output = 42;
    enc->on(u);
    ir::StreamEvent f;
    f.type = T::Finish;
    f.finish = ir::Finish::Stop;
    enc->on(f);
    send(*enc, T::Done);
    CHECK(enc->finished());
    auto evs = events_of(enc->out);
    check_blocks(evs);
    REQUIRE(evs.size() >= 3);
    CHECK(evs.front().name == "message_start");
    CHECK(evs.front().data["message"]["id"] == "msg_abc");
    CHECK(evs.front().data["message"]["model"] == "client-model");
    CHECK(*get_int(member(evs.front().data["message"]["usage"], "input_tokens")) >= 1);

    std::vector<std::string> kinds;
    std::string args0, args1, texts;
    std::string block_tool;
    for (const auto& e : evs) {
        if (e.name == "content_block_start") {
            kinds.push_back(str(member(e.data["content_block"], "type")));
            block_tool = str(member(e.data["content_block"], "id"));
        }
        if (e.name == "content_block_delta") {
            const auto& dl = e.data["delta"];
            if (dl["type"] == "input_json_delta") (block_tool == "call_1" ? args0 : args1) += dl["partial_json"].GetString();
            if (dl["type"] == "text_delta") texts += dl["text"].GetString();
            if (dl["type"] == "signature_delta") CHECK(dl["signature"] == "agd|openai-chat|gpt-5|SIG");
        }
    }
    CHECK(kinds == std::vector<std::string>{"thinking", "text", "tool_use", "tool_use", "text"});
    CHECK(args0 == "{\"a\":1}");
    CHECK(args1 == "{\"b\":2}");
    CHECK(texts == "Hi therelate text");

    const auto& md = evs[evs.size() - 2];
    CHECK(md.name == "message_delta");
    CHECK(md.data["delta"]["stop_reason"] == "tool_use");
    CHECK(num(md.data["usage"]["output_tokens"]) == 42);
    CHECK(num(md.data["usage"]["input_tokens"]) == 200);
    CHECK(num(md.data["usage"]["cache_read_input_tokens"]) == 100);
    CHECK(evs.back().name == "message_stop");
    size_t before = enc->out.size();
    send(*enc, T::Text, "after the end");
    CHECK(enc->out.size() == before);
}

TEST_CASE("anthropic: stream encoder never claims tool_use without a tool block, errors have no message_stop") {
    using T = ir::StreamEvent::Type;
    Session s = anthropic_session(Protocol::Anthropic);
    s.upstream = Protocol::Gemini;
    s.prompt_estimate = 77;
    {
        auto enc = make_anthropic_stream_encoder(s);
        send(*enc, T::Text, "only text");
        ir::StreamEvent f;
        f.type = T::Finish;
        f.finish = ir::Finish::ToolCalls;
        enc->on(f);
        send(*enc, T::Done);
        auto evs = events_of(enc->out);
        check_blocks(evs);
        CHECK(num(evs.front().data["message"]["usage"]["input_tokens"]) == 77);
        CHECK(evs[evs.size() - 2].data["delta"]["stop_reason"] == "end_turn");
    }
    {
        auto enc = make_anthropic_stream_encoder(s);
        ir::StreamEvent st;
        st.type = T::Start;
        st.usage.prompt = 1000;
        st.usage.cache_read = 400;
        enc->on(st);
        send(*enc, T::Text, "partial");
        ir::StreamEvent err;
        err.type = T::Error;
        err.status = 529;
        err.text = "Overloaded";
        enc->on(err);
        CHECK(enc->finished());
        auto evs = events_of(enc->out);
        CHECK(num(evs.front().data["message"]["usage"]["input_tokens"]) == 600);
        CHECK(evs.back().name == "error");
        CHECK(evs.back().data["error"]["type"] == "overloaded_error");
        for (const auto& e : evs) CHECK(e.name != "message_stop");
        send(*enc, T::Done);
        CHECK(events_of(enc->out).back().name == "error");
    }
    {
        // A decoder feeding an encoder: Anthropic in, Anthropic out, same block structure.
        Session p = anthropic_session(Protocol::Anthropic);
        auto dec = make_anthropic_stream_decoder(p);
        auto enc = make_anthropic_stream_encoder(p);
        feed(*dec,
             "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
             "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"RD\"}}\n\n"
             "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
             "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n"
             "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":5}}\n\n"
             "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
             *enc);
        dec->on_close(*enc);
        auto evs = events_of(enc->out);
        check_blocks(evs);
        REQUIRE(evs.size() == 7);
        CHECK(evs[0].data["message"]["id"] == "msg_9");
        CHECK(num(evs[0].data["message"]["usage"]["input_tokens"]) == 9);
        CHECK(evs[1].data["content_block"]["data"] == "RD");
        CHECK(evs[3].data["content_block"]["id"] == "toolu_1");
        CHECK(evs[5].data["delta"]["stop_reason"] == "tool_use");
        CHECK(num(evs[5].data["usage"]["output_tokens"]) == 5);
        CHECK(evs[6].name == "message_stop");
    }
}

TEST_CASE("anthropic: temperature and top_p together keep temperature only (Claude refuses both)") {
    // Gemini CLI sends temperature, topP and topK.
    Session s = anthropic_session(Protocol::Gemini);
    s.client_model = "claude-x";
    auto r = decode_request(Protocol::Gemini, 
        R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],
            "generationConfig":{"temperature":0.4,"topP":0.9,"topK":40}})",
        s);
    REQUIRE(r.ok());
    auto d = encode(r.value(), s);
    CHECK(d["temperature"].GetDouble() == doctest::Approx(0.4));
    CHECK_FALSE(d.HasMember("top_p"));
    CHECK(num(d["top_k"]) == 40);

    ir::Request only_p;  // top_p alone is kept
    only_p.messages.push_back(msg(U, {text("hi")}));
    only_p.top_p = 0.9;
    auto d2 = encode(only_p, s);
    CHECK(d2["top_p"].GetDouble() == doctest::Approx(0.9));
    CHECK_FALSE(d2.HasMember("temperature"));

    // With thinking on temperature is not sent: a high top_p stays.
    ir::Request think = only_p;
    think.temperature = 0.5;
    think.top_p = 0.96;
    think.max_tokens = 4000;
    think.reasoning.mode = ir::ReasoningMode::Budget;
    think.reasoning.budget = 2000;
    auto d3 = encode(think, s);
    CHECK_FALSE(d3.HasMember("temperature"));
    CHECK(d3["top_p"].GetDouble() == doctest::Approx(0.96));
}

TEST_CASE("anthropic: deferred tools are declared once a tool search has loaded them") {
    Session s = anthropic_session(Protocol::OpenAIChat);
    const char* first = R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"find a tool"}],
      "tools":[{"name":"ToolSearch","input_schema":{"type":"object"}},
               {"name":"DeferredToolPlaceholder","defer_loading":true,"input_schema":{"type":"object"}},
               {"name":"mcp__db__query","defer_loading":true,"input_schema":{"type":"object"}}]})";
    auto r = decode_request(Protocol::Anthropic, first, s);
    REQUIRE(r.ok());
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].name == "ToolSearch");

    const char* later = R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"find a tool"},
      {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"ToolSearch","input":{"query":"db"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",
         "content":[{"type":"tool_reference","tool_name":"mcp__db__query"}]}]}],
      "tools":[{"name":"ToolSearch","input_schema":{"type":"object"}},
               {"name":"DeferredToolPlaceholder","defer_loading":true,"input_schema":{"type":"object"}},
               {"name":"mcp__db__query","defer_loading":true,"input_schema":{"type":"object"}}]})";
    Session s2 = anthropic_session(Protocol::OpenAIChat);
    auto r2 = decode_request(Protocol::Anthropic, later, s2);
    REQUIRE(r2.ok());
    REQUIRE(r2->tools.size() == 2);
    CHECK(r2->tools[1].name == "mcp__db__query");
    const ir::Part& result = r2->messages.at(2).parts.at(0);
    CHECK(result.kind == ir::PartKind::ToolResult);
    REQUIRE(result.content.size() == 1);
    CHECK(result.content[0].text == "Tool loaded: mcp__db__query");
}

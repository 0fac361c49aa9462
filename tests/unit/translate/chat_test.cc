#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;

namespace {

using test::ev;
using test::feed;
using test::parse;
using test::Rec;
using test::RecSink;
using test::str;

// The §1.2 example (with a complete tiny PNG payload).
const char* kExample = R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
 "messages":[{"role":"system","content":"Be brief."},
  {"role":"user","content":[{"type":"text","text":"Weather here?"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KG"}}]},
  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
    "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
  {"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":21}"}],
 "tools":[{"type":"function","function":{"name":"get_weather","parameters":
   {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]})";

Session chat_session() {
    Session s;
    s.client = Protocol::OpenAIChat;
    s.upstream = Protocol::OpenAIChat;
    s.client_model = "gpt-4o";
    s.upstream_model = "gpt-4o-2024-08-06";
    s.seed = 1;
    s.now = 1735689600;
    return s;
}

// The data: payloads of a client stream.
std::vector<std::string> sse_payloads(const std::string& out) {
    std::vector<std::string> res;
    size_t pos = 0;
    while (pos < out.size()) {
        size_t end = out.find("\n\n", pos);
        REQUIRE(end != std::string::npos);
        std::string block = out.substr(pos, end - pos);
        REQUIRE(block.rfind("data: ", 0) == 0);
        res.push_back(block.substr(6));
        pos = end + 2;
    }
    return res;
}

ir::Part text_part(std::string t) {
    ir::Part p;
    p.text = std::move(t);
    return p;
}

}  // namespace

// ------------------------------------------------------------ request decode

TEST_CASE("chat: decode the §1.2 example") {
    Session s = chat_session();
    s.client_model.clear();
    auto r = decode_request(Protocol::OpenAIChat, kExample, s);
    REQUIRE(r.ok());
    CHECK(r->model == "gpt-4o");
    CHECK(r->stream);
    CHECK(r->include_usage);
    CHECK(s.include_usage);
    CHECK(s.client_model == "gpt-4o");
    REQUIRE(r->system.size() == 1);
    CHECK(r->system[0].text == "Be brief.");
    REQUIRE(r->messages.size() == 3);
    const ir::Message& u = r->messages[0];
    CHECK(u.role == ir::Role::User);
    REQUIRE(u.parts.size() == 2);
    CHECK(u.parts[0].text == "Weather here?");
    CHECK(u.parts[1].kind == ir::PartKind::Image);
    CHECK(u.parts[1].media.mime == "image/png");
    CHECK(u.parts[1].media.data == "iVBORw0KG");
    const ir::Message& a = r->messages[1];
    CHECK(a.role == ir::Role::Assistant);
    REQUIRE(a.parts.size() == 1);
    CHECK(a.parts[0].kind == ir::PartKind::ToolCall);
    CHECK(a.parts[0].call_id == "call_1");
    CHECK(a.parts[0].name == "get_weather");
    CHECK(a.parts[0].args_json == R"({"city":"Paris"})");
    const ir::Message& t = r->messages[2];
    CHECK(t.role == ir::Role::User);
    REQUIRE(t.parts.size() == 1);
    CHECK(t.parts[0].kind == ir::PartKind::ToolResult);
    CHECK(t.parts[0].call_id == "call_1");
    CHECK(t.parts[0].name == "get_weather");  // looked up from the assistant's call
    REQUIRE(t.parts[0].content.size() == 1);
    CHECK(t.parts[0].content[0].text == R"({"temp_c":21})");
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].name == "get_weather");
    CHECK(parse(r->tools[0].parameters_json)["required"][0] == "city");
}

TEST_CASE("chat: system and developer messages anywhere are hoisted in order") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"m","messages":[
        {"role":"developer","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},
        {"role":"user","content":"hi"},
        {"role":"system","content":"C"},
        {"role":"assistant","content":"hello"}]})", s);
    REQUIRE(r.ok());
    REQUIRE(r->system.size() == 3);
    CHECK(r->system[0].text == "A");
    CHECK(r->system[1].text == "B");
    CHECK(r->system[2].text == "C");
    REQUIRE(r->messages.size() == 2);
    CHECK(r->messages[0].parts[0].text == "hi");
    CHECK(r->messages[1].role == ir::Role::Assistant);
}

TEST_CASE("chat: decode media parts") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":[
        {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"low"}},
        {"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}},
        {"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}},
        {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBER","filename":"a.pdf"}}]}]})", s);
    REQUIRE(r.ok());
    const auto& p = r->messages[0].parts;
    REQUIRE(p.size() == 4);
    CHECK(p[0].kind == ir::PartKind::Image);
    CHECK(p[0].media.url == "https://example.com/cat.jpg");
    CHECK(p[0].media.data.empty());
    CHECK(p[0].media.detail == "low");
    CHECK(p[1].kind == ir::PartKind::Audio);
    CHECK(p[1].media.mime == "audio/wav");
    CHECK(p[1].media.data == "UklGR");
    CHECK(p[2].media.mime == "audio/mpeg");
    CHECK(p[3].kind == ir::PartKind::File);
    CHECK(p[3].media.mime == "application/pdf");
    CHECK(p[3].media.data == "JVBER");
    CHECK(p[3].media.filename == "a.pdf");
}

TEST_CASE("chat: assistant history keeps reasoning, refusal and parallel calls") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"m","messages":[
        {"role":"user","content":"go"},
        {"role":"assistant","reasoning_content":"think","content":"","refusal":"no way",
         "tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1"}},
                       {"id":"b","type":"function","function":{"name":"g","arguments":""}}]},
        {"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"B1"},{"type":"text","text":"B2"}]},
        {"role":"tool","tool_call_id":"a","content":"A"},
        {"role":"user","content":"next"}]})", s);
    REQUIRE(r.ok());
    REQUIRE(r->messages.size() == 4);
    const auto& a = r->messages[1].parts;
    REQUIRE(a.size() == 4);
    CHECK(a[0].kind == ir::PartKind::Thinking);
    CHECK(a[0].text == "think");
    CHECK(a[0].signature.empty());
    CHECK(a[1].kind == ir::PartKind::Text);
    CHECK(a[1].text == "no way");
    CHECK(a[2].args_json == R"({"x":1})");  // repaired
    CHECK(a[3].args_json == "{}");
    // Both tool messages in one user turn, names looked up by id.
    const auto& t = r->messages[2].parts;
    REQUIRE(t.size() == 2);
    CHECK(t[0].name == "g");
    CHECK(t[0].content.size() == 2);
    CHECK(t[1].name == "f");
    CHECK(r->messages[3].parts[0].text == "next");
}

TEST_CASE("chat: decode parameters, tool_choice, response_format, reasoning") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"x"}],
        "max_tokens":50,"max_completion_tokens":100,"temperature":0.5,"top_p":0.9,"n":2,"seed":7,
        "presence_penalty":0.1,"frequency_penalty":-0.2,"stop":["a","b"],"user":"u1","reasoning_effort":"high",
        "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"},"strict":true}},
        "tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}],
        "tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"g"}}]}},
        "parallel_tool_calls":false})", s);
    REQUIRE(r.ok());
    CHECK(r->max_tokens == 100);
    CHECK(r->temperature == 0.5);
    CHECK(r->top_p == 0.9);
    CHECK(r->n == 2);
    CHECK(r->seed == 7);
    CHECK(r->presence_penalty == 0.1);
    CHECK(r->frequency_penalty == -0.2);
    CHECK(r->stop == std::vector<std::string>{"a", "b"});
    CHECK(r->user == "u1");
    CHECK(r->reasoning.mode == ir::ReasoningMode::Effort);
    CHECK(r->reasoning.effort == "high");
    CHECK(r->format.kind == ir::FormatKind::JsonSchema);
    CHECK(r->format.name == "r");
    CHECK(r->format.schema_json == R"({"type":"object"})");
    CHECK(r->format.strict == true);
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Required);
    CHECK(r->tool_choice.allowed == std::vector<std::string>{"g"});
    CHECK(r->parallel_tool_calls == false);
    CHECK_FALSE(r->stream);

    auto r2 = decode_request(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END",
        "max_tokens":5,"reasoning_effort":"none","tool_choice":{"type":"function","function":{"name":"f"}},
        "response_format":{"type":"json_object"},"stream":false,"stream_options":{"include_usage":true}})", s);
    REQUIRE(r2.ok());
    CHECK(r2->stop == std::vector<std::string>{"END"});
    CHECK(r2->max_tokens == 5);
    CHECK(r2->reasoning.mode == ir::ReasoningMode::Off);
    CHECK(r2->tool_choice.mode == ir::ToolChoiceMode::Named);
    CHECK(r2->tool_choice.name == "f");
    CHECK(r2->format.kind == ir::FormatKind::JsonObject);
    CHECK_FALSE(r2->include_usage);
}

TEST_CASE("chat: legacy functions and function_call become tools") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"m","functions":[{"name":"f","parameters":{"type":"object"}}],
        "function_call":{"name":"f"},"messages":[{"role":"user","content":"x"},
        {"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},
        {"role":"function","name":"f","content":"ok"}]})", s);
    REQUIRE(r.ok());
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].name == "f");
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Named);
    REQUIRE(r->messages.size() == 3);
    const ir::Part& call = r->messages[1].parts[0];
    const ir::Part& res = r->messages[2].parts[0];
    CHECK(call.kind == ir::PartKind::ToolCall);
    CHECK(res.kind == ir::PartKind::ToolResult);
    CHECK(!call.call_id.empty());
    CHECK(res.call_id == call.call_id);
    CHECK(res.name == "f");
}

TEST_CASE("chat: bad requests are 400") {
    Session s = chat_session();
    const char* bad[] = {
        "[1,2]",
        "{not json",
        R"({"model":"m"})",
        R"({"model":"m","messages":[]})",
        R"({"model":"m","messages":{"role":"user"}})",
        R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})",
        R"({"model":"m","messages":["hi"]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"video","video":{}}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":42}]})",
        R"({"model":"m","messages":[{"role":"tool","content":"x"}]})",
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":{}})",
        R"({"messages":[{"role":"user","content":"x"}]})",
    };
    for (const char* b : bad) {
        auto r = decode_request(Protocol::OpenAIChat, b, s);
        INFO(b);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().code == 400);
    }
}

TEST_CASE("chat: legacy completions request") {
    Session s = chat_session();
    s.legacy_completion = true;
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","stream":true,"n":1})", s);
    REQUIRE(r.ok());
    CHECK(r->legacy_completion);
    CHECK(r->max_tokens == 16);
    REQUIRE(r->messages.size() == 1);
    CHECK(r->messages[0].role == ir::Role::User);
    CHECK(r->messages[0].parts[0].text == "Say hi");
    CHECK(r->stream);

    auto r2 = decode_request(Protocol::OpenAIChat, R"({"model":"m","prompt":["One"],"max_tokens":40})", s);
    REQUIRE(r2.ok());
    CHECK(r2->messages[0].parts[0].text == "One");
    CHECK(r2->max_tokens == 40);

    for (const char* b : {R"({"model":"m","prompt":[1,2,3]})", R"({"model":"m","prompt":["a","b"]})",
                          R"({"model":"m","prompt":[[1,2]]})", R"({"model":"m"})",
                          R"({"model":"m","prompt":"x","echo":true})", R"({"model":"m","prompt":"x","best_of":3})",
                          R"({"model":"m","prompt":"x","suffix":"end"})"}) {
        auto bad = decode_request(Protocol::OpenAIChat, b, s);
        INFO(b);
        CHECK_FALSE(bad.ok());
        if (!bad.ok()) CHECK(bad.error().code == 400);
    }
}

// ------------------------------------------------------------ request encode

TEST_CASE("chat: the §1.2 example survives decode and encode") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, kExample, s);
    REQUIRE(r.ok());
    auto body = encode_chat_request(*r, s);
    REQUIRE(body.ok());
    auto d = parse(*body);
    CHECK(str(d, "model") == "gpt-4o-2024-08-06");
    CHECK(d["stream"].GetBool());
    CHECK(d["stream_options"]["include_usage"].GetBool());
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 4);
    CHECK(str(m[0], "role") == "system");
    CHECK(str(m[0], "content") == "Be brief.");
    CHECK(str(m[1], "role") == "user");
    CHECK(str(m[1]["content"][0], "text") == "Weather here?");
    CHECK(str(m[1]["content"][1]["image_url"], "url") == "data:image/png;base64,iVBORw0KG");
    CHECK(str(m[2], "role") == "assistant");
    CHECK(m[2]["content"].IsNull());
    CHECK(str(m[2]["tool_calls"][0], "id") == "call_1");
    CHECK(str(m[2]["tool_calls"][0]["function"], "name") == "get_weather");
    CHECK(str(m[2]["tool_calls"][0]["function"], "arguments") == R"({"city":"Paris"})");
    CHECK(str(m[3], "role") == "tool");
    CHECK(str(m[3], "tool_call_id") == "call_1");
    CHECK(str(m[3], "content") == R"({"temp_c":21})");
    CHECK(str(d["tools"][0]["function"], "name") == "get_weather");
    CHECK(d["tools"][0]["function"]["parameters"]["required"][0] == "city");
    CHECK_FALSE(d["tools"][0]["function"].HasMember("strict"));
}

TEST_CASE("chat: encode turns from other protocols") {
    Session s = chat_session();
    s.client = Protocol::Anthropic;
    ir::Request r;
    r.model = "claude";
    r.system = {text_part("S1"), text_part("S2")};
    ir::Message u1{ir::Role::User, {text_part("hi")}};
    ir::Message a{ir::Role::Assistant, {}};
    ir::Part th;
    th.kind = ir::PartKind::Thinking;
    th.text = "hmm";
    th.signature = "sig";
    a.parts.push_back(th);
    a.parts.push_back(text_part(""));
    for (const char* id : {"toolu_1", "toolu_2"}) {
        ir::Part c;
        c.kind = ir::PartKind::ToolCall;
        c.call_id = id;
        c.name = "mcp.read/file";
        c.args_json = R"({"p":1})";
        a.parts.push_back(c);
    }
    ir::Message u2{ir::Role::User, {}};
    u2.parts.push_back(text_part("and now?"));  // user text before the results in the IR
    ir::Part res1;
    res1.kind = ir::PartKind::ToolResult;
    res1.call_id = "toolu_1";
    res1.content = {text_part("line1"), text_part("line2")};
    ir::Part img;
    img.kind = ir::PartKind::Image;
    img.media.mime = "image/png";
    img.media.data = "AAAA";
    res1.content.push_back(img);
    ir::Part res2;
    res2.kind = ir::PartKind::ToolResult;
    res2.call_id = "toolu_2";
    res2.is_error = true;
    res2.content = {text_part("boom")};
    u2.parts.push_back(res1);
    u2.parts.push_back(res2);
    r.messages = {u1, a, u2};
    ir::Tool t1;
    t1.name = "mcp.read/file";
    ir::Tool t2;
    t2.name = "mcp_read_file";  // already valid: keeps its name, the other one moves aside
    t2.strict = false;
    r.tools = {t1, t2};
    r.tool_choice.mode = ir::ToolChoiceMode::Named;
    r.tool_choice.name = "mcp.read/file";
    r.parallel_tool_calls = true;
    r.top_k = 40;
    r.n = 1;
    r.max_tokens = 1000;
    r.reasoning.mode = ir::ReasoningMode::Budget;
    r.reasoning.budget = 20000;
    r.stream = false;

    auto body = encode_chat_request(r, s);
    REQUIRE(body.ok());
    auto d = parse(*body);
    CHECK_FALSE(d.HasMember("top_k"));
    CHECK_FALSE(d.HasMember("stream"));
    CHECK_FALSE(d.HasMember("max_tokens"));
    CHECK(d["max_completion_tokens"].GetInt() == 1000);
    CHECK(d["n"].GetInt() == 1);
    CHECK(str(d, "reasoning_effort") == "high");
    CHECK(d["parallel_tool_calls"].GetBool());
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 6);
    CHECK(str(m[0], "content") == "S1\n\nS2");
    CHECK(str(m[1], "content") == "hi");
    // Assistant: thinking dropped, no content:"" next to tool_calls.
    CHECK(m[2]["content"].IsNull());
    CHECK_FALSE(m[2].HasMember("reasoning_content"));
    REQUIRE(m[2]["tool_calls"].Size() == 2);
    std::string up = str(m[2]["tool_calls"][0]["function"], "name");
    CHECK(up != "mcp.read/file");
    CHECK(up != "mcp_read_file");
    CHECK(up.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos);
    CHECK(s.client_tool_name(up) == "mcp.read/file");
    CHECK(str(d["tools"][0]["function"], "name") == up);
    CHECK(str(d["tools"][1]["function"], "name") == "mcp_read_file");
    CHECK(d["tools"][1]["function"]["strict"].IsFalse());
    CHECK(d["tools"][0]["function"]["parameters"]["type"] == "object");
    CHECK(str(d["tool_choice"]["function"], "name") == up);
    // Tool results first, each its own message; then the moved image and the user text.
    CHECK(str(m[3], "role") == "tool");
    CHECK(str(m[3], "tool_call_id") == "toolu_1");
    CHECK(str(m[3], "content") == "line1\nline2");
    CHECK(str(m[4], "role") == "tool");
    CHECK(str(m[4], "tool_call_id") == "toolu_2");
    CHECK(str(m[4], "content") == "Error: boom");
    CHECK(str(m[5], "role") == "user");
    REQUIRE(m[5]["content"].Size() == 2);
    CHECK(str(m[5]["content"][0]["image_url"], "url") == "data:image/png;base64,AAAA");
    CHECK(str(m[5]["content"][1], "text") == "and now?");
}

TEST_CASE("chat: encode media, reasoning modes and streaming flags") {
    Session s = chat_session();
    ir::Request r;
    ir::Message u{ir::Role::User, {}};
    ir::Part au;
    au.kind = ir::PartKind::Audio;
    au.media.mime = "audio/mpeg";
    au.media.data = "SUQz";
    ir::Part f;
    f.kind = ir::PartKind::File;
    f.media.mime = "application/pdf";
    f.media.data = "JVBER";
    f.media.filename = "doc.pdf";
    ir::Part im;
    im.kind = ir::PartKind::Image;
    im.media.url = "https://example.com/x.png";
    u.parts = {au, f, im};
    r.messages = {u};
    r.stream = true;
    r.stop = {"x"};
    r.temperature = 0.2;
    r.format.kind = ir::FormatKind::JsonSchema;
    r.format.schema_json = R"({"type":"object"})";

    auto body = encode_chat_request(r, s);
    REQUIRE(body.ok());
    auto d = parse(*body);
    const auto& c = d["messages"][0]["content"];
    CHECK(str(c[0], "type") == "input_audio");
    CHECK(str(c[0]["input_audio"], "format") == "mp3");
    CHECK(str(c[0]["input_audio"], "data") == "SUQz");
    CHECK(str(c[1]["file"], "file_data") == "data:application/pdf;base64,JVBER");
    CHECK(str(c[1]["file"], "filename") == "doc.pdf");
    CHECK(str(c[2]["image_url"], "url") == "https://example.com/x.png");
    CHECK(d["stream_options"]["include_usage"].GetBool());  // always, even if the client did not ask
    CHECK(d["stop"][0] == "x");
    CHECK(str(d["response_format"], "type") == "json_schema");
    CHECK(str(d["response_format"]["json_schema"], "name") == "response");
    CHECK(d["response_format"]["json_schema"]["schema"]["type"] == "object");
    CHECK_FALSE(d.HasMember("reasoning_effort"));
    CHECK_FALSE(d.HasMember("tools"));
    CHECK_FALSE(d.HasMember("tool_choice"));

    r.reasoning.mode = ir::ReasoningMode::Off;
    auto off = parse(*encode_chat_request(r, s));
    CHECK(str(off, "reasoning_effort") == "none");
    r.reasoning.mode = ir::ReasoningMode::Effort;
    r.reasoning.effort = "low";
    CHECK(str(parse(*encode_chat_request(r, s)), "reasoning_effort") == "low");

    ir::Part bad;
    bad.kind = ir::PartKind::Audio;
    bad.media.url = "https://example.com/a.wav";
    r.messages[0].parts = {bad};
    auto fail = encode_chat_request(r, s);
    CHECK_FALSE(fail.ok());
}

TEST_CASE("chat: long call ids are shortened for the upstream and mapped back") {
    Session s = chat_session();
    ir::Request r;
    std::string longid(60, 'x');
    ir::Part c;
    c.kind = ir::PartKind::ToolCall;
    c.call_id = longid;
    c.name = "f";
    ir::Part res;
    res.kind = ir::PartKind::ToolResult;
    res.call_id = longid;
    res.content = {text_part("ok")};
    r.messages = {ir::Message{ir::Role::User, {text_part("q")}}, ir::Message{ir::Role::Assistant, {c}},
                  ir::Message{ir::Role::User, {res}}};
    auto d = parse(*encode_chat_request(r, s));
    std::string up = str(d["messages"][1]["tool_calls"][0], "id");
    CHECK(up.size() <= 40);
    CHECK(str(d["messages"][2], "tool_call_id") == up);
    CHECK(s.client_call_id(up) == longid);
}

// ------------------------------------------------------------ response

TEST_CASE("chat: decode the §1.3 response") {
    Session s = chat_session();
    s.client = Protocol::Anthropic;
    s.map_tool_name("get.weather", "get_weather");
    auto r = decode_chat_response(R"({"id":"chatcmpl-9x","object":"chat.completion","created":1735689600,
        "model":"gpt-4o-2024-08-06","choices":[{"index":0,"finish_reason":"stop","logprobs":null,
        "message":{"role":"assistant","content":"Sure.","reasoning_content":"R","refusal":null,"tool_calls":[{"id":"call_2",
        "type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\""}}]}}],
        "usage":{"prompt_tokens":57,"completion_tokens":18,"total_tokens":75,
        "prompt_tokens_details":{"cached_tokens":7,"cache_write_tokens":3},"completion_tokens_details":{"reasoning_tokens":5}}})",
                                  s);
    REQUIRE(r.ok());
    CHECK(r->id == "chatcmpl-9x");
    CHECK(r->model == "gpt-4o-2024-08-06");
    REQUIRE(r->content.size() == 3);
    CHECK(r->content[0].kind == ir::PartKind::Thinking);
    CHECK(r->content[0].text == "R");
    CHECK(r->content[1].text == "Sure.");
    CHECK(r->content[2].kind == ir::PartKind::ToolCall);
    CHECK(r->content[2].name == "get.weather");
    CHECK(r->content[2].call_id == "call_2");
    CHECK(r->content[2].args_json == R"({"city":"Rome"})");
    CHECK(r->finish == ir::Finish::ToolCalls);  // even though the upstream said stop
    CHECK(r->usage.prompt == 57);
    CHECK(r->usage.output == 18);
    CHECK(r->usage.cache_read == 7);
    CHECK(r->usage.cache_write == 3);
    CHECK(r->usage.reasoning == 5);

    auto refusal = decode_chat_response(R"({"id":"x","choices":[{"index":0,"finish_reason":"content_filter",
        "message":{"role":"assistant","content":null,"refusal":"I can't."}}]})", s);
    REQUIRE(refusal.ok());
    REQUIRE(refusal->content.size() == 1);
    CHECK(refusal->content[0].text == "I can't.");
    CHECK(refusal->finish == ir::Finish::ContentFilter);
    CHECK_FALSE(refusal->usage.present());

    CHECK_FALSE(decode_chat_response("{\"object\":\"x\"}", s).ok());
    auto err = decode_chat_response(R"({"error":{"message":"slow down","type":"rate_limit_error"}})", s);
    REQUIRE_FALSE(err.ok());
    CHECK(err.error().code == 429);
}

TEST_CASE("chat: encode a chat.completion") {
    Session s = chat_session();
    s.client_model = "my-alias";
    ir::Response r;
    r.model = "upstream-model";
    ir::Part th;
    th.kind = ir::PartKind::Thinking;
    th.text = "plan";
    ir::Part c;
    c.kind = ir::PartKind::ToolCall;
    c.call_id = "call_2";
    c.name = "get_weather";
    c.args_json = R"({"city":"Rome"})";
    r.content = {th, c};
    r.finish = ir::Finish::Stop;
    r.usage.prompt = 57;
    r.usage.output = 18;
    r.usage.cache_read = 0;
    r.usage.reasoning = 4;
    auto d = parse(encode_chat_response(r, s));
    CHECK(str(d, "object") == "chat.completion");
    CHECK(str(d, "id").rfind("chatcmpl-", 0) == 0);
    CHECK(str(d, "model") == "my-alias");
    CHECK(d["created"].GetInt64() == 1735689600);
    const auto& ch = d["choices"][0];
    CHECK(ch["index"].GetInt() == 0);
    CHECK(str(ch, "finish_reason") == "tool_calls");
    CHECK(ch["message"]["content"].IsNull());
    CHECK(str(ch["message"], "role") == "assistant");
    CHECK(str(ch["message"], "reasoning_content") == "plan");
    CHECK(str(ch["message"]["tool_calls"][0], "id") == "call_2");
    CHECK(str(ch["message"]["tool_calls"][0], "type") == "function");
    CHECK(str(ch["message"]["tool_calls"][0]["function"], "arguments") == R"({"city":"Rome"})");
    CHECK(d["usage"]["prompt_tokens"].GetInt() == 57);
    CHECK(d["usage"]["total_tokens"].GetInt() == 75);
    CHECK(d["usage"]["prompt_tokens_details"]["cached_tokens"].GetInt() == 0);
    CHECK(d["usage"]["completion_tokens_details"]["reasoning_tokens"].GetInt() == 4);

    ir::Response plain;
    plain.id = "msg_1";
    plain.content = {text_part("Hello")};
    plain.finish = ir::Finish::Length;
    auto p = parse(encode_chat_response(plain, s));
    CHECK(str(p, "id") == "msg_1");
    CHECK(str(p["choices"][0]["message"], "content") == "Hello");
    CHECK_FALSE(p["choices"][0]["message"].HasMember("reasoning_content"));
    CHECK_FALSE(p["choices"][0]["message"].HasMember("tool_calls"));
    CHECK(str(p["choices"][0], "finish_reason") == "length");
}

TEST_CASE("chat: encode a legacy text_completion") {
    Session s = chat_session();
    s.legacy_completion = true;
    ir::Response r;
    r.content = {text_part("Hello")};
    r.finish = ir::Finish::Stop;
    r.usage.prompt = 3;
    r.usage.output = 1;
    auto d = parse(encode_chat_response(r, s));
    CHECK(str(d, "object") == "text_completion");
    CHECK(str(d, "id").rfind("cmpl-", 0) == 0);
    CHECK(str(d["choices"][0], "text") == "Hello");
    CHECK(d["choices"][0]["logprobs"].IsNull());
    CHECK(str(d["choices"][0], "finish_reason") == "stop");
    CHECK_FALSE(d["choices"][0].HasMember("message"));
    CHECK(d["usage"]["total_tokens"].GetInt() == 4);
}

// ------------------------------------------------------------ stream decoder

TEST_CASE("chat: stream decoder on the §1.4 example, event by event") {
    Session s = chat_session();
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    const char* h = R"("id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o")";
    auto chunk = [&](const std::string& rest) { return std::string("{") + h + "," + rest + "}"; };
    feed(*dec, sink, chunk(R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null)"));
    feed(*dec, sink, chunk(R"("choices":[{"index":0,"delta":{"content":"Let me check."},"finish_reason":null}],"usage":null)"));
    feed(*dec, sink, chunk(R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null)"));
    feed(*dec, sink, chunk(R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}],"usage":null)"));
    feed(*dec, sink, chunk(R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}],"usage":null)"));
    feed(*dec, sink, chunk(R"("choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null)"));
    feed(*dec, sink, chunk(R"("choices":[],"usage":{"prompt_tokens":40,"completion_tokens":22,"total_tokens":62,"prompt_tokens_details":{"cached_tokens":8}})"));
    feed(*dec, sink, "[DONE]");
    dec->on_close(sink);

    using T = ir::StreamEvent::Type;
    std::vector<T> types;
    for (const Rec& r : sink.evs) types.push_back(r.type);
    std::vector<T> want = {T::Start, T::Text, T::ToolStart, T::ToolArgs, T::ToolArgs, T::ToolEnd, T::Usage, T::Finish, T::Done};
    CHECK(types == want);
    CHECK(sink.evs[0].id == "c1");
    CHECK(sink.joined(T::Text) == "Let me check.");
    CHECK(sink.evs[2].id == "call_7");
    CHECK(sink.evs[2].name == "get_weather");
    CHECK(sink.evs[2].index == 0);
    CHECK(sink.joined(T::ToolArgs, 0) == R"({"city":"Paris"})");
    CHECK(sink.evs[6].usage.prompt == 40);
    CHECK(sink.evs[6].usage.output == 22);
    CHECK(sink.evs[6].usage.cache_read == 8);
    CHECK(sink.evs[7].finish == ir::Finish::ToolCalls);
}

TEST_CASE("chat: stream decoder: content and finish in one chunk, reasoning, refusal") {
    Session s = chat_session();
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"content":"All of it."},"finish_reason":"length"}]})");
    feed(*dec, sink, "[DONE]");
    using T = ir::StreamEvent::Type;
    std::vector<T> types;
    for (const Rec& r : sink.evs) types.push_back(r.type);
    CHECK(types == std::vector<T>{T::Start, T::Thinking, T::Text, T::Finish, T::Done});
    CHECK(sink.joined(T::Text) == "All of it.");
    CHECK(sink.of(T::Finish)[0].finish == ir::Finish::Length);
}

TEST_CASE("chat: stream decoder: parallel calls, interleaved and out-of-order upstream indexes") {
    Session s = chat_session();
    s.map_tool_name("a.b", "a_b");
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    // Upstream indexes 3 and 1, interleaved; IR indexes follow first start: 3 -> 0, 1 -> 1.
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"id":"A","function":{"name":"a_b","arguments":"{\"p\""}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"B","function":{"name":"g","arguments":""}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":":1}"}},{"index":1,"function":{"arguments":"{}"}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})");
    feed(*dec, sink, "[DONE]");
    using T = ir::StreamEvent::Type;
    auto starts = sink.of(T::ToolStart);
    REQUIRE(starts.size() == 2);
    CHECK(starts[0].index == 0);
    CHECK(starts[0].id == "A");
    CHECK(starts[0].name == "a.b");  // mapped back
    CHECK(starts[1].index == 1);
    CHECK(starts[1].id == "B");
    CHECK(sink.joined(T::ToolArgs, 0) == R"({"p":1})");
    CHECK(sink.joined(T::ToolArgs, 1) == "{}");
    CHECK(sink.of(T::ToolEnd).size() == 2);
    CHECK(sink.of(T::Finish)[0].finish == ir::Finish::ToolCalls);  // stop + calls -> tool calls
}

TEST_CASE("chat: stream decoder: fragments without index (pitfall 2) and a repeated index 0") {
    Session s = chat_session();
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]}}]})");
    // An upstream that says index 0 for every call: a new id is a new call.
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c3","function":{"name":"h","arguments":"{\"z\":"}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c4","function":{"name":"k","arguments":"{}"}}]}}]})");
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})");
    feed(*dec, sink, "[DONE]");
    using T = ir::StreamEvent::Type;
    auto starts = sink.of(T::ToolStart);
    REQUIRE(starts.size() == 4);
    for (int i = 0; i < 4; ++i) CHECK(starts[i].index == i);
    CHECK(starts[0].id == "c1");
    CHECK(starts[1].id == "c2");
    CHECK(starts[2].id == "c3");
    CHECK(starts[3].id == "c4");
    CHECK(sink.joined(T::ToolArgs, 0) == R"({"a":1})");
    CHECK(sink.joined(T::ToolArgs, 1) == "{}");
    CHECK(sink.joined(T::ToolArgs, 2) == R"({"z":2})");
    CHECK(sink.joined(T::ToolArgs, 3) == "{}");
}

TEST_CASE("chat: stream decoder buffers arguments until id and name are known") {
    Session s = chat_session();
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\""}}]}}]})");
    CHECK(sink.of(ir::StreamEvent::Type::ToolStart).empty());
    CHECK(sink.of(ir::StreamEvent::Type::ToolArgs).empty());
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"late","function":{"name":"f","arguments":":2}"}}]}}]})");
    feed(*dec, sink, "[DONE]");
    using T = ir::StreamEvent::Type;
    REQUIRE(sink.of(T::ToolStart).size() == 1);
    CHECK(sink.of(T::ToolStart)[0].id == "late");
    CHECK(sink.joined(T::ToolArgs, 0) == R"({"q":2})");
    // ToolStart comes before its first ToolArgs.
    size_t start_pos = 0, args_pos = 0;
    for (size_t i = 0; i < sink.evs.size(); ++i) {
        if (sink.evs[i].type == T::ToolStart) start_pos = i;
        if (sink.evs[i].type == T::ToolArgs && !args_pos) args_pos = i;
    }
    CHECK(start_pos < args_pos);
}

TEST_CASE("chat: stream decoder errors: in-stream error chunks and early close") {
    using T = ir::StreamEvent::Type;
    struct Case {
        const char* data;
        int status;
    } cases[] = {
        {R"({"error":{"message":"slow","type":"rate_limit_error","code":null}})", 429},
        {R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})", 500},
        {R"({"error":{"message":"busy","type":"overloaded_error"}})", 503},
        {R"({"error":{"message":"x","code":504}})", 504},
        {R"({"error":{"message":"weird"}})", 502},
    };
    for (const Case& c : cases) {
        Session s = chat_session();
        auto dec = make_chat_stream_decoder(s);
        RecSink sink;
        feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"content":"par"}}]})");
        feed(*dec, sink, c.data);
        dec->on_close(sink);
        INFO(c.data);
        REQUIRE(sink.evs.back().type == T::Error);
        CHECK(sink.evs.back().status == c.status);
        CHECK(sink.of(T::Error).size() == 1);
        CHECK(sink.of(T::Done).empty());
        CHECK(sink.of(T::Finish).empty());
    }
    Session s = chat_session();
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"content":"par"},"finish_reason":"stop"}]})");
    dec->on_close(sink);
    REQUIRE(sink.evs.back().type == T::Error);
    CHECK(sink.evs.back().status == 502);
    CHECK(sink.of(T::Done).empty());
}

// ------------------------------------------------------------ stream encoder

namespace {

struct Chunks {
    std::vector<rapidjson::Document> docs;
    bool done = false;
};

Chunks parse_stream(const std::string& out) {
    Chunks c;
    for (const std::string& p : sse_payloads(out)) {
        REQUIRE_FALSE(c.done);  // nothing after [DONE]
        if (p == "[DONE]") {
            c.done = true;
            continue;
        }
        c.docs.push_back(parse(p));
    }
    return c;
}

void run(StreamEncoder& e, const std::vector<ir::StreamEvent>& evs) {
    for (const ir::StreamEvent& x : evs) e.on(x);
}

std::vector<ir::StreamEvent> tool_stream(ir::Finish finish) {
    using T = ir::StreamEvent::Type;
    std::vector<ir::StreamEvent> v;
    ir::StreamEvent st = ev(T::Start);
    st.id = "msg_01";
    v.push_back(st);
    ir::StreamEvent th = ev(T::Thinking);
    th.text = "plan";
    v.push_back(th);
    ir::StreamEvent tx = ev(T::Text);
    tx.text = "Let me check.";
    v.push_back(tx);
    for (int i = 0; i < 2; ++i) {
        ir::StreamEvent ts = ev(T::ToolStart);
        ts.index = i;
        ts.id = i == 0 ? "toolu_a" : "toolu_b";
        ts.name = i == 0 ? "get_weather" : "noop";
        v.push_back(ts);
        if (i == 0) {
            ir::StreamEvent ta = ev(T::ToolArgs);
            ta.index = 0;
            ta.text = R"({"city":"Paris"})";
            v.push_back(ta);
        }
        ir::StreamEvent te = ev(T::ToolEnd);
        te.index = i;
        v.push_back(te);
    }
    ir::StreamEvent u = ev(T::Usage);
    u.usage.prompt = 40;
    u.usage.output = 22;
    u.usage.reasoning = 5;
    v.push_back(u);
    ir::StreamEvent f = ev(T::Finish);
    f.finish = finish;
    v.push_back(f);
    v.push_back(ev(T::Done));
    return v;
}

}  // namespace

TEST_CASE("chat: stream encoder writes §1.4 with include_usage") {
    Session s = chat_session();
    s.include_usage = true;
    auto enc = make_chat_stream_encoder(s);
    run(*enc, tool_stream(ir::Finish::Stop));
    CHECK(enc->finished());
    Chunks c = parse_stream(enc->out);
    CHECK(c.done);
    REQUIRE(c.docs.size() == 9);
    for (const auto& d : c.docs) {
        CHECK(str(d, "id") == "msg_01");
        CHECK(str(d, "object") == "chat.completion.chunk");
        CHECK(d["created"].GetInt64() == 1735689600);
        CHECK(str(d, "model") == "gpt-4o");
        CHECK(d.HasMember("usage"));
    }
    const auto& first = c.docs[0]["choices"][0];
    CHECK(str(first["delta"], "role") == "assistant");
    CHECK(str(first["delta"], "content") == "");
    CHECK(first["finish_reason"].IsNull());
    CHECK(c.docs[0]["usage"].IsNull());
    CHECK(str(c.docs[1]["choices"][0]["delta"], "reasoning_content") == "plan");
    CHECK(str(c.docs[2]["choices"][0]["delta"], "content") == "Let me check.");
    const auto& t0 = c.docs[3]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(t0["index"].GetInt() == 0);
    CHECK(str(t0, "id") == "toolu_a");
    CHECK(str(t0, "type") == "function");
    CHECK(str(t0["function"], "name") == "get_weather");
    CHECK(str(t0["function"], "arguments") == "");
    const auto& a0 = c.docs[4]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(a0["index"].GetInt() == 0);
    CHECK_FALSE(a0.HasMember("id"));
    CHECK(str(a0["function"], "arguments") == R"({"city":"Paris"})");
    const auto& t1 = c.docs[5]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(t1["index"].GetInt() == 1);
    CHECK(str(t1, "id") == "toolu_b");
    // A call that got no arguments gets "{}" at its end (§6.13 A).
    const auto& a1 = c.docs[6]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(a1["index"].GetInt() == 1);
    CHECK(str(a1["function"], "arguments") == "{}");
    // Finish: tool_calls although the IR said Stop (§7.3).
    const auto& fin = c.docs[7]["choices"][0];
    CHECK(fin["delta"].ObjectEmpty());
    CHECK(str(fin, "finish_reason") == "tool_calls");
    CHECK(c.docs[7]["usage"].IsNull());
    // The usage chunk: choices:[] after the finish, before [DONE].
    const auto& u = c.docs[8];
    CHECK(u["choices"].IsArray());
    CHECK(u["choices"].Empty());
    CHECK(u["usage"]["prompt_tokens"].GetInt() == 40);
    CHECK(u["usage"]["completion_tokens"].GetInt() == 22);
    CHECK(u["usage"]["total_tokens"].GetInt() == 62);
    CHECK(u["usage"]["completion_tokens_details"]["reasoning_tokens"].GetInt() == 5);
    // Nothing more after Done.
    std::string before = enc->out;
    enc->on(ev(ir::StreamEvent::Type::Text));
    CHECK(enc->out == before);
}

TEST_CASE("chat: stream encoder without include_usage has no usage anywhere") {
    Session s = chat_session();
    s.include_usage = false;
    auto enc = make_chat_stream_encoder(s);
    run(*enc, tool_stream(ir::Finish::ToolCalls));
    Chunks c = parse_stream(enc->out);
    CHECK(c.done);
    REQUIRE(c.docs.size() == 8);
    for (const auto& d : c.docs) {
        CHECK_FALSE(d.HasMember("usage"));
        CHECK(d["choices"].Size() == 1);
    }
    CHECK(str(c.docs.back()["choices"][0], "finish_reason") == "tool_calls");
}

TEST_CASE("chat: stream encoder finish reasons and a Done without Finish") {
    using T = ir::StreamEvent::Type;
    Session s = chat_session();
    auto enc = make_chat_stream_encoder(s);
    ir::StreamEvent tx = ev(T::Text);
    tx.text = "abc";
    ir::StreamEvent f = ev(T::Finish);
    f.finish = ir::Finish::Length;
    run(*enc, {tx, f, ev(T::Done)});
    Chunks c = parse_stream(enc->out);
    REQUIRE(c.docs.size() == 3);
    CHECK(str(c.docs[0]["choices"][0]["delta"], "role") == "assistant");  // role chunk even without Start
    CHECK(str(c.docs[2]["choices"][0], "finish_reason") == "length");

    auto enc2 = make_chat_stream_encoder(s);
    run(*enc2, {ev(T::Start), tx, ev(T::Done)});
    Chunks c2 = parse_stream(enc2->out);
    CHECK(c2.done);
    CHECK(str(c2.docs.back()["choices"][0], "finish_reason") == "stop");
    // Ids minted in chat shape when the upstream gave none; the same in every chunk.
    CHECK(str(c2.docs[0], "id").rfind("chatcmpl-", 0) == 0);
    CHECK(str(c2.docs[0], "id") == str(c2.docs.back(), "id"));
}

TEST_CASE("chat: stream encoder error form: data error, no finish, no [DONE]") {
    using T = ir::StreamEvent::Type;
    Session s = chat_session();
    s.include_usage = true;
    auto enc = make_chat_stream_encoder(s);
    ir::StreamEvent tx = ev(T::Text);
    tx.text = "part";
    ir::StreamEvent er = ev(T::Error);
    er.status = 529;
    er.text = "Overloaded";
    run(*enc, {ev(T::Start), tx, er});
    CHECK(enc->finished());
    auto payloads = sse_payloads(enc->out);
    REQUIRE(payloads.size() == 3);
    auto last = parse(payloads.back());
    CHECK(str(last["error"], "message") == "Overloaded");
    CHECK(str(last["error"], "type") == "server_error");
    for (const std::string& p : payloads) {
        CHECK(p != "[DONE]");
        CHECK(p.find("\"finish_reason\":\"") == std::string::npos);
    }
    std::string before = enc->out;
    run(*enc, {ev(T::Finish), ev(T::Done)});
    CHECK(enc->out == before);
}

TEST_CASE("chat: legacy completions stream") {
    using T = ir::StreamEvent::Type;
    Session s = chat_session();
    s.legacy_completion = true;
    s.include_usage = true;
    auto enc = make_chat_stream_encoder(s);
    ir::StreamEvent th = ev(T::Thinking);
    th.text = "hidden";
    ir::StreamEvent a = ev(T::Text);
    a.text = "Hel";
    ir::StreamEvent b = ev(T::Text);
    b.text = "lo";
    ir::StreamEvent u = ev(T::Usage);
    u.usage.prompt = 2;
    u.usage.output = 1;
    ir::StreamEvent f = ev(T::Finish);
    f.finish = ir::Finish::Stop;
    run(*enc, {ev(T::Start), th, a, b, u, f, ev(T::Done)});
    Chunks c = parse_stream(enc->out);
    CHECK(c.done);
    REQUIRE(c.docs.size() == 4);
    std::string text;
    for (size_t i = 0; i < 3; ++i) {
        CHECK(str(c.docs[i], "object") == "text_completion");
        CHECK_FALSE(c.docs[i]["choices"][0].HasMember("delta"));
        text += str(c.docs[i]["choices"][0], "text");
    }
    CHECK(text == "Hello");
    CHECK(c.docs[0]["choices"][0]["finish_reason"].IsNull());
    CHECK(str(c.docs[2]["choices"][0], "finish_reason") == "stop");
    CHECK(c.docs[3]["choices"].Empty());
    CHECK(c.docs[3]["usage"]["total_tokens"].GetInt() == 3);
}

TEST_CASE("chat: upstream stream decoded and re-encoded for a chat client") {
    Session s = chat_session();
    s.include_usage = false;
    auto dec = make_chat_stream_decoder(s);
    auto enc = make_chat_stream_encoder(s);
    std::string upstream =
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":2,\"id\":\"k\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"
        "data: [DONE]\n\n";
    sse::for_each_event(upstream, [&](const sse::Event& e) { dec->on_event(e, *enc); });
    dec->on_close(*enc);
    Chunks c = parse_stream(enc->out);
    CHECK(c.done);
    bool saw_call = false;
    for (const auto& d : c.docs) {
        CHECK_FALSE(d.HasMember("usage"));
        const auto& delta = d["choices"][0]["delta"];
        if (delta.HasMember("tool_calls")) {
            CHECK(delta["tool_calls"][0]["index"].GetInt() == 0);  // upstream 2 -> 0
            saw_call = true;
        }
    }
    CHECK(saw_call);
    CHECK(str(c.docs.back()["choices"][0], "finish_reason") == "tool_calls");
}

TEST_CASE("chat: every upstream call is answered right after its turn; orphan results become text") {
    Session s = chat_session();
    s.client = Protocol::Anthropic;
    auto call = [](const char* id, const char* name) {
        ir::Part c;
        c.kind = ir::PartKind::ToolCall;
        c.call_id = id;
        c.name = name;
        c.args_json = "{}";
        return c;
    };
    ir::Part orphan;
    orphan.kind = ir::PartKind::ToolResult;
    orphan.call_id = "gone";
    orphan.name = "old";
    orphan.content = {text_part("stale")};
    ir::Part answered;
    answered.kind = ir::PartKind::ToolResult;
    answered.call_id = "t2";
    answered.content = {text_part("fine")};
    ir::Request r;
    r.messages = {
        ir::Message{ir::Role::Assistant, {text_part("  "), call("t1", "f")}},  // interrupted: no result
        ir::Message{ir::Role::User, {text_part("continue")}},
        ir::Message{ir::Role::Assistant, {call("t2", "f"), call("t3", "g")}},
        ir::Message{ir::Role::User, {orphan, answered}},
        ir::Message{ir::Role::Assistant, {call("t4", "f")}},  // the last turn, unanswered
    };
    auto d = parse(*encode_chat_request(r, s));
    const auto& m = d["messages"];
    REQUIRE(m.Size() == 9);
    CHECK(m[0]["content"].IsNull());  // whitespace next to tool_calls is no content (§7.7)
    CHECK(str(m[1], "role") == "tool");
    CHECK(str(m[1], "tool_call_id") == "t1");
    CHECK(str(m[1], "content").rfind("Error:", 0) == 0);
    CHECK(str(m[2], "content") == "continue");
    CHECK(str(m[3], "role") == "assistant");
    CHECK(str(m[4], "tool_call_id") == "t2");
    CHECK(str(m[4], "content") == "fine");
    CHECK(str(m[5], "tool_call_id") == "t3");
    CHECK(str(m[5], "content").rfind("Error:", 0) == 0);
    CHECK(str(m[6], "role") == "user");
    CHECK(str(m[6], "content").find("stale") != std::string::npos);
    CHECK(str(m[7], "role") == "assistant");
    CHECK(str(m[8], "tool_call_id") == "t4");
}

TEST_CASE("chat: whitespace content next to tool_calls is not a text part (§7.7)") {
    Session s = chat_session();
    auto r = decode_request(Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":" \n","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"a","content":"ok"}]})", s);
    REQUIRE(r.ok());
    REQUIRE(r->messages[1].parts.size() == 1);
    CHECK(r->messages[1].parts[0].kind == ir::PartKind::ToolCall);
}

TEST_CASE("chat: Google's thought_signature rides along with tool calls and comes back") {
    SignatureCache cache;
    Session s = chat_session();
    s.client = Protocol::Anthropic;
    s.upstream_model = "gemini-3-pro";
    s.signatures = &cache;
    auto r = decode_chat_response(R"({"id":"x","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant",
        "content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},
        "extra_content":{"google":{"thought_signature":"SIG1"}}}]}}]})", s);
    REQUIRE(r.ok());
    REQUIRE(r->content.size() == 1);
    CHECK(r->content[0].signature == "SIG1");
    CHECK(r->content[0].origin.protocol == Protocol::OpenAIChat);
    auto cached = cache.get("c1");
    REQUIRE(cached);
    CHECK(cached->signature == "SIG1");

    // The client (which cannot carry it) replays the call: the cache supplies the signature.
    ir::Part c;
    c.kind = ir::PartKind::ToolCall;
    c.call_id = "c1";
    c.name = "f";
    c.args_json = "{}";
    ir::Part res;
    res.kind = ir::PartKind::ToolResult;
    res.call_id = "c1";
    res.content = {text_part("ok")};
    ir::Request req;
    req.messages = {ir::Message{ir::Role::User, {text_part("q")}}, ir::Message{ir::Role::Assistant, {c}},
                    ir::Message{ir::Role::User, {res}}};
    auto d = parse(*encode_chat_request(req, s));
    CHECK(str(d["messages"][1]["tool_calls"][0]["extra_content"]["google"], "thought_signature") == "SIG1");

    // Another upstream model: not sent.
    s.upstream_model = "gemini-2.5-flash";
    auto d2 = parse(*encode_chat_request(req, s));
    CHECK_FALSE(d2["messages"][1]["tool_calls"][0].HasMember("extra_content"));
}

TEST_CASE("chat: an upstream tool_calls finish without any call is reported as a stop") {
    Session s = chat_session();
    auto r = decode_chat_response(R"({"id":"x","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"hi"}}]})", s);
    REQUIRE(r.ok());
    CHECK(r->finish == ir::Finish::Stop);
    auto dec = make_chat_stream_decoder(s);
    RecSink sink;
    feed(*dec, sink, R"({"id":"x","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"tool_calls"}]})");
    feed(*dec, sink, "[DONE]");
    REQUIRE(sink.of(ir::StreamEvent::Type::Finish).size() == 1);
    CHECK(sink.of(ir::StreamEvent::Type::Finish)[0].finish == ir::Finish::Stop);
}

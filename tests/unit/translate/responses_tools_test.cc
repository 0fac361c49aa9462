// Codex's tool kinds through translation: functions in namespaces, custom
// (freeform) tools, hosted tools and the "Responses lite" additional_tools
// item, to every function-only wire and back.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;
using test::parse;
using test::send;
using test::split_sse;
using test::str;
using Ev = ir::StreamEvent;

namespace {

// Codex with a known model: flat functions, a namespace, web_search and a
// freeform tool with a grammar.
const char* kCodexFull = R"({"model":"gpt-5-codex","instructions":"","input":[
 {"type":"message","role":"developer","content":[{"type":"input_text","text":"You are Codex."}]},
 {"type":"message","role":"user","content":[{"type":"input_text","text":"fix the bug"}]}],
 "tools":[
  {"type":"function","name":"shell","description":"Runs a command","strict":false,
   "parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}},"required":["command"]}},
  {"type":"namespace","name":"multi_agent_v1","description":"Agents","tools":[
   {"type":"function","name":"spawn_agent","description":"Spawn","strict":false,"parameters":{"type":"object","properties":{"task":{"type":"string"}}}},
   {"type":"function","name":"wait_agent","description":"Wait","strict":false,"parameters":{"type":"object","properties":{}}}]},
  {"type":"web_search","external_web_access":false},
  {"type":"custom","name":"apply_patch","description":"Edit files",
   "format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch hunk+ end_patch"}}],
 "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"summary":"auto"},"store":false,"stream":true,
 "include":["reasoning.encrypted_content"],"prompt_cache_key":"abc"})";

// Codex's "Responses lite": no top-level tools, an additional_tools item
// with the default namespace "functions" and another one.
const char* kCodexLite = R"({"model":"gpt-5.1-codex-mini","input":[
 {"type":"additional_tools","id":"at_1","role":"developer","tools":[
  {"type":"namespace","name":"functions","description":"","tools":[
   {"type":"custom","name":"exec","description":"Run a shell command","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}},
   {"type":"function","name":"update_plan","description":"Plan","strict":false,"parameters":{"type":"object","properties":{"plan":{"type":"string"}}}}]},
  {"type":"namespace","name":"multi_agent_v1","description":"Agents","tools":[
   {"type":"function","name":"spawn_agent","description":"Spawn","strict":false,"parameters":{"type":"object","properties":{}}}]}]},
 {"type":"message","role":"developer","content":[{"type":"input_text","text":"You are Codex."}]},
 {"type":"message","role":"user","content":[{"type":"input_text","text":"list files"}]}],
 "tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"low","context":"all_turns"},
 "text":{"verbosity":"low"},"store":false,"stream":true})";

Session codex_session(Protocol upstream) {
    Session s;
    s.client = Protocol::OpenAIResponses;
    s.upstream = upstream;
    s.client_model = "gpt-5-codex";
    s.upstream_model = "upstream-model";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

ir::Request decode(const char* body, Session& s) {
    auto r = decode_request(Protocol::OpenAIResponses, body, s);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

std::vector<std::string> names(const ir::Request& r) {
    std::vector<std::string> out;
    for (const auto& t : r.tools) out.push_back(t.name);
    return out;
}

// The function names an upstream request body declares, on its wire.
std::set<std::string> declared(Protocol wire, const std::string& body) {
    auto d = parse(body);
    std::set<std::string> out;
    const JsonValue* tools = member(d, "tools");
    REQUIRE(is_array(tools));
    for (const auto& t : tools->GetArray()) {
        if (wire == Protocol::OpenAIChat)  // a function, or a custom tool (Chat has them)
            out.insert(str(*member(t, member(t, "function") ? "function" : "custom"), "name"));
        if (wire == Protocol::Anthropic) out.insert(str(t, "name"));
        if (wire == Protocol::Gemini)
            if (const JsonValue* f = member(t, "functionDeclarations"); is_array(f))
                for (const auto& fd : f->GetArray()) out.insert(str(fd, "name"));
    }
    return out;
}

const Protocol kFunctionWires[] = {Protocol::OpenAIChat, Protocol::Anthropic, Protocol::Gemini};

}  // namespace

TEST_CASE("codex tools: namespaces flatten, custom tools become one-string functions (Chat: custom tools), web search is each wire's") {
    for (Protocol wire : kFunctionWires) {
        CAPTURE(protocol_name(wire));
        Session s = codex_session(wire);
        ir::Request r = decode(kCodexFull, s);
        CHECK(names(r) == std::vector<std::string>{"shell", "multi_agent_v1__spawn_agent", "multi_agent_v1__wait_agent",
                                                   "apply_patch"});
        CHECK(s.dropped_tools.empty());  // web_search is each wire's own (web_search_test.cc)
        CHECK(r.web_search.has_value());
        REQUIRE(s.client_tools.size() == 3);
        const Session::ClientTool* patch = s.client_tool("apply_patch");
        REQUIRE(patch);
        CHECK(patch->custom);
        CHECK(patch->ns.empty());
        const Session::ClientTool* spawn = s.client_tool("multi_agent_v1__spawn_agent");
        REQUIRE(spawn);
        CHECK_FALSE(spawn->custom);
        CHECK(spawn->ns == "multi_agent_v1");
        CHECK(spawn->name == "spawn_agent");
        CHECK(s.client_tool("shell") == nullptr);

        // The freeform tool's one parameter carries its grammar.
        auto params = parse(r.tools[3].parameters_json);
        const JsonValue* input = member(*member(params, "properties"), "input");
        REQUIRE(input);
        CHECK(str(*input, "type") == "string");
        CHECK(str(*input, "description").find("lark grammar:\nstart: begin_patch hunk+ end_patch") != std::string::npos);
        CHECK(member(params, "required")->GetArray()[0] == "input");

        auto body = encode_request(wire, r, s);
        REQUIRE(body.ok());
        std::set<std::string> want{"shell", "multi_agent_v1__spawn_agent", "multi_agent_v1__wait_agent", "apply_patch"};
        if (wire == Protocol::Anthropic) want.insert("web_search");  // its own server tool
        CHECK(declared(wire, body.value()) == want);
        // Chat has no web search; Gemini none beside functions.
        CHECK(s.dropped_tools == (wire == Protocol::Anthropic ? std::vector<std::string>{}
                                                               : std::vector<std::string>{"web_search"}));
    }
}

TEST_CASE("codex tools: the lite shape's additional_tools are declared like top-level tools") {
    for (Protocol wire : kFunctionWires) {
        CAPTURE(protocol_name(wire));
        Session s = codex_session(wire);
        ir::Request r = decode(kCodexLite, s);
        CHECK(names(r) == std::vector<std::string>{"exec", "update_plan", "multi_agent_v1__spawn_agent"});
        const Session::ClientTool* exec = s.client_tool("exec");
        REQUIRE(exec);
        CHECK(exec->custom);
        CHECK(exec->ns.empty());  // the default namespace is no namespace
        CHECK(s.client_tool("update_plan") == nullptr);
        REQUIRE(r.system.size() == 1);
        CHECK(r.system[0].text == "You are Codex.");
        REQUIRE(r.messages.size() == 1);
        auto body = encode_request(wire, r, s);
        REQUIRE(body.ok());
        CHECK(declared(wire, body.value()) == std::set<std::string>{"exec", "update_plan", "multi_agent_v1__spawn_agent"});
    }
}

TEST_CASE("codex tools: an unknown tool type is the client's error, named") {
    Session s = codex_session(Protocol::Anthropic);
    auto r = decode_request(Protocol::OpenAIResponses,
                            R"({"model":"m","input":"hi","tools":[{"type":"function","name":"a"},{"type":"teleport"}]})", s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 400);
    CHECK(r.error().message.find("tools[1]") != std::string::npos);
    CHECK(r.error().message.find("'teleport'") != std::string::npos);

    auto nested = decode_request(
        Protocol::OpenAIResponses,
        R"({"model":"m","input":[{"type":"additional_tools","tools":[{"type":"namespace","name":"a","tools":[{"type":"namespace","name":"b","tools":[]}]}]}]})",
        s);
    REQUIRE_FALSE(nested.ok());
    CHECK(nested.error().message.find("input[0].tools[0].tools[0]") != std::string::npos);

    auto nameless = decode_request(Protocol::OpenAIResponses, R"({"model":"m","input":"hi","tools":[{"type":"custom"}]})", s);
    REQUIRE_FALSE(nameless.ok());
    CHECK(nameless.error().message.find("custom tools need a name") != std::string::npos);
}

TEST_CASE("codex tools: calls come back in the client's form, whole answers") {
    Session s = codex_session(Protocol::OpenAIChat);
    decode(kCodexFull, s);
    const char* answer = R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"upstream-model",
     "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"multi_agent_v1__wait_agent","arguments":"{\"timeout\":5}"}},
      {"id":"call_2","type":"function","function":{"name":"apply_patch","arguments":"{\"input\":\"*** Begin Patch\\n*** End Patch\"}"}},
      {"id":"call_3","type":"function","function":{"name":"shell","arguments":"{\"command\":[\"ls\"]}"}}]}}],
     "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})";
    auto decoded = decode_response(Protocol::OpenAIChat, answer, s);
    REQUIRE(decoded.ok());
    auto out = parse(encode_response(Protocol::OpenAIResponses, decoded.value(), s));
    const JsonValue* items = member(out, "output");
    REQUIRE(is_array(items));
    REQUIRE(items->Size() == 3);
    const JsonValue& wait = (*items)[0];
    CHECK(str(wait, "type") == "function_call");
    CHECK(str(wait, "namespace") == "multi_agent_v1");
    CHECK(str(wait, "name") == "wait_agent");
    CHECK(str(wait, "arguments") == "{\"timeout\":5}");
    CHECK(str(wait, "call_id") == "call_1");
    const JsonValue& patch = (*items)[1];
    CHECK(str(patch, "type") == "custom_tool_call");
    CHECK(str(patch, "name") == "apply_patch");
    CHECK(str(patch, "input") == "*** Begin Patch\n*** End Patch");
    CHECK(str(patch, "call_id") == "call_2");
    CHECK(str(patch, "id").rfind("ctc_", 0) == 0);
    CHECK_FALSE(member(patch, "namespace"));
    CHECK_FALSE(member(patch, "arguments"));
    const JsonValue& shell = (*items)[2];
    CHECK(str(shell, "type") == "function_call");
    CHECK(str(shell, "name") == "shell");
    CHECK_FALSE(member(shell, "namespace"));
}

TEST_CASE("codex tools: calls come back in the client's form, streamed") {
    Session s = codex_session(Protocol::Anthropic);
    decode(kCodexFull, s);
    auto enc = make_responses_stream_encoder(s);
    REQUIRE(enc);
    send(*enc, Ev::Type::Start, {}, 0, "msg_01", "upstream-model");
    send(*enc, Ev::Type::ToolStart, {}, 0, "toolu_1", "apply_patch");
    send(*enc, Ev::Type::ToolArgs, "{\"inp", 0);
    send(*enc, Ev::Type::ToolArgs, "ut\":\"a\\nb\"}", 0);
    send(*enc, Ev::Type::ToolEnd, {}, 0);
    send(*enc, Ev::Type::ToolStart, {}, 1, "toolu_2", "multi_agent_v1__spawn_agent");
    send(*enc, Ev::Type::ToolArgs, "{\"task\":\"t\"}", 1);
    send(*enc, Ev::Type::ToolEnd, {}, 1);
    Ev f;
    f.type = Ev::Type::Finish;
    f.finish = ir::Finish::ToolCalls;
    enc->on(f);
    send(*enc, Ev::Type::Done);
    auto evs = split_sse(enc->out);

    std::vector<std::string> seen;
    std::vector<const test::SseOut*> done_items;
    for (const auto& e : evs) {
        seen.push_back(e.name);
        if (e.name == "response.output_item.done") done_items.push_back(&e);
    }
    auto count = [&](const char* n) { return std::count(seen.begin(), seen.end(), std::string(n)); };
    CHECK(count("response.custom_tool_call_input.delta") == 1);
    CHECK(count("response.custom_tool_call_input.done") == 1);
    CHECK(count("response.function_call_arguments.delta") == 1);  // the namespaced function's only
    CHECK(count("response.function_call_arguments.done") == 1);
    for (const auto& e : evs) {
        if (e.name == "response.custom_tool_call_input.delta") CHECK(str(e.data, "delta") == "a\nb");
        if (e.name == "response.output_item.added" && str(*member(e.data, "item"), "type") == "custom_tool_call")
            CHECK(str(*member(e.data, "item"), "input") == "");
        if (e.name == "response.function_call_arguments.done") CHECK(str(e.data, "name") == "spawn_agent");
    }
    REQUIRE(done_items.size() == 2);
    const JsonValue& patch = *member(done_items[0]->data, "item");
    CHECK(str(patch, "type") == "custom_tool_call");
    CHECK(str(patch, "name") == "apply_patch");
    CHECK(str(patch, "input") == "a\nb");
    CHECK(str(patch, "call_id") == "toolu_1");
    const JsonValue& spawn = *member(done_items[1]->data, "item");
    CHECK(str(spawn, "type") == "function_call");
    CHECK(str(spawn, "namespace") == "multi_agent_v1");
    CHECK(str(spawn, "name") == "spawn_agent");
    CHECK(str(spawn, "arguments") == "{\"task\":\"t\"}");

    // The completed response lists both in the client's form too.
    const test::SseOut& completed = evs.back();
    CHECK(completed.name == "response.completed");
    const JsonValue* output = member(*member(completed.data, "response"), "output");
    REQUIRE(is_array(output));
    REQUIRE(output->Size() == 2);
    CHECK(str((*output)[0], "type") == "custom_tool_call");
    CHECK(str((*output)[1], "namespace") == "multi_agent_v1");
}

TEST_CASE("codex tools: replayed custom and namespaced calls reach every wire as function calls") {
    const char* body = R"({"model":"gpt-5-codex","input":[
     {"type":"message","role":"user","content":[{"type":"input_text","text":"go"}]},
     {"type":"function_call","id":"fc_1","call_id":"call_a","namespace":"multi_agent_v1","name":"spawn_agent","arguments":"{\"task\":\"t\"}"},
     {"type":"function_call_output","id":"fco_1","call_id":"call_a","output":"spawned"},
     {"type":"custom_tool_call","id":"ctc_1","call_id":"call_b","name":"apply_patch","input":"*** Begin Patch\n*** End Patch"},
     {"type":"custom_tool_call_output","call_id":"call_b","output":"Done!"}],
     "tools":[{"type":"custom","name":"apply_patch","description":"Edit files"},
      {"type":"namespace","name":"multi_agent_v1","tools":[{"type":"function","name":"spawn_agent","parameters":{"type":"object"}}]}]})";
    Session s = codex_session(Protocol::Anthropic);
    ir::Request r = decode(body, s);
    REQUIRE(r.messages.size() == 5);  // user, call, result, call, result
    const ir::Part& spawn = r.messages[1].parts.at(0);
    CHECK(spawn.kind == ir::PartKind::ToolCall);
    CHECK(spawn.name == "multi_agent_v1__spawn_agent");
    const ir::Part& spawned = r.messages[2].parts.at(0);
    CHECK(spawned.kind == ir::PartKind::ToolResult);
    CHECK(spawned.name == "multi_agent_v1__spawn_agent");
    const ir::Part& patch = r.messages[3].parts.at(0);
    CHECK(patch.name == "apply_patch");
    CHECK(patch.args_json == "{\"input\":\"*** Begin Patch\\n*** End Patch\"}");
    const ir::Part& done = r.messages[4].parts.at(0);
    CHECK(done.kind == ir::PartKind::ToolResult);
    CHECK(done.call_id == "call_b");
    CHECK(done.name == "apply_patch");

    for (Protocol wire : kFunctionWires) {
        CAPTURE(protocol_name(wire));
        Session ws = codex_session(wire);
        ir::Request wr = decode(body, ws);
        auto out = encode_request(wire, wr, ws);
        REQUIRE(out.ok());
        const std::string& text = out.value();
        CHECK(text.find("multi_agent_v1__spawn_agent") != std::string::npos);
        CHECK(text.find("*** Begin Patch") != std::string::npos);
        CHECK(text.find("Done!") != std::string::npos);
    }
}

TEST_CASE("codex tools: tool_choice names a custom or namespaced tool by its flat name") {
    Session s = codex_session(Protocol::OpenAIChat);
    auto custom = decode_request(Protocol::OpenAIResponses,
                                 R"({"model":"m","input":"hi","tools":[{"type":"custom","name":"apply_patch"}],
                                     "tool_choice":{"type":"custom","name":"apply_patch"}})",
                                 s);
    REQUIRE(custom.ok());
    CHECK(custom->tool_choice.mode == ir::ToolChoiceMode::Named);
    CHECK(custom->tool_choice.name == "apply_patch");
    auto allowed = decode_request(Protocol::OpenAIResponses,
                                  R"({"model":"m","input":"hi","tool_choice":{"type":"allowed_tools","mode":"auto","tools":[
                                      {"type":"function","namespace":"multi_agent_v1","name":"wait_agent"},
                                      {"type":"custom","name":"exec"},{"type":"web_search"}]}})",
                                  s);
    REQUIRE(allowed.ok());
    CHECK(allowed->tool_choice.allowed == std::vector<std::string>{"multi_agent_v1__wait_agent", "exec"});
}

namespace {

// Codex's client-run tool search, and a later turn that replays it: the
// search found a namespace of deferred tools, and the model called one.
const char* kToolSearchTool = R"({"type":"tool_search","execution":"client","description":"Find more tools",
  "parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}})";

std::string tool_search_body(const char* execution) {
    return std::string(R"({"model":"m","input":"deploy it","tools":[{"type":"function","name":"shell","parameters":{"type":"object","properties":{}}},
      {"type":"tool_search","execution":")") +
           execution + R"(","description":"Find more tools","parameters":{"type":"object","properties":{"query":{"type":"string"}}}}]})";
}

const char* kToolSearchReplay = R"({"model":"m","input":[
  {"type":"message","role":"user","content":"deploy it"},
  {"type":"tool_search_call","id":"tsc_1","call_id":"call_ts","status":"completed","execution":"client","arguments":{"query":"deploy"}},
  {"type":"tool_search_output","call_id":"call_ts","status":"completed","execution":"client","tools":[
    {"type":"namespace","name":"deploy","description":"Deployment","tools":[
      {"type":"function","name":"read_guide","description":"Read the guide","defer_loading":true,
       "parameters":{"type":"object","properties":{"path":{"type":"string"}}}}]}]},
  {"type":"function_call","call_id":"call_rg","namespace":"deploy","name":"read_guide","arguments":"{\"path\":\"d.md\"}"},
  {"type":"function_call_output","call_id":"call_rg","output":"use staging"}],
 "tools":[)" "{\"type\":\"tool_search\",\"execution\":\"client\",\"description\":\"Find more tools\"}" R"(]})";

}  // namespace

TEST_CASE("codex tool_search: run by the client, it is a function to every wire; run by the server, noted") {
    for (Protocol wire : kFunctionWires) {
        CAPTURE(protocol_name(wire));
        Session s = codex_session(wire);
        ir::Request r = decode(tool_search_body("client").c_str(), s);
        CHECK(names(r) == std::vector<std::string>{"shell", "tool_search"});
        CHECK(s.dropped_tools.empty());
        const Session::ClientTool* ts = s.client_tool("tool_search");
        REQUIRE(ts);
        CHECK(ts->tool_search);
        auto body = encode_request(wire, r, s);
        REQUIRE(body.ok());
        CHECK(declared(wire, body.value()) == std::set<std::string>{"shell", "tool_search"});

        Session h = codex_session(wire);
        ir::Request hr = decode(tool_search_body("server").c_str(), h);
        CHECK(names(hr) == std::vector<std::string>{"shell"});
        CHECK(h.dropped_tools == std::vector<std::string>{"tool_search"});
    }
    // Its parameters go as given.
    Session s = codex_session(Protocol::Anthropic);
    std::string body = std::string(R"({"model":"m","input":"x","tools":[)") + kToolSearchTool + "]}";
    ir::Request r = decode(body.c_str(), s);
    REQUIRE(r.tools.size() == 1);
    CHECK(parse(r.tools[0].parameters_json)["required"][0] == "query");
}

TEST_CASE("codex tool_search: the model's search comes back as a tool_search_call, whole and streamed") {
    Session s = codex_session(Protocol::OpenAIChat);
    decode(tool_search_body("client").c_str(), s);
    const char* answer = R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"u",
     "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[
      {"id":"call_9","type":"function","function":{"name":"tool_search","arguments":"{\"query\":\"deploy\"}"}}]}}]})";
    auto decoded = decode_response(Protocol::OpenAIChat, answer, s);
    REQUIRE(decoded.ok());
    auto out = parse(encode_response(Protocol::OpenAIResponses, decoded.value(), s));
    const JsonValue& item = (*member(out, "output"))[0];
    CHECK(str(item, "type") == "tool_search_call");
    CHECK(str(item, "execution") == "client");
    CHECK(str(item, "call_id") == "call_9");
    REQUIRE(is_object(member(item, "arguments")));
    CHECK(str(*member(item, "arguments"), "query") == "deploy");

    auto enc = make_responses_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "x", "u");
    send(*enc, Ev::Type::ToolStart, {}, 0, "call_9", "tool_search");
    send(*enc, Ev::Type::ToolArgs, "{\"query\":", 0);
    send(*enc, Ev::Type::ToolArgs, "\"deploy\"}", 0);
    send(*enc, Ev::Type::ToolEnd, {}, 0);
    send(*enc, Ev::Type::Done);
    const JsonValue* done = nullptr;
    auto evs = split_sse(enc->out);
    for (const auto& e : evs) {
        CHECK(e.name.find("function_call_arguments") == std::string::npos);
        CHECK(e.name.find("custom_tool_call") == std::string::npos);
        if (e.name == "response.output_item.added") CHECK(str(*member(e.data, "item"), "type") == "tool_search_call");
        if (e.name == "response.output_item.done") done = member(e.data, "item");
    }
    REQUIRE(done);
    CHECK(str(*done, "type") == "tool_search_call");
    CHECK(str(*member(*done, "arguments"), "query") == "deploy");
}

TEST_CASE("codex tool_search: a replayed search declares what it loaded and reaches every wire as a call") {
    for (Protocol wire : kFunctionWires) {
        CAPTURE(protocol_name(wire));
        Session s = codex_session(wire);
        ir::Request r = decode(kToolSearchReplay, s);
        CHECK(names(r) == std::vector<std::string>{"tool_search", "deploy__read_guide"});
        REQUIRE(r.messages.size() == 5);  // user, search, its result, the call, its output
        const ir::Part& search = r.messages[1].parts.at(0);
        CHECK(search.kind == ir::PartKind::ToolCall);
        CHECK(search.name == "tool_search");
        CHECK(parse(search.args_json)["query"] == "deploy");
        const ir::Part& found = r.messages[2].parts.at(0);
        CHECK(found.kind == ir::PartKind::ToolResult);
        CHECK(found.call_id == "call_ts");
        CHECK(found.content.at(0).text.find("- deploy__read_guide: Read the guide") != std::string::npos);
        auto body = encode_request(wire, r, s);
        REQUIRE(body.ok());
        CHECK(declared(wire, body.value()) == std::set<std::string>{"tool_search", "deploy__read_guide"});
        CHECK(body.value().find("deploy__read_guide") != std::string::npos);
    }
}

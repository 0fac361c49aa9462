// Chat Completions clients' custom (freeform) tools through translation:
// declared natively to Responses (and Chat) upstreams and as one-string
// functions to Anthropic and Gemini; calls back as Chat custom calls, whole
// and streamed (input as text pieces); replayed history; tool_choice. And a
// Responses client's custom tools toward a Chat upstream, which has them.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/custom_tool.h"
#include "translate/json_util.h"
#include "translate/stream_limits.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;
using test::parse;
using test::send;
using test::str;
using Ev = ir::StreamEvent;

namespace {

const char* kGrammar = "start: begin_patch hunk+ end_patch";

// A Chat client with two custom tools (free text and a grammar) and a function.
const char* kChatCustom = R"({"model":"gpt-5","messages":[{"role":"user","content":"fix it"}],
 "tools":[
  {"type":"custom","custom":{"name":"apply_patch","description":"Edit files",
    "format":{"type":"grammar","grammar":{"definition":"start: begin_patch hunk+ end_patch","syntax":"lark"}}}},
  {"type":"custom","custom":{"name":"notes","format":{"type":"text"}}},
  {"type":"function","function":{"name":"shell","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}}]})";

// The same with history: a custom call answered, and tool_choice forcing it.
const char* kChatHistory = R"({"model":"gpt-5","messages":[
  {"role":"user","content":"fix it"},
  {"role":"assistant","content":null,"tool_calls":[
    {"id":"call_p1","type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch\n\"x\" \\ é\n*** End Patch"}}]},
  {"role":"tool","tool_call_id":"call_p1","content":"Done!"},
  {"role":"user","content":"again"}],
 "tools":[{"type":"custom","custom":{"name":"apply_patch","description":"Edit files"}}],
 "tool_choice":{"type":"custom","custom":{"name":"apply_patch"}}})";

const char* kInput = "*** Begin Patch\n\"x\" \\ é\n*** End Patch";

Session chat_session(Protocol upstream) {
    Session s;
    s.client = Protocol::OpenAIChat;
    s.upstream = upstream;
    s.client_model = "gpt-5";
    s.upstream_model = "upstream-model";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

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

const JsonValue* find_named(const JsonValue* arr, const char* key, const char* name) {
    if (!is_array(arr)) return nullptr;
    for (const auto& v : arr->GetArray())
        if (str(v, key) == name) return &v;
    return nullptr;
}

// The Chat client's answer: message.tool_calls of a chat.completion.
const JsonValue& tool_calls(const rapidjson::Document& answer) {
    const JsonValue* choices = member(answer, "choices");
    REQUIRE(is_array(choices));
    const JsonValue* calls = member(*member((*choices)[0], "message"), "tool_calls");
    REQUIRE(is_array(calls));
    return *calls;
}

void check_custom_call(const JsonValue& c, const char* id, const char* name, const std::string& input) {
    CHECK(str(c, "type") == "custom");
    CHECK(str(c, "id") == id);
    CHECK_FALSE(member(c, "function"));
    const JsonValue* cu = member(c, "custom");
    REQUIRE(is_object(cu));
    CHECK(str(*cu, "name") == name);
    CHECK(str(*cu, "input") == input);
}

// A Chat client stream's chunks -> its tool_calls deltas, in order.
std::vector<rapidjson::Document> chat_chunks(const std::string& out) {
    std::vector<rapidjson::Document> res;
    size_t pos = 0;
    while (pos < out.size()) {
        size_t end = out.find("\n\n", pos);
        REQUIRE(end != std::string::npos);
        std::string block = out.substr(pos, end - pos);
        pos = end + 2;
        REQUIRE(block.rfind("data: ", 0) == 0);
        if (block == "data: [DONE]") continue;
        res.push_back(parse(block.substr(6)));
    }
    return res;
}

struct Streamed {
    std::string id, name, type, input;
    int starts = 0;
    bool saw_arguments = false;
    std::string finish;
};

// What a Chat client stream said about its tool call 0.
Streamed read_stream(const std::string& out) {
    Streamed s;
    for (const auto& ch : chat_chunks(out)) {
        const JsonValue* choices = member(ch, "choices");
        if (!is_array(choices) || choices->Empty()) continue;
        const JsonValue& c0 = (*choices)[0];
        if (std::string f = str(c0, "finish_reason"); f != "<none>") s.finish = f;
        const JsonValue* tcs = member(*member(c0, "delta"), "tool_calls");
        if (!is_array(tcs)) continue;
        for (const auto& tc : tcs->GetArray()) {
            REQUIRE(get_int(member(tc, "index")).value_or(-1) == 0);
            if (member(tc, "function")) s.saw_arguments = true;
            if (member(tc, "id")) {
                ++s.starts;
                s.id = str(tc, "id");
                s.type = str(tc, "type");
            }
            const JsonValue* cu = member(tc, "custom");
            if (!is_object(cu)) continue;
            if (member(*cu, "name")) s.name = str(*cu, "name");
            if (const JsonValue* in = member(*cu, "input"); in && in->IsString()) s.input += str(*cu, "input");
        }
    }
    return s;
}

}  // namespace

TEST_CASE("chat custom tools: declared natively to Responses, as one-string functions to Anthropic and Gemini") {
    Session s = chat_session(Protocol::Anthropic);
    ir::Request r = decode(Protocol::OpenAIChat, kChatCustom, s);
    REQUIRE(r.tools.size() == 3);
    CHECK(r.tools[0].custom);
    CHECK(r.tools[0].grammar_syntax == "lark");
    CHECK(r.tools[0].grammar_definition == kGrammar);
    CHECK(r.tools[1].custom);
    CHECK(r.tools[1].grammar_definition.empty());
    CHECK_FALSE(r.tools[2].custom);
    const Session::ClientTool* ct = s.client_tool("apply_patch");
    REQUIRE(ct);
    CHECK(ct->custom);
    CHECK(s.client_tool("shell") == nullptr);

    {  // Anthropic: a tool whose one parameter carries the grammar
        auto body = parse(encode(Protocol::Anthropic, r, s));
        const JsonValue* t = find_named(member(body, "tools"), "name", "apply_patch");
        REQUIRE(t);
        CHECK(str(*t, "description") == "Edit files");
        const JsonValue* input = member(*member(*member(*t, "input_schema"), "properties"), "input");
        REQUIRE(input);
        CHECK(str(*input, "type") == "string");
        CHECK(str(*input, "description").find(std::string("lark grammar:\n") + kGrammar) != std::string::npos);
        CHECK(std::string(member(*member(*t, "input_schema"), "required")->GetArray()[0].GetString()) == "input");
        CHECK(find_named(member(body, "tools"), "name", "notes"));
    }
    {  // Gemini: a function declaration
        Session gs = chat_session(Protocol::Gemini);
        ir::Request gr = decode(Protocol::OpenAIChat, kChatCustom, gs);
        auto body = parse(encode(Protocol::Gemini, gr, gs));
        const JsonValue* decls = member((*member(body, "tools"))[0], "functionDeclarations");
        const JsonValue* t = find_named(decls, "name", "apply_patch");
        REQUIRE(t);
        std::string params = to_json(*member(*t, member(*t, "parameters") ? "parameters" : "parametersJsonSchema"));
        CHECK(params.find("\"input\"") != std::string::npos);
        CHECK(params.find("begin_patch hunk+") != std::string::npos);
    }
    {  // Responses: a custom tool as the Responses API spells it
        Session rs = chat_session(Protocol::OpenAIResponses);
        ir::Request rr = decode(Protocol::OpenAIChat, kChatCustom, rs);
        auto body = parse(encode(Protocol::OpenAIResponses, rr, rs));
        const JsonValue* t = find_named(member(body, "tools"), "name", "apply_patch");
        REQUIRE(t);
        CHECK(str(*t, "type") == "custom");
        CHECK(str(*t, "description") == "Edit files");
        CHECK_FALSE(member(*t, "parameters"));
        const JsonValue* f = member(*t, "format");
        REQUIRE(is_object(f));
        CHECK(str(*f, "type") == "grammar");
        CHECK(str(*f, "syntax") == "lark");
        CHECK(str(*f, "definition") == kGrammar);
        const JsonValue* notes = find_named(member(body, "tools"), "name", "notes");
        REQUIRE(notes);
        CHECK(str(*member(*notes, "format"), "type") == "text");
        const JsonValue* shell = find_named(member(body, "tools"), "name", "shell");
        REQUIRE(shell);
        CHECK(str(*shell, "type") == "function");
    }
}

TEST_CASE("chat custom tools: a custom tool needs its object and a name") {
    Session s = chat_session(Protocol::Anthropic);
    auto bare = decode_request(Protocol::OpenAIChat,
                               R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom"}]})", s);
    REQUIRE_FALSE(bare.ok());
    CHECK(bare.error().code == 400);
    auto nameless = decode_request(
        Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{}}]})", s);
    REQUIRE_FALSE(nameless.ok());
    CHECK(nameless.error().message.find("name") != std::string::npos);
    auto other = decode_request(
        Protocol::OpenAIChat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"teleport"}]})", s);
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().message.find("'teleport'") != std::string::npos);
}

TEST_CASE("chat custom tools: calls come back as custom calls, whole answers from every wire") {
    struct Case {
        Protocol wire;
        const char* answer;
        const char* id;
    };
    const Case cases[] = {
        {Protocol::Anthropic,
         R"({"id":"msg_1","type":"message","role":"assistant","model":"upstream-model","stop_reason":"tool_use",
            "content":[{"type":"tool_use","id":"toolu_1","name":"apply_patch","input":{"input":"*** Begin Patch\n\"x\" \\ é\n*** End Patch"}},
                       {"type":"tool_use","id":"toolu_2","name":"shell","input":{"cmd":"ls"}}],
            "usage":{"input_tokens":5,"output_tokens":3}})",
         "toolu_1"},
        {Protocol::Gemini,
         R"({"candidates":[{"content":{"role":"model","parts":[
              {"functionCall":{"name":"apply_patch","args":{"input":"*** Begin Patch\n\"x\" \\ é\n*** End Patch"}}},
              {"functionCall":{"name":"shell","args":{"cmd":"ls"}}}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3},"modelVersion":"upstream-model"})",
         nullptr},
        {Protocol::OpenAIResponses,
         R"({"id":"resp_1","object":"response","status":"completed","model":"upstream-model","output":[
              {"id":"ctc_1","type":"custom_tool_call","status":"completed","call_id":"call_c1","name":"apply_patch",
               "input":"*** Begin Patch\n\"x\" \\ é\n*** End Patch"},
              {"id":"fc_1","type":"function_call","status":"completed","call_id":"call_f1","name":"shell","arguments":"{\"cmd\":\"ls\"}"}],
            "usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}})",
         "call_c1"},
    };
    for (const Case& c : cases) {
        CAPTURE(protocol_name(c.wire));
        Session s = chat_session(c.wire);
        decode(Protocol::OpenAIChat, kChatCustom, s);
        auto ir = decode_response(c.wire, c.answer, s);
        INFO((ir ? std::string() : ir.error().message));
        REQUIRE(ir.ok());
        auto out = parse(encode_response(Protocol::OpenAIChat, ir.value(), s));
        const JsonValue& calls = tool_calls(out);
        REQUIRE(calls.Size() == 2);
        std::string id = c.id ? c.id : str(calls[0], "id");
        check_custom_call(calls[0], id.c_str(), "apply_patch", kInput);
        CHECK(str(calls[1], "type") == "function");
        CHECK(str(*member(calls[1], "function"), "arguments") == "{\"cmd\":\"ls\"}");
        CHECK(str((*member(out, "choices"))[0], "finish_reason") == "tool_calls");
    }
}

TEST_CASE("chat custom tools: streamed calls carry the input as text pieces") {
    // Arguments cut inside escapes, a surrogate pair and a UTF-8 character.
    const std::string args = R"({"input": "line\n\"q\" \\ caf)" "\xC3\xA9" R"( \u2192 \ud83d\ude00 end"})";
    const std::string want = "line\n\"q\" \\ caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80 end";
    for (size_t cut = 1; cut < args.size(); ++cut) {
        for (size_t cut2 : {cut, std::min(args.size(), cut + 1), std::min(args.size(), cut + 3)}) {
            CAPTURE(cut);
            CAPTURE(cut2);
            Session s = chat_session(Protocol::Anthropic);
            decode(Protocol::OpenAIChat, kChatCustom, s);
            auto enc = make_chat_stream_encoder(s);
            send(*enc, Ev::Type::Start, {}, 0, "msg_1", "upstream-model");
            send(*enc, Ev::Type::ToolStart, {}, 0, "toolu_1", "apply_patch");
            send(*enc, Ev::Type::ToolArgs, std::string_view(args).substr(0, cut), 0);
            send(*enc, Ev::Type::ToolArgs, std::string_view(args).substr(cut, cut2 - cut), 0);
            send(*enc, Ev::Type::ToolArgs, std::string_view(args).substr(cut2), 0);
            send(*enc, Ev::Type::ToolEnd, {}, 0);
            Ev f;
            f.type = Ev::Type::Finish;
            f.finish = ir::Finish::ToolCalls;
            enc->on(f);
            send(*enc, Ev::Type::Done);
            Streamed got = read_stream(enc->out);
            CHECK(got.starts == 1);
            CHECK(got.type == "custom");
            CHECK(got.id == "toolu_1");
            CHECK(got.name == "apply_patch");
            CHECK(got.input == want);
            CHECK_FALSE(got.saw_arguments);
            CHECK(got.finish == "tool_calls");
            // Every chunk is valid JSON (UTF-8 never cut): chat_chunks parsed them all.
        }
    }
}

TEST_CASE("chat custom tools: streamed input is passed on as it comes, not held to the end") {
    Session s = chat_session(Protocol::Anthropic);
    decode(Protocol::OpenAIChat, kChatCustom, s);
    auto enc = make_chat_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "msg_1", "upstream-model");
    send(*enc, Ev::Type::ToolStart, {}, 0, "toolu_1", "apply_patch");
    send(*enc, Ev::Type::ToolArgs, "{\"input\":\"first ", 0);
    CHECK(read_stream(enc->out).input == "first ");
    send(*enc, Ev::Type::ToolArgs, "second", 0);
    CHECK(read_stream(enc->out).input == "first second");
    send(*enc, Ev::Type::ToolArgs, "\"}", 0);
    send(*enc, Ev::Type::ToolEnd, {}, 0);
    send(*enc, Ev::Type::Done);
    CHECK(read_stream(enc->out).input == "first second");
}

TEST_CASE("chat custom tools: arguments of another shape are told whole at the end") {
    const char* shapes[][2] = {
        {"{\"other\":1,\"input\":\"late\"}", "late"},
        {"\"just a string\"", "just a string"},
        {"{}", ""},
        {"not json", "not json"},
        {"{\"input\":5}", "{\"input\":5}"},
    };
    for (auto& sh : shapes) {
        CAPTURE(sh[0]);
        Session s = chat_session(Protocol::Gemini);
        decode(Protocol::OpenAIChat, kChatCustom, s);
        auto enc = make_chat_stream_encoder(s);
        send(*enc, Ev::Type::ToolStart, {}, 0, "call_1", "notes");
        std::string_view a = sh[0];
        send(*enc, Ev::Type::ToolArgs, a.substr(0, a.size() / 2), 0);
        send(*enc, Ev::Type::ToolArgs, a.substr(a.size() / 2), 0);
        send(*enc, Ev::Type::ToolEnd, {}, 0);
        send(*enc, Ev::Type::Done);
        CHECK(read_stream(enc->out).input == sh[1]);
    }
    // No arguments at all: an empty input.
    Session s = chat_session(Protocol::Gemini);
    decode(Protocol::OpenAIChat, kChatCustom, s);
    auto enc = make_chat_stream_encoder(s);
    send(*enc, Ev::Type::ToolStart, {}, 0, "call_1", "notes");
    send(*enc, Ev::Type::Done);
    Streamed got = read_stream(enc->out);
    CHECK(got.type == "custom");
    CHECK(got.input == "");
}

TEST_CASE("chat custom tools: held arguments are bounded") {
    CustomInputStream in(64);
    std::string out;
    CHECK(in.feed("{\"other\":\"", out));
    CHECK_FALSE(in.feed(std::string(100, 'x'), out));
    CustomInputStream body(8);
    std::string text;
    CHECK(body.feed("{\"input\":\"", text));
    CHECK(body.feed(std::string(100, 'y'), text));  // decoded as it comes: nothing held
    CHECK(text == std::string(100, 'y'));
    CHECK(body.held() == 0);
}

TEST_CASE("chat custom tools: what a stream's custom calls hold is bounded together") {
    Session s = chat_session(Protocol::Anthropic);
    decode(Protocol::OpenAIChat, kChatCustom, s);
    auto enc = make_chat_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "msg_1", "upstream-model");
    // Arguments of another shape are held whole: two calls, each under the bound, not together.
    const std::string half(stream_limits::kMaxHeld / 2 + 1, 'x');
    const std::string head = "{\"other\":\"";
    for (int i = 0; i < 2; ++i) {
        send(*enc, Ev::Type::ToolStart, {}, i, i == 0 ? "toolu_1" : "toolu_2", "apply_patch");
        send(*enc, Ev::Type::ToolArgs, head, i);
        send(*enc, Ev::Type::ToolArgs, half, i);
    }
    CHECK(enc->failed());
    CHECK(enc->finished());
    CHECK(enc->out.find("\"error\"") != std::string::npos);
}

TEST_CASE("chat custom tools: upstream streams of every wire reach the client as custom calls") {
    struct Case {
        Protocol wire;
        std::vector<std::string> events;
    };
    const std::string esc = R"(*** Begin Patch\n\"x\" \\ é\n*** End Patch)";
    const Case cases[] = {
        {Protocol::Anthropic,
         {R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"upstream-model","content":[],"usage":{"input_tokens":5,"output_tokens":1}}})",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"apply_patch","input":{}}})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"input\": \"*** Begin Patch\\n\\\"x"}})",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\\\" \\\\ é\\n*** End Patch\"}"}})",
          R"({"type":"content_block_stop","index":0})",
          R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})",
          R"({"type":"message_stop"})"}},
        {Protocol::Gemini,
         {R"({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"apply_patch","args":{"input":")" + esc +
              R"("}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3},"modelVersion":"upstream-model"})"}},
        {Protocol::OpenAIResponses,
         {R"({"type":"response.created","response":{"id":"resp_1","model":"upstream-model","status":"in_progress","output":[]}})",
          R"({"type":"response.output_item.added","output_index":0,"item":{"id":"ctc_1","type":"custom_tool_call","status":"in_progress","call_id":"call_c1","name":"apply_patch","input":""}})",
          R"({"type":"response.custom_tool_call_input.delta","item_id":"ctc_1","output_index":0,"delta":"*** Begin Patch\n\"x"})",
          R"({"type":"response.custom_tool_call_input.delta","item_id":"ctc_1","output_index":0,"delta":"\" \\ é\n*** End Patch"})",
          R"({"type":"response.custom_tool_call_input.done","item_id":"ctc_1","output_index":0,"input":")" + esc + R"("})",
          R"({"type":"response.output_item.done","output_index":0,"item":{"id":"ctc_1","type":"custom_tool_call","status":"completed","call_id":"call_c1","name":"apply_patch","input":")" +
              esc + R"("}})",
          R"({"type":"response.completed","response":{"id":"resp_1","model":"upstream-model","status":"completed","output":[],"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}}})"}},
    };
    for (const Case& c : cases) {
        CAPTURE(protocol_name(c.wire));
        Session s = chat_session(c.wire);
        s.stream = true;
        decode(Protocol::OpenAIChat, kChatCustom, s);
        auto dec = make_stream_decoder(c.wire, s);
        auto enc = make_chat_stream_encoder(s);
        REQUIRE(dec);
        for (const std::string& e : c.events) test::feed(*dec, *enc, e);
        dec->on_close(*enc);
        Streamed got = read_stream(enc->out);
        CHECK(got.type == "custom");
        CHECK(got.name == "apply_patch");
        CHECK(got.input == kInput);
        CHECK_FALSE(got.saw_arguments);
        CHECK(got.finish == "tool_calls");
    }
}

TEST_CASE("chat custom tools: replayed calls and results, and tool_choice, reach every wire") {
    {
        Session s = chat_session(Protocol::Anthropic);
        ir::Request r = decode(Protocol::OpenAIChat, kChatHistory, s);
        REQUIRE(r.messages.size() == 4);  // user, call, result, user
        const ir::Part& call = r.messages[1].parts.at(0);
        CHECK(call.kind == ir::PartKind::ToolCall);
        CHECK(call.name == "apply_patch");
        CHECK(custom_input(call.args_json) == kInput);
        const ir::Part& res = r.messages[2].parts.at(0);
        CHECK(res.kind == ir::PartKind::ToolResult);
        CHECK(res.name == "apply_patch");
        CHECK(r.tool_choice.mode == ir::ToolChoiceMode::Named);
        CHECK(r.tool_choice.name == "apply_patch");

        auto body = parse(encode(Protocol::Anthropic, r, s));
        const JsonValue& msgs = *member(body, "messages");
        const JsonValue& use = (*member(msgs[1], "content"))[0];
        CHECK(str(use, "type") == "tool_use");
        CHECK(str(use, "id") == "call_p1");
        CHECK(str(use, "name") == "apply_patch");
        CHECK(str(*member(use, "input"), "input") == kInput);
        const JsonValue& result = (*member(msgs[2], "content"))[0];
        CHECK(str(result, "type") == "tool_result");
        CHECK(str(result, "tool_use_id") == "call_p1");
        const JsonValue* tc = member(body, "tool_choice");
        REQUIRE(is_object(tc));
        CHECK(str(*tc, "type") == "tool");
        CHECK(str(*tc, "name") == "apply_patch");
    }
    {
        Session s = chat_session(Protocol::Gemini);
        ir::Request r = decode(Protocol::OpenAIChat, kChatHistory, s);
        auto body = parse(encode(Protocol::Gemini, r, s));
        const JsonValue& contents = *member(body, "contents");
        const JsonValue* fc = member((*member(contents[1], "parts"))[0], "functionCall");
        REQUIRE(is_object(fc));
        CHECK(str(*fc, "name") == "apply_patch");
        CHECK(str(*member(*fc, "args"), "input") == kInput);
        const JsonValue* fr = member((*member(contents[2], "parts"))[0], "functionResponse");
        REQUIRE(is_object(fr));
        CHECK(str(*fr, "name") == "apply_patch");
        const JsonValue* fcc = member(*member(body, "toolConfig"), "functionCallingConfig");
        REQUIRE(is_object(fcc));
        CHECK(str(*fcc, "mode") == "ANY");
        CHECK(std::string((*member(*fcc, "allowedFunctionNames"))[0].GetString()) == "apply_patch");
    }
    {
        Session s = chat_session(Protocol::OpenAIResponses);
        ir::Request r = decode(Protocol::OpenAIChat, kChatHistory, s);
        auto body = parse(encode(Protocol::OpenAIResponses, r, s));
        const JsonValue* call = find_named(member(body, "input"), "type", "custom_tool_call");
        REQUIRE(call);
        CHECK(str(*call, "call_id") == "call_p1");
        CHECK(str(*call, "name") == "apply_patch");
        CHECK(str(*call, "input") == kInput);
        CHECK_FALSE(member(*call, "arguments"));
        const JsonValue* out = find_named(member(body, "input"), "type", "custom_tool_call_output");
        REQUIRE(out);
        CHECK(str(*out, "call_id") == "call_p1");
        CHECK(str(*out, "output") == "Done!");
        CHECK_FALSE(find_named(member(body, "input"), "type", "function_call_output"));
        const JsonValue* tc = member(body, "tool_choice");
        REQUIRE(is_object(tc));
        CHECK(str(*tc, "type") == "custom");
        CHECK(str(*tc, "name") == "apply_patch");
    }
}

TEST_CASE("chat custom tools: allowed_tools may name custom tools") {
    const char* body = R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"custom","custom":{"name":"apply_patch"}},{"type":"function","function":{"name":"shell"}}],
      "tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[
        {"type":"custom","custom":{"name":"apply_patch"}},{"type":"function","function":{"name":"shell"}}]}}})";
    Session s = chat_session(Protocol::OpenAIResponses);
    ir::Request r = decode(Protocol::OpenAIChat, body, s);
    CHECK(r.tool_choice.mode == ir::ToolChoiceMode::Required);
    CHECK(r.tool_choice.allowed == std::vector<std::string>{"apply_patch", "shell"});
    auto out = parse(encode(Protocol::OpenAIResponses, r, s));
    const JsonValue* list = member(*member(out, "tool_choice"), "tools");
    REQUIRE(is_array(list));
    CHECK(str((*list)[0], "type") == "custom");
    CHECK(str((*list)[0], "name") == "apply_patch");
    CHECK(str((*list)[1], "type") == "function");
}

// ---------------------------------------------------------------- Responses client, Chat upstream

namespace {

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
    check_custom_call(*call, "call_b", "apply_patch", "*** Begin Patch\n*** End Patch");
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

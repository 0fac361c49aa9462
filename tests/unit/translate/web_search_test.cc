// The hosted web search across wires: each client's offer declared in each
// upstream's form (or left out, noted), other clients' built-in tool kinds,
// and the searches an upstream ran told back in the client's protocol,
// whole and streamed.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/sse.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;
using test::parse;
using test::split_sse;
using test::str;

namespace {

Session session(Protocol client, Protocol upstream) {
    Session s;
    s.client = client;
    s.upstream = upstream;
    s.client_model = "client-model";
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

// The upstream body's tools array (null when there is none).
const JsonValue* tools_of(const rapidjson::Document& d) { return member(d, "tools"); }

const char* kResponsesOffer = R"({"model":"m","input":"news?","tools":[
  {"type":"web_search","filters":{"allowed_domains":["example.org"]},
   "user_location":{"type":"approximate","city":"Lyon","country":"FR"}}]})";
const char* kAnthropicOffer = R"({"model":"m","max_tokens":100,"messages":[{"role":"user","content":"news?"}],
  "tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3,"blocked_domains":["spam.example"]}]})";
const char* kGeminiOffer = R"({"contents":[{"role":"user","parts":[{"text":"news?"}]}],"tools":[{"googleSearch":{}}]})";
const char* kChatOffer = R"({"model":"m","messages":[{"role":"user","content":"news?"}],
  "web_search_options":{"user_location":{"type":"approximate","approximate":{"country":"FR"}}}})";

}  // namespace

TEST_CASE("web search: every client's offer is read into the IR") {
    struct Case {
        Protocol client;
        const char* body;
    } cases[] = {{Protocol::OpenAIResponses, kResponsesOffer},
                 {Protocol::Anthropic, kAnthropicOffer},
                 {Protocol::Gemini, kGeminiOffer},
                 {Protocol::OpenAIChat, kChatOffer}};
    for (const auto& c : cases) {
        CAPTURE(protocol_name(c.client));
        Session s = session(c.client, Protocol::Anthropic);
        ir::Request r = decode(c.client, c.body, s);
        REQUIRE(r.web_search);
        CHECK(r.tools.empty());
        CHECK(s.dropped_tools.empty());
    }
    Session s = session(Protocol::OpenAIResponses, Protocol::Anthropic);
    ir::Request r = decode(Protocol::OpenAIResponses, kResponsesOffer, s);
    CHECK(r.web_search->allowed_domains == std::vector<std::string>{"example.org"});
    CHECK(r.web_search->city == "Lyon");
    CHECK(r.web_search->country == "FR");
    Session a = session(Protocol::Anthropic, Protocol::Gemini);
    ir::Request ra = decode(Protocol::Anthropic, kAnthropicOffer, a);
    CHECK(ra.web_search->max_uses == 3);
    CHECK(ra.web_search->blocked_domains == std::vector<std::string>{"spam.example"});
    Session c = session(Protocol::OpenAIChat, Protocol::Gemini);
    CHECK(decode(Protocol::OpenAIChat, kChatOffer, c).web_search->country == "FR");
}

TEST_CASE("web search: declared in each upstream's form") {
    Session s = session(Protocol::Anthropic, Protocol::OpenAIResponses);
    ir::Request r = decode(Protocol::Anthropic, kAnthropicOffer, s);

    auto resp = encode_request(Protocol::OpenAIResponses, r, s);
    REQUIRE(resp.ok());
    auto rd = parse(resp.value());
    REQUIRE(is_array(tools_of(rd)));
    REQUIRE(tools_of(rd)->Size() == 1);
    CHECK(str((*tools_of(rd))[0], "type") == "web_search");

    Session s2 = session(Protocol::OpenAIResponses, Protocol::Anthropic);
    ir::Request r2 = decode(Protocol::OpenAIResponses, kResponsesOffer, s2);
    auto anth = encode_request(Protocol::Anthropic, r2, s2);
    REQUIRE(anth.ok());
    auto ad = parse(anth.value());
    REQUIRE(is_array(tools_of(ad)));
    const JsonValue& ws = (*tools_of(ad))[0];
    CHECK(str(ws, "type") == "web_search_20250305");
    CHECK(str(ws, "name") == "web_search");
    REQUIRE(is_array(member(ws, "allowed_domains")));
    CHECK(str(*member(ws, "user_location"), "city") == "Lyon");
    CHECK(str(*member(ws, "user_location"), "type") == "approximate");
    CHECK(s2.dropped_tools.empty());

    // Anthropic's max_uses and blocked list go to Anthropic as they came
    // (through the IR, from an Anthropic-shaped offer of a Gemini client).
    Session s3 = session(Protocol::Anthropic, Protocol::Anthropic);
    ir::Request r3 = decode(Protocol::Anthropic, kAnthropicOffer, s3);
    auto back = parse(encode_request(Protocol::Anthropic, r3, s3).value());
    const JsonValue& ws3 = (*tools_of(back))[0];
    CHECK(member(ws3, "max_uses")->GetInt() == 3);
    CHECK(member(ws3, "allowed_domains") == nullptr);
    REQUIRE(is_array(member(ws3, "blocked_domains")));

    // Gemini: Google Search, alone.
    Session s4 = session(Protocol::OpenAIResponses, Protocol::Gemini);
    ir::Request r4 = decode(Protocol::OpenAIResponses, kResponsesOffer, s4);
    auto gd = parse(encode_request(Protocol::Gemini, r4, s4).value());
    REQUIRE(is_array(tools_of(gd)));
    REQUIRE(tools_of(gd)->Size() == 1);
    CHECK(is_object(member((*tools_of(gd))[0], "googleSearch")));
    CHECK(s4.dropped_tools.empty());
}

TEST_CASE("web search: left out, and noted, where the wire has no form for it") {
    // Chat: no model but the search ones takes web_search_options.
    Session s = session(Protocol::OpenAIResponses, Protocol::OpenAIChat);
    ir::Request r = decode(Protocol::OpenAIResponses, kResponsesOffer, s);
    auto chat = parse(encode_request(Protocol::OpenAIChat, r, s).value());
    CHECK(member(chat, "web_search_options") == nullptr);
    CHECK(tools_of(chat) == nullptr);
    CHECK(s.dropped_tools == std::vector<std::string>{"web_search"});

    // Gemini beside function tools: the functions go, the search does not.
    Session g = session(Protocol::OpenAIResponses, Protocol::Gemini);
    ir::Request rg = decode(Protocol::OpenAIResponses,
                            R"({"model":"m","input":"x","tools":[{"type":"web_search"},
                               {"type":"function","name":"shell","parameters":{"type":"object","properties":{}}}]})",
                            g);
    auto gd = parse(encode_request(Protocol::Gemini, rg, g).value());
    REQUIRE(tools_of(gd)->Size() == 1);
    CHECK(is_array(member((*tools_of(gd))[0], "functionDeclarations")));
    CHECK(member((*tools_of(gd))[0], "googleSearch") == nullptr);
    CHECK(g.dropped_tools == std::vector<std::string>{"web_search"});
}

TEST_CASE("built-in tools of Anthropic and Gemini clients: left out and noted; unknown kinds refused, named") {
    Session a = session(Protocol::Anthropic, Protocol::OpenAIChat);
    ir::Request ra = decode(Protocol::Anthropic, R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],
      "tools":[{"name":"read","input_schema":{"type":"object"}},{"type":"bash_20250124","name":"bash"},
               {"type":"code_execution_20250825","name":"code_execution"},{"type":"custom","name":"write","input_schema":{"type":"object"}}]})",
                            a);
    REQUIRE(ra.tools.size() == 2);
    CHECK(ra.tools[0].name == "read");
    CHECK(ra.tools[1].name == "write");
    CHECK(a.dropped_tools == std::vector<std::string>{"bash_20250124", "code_execution_20250825"});
    auto bad = decode_request(Protocol::Anthropic, R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],
      "tools":[{"name":"read","input_schema":{"type":"object"}},{"type":"teleport_20990101","name":"t"}]})",
                              a);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == 400);
    CHECK(bad.error().message.find("tools[1]") != std::string::npos);
    CHECK(bad.error().message.find("'teleport_20990101'") != std::string::npos);

    Session g = session(Protocol::Gemini, Protocol::Anthropic);
    g.client_model = "gemini-x";
    ir::Request rg = decode(Protocol::Gemini, R"({"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[
      {"functionDeclarations":[{"name":"read","parameters":{"type":"OBJECT","properties":{}}}]},
      {"codeExecution":{}},{"url_context":{}},{"google_search":{}}]})",
                            g);
    REQUIRE(rg.tools.size() == 1);
    CHECK(rg.web_search.has_value());
    CHECK(g.dropped_tools == std::vector<std::string>{"codeExecution", "url_context"});
    auto gbad = decode_request(Protocol::Gemini,
                               R"({"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"teleport":{}}]})", g);
    REQUIRE_FALSE(gbad.ok());
    CHECK(gbad.error().code == 400);
    CHECK(gbad.error().message.find("'teleport'") != std::string::npos);
}

namespace {

// An Anthropic answer with one search, its results and the text it informed.
const char* kAnthropicAnswer = R"({"id":"msg_1","type":"message","role":"assistant","model":"upstream-model",
 "content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"lyon weather"}},
  {"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[
   {"type":"web_search_result","url":"https://a.example/w","title":"Weather A","encrypted_content":"xx","page_age":null},
   {"type":"web_search_result","url":"https://b.example/w","title":"Weather B","encrypted_content":"yy"}]},
  {"type":"text","text":"Sunny.","citations":[{"type":"web_search_result_location","url":"https://a.example/w"}]}],
 "stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":3,"server_tool_use":{"web_search_requests":1}}})";

const char* kResponsesAnswer = R"({"id":"resp_1","object":"response","status":"completed","model":"upstream-model",
 "output":[{"type":"web_search_call","id":"ws_1","status":"completed",
   "action":{"type":"search","query":"lyon weather","sources":[{"type":"url","url":"https://a.example/w"}]}},
  {"type":"message","id":"msg_1","role":"assistant","status":"completed",
   "content":[{"type":"output_text","text":"Sunny.","annotations":[]}]}],
 "usage":{"input_tokens":10,"output_tokens":3,"total_tokens":13}})";

const char* kGeminiAnswer = R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Sunny."}]},"finishReason":"STOP",
 "groundingMetadata":{"webSearchQueries":["lyon weather"],
  "groundingChunks":[{"web":{"uri":"https://a.example/w","title":"a.example"}}]}}],
 "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":3,"totalTokenCount":13}})";

// The search part an upstream answer decodes into.
ir::Part search_of(const ir::Response& r) {
    for (const auto& p : r.content)
        if (p.kind == ir::PartKind::WebSearch) return p;
    FAIL("no web search in the answer");
    return {};
}

}  // namespace

TEST_CASE("web search: each upstream's report decodes into one search part") {
    struct Case {
        Protocol upstream;
        const char* body;
        size_t sources;
    } cases[] = {{Protocol::Anthropic, kAnthropicAnswer, 2},
                 {Protocol::OpenAIResponses, kResponsesAnswer, 1},
                 {Protocol::Gemini, kGeminiAnswer, 1}};
    for (const auto& c : cases) {
        CAPTURE(protocol_name(c.upstream));
        Session s = session(Protocol::OpenAIChat, c.upstream);
        auto r = decode_response(c.upstream, c.body, s);
        REQUIRE(r.ok());
        ir::Part p = search_of(r.value());
        CHECK(p.text == "lyon weather");
        REQUIRE(p.sources.size() == c.sources);
        CHECK(p.sources[0].url == "https://a.example/w");
        // The search comes before the text it informed.
        REQUIRE(r.value().content.size() == 2);
        CHECK(r.value().content[0].kind == ir::PartKind::WebSearch);
        CHECK(r.value().content[1].text == "Sunny.");
        CHECK(r.value().finish == ir::Finish::Stop);
    }
}

TEST_CASE("web search: told back in each client's form, whole answers") {
    // Anthropic upstream -> Responses client: a web_search_call item.
    Session s = session(Protocol::OpenAIResponses, Protocol::Anthropic);
    auto r = decode_response(Protocol::Anthropic, kAnthropicAnswer, s);
    REQUIRE(r.ok());
    auto out = parse(encode_response(Protocol::OpenAIResponses, r.value(), s));
    const JsonValue* items = member(out, "output");
    REQUIRE(items->Size() == 2);
    const JsonValue& call = (*items)[0];
    CHECK(str(call, "type") == "web_search_call");
    CHECK(str(call, "status") == "completed");
    CHECK(str(call, "id").rfind("ws_", 0) == 0);
    CHECK(str(*member(call, "action"), "type") == "search");
    CHECK(str(*member(call, "action"), "query") == "lyon weather");
    CHECK(member(*member(call, "action"), "sources")->Size() == 2);
    CHECK(str((*items)[1], "type") == "message");
    CHECK(str(out, "status") == "completed");

    // Responses upstream -> Anthropic client: server_tool_use + result blocks.
    Session a = session(Protocol::Anthropic, Protocol::OpenAIResponses);
    auto ra = decode_response(Protocol::OpenAIResponses, kResponsesAnswer, a);
    REQUIRE(ra.ok());
    auto ao = parse(encode_response(Protocol::Anthropic, ra.value(), a));
    const JsonValue* blocks = member(ao, "content");
    REQUIRE(blocks->Size() == 3);
    CHECK(str((*blocks)[0], "type") == "server_tool_use");
    CHECK(str((*blocks)[0], "name") == "web_search");
    std::string id = str((*blocks)[0], "id");
    CHECK(id.rfind("srvtoolu_", 0) == 0);
    CHECK(str(*member((*blocks)[0], "input"), "query") == "lyon weather");
    CHECK(str((*blocks)[1], "type") == "web_search_tool_result");
    CHECK(str((*blocks)[1], "tool_use_id") == id);
    const JsonValue& first = (*member((*blocks)[1], "content"))[0];
    CHECK(str(first, "type") == "web_search_result");
    CHECK(str(first, "url") == "https://a.example/w");
    CHECK(str((*blocks)[2], "text") == "Sunny.");
    CHECK(str(ao, "stop_reason") == "end_turn");  // a hosted search is no tool call of the client's

    // Anthropic upstream -> Gemini client: groundingMetadata.
    Session g = session(Protocol::Gemini, Protocol::Anthropic);
    auto rg = decode_response(Protocol::Anthropic, kAnthropicAnswer, g);
    REQUIRE(rg.ok());
    auto go = parse(encode_response(Protocol::Gemini, rg.value(), g));
    const JsonValue& cand = (*member(go, "candidates"))[0];
    const JsonValue* gm = member(cand, "groundingMetadata");
    REQUIRE(is_object(gm));
    CHECK((*member(*gm, "webSearchQueries"))[0] == "lyon weather");
    REQUIRE(member(*gm, "groundingChunks")->Size() == 2);
    CHECK(str(*member((*member(*gm, "groundingChunks"))[1], "web"), "title") == "Weather B");
    CHECK(str(cand, "finishReason") == "STOP");

    // Chat has no form for it: the text alone.
    Session c = session(Protocol::OpenAIChat, Protocol::Anthropic);
    auto rc = decode_response(Protocol::Anthropic, kAnthropicAnswer, c);
    auto co = parse(encode_response(Protocol::OpenAIChat, rc.value(), c));
    const JsonValue& m = *member((*member(co, "choices"))[0], "message");
    CHECK(str(m, "content") == "Sunny.");
    CHECK(member(m, "tool_calls") == nullptr);
}

namespace {

// Feeds SSE text to an upstream stream decoder whose events go straight
// into a client stream encoder; returns the encoder's output.
struct Pipe : EventSink {
    StreamEncoder* enc;
    void on(const ir::StreamEvent& e) override { enc->on(e); }
};

std::string relay(Protocol upstream, Protocol client, const std::string& sse_text) {
    Session s = session(client, upstream);
    s.stream = true;
    auto dec = make_stream_decoder(upstream, s);
    auto enc = make_stream_encoder(client, s);
    REQUIRE(dec);
    REQUIRE(enc);
    Pipe pipe;
    pipe.enc = enc.get();
    sse::for_each_event(sse_text, [&](const sse::Event& e) { dec->on_event(e, pipe); });
    dec->on_close(pipe);
    return enc->out;
}

std::string anthropic_sse() {
    const char* evs[][2] = {
        {"message_start", R"({"type":"message_start","message":{"id":"msg_1","model":"upstream-model","usage":{"input_tokens":10,"output_tokens":1}}})"},
        {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}})"},
        {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\": \"lyon"}})"},
        {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":" weather\"}"}})"},
        {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
        {"content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","url":"https://a.example/w","title":"Weather A","encrypted_content":"xx"}]}})"},
        {"content_block_stop", R"({"type":"content_block_stop","index":1})"},
        {"content_block_start", R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})"},
        {"content_block_delta", R"({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Sunny."}})"},
        {"content_block_stop", R"({"type":"content_block_stop","index":2})"},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}})"},
        {"message_stop", R"({"type":"message_stop"})"}};
    std::string out;
    for (const auto& e : evs) out += std::string("event: ") + e[0] + "\ndata: " + e[1] + "\n\n";
    return out;
}

}  // namespace

TEST_CASE("web search: streamed from Anthropic to a Responses client") {
    auto evs = split_sse(relay(Protocol::Anthropic, Protocol::OpenAIResponses, anthropic_sse()));
    std::vector<std::string> names;
    const JsonValue* done_item = nullptr;
    for (const auto& e : evs) {
        names.push_back(e.name);
        if (e.name == "response.output_item.done" && str(*member(e.data, "item"), "type") == "web_search_call")
            done_item = member(e.data, "item");
    }
    auto at = [&](const char* n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
    CHECK(at("response.web_search_call.in_progress") < at("response.web_search_call.searching"));
    CHECK(at("response.web_search_call.searching") < at("response.web_search_call.completed"));
    CHECK(at("response.web_search_call.completed") < at("response.output_text.delta"));
    REQUIRE(done_item);
    CHECK(str(*member(*done_item, "action"), "query") == "lyon weather");
    CHECK(str((*member(*member(*done_item, "action"), "sources"))[0], "url") == "https://a.example/w");
    const test::SseOut& completed = evs.back();
    CHECK(completed.name == "response.completed");
    const JsonValue* output = member(*member(completed.data, "response"), "output");
    REQUIRE(output->Size() == 2);
    CHECK(str((*output)[0], "type") == "web_search_call");
    CHECK(str((*output)[1], "type") == "message");
    CHECK(str(*member(completed.data, "response"), "status") == "completed");
}

TEST_CASE("web search: streamed from Responses and Gemini to an Anthropic client") {
    std::string resp_sse =
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"u\"}}\n\n"
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,"
        "\"item\":{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"in_progress\"}}\n\n"
        "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,"
        "\"item\":{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\",\"action\":{\"type\":\"search\","
        "\"query\":\"lyon weather\"}}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\","
        "\"delta\":\"Sunny.\"}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\","
        "\"status\":\"completed\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";
    std::string gem_sse =
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Sunny.\"}]}}]}\n\n"
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\","
        "\"groundingMetadata\":{\"webSearchQueries\":[\"lyon weather\"],\"groundingChunks\":[{\"web\":{\"uri\":"
        "\"https://a.example/w\",\"title\":\"a\"}}]}}],\"usageMetadata\":{\"promptTokenCount\":1,"
        "\"candidatesTokenCount\":1}}\n\n";
    for (auto [upstream, text] : {std::pair{Protocol::OpenAIResponses, resp_sse}, std::pair{Protocol::Gemini, gem_sse}}) {
        CAPTURE(protocol_name(upstream));
        auto evs = split_sse(relay(upstream, Protocol::Anthropic, text));
        std::string server_id, result_for, query;
        int starts = 0;
        for (const auto& e : evs) {
            if (e.name == "content_block_start") {
                ++starts;
                const JsonValue& b = *member(e.data, "content_block");
                if (str(b, "type") == "server_tool_use") server_id = str(b, "id");
                if (str(b, "type") == "web_search_tool_result") {
                    result_for = str(b, "tool_use_id");
                    const JsonValue* content = member(b, "content");
                    REQUIRE(is_array(content));
                    if (upstream == Protocol::Gemini) {
                        REQUIRE(content->Size() == 1);
                        CHECK(str((*content)[0], "url") == "https://a.example/w");
                    } else {
                        CHECK(content->Empty());  // the upstream listed no sources
                    }
                }
            }
            if (e.name == "content_block_delta" && str(*member(e.data, "delta"), "type") == "input_json_delta")
                query = str(*member(e.data, "delta"), "partial_json");
        }
        CHECK(server_id.rfind("srvtoolu_", 0) == 0);
        CHECK(result_for == server_id);
        CHECK(parse(query)["query"] == "lyon weather");
        CHECK(starts == 3);  // text, server_tool_use, result (Gemini tells its search last)
        CHECK(evs.back().name == "message_stop");
    }
}

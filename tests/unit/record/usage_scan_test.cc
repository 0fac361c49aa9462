// The usage tap's scanner (src/record/usage_scan.h): usage read from the
// upstream's bytes by wire protocol, fed whole, split at every position and
// byte by byte; the places usage must not be taken from; limits and garbage;
// and a cross-check against the codecs on the translation goldens.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "record/usage_scan.h"
#include "translate/codec.h"
#include "translate/json_util.h"
#include "translate/sse.h"

using namespace agd;
using agd::record::Usage;
using agd::record::UsageScanner;

namespace {

constexpr Protocol kChat = Protocol::OpenAIChat;
constexpr Protocol kResp = Protocol::OpenAIResponses;
constexpr Protocol kAnth = Protocol::Anthropic;
constexpr Protocol kGem = Protocol::Gemini;
constexpr Protocol kAll[] = {kChat, kResp, kAnth, kGem};

using Events = std::vector<std::pair<std::string, std::string>>;

Usage U(int64_t in, int64_t out, int64_t cache_read = -1, int64_t cache_write = -1, int64_t reasoning = -1) {
    Usage u;
    u.input = in;
    u.output = out;
    u.cache_read = cache_read;
    u.cache_write = cache_write;
    u.reasoning = reasoning;
    return u;
}

std::string show(const Usage& u) {
    char b[160];
    std::snprintf(b, sizeof b, "in=%lld out=%lld cache_read=%lld cache_write=%lld reasoning=%lld",
                  static_cast<long long>(u.input), static_cast<long long>(u.output),
                  static_cast<long long>(u.cache_read), static_cast<long long>(u.cache_write),
                  static_cast<long long>(u.reasoning));
    return b;
}

// "seen" and the figures, in one string to compare.
std::string result(const UsageScanner& s) { return (s.seen() ? "seen " : "unseen ") + show(s.usage()); }
std::string seen(const Usage& u) { return "seen " + show(u); }
const std::string kUnseen = "unseen " + show(Usage{});

std::string body_whole(Protocol p, std::string_view body) {
    UsageScanner s(p);
    s.feed_body(body);
    return result(s);
}

// The body fed whole, in two pieces cut at every position, in three pieces,
// and byte by byte: always `want`.
void check_body(Protocol p, std::string_view body, const std::string& want) {
    INFO("protocol " << protocol_name(p) << ", body: " << body);
    CHECK(body_whole(p, body) == want);
    for (size_t i = 0; i <= body.size(); ++i) {
        UsageScanner s(p);
        s.feed_body(body.substr(0, i));
        s.feed_body(body.substr(i));
        if (result(s) != want) {
            INFO("cut at " << i);
            CHECK(result(s) == want);
            return;
        }
    }
    for (size_t i = 0; i <= body.size(); i += 7) {
        size_t j = i + (body.size() - i) / 2;
        UsageScanner s(p);
        s.feed_body(body.substr(0, i));
        s.feed_body(body.substr(i, j - i));
        s.feed_body(body.substr(j));
        if (result(s) != want) {
            INFO("cuts at " << i << ", " << j);
            CHECK(result(s) == want);
            return;
        }
    }
    UsageScanner s(p);
    for (char c : body) s.feed_body(std::string_view(&c, 1));
    CHECK(result(s) == want);
}

std::string events_result(Protocol p, const Events& evs) {
    UsageScanner s(p);
    for (const auto& [name, data] : evs) s.feed_event(name, data);
    return result(s);
}

// Events as given, and each event's data also read as a body split at every
// position (the same state machine: an event cannot arrive split, but its
// JSON must read the same however a body would be).
void check_events(Protocol p, const Events& evs, const std::string& want) {
    CHECK(events_result(p, evs) == want);
}

// SSE text through the framer, whole and cut in two at every position.
std::string sse_result(Protocol p, std::string_view text, size_t cut) {
    UsageScanner s(p);
    sse::Framer framer;
    auto on = [&](const sse::Event& ev) { s.feed_event(ev.name, ev.data); };
    framer.feed(text.substr(0, cut), on);
    framer.feed(text.substr(cut), on);
    framer.finish(on);
    return result(s);
}

void check_sse(Protocol p, std::string_view text, const std::string& want) {
    INFO("protocol " << protocol_name(p) << ", stream: " << text);
    for (size_t i = 0; i <= text.size(); ++i) {
        if (sse_result(p, text, i) != want) {
            INFO("cut at " << i);
            CHECK(sse_result(p, text, i) == want);
            return;
        }
    }
    CHECK(sse_result(p, text, 0) == want);
}

// ---------------------------------------------------------------- answers (protocols.md)

const char* kChatBody =
    R"({"id":"chatcmpl-9x","object":"chat.completion","created":1735689600,"model":"gpt-4o-2024-08-06",
 "choices":[{"index":0,"finish_reason":"tool_calls","logprobs":null,
   "message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_2",
     "type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]}}],
 "usage":{"prompt_tokens":57,"completion_tokens":18,"total_tokens":75,
   "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}})";

const char* kRespBody =
    R"({"id":"resp_1","object":"response","created_at":1735689600,"status":"completed","model":"gpt-5",
 "output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need tool."}],"encrypted_content":"gAAAA..."},
  {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
  {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}],
 "usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":0},"output_tokens":30,
   "output_tokens_details":{"reasoning_tokens":12},"total_tokens":80},
 "error":null,"incomplete_details":null,"parallel_tool_calls":true,"tool_choice":"auto","tools":[]})";

const char* kAnthBody =
    R"({"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5",
 "content":[{"type":"thinking","thinking":"User wants weather.","signature":"EqQB..."},
  {"type":"text","text":"Let me check."},
  {"type":"tool_use","id":"toolu_01B","name":"get_weather","input":{"city":"Paris"}}],
 "stop_reason":"tool_use","stop_sequence":null,
 "usage":{"input_tokens":412,"output_tokens":96,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024}})";

const char* kGemBody =
    R"({"candidates":[{"content":{"role":"model","parts":[{"text":"User asks weather…","thought":true},
   {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CiQB..."}]},
  "finishReason":"STOP","index":0}],
 "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":15,"thoughtsTokenCount":60,"cachedContentTokenCount":0,"totalTokenCount":195},
 "modelVersion":"gemini-2.5-flash","responseId":"Xyz123"})";

}  // namespace

// ---------------------------------------------------------------- non-stream answers

TEST_CASE("usage scan: OpenAI Chat answer") {
    check_body(kChat, kChatBody, seen(U(57, 18, 0, -1, 0)));
    // Cache writes, and the legacy Completions answer (same usage).
    check_body(kChat,
               R"({"usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":60,"cache_write_tokens":30,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":0}}})",
               seen(U(100, 7, 60, 30, 5)));
    check_body(kChat,
               R"({"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":"Hello","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})",
               seen(U(3, 1)));
}

TEST_CASE("usage scan: OpenAI Responses answer") {
    check_body(kResp, kRespBody, seen(U(50, 30, 0, -1, 12)));
    check_body(kResp,
               R"({"status":"incomplete","usage":{"input_tokens":5,"output_tokens":16,"input_tokens_details":{"cached_tokens":2,"cache_write_tokens":3}}})",
               seen(U(5, 16, 2, 3)));
}

TEST_CASE("usage scan: Anthropic answer, the cache added to the input") {
    check_body(kAnth, kAnthBody, seen(U(412 + 1024, 96, 1024, 0)));
    check_body(kAnth,
               R"({"type":"message","usage":{"input_tokens":10,"cache_creation_input_tokens":200,"cache_read_input_tokens":3000,"output_tokens":40,"output_tokens_details":{"thinking_tokens":25}}})",
               seen(U(3210, 40, 3000, 200, 25)));
    check_body(kAnth, R"({"usage":{"input_tokens":9,"output_tokens":3}})", seen(U(9, 3)));
}

TEST_CASE("usage scan: Gemini answer, thoughts added to the output") {
    check_body(kGem, kGemBody, seen(U(120, 75, 0, -1, 60)));
    // The tool-use prompt counts as input; zero figures are omitted on the wire.
    check_body(kGem,
               R"({"usageMetadata":{"promptTokenCount":100,"toolUsePromptTokenCount":20,"candidatesTokenCount":5,"cachedContentTokenCount":40,"totalTokenCount":125}})",
               seen(U(120, 5, 40, -1, 0)));
    check_body(kGem, R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":10,"totalTokenCount":10}})",
               seen(U(10, -1, 0)));
    // proto3 JSON names are accepted in snake_case too.
    check_body(kGem,
               R"({"usage_metadata":{"prompt_token_count":7,"candidates_token_count":3,"thoughts_token_count":2,"cached_content_token_count":1}})",
               seen(U(7, 5, 1, -1, 2)));
}

TEST_CASE("usage scan: Gemini JSON-array stream, the last usageMetadata stands") {
    const char* arr =
        "[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"It is \"}]},\"index\":0}],"
        "\"usageMetadata\":{\"promptTokenCount\":120,\"totalTokenCount\":120},\"modelVersion\":\"gemini-2.5-flash\"}\r\n,"
        "\r\n{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"sunny.\",\"thought\":true}]},\"index\":0}],"
        "\"usageMetadata\":{\"promptTokenCount\":120,\"candidatesTokenCount\":3,\"thoughtsTokenCount\":9,\"totalTokenCount\":132}}\r\n,"
        "\r\n{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
        "\"usageMetadata\":{\"promptTokenCount\":120,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":9,\"totalTokenCount\":133}}\r\n]";
    check_body(kGem, arr, seen(U(120, 13, 0, -1, 9)));

    // Cut before the last element: the usage so far.
    std::string s(arr);
    std::string cut = s.substr(0, s.rfind("\"usageMetadata\""));
    check_body(kGem, cut, seen(U(120, 12, 0, -1, 9)));

    // Elements that are not objects, and arrays inside the array, are skipped.
    check_body(kGem, R"([1,"x",null,[{"usageMetadata":{"promptTokenCount":5}}],{"usageMetadata":{"promptTokenCount":6}},[]])",
               seen(U(6, -1, 0)));
    check_body(kGem, "[]", kUnseen);
    // Only Gemini's body may be an array.
    check_body(kChat, R"([{"usage":{"prompt_tokens":1,"completion_tokens":2}}])", kUnseen);
}

// ---------------------------------------------------------------- streams

TEST_CASE("usage scan: OpenAI Chat stream, the usage chunk") {
    const char* pre = R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",)";
    Events evs = {
        {"", std::string(pre) + R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null})"},
        {"", std::string(pre) + R"("choices":[{"index":0,"delta":{"content":"Let me check."},"finish_reason":null}],"usage":null})"},
        {"", std::string(pre) + R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null})"},
        {"", std::string(pre) + R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"usage\":{\"prompt_tokens\":1}}"}}]},"finish_reason":null}],"usage":null})"},
        {"", std::string(pre) + R"("choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null})"},
    };
    CHECK(events_result(kChat, evs) == kUnseen);  // no include_usage: no usage chunk
    evs.push_back({"", std::string(pre) + R"("choices":[],"usage":{"prompt_tokens":40,"completion_tokens":22,"total_tokens":62}})"});
    evs.push_back({"", "[DONE]"});
    check_events(kChat, evs, seen(U(40, 22)));
    for (const auto& e : evs) {
        if (e.second.find("\"choices\":[]") != std::string::npos) check_body(kChat, e.second, seen(U(40, 22)));
        else check_body(kChat, e.second, kUnseen);
    }
    // A later usage object replaces an earlier one whole (continuous usage stats).
    check_events(kChat,
                 {{"", R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":2}}})"},
                  {"", R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9}})"},
                  {"", R"({"choices":[],"usage":{}})"}},
                 seen(U(5, 9)));
}

TEST_CASE("usage scan: OpenAI Responses stream, the terminal events") {
    const std::string created =
        R"({"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[],"usage":null}})";
    const std::string progress =
        R"({"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","status":"in_progress","output":[],"usage":{"input_tokens":1,"output_tokens":1}}})";
    const std::string item =
        R"({"type":"response.output_item.done","sequence_number":2,"output_index":0,"item":{"type":"message","usage":{"input_tokens":2,"output_tokens":2},"content":[{"type":"output_text","text":"\"usage\":{\"input_tokens\":3}"}]},"response":{"usage":{"input_tokens":4,"output_tokens":4}}})";
    auto done = [](const char* type) {
        return std::string(R"({"type":")") + type +
               R"(","sequence_number":14,"response":{"id":"resp_1","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Checking.","annotations":[]}]}],"usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":10},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":80}}})";
    };
    for (const char* t : {"response.completed", "response.incomplete", "response.failed"}) {
        INFO(t);
        // Named events, and events named only in their "type".
        check_events(kResp, {{"response.created", created}, {"response.in_progress", progress},
                             {"response.output_item.done", item}, {t, done(t)}},
                     seen(U(50, 30, 10, -1, 12)));
        check_events(kResp, {{"", created}, {"", progress}, {"", item}, {"", done(t)}}, seen(U(50, 30, 10, -1, 12)));
    }
    // Usage anywhere else is not the answer's.
    check_events(kResp, {{"response.created", created}, {"response.in_progress", progress}, {"response.output_item.done", item}},
                 kUnseen);
    check_events(kResp, {{"", created}, {"", progress}, {"", item}}, kUnseen);
    // The event's name is believed over its data's type.
    check_events(kResp, {{"response.output_text.delta", done("response.completed")}}, kUnseen);
    // The type after the usage, and "type" keys deeper down, are read right.
    check_events(kResp,
                 {{"", R"({"response":{"type":"response.completed","usage":{"input_tokens":7,"output_tokens":8}},"type":"response.failed"})"}},
                 seen(U(7, 8)));
    check_events(kResp,
                 {{"", R"({"response":{"type":"response.completed","usage":{"input_tokens":7,"output_tokens":8}},"type":"response.created"})"}},
                 kUnseen);
    // The last "type" stands, even when it is too long to be one of ours or has an escape.
    const std::string usage = R"("response":{"usage":{"input_tokens":7,"output_tokens":8}})";
    check_events(kResp, {{"", R"({"type":"response.completed",)" + usage + R"(,"type":"response.completed.and.then.some.more"})"}},
                 kUnseen);
    check_events(kResp, {{"", R"({"type":"response.completed",)" + usage + R"(,"type":"response.complete\u0064"})"}}, kUnseen);
    check_events(kResp, {{"", R"({"type":"response.completed",)" + usage + R"(,"type":7})"}}, seen(U(7, 8)));
    // An empty usage object later in the event changes nothing.
    check_events(kResp, {{"", R"({"type":"response.completed",)" + usage + R"(,"response":{"usage":{}}})"}}, seen(U(7, 8)));
    // A failed response with no usage.
    check_events(kResp,
                 {{"response.failed", R"({"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"x"},"usage":null}})"}},
                 kUnseen);
}

TEST_CASE("usage scan: Anthropic stream, message_start then cumulative message_delta") {
    const std::string start =
        R"({"type":"message_start","message":{"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":412,"output_tokens":1,"cache_read_input_tokens":1024}}})";
    const std::string block =
        R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01B","name":"get_weather","input":{"usage":{"input_tokens":5,"output_tokens":5}}}})";
    const std::string json_delta =
        R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"usage\": {\"output_tokens\": 7}"},"usage":{"output_tokens":6}})";
    const std::string delta1 = R"({"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":50}})";
    const std::string delta2 =
        R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":96}})";
    const Usage want = U(412 + 1024, 96, 1024);
    check_events(kAnth,
                 {{"message_start", start}, {"ping", R"({"type": "ping"})"}, {"content_block_start", block},
                  {"content_block_delta", json_delta}, {"message_delta", delta1}, {"message_delta", delta2},
                  {"message_stop", R"({"type":"message_stop"})"}},
                 seen(want));
    // Without event names (the type in the data).
    check_events(kAnth, {{"", start}, {"", block}, {"", json_delta}, {"", delta1}, {"", delta2}}, seen(want));
    // Only message_start: the initial output figure.
    check_events(kAnth, {{"message_start", start}}, seen(U(1436, 1, 1024)));
    // Newer API versions repeat input and cache figures in message_delta: they replace.
    check_events(kAnth,
                 {{"message_start", start},
                  {"message_delta",
                   R"({"type":"message_delta","usage":{"input_tokens":400,"cache_creation_input_tokens":12,"cache_read_input_tokens":1000,"output_tokens":96}})"}},
                 seen(U(1412, 96, 1000, 12)));
    // Usage in other events is not the answer's.
    check_events(kAnth, {{"content_block_start", block}, {"content_block_delta", json_delta}}, kUnseen);
    check_events(kAnth, {{"", block}, {"", json_delta}}, kUnseen);
    check_events(kAnth,
                 {{"error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"usage":{"output_tokens":3}})"}},
                 kUnseen);
}

TEST_CASE("usage scan: Gemini SSE stream, the latest usageMetadata stands") {
    check_events(kGem,
                 {{"", R"({"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]},"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120},"modelVersion":"gemini-2.5-flash","responseId":"r1"})"}},
                 seen(U(120, -1, 0)));
    check_events(kGem,
                 {{"", R"({"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]},"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120},"modelVersion":"gemini-2.5-flash","responseId":"r1"})"},
                  {"", R"({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"usageMetadata":{"promptTokenCount":1}}}}]},"index":0}]})"},
                  {"", R"({"candidates":[{"content":{"role":"model","parts":[{"text":"sunny."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":4,"thoughtsTokenCount":30,"totalTokenCount":154},"modelVersion":"gemini-2.5-flash","responseId":"r1"})"}},
                 seen(U(120, 34, 0, -1, 30)));
    check_events(kGem, {{"", R"({"error":{"code":500,"message":"usage","status":"INTERNAL"}})"}}, kUnseen);
}

TEST_CASE("usage scan: SSE text through the framer, cut at every position") {
    check_sse(kChat,
              "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n"
              "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
              seen(U(4, 2)));
    check_sse(kAnth,
              "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,"
              "\"cache_creation_input_tokens\":4,\"output_tokens\":1}}}\r\n\r\n"
              "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\r\n\r\n",
              seen(U(7, 9, -1, 4)));
    check_sse(kGem,
              "data: {\"usageMetadata\":{\"promptTokenCount\":2}}\r\n\r\n"
              "data: {\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":3}}\r\n\r\n",
              seen(U(2, 3, 0, -1, 0)));
}

// ---------------------------------------------------------------- where usage is not

TEST_CASE("usage scan: the same names at other places are not taken") {
    // A "usage" inside a message, inside tool arguments (as an object and as
    // a JSON string), and figures' names outside the usage object.
    check_body(kChat,
               R"({"choices":[{"message":{"content":"\"usage\":{\"prompt_tokens\":999}","usage":{"prompt_tokens":1,"completion_tokens":1},
                   "tool_calls":[{"function":{"arguments":"{\"usage\":{\"prompt_tokens\":7}}"}}]}}],
                   "prompt_tokens":5,"completion_tokens":6,"meta":{"usage":{"prompt_tokens":8}},
                   "usage":{"prompt_tokens":3,"completion_tokens":4,"extra":{"prompt_tokens":77,"completion_tokens":88},
                            "prompt_tokens_details":{"prompt_tokens":66,"cached_tokens":1,"x":{"cached_tokens":55}},
                            "completion_tokens_details":{"completion_tokens":44}}})",
               seen(U(3, 4, 1)));
    // Figures inside the detail objects are not the top figures and vice versa.
    check_body(kChat, R"({"usage":{"cached_tokens":9,"reasoning_tokens":9,"completion_tokens":2}})", seen(U(-1, 2)));
    check_body(kAnth,
               R"({"content":[{"type":"tool_use","input":{"usage":{"input_tokens":100,"output_tokens":100}}},{"type":"text","text":"usage"}],
                   "message":{"usage":{"input_tokens":50}},"usage":{"input_tokens":1,"output_tokens":2}})",
               seen(U(1, 2)));
    check_body(kGem,
               R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"usageMetadata":{"promptTokenCount":100}}}}]},
                   "usageMetadata":{"promptTokenCount":99}}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1}})",
               seen(U(8, 1, 0, -1, 0)));
    // Responses: the body's usage is at the top, not under "response".
    check_body(kResp, R"({"response":{"usage":{"input_tokens":1,"output_tokens":1}}})", kUnseen);
    check_body(kResp, R"({"output":[{"usage":{"input_tokens":1}}],"usage":{"input_tokens":2,"output_tokens":3}})",
               seen(U(2, 3)));
    // Keys that only start like a figure's name, or go past the key buffer.
    check_body(kChat,
               R"({"usage":{"prompt_tokens2":1,"prompt_token":1,"prompt_tokens_details_and_a_very_long_tail_that_overflows":{"cached_tokens":5},"completion_tokens":2}})",
               seen(U(-1, 2)));
    // A key written with escapes is not one looked for.
    check_body(kChat, R"({"\u0075sage":{"prompt_tokens":1},"usage":{"prompt_tok\u0065ns":5,"completion_tokens":2}})", seen(U(-1, 2)));
    // Values of the wrong type.
    check_body(kChat, R"({"usage":"prompt_tokens"})", kUnseen);
    check_body(kChat, R"({"usage":[{"prompt_tokens":1}]})", kUnseen);
    check_body(kChat, R"({"usage":{"prompt_tokens_details":[{"cached_tokens":1}],"prompt_tokens":{"x":1},"completion_tokens":[3]}})",
               kUnseen);
}

TEST_CASE("usage scan: usage null, empty, or absent") {
    for (Protocol p : kAll) {
        check_body(p, R"({"usage":null,"usageMetadata":null})", kUnseen);
        check_body(p, R"({"usage":{},"usageMetadata":{}})", kUnseen);
        check_body(p, R"({"id":"x","choices":[]})", kUnseen);
        check_body(p, "", kUnseen);
        check_body(p, "null", kUnseen);
        check_body(p, "  \"usage\"  ", kUnseen);
    }
    check_events(kChat, {{"", R"({"usage" : null})"}, {"", R"({"usage":"x"})"}, {"", "usage"}}, kUnseen);
    // The quick look for `"usage` at every offset (16 bytes at a time, then byte by byte).
    for (size_t pad = 0; pad < 40; ++pad) {
        INFO("pad " << pad);
        const std::string sp(pad, ' ');
        check_events(kChat, {{"", sp + R"({"a":"usage","usage" :  null})"}}, kUnseen);
        check_events(kChat, {{"", sp + R"({"a":"usage","usage":null,"usage" : {"prompt_tokens":1}})"}}, seen(U(1, -1)));
        check_events(kChat, {{"", sp + R"({"usage":{"completion_tokens":2}})"}}, seen(U(-1, 2)));
        check_events(kGem, {{"", sp + R"({"usageMetadata":{"promptTokenCount":3}})"}}, seen(U(3, -1, 0)));
    }
}

TEST_CASE("usage scan: escapes and unicode in strings before the usage") {
    const std::string texts[] = {
        R"(plain)",
        R"(a \"quoted\" word and a backslash \\)",
        R"(ends with a backslash \\)",
        R"(\\\\\\\")",
        R"(\" \\\" \\\\\" )",
        R"(unicode \u00e9\u4e2d\ud83d\ude00 \u0022 \u005c and raw é 日本語 😀)",
        R"(JSON in a string: {\"usage\":{\"prompt_tokens\":9},\"}\":\"]\"} ] } [ {)",
        R"(control \n\r\t\b\f\/ escapes)",
    };
    for (const std::string& t : texts) {
        check_body(kChat,
                   R"({"choices":[{"message":{"content":")" + t + R"(","a":[")" + t + R"("]}}],")" + t +
                       R"(":")" + t + R"(","usage":{"prompt_tokens":11,"completion_tokens":12}})",
                   seen(U(11, 12)));
        check_body(kGem, R"({"candidates":[{"content":{"parts":[{"text":")" + t + R"("}]}}],"usageMetadata":{"promptTokenCount":3}})",
                   seen(U(3, -1, 0)));
    }
    // A long string (skipped 16 bytes at a time) full of escapes.
    std::string big;
    for (int i = 0; i < 5000; ++i) big += i % 3 ? "abc\\\"def\\\\ghi\\u00e9" : "x";
    std::string body = R"({"choices":[{"message":{"content":")" + big + R"("}}],"usage":{"prompt_tokens":1,"completion_tokens":2}})";
    CHECK(body_whole(kChat, body) == seen(U(1, 2)));
    UsageScanner s(kChat);
    for (size_t i = 0; i < body.size(); i += 13) s.feed_body(std::string_view(body).substr(i, 13));
    CHECK(result(s) == seen(U(1, 2)));
}

TEST_CASE("usage scan: figures must be non-negative integers up to 2^53; the last duplicate stands") {
    auto one = [](const std::string& v) {
        return body_whole(kChat, R"({"usage":{"completion_tokens":1,"prompt_tokens":)" + v + "}}");
    };
    CHECK(one("0") == seen(U(0, 1)));
    CHECK(one("12345") == seen(U(12345, 1)));
    CHECK(one("9007199254740992") == seen(U(9007199254740992LL, 1)));  // 2^53
    for (const char* bad : {"-1", "-0", "1.0", "1.5", "1e3", "1E3", "2e+1", "012", "00", "9007199254740993",
                            "99999999999999999999999999", "\"12\"", "true", "null", "{}", "[1]"}) {
        INFO(bad);
        CHECK(one(bad) == seen(U(-1, 1)));
    }
    // A number run into a letter is not JSON: the scan stops before the usage object closes.
    CHECK(body_whole(kChat, R"({"usage":{"completion_tokens":1,"prompt_tokens":12x}})") == kUnseen);
    // Sign and exponent characters in the wrong places only spoil the figure.
    CHECK(one("1-") == seen(U(-1, 1)));
    CHECK(one("--1") == seen(U(-1, 1)));
    check_body(kChat, R"({"usage":{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":3}})", seen(U(2, 3)));
    check_body(kChat, R"({"usage":{"prompt_tokens":5,"prompt_tokens":-1,"completion_tokens":3}})", seen(U(5, 3)));
    // Duplicate usage objects: the last one, whole.
    check_body(kChat, R"({"usage":{"prompt_tokens":1,"completion_tokens":1},"usage":{"prompt_tokens":2}})", seen(U(2, -1)));
    // Whitespace everywhere JSON allows it.
    check_body(kChat, " {\r\n\t\"usage\" :\n{ \"prompt_tokens\" : 4 ,\"completion_tokens\"\t:\t5 } \n} \n", seen(U(4, 5)));
    // Bytes after the answer are ignored.
    check_body(kChat, R"({"usage":{"prompt_tokens":1}} {"usage":{"prompt_tokens":2}})", seen(U(1, -1)));
}

// ---------------------------------------------------------------- limits and garbage

TEST_CASE("usage scan: deep nesting is skipped without recursion") {
    const size_t kDeep = 100000;
    for (Protocol p : kAll) {
        INFO(protocol_name(p));
        // 100k levels of arrays and of objects before the usage, and inside it.
        std::string arrays = std::string(kDeep, '[') + std::string(kDeep, ']');
        std::string objects;
        for (size_t i = 0; i < kDeep; ++i) objects += "{\"usage\":";
        objects += "1";
        objects += std::string(kDeep, '}');
        const char* key = p == kGem ? "usageMetadata" : "usage";
        const char* fig = p == kChat ? "prompt_tokens" : p == kGem ? "promptTokenCount" : "input_tokens";
        std::string body = std::string("{\"a\":") + arrays + ",\"b\":" + objects + ",\"" + key + "\":{\"x\":" + objects +
                           ",\"" + fig + "\":5}}";
        UsageScanner s(p);
        s.feed_body(body);
        CHECK(s.seen());
        CHECK(s.usage().input == 5);
        UsageScanner b(p);
        for (char c : body) b.feed_body(std::string_view(&c, 1));
        CHECK(b.usage().input == 5);
        UsageScanner e(p);
        e.feed_event(p == kResp ? "response.completed" : p == kAnth ? "message_delta" : "",
                     p == kResp ? "{\"response\":" + body + "}" : body);
        CHECK(e.usage().input == 5);
        // Only opening brackets, and only closing ones: nothing, no crash.
        for (const std::string& g : {std::string(kDeep, '['), std::string(kDeep, '{'), std::string(kDeep, ']'),
                                     std::string("{\"usage\":") + std::string(kDeep, '['),
                                     "[" + std::string(kDeep, '{')}) {
            UsageScanner z(p);
            z.feed_body(g);
            z.feed_body(g);
            CHECK_FALSE(z.seen());
            z.feed_event("", g);
            CHECK_FALSE(z.seen());
        }
    }
    // A Gemini array of 100k levels.
    UsageScanner g(kGem);
    g.feed_body("[" + std::string(kDeep, '[') + std::string(kDeep, ']') + ",{\"usageMetadata\":{\"promptTokenCount\":2}}]");
    CHECK(g.usage().input == 2);
}

TEST_CASE("usage scan: garbage and truncated answers never crash; a cut answer is seen whole or not at all") {
    // Every prefix of an answer holding one usage object.
    const std::pair<Protocol, const char*> answers[] = {{kChat, kChatBody}, {kResp, kRespBody}, {kAnth, kAnthBody},
                                                        {kGem, kGemBody}};
    for (const auto& [p, body] : answers) {
        const std::string full = body_whole(p, body);
        std::string_view b(body);
        for (size_t i = 0; i <= b.size(); ++i) {
            std::string got = body_whole(p, b.substr(0, i));
            if (got != kUnseen && got != full) {
                INFO(protocol_name(p) << " cut at " << i);
                CHECK(got == full);
                break;
            }
            UsageScanner e(p);
            e.feed_event(p == kResp ? "response.completed" : p == kAnth ? "message_delta" : "", b.substr(0, i));
            if (p != kResp && result(e) != kUnseen && result(e) != full) {
                INFO(protocol_name(p) << " event cut at " << i);
                CHECK(result(e) == full);
                break;
            }
        }
    }
    // Random bytes, random JSON-ish bytes, and answers with random bytes changed.
    std::mt19937 rng(1234567);
    const char alphabet[] = "{}[]\":,\\ u0123456789-.eE+truefalsnl\r\n\t\x80\xff";
    for (int round = 0; round < 3000; ++round) {
        std::string g;
        size_t n = rng() % 300;
        const int kind = round % 3;
        if (kind == 0) {
            for (size_t i = 0; i < n; ++i) g += static_cast<char>(rng() & 0xff);
        } else if (kind == 1) {
            for (size_t i = 0; i < n; ++i) g += alphabet[rng() % (sizeof alphabet - 1)];
        } else {
            g = answers[rng() % 4].second;
            for (int k = 0; k < 4; ++k) g[rng() % g.size()] = alphabet[rng() % (sizeof alphabet - 1)];
        }
        for (Protocol p : kAll) {
            UsageScanner s(p);
            s.feed_body(g);
            Usage u = s.usage();
            CHECK((u.input >= -1 && u.output >= -1));
            UsageScanner t(p);
            size_t cut = g.empty() ? 0 : rng() % g.size();
            t.feed_body(std::string_view(g).substr(0, cut));
            t.feed_body(std::string_view(g).substr(cut));
            CHECK(result(t) == result(s));
            s.feed_event("", g);
            s.feed_event("message_delta", g);
            s.feed_event("response.completed", g);
        }
    }
}

TEST_CASE("usage scan: reset for a new attempt") {
    UsageScanner s(kAnth);
    s.feed_event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})");
    CHECK(s.seen());
    s.reset();
    CHECK(result(s) == kUnseen);
    s.feed_event("message_delta", R"({"type":"message_delta","usage":{"output_tokens":3}})");
    CHECK(result(s) == seen(U(-1, 3)));
    // A body cut mid-usage, then reset: the next attempt's body reads from its start.
    UsageScanner b(kChat);
    b.feed_body(R"({"usage":{"prompt_tokens":12)");
    b.reset();
    b.feed_body(R"({"usage":{"prompt_tokens":3,"completion_tokens":4}})");
    CHECK(result(b) == seen(U(3, 4)));
}

// ---------------------------------------------------------------- the codecs agree (goldens)

namespace {

std::filesystem::path golden_dir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (fs::path dir : {fs::current_path(ec), fs::path(__FILE__).parent_path()}) {
        dir = fs::absolute(dir, ec);
        for (int i = 0; i < 8 && !dir.empty(); ++i) {
            if (fs::exists(dir / "tests" / "data" / "translate", ec)) return dir / "tests" / "data" / "translate";
            if (dir == dir.parent_path()) break;
            dir = dir.parent_path();
        }
    }
    return {};
}

bool protocol_from(std::string_view name, Protocol& p) {
    for (Protocol q : kAll)
        if (name == protocol_name(q)) {
            p = q;
            return true;
        }
    return false;
}

Usage from_ir(const ir::Usage& u) { return U(u.prompt, u.output, u.cache_read, u.cache_write, u.reasoning); }

// The codecs' stream usage: Start's and Usage's figures, each overwriting.
struct UsageSink : translate::EventSink {
    ir::Usage u;
    void on(const ir::StreamEvent& e) override {
        using T = ir::StreamEvent::Type;
        if (e.type != T::Start && e.type != T::Usage) return;
        const auto& n = e.usage;
        if (n.prompt >= 0) u.prompt = n.prompt;
        if (n.output >= 0) u.output = n.output;
        if (n.cache_read >= 0) u.cache_read = n.cache_read;
        if (n.cache_write >= 0) u.cache_write = n.cache_write;
        if (n.reasoning >= 0) u.reasoning = n.reasoning;
    }
};

}  // namespace

TEST_CASE("usage scan: the translation goldens read as the codecs read them") {
    namespace fs = std::filesystem;
    fs::path dir = golden_dir();
    REQUIRE_FALSE(dir.empty());
    int bodies = 0, streams = 0;
    for (const char* kind : {"responses", "streams"}) {
        for (const auto& entry : fs::directory_iterator(dir / kind)) {
            if (entry.path().extension() != ".json") continue;
            std::string text;
            {
                std::FILE* f = std::fopen(entry.path().c_str(), "rb");
                REQUIRE(f);
                char buf[65536];
                size_t n;
                while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
                std::fclose(f);
            }
            rapidjson::Document doc;
            REQUIRE(translate::parse_json(text, doc));
            Protocol up = kChat;
            REQUIRE(protocol_from(translate::get_string(translate::member(doc, "upstream")), up));
            INFO(entry.path().filename().string());
            translate::Session s;
            s.upstream = up;
            s.client = up;
            s.seed = 1;
            s.now = 1700000000;
            if (std::string_view(kind) == "responses") {
                std::string body = translate::to_json(doc["body"]);
                auto r = translate::decode_response(up, body, s);
                REQUIRE(r.ok());
                check_body(up, body, r.value().usage.present() ? seen(from_ir(r.value().usage)) : kUnseen);
                ++bodies;
            } else {
                std::string sse(translate::get_string(translate::member(doc, "sse")));
                s.stream = true;
                auto dec = translate::make_stream_decoder(up, s);
                REQUIRE(dec);
                UsageSink sink;
                sse::Framer framer;
                auto on = [&](const sse::Event& ev) { dec->on_event(ev, sink); };
                framer.feed(sse, on);
                framer.finish(on);
                UsageScanner sc(up);
                sse::Framer framer2;
                auto on2 = [&](const sse::Event& ev) { sc.feed_event(ev.name, ev.data); };
                framer2.feed(sse, on2);
                framer2.finish(on2);
                Usage want = from_ir(sink.u);
                // A stream cut before message_delta: the codecs drop message_start's
                // initial output figure (1 in these streams), the tap keeps it.
                if (up == kAnth && want.output < 0 && want.input >= 0) want.output = 1;
                CHECK(show(sc.usage()) == show(want));
                ++streams;
            }
        }
    }
    CHECK(bodies >= 10);
    CHECK(streams >= 5);
}

// ---------------------------------------------------------------- cost

// A measurement, not a test (timing never goes in assertions): run it with
// unit-tests -tc='*cost*' --no-skip.
TEST_CASE("usage scan: cost of a 1.4 KB Chat answer" * doctest::skip()) {
    std::string content;
    while (content.size() < 1000)
        content += "The weather in Paris is \\\"sunny\\\" today, 21\\u00b0C with a light breeze. ";
    std::string body =
        R"({"id":"chatcmpl-AbCdEf0123456789","object":"chat.completion","created":1735689600,"model":"gpt-4o-2024-08-06",)"
        R"("choices":[{"index":0,"message":{"role":"assistant","content":")" +
        content +
        R"(","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],)"
        R"("usage":{"prompt_tokens":1057,"completion_tokens":218,"total_tokens":1275,)"
        R"("prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},)"
        R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
        R"("service_tier":"default","system_fingerprint":"fp_0123456789"})";
    REQUIRE(body.size() > 1300);
    REQUIRE(body.size() < 1600);
    const int kRounds = 20000;
    int64_t sum = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) {
        UsageScanner s(kChat);
        s.feed_body(body);
        sum += s.usage().input;
    }
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kRounds;
    CHECK(sum == int64_t(kRounds) * 1057);
    MESSAGE("usage scan of a " << body.size() << "-byte Chat answer: " << ns << " ns");
}

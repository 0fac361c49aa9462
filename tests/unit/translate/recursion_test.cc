// The walks that used to recurse on a depth or count the peer chooses, run
// on a small stack (a worker has 8 MiB): the recursive forms overflowed it
// (docs/DESIGN.md, Recursion).
#include <pthread.h>

#include <functional>
#include <string>

#include "support.h"
#include "translate/codecs.h"
#include "translate/estimate.h"
#include "translate/session.h"

using namespace agd;
using namespace agd::translate;
using namespace agd::translate::test;

namespace {

// Runs fn on a thread with a small stack; false when the thread could not start.
bool on_small_stack(const std::function<void()>& fn, size_t bytes = 256 * 1024) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, bytes);
    pthread_t th;
    auto trampoline = [](void* arg) -> void* {
        (*static_cast<const std::function<void()>*>(arg))();
        return nullptr;
    };
    bool ok = pthread_create(&th, &attr, trampoline, const_cast<std::function<void()>*>(&fn)) == 0;
    pthread_attr_destroy(&attr);
    if (ok) pthread_join(th, nullptr);
    return ok;
}

Session session(Protocol client, Protocol upstream) {
    Session s;
    s.client = client;
    s.upstream = upstream;
    s.client_model = "m";
    s.upstream_model = "m";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

}  // namespace

TEST_CASE("responses stream encoder: thousands of pending calls flushed by text, without recursion") {
    constexpr int kCalls = 5000;
    std::string out;
    REQUIRE(on_small_stack([&] {
        Session s = session(Protocol::OpenAIResponses, Protocol::OpenAIChat);
        auto enc = make_stream_encoder(Protocol::OpenAIResponses, s);
        send(*enc, ir::StreamEvent::Type::Start, {}, 0, "chatcmpl-1", "m");
        std::vector<std::string> ids(kCalls);
        for (int i = 0; i < kCalls; ++i) {  // call 0 opens, the others wait
            ids[static_cast<size_t>(i)] = "call_" + std::to_string(i);
            send(*enc, ir::StreamEvent::Type::ToolStart, {}, i, ids[static_cast<size_t>(i)], "f");
            send(*enc, ir::StreamEvent::Type::ToolEnd, {}, i);
        }
        send(*enc, ir::StreamEvent::Type::Text, "after");  // closes them all
        send(*enc, ir::StreamEvent::Type::Done);
        out = std::move(enc->out);
    }, 64 * 1024));
    size_t done = 0;
    for (size_t at = out.find("response.function_call_arguments.done"); at != std::string::npos;
         at = out.find("response.function_call_arguments.done", at + 1))
        ++done;
    CHECK(done == 2 * kCalls);  // the event name and its type field
    CHECK(out.find("response.completed") != std::string::npos);
}

TEST_CASE("anthropic: a tool_result inside a tool_result is skipped; the IR nests one level") {
    // 200 tool_results each inside the previous one's content (600 JSON levels
    // would be refused by the scan; 200 fit in the default limit here).
    std::string inner = R"({"type":"text","text":"deepest"})";
    for (int i = 0; i < 100; ++i)
        inner = R"({"type":"tool_result","tool_use_id":"t)" + std::to_string(i) + R"(","content":[{"type":"text","text":"r)" +
                std::to_string(i) + R"("},)" + inner + "]}";
    std::string body = R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"},)"
                       R"({"role":"assistant","content":[{"type":"tool_use","id":"t99","name":"f","input":{}}]},)"
                       R"({"role":"user","content":[)" + inner + "]}]}";
    Session s = session(Protocol::Anthropic, Protocol::OpenAIChat);
    Result<ir::Request> r = Result<ir::Request>::fail(500, "not run");
    REQUIRE(on_small_stack([&] { r = decode_request(Protocol::Anthropic, body, s); }));
    REQUIRE(r.ok());
    const ir::Message& last = r->messages.back();
    REQUIRE(last.parts.size() == 1);
    const ir::Part& res = last.parts[0];
    CHECK(res.kind == ir::PartKind::ToolResult);
    CHECK(res.call_id == "t99");
    REQUIRE(res.content.size() == 1);  // its text; the nested tool_result is dropped
    CHECK(res.content[0].kind == ir::PartKind::Text);
    CHECK(res.content[0].text == "r99");
    CHECK(estimate_prompt_tokens(*r) > 0);
}

TEST_CASE("chat: tool-call arguments nested past the limit are refused through the scope") {
    std::string args;
    for (int i = 0; i < 600; ++i) args += R"({\"a\":)";
    args += "1" + std::string(600, '}');
    std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"},)"
                       R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
                       R"("function":{"name":"f","arguments":")" + args + R"("}}]},)"
                       R"({"role":"tool","tool_call_id":"c1","content":"ok"}]})";
    Session s = session(Protocol::OpenAIChat, Protocol::Anthropic);
    {
        JsonDepthScope depth(512);
        Result<ir::Request> r = decode_request(Protocol::OpenAIChat, body, s);
        REQUIRE(r.ok());
        CHECK(depth.exceeded());
        CHECK(depth.what().find("deeper than 512 levels") != std::string::npos);
    }
    {
        JsonDepthScope depth(1000);
        Result<ir::Request> r = decode_request(Protocol::OpenAIChat, body, s);
        REQUIRE(r.ok());
        CHECK_FALSE(depth.exceeded());
        CHECK(r->messages[1].parts[0].args_json.size() == 600 * 5 + 1 + 600);
    }
}

TEST_CASE("gemini: upper-case schema types are lowered iteratively, 64 levels deep") {
    // A Gemini client's tool schema, 200 levels of nested properties (400 of JSON).
    std::string schema = R"({"type":"STRING"})";
    for (int i = 0; i < 200; ++i) schema = R"({"type":"OBJECT","properties":{"p":)" + schema + "}}";
    std::string body = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],)"
                       R"("tools":[{"functionDeclarations":[{"name":"f","parameters":)" + schema + "}]}]}";
    Session s = session(Protocol::Gemini, Protocol::OpenAIChat);
    Result<ir::Request> r = Result<ir::Request>::fail(500, "not run");
    REQUIRE(on_small_stack([&] { r = decode_request(Protocol::Gemini, body, s); }));
    REQUIRE(r.ok());
    REQUIRE(r->tools.size() == 1);
    const std::string& out = r->tools[0].parameters_json;
    CHECK(out.rfind(R"({"type":"object","properties":{"p":{"type":"object")", 0) == 0);
    CHECK(out.find("\"OBJECT\"") != std::string::npos);  // past 64 levels, left as it was
}

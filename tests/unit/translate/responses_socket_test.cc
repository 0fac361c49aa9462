// The Responses API over a WebSocket: messages read into request bodies,
// the conversation a connection keeps for previous_response_id, warm-ups.
#include <doctest/doctest.h>

#include <string>

#include "support.h"
#include "translate/responses_socket.h"

using namespace agd;
using namespace agd::translate;
using test::parse;
using test::str;

namespace {

using Kind = SocketRequest::Kind;

std::string completed(const std::string& id) {
    return "{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{\"id\":\"" + id +
           "\",\"status\":\"completed\",\"output\":[]}}";
}

std::string item_done(const std::string& text) {
    return "{\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"message\",\"role\":"
           "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"" +
           text + "\"}]}}";
}

// The texts of an input array's items, in order ("role:text" for messages).
std::string items_of(const std::string& body) {
    auto d = parse(body);
    std::string out;
    for (const auto& it : d["input"].GetArray()) {
        if (!out.empty()) out += '|';
        std::string role = it.HasMember("role") ? it["role"].GetString() : "?";
        const auto& c = it["content"];
        std::string text = c.IsString() ? c.GetString() : c[0]["text"].GetString();
        out += role + ":" + text;
    }
    return out;
}

}  // namespace

TEST_CASE("socket: a create becomes a streamed Responses body") {
    SocketConversation conv(1 << 20);
    SocketRequest r = conv.read(
        R"({"type":"response.create","model":"gpt-x","instructions":"be brief","input":[{"role":"user",)"
        R"("content":"hi"}],"tools":[],"stream":false,"store":false,"client_metadata":{"session_id":"s1",)"
        R"("ws_request_header_x_openai_internal_codex_responses_lite":"true","ws_request_header_bad name":"x"}})");
    REQUIRE(r.kind == Kind::Create);
    CHECK(r.model == "gpt-x");
    CHECK(r.generate);
    auto d = parse(r.body);
    CHECK_FALSE(d.HasMember("type"));
    CHECK(d["stream"].GetBool());
    CHECK(str(d, "instructions") == "be brief");
    CHECK(d["client_metadata"]["session_id"].GetString() == std::string("s1"));
    CHECK(items_of(r.body) == "user:hi");
    REQUIRE(r.headers.size() == 1);
    CHECK(r.headers[0].first == "x-openai-internal-codex-responses-lite");
    CHECK(r.headers[0].second == "true");
}

TEST_CASE("socket: previous_response_id continues the last completed response") {
    SocketConversation conv(1 << 20);
    SocketRequest a = conv.read(R"({"type":"response.create","model":"m","input":"first"})");
    REQUIRE(a.kind == Kind::Create);
    conv.on_event(R"({"type":"response.created","response":{"id":"resp_1"}})");
    conv.on_event(R"({"type":"response.output_text.delta","delta":"response.completed"})");
    conv.on_event(item_done("one"));
    conv.on_event(completed("resp_1"));
    CHECK(conv.last_id() == "resp_1");

    SocketRequest b = conv.read(
        R"({"type":"response.create","model":"m","previous_response_id":"resp_1","input":[{"role":"user","content":"second"}]})");
    REQUIRE(b.kind == Kind::Create);
    CHECK(items_of(b.body) == "user:first|assistant:one|user:second");
    CHECK_FALSE(parse(b.body).HasMember("previous_response_id"));

    // An empty delta continues too (Codex after a warm-up).
    conv.on_event(item_done("two"));
    conv.on_event(completed("resp_2"));
    SocketRequest c = conv.read(R"({"type":"response.create","model":"m","previous_response_id":"resp_2","input":[]})");
    REQUIRE(c.kind == Kind::Create);
    CHECK(items_of(c.body) == "user:first|assistant:one|user:second|assistant:two");
}

TEST_CASE("socket: an unknown or stale previous_response_id is refused") {
    SocketConversation conv(1 << 20);
    SocketRequest r = conv.read(R"({"type":"response.create","model":"m","previous_response_id":"resp_x","input":[]})");
    CHECK(r.kind == Kind::Error);
    CHECK(r.code == "previous_response_not_found");
    CHECK(r.status == 400);

    REQUIRE(conv.read(R"({"type":"response.create","model":"m","input":"a"})").kind == Kind::Create);
    conv.on_event(completed("resp_1"));
    REQUIRE(conv.read(R"({"type":"response.create","model":"m","input":"b"})").kind == Kind::Create);
    conv.on_event(completed("resp_2"));
    r = conv.read(R"({"type":"response.create","model":"m","previous_response_id":"resp_1","input":[]})");
    CHECK(r.code == "previous_response_not_found");
}

TEST_CASE("socket: a failed response leaves nothing to continue from") {
    SocketConversation conv(1 << 20);
    REQUIRE(conv.read(R"({"type":"response.create","model":"m","input":"a"})").kind == Kind::Create);
    conv.on_event(completed("resp_1"));
    REQUIRE(conv.read(R"({"type":"response.create","model":"m","previous_response_id":"resp_1","input":"b"})").kind ==
            Kind::Create);
    conv.on_event(R"({"type":"response.created","response":{"id":"resp_2"}})");
    conv.on_failed();
    CHECK(conv.last_id().empty());
    CHECK(conv.held_bytes() == 0);
    CHECK(conv.read(R"({"type":"response.create","model":"m","previous_response_id":"resp_2","input":"c"})").code ==
          "previous_response_not_found");
}

TEST_CASE("socket: a warm-up answers an empty response the next create continues") {
    SocketConversation conv(1 << 20);
    SocketRequest w = conv.read(
        R"({"type":"response.create","model":"m","generate":false,"instructions":"sys","input":[{"role":"developer","content":"ctx"}]})");
    REQUIRE(w.kind == Kind::Create);
    CHECK_FALSE(w.generate);
    CHECK_FALSE(parse(w.body).HasMember("generate"));
    auto events = conv.warm_up(w.model);
    REQUIRE(events.size() == 2);
    auto created = parse(events[0]);
    auto done = parse(events[1]);
    CHECK(str(created, "type") == "response.created");
    CHECK(str(done, "type") == "response.completed");
    std::string id = done["response"]["id"].GetString();
    CHECK(id.rfind("resp_", 0) == 0);
    CHECK(created["response"]["id"].GetString() == id);
    CHECK(done["response"]["output"].Size() == 0);
    CHECK(conv.last_id() == id);
    SocketRequest n = conv.read(R"({"type":"response.create","model":"m","previous_response_id":")" + id +
                                R"(","input":[{"role":"user","content":"go"}]})");
    REQUIRE(n.kind == Kind::Create);
    CHECK(items_of(n.body) == "developer:ctx|user:go");
}

TEST_CASE("socket: other messages") {
    SocketConversation conv(1 << 20);
    CHECK(conv.read(R"({"type":"response.processed","response_id":"resp_1"})").kind == Kind::Ignore);
    SocketRequest r = conv.read(R"({"type":"session.update"})");
    CHECK(r.kind == Kind::Error);
    CHECK(r.code == "unknown_message_type");
    CHECK(r.message.find("session.update") != std::string::npos);
    CHECK(conv.read("not json").code == "invalid_json");
    CHECK(conv.read("[1]").kind == Kind::Error);
    CHECK(conv.read(R"({"type":"response.create","input":"x"})").message.find("model") != std::string::npos);
    CHECK(conv.read(R"({"type":"response.create","model":"m","input":7})").kind == Kind::Error);
    // The Realtime style: the fields wrapped in "response".
    SocketRequest w = conv.read(R"({"type":"response.create","response":{"model":"m","input":"hi"}})");
    REQUIRE(w.kind == Kind::Create);
    CHECK(items_of(w.body) == "user:hi");
    CHECK_FALSE(parse(w.body).HasMember("response"));
}

TEST_CASE("socket: the conversation is bounded by max_body_size") {
    SocketConversation conv(300);
    REQUIRE(conv.read(R"({"type":"response.create","model":"m","input":"a"})").kind == Kind::Create);
    conv.on_event(item_done(std::string(150, 'x')));
    conv.on_event(completed("resp_1"));
    CHECK(conv.last_id() == "resp_1");
    SocketRequest r = conv.read(R"({"type":"response.create","model":"m","previous_response_id":"resp_1","input":")" +
                                std::string(100, 'y') + "\"}");
    CHECK(r.kind == Kind::Error);
    CHECK(r.status == 413);

    // Output too big to keep: that response cannot be continued from.
    SocketConversation small(200);
    REQUIRE(small.read(R"({"type":"response.create","model":"m","input":"a"})").kind == Kind::Create);
    small.on_event(item_done(std::string(300, 'x')));
    small.on_event(completed("resp_9"));
    CHECK(small.last_id().empty());
    CHECK(small.held_bytes() == 0);
}

TEST_CASE("socket: header names from client_metadata keys") {
    std::string n;
    CHECK(socket_header_name("ws_request_header_traceparent", &n));
    CHECK(n == "traceparent");
    CHECK_FALSE(socket_header_name("ws_request_header_", &n));
    CHECK_FALSE(socket_header_name("session_id", &n));
    CHECK_FALSE(socket_header_name("ws_request_header_a:b", &n));
}

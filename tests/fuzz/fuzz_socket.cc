// Fuzzes the Responses WebSocket conversation (src/translate/responses_socket.h):
// what a client's messages and an upstream's events can make a connection
// hold and send. Input: lines; a line starting with '>' is a client message,
// any other an event of the pending answer ('!' alone: it failed; '~' alone:
// a warm-up answer). Checks that
//  - a create's body is valid JSON (an object with "stream": true and an
//    "input" array) and within the connection's bound;
//  - what the conversation holds stays within twice that bound;
//  - an error carries a status and a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "translate/responses_socket.h"

using namespace agd;
using namespace agd::translate;

namespace {

constexpr uint64_t kMaxBody = 64 * 1024;

void check_create(const SocketRequest& r) {
    if (r.body.size() > kMaxBody) fuzz::fail("a create's body exceeds the bound");
    if (!fuzz::valid_json(r.body)) fuzz::fail("a create's body is not JSON", r.body);
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(r.body.data(), r.body.size());
    if (!d.IsObject()) fuzz::fail("a create's body is not an object", r.body);
    auto s = d.FindMember("stream");
    if (s == d.MemberEnd() || !s->value.IsTrue()) fuzz::fail("a create's body does not stream", r.body);
    auto in = d.FindMember("input");
    if (in == d.MemberEnd() || !in->value.IsArray()) fuzz::fail("a create's input is not an array", r.body);
    if (d.HasMember("previous_response_id") || d.HasMember("type")) fuzz::fail("a socket field reached the body", r.body);
    if (r.headers.size() > SocketConversation::kMaxMessageHeaders) fuzz::fail("too many message headers");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    SocketConversation conv(kMaxBody);
    while (!in.empty()) {
        size_t nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
        if (!line.empty() && line[0] == '>') {
            SocketRequest r = conv.read(line.substr(1));
            if (r.kind == SocketRequest::Kind::Create) check_create(r);
            if (r.kind == SocketRequest::Kind::Error && (r.status < 400 || r.message.empty()))
                fuzz::fail("an error without a status or a message");
        } else if (line == "!") {
            conv.on_failed();
        } else if (line == "~") {
            if (conv.warm_up("m").size() != 2) fuzz::fail("a warm-up is not two events");
        } else {
            conv.on_event(line);
        }
        if (conv.held_bytes() > 2 * kMaxBody) fuzz::fail("the conversation outgrew its bound");
    }
    return 0;
}

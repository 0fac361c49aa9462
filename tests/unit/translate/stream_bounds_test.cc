// The per-stream memory bounds of the stream codecs (stream_limits.h): what
// they keep, what they cut, and the error a stream gets past a limit.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support.h"
#include "translate/codec.h"
#include "translate/codecs.h"
#include "translate/signature_cache.h"
#include "translate/sse.h"
#include "translate/stream_limits.h"

using namespace agd;
using namespace agd::translate;
using T = ir::StreamEvent::Type;
namespace lim = agd::stream_limits;
using test::parse;
using test::send;
using test::str;

namespace {

Session session(Protocol client, Protocol upstream) {
    Session s;
    s.client = client;
    s.upstream = upstream;
    s.client_model = "client-model";
    s.upstream_model = "up-model";
    s.stream = true;
    s.seed = 1;
    return s;
}

struct Out {
    std::string name;
    rapidjson::Document data;
};

// The events of an encoder's output (every data is JSON).
std::vector<Out> events(const std::string& out) {
    std::vector<Out> v;
    sse::for_each_event(out, [&](const sse::Event& e) { v.push_back(Out{std::string(e.name), parse(e.data)}); });
    return v;
}

const Out* find(const std::vector<Out>& evs, std::string_view name) {
    for (const Out& e : evs)
        if (e.name == name) return &e;
    return nullptr;
}

bool valid_utf8_end(const std::string& s) {  // the last character is whole
    size_t i = s.size();
    size_t cont = 0;
    while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i, ++cont;
    if (i == 0) return cont == 0;
    unsigned char lead = static_cast<unsigned char>(s[i - 1]);
    size_t want = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
    return cont == want;
}

}  // namespace

TEST_CASE("stream bounds: a Responses client's closing events keep at most kMaxKeptText of text, cut on a character") {
    Session s = session(Protocol::OpenAIResponses, Protocol::OpenAIChat);
    auto enc = make_stream_encoder(Protocol::OpenAIResponses, s);
    send(*enc, T::Start, {}, 0, "up-1", "up-model");
    std::string piece = "a";
    for (int i = 0; i < 32768; ++i) piece += "\xC3\xA9";  // é: a cut in the middle of one would be invalid UTF-8
    std::string all, streamed;
    while (all.size() <= lim::kMaxKeptText + piece.size()) {
        send(*enc, T::Text, piece);
        all += piece;
        for (const Out& e : events(enc->out))
            if (e.name == "response.output_text.delta") streamed += str(e.data, "delta");
        enc->out.clear();  // sent
    }
    CHECK((streamed == all));  // the deltas carry everything
    send(*enc, T::Thinking, "later thoughts");  // after the cut no more text is kept
    send(*enc, T::Finish);
    send(*enc, T::Done);
    auto evs = events(enc->out);
    const Out* done = find(evs, "response.output_text.done");
    REQUIRE(done);
    std::string kept = str(done->data, "text");
    CHECK(kept.size() <= lim::kMaxKeptText);
    CHECK(kept.size() > lim::kMaxKeptText - 4);
    CHECK((all.compare(0, kept.size(), kept) == 0));
    CHECK(valid_utf8_end(kept));
    const Out* item = find(evs, "response.output_item.done");
    REQUIRE(item);
    CHECK((str(item->data["item"]["content"][0], "text") == kept));
    const Out* completed = find(evs, "response.completed");
    REQUIRE(completed);
    const auto& output = completed->data["response"]["output"];
    REQUIRE(output.Size() == 2);
    CHECK(str(output[0], "type") == "message");
    CHECK((str(output[0]["content"][0], "text") == kept));
    CHECK(str(output[1], "type") == "reasoning");  // the structure stays, its text is not kept
    CHECK(output[1]["summary"].Size() == 0);
    CHECK_FALSE(enc->failed());
}

TEST_CASE("stream bounds: a Responses client gets tool arguments whole; past kMaxHeld the stream fails") {
    Session s = session(Protocol::OpenAIResponses, Protocol::Anthropic);
    auto enc = make_stream_encoder(Protocol::OpenAIResponses, s);
    send(*enc, T::Start);
    send(*enc, T::ToolStart, {}, 0, "call_1", "f");
    std::string big = "{\"a\":\"" + std::string(1 << 20, 'x') + "\"}";
    send(*enc, T::ToolArgs, big, 0);
    send(*enc, T::ToolEnd, {}, 0);
    send(*enc, T::Done);
    auto evs = events(enc->out);
    CHECK((str(find(evs, "response.function_call_arguments.done")->data, "arguments") == big));
    CHECK((str(find(evs, "response.output_item.done")->data["item"], "arguments") == big));
    const auto& output = find(evs, "response.completed")->data["response"]["output"];
    REQUIRE(output.Size() == 1);
    CHECK((str(output[0], "arguments") == big));
    CHECK(str(output[0], "call_id") == "call_1");

    auto never = make_stream_encoder(Protocol::OpenAIResponses, s);
    send(*never, T::Start);
    send(*never, T::ToolStart, {}, 0, "call_2", "f");
    std::string mib(1 << 20, 'y');
    for (size_t i = 0; i <= lim::kMaxHeld >> 20 && !never->finished(); ++i) {
        send(*never, T::ToolArgs, mib, 0);
        never->out.clear();
    }
    CHECK(never->finished());
    CHECK(never->failed());
    CHECK(never->failure().find("16 MiB") != std::string::npos);
    send(*never, T::ToolArgs, mib, 0);
    send(*never, T::Done);
    CHECK(never->out.find("response.completed") == std::string::npos);
}

TEST_CASE("stream bounds: a Gemini client's functionCall arguments past kMaxHeld end the stream with its error") {
    for (bool sse : {true, false}) {
        CAPTURE(sse);
        Session s = session(Protocol::Gemini, Protocol::OpenAIChat);
        s.gemini_sse = sse;
        auto enc = make_stream_encoder(Protocol::Gemini, s);
        send(*enc, T::Start);
        send(*enc, T::Text, "hi");
        send(*enc, T::ToolStart, {}, 0, "call_1", "f");
        std::string mib(1 << 20, 'z');
        for (size_t i = 0; i <= lim::kMaxHeld >> 20 && !enc->finished(); ++i) send(*enc, T::ToolArgs, mib, 0);
        CHECK(enc->failed());
        CHECK(enc->out.find("functionCall") == std::string::npos);
        if (sse) CHECK(enc->out.find("data: {\"error\"") != std::string::npos);
        else CHECK(enc->out.back() != ']');  // the array is left open; the caller cuts the connection
    }
}

TEST_CASE("stream bounds: an Anthropic client holds content interleaved with a tool call up to kMaxHeld") {
    Session s = session(Protocol::Anthropic, Protocol::OpenAIChat);
    auto enc = make_stream_encoder(Protocol::Anthropic, s);
    send(*enc, T::Start);
    send(*enc, T::ToolStart, {}, 0, "toolu_1", "f");
    send(*enc, T::ToolArgs, "{\"a\":", 0);
    std::string mib(1 << 20, 't');
    for (int i = 0; i < 4; ++i) send(*enc, T::Text, mib);  // waits for the tool block
    send(*enc, T::ToolArgs, "1}", 0);
    send(*enc, T::ToolEnd, {}, 0);
    CHECK_FALSE(enc->failed());
    CHECK(enc->out.find(std::string(4096, 't')) != std::string::npos);  // released once the call ended

    auto never = make_stream_encoder(Protocol::Anthropic, s);
    send(*never, T::Start);
    send(*never, T::ToolStart, {}, 0, "toolu_1", "f");
    for (size_t i = 0; i <= lim::kMaxHeld >> 20 && !never->finished(); ++i) send(*never, T::Text, mib);
    CHECK(never->failed());
    auto evs = events(never->out);
    CHECK(evs.back().name == "error");
    CHECK(never->out.find("message_stop") == std::string::npos);
}

TEST_CASE("stream bounds: the Chat decoder bounds arguments held before a call's name, and its calls") {
    Session s = session(Protocol::Anthropic, Protocol::OpenAIChat);
    auto dec = make_stream_decoder(Protocol::OpenAIChat, s);
    test::RecSink sink;
    std::string frag = R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":")" +
                       std::string(1 << 20, 'q') + R"("}}]}}]})";
    for (size_t i = 0; i <= lim::kMaxHeld >> 20 && sink.of(T::Error).empty(); ++i) test::feed(*dec, sink, frag);
    REQUIRE(sink.of(T::Error).size() == 1);
    CHECK(sink.of(T::Error)[0].status == 502);

    auto many = make_stream_decoder(Protocol::OpenAIChat, s);
    test::RecSink sink2;
    for (size_t i = 0; i <= lim::kMaxItems && sink2.of(T::Error).empty(); ++i)
        test::feed(*many, sink2, R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":)" + std::to_string(i) +
                                     R"(,"id":"call_)" + std::to_string(i) + R"(","function":{"name":"f","arguments":"{}"}}]}}]})");
    CHECK(sink2.of(T::ToolStart).size() == lim::kMaxItems);
    CHECK(sink2.of(T::Error).size() == 1);
}

TEST_CASE("stream bounds: the Responses decoder forgets finished items and bounds open ones") {
    Session s = session(Protocol::OpenAIChat, Protocol::OpenAIResponses);
    auto dec = make_stream_decoder(Protocol::OpenAIResponses, s);
    test::RecSink sink;
    auto delta = [](size_t i) {
        return R"({"type":"response.output_text.delta","item_id":"msg_)" + std::to_string(i) + R"(","delta":"x"})";
    };
    for (size_t i = 0; i < lim::kMaxItems + 10; ++i) {  // done items leave no trace
        test::feed(*dec, sink, delta(i));
        test::feed(*dec, sink, R"({"type":"response.output_item.done","item":{"type":"message","id":"msg_)" + std::to_string(i) +
                                   R"(","content":[{"type":"output_text","text":"x"}]}})");
    }
    CHECK(sink.of(T::Error).empty());
    CHECK((sink.joined(T::Text) == std::string(lim::kMaxItems + 10, 'x')));  // done items' text not repeated

    auto open = make_stream_decoder(Protocol::OpenAIResponses, s);
    test::RecSink sink2;
    for (size_t i = 0; i <= lim::kMaxItems && sink2.of(T::Error).empty(); ++i) test::feed(*open, sink2, delta(i));
    CHECK(sink2.of(T::Error).size() == 1);
}

TEST_CASE("stream bounds: the signature cache is bounded in bytes and refuses entries over kMaxEntryBytes") {
    SignatureCache cache(100, 3 << 20);
    std::string thoughts(SignatureCache::kMaxEntryBytes / 2, 'k');
    for (int i = 0; i < 10; ++i)
        cache.put("call_" + std::to_string(i), CachedSignature{Protocol::Anthropic, "m", "sig", thoughts});
    CHECK(cache.bytes() <= size_t{3} << 20);
    CHECK(cache.size() == 5);
    CHECK_FALSE(cache.get("call_0"));  // the oldest went
    CHECK(cache.get("call_9"));
    cache.put("huge", CachedSignature{Protocol::Anthropic, "m", "sig", std::string(SignatureCache::kMaxEntryBytes, 'h')});
    CHECK_FALSE(cache.get("huge"));
    cache.put("call_9", CachedSignature{Protocol::Anthropic, "m", "sig2", ""});  // replacing gives its bytes back
    CHECK(cache.size() == 5);
    CHECK(cache.bytes() < (size_t{2} << 20) + 4096);
}

TEST_CASE("stream bounds: the framer holds at most max_event bytes of an unfinished event") {
    sse::Framer f(1000);
    std::vector<std::string> got;
    auto on = [&](const sse::Event& e) { got.push_back(e.data); };
    // Events split anywhere, \r\n ends split between reads, are framed once each.
    std::string stream = "data: one\r\n\r\ndata: two\r";
    CHECK(f.feed(stream, on));
    CHECK(f.feed("\n\r\n" + std::string("data: ") , on));
    for (int i = 0; i < 900; ++i) CHECK(f.feed("x", on));
    CHECK(f.feed("\n\n", on));
    REQUIRE(got.size() == 3);
    CHECK(got[1] == "two");
    CHECK((got[2] == std::string(900, 'x')));
    // An event that outgrows the limit: false, and nothing more is framed.
    bool ok = true;
    for (int i = 0; i < 120 && ok; ++i) ok = f.feed("data: " + std::string(10, 'y'), on);
    CHECK_FALSE(ok);
    CHECK_FALSE(f.feed("\n\ndata: z\n\n", on));
    CHECK(got.size() == 3);
    f.clear();
    CHECK(f.feed("data: z\n\n", on));
    CHECK(got.size() == 4);
}

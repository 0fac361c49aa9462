// Fuzzes streamed translation (translate/codec.h): upstream SSE bytes through
// sse::Framer, the upstream's stream decoder and the client's stream
// encoder, then on_close, as the daemon does. Input: the first byte picks the
// upstream (bits 0-1) and client (bits 2-3) protocols; bit 4 makes a Gemini
// client ask for the JSON-array stream (gemini_sse=false), bit 5 sets
// include_usage, bit 6 legacy /v1/completions for a Chat client, bit 7 a
// signature cache. The second byte is a cut position; the rest is the
// upstream's bytes. Checks that
//  - every `data:` payload the encoder wrote is valid JSON or "[DONE]"
//    (for a gemini_sse=false client: the whole output is valid JSON after a
//    clean end; after an error the array is cut short by design, so the
//    output plus "]" must be);
//  - the encoder has finished after on_close;
//  - the output is the same when the upstream bytes arrive in two pieces.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "translate/codec.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"

using namespace agd;
using namespace agd::translate;

namespace {

struct Run {
    std::string out;
    bool finished = false;
    bool ended_with_error = false;  // the last IR event given to the encoder was Error
};

// Passes the decoder's IR events on to the encoder, noting the last one.
class Tap : public EventSink {
public:
    explicit Tap(EventSink& next) : next_(next) {}
    void on(const ir::StreamEvent& ev) override {
        last = ev.type;
        next_.on(ev);
    }
    ir::StreamEvent::Type last = ir::StreamEvent::Type::Start;

private:
    EventSink& next_;
};

Run run(uint8_t flags, const std::vector<std::string_view>& pieces) {
    Protocol upstream = fuzz::protocol_from(flags);
    Protocol client = fuzz::protocol_from(flags >> 2);
    SignatureCache cache;
    Session s = fuzz::make_session(client, upstream);
    s.stream = true;
    s.gemini_sse = !(flags & 16);
    s.include_usage = flags & 32;
    s.legacy_completion = client == Protocol::OpenAIChat && (flags & 64);
    if (flags & 128) s.signatures = &cache;
    auto dec = make_stream_decoder(upstream, s);
    auto enc = make_stream_encoder(client, s);
    if (!dec || !enc) fuzz::fail("no stream codec");
    Tap tap(*enc);
    sse::Framer framer;
    auto on = [&](const sse::Event& ev) {
        if (!enc->finished()) dec->on_event(ev, tap);
    };
    for (std::string_view p : pieces) framer.feed(p, on);
    framer.finish(on);
    if (!enc->finished()) dec->on_close(tap);
    return {std::move(enc->out), enc->finished(), tap.last == ir::StreamEvent::Type::Error};
}

void check_output(uint8_t flags, const Run& r) {
    Protocol client = fuzz::protocol_from(flags >> 2);
    if (!r.finished) fuzz::fail("the encoder has not finished after on_close", r.out);
    if (client == Protocol::Gemini && (flags & 16)) {
        if (!r.ended_with_error) fuzz::require_json(r.out, "the Gemini JSON-array stream is not valid JSON");
        else if (!r.out.empty())
            fuzz::require_json(r.out + "]", "the Gemini JSON-array stream cut by an error is not an array's prefix");
        return;
    }
    sse::Framer framer;
    auto on = [&](const sse::Event& ev) {
        if (ev.data == "[DONE]") return;
        if (!fuzz::valid_json(ev.data)) fuzz::fail("a data: payload the encoder wrote is not valid JSON", r.out);
    };
    framer.feed(r.out, on);
    if (!framer.empty()) fuzz::fail("the encoder's output ends with an unterminated event", r.out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t flags = data[0];
    std::string_view sse(reinterpret_cast<const char*>(data + 2), size - 2);
    size_t cut = sse.empty() ? 0 : data[1] % (sse.size() + 1);
    JsonDepthScope depth(kDefaultMaxJsonDepth);  // server.max_json_depth's default, as the daemon sets it

    Run whole = run(flags, {sse});
    check_output(flags, whole);
    Run split = run(flags, {sse.substr(0, cut), sse.substr(cut)});
    if (split.out != whole.out)
        fuzz::fail("the client stream differs when the upstream bytes are split",
                   "--- whole\n" + whole.out + "\n--- split at " + std::to_string(cut) + "\n" + split.out);
    return 0;
}

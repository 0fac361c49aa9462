// Anthropic Messages: thinking block, then a text block or tool_use blocks.
#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

std::string message_id(const Reply& r) { return fmt::format("msg_mock{}", r.seq); }
std::string signature(const Reply& r) { return fmt::format("sig_mock{}", r.seq); }

const char* stop_reason(const Reply& r) { return r.calls.empty() ? "end_turn" : "tool_use"; }

// input_tokens excludes the cache read (cache_read_input_tokens).
void usage(JsonOut& j, const Reply& r, int64_t output_tokens) {
    j.obj()
        .ki("input_tokens", r.input_tokens)
        .ki("cache_creation_input_tokens", 0)
        .ki("cache_read_input_tokens", r.cached_tokens)
        .ki("output_tokens", output_tokens)
        .end();
}

std::string block_stop(int64_t index) {
    return sse_named("content_block_stop",
                     fmt::format(R"({{"type":"content_block_stop","index":{}}})", index));
}

class MessagesEncoder final : public Encoder {
public:
    explicit MessagesEncoder(const Reply& r) : r_(r) {}

    void open(std::vector<std::string>& out) override {
        JsonOut start;
        start.obj().ks("type", "message_start").key("message").obj()
            .ks("id", message_id(r_))
            .ks("type", "message")
            .ks("role", "assistant")
            .ks("model", r_.model)
            .key("content").arr().end()
            .kn("stop_reason")
            .kn("stop_sequence")
            .key("usage");
        usage(start, r_, 1);
        start.end().end();
        out.push_back(sse_named("message_start", start.text()));
        out.push_back(sse_named("ping", R"({"type":"ping"})"));
        if (r_.think) {
            out.push_back(sse_named(
                "content_block_start",
                R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})"));
            for (std::string_view piece : kThinkingPieces) {
                out.push_back(delta(0, "thinking_delta", "thinking", piece));
            }
            out.push_back(delta(0, "signature_delta", "signature", signature(r_)));
            out.push_back(block_stop(0));
            next_block_ = 1;
        }
        if (r_.calls.empty()) {
            out.push_back(sse_named(
                "content_block_start",
                fmt::format(R"({{"type":"content_block_start","index":{},"content_block":{{"type":"text","text":""}}}})",
                            next_block_)));
        }
    }

    void piece(std::string_view text, bool, std::vector<std::string>& out) override {
        if (r_.calls.empty()) {
            out.push_back(delta(next_block_, "text_delta", "text", text));
            return;
        }
        std::size_t k = r_.call_of_piece(pieces_++);
        if (!opened_ || k != call_) {
            if (opened_) {
                out.push_back(block_stop(next_block_++));
            }
            opened_ = true;
            call_ = k;
            JsonOut j;
            j.obj().ks("type", "content_block_start").ki("index", next_block_)
                .key("content_block").obj()
                .ks("type", "tool_use")
                .ks("id", toolu_id(r_, k))
                .ks("name", r_.calls[k].name)
                .key("input").obj().end()
                .end().end();
            out.push_back(sse_named("content_block_start", j.text()));
            // The real API opens the arguments with an empty fragment.
            out.push_back(delta(next_block_, "input_json_delta", "partial_json", ""));
        }
        out.push_back(delta(next_block_, "input_json_delta", "partial_json", text));
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        if (r_.calls.empty() || opened_) {
            out.push_back(block_stop(next_block_));
        }
        JsonOut delta;
        delta.obj().ks("type", "message_delta")
            .key("delta").obj().ks("stop_reason", stop_reason(r_)).kn("stop_sequence").end()
            .key("usage");
        usage(delta, r_, r_.output_total());  // cumulative: input and cache repeated
        delta.end();
        out.push_back(sse_named("message_delta", delta.text()));
        if (terminal) {
            out.push_back(sse_named("message_stop", R"({"type":"message_stop"})"));
        }
    }

    void fail(std::string_view message, std::vector<std::string>& out) override {
        JsonOut j;
        j.obj().ks("type", "error")
            .key("error").obj().ks("type", "overloaded_error").ks("message", message).end()
            .end();
        out.push_back(sse_named("error", j.text()));
    }

private:
    static std::string delta(int64_t index, std::string_view type, std::string_view field,
                             std::string_view value) {
        JsonOut j;
        j.obj().ks("type", "content_block_delta").ki("index", index)
            .key("delta").obj().ks("type", type).ks(field, value).end()
            .end();
        return sse_named("content_block_delta", j.text());
    }

    Reply r_;
    int64_t next_block_ = 0;  // index of the text block, or of the tool_use block being streamed
    int pieces_ = 0;
    bool opened_ = false;   // a tool_use block has been started
    std::size_t call_ = 0;  // the call being streamed
};

}  // namespace

std::string messages_complete(const Reply& r, std::string_view text) {
    JsonOut j;
    j.obj()
        .ks("id", message_id(r))
        .ks("type", "message")
        .ks("role", "assistant")
        .ks("model", r.model)
        .key("content").arr();
    if (r.think) {
        j.obj().ks("type", "thinking").ks("thinking", kThinkingText).ks("signature", signature(r)).end();
    }
    if (r.calls.empty()) {
        j.obj().ks("type", "text").ks("text", text).end();
    }
    for (std::size_t k = 0; k < r.calls.size(); ++k) {
        j.obj()
            .ks("type", "tool_use")
            .ks("id", toolu_id(r, k))
            .ks("name", r.calls[k].name)
            .kr("input", r.calls[k].args)
            .end();
    }
    j.end()
        .ks("stop_reason", stop_reason(r))
        .kn("stop_sequence")
        .key("usage");
    usage(j, r, r.output_total());
    j.end();
    return j.take();
}

std::unique_ptr<Encoder> make_messages_encoder(const Reply& r) {
    return std::make_unique<MessagesEncoder>(r);
}

}  // namespace mock

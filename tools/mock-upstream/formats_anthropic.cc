// Anthropic Messages.
#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

std::string message_id(const Reply& r) { return fmt::format("msg_mock{}", r.seq); }

void usage(JsonOut& j, int input_tokens, int output_tokens) {
    j.obj()
        .ki("input_tokens", input_tokens)
        .ki("cache_creation_input_tokens", 0)
        .ki("cache_read_input_tokens", 0)
        .ki("output_tokens", output_tokens)
        .end();
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
        usage(start, r_.input_tokens, 1);
        start.end().end();
        out.push_back(sse_named("message_start", start.text()));
        out.push_back(sse_named("ping", R"({"type":"ping"})"));
        out.push_back(sse_named(
            "content_block_start",
            R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    }

    std::string piece(std::string_view text, bool) override {
        JsonOut j;
        j.obj().ks("type", "content_block_delta").ki("index", 0)
            .key("delta").obj().ks("type", "text_delta").ks("text", text).end()
            .end();
        return sse_named("content_block_delta", j.text());
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        out.push_back(sse_named("content_block_stop", R"({"type":"content_block_stop","index":0})"));
        JsonOut delta;
        delta.obj().ks("type", "message_delta")
            .key("delta").obj().ks("stop_reason", "end_turn").kn("stop_sequence").end()
            .key("usage").obj().ki("output_tokens", r_.output_tokens).end()
            .end();
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
    Reply r_;
};

}  // namespace

std::string messages_complete(const Reply& r, std::string_view text) {
    JsonOut j;
    j.obj()
        .ks("id", message_id(r))
        .ks("type", "message")
        .ks("role", "assistant")
        .ks("model", r.model)
        .key("content").arr().obj().ks("type", "text").ks("text", text).end().end()
        .ks("stop_reason", "end_turn")
        .kn("stop_sequence")
        .key("usage");
    usage(j, r.input_tokens, r.output_tokens);
    j.end();
    return j.take();
}

std::unique_ptr<Encoder> make_messages_encoder(const Reply& r) {
    return std::make_unique<MessagesEncoder>(r);
}

}  // namespace mock

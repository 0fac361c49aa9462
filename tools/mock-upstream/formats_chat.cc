// OpenAI Chat Completions: text, reasoning_content and tool calls.
#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

std::string chat_id(const Reply& r) { return fmt::format("chatcmpl-mock{}", r.seq); }

const char* finish_reason(const Reply& r) { return r.calls.empty() ? "stop" : "tool_calls"; }

void chat_usage(JsonOut& j, const Reply& r) {
    j.obj()
        .ki("prompt_tokens", r.prompt_total())
        .ki("completion_tokens", r.output_total())
        .ki("total_tokens", r.prompt_total() + r.output_total())
        .key("prompt_tokens_details").obj()
        .ki("cached_tokens", r.cached_tokens)
        .ki("audio_tokens", 0)
        .end()
        .key("completion_tokens_details").obj()
        .ki("reasoning_tokens", r.reasoning_tokens())
        .ki("audio_tokens", 0)
        .ki("accepted_prediction_tokens", 0)
        .ki("rejected_prediction_tokens", 0)
        .end()
        .end();
}

// Chat chunk up to (not including) "choices".
void chunk_head(JsonOut& j, const Reply& r) {
    j.obj()
        .ks("id", chat_id(r))
        .ks("object", "chat.completion.chunk")
        .ki("created", r.created)
        .ks("model", r.model)
        .ks("service_tier", "default")
        .kn("system_fingerprint");
}

class ChatEncoder final : public Encoder {
public:
    explicit ChatEncoder(const Reply& r) : r_(r) {}

    void open(std::vector<std::string>& out) override {
        JsonOut j = choice_start();
        j.ks("role", "assistant");
        if (r_.calls.empty()) {
            j.ks("content", "");
        } else {
            j.kn("content");  // as the real API does before tool calls
        }
        j.kn("refusal");
        out.push_back(choice_end(j, nullptr));
        if (r_.think) {
            for (std::string_view piece : kThinkingPieces) {
                JsonOut t = choice_start();
                t.ks("reasoning_content", piece);
                out.push_back(choice_end(t, nullptr));
            }
        }
    }

    void piece(std::string_view text, bool, std::vector<std::string>& out) override {
        if (r_.calls.empty()) {
            JsonOut j = choice_start();
            j.ks("content", text);
            out.push_back(choice_end(j, nullptr));
            return;
        }
        std::size_t k = r_.call_of_piece(pieces_++);
        if (!opened_ || k != call_) {
            // The first fragment of a call: id, type and name, empty arguments.
            opened_ = true;
            call_ = k;
            // A custom tool's call: its input, in pieces, under "custom".
            const bool custom = r_.calls[k].custom;
            JsonOut h = choice_start();
            h.key("tool_calls").arr().obj()
                .ki("index", static_cast<int64_t>(k))
                .ks("id", call_id(r_, k))
                .ks("type", custom ? "custom" : "function")
                .key(custom ? "custom" : "function").obj().ks("name", r_.calls[k].name)
                .ks(custom ? "input" : "arguments", "").end()
                .end().end();
            out.push_back(choice_end(h, nullptr));
        }
        const bool custom = r_.calls[k].custom;
        JsonOut j = choice_start();
        j.key("tool_calls").arr().obj()
            .ki("index", static_cast<int64_t>(k))
            .key(custom ? "custom" : "function").obj().ks(custom ? "input" : "arguments", text).end()
            .end().end();
        out.push_back(choice_end(j, nullptr));
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        JsonOut j = choice_start();
        out.push_back(choice_end(j, finish_reason(r_)));
        if (r_.include_usage) {
            JsonOut u;
            chunk_head(u, r_);
            u.key("choices").arr().end().key("usage");
            chat_usage(u, r_);
            u.end();
            out.push_back(sse_data(u.text()));
        }
        if (terminal) {
            out.push_back("data: [DONE]\n\n");
        }
    }

    void fail(std::string_view message, std::vector<std::string>& out) override {
        JsonOut j;
        j.obj().key("error").obj()
            .ks("message", message).ks("type", "server_error").kn("param").kn("code")
            .end().end();
        out.push_back(sse_data(j.text()));
    }

private:
    // A chunk up to the inside of choices[0].delta.
    JsonOut choice_start() {
        JsonOut j;
        chunk_head(j, r_);
        j.key("choices").arr().obj().ki("index", 0).key("delta").obj();
        return j;
    }

    // Closes the delta and the chunk; finish = nullptr writes null.
    std::string choice_end(JsonOut& j, const char* finish) {
        j.end().kn("logprobs");
        if (finish != nullptr) {
            j.ks("finish_reason", finish);
        } else {
            j.kn("finish_reason");
        }
        j.end().end();
        if (r_.include_usage) {
            j.kn("usage");
        }
        j.end();
        return sse_data(j.text());
    }

    Reply r_;
    int pieces_ = 0;
    bool opened_ = false;  // a call has been started
    std::size_t call_ = 0;  // the call being streamed
};

}  // namespace

std::string chat_complete(const Reply& r, std::string_view text) {
    JsonOut j;
    j.obj()
        .ks("id", chat_id(r))
        .ks("object", "chat.completion")
        .ki("created", r.created)
        .ks("model", r.model)
        .key("choices").arr().obj()
        .ki("index", 0)
        .key("message").obj()
        .ks("role", "assistant");
    if (r.calls.empty()) {
        j.ks("content", text);
    } else {
        j.kn("content");
    }
    j.kn("refusal");
    if (r.think) {
        j.ks("reasoning_content", kThinkingText);
    }
    if (!r.calls.empty()) {
        j.key("tool_calls").arr();
        for (std::size_t k = 0; k < r.calls.size(); ++k) {
            const bool custom = r.calls[k].custom;
            j.obj()
                .ks("id", call_id(r, k))
                .ks("type", custom ? "custom" : "function")
                .key(custom ? "custom" : "function").obj()
                .ks("name", r.calls[k].name)
                .ks(custom ? "input" : "arguments", r.calls[k].args)
                .end()
                .end();
        }
        j.end();
    }
    j.key("annotations").arr().end()
        .end()
        .kn("logprobs")
        .ks("finish_reason", finish_reason(r))
        .end().end()
        .key("usage");
    chat_usage(j, r);
    j.ks("service_tier", "default").kn("system_fingerprint").end();
    return j.take();
}

std::unique_ptr<Encoder> make_chat_encoder(const Reply& r) {
    return std::make_unique<ChatEncoder>(r);
}

}  // namespace mock

// OpenAI Chat Completions and Responses.
#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

std::string chat_id(const Reply& r) { return fmt::format("chatcmpl-mock{}", r.seq); }
std::string response_id(const Reply& r) { return fmt::format("resp_mock{}", r.seq); }
std::string item_id(const Reply& r) { return fmt::format("msg_mock{}", r.seq); }

void chat_usage(JsonOut& j, const Reply& r) {
    j.obj()
        .ki("prompt_tokens", r.input_tokens)
        .ki("completion_tokens", r.output_tokens)
        .ki("total_tokens", int64_t{r.input_tokens} + r.output_tokens)
        .key("prompt_tokens_details").obj().ki("cached_tokens", 0).ki("audio_tokens", 0).end()
        .key("completion_tokens_details").obj()
        .ki("reasoning_tokens", 0)
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
        JsonOut j;
        chunk_head(j, r_);
        j.key("choices").arr().obj().ki("index", 0)
            .key("delta").obj().ks("role", "assistant").ks("content", "").kn("refusal").end()
            .kn("logprobs").kn("finish_reason").end().end();
        out.push_back(finish(j));
    }

    std::string piece(std::string_view text, bool) override {
        JsonOut j;
        chunk_head(j, r_);
        j.key("choices").arr().obj().ki("index", 0)
            .key("delta").obj().ks("content", text).end()
            .kn("logprobs").kn("finish_reason").end().end();
        return finish(j);
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        JsonOut j;
        chunk_head(j, r_);
        j.key("choices").arr().obj().ki("index", 0)
            .key("delta").obj().end()
            .kn("logprobs").ks("finish_reason", "stop").end().end();
        out.push_back(finish(j));
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
    std::string finish(JsonOut& j) {
        if (r_.include_usage) {
            j.kn("usage");
        }
        j.end();
        return sse_data(j.text());
    }

    Reply r_;
};

void output_part(JsonOut& j, std::string_view text) {
    j.obj()
        .ks("type", "output_text")
        .key("annotations").arr().end()
        .key("logprobs").arr().end()
        .ks("text", text)
        .end();
}

void message_item(JsonOut& j, const Reply& r, bool done, std::string_view text) {
    j.obj()
        .ks("id", item_id(r))
        .ks("type", "message")
        .ks("status", done ? "completed" : "in_progress")
        .key("content").arr();
    if (done) {
        output_part(j, text);
    }
    j.end().ks("role", "assistant").end();
}

// The Response object; `done` adds the output message and usage.
void response_object(JsonOut& j, const Reply& r, bool done, std::string_view text) {
    j.obj()
        .ks("id", response_id(r))
        .ks("object", "response")
        .ki("created_at", r.created)
        .ks("status", done ? "completed" : "in_progress")
        .kb("background", false)
        .kn("error")
        .kn("incomplete_details")
        .kn("instructions")
        .kn("max_output_tokens")
        .ks("model", r.model)
        .key("output").arr();
    if (done) {
        message_item(j, r, true, text);
    }
    j.end()
        .kb("parallel_tool_calls", true)
        .kn("previous_response_id")
        .key("reasoning").obj().kn("effort").kn("summary").end()
        .ks("service_tier", "default")
        .kb("store", false)
        .kr("temperature", "1.0")
        .key("text").obj().key("format").obj().ks("type", "text").end().ks("verbosity", "medium").end()
        .ks("tool_choice", "auto")
        .key("tools").arr().end()
        .kr("top_p", "1.0")
        .ks("truncation", "disabled")
        .key("usage");
    if (done) {
        j.obj()
            .ki("input_tokens", r.input_tokens)
            .key("input_tokens_details").obj().ki("cached_tokens", 0).end()
            .ki("output_tokens", r.output_tokens)
            .key("output_tokens_details").obj().ki("reasoning_tokens", 0).end()
            .ki("total_tokens", int64_t{r.input_tokens} + r.output_tokens)
            .end();
    } else {
        j.null();
    }
    j.kn("user").key("metadata").obj().end().end();
}

class ResponsesEncoder final : public Encoder {
public:
    explicit ResponsesEncoder(const Reply& r) : r_(r) {}

    void open(std::vector<std::string>& out) override {
        for (const char* type : {"response.created", "response.in_progress"}) {
            JsonOut j = start(type);
            j.key("response");
            response_object(j, r_, false, {});
            out.push_back(emit(type, j));
        }
        {
            JsonOut j = start("response.output_item.added");
            j.ki("output_index", 0).key("item");
            message_item(j, r_, false, {});
            out.push_back(emit("response.output_item.added", j));
        }
        {
            JsonOut j = start("response.content_part.added");
            j.ks("item_id", item_id(r_)).ki("output_index", 0).ki("content_index", 0).key("part");
            output_part(j, "");
            out.push_back(emit("response.content_part.added", j));
        }
    }

    std::string piece(std::string_view text, bool) override {
        text_ += text;
        JsonOut j = start("response.output_text.delta");
        j.ks("item_id", item_id(r_)).ki("output_index", 0).ki("content_index", 0)
            .ks("delta", text).key("logprobs").arr().end();
        return emit("response.output_text.delta", j);
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        {
            JsonOut j = start("response.output_text.done");
            j.ks("item_id", item_id(r_)).ki("output_index", 0).ki("content_index", 0)
                .ks("text", text_).key("logprobs").arr().end();
            out.push_back(emit("response.output_text.done", j));
        }
        {
            JsonOut j = start("response.content_part.done");
            j.ks("item_id", item_id(r_)).ki("output_index", 0).ki("content_index", 0).key("part");
            output_part(j, text_);
            out.push_back(emit("response.content_part.done", j));
        }
        {
            JsonOut j = start("response.output_item.done");
            j.ki("output_index", 0).key("item");
            message_item(j, r_, true, text_);
            out.push_back(emit("response.output_item.done", j));
        }
        if (terminal) {
            JsonOut j = start("response.completed");
            j.key("response");
            response_object(j, r_, true, text_);
            out.push_back(emit("response.completed", j));
        }
    }

    void fail(std::string_view message, std::vector<std::string>& out) override {
        JsonOut j = start("error");
        j.ks("code", "server_error").ks("message", message).kn("param");
        out.push_back(emit("error", j));
    }

private:
    JsonOut start(std::string_view type) {
        JsonOut j;
        j.obj().ks("type", type).ki("sequence_number", seq_++);
        return j;
    }

    static std::string emit(std::string_view type, JsonOut& j) {
        j.end();
        return sse_named(type, j.text());
    }

    Reply r_;
    int64_t seq_ = 0;
    std::string text_;
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
        .ks("role", "assistant").ks("content", text).kn("refusal")
        .key("annotations").arr().end()
        .end()
        .kn("logprobs")
        .ks("finish_reason", "stop")
        .end().end()
        .key("usage");
    chat_usage(j, r);
    j.ks("service_tier", "default").kn("system_fingerprint").end();
    return j.take();
}

std::string responses_complete(const Reply& r, std::string_view text) {
    JsonOut j;
    response_object(j, r, true, text);
    return j.take();
}

std::unique_ptr<Encoder> make_chat_encoder(const Reply& r) {
    return std::make_unique<ChatEncoder>(r);
}

std::unique_ptr<Encoder> make_responses_encoder(const Reply& r) {
    return std::make_unique<ResponsesEncoder>(r);
}

}  // namespace mock

// OpenAI Responses: reasoning item, message item or function_call items.
#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

std::string response_id(const Reply& r) { return fmt::format("resp_mock{}", r.seq); }
std::string item_id(const Reply& r) { return fmt::format("msg_mock{}", r.seq); }
std::string reasoning_id(const Reply& r) { return fmt::format("rs_mock{}", r.seq); }

// output_index of the message item, or of function_call item 0.
int64_t first_answer_index(const Reply& r) { return r.think ? 1 : 0; }

void output_part(JsonOut& j, std::string_view text) {
    j.obj()
        .ks("type", "output_text")
        .key("annotations").arr().end()
        .key("logprobs").arr().end()
        .ks("text", text)
        .end();
}

void summary_part(JsonOut& j, std::string_view text) {
    j.obj().ks("type", "summary_text").ks("text", text).end();
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

void reasoning_item(JsonOut& j, const Reply& r, bool done) {
    j.obj().ks("id", reasoning_id(r)).ks("type", "reasoning").key("summary").arr();
    if (done) {
        summary_part(j, kThinkingText);
        j.end().ks("encrypted_content", fmt::format("enc_mock{}", r.seq));
    } else {
        j.end();
    }
    j.end();
}

// A function_call item, or a custom_tool_call (its input) for a custom tool.
void call_item(JsonOut& j, const Reply& r, std::size_t k, bool done) {
    const bool custom = r.calls[k].custom;
    j.obj()
        .ks("id", fc_item_id(r, k))
        .ks("type", custom ? "custom_tool_call" : "function_call")
        .ks("status", done ? "completed" : "in_progress")
        .ks(custom ? "input" : "arguments", done ? std::string_view(r.calls[k].args) : std::string_view())
        .ks("call_id", call_id(r, k))
        .ks("name", r.calls[k].name)
        .end();
}

// The Response object; `done` adds the output items and usage.
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
        if (r.think) {
            reasoning_item(j, r, true);
        }
        if (r.calls.empty()) {
            message_item(j, r, true, text);
        }
        for (std::size_t k = 0; k < r.calls.size(); ++k) {
            call_item(j, r, k, true);
        }
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
            .ki("input_tokens", r.prompt_total())
            .key("input_tokens_details").obj().ki("cached_tokens", r.cached_tokens).end()
            .ki("output_tokens", r.output_total())
            .key("output_tokens_details").obj().ki("reasoning_tokens", r.reasoning_tokens()).end()
            .ki("total_tokens", r.prompt_total() + r.output_total())
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
        if (r_.think) {
            reasoning(out);
        }
        if (!r_.calls.empty()) {
            return;  // each call opens with its first fragment
        }
        const int64_t at = first_answer_index(r_);
        {
            JsonOut j = start("response.output_item.added");
            j.ki("output_index", at).key("item");
            message_item(j, r_, false, {});
            out.push_back(emit("response.output_item.added", j));
        }
        {
            JsonOut j = start("response.content_part.added");
            j.ks("item_id", item_id(r_)).ki("output_index", at).ki("content_index", 0).key("part");
            output_part(j, "");
            out.push_back(emit("response.content_part.added", j));
        }
    }

    void piece(std::string_view text, bool, std::vector<std::string>& out) override {
        if (!r_.calls.empty()) {
            call_piece(text, out);
            return;
        }
        text_ += text;
        JsonOut j = start("response.output_text.delta");
        j.ks("item_id", item_id(r_)).ki("output_index", first_answer_index(r_)).ki("content_index", 0)
            .ks("delta", text).key("logprobs").arr().end();
        out.push_back(emit("response.output_text.delta", j));
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        if (!r_.calls.empty()) {
            if (opened_) {
                close_call(out);
            }
        } else {
            close_message(out);
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

    // The reasoning item (output_index 0) with its summary, complete.
    void reasoning(std::vector<std::string>& out) {
        const std::string id = reasoning_id(r_);
        {
            JsonOut j = start("response.output_item.added");
            j.ki("output_index", 0).key("item");
            reasoning_item(j, r_, false);
            out.push_back(emit("response.output_item.added", j));
        }
        auto head = [&](const char* type) {
            JsonOut j = start(type);
            j.ks("item_id", id).ki("output_index", 0).ki("summary_index", 0);
            return j;
        };
        {
            JsonOut j = head("response.reasoning_summary_part.added");
            j.key("part");
            summary_part(j, "");
            out.push_back(emit("response.reasoning_summary_part.added", j));
        }
        for (std::string_view piece : kThinkingPieces) {
            JsonOut j = head("response.reasoning_summary_text.delta");
            j.ks("delta", piece);
            out.push_back(emit("response.reasoning_summary_text.delta", j));
        }
        {
            JsonOut j = head("response.reasoning_summary_text.done");
            j.ks("text", kThinkingText);
            out.push_back(emit("response.reasoning_summary_text.done", j));
        }
        {
            JsonOut j = head("response.reasoning_summary_part.done");
            j.key("part");
            summary_part(j, kThinkingText);
            out.push_back(emit("response.reasoning_summary_part.done", j));
        }
        {
            JsonOut j = start("response.output_item.done");
            j.ki("output_index", 0).key("item");
            reasoning_item(j, r_, true);
            out.push_back(emit("response.output_item.done", j));
        }
    }

    void close_message(std::vector<std::string>& out) {
        const int64_t at = first_answer_index(r_);
        {
            JsonOut j = start("response.output_text.done");
            j.ks("item_id", item_id(r_)).ki("output_index", at).ki("content_index", 0)
                .ks("text", text_).key("logprobs").arr().end();
            out.push_back(emit("response.output_text.done", j));
        }
        {
            JsonOut j = start("response.content_part.done");
            j.ks("item_id", item_id(r_)).ki("output_index", at).ki("content_index", 0).key("part");
            output_part(j, text_);
            out.push_back(emit("response.content_part.done", j));
        }
        {
            JsonOut j = start("response.output_item.done");
            j.ki("output_index", at).key("item");
            message_item(j, r_, true, text_);
            out.push_back(emit("response.output_item.done", j));
        }
    }

    int64_t call_index() const { return first_answer_index(r_) + static_cast<int64_t>(call_); }

    void call_piece(std::string_view text, std::vector<std::string>& out) {
        std::size_t k = r_.call_of_piece(pieces_++);
        if (!opened_ || k != call_) {
            if (opened_) {
                close_call(out);
            }
            opened_ = true;
            call_ = k;
            JsonOut j = start("response.output_item.added");
            j.ki("output_index", call_index()).key("item");
            call_item(j, r_, k, false);
            out.push_back(emit("response.output_item.added", j));
        }
        const char* type = r_.calls[k].custom ? "response.custom_tool_call_input.delta"
                                              : "response.function_call_arguments.delta";
        JsonOut j = start(type);
        j.ks("item_id", fc_item_id(r_, k)).ki("output_index", call_index()).ks("delta", text);
        out.push_back(emit(type, j));
    }

    void close_call(std::vector<std::string>& out) {
        if (r_.calls[call_].custom) {
            JsonOut j = start("response.custom_tool_call_input.done");
            j.ks("item_id", fc_item_id(r_, call_)).ki("output_index", call_index())
                .ks("input", r_.calls[call_].args);
            out.push_back(emit("response.custom_tool_call_input.done", j));
        } else {
            JsonOut j = start("response.function_call_arguments.done");
            j.ks("item_id", fc_item_id(r_, call_)).ki("output_index", call_index())
                .ks("name", r_.calls[call_].name).ks("arguments", r_.calls[call_].args);
            out.push_back(emit("response.function_call_arguments.done", j));
        }
        JsonOut j = start("response.output_item.done");
        j.ki("output_index", call_index()).key("item");
        call_item(j, r_, call_, true);
        out.push_back(emit("response.output_item.done", j));
    }

    Reply r_;
    int64_t seq_ = 0;
    std::string text_;
    int pieces_ = 0;
    bool opened_ = false;   // a call has been started
    std::size_t call_ = 0;  // the call being streamed
};

}  // namespace

std::string responses_complete(const Reply& r, std::string_view text) {
    JsonOut j;
    response_object(j, r, true, text);
    return j.take();
}

std::unique_ptr<Encoder> make_responses_encoder(const Reply& r) {
    return std::make_unique<ResponsesEncoder>(r);
}

}  // namespace mock

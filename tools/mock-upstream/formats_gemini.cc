// Gemini generateContent / streamGenerateContent: thought part, then text
// or functionCall parts (no ids, finishReason STOP as the real API).
#include <functional>

#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

using PartsWriter = std::function<void(JsonOut&)>;

std::string thought_signature(const Reply& r) { return fmt::format("gsig_mock{}", r.seq); }

void thought_part(JsonOut& j) {
    j.obj().ks("text", kThinkingText).kb("thought", true).end();
}

// `signed_part`: carries the thoughtSignature (the first text or call part
// of a thinking or Gemini 3 answer).
void text_part(JsonOut& j, const Reply& r, std::string_view text, bool signed_part) {
    j.obj().ks("text", text);
    if (signed_part) {
        j.ks("thoughtSignature", thought_signature(r));
    }
    j.end();
}

void call_part(JsonOut& j, const Reply& r, std::size_t k) {
    j.obj().key("functionCall").obj()
        .ks("name", r.calls[k].name)
        .kr("args", r.calls[k].args)
        .end();
    if (r.gemini_sign && k == 0) {
        j.ks("thoughtSignature", thought_signature(r));
    }
    j.end();
}

// One GenerateContentResponse. `final_chunk` adds finishReason STOP and
// the complete usage; other chunks report only the prompt.
std::string response(const Reply& r, const PartsWriter& parts, bool final_chunk) {
    JsonOut j;
    j.obj().key("candidates").arr().obj()
        .key("content").obj()
        .key("parts").arr();
    parts(j);
    j.end()
        .ks("role", "model")
        .end();
    if (final_chunk) {
        j.ks("finishReason", "STOP");
    }
    j.ki("index", 0).end().end();
    j.key("usageMetadata").obj().ki("promptTokenCount", r.prompt_total());
    if (final_chunk) {
        j.ki("candidatesTokenCount", r.output_tokens);
        if (r.think) {
            j.ki("thoughtsTokenCount", r.reasoning_tokens());
        }
        j.ki("totalTokenCount", r.prompt_total() + r.output_total());
    } else {
        j.ki("totalTokenCount", r.prompt_total());
    }
    if (r.cached_tokens > 0) {
        j.ki("cachedContentTokenCount", r.cached_tokens);
    }
    j.end()
        .ks("modelVersion", r.model)
        .ks("responseId", fmt::format("mock{}", r.seq))
        .end();
    return j.take();
}

// alt=sse: "data: <json>\r\n\r\n" per chunk, no terminator.
// Otherwise one JSON array "[{...}\n,\r\n{...}\n]", written element by element.
class GeminiEncoder final : public Encoder {
public:
    explicit GeminiEncoder(const Reply& r) : r_(r) {}

    void open(std::vector<std::string>& out) override {
        if (r_.think) {
            out.push_back(frame(response(r_, thought_part, false)));
        }
    }

    void piece(std::string_view text, bool final_piece, std::vector<std::string>& out) override {
        const int index = pieces_++;
        if (!r_.calls.empty()) {
            // One call per piece, whole; the finish comes in a later chunk.
            std::size_t k = r_.call_of_piece(index);
            out.push_back(frame(response(r_, [&](JsonOut& j) { call_part(j, r_, k); }, false)));
            return;
        }
        bool signed_part = r_.gemini_sign && index == 0;
        out.push_back(frame(response(
            r_, [&](JsonOut& j) { text_part(j, r_, text, signed_part); }, final_piece)));
    }

    void close(bool terminal, std::vector<std::string>& out) override {
        // A text answer's terminal marker is finishReason on its last piece
        // (see piece()); a tool-call turn ends with a chunk of its own.
        if (!r_.calls.empty() && terminal) {
            out.push_back(frame(response(r_, [&](JsonOut& j) { text_part(j, r_, "", false); }, true)));
        }
        if (!r_.gemini_sse) {
            out.push_back(elements_ == 0 ? std::string("[]") : std::string("\n]"));
        }
    }

    void fail(std::string_view message, std::vector<std::string>& out) override {
        JsonOut j;
        j.obj().key("error").obj()
            .ki("code", 503).ks("message", message).ks("status", "UNAVAILABLE")
            .end().end();
        out.push_back(frame(j.text()));
        if (!r_.gemini_sse) {
            out.push_back("\n]");
        }
    }

    std::string keepalive() const override {
        return r_.gemini_sse ? ": keep-alive\n\n" : std::string();
    }

private:
    std::string frame(std::string_view json) {
        if (r_.gemini_sse) {
            return fmt::format("data: {}\r\n\r\n", json);
        }
        return fmt::format("{}{}", elements_++ == 0 ? "[" : "\n,\r\n", json);
    }

    Reply r_;
    int elements_ = 0;
    int pieces_ = 0;
};

}  // namespace

std::string gemini_complete(const Reply& r, std::string_view text) {
    return response(
        r,
        [&](JsonOut& j) {
            if (r.think) {
                thought_part(j);
            }
            if (r.calls.empty()) {
                text_part(j, r, text, r.gemini_sign);
            }
            for (std::size_t k = 0; k < r.calls.size(); ++k) {
                call_part(j, r, k);
            }
        },
        true);
}

std::unique_ptr<Encoder> make_gemini_encoder(const Reply& r) {
    return std::make_unique<GeminiEncoder>(r);
}

}  // namespace mock

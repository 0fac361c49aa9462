// Gemini generateContent / streamGenerateContent.
#include <fmt/format.h>

#include "formats.h"
#include "json.h"

namespace mock {
namespace {

// One GenerateContentResponse holding `text`. `final_chunk` adds
// finishReason STOP and the complete usage.
std::string response(const Reply& r, std::string_view text, bool final_chunk) {
    JsonOut j;
    j.obj().key("candidates").arr().obj()
        .key("content").obj()
        .key("parts").arr().obj().ks("text", text).end().end()
        .ks("role", "model")
        .end();
    if (final_chunk) {
        j.ks("finishReason", "STOP");
    }
    j.ki("index", 0).end().end();
    j.key("usageMetadata").obj().ki("promptTokenCount", r.input_tokens);
    if (final_chunk) {
        j.ki("candidatesTokenCount", r.output_tokens)
            .ki("totalTokenCount", int64_t{r.input_tokens} + r.output_tokens);
    } else {
        j.ki("totalTokenCount", r.input_tokens);
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

    void open(std::vector<std::string>&) override {}

    std::string piece(std::string_view text, bool final_piece) override {
        return frame(response(r_, text, final_piece));
    }

    void close(bool, std::vector<std::string>& out) override {
        // The terminal marker is finishReason on the last piece (see piece()).
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
};

}  // namespace

std::string gemini_complete(const Reply& r, std::string_view text) {
    return response(r, text, true);
}

std::unique_ptr<Encoder> make_gemini_encoder(const Reply& r) {
    return std::make_unique<GeminiEncoder>(r);
}

}  // namespace mock

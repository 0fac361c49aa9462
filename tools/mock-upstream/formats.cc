// Dispatch, error bodies and model listings.
#include "formats.h"

#include <algorithm>

#include <fmt/format.h>

#include "json.h"
#include "ratelimit.h"

namespace mock {
namespace {

constexpr int64_t kModelCreated = 1700000000;
constexpr std::string_view kModelId = "mock-model";

struct OpenAiKind {
    const char* type;
    const char* code;  // nullptr = JSON null
};

OpenAiKind openai_kind(int status) {
    switch (status) {
        case 401: return {"invalid_request_error", "invalid_api_key"};
        case 403: return {"permission_error", nullptr};
        case 404: return {"invalid_request_error", "model_not_found"};
        case 429: return {"rate_limit_error", "rate_limit_exceeded"};
        default: break;
    }
    return {status >= 500 ? "server_error" : "invalid_request_error", nullptr};
}

const char* anthropic_type(int status) {
    switch (status) {
        case 400: return "invalid_request_error";
        case 401: return "authentication_error";
        case 402: return "billing_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 413: return "request_too_large";
        case 429: return "rate_limit_error";
        case 500: return "api_error";
        case 504: return "timeout_error";
        case 529: return "overloaded_error";
        default: break;
    }
    return status >= 500 ? "api_error" : "invalid_request_error";
}

const char* gemini_status(int status) {
    switch (status) {
        case 400: return "INVALID_ARGUMENT";
        case 401: return "UNAUTHENTICATED";
        case 403: return "PERMISSION_DENIED";
        case 404: return "NOT_FOUND";
        case 409: return "ABORTED";
        case 429: return "RESOURCE_EXHAUSTED";
        case 499: return "CANCELLED";
        case 500: return "INTERNAL";
        case 501: return "NOT_IMPLEMENTED";
        case 503: return "UNAVAILABLE";
        case 504: return "DEADLINE_EXCEEDED";
        default: break;
    }
    return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
}

void gemini_model_object(JsonOut& j, std::string_view id) {
    j.obj()
        .ks("name", fmt::format("models/{}", id))
        .ks("version", "001")
        .ks("displayName", "agd mock model")
        .ks("description", "Scripted model served by agd-mock-upstream")
        .ki("inputTokenLimit", 1048576)
        .ki("outputTokenLimit", 65536)
        .key("supportedGenerationMethods")
        .arr().str("generateContent").str("streamGenerateContent").str("countTokens").end()
        .ki("temperature", 1)
        .ki("maxTemperature", 2)
        .kr("topP", "0.95")
        .ki("topK", 64)
        .kb("thinking", false)
        .end();
}

void anthropic_model_object(JsonOut& j, std::string_view id) {
    j.obj()
        .ks("type", "model")
        .ks("id", id)
        .ks("display_name", "agd mock model")
        .ks("created_at", "2023-11-14T22:13:20Z")
        .end();
}

}  // namespace

std::size_t Reply::call_of_piece(int piece) const {
    for (std::size_t k = 0; k < calls.size(); ++k) {
        if (piece < calls[k].pieces) {
            return k;
        }
        piece -= calls[k].pieces;
    }
    return calls.empty() ? 0 : calls.size() - 1;
}

std::string call_id(const Reply& r, std::size_t k) { return fmt::format("call_mock{}_{}", r.seq, k); }
std::string fc_item_id(const Reply& r, std::size_t k) {
    return fmt::format("{}_mock{}_{}", k < r.calls.size() && r.calls[k].custom ? "ctc" : "fc", r.seq, k);
}
std::string toolu_id(const Reply& r, std::size_t k) { return fmt::format("toolu_mock{}_{}", r.seq, k); }

std::vector<std::string> split_utf8(std::string_view text, int parts) {
    // Byte offsets where a character starts (continuation bytes are 10xxxxxx).
    std::vector<std::size_t> starts;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (i == 0 || (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            starts.push_back(i);
        }
    }
    std::size_t chars = starts.size();
    std::size_t n = std::min<std::size_t>(std::max(parts, 1), std::max<std::size_t>(chars, 1));
    std::vector<std::string> out;
    std::size_t next_char = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t take = chars / n + (i < chars % n ? 1 : 0);
        std::size_t from = next_char < chars ? starts[next_char] : text.size();
        next_char += take;
        std::size_t to = next_char < chars ? starts[next_char] : text.size();
        out.emplace_back(text.substr(from, to - from));
    }
    return out;
}

std::string complete_body(const Reply& r, std::string_view text) {
    switch (r.api) {
        case Api::chat: return chat_complete(r, text);
        case Api::responses: return responses_complete(r, text);
        case Api::messages: return messages_complete(r, text);
        case Api::gemini: return gemini_complete(r, text);
    }
    return {};
}

std::unique_ptr<Encoder> make_encoder(const Reply& r) {
    switch (r.api) {
        case Api::chat: return make_chat_encoder(r);
        case Api::responses: return make_responses_encoder(r);
        case Api::messages: return make_messages_encoder(r);
        case Api::gemini: return make_gemini_encoder(r);
    }
    return nullptr;
}

const char* stream_content_type(const Reply& r) {
    if (r.api == Api::gemini && !r.gemini_sse) {
        return "application/json";
    }
    return "text/event-stream";
}

std::string error_body(Api api, int status, std::string_view message, uint64_t seq, bool key_wide,
                       int64_t retry_delay_ns) {
    JsonOut j;
    switch (api) {
        case Api::chat:
        case Api::responses: {
            OpenAiKind kind = openai_kind(status);
            if (status == 429 && key_wide) kind = {"insufficient_quota", "insufficient_quota"};
            j.obj().key("error").obj().ks("message", message).ks("type", kind.type).kn("param");
            if (kind.code != nullptr) {
                j.ks("code", kind.code);
            } else {
                j.kn("code");
            }
            j.end().end();
            break;
        }
        case Api::messages:
            j.obj()
                .ks("type", "error")
                .key("error").obj().ks("type", anthropic_type(status)).ks("message", message).end()
                .ks("request_id", fmt::format("req_mock{}", seq))
                .end();
            break;
        case Api::gemini:
            j.obj()
                .key("error").obj()
                .ki("code", status)
                .ks("message", message)
                .ks("status", gemini_status(status));
            if (status == 429 || retry_delay_ns >= 0) {
                j.key("details").arr();
                if (status == 429 && key_wide && retry_delay_ns >= 0) {
                    j.obj()
                        .ks("@type", "type.googleapis.com/google.rpc.ErrorInfo")
                        .ks("reason", "RATE_LIMIT_EXCEEDED")
                        .ks("domain", "generativelanguage.googleapis.com")
                        .key("metadata").obj()
                        .ks("service", "generativelanguage.googleapis.com")
                        .ks("quotaResetDelay", go_duration(retry_delay_ns))
                        .end().end();
                }
                if (status == 429) {
                    // google.rpc.QuotaFailure: per project and model, or (key_wide) per project.
                    j.obj()
                        .ks("@type", "type.googleapis.com/google.rpc.QuotaFailure")
                        .key("violations").arr().obj()
                        .ks("quotaMetric", "generativelanguage.googleapis.com/generate_content_requests")
                        .ks("quotaId", key_wide ? "GenerateRequestsPerDayPerProject" : "GenerateRequestsPerMinutePerProjectPerModel");
                    if (!key_wide) j.key("quotaDimensions").obj().ks("location", "global").ks("model", "mock-model").end();
                    j.end().end().end();
                }
                if (retry_delay_ns >= 0) {
                    j.obj()
                        .ks("@type", "type.googleapis.com/google.rpc.RetryInfo")
                        .ks("retryDelay", fmt::format("{}s", ceil_seconds(retry_delay_ns)))
                        .end();
                }
                j.end();
            }
            j.end().end();
            break;
    }
    return j.take();
}

std::string count_body(Api api, int tokens) {
    JsonOut j;
    j.obj();
    if (api == Api::gemini) {
        j.ki("totalTokens", tokens);
    } else {
        j.ki("input_tokens", tokens);
    }
    return j.end().take();
}

std::string openai_model(std::string_view id) {
    JsonOut j;
    j.obj()
        .ks("id", id)
        .ks("object", "model")
        .ki("created", kModelCreated)
        .ks("owned_by", "agd-mock")
        .end();
    return j.take();
}

std::string openai_model_list() {
    JsonOut j;
    j.obj().ks("object", "list").key("data").arr().raw(openai_model(kModelId)).end().end();
    return j.take();
}

std::string anthropic_model(std::string_view id) {
    JsonOut j;
    anthropic_model_object(j, id);
    return j.take();
}

std::string anthropic_model_list() {
    JsonOut j;
    j.obj().key("data").arr();
    anthropic_model_object(j, kModelId);
    j.end().kb("has_more", false).ks("first_id", kModelId).ks("last_id", kModelId).end();
    return j.take();
}

std::string gemini_model(std::string_view id) {
    JsonOut j;
    gemini_model_object(j, id);
    return j.take();
}

std::string gemini_model_list() {
    JsonOut j;
    j.obj().key("models").arr();
    gemini_model_object(j, kModelId);
    j.end().end();
    return j.take();
}

std::string sse_named(std::string_view type, std::string_view json) {
    return fmt::format("event: {}\ndata: {}\n\n", type, json);
}

std::string sse_data(std::string_view json) {
    return fmt::format("data: {}\n\n", json);
}

}  // namespace mock

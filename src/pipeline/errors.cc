#include "pipeline/errors.h"

#include "common/json.h"

namespace agd {
namespace {

struct Row {
    int status;
    const char* openai_type;
    const char* openai_code;  // nullptr = null
    int anthropic_status;
    const char* anthropic_type;
    int gemini_status;
    const char* gemini_status_name;
};

const Row& row(ErrorKind k) {
    static const Row rows[] = {
        /* BadRequest       */ {400, "invalid_request_error", nullptr, 400, "invalid_request_error", 400, "INVALID_ARGUMENT"},
        /* Unauthorized     */ {401, "invalid_request_error", "invalid_api_key", 401, "authentication_error", 401, "UNAUTHENTICATED"},
        /* Forbidden        */ {403, "permission_error", nullptr, 403, "permission_error", 403, "PERMISSION_DENIED"},
        /* NotFound         */ {404, "invalid_request_error", "not_found", 404, "not_found_error", 404, "NOT_FOUND"},
        /* ModelNotFound    */ {404, "invalid_request_error", "model_not_found", 404, "not_found_error", 404, "NOT_FOUND"},
        /* MethodNotAllowed */ {405, "invalid_request_error", "method_not_allowed", 405, "invalid_request_error", 405, "INVALID_ARGUMENT"},
        /* TooLarge         */ {413, "invalid_request_error", "request_too_large", 413, "request_too_large", 413, "INVALID_ARGUMENT"},
        /* RateLimited      */ {429, "rate_limit_error", "rate_limit_exceeded", 429, "rate_limit_error", 429, "RESOURCE_EXHAUSTED"},
        /* Internal         */ {500, "server_error", nullptr, 500, "api_error", 500, "INTERNAL"},
        /* NotImplemented   */ {501, "server_error", "not_implemented", 501, "api_error", 501, "UNIMPLEMENTED"},
        /* BadGateway       */ {502, "server_error", "bad_gateway", 502, "api_error", 502, "UNAVAILABLE"},
        /* Unavailable      */ {503, "server_error", "service_unavailable", 529, "overloaded_error", 503, "UNAVAILABLE"},
        /* Timeout          */ {504, "server_error", "timeout", 504, "timeout_error", 504, "DEADLINE_EXCEEDED"},
        /* RequestTimeout   */ {408, "invalid_request_error", "request_timeout", 408, "invalid_request_error", 408, "DEADLINE_EXCEEDED"},
        /* UriTooLong       */ {414, "invalid_request_error", "uri_too_long", 414, "invalid_request_error", 414, "INVALID_ARGUMENT"},
        /* HeaderTooLarge   */ {431, "invalid_request_error", "request_header_fields_too_large", 431, "invalid_request_error", 431, "INVALID_ARGUMENT"},
        /* UpgradeRequired  */ {426, "invalid_request_error", "upgrade_required", 426, "invalid_request_error", 426, "FAILED_PRECONDITION"},
    };
    return rows[static_cast<int>(k)];
}

std::string openai_error(const Row& r, std::string_view message) {
    std::string b = "{\"error\":{\"message\":";
    append_json_string(b, message);
    b += ",\"type\":\"";
    b += r.openai_type;
    b += "\",\"param\":null,\"code\":";
    if (r.openai_code) {
        b += '"';
        b += r.openai_code;
        b += '"';
    } else {
        b += "null";
    }
    b += "}}";
    return b;
}

std::string anthropic_error(const Row& r, std::string_view message) {
    std::string b = "{\"type\":\"error\",\"error\":{\"type\":\"";
    b += r.anthropic_type;
    b += "\",\"message\":";
    append_json_string(b, message);
    b += "}}";
    return b;
}

std::string gemini_error(const Row& r, std::string_view message) {
    std::string b = "{\"error\":{\"code\":";
    b += std::to_string(r.gemini_status);
    b += ",\"message\":";
    append_json_string(b, message);
    b += ",\"status\":\"";
    b += r.gemini_status_name;
    b += "\"}}";
    return b;
}

}  // namespace

ErrorKind error_kind_for_status(int status) {
    switch (status) {
        case 400: return ErrorKind::BadRequest;
        case 401: return ErrorKind::Unauthorized;
        case 403: return ErrorKind::Forbidden;
        case 404: return ErrorKind::NotFound;
        case 413: return ErrorKind::TooLarge;
        case 429: return ErrorKind::RateLimited;
        case 503:
        case 529: return ErrorKind::Unavailable;
        case 504: return ErrorKind::Timeout;
        default: return status >= 500 ? ErrorKind::BadGateway : ErrorKind::BadRequest;
    }
}

ErrorReply error_reply(Surface surface, ErrorKind kind, std::string_view message) {
    const Row& r = row(kind);
    switch (surface) {
        case Surface::OpenAI: return {r.status, openai_error(r, message)};
        case Surface::Anthropic: return {r.anthropic_status, anthropic_error(r, message)};
        case Surface::Gemini: return {r.gemini_status, gemini_error(r, message)};
    }
    return {r.status, openai_error(r, message)};
}

std::string stream_error_event(Protocol protocol, ErrorKind kind, std::string_view message) {
    const Row& r = row(kind);
    switch (protocol) {
        case Protocol::OpenAIChat: return "data: " + openai_error(r, message) + "\n\n";
        case Protocol::OpenAIResponses: {
            // The Responses `error` event, plus an `error` object: the OpenAI
            // SDKs raise on a stream event that carries one.
            const char* code = r.openai_code ? r.openai_code : r.openai_type;
            std::string b = "event: error\ndata: {\"type\":\"error\",\"code\":\"";
            b += code;
            b += "\",\"message\":";
            append_json_string(b, message);
            b += ",\"param\":null,\"error\":{\"type\":\"";
            b += r.openai_type;
            b += "\",\"code\":\"";
            b += code;
            b += "\",\"message\":";
            append_json_string(b, message);
            b += "}}\n\n";
            return b;
        }
        case Protocol::Anthropic: return "event: error\ndata: " + anthropic_error(r, message) + "\n\n";
        case Protocol::Gemini: return "data: " + gemini_error(r, message) + "\r\n\r\n";
    }
    return {};
}

}  // namespace agd

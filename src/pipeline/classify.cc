#include "pipeline/classify.h"

namespace agd {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Route make(Operation op, Protocol p) {
    Route r;
    r.op = op;
    r.protocol = p;
    r.surface = surface_of(p);
    return r;
}

Route method_check(HttpMethod got, HttpMethod want, Route r) {
    if (got != want && !(want == HttpMethod::Get && got == HttpMethod::Head)) r.op = Operation::MethodNotAllowed;
    return r;
}

// /v1beta/models..., /v1/models/{m}:op (Gemini SDKs may use either version).
Route classify_gemini(HttpMethod method, std::string_view rest, std::string_view query) {
    // rest: what follows "models" (either "" / "/" or "/{model}[:{op}]")
    Route r = make(Operation::GeminiListModels, Protocol::Gemini);
    if (rest.empty() || rest == "/") return method_check(method, HttpMethod::Get, r);
    std::string_view name = rest.substr(1);
    std::string_view op;
    if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
        op = name.substr(colon + 1);
        name = name.substr(0, colon);
    }
    std::string decoded;
    if (name.empty() || !percent_decode(name, &decoded) || decoded.find('/') != std::string::npos) {
        r.op = Operation::NotFound;
        return r;
    }
    r.model = std::move(decoded);
    if (op.empty()) {
        r.op = Operation::GeminiGetModel;
        return method_check(method, HttpMethod::Get, r);
    }
    if (op == "generateContent") r.op = Operation::GenerateContent;
    else if (op == "streamGenerateContent") {
        r.op = Operation::StreamGenerateContent;
        std::string alt;
        r.gemini_sse = query_param(query, "alt", &alt) && alt == "sse";
    } else if (op == "countTokens") r.op = Operation::GeminiCountTokens;
    else if (op == "embedContent") r.op = Operation::GeminiEmbedContent;
    else if (op == "batchEmbedContents") r.op = Operation::GeminiBatchEmbed;
    else {
        r.op = Operation::NotFound;
        return r;
    }
    return method_check(method, HttpMethod::Post, r);
}

}  // namespace

bool percent_decode(std::string_view in, std::string* out) {
    out->clear();
    out->reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out->push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out->push_back(c);
        }
    }
    return true;
}

bool query_param(std::string_view query, std::string_view name, std::string* value) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        size_t eq = pair.find('=');
        std::string_view k = pair.substr(0, eq);
        if (k != name) continue;
        std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        std::string plus;
        plus.reserve(v.size());
        for (char c : v) plus.push_back(c == '+' ? ' ' : c);
        if (!percent_decode(plus, value)) *value = std::string(v);
        return true;
    }
    return false;
}

Route classify(HttpMethod method, std::string_view path, std::string_view query, bool anthropic_hint) {
    // Trailing slashes are tolerated ("/v1/chat/completions/").
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

    // /api/hello: Claude Code's connection warm-up (HEAD, no key) at its base URL.
    if (path == "/health" || path == "/healthz" || path == "/api/hello")
        return method_check(method, HttpMethod::Get, make(Operation::Health, Protocol::OpenAIChat));

    // Clients configured without the /v1 prefix are served too.
    std::string_view p = path;
    if (starts_with(p, "/v1beta/models")) return classify_gemini(method, p.substr(14), query);
    if (starts_with(p, "/v1/models/") && p.find(':') != std::string_view::npos)
        return classify_gemini(method, p.substr(10), query);
    if (starts_with(p, "/v1/")) p.remove_prefix(3);

    if (p == "/chat/completions") return method_check(method, HttpMethod::Post, make(Operation::ChatCompletions, Protocol::OpenAIChat));
    if (p == "/completions") return method_check(method, HttpMethod::Post, make(Operation::Completions, Protocol::OpenAIChat));
    if (p == "/responses/compact")
        return method_check(method, HttpMethod::Post, make(Operation::ResponsesCompact, Protocol::OpenAIResponses));
    // GET: the WebSocket transport (local_endpoints.cc answers the upgrade).
    if (p == "/responses" && method == HttpMethod::Get) return make(Operation::ResponsesSocket, Protocol::OpenAIResponses);
    if (p == "/responses") return method_check(method, HttpMethod::Post, make(Operation::Responses, Protocol::OpenAIResponses));
    if (p == "/embeddings") return method_check(method, HttpMethod::Post, make(Operation::Embeddings, Protocol::OpenAIChat));
    if (p == "/images/generations")
        return method_check(method, HttpMethod::Post, make(Operation::ImagesGenerations, Protocol::OpenAIChat));
    if (p == "/images/edits") return method_check(method, HttpMethod::Post, make(Operation::ImagesEdits, Protocol::OpenAIChat));
    if (p == "/audio/transcriptions")
        return method_check(method, HttpMethod::Post, make(Operation::AudioTranscriptions, Protocol::OpenAIChat));
    if (p == "/audio/translations")
        return method_check(method, HttpMethod::Post, make(Operation::AudioTranslations, Protocol::OpenAIChat));
    if (p == "/audio/speech") return method_check(method, HttpMethod::Post, make(Operation::AudioSpeech, Protocol::OpenAIChat));
    if (p == "/messages") return method_check(method, HttpMethod::Post, make(Operation::Messages, Protocol::Anthropic));
    if (p == "/messages/count_tokens")
        return method_check(method, HttpMethod::Post, make(Operation::AnthropicCountTokens, Protocol::Anthropic));
    // The model list's shape: ?format=openai|anthropic|gemini, else the anthropic-version header decides.
    Protocol list_proto = anthropic_hint ? Protocol::Anthropic : Protocol::OpenAIChat;
    std::string format;
    if (query_param(query, "format", &format)) {
        if (format == "anthropic") list_proto = Protocol::Anthropic;
        else if (format == "openai") list_proto = Protocol::OpenAIChat;
        else if (format == "gemini" && p == "/models")
            return method_check(method, HttpMethod::Get, make(Operation::GeminiListModels, Protocol::Gemini));
    }
    if (p == "/models") return method_check(method, HttpMethod::Get, make(Operation::ListModels, list_proto));
    if (starts_with(p, "/models/")) {
        Route r = make(Operation::GetModel, list_proto);
        if (!percent_decode(p.substr(8), &r.model) || r.model.empty()) r.op = Operation::NotFound;
        else r = method_check(method, HttpMethod::Get, r);
        return r;
    }
    // Unknown paths get an error in the family the prefix suggests.
    Route r = make(Operation::NotFound, starts_with(path, "/v1beta") ? Protocol::Gemini : Protocol::OpenAIChat);
    return r;
}

}  // namespace agd

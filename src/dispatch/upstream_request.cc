#include "dispatch/upstream_request.h"

#include <time.h>

#include <cstdlib>

#include "common/json.h"
#include "credentials/ledger.h"
#include "dispatch/router.h"
#include "server/request_context.h"
#include "server/snapshot.h"
#include "server/upload_stream.h"

namespace agd::dispatch {
namespace {

std::string url_escape_segment(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || c == '~' || c == '+' || c == '=' || c == '@' || c == ',';
        if (keep) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

const char* gemini_op(Operation op) {
    switch (op) {
        case Operation::StreamGenerateContent: return "streamGenerateContent";
        case Operation::GeminiCountTokens: return "countTokens";
        case Operation::GeminiEmbedContent: return "embedContent";
        case Operation::GeminiBatchEmbed: return "batchEmbedContents";
        default: return "generateContent";
    }
}

void forward(const RequestContext& ctx, const char* name, upstream::Request& req) {
    std::string_view v = ctx.header(name);
    if (!v.empty()) req.headers.push_back(std::string(name) + ": " + std::string(v));
}

// The provider's auth header and the few client headers that matter upstream.
void add_headers(const RequestContext& ctx, const Provider& provider, const Credential& cred, std::string_view accept,
                 upstream::Request& req, std::string_view content_type = "application/json") {
    req.headers.reserve(8);
    if (content_type == "application/json") req.headers.emplace_back("Content-Type: application/json");
    else req.headers.push_back("Content-Type: " + std::string(content_type));
    req.headers.push_back("Accept: " + std::string(accept.empty() ? "*/*" : accept));
    forward(ctx, "user-agent", req);
    // The secret: a key, or an OAuth2 access token (the Exchange made sure
    // one is usable), in the header the provider wants.
    const config::ProviderConfig& pc = *provider.cfg;
    std::string secret = cred.oauth ? cred.oauth->access(credentials::wall_ms()) : cred.key;
    config::AuthHeader how = pc.auth_header;
    if (how == config::AuthHeader::Default) {
        how = cred.oauth                              ? config::AuthHeader::Bearer
              : provider.wire == Protocol::Anthropic ? config::AuthHeader::XApiKey
              : provider.wire == Protocol::Gemini    ? config::AuthHeader::XGoogApiKey
                                                     : config::AuthHeader::Bearer;
    }
    switch (how) {
        case config::AuthHeader::Default:
        case config::AuthHeader::Bearer: req.headers.push_back("Authorization: Bearer " + secret); break;
        case config::AuthHeader::XApiKey: req.headers.push_back("x-api-key: " + secret); break;
        case config::AuthHeader::XGoogApiKey: req.headers.push_back("x-goog-api-key: " + secret); break;
    }
    switch (provider.wire) {
        case Protocol::OpenAIChat:
        case Protocol::OpenAIResponses:
            if (ctx.route.protocol == Protocol::OpenAIChat || ctx.route.protocol == Protocol::OpenAIResponses)
                forward(ctx, "openai-beta", req);
            break;
        case Protocol::Anthropic: {
            std::string_view version = ctx.header("anthropic-version");
            req.headers.push_back("anthropic-version: " + std::string(version.empty() ? "2023-06-01" : version));
            if (ctx.route.protocol == Protocol::Anthropic) forward(ctx, "anthropic-beta", req);
            break;
        }
        case Protocol::Gemini: break;
    }
    for (const auto& h : pc.extra_headers) req.headers.push_back(h);
}

void set_transport(const RequestContext& ctx, const Provider& provider, upstream::Request& req) {
    const config::ProviderConfig& pc = *provider.cfg;
    const config::Config& cfg = *ctx.snap->config;
    req.proxy = pc.proxy;
    req.ca_file = pc.ca_file;
    req.tls = provider.tls.get();
    req.native_ok = pc.http_client == config::HttpClient::Auto;
    req.h2 = pc.http_client == config::HttpClient::LibcurlH2;
    req.connect_timeout = cfg.server.connect_timeout;
    req.idle_timeout = cfg.server.upstream_timeout;
    req.post = true;
}

}  // namespace

bool build_passthrough(const RequestContext& ctx, const Provider& provider, const Credential& cred,
                       const std::string& upstream_model, upstream::Request& req, std::string& owned_body) {
    const config::ProviderConfig& pc = *provider.cfg;
    const std::string& base = pc.base_url;
    switch (ctx.route.op) {
        case Operation::ChatCompletions: req.url = base + "/chat/completions"; break;
        case Operation::Responses: req.url = base + "/responses"; break;
        case Operation::ResponsesCompact: req.url = base + "/responses/compact"; break;
        case Operation::Messages: req.url = base + "/v1/messages"; break;
        case Operation::AnthropicCountTokens: req.url = base + "/v1/messages/count_tokens"; break;
        case Operation::Embeddings: req.url = base + "/embeddings"; break;
        case Operation::ImagesGenerations: req.url = base + "/images/generations"; break;
        case Operation::ImagesEdits: req.url = base + "/images/edits"; break;
        case Operation::AudioTranscriptions: req.url = base + "/audio/transcriptions"; break;
        case Operation::AudioTranslations: req.url = base + "/audio/translations"; break;
        case Operation::AudioSpeech: req.url = base + "/audio/speech"; break;
        default:
            req.url = base + "/v1beta/models/" + url_escape_segment(upstream_model) + ":" + gemini_op(ctx.route.op);
            if (ctx.route.gemini_sse) req.url += "?alt=sse";
            break;
    }
    // An upload keeps its own Content-Type: the boundary frames its body.
    add_headers(ctx, provider, cred, ctx.header("accept"), req,
                ctx.body.multipart ? ctx.header("content-type") : std::string_view("application/json"));

    bool rename = ctx.route.protocol != Protocol::Gemini && ctx.body.has_model && upstream_model != ctx.body.model;
    if (ctx.upload) {  // a streamed upload: read from the stream, renamed as it goes
        req.source = ctx.upload.get();
        req.body_len = ctx.upload->begin(rename ? std::string_view(upstream_model) : std::string_view(ctx.body.model));
        set_transport(ctx, provider, req);
        return false;
    }
    req.body = ctx.body_data;
    req.body_len = ctx.body_len;
    // A Chat stream reports its usage only when asked: asked for it here when
    // the client said nothing about stream_options (the Exchange drops the
    // extra chunk before the client sees it).
    static constexpr std::string_view kAskUsage = "\"stream_options\":{\"include_usage\":true},";
    const char* open = nullptr;
    if (ctx.route.op == Operation::ChatCompletions && ctx.body.stream && !ctx.body.has_stream_options) {
        const char* p = ctx.body_data;
        const char* end = ctx.body_data + ctx.body_len;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
        if (p < end && *p == '{') open = p + 1;
    }
    if (rename || open) {
        const char* data = ctx.body_data;
        owned_body.clear();
        owned_body.reserve(ctx.body_len + upstream_model.size() + kAskUsage.size());
        size_t pos = 0;
        if (open) {
            pos = static_cast<size_t>(open - data);
            owned_body.append(data, pos);
            owned_body.append(kAskUsage);
        }
        if (rename) {  // the model is inside the object: after `open`
            owned_body.append(data + pos, ctx.body.model_begin - pos);
            if (ctx.body.multipart)  // a form field's raw value (a configured name: no CRLF)
                owned_body.append(upstream_model);
            else
                append_json_string(owned_body, upstream_model);
            pos = ctx.body.model_end;
        }
        owned_body.append(data + pos, ctx.body_len - pos);
        req.body = owned_body.data();
        req.body_len = owned_body.size();
    }
    set_transport(ctx, provider, req);
    return open != nullptr;
}

void build_translated(const RequestContext& ctx, const Provider& provider, const Credential& cred,
                      const std::string& upstream_model, UpstreamCall call, const std::string& body,
                      upstream::Request& req) {
    const config::ProviderConfig& pc = *provider.cfg;
    const std::string& base = pc.base_url;
    bool stream = call == UpstreamCall::Stream;
    switch (provider.wire) {
        case Protocol::OpenAIChat:
        case Protocol::OpenAIResponses:
            req.url = base + (call == UpstreamCall::Embed                  ? "/embeddings"
                              : provider.wire == Protocol::OpenAIChat ? "/chat/completions"
                                                                      : "/responses");
            break;
        case Protocol::Anthropic:
            req.url = base + (call == UpstreamCall::CountTokens ? "/v1/messages/count_tokens" : "/v1/messages");
            break;
        case Protocol::Gemini:
            req.url = base + "/v1beta/models/" + url_escape_segment(upstream_model) + ":" +
                      (call == UpstreamCall::CountTokens ? "countTokens"
                       : call == UpstreamCall::Embed     ? "batchEmbedContents"
                       : stream                          ? "streamGenerateContent?alt=sse"
                                                         : "generateContent");
            break;
    }
    add_headers(ctx, provider, cred, stream ? "text/event-stream" : "application/json", req);
    req.body = body.data();
    req.body_len = body.size();
    set_transport(ctx, provider, req);
}

long long parse_retry_after(const std::string& value, long long now_unix) {
    if (value.empty()) return -1;
    char* end = nullptr;
    double secs = std::strtod(value.c_str(), &end);
    if (end && *end == '\0' && secs >= 0) return static_cast<long long>(secs + 0.999);
    tm t{};
    if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t)) {
        long long when = static_cast<long long>(timegm(&t));
        return when > now_unix ? when - now_unix : 0;
    }
    return -1;
}

}  // namespace agd::dispatch

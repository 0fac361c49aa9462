// Names of the config enums, as written in antigravityd.conf.
#include "config/config.h"

#include "common/glob.h"

namespace agd::config {

const char* to_string(ProviderType t) {
    switch (t) {
        case ProviderType::OpenAI: return "openai";
        case ProviderType::Anthropic: return "anthropic";
        case ProviderType::Gemini: return "gemini";
    }
    return "unknown";
}

const char* to_string(OpenAIApi a) {
    switch (a) {
        case OpenAIApi::Chat: return "chat";
        case OpenAIApi::Responses: return "responses";
    }
    return "unknown";
}

const char* to_string(AuthMode m) {
    switch (m) {
        case AuthMode::Off: return "off";
        case AuthMode::Strict: return "strict";
        case AuthMode::AllExceptHealth: return "all_except_health";
        case AuthMode::Auto: return "auto";
    }
    return "unknown";
}

const char* to_string(ProviderAuth a) { return a == ProviderAuth::OAuth2 ? "oauth2" : "api_key"; }

const char* to_string(AuthHeader h) {
    switch (h) {
        case AuthHeader::Default: return "default";
        case AuthHeader::Bearer: return "authorization-bearer";
        case AuthHeader::XApiKey: return "x-api-key";
        case AuthHeader::XGoogApiKey: return "x-goog-api-key";
    }
    return "default";
}

const char* to_string(HttpClient h) {
    switch (h) {
        case HttpClient::Auto: return "auto";
        case HttpClient::Libcurl: return "libcurl";
        case HttpClient::LibcurlH2: return "libcurl-h2";
    }
    return "auto";
}

const ModelConfig* model_config(const Config& cfg, std::string_view model) {
    for (const auto& m : cfg.models)
        if (!m.is_glob && m.pattern == model) return &m;
    for (const auto& m : cfg.models)
        if (m.is_glob && glob_match(m.pattern, model)) return &m;
    return nullptr;
}

const char* to_string(Strategy s) {
    switch (s) {
        case Strategy::RoundRobin: return "round-robin";
        case Strategy::FillFirst: return "fill-first";
        case Strategy::Weighted: return "weighted";
    }
    return "unknown";
}

const char* to_string(LogLevel l) {
    switch (l) {
        case LogLevel::Error: return "error";
        case LogLevel::Warning: return "warning";
        case LogLevel::Notice: return "notice";
        case LogLevel::Info: return "info";
        case LogLevel::Debug: return "debug";
    }
    return "unknown";
}

const char* to_string(RealIpHeader h) {
    switch (h) {
        case RealIpHeader::XForwardedFor: return "x-forwarded-for";
        case RealIpHeader::XRealIp: return "x-real-ip";
    }
    return "unknown";
}

const char* to_string(LogBodies b) {
    switch (b) {
        case LogBodies::Off: return "off";
        case LogBodies::Errors: return "errors";
        case LogBodies::All: return "all";
    }
    return "off";
}

const char* to_string(RuleWire w) {
    switch (w) {
        case RuleWire::Any: return "any";
        case RuleWire::OpenAI: return "openai";
        case RuleWire::Chat: return "chat";
        case RuleWire::Responses: return "responses";
        case RuleWire::Anthropic: return "anthropic";
        case RuleWire::Gemini: return "gemini";
    }
    return "any";
}

const char* to_string(TlsVersion v) { return v == TlsVersion::V1_3 ? "1.3" : "1.2"; }

bool has_tls_listener(const Config& cfg) {
    for (const auto* list : {&cfg.server.listen, &cfg.admin.listen})
        for (const auto& l : *list)
            if (l.tls) return true;
    return false;
}

}  // namespace agd::config

// The control socket's `route` verb (daemon/route_control.h).
#include "daemon/route_control.h"

#include "clients/limit_stage.h"
#include "common/json.h"
#include "config/config.h"
#include "credentials/ledger.h"
#include "credentials/sessions.h"
#include "dispatch/payload_rules.h"
#include "dispatch/router.h"
#include "pipeline/protocol.h"
#include "translate/json_util.h"

namespace agd::daemon {

namespace {

constexpr size_t kMaxField = 512;

std::string refusal(std::string_view code, const std::string& message) {
    return "{\"ok\":false,\"error\":" + json_string(code) + ",\"message\":" + json_string(message) + "}";
}

const char* gate_name(credentials::CredentialState::Gate g) {
    switch (g) {
        case credentials::CredentialState::Gate::Ready: return "ready";
        case credentials::CredentialState::Gate::Soft: return "soft";
        case credentials::CredentialState::Gate::Probe: return "probe";
        case credentials::CredentialState::Gate::Out: return "out";
    }
    return "out";
}

std::string id_of(const dispatch::Provider* p, const dispatch::Credential* c) {
    return credentials::Ledger::id(p->cfg->name, c->fingerprint);
}

}  // namespace

std::string route_command(const config::Config& cfg, const dispatch::Router& router, std::string_view args,
                          int64_t now, int64_t wall) {
    translate::JsonDoc doc;
    std::string error;
    if (!translate::parse_json(args, doc, &error) || !doc.IsObject())
        return refusal("usage", "route: the arguments must be a JSON object (" + error + ")");
    auto text = [&](const char* key) -> std::string {
        const translate::JsonValue* v = translate::member(doc, key);
        if (v == nullptr || !v->IsString()) return {};
        return std::string(v->GetString(), std::min<size_t>(v->GetStringLength(), kMaxField));
    };
    std::string model = text("model"), client = text("client"), protocol = text("protocol"), session = text("session");
    if (model.empty()) return refusal("usage", "route: a model is required");

    Protocol proto = Protocol::OpenAIChat;
    if (!protocol.empty()) {
        bool known = false;
        for (Protocol p : {Protocol::OpenAIChat, Protocol::OpenAIResponses, Protocol::Anthropic, Protocol::Gemini})
            if (protocol == protocol_name(p)) {
                proto = p;
                known = true;
            }
        if (!known)
            return refusal("usage", "route: unknown protocol '" + protocol +
                                        "' (openai-chat, openai-responses, anthropic, gemini)");
    }
    int client_index = -1;
    if (!client.empty()) {
        for (size_t i = 0; i < cfg.clients.size(); ++i)
            if (cfg.clients[i].name == client) client_index = static_cast<int>(i);
        if (client_index < 0) return refusal("not_found", "route: no client '" + client + "'");
        const auto& c = cfg.clients[static_cast<size_t>(client_index)];
        if (!clients::model_allowed(c, model))
            return refusal("forbidden", "client '" + client + "' may not use model '" + model +
                                            "' (its models setting does not allow it): the request would get a 403");
    }

    std::vector<dispatch::Match> matches = router.match(model);
    if (matches.empty())
        return refusal("not_found", "no provider serves model '" + model + "': the request would get a 404");
    for (auto& m : matches) m.translated = router.providers()[m.provider].wire != proto;
    uint64_t key = router.sticky() ? credentials::session_key(client, model, session) : 0;
    dispatch::Router::Explanation ex = router.explain(matches, now, key);

    auto to_wall = [&](int64_t t) { return t > now ? wall + (t - now) : 0; };
    std::string b = "{\"ok\":true,\"model\":" + json_string(model) + ",\"protocol\":\"" + protocol_name(proto) + "\"";
    b += ",\"client\":" + (client.empty() ? std::string("null") : json_string(client));
    b += ",\"sticky_sessions\":";
    b += router.sticky() ? "true" : "false";
    b += ",\"session\":" + (key != 0 ? std::string("true") : std::string("false"));
    b += ",\"candidates\":[";
    for (size_t i = 0; i < ex.candidates.size(); ++i) {
        const auto& c = ex.candidates[i];
        if (i) b += ',';
        b += "{\"id\":" + json_string(id_of(c.provider, c.cred)) + ",\"provider\":" + json_string(c.provider->cfg->name);
        b += ",\"tier\":" + std::to_string(c.tier) + ",\"translated\":" + (c.translated ? "true" : "false");
        b += ",\"wire\":\"";
        b += protocol_name(c.provider->wire);
        b += "\",\"upstream_model\":" + json_string(c.upstream_model);
        b += ",\"weight\":" + std::to_string(c.cred->weight);
        b += ",\"gate\":\"";
        b += gate_name(c.check.gate);
        b += "\",\"reason\":" + json_string(c.check.reason);
        if (c.check.until_ms > now) b += ",\"until\":" + std::to_string(to_wall(c.check.until_ms));
        b += ",\"rules\":[";  // the payload rules its requests would get, in the order applied
        bool first_rule = true;
        for (const auto& r : cfg.rules) {
            if (!dispatch::rule_matches(r, c.upstream_model, c.provider->wire, client)) continue;
            if (!first_rule) b += ',';
            first_rule = false;
            b += json_string(r.name);
        }
        b += "]}";
    }
    b += "],\"sticky\":" + (ex.sticky ? json_string(id_of(ex.sticky->provider, ex.sticky->cred)) : std::string("null"));
    b += ",\"pick\":{\"status\":\"";
    switch (ex.pick.status) {
        case dispatch::Router::PickStatus::Ok: b += "ok"; break;
        case dispatch::Router::PickStatus::AllCooling: b += "all_cooling"; break;
        case dispatch::Router::PickStatus::Exhausted: b += "exhausted"; break;
    }
    b += '"';
    if (ex.pick.status == dispatch::Router::PickStatus::Ok) {
        b += ",\"id\":" + json_string(id_of(ex.pick.provider, ex.pick.cred));
        b += ",\"provider\":" + json_string(ex.pick.provider->cfg->name);
        b += ",\"upstream_model\":" + json_string(ex.pick.upstream_model);
        b += ",\"probe\":";
        b += ex.pick.probe ? "true" : "false";
    } else if (ex.pick.status == dispatch::Router::PickStatus::AllCooling) {
        b += ",\"retry_after_s\":" + std::to_string((ex.pick.retry_after_ms + 999) / 1000);
    }
    b += "},\"fallback\":[";
    if (const config::ModelConfig* mc = config::model_config(cfg, model)) {
        bool first = true;
        for (const auto& f : mc->fallback) {
            if (client_index >= 0 && !clients::model_allowed(cfg.clients[static_cast<size_t>(client_index)], f))
                continue;
            if (!first) b += ',';
            first = false;
            b += json_string(f);
        }
    }
    b += "]}";
    return b;
}

}  // namespace agd::daemon

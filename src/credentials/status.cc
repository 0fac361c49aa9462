// A credential's state as JSON (credentials/status.h).
#include "credentials/status.h"

#include <cstdio>
#include <cstring>

#include "common/json.h"
#include "credentials/ledger.h"

namespace agd::credentials {

namespace {

int64_t seconds_left(int64_t until, int64_t now) { return until > now ? (until - now + 999) / 1000 : 0; }

void number(std::string& b, const char* key, int64_t v) {
    b += ",\"";
    b += key;
    b += "\":" + std::to_string(v);
}

// {"remaining":N,"reset_at":MS}, each member only when reported.
void window_json(std::string& b, const char* key, const Window& w) {
    if (w.remaining < 0 && w.reset_unix_ms < 0) return;
    std::string m;
    if (w.remaining >= 0) m += ",\"remaining\":" + std::to_string(w.remaining);
    if (w.reset_unix_ms >= 0) m += ",\"reset_at\":" + std::to_string(w.reset_unix_ms);
    b += ",\"";
    b += key;
    b += "\":{" + m.substr(1) + "}";
}

void unified_json(std::string& b, const char* key, const Hints::Unified& u) {
    if (u.utilization < 0 && u.reset_unix_ms < 0) return;
    std::string m;
    if (u.utilization >= 0) {
        char num[32];
        std::snprintf(num, sizeof num, "%.3g", u.utilization);
        m += ",\"utilization\":" + std::string(num);
    }
    if (u.reset_unix_ms >= 0) m += ",\"reset_at\":" + std::to_string(u.reset_unix_ms);
    b += ",\"";
    b += key;
    b += "\":{" + m.substr(1) + "}";
}

}  // namespace

const char* state_name(const CredentialState& s, int64_t now) {
    if (s.admin_disabled()) return "disabled";
    if (s.refused()) return "refused";
    if (s.cooling_until() > now) return "cooldown";
    if (s.breaker_open(now)) return "breaker_open";
    if (s.breaker_half_open(now)) return "breaker_half_open";
    if (!s.models_cooling(now).empty()) return "models_cooling";
    if (s.soft_until() > now) return "soft";
    return "ok";
}

std::string state_json(const CredentialState& s, int64_t now, int64_t wall) {
    std::string b;
    auto models = s.models_cooling(now);
    const char* state = state_name(s, now);
    int64_t until = 0;
    if (!std::strcmp(state, "cooldown"))
        until = s.cooling_until();
    else if (!std::strcmp(state, "soft"))
        until = s.soft_until();
    std::string soft_model = !std::strcmp(state, "soft") ? s.soft_model() : std::string();
    auto to_wall = [&](int64_t t) { return t > now ? wall + (t - now) : 0; };
    b += ",\"state\":\"";
    b += state;
    b += '"';
    if (until > now) number(b, "until", to_wall(until));
    if (!soft_model.empty()) b += ",\"soft_model\":" + json_string(soft_model);
    number(b, "cooldown_remaining_s", seconds_left(until, now));
    number(b, "requests", static_cast<int64_t>(s.requests.load(std::memory_order_relaxed)));
    number(b, "failures", static_cast<int64_t>(s.failures.load(std::memory_order_relaxed)));
    number(b, "last_status", s.last_status.load(std::memory_order_relaxed));
    number(b, "last_used_at", s.last_used_unix_ms());
    b += ",\"models_cooling\":[";
    for (size_t i = 0; i < models.size(); ++i) {
        if (i) b += ',';
        b += "{\"model\":" + json_string(models[i].model) +
             ",\"remaining_s\":" + std::to_string(seconds_left(models[i].until_ms, now)) +
             ",\"until\":" + std::to_string(to_wall(models[i].until_ms)) + "}";
    }
    b += "],\"quota\":{";
    auto q = s.quota();
    std::string quota;
    window_json(quota, "requests", q.requests);
    window_json(quota, "tokens", q.tokens);
    unified_json(quota, "unified_5h", q.unified_5h);
    unified_json(quota, "unified_7d", q.unified_7d);
    if (!quota.empty()) b.append(quota, 1);  // without its leading comma
    b += '}';
    Evidence e = s.evidence();
    if (e.scope != Scope::None) {
        b += ",\"why\":{\"scope\":\"";
        b += scope_name(e.scope);
        b += "\",\"status\":" + std::to_string(e.status);
        b += ",\"why\":" + json_string(e.why);
        if (!e.model.empty()) b += ",\"model\":" + json_string(e.model);
        b += ",\"at\":" + std::to_string(e.at_unix_ms);
        if (e.wait_ms >= 0) b += ",\"hint_ms\":" + std::to_string(e.wait_ms);
        b += "}";
    }
    return b;
}

void Tally::add(const CredentialState& s, int64_t now) {
    ++total;
    const char* st = state_name(s, now);
    if (!std::strcmp(st, "ok"))
        ++ready;
    else if (!std::strcmp(st, "soft"))
        ++soft;
    else if (!std::strcmp(st, "models_cooling"))
        ++models_cooling;
    else if (!std::strcmp(st, "cooldown"))
        ++cooling;
    else if (!std::strcmp(st, "disabled") || !std::strcmp(st, "refused"))
        ++disabled;
    else
        ++breaker;
}

std::string tally_text(const Tally& t) {
    std::string out = std::to_string(t.ready) + "/" + std::to_string(t.total) + " credentials ready";
    auto part = [&](unsigned n, const char* what) {
        if (n) out += ", " + std::to_string(n) + " " + what;
    };
    part(t.soft, "with a spent window");
    part(t.models_cooling, "cooling for some models");
    part(t.cooling, "cooling");
    part(t.breaker, "failing (breaker)");
    part(t.disabled, "disabled");
    return out;
}

std::string tally_json(const Tally& t) {
    return "{\"total\":" + std::to_string(t.total) + ",\"ready\":" + std::to_string(t.ready) +
           ",\"soft\":" + std::to_string(t.soft) + ",\"models_cooling\":" + std::to_string(t.models_cooling) +
           ",\"cooling\":" + std::to_string(t.cooling) + ",\"breaker\":" + std::to_string(t.breaker) +
           ",\"disabled\":" + std::to_string(t.disabled) + "}";
}

}  // namespace agd::credentials

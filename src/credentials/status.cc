// A credential's state as JSON (credentials/status.h).
#include "credentials/status.h"

#include "common/json.h"
#include "credentials/ledger.h"

namespace agd::credentials {

namespace {

int64_t seconds_left(int64_t until, int64_t now) { return until > now ? (until - now + 999) / 1000 : 0; }

}  // namespace

std::string state_json(const CredentialState& s, int64_t now) {
    std::string b;
    auto models = s.models_cooling(now);
    int64_t until = s.cooling_until();
    const char* state = "ok";
    int64_t left = 0;
    if (s.disabled()) {
        state = "disabled";
    } else if (until > now) {
        state = "cooldown";
        left = seconds_left(until, now);
    } else if (s.breaker_open(now)) {
        state = "breaker_open";
    } else if (s.breaker_half_open(now)) {
        state = "breaker_half_open";
    } else if (!models.empty()) {
        state = "models_cooling";
    } else if (s.soft_until() > now) {
        state = "soft";
        left = seconds_left(s.soft_until(), now);
    }
    b += ",\"state\":\"";
    b += state;
    b += "\",\"cooldown_remaining_s\":" + std::to_string(left);
    b += ",\"requests\":" + std::to_string(s.requests.load(std::memory_order_relaxed));
    b += ",\"failures\":" + std::to_string(s.failures.load(std::memory_order_relaxed));
    b += ",\"last_status\":" + std::to_string(s.last_status.load(std::memory_order_relaxed));
    b += ",\"models_cooling\":[";
    for (size_t i = 0; i < models.size(); ++i) {
        if (i) b += ',';
        b += "{\"model\":" + json_string(models[i].model) +
             ",\"remaining_s\":" + std::to_string(seconds_left(models[i].until_ms, now)) + "}";
    }
    b += "]";
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

}  // namespace agd::credentials

#include "clients/status.h"

#include <cstdio>

#include "clients/client_state.h"
#include "common/json.h"
#include "config/config.h"

namespace agd::clients {

std::string status_json(const config::Config& cfg, const std::vector<std::shared_ptr<ClientState>>& states,
                        int64_t unix_now) {
    Calendar cal = calendar_at(unix_now);
    std::string b = "[";
    for (size_t i = 0; i < cfg.clients.size(); ++i) {
        const config::ClientConfig& c = cfg.clients[i];
        const ClientState* s = i < states.size() ? states[i].get() : nullptr;
        if (i) b += ',';
        b += "{\"name\":" + json_string(c.name);
        b += ",\"keys\":" + std::to_string(c.keys.size());
        b += ",\"models\":[";
        for (size_t m = 0; m < c.models.size(); ++m) {
            if (m) b += ',';
            b += json_string(c.models[m]);
        }
        b += "],\"limits\":{";
        bool first = true;
        auto limit = [&](const char* name, uint64_t v) {
            if (!v) return;
            if (!first) b += ',';
            first = false;
            b += "\"";
            b += name;
            b += "\":" + std::to_string(v);
        };
        limit("rpm", c.rpm);
        limit("tpm", c.tpm);
        limit("daily_tokens", c.daily_tokens);
        limit("monthly_tokens", c.monthly_tokens);
        limit("max_concurrent", c.max_concurrent);
        b += "}";
        if (c.expires) {
            b += ",\"expires\":" + json_string(day_text(c.expires));
            b += ",\"expired\":";
            b += cal.day > c.expires ? "true" : "false";
        }
        if (s) {
            b += ",\"in_flight\":" + std::to_string(s->in_flight());
            b += ",\"requests\":" + std::to_string(s->requests());
            b += ",\"limited\":" + std::to_string(s->limited());
            b += ",\"tokens_today\":" + std::to_string(s->tokens_today(cal));
            b += ",\"tokens_month\":" + std::to_string(s->tokens_this_month(cal));
        }
        b += "}";
    }
    b += "]";
    return b;
}

}  // namespace agd::clients

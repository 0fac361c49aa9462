#include "auth/api_key.h"

#include <strings.h>
#include <time.h>

#include "clients/client_state.h"
#include "common/fingerprint.h"
#include "server/request_context.h"

namespace agd::auth {

int ApiKeyStage::client_of(std::string_view key) const {
    int found = -1;
    // No early exit: constant time over every key.
    for (size_t c = 0; c < cfg_.clients.size(); ++c)
        for (const auto& k : cfg_.clients[c].keys)
            if (secret_equal(k, key) && found < 0) found = static_cast<int>(c);
    return found;
}

ApiKeyStage::Decision ApiKeyStage::check(Operation op, const std::string_view* presented, size_t count) const {
    Decision d;
    for (size_t i = 0; i < count && d.client < 0; ++i) d.client = client_of(presented[i]);
    switch (cfg_.auth.effective) {
        case config::AuthMode::Off:
        case config::AuthMode::Auto: return d;  // Auto is resolved by the loader; never seen here
        case config::AuthMode::AllExceptHealth:
            if (op == Operation::Health) return d;
            break;
        case config::AuthMode::Strict: break;
    }
    if (count == 0)
        d.verdict = Verdict::Missing;
    else if (d.client < 0)
        d.verdict = Verdict::Invalid;
    return d;
}

StageResult ApiKeyStage::on_request(RequestContext& ctx) const {
    if (cfg_.clients.empty()) return StageResult::Continue;  // auth off and no key to name a client
    std::string_view candidates[4];
    size_t n = 0;
    std::string_view authz = ctx.header("authorization");
    if (authz.size() > 7 && strncasecmp(authz.data(), "Bearer ", 7) == 0) candidates[n++] = authz.substr(7);
    if (auto v = ctx.header("x-api-key"); !v.empty()) candidates[n++] = v;
    if (auto v = ctx.header("x-goog-api-key"); !v.empty()) candidates[n++] = v;
    std::string query_key;
    if (query_param(ctx.query, "key", &query_key) && !query_key.empty()) candidates[n++] = query_key;
    Decision d = check(ctx.route.op, candidates, n);
    switch (d.verdict) {
        case Verdict::Pass: break;
        case Verdict::Missing:
            ctx.fail(ErrorKind::Unauthorized,
                     "missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key', 'x-goog-api-key' or '?key='");
            return StageResult::Reply;
        case Verdict::Invalid: ctx.fail(ErrorKind::Unauthorized, "invalid API key"); return StageResult::Reply;
    }
    if (d.client < 0) return StageResult::Continue;
    const config::ClientConfig& client = cfg_.clients[static_cast<size_t>(d.client)];
    ctx.client_index = d.client;
    if (client.expires && clients::calendar_now(static_cast<int64_t>(time(nullptr))).day > client.expires) {
        bool enforced = cfg_.auth.effective == config::AuthMode::Strict ||
                        (cfg_.auth.effective == config::AuthMode::AllExceptHealth && ctx.route.op != Operation::Health);
        if (enforced) {
            ctx.fail(ErrorKind::Unauthorized,
                     "API key expired: client '" + client.name + "' was valid until " + clients::day_text(client.expires));
            return StageResult::Reply;
        }
        ctx.client_index = -1;  // auth off: an expired key names no client
    }
    return StageResult::Continue;
}

}  // namespace agd::auth

#include "auth/api_key.h"

#include <strings.h>

#include "common/fingerprint.h"
#include "server/request_context.h"

namespace agd::auth {

bool ApiKeyStage::key_accepted(std::string_view key) const {
    bool ok = false;
    for (const auto& k : auth_.keys) ok |= secret_equal(k, key);  // no early exit: constant time over the list
    return ok;
}

StageResult ApiKeyStage::on_request(RequestContext& ctx) const {
    switch (auth_.effective) {
        case config::AuthMode::Off:
        case config::AuthMode::Auto: return StageResult::Continue;
        case config::AuthMode::AllExceptHealth:
            if (ctx.route.op == Operation::Health) return StageResult::Continue;
            break;
        case config::AuthMode::Strict: break;
    }
    std::string_view candidates[4];
    size_t n = 0;
    std::string_view authz = ctx.header("authorization");
    if (authz.size() > 7 && strncasecmp(authz.data(), "Bearer ", 7) == 0) candidates[n++] = authz.substr(7);
    if (auto v = ctx.header("x-api-key"); !v.empty()) candidates[n++] = v;
    if (auto v = ctx.header("x-goog-api-key"); !v.empty()) candidates[n++] = v;
    std::string query_key;
    if (query_param(ctx.query, "key", &query_key) && !query_key.empty()) candidates[n++] = query_key;
    if (n == 0) {
        ctx.fail(ErrorKind::Unauthorized,
                 "missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key', 'x-goog-api-key' or '?key='");
        return StageResult::Reply;
    }
    for (size_t i = 0; i < n; ++i)
        if (key_accepted(candidates[i])) return StageResult::Continue;
    ctx.fail(ErrorKind::Unauthorized, "invalid API key");
    return StageResult::Reply;
}

}  // namespace agd::auth

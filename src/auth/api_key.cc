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

ApiKeyStage::Verdict ApiKeyStage::check(Operation op, const std::string_view* presented, size_t count) const {
    switch (auth_.effective) {
        case config::AuthMode::Off:
        case config::AuthMode::Auto: return Verdict::Pass;  // Auto is resolved by the loader; never seen here
        case config::AuthMode::AllExceptHealth:
            if (op == Operation::Health) return Verdict::Pass;
            break;
        case config::AuthMode::Strict: break;
    }
    if (count == 0) return Verdict::Missing;
    for (size_t i = 0; i < count; ++i)
        if (key_accepted(presented[i])) return Verdict::Pass;
    return Verdict::Invalid;
}

StageResult ApiKeyStage::on_request(RequestContext& ctx) const {
    if (auth_.effective == config::AuthMode::Off) return StageResult::Continue;
    std::string_view candidates[4];
    size_t n = 0;
    std::string_view authz = ctx.header("authorization");
    if (authz.size() > 7 && strncasecmp(authz.data(), "Bearer ", 7) == 0) candidates[n++] = authz.substr(7);
    if (auto v = ctx.header("x-api-key"); !v.empty()) candidates[n++] = v;
    if (auto v = ctx.header("x-goog-api-key"); !v.empty()) candidates[n++] = v;
    std::string query_key;
    if (query_param(ctx.query, "key", &query_key) && !query_key.empty()) candidates[n++] = query_key;
    switch (check(ctx.route.op, candidates, n)) {
        case Verdict::Pass: return StageResult::Continue;
        case Verdict::Missing:
            ctx.fail(ErrorKind::Unauthorized,
                     "missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key', 'x-goog-api-key' or '?key='");
            return StageResult::Reply;
        case Verdict::Invalid: break;
    }
    ctx.fail(ErrorKind::Unauthorized, "invalid API key");
    return StageResult::Reply;
}

}  // namespace agd::auth

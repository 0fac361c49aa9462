#include "clients/limit_stage.h"

#include <time.h>

#include "clients/client_state.h"
#include "common/glob.h"
#include "server/request_context.h"
#include "server/snapshot.h"

namespace agd::clients {

bool model_allowed(const config::ClientConfig& c, std::string_view model) {
    if (c.models.empty()) return true;
    for (const auto& g : c.models)
        if (glob_match(g, model)) return true;
    return false;
}

namespace {

std::string allowed_list(const config::ClientConfig& c) {
    std::string s;
    for (const auto& g : c.models) {
        if (!s.empty()) s += ", ";
        s += g;
    }
    return s;
}

}  // namespace

StageResult LimitStage::on_request(RequestContext& ctx) const {
    if (ctx.client_index < 0 || !is_upstream_operation(ctx.route.op)) return StageResult::Continue;
    const auto idx = static_cast<size_t>(ctx.client_index);
    const config::ClientConfig& cfg = ctx.snap->config->clients[idx];
    const std::string& model = ctx.route.protocol == Protocol::Gemini ? ctx.route.model : ctx.body.model;
    if (!model_allowed(cfg, model)) {
        ctx.access.limit = "models";
        ctx.fail(ErrorKind::Forbidden,
                 "client '" + cfg.name + "' may not use model '" + model + "' (allowed: " + allowed_list(cfg) + ")");
        return StageResult::Reply;
    }
    ClientState& state = *ctx.snap->clients[idx];
    Refusal r = state.admit(cfg, cfg.name, monotonic_us(), static_cast<int64_t>(time(nullptr)));
    if (r) {
        ctx.access.limit = r.limit;
        ctx.fail(ErrorKind::RateLimited, r.message, static_cast<int>(std::min<int64_t>(r.retry_after_s, 1 << 30)));
        return StageResult::Reply;
    }
    ctx.admitted = &state;
    return StageResult::Continue;
}

}  // namespace agd::clients

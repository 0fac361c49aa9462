#include "dispatch/dispatch_stage.h"

#include <memory>

#include "dispatch/exchange.h"
#include "server/request_context.h"
#include "server/snapshot.h"

namespace agd::dispatch {

StageResult DispatchStage::on_request(RequestContext& ctx) const {
    if (!is_upstream_operation(ctx.route.op)) return StageResult::Continue;
    const Router& router = *ctx.snap->router;
    const std::string& model = ctx.route.protocol == Protocol::Gemini ? ctx.route.model : ctx.body.model;
    std::vector<Match> all = router.match(model);
    if (all.empty()) {
        ctx.fail(ErrorKind::ModelNotFound, "no provider serves model '" + model + "'");
        return StageResult::Reply;
    }
    // Providers speaking the client's protocol first (a passthrough), the
    // others (translated) when none of those can serve. A legacy completion
    // is translated whatever the wire.
    std::vector<Match> preferred, others;
    for (auto& m : all) {
        bool same = router.providers()[m.provider].wire == ctx.route.protocol && ctx.route.op != Operation::Completions;
        (same ? preferred : others).push_back(std::move(m));
    }
    ctx.exchange = std::make_unique<Exchange>(ctx, std::move(preferred), std::move(others));
    ctx.pause();
    ctx.exchange->start();
    return StageResult::Pause;
}

}  // namespace agd::dispatch

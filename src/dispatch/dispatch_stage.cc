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
    std::vector<Match> same;
    for (auto& m : all)
        if (router.providers()[m.provider].wire == ctx.route.protocol) same.push_back(m);
    if (same.empty()) {
        const Provider& p = router.providers()[all.front().provider];
        ctx.fail(ErrorKind::NotImplemented, std::string("model '") + model + "' is served by provider '" + p.cfg->name +
                                                "', which speaks " + protocol_name(p.wire) + "; translation from " +
                                                protocol_name(ctx.route.protocol) + " to " + protocol_name(p.wire) +
                                                " is not available yet");
        return StageResult::Reply;
    }
    ctx.exchange = std::make_unique<Exchange>(ctx, std::move(same));
    ctx.pause();
    ctx.exchange->start();
    return StageResult::Pause;
}

}  // namespace agd::dispatch

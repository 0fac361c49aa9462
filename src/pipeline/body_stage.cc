#include "pipeline/body_stage.h"

#include "server/request_context.h"
#include "server/snapshot.h"

namespace agd {

StageResult BodyStage::on_request(RequestContext& ctx) const {
    if (!is_upstream_operation(ctx.route.op)) return StageResult::Continue;
    Result<BodyInfo> r =
        scan_body(ctx.body_data ? ctx.body_data : "", ctx.body_len, ctx.snap->config->server.max_json_depth);
    if (!r) {
        ctx.fail(ErrorKind::BadRequest, r.error().message);
        return StageResult::Reply;
    }
    ctx.body = std::move(r.value());
    if (ctx.route.protocol != Protocol::Gemini) {
        if (!ctx.body.has_model || ctx.body.model.empty()) {
            ctx.fail(ErrorKind::BadRequest, "missing required field 'model' (a non-empty string)");
            return StageResult::Reply;
        }
    }
    return StageResult::Continue;
}

}  // namespace agd

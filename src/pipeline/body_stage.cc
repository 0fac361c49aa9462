#include "pipeline/body_stage.h"

#include "dispatch/router.h"
#include "pipeline/multipart.h"
#include "server/request_context.h"
#include "server/snapshot.h"
#include "server/upload_stream.h"
#include "translate/json_util.h"

namespace agd {

StageResult BodyStage::on_request(RequestContext& ctx) const {
    if (!is_upstream_operation(ctx.route.op)) return StageResult::Continue;
    // A streamed upload was scanned as it came (server/upload_stream.h).
    if (ctx.upload) {
        ctx.body = ctx.upload->info();
        if (!ctx.body.has_model || ctx.body.model.empty()) {
            ctx.fail(ErrorKind::BadRequest, "missing required form field 'model' (a non-empty string)");
            return StageResult::Reply;
        }
        return StageResult::Continue;
    }
    // An upload names its model in a form field: the multipart scan finds
    // it (no DOM: nothing translates an upload).
    if (is_upload_operation(ctx.route.op) && is_multipart_form(ctx.header("content-type"))) {
        Result<BodyInfo> m = scan_multipart(ctx.header("content-type"),
                                            std::string_view(ctx.body_data ? ctx.body_data : "", ctx.body_len));
        if (!m) {
            ctx.fail(ErrorKind::BadRequest, m.error().message);
            return StageResult::Reply;
        }
        ctx.body = std::move(m.value());
        if (!ctx.body.has_model || ctx.body.model.empty()) {
            ctx.fail(ErrorKind::BadRequest, "missing required form field 'model' (a non-empty string)");
            return StageResult::Reply;
        }
        return StageResult::Continue;
    }
    // A request that may be translated gets its DOM from the same pass
    // (legacy completions always are; of images and audio, only image
    // generation ever is).
    std::unique_ptr<translate::JsonDoc> dom;
    bool translatable = !is_media_operation(ctx.route.op) || ctx.route.op == Operation::ImagesGenerations;
    if (ctx.route.op == Operation::Completions || (translatable && ctx.snap->router->may_translate(ctx.route.protocol)))
        dom = std::make_unique<translate::JsonDoc>();
    Result<BodyInfo> r = scan_body(ctx.body_data ? ctx.body_data : "", ctx.body_len,
                                   ctx.snap->config->server.max_json_depth, dom.get());
    if (!r) {
        ctx.fail(ErrorKind::BadRequest, r.error().message);
        return StageResult::Reply;
    }
    ctx.body = std::move(r.value());
    if (dom && dom->IsObject()) ctx.body_dom = std::move(dom);  // else the scan had no memory for it
    if (ctx.route.protocol != Protocol::Gemini) {
        if (!ctx.body.has_model || ctx.body.model.empty()) {
            ctx.fail(ErrorKind::BadRequest, "missing required field 'model' (a non-empty string)");
            return StageResult::Reply;
        }
    }
    return StageResult::Continue;
}

}  // namespace agd

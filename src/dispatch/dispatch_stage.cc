#include "dispatch/dispatch_stage.h"

#include <memory>

#include "credentials/sessions.h"
#include "dispatch/exchange.h"
#include "dispatch/translation.h"
#include "server/request_context.h"
#include "server/snapshot.h"

namespace agd::dispatch {

// The conversation a request belongs to, as its client names it: an
// explicit header first, then what the protocol's body carries.
uint64_t session_of(const RequestContext& ctx, std::string_view model) {
    std::string_view s = ctx.header("x-session-id");
    if (s.empty()) s = ctx.header("session-id");  // Codex
    if (s.empty()) s = ctx.header("session_id");
    if (s.empty()) s = ctx.body.prompt_cache_key;  // OpenAI, Codex
    if (s.empty()) s = ctx.body.metadata_user_id;  // Anthropic (Claude Code: user, account and session)
    if (s.empty()) s = ctx.body.user;              // OpenAI
    std::string_view client;
    if (ctx.client_index >= 0) client = ctx.snap->config->clients[static_cast<size_t>(ctx.client_index)].name;
    return credentials::session_key(client, model, s.substr(0, kMaxSessionField));
}

namespace {

// Whether a provider of `wire` can serve the operation at all.
bool serves(Operation op, Protocol wire) {
    if (wire == Protocol::Anthropic) return !is_embedding_operation(op) && !is_media_operation(op);
    // Gemini: image generation is translated; uploads and speech have no Gemini form here.
    if (wire == Protocol::Gemini) return !is_media_operation(op) || op == Operation::ImagesGenerations;
    return true;
}

}  // namespace

void mark_translated(const RequestContext& ctx, const Router& router, std::vector<Match>& matches) {
    Operation op = ctx.route.op;
    std::erase_if(matches, [&](const Match& m) { return !serves(op, router.providers()[m.provider].wire); });
    for (auto& m : matches) m.translated = Translation::needed(ctx, router.providers()[m.provider].wire);
}

namespace {

// What the providers that were dropped lack, for the client's 400.
std::string api_of(Operation op) {
    if (is_embedding_operation(op)) return "embeddings API (Anthropic)";
    if (op == Operation::ImagesGenerations) return "image generation API (Anthropic)";
    if (op == Operation::ImagesEdits) return "image edits API of OpenAI's shape (Anthropic, Gemini)";
    if (op == Operation::AudioSpeech) return "speech API of OpenAI's shape (Anthropic, Gemini)";
    return "audio API of OpenAI's shape (Anthropic, Gemini)";
}

}  // namespace

StageResult DispatchStage::on_request(RequestContext& ctx) const {
    if (!is_upstream_operation(ctx.route.op)) return StageResult::Continue;
    const Router& router = *ctx.snap->router;
    const std::string& model = ctx.route.protocol == Protocol::Gemini ? ctx.route.model : ctx.body.model;
    std::vector<Match> all = router.match(model);
    if (all.empty()) {
        ctx.fail(ErrorKind::ModelNotFound, "no provider serves model '" + model + "'");
        return StageResult::Reply;
    }
    // Within a tier, providers speaking the client's protocol come first (a
    // passthrough), the others (translated) when none of those can serve.
    // A legacy completion is translated whatever the wire.
    mark_translated(ctx, router, all);
    if (all.empty()) {
        ctx.fail(ErrorKind::BadRequest, "model '" + model + "' is served only by providers with no " + api_of(ctx.route.op));
        return StageResult::Reply;
    }
    uint64_t session = router.sticky() ? session_of(ctx, model) : 0;
    ctx.exchange = std::make_unique<Exchange>(ctx, std::move(all), session);
    // A streamed upload is routed while its body still arrives: the
    // request pauses once it has all come (server.cc), not before.
    if (ctx.body_complete) ctx.pause();
    ctx.exchange->start();
    return StageResult::Pause;
}

}  // namespace agd::dispatch

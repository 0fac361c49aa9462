#include "pipeline/local_endpoints.h"

#include <cctype>
#include <string>

#include "common/json.h"
#include "dispatch/router.h"
#include "server/request_context.h"
#include "server/snapshot.h"

namespace agd {
namespace {

// A WebSocket opening handshake (RFC 6455 §4.1): Upgrade names websocket.
bool wants_websocket(const RequestContext& ctx) {
    std::string_view up = ctx.header("upgrade");
    if (up.size() < 9) return false;
    std::string lower(up);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find("websocket") != std::string::npos;
}

void openai_model(std::string& b, const std::string& id, const std::string& owner) {
    b += "{\"id\":";
    append_json_string(b, id);
    b += ",\"object\":\"model\",\"created\":0,\"owned_by\":";
    append_json_string(b, owner);
    b += '}';
}

void anthropic_model(std::string& b, const std::string& id) {
    b += "{\"type\":\"model\",\"id\":";
    append_json_string(b, id);
    b += ",\"display_name\":";
    append_json_string(b, id);
    b += ",\"created_at\":\"1970-01-01T00:00:00Z\"}";
}

void gemini_model(std::string& b, const std::string& id) {
    b += "{\"name\":";
    append_json_string(b, "models/" + id);
    b += ",\"baseModelId\":";
    append_json_string(b, id);
    b += ",\"version\":\"001\",\"displayName\":";
    append_json_string(b, id);
    b += ",\"supportedGenerationMethods\":[\"generateContent\",\"streamGenerateContent\",\"countTokens\"]}";
}

StageResult list_models(RequestContext& ctx) {
    auto models = ctx.snap->router->listed_models();
    std::string b;
    if (ctx.route.op == Operation::GeminiListModels) {
        b = "{\"models\":[";
        for (size_t i = 0; i < models.size(); ++i) {
            if (i) b += ',';
            gemini_model(b, models[i].first);
        }
        b += "]}";
    } else if (ctx.route.protocol == Protocol::Anthropic) {
        b = "{\"data\":[";
        for (size_t i = 0; i < models.size(); ++i) {
            if (i) b += ',';
            anthropic_model(b, models[i].first);
        }
        b += "],\"has_more\":false,\"first_id\":";
        b += models.empty() ? "null" : json_string(models.front().first);
        b += ",\"last_id\":";
        b += models.empty() ? "null" : json_string(models.back().first);
        b += '}';
    } else {
        b = "{\"object\":\"list\",\"data\":[";
        for (size_t i = 0; i < models.size(); ++i) {
            if (i) b += ',';
            openai_model(b, models[i].first, models[i].second->cfg->name);
        }
        b += "]}";
    }
    ctx.reply(200, std::move(b));
    return StageResult::Reply;
}

StageResult get_model(RequestContext& ctx) {
    std::string id = ctx.route.model;
    if (id.rfind("models/", 0) == 0) id.erase(0, 7);
    auto matches = ctx.snap->router->match(id);
    if (matches.empty()) {
        ctx.fail(ErrorKind::ModelNotFound, "no provider serves model '" + id + "'");
        return StageResult::Reply;
    }
    std::string b;
    if (ctx.route.op == Operation::GeminiGetModel) gemini_model(b, id);
    else if (ctx.route.protocol == Protocol::Anthropic) anthropic_model(b, id);
    else openai_model(b, id, ctx.snap->router->providers()[matches.front().provider].cfg->name);
    ctx.reply(200, std::move(b));
    return StageResult::Reply;
}

}  // namespace

StageResult LocalEndpointsStage::on_request(RequestContext& ctx) const {
    switch (ctx.route.op) {
        case Operation::Health:
            ctx.reply(200, "{\"status\":\"ok\",\"generation\":" + std::to_string(ctx.snap->generation) + "}");
            return StageResult::Reply;
        case Operation::ListModels:
        case Operation::GeminiListModels: return list_models(ctx);
        case Operation::GetModel:
        case Operation::GeminiGetModel: return get_model(ctx);
        case Operation::NotFound:
            ctx.fail(ErrorKind::NotFound, "no such endpoint: " + ctx.method_text + " " + ctx.path);
            return StageResult::Reply;
        case Operation::MethodNotAllowed:
            // Codex (and OpenAI's Realtime-style clients) first try the
            // Responses API over a WebSocket; 426 is the answer they take as
            // "use HTTP", where any other would fail the turn.
            if (ctx.route.protocol == Protocol::OpenAIResponses && wants_websocket(ctx)) {
                ctx.fail(ErrorKind::UpgradeRequired,
                         "the Responses API is served over HTTP here (POST /v1/responses, streamed with "
                         "\"stream\": true), not over a WebSocket");
                return StageResult::Reply;
            }
            ctx.fail(ErrorKind::MethodNotAllowed, "method " + ctx.method_text + " is not allowed on " + ctx.path);
            return StageResult::Reply;
        default: return StageResult::Continue;
    }
}

}  // namespace agd

#include "pipeline/local_endpoints.h"

#include <evhtp.h>

#include <cctype>
#include <string>

#include "common/json.h"
#include "dispatch/router.h"
#include "server/request_context.h"
#include "server/snapshot.h"
#include "server/websocket_connection.h"
#include "server/websocket_handshake.h"

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

// GET /v1/responses: the Responses API over a WebSocket (Codex's
// `supports_websockets`), served by server/websocket_connection.h once the
// handshake is checked. The key and address were checked on the head.
StageResult responses_socket(RequestContext& ctx) {
    if (!wants_websocket(ctx)) {
        ctx.fail(ErrorKind::MethodNotAllowed, "method GET is not allowed on " + ctx.path +
                                                  " (POST a request, or upgrade to a WebSocket)");
        return StageResult::Reply;
    }
    WebSocketHandshake h = check_websocket_handshake(evhtp_request_get_proto(ctx.req) == EVHTP_PROTO_11,
                                                     ctx.header("upgrade"), ctx.header("connection"),
                                                     ctx.header("sec-websocket-version"), ctx.header("sec-websocket-key"));
    if (!h.ok) {
        // 426 names the version served (RFC 6455 §4.4); Codex takes a 426
        // as "use HTTP" for the rest of its session.
        if (h.status == 426) ctx.add_response_header("Sec-WebSocket-Version", "13");
        ctx.fail(h.status == 426 ? ErrorKind::UpgradeRequired : ErrorKind::BadRequest,
                 "WebSocket handshake refused: " + h.error);
        return StageResult::Reply;
    }
    WebSocketConnection::upgrade(ctx, std::move(h.accept));
    return StageResult::Pause;
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
        case Operation::ResponsesSocket: return responses_socket(ctx);
        case Operation::MethodNotAllowed:
            ctx.fail(ErrorKind::MethodNotAllowed, "method " + ctx.method_text + " is not allowed on " + ctx.path);
            return StageResult::Reply;
        default: return StageResult::Continue;
    }
}

}  // namespace agd

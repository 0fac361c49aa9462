#include "routes.h"

#include <algorithm>
#include <atomic>
#include <ctime>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "embed.h"
#include "exchange.h"
#include "failcount.h"
#include "incoming.h"
#include "introspect.h"
#include "json.h"
#include "media.h"
#include "oauth.h"
#include "pieces.h"
#include "turn.h"
#include "validate.h"
#include "worker.h"

namespace mock {
namespace {

std::atomic<uint64_t> g_seq{0};

enum class Op { generate, stream, count };

constexpr std::string_view kGeminiPrefix = "/v1beta/models";

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// Headers every response carries.
Headers base_headers(const RecordedRequest& in) {
    return {{"x-mock-credential", in.credential}, {"x-mock-auth", in.auth_header}};
}

// Request-id header in the style of the API (none for Gemini).
void add_request_id(Headers& h, Api api, uint64_t seq) {
    if (api == Api::messages) {
        h.emplace_back("request-id", fmt::format("req_mock{}", seq));
    } else if (api != Api::gemini) {
        h.emplace_back("x-request-id", fmt::format("req_mock{}", seq));
    }
}

void reply_json(evhtp_request_t* req, const RecordedRequest& in, int status,
                const std::string& body, Headers extra = {}) {
    Headers h = base_headers(in);
    h.insert(h.end(), extra.begin(), extra.end());
    send_full(req, status, h, "application/json", body);
}

void reply_error(evhtp_request_t* req, const RecordedRequest& in, Api api, int status,
                 std::string_view message) {
    uint64_t seq = ++g_seq;
    Headers h;
    add_request_id(h, api, seq);
    reply_json(req, in, status, error_body(api, status, message, seq), std::move(h));
}

// Unknown path or method: OpenAI's error format, as the real API answers.
void not_found(evhtp_request_t* req, const RecordedRequest& in) {
    uint64_t seq = ++g_seq;
    Headers h;
    add_request_id(h, Api::chat, seq);
    JsonOut j;
    j.obj().key("error").obj()
        .ks("message", fmt::format("Invalid URL ({} {})", in.method, in.path))
        .ks("type", "invalid_request_error")
        .kn("param")
        .kn("code")
        .end().end();
    reply_json(req, in, 404, j.text(), std::move(h));
}

bool json_true(const rapidjson::Value& obj, const char* name) {
    auto it = obj.FindMember(name);
    return it != obj.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

Verdict validate(Api api, Op op, const rapidjson::Value& doc, const RecordedRequest& in,
                 std::string_view base_model) {
    switch (api) {
        case Api::chat: return validate_chat(doc);
        case Api::responses: return validate_responses(doc);
        case Api::messages: {
            const std::string* beta = find_header(in, "anthropic-beta");
            bool system_ok = beta != nullptr && beta->find("mid-conversation-system") != std::string::npos;
            return validate_anthropic(doc, op == Op::count, system_ok);
        }
        case Api::gemini: return validate_gemini(doc, base_model);
    }
    return std::nullopt;
}

// Tool calls, a tool result echo, thinking and cached usage, as the
// request and the directives ask. The pieces replace the generated text
// when the answer is calls (their argument fragments) or an echo.
void shape_answer(Plan& plan, Api api, const rapidjson::Value& doc) {
    Script& s = plan.script;
    plan.reply.think = s.think;
    // Gemini 3 always thinks: its first call carries a signature.
    plan.reply.gemini_sign = s.think || s.base.find("gemini-3") != std::string::npos;
    plan.reply.cached_tokens = s.cached;
    Turn turn = read_turn(api, doc, s.calls);
    if (turn.tool_result) {
        plan.pieces = split_utf8("tool result: " + *turn.tool_result, s.chunks);
    }
    for (ToolCall& call : turn.calls) {
        if (s.deep_args > 0) {  // {"d":{"d":...1...}}: deep_args levels
            std::string args;
            args.reserve(static_cast<std::size_t>(s.deep_args) * 6 + 1);
            for (int i = 0; i < s.deep_args; ++i) args += "{\"d\":";
            args += '1';
            args.append(static_cast<std::size_t>(s.deep_args), '}');
            call.args = std::move(args);
        }
        // Gemini sends each call whole; the others stream the arguments
        // in at least two fragments.
        std::vector<std::string> parts =
            api == Api::gemini ? std::vector<std::string>{call.args}
                               : split_utf8(call.args, std::max(s.chunks, 2));
        call.pieces = static_cast<int>(parts.size());
        plan.pieces.insert(plan.pieces.end(), parts.begin(), parts.end());
    }
    plan.reply.calls = std::move(turn.calls);
    if (!plan.pieces.empty()) {
        s.chunks = static_cast<int>(plan.pieces.size());
    }
}

// POST to an API endpoint: validate, plan and serve.
void generate(evhtp_request_t* req, const RecordedRequest& in, Api api, Op op,
              std::string gemini_model, bool gemini_sse) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(in.body.data(), in.body.size());
    if (doc.HasParseError()) {
        reply_error(req, in, api, 400,
                    fmt::format("mock: the request body is not valid JSON ({} at offset {})",
                                rapidjson::GetParseError_En(doc.GetParseError()),
                                doc.GetErrorOffset()));
        return;
    }
    if (!doc.IsObject()) {
        reply_error(req, in, api, 400, "mock: the request body must be a JSON object");
        return;
    }
    std::string model = std::move(gemini_model);
    if (api != Api::gemini) {
        auto it = doc.FindMember("model");
        if (it == doc.MemberEnd() || !it->value.IsString() || it->value.GetStringLength() == 0) {
            reply_error(req, in, api, 400,
                        api == Api::messages ? "model: Field required"
                                             : "you must provide a model parameter");
            return;
        }
        model.assign(it->value.GetString(), it->value.GetStringLength());
    }
    if (api == Api::messages && op == Op::generate && !doc.HasMember("max_tokens")) {
        reply_error(req, in, api, 400, "max_tokens: Field required");
        return;
    }
    Script script = parse_script(model);
    if (Verdict problem = validate(api, op, doc, in, script.base)) {
        reply_error(req, in, api, 400, *problem);
        return;
    }

    Plan plan;
    plan.script = std::move(script);
    plan.credential = in.credential;
    apply_slow_cred(plan.script, in.credential);
    plan.hangup = plan.script.hangup ||
                  (plan.script.hangup_reused && request_ordinal(req->conn) > 1);
    if (plan.script.auth_oauth && !oauth_token_live(in.credential)) {
        plan.auth_failed = true;
        plan.error_status = 401;
    } else {
        plan.error_status = error_status_for(plan.script, in.credential);
        if (plan.error_status != 0 && plan.script.fail_times > 0 && !plan.hangup &&
            !fail_times_take(model, in.credential, plan.script.fail_times)) {
            plan.error_status = 0;  // failed fail_times times already: answered normally
        }
    }
    plan.reply.api = api;
    plan.reply.model = model;
    plan.reply.seq = ++g_seq;
    plan.reply.created = static_cast<int64_t>(std::time(nullptr));
    plan.reply.input_tokens = input_tokens(in.body.size());
    plan.reply.gemini_sse = gemini_sse;
    if (op != Op::count) {
        shape_answer(plan, api, doc);
    }
    plan.reply.output_tokens = plan.script.chunks;
    plan.headers = base_headers(in);
    add_request_id(plan.headers, api, plan.reply.seq);
    if (op == Op::count) {
        plan.fixed_body = count_body(api, plan.reply.input_tokens);
    } else if (api == Api::gemini) {
        plan.stream = op == Op::stream;
    } else {
        plan.stream = json_true(doc, "stream");
        if (api == Api::chat && plan.stream) {
            auto so = doc.FindMember("stream_options");
            plan.reply.include_usage =
                so != doc.MemberEnd() && so->value.IsObject() && json_true(so->value, "include_usage");
        }
    }
    serve(req, std::move(plan));
}

// /v1beta/models[/{model}[:op]]
void gemini(evhtp_request_t* req, const RecordedRequest& in) {
    const bool get = req->method == htp_method_GET || req->method == htp_method_HEAD;
    std::string_view rest = std::string_view(in.path).substr(kGeminiPrefix.size());
    if (rest.empty() || rest == "/") {
        if (get) {
            reply_json(req, in, 200, gemini_model_list());
            return;
        }
        not_found(req, in);
        return;
    }
    if (rest.front() != '/') {
        not_found(req, in);
        return;
    }
    std::string target = percent_decode(rest.substr(1), false);
    std::size_t colon = target.rfind(':');
    if (colon == std::string::npos) {
        if (get && !target.empty()) {
            reply_json(req, in, 200, gemini_model(target));
            return;
        }
        not_found(req, in);
        return;
    }
    std::string model = target.substr(0, colon);
    std::string_view op = std::string_view(target).substr(colon + 1);
    if (req->method != htp_method_POST || model.empty()) {
        not_found(req, in);
        return;
    }
    if (op == "generateContent") {
        if (gemini_image(req, in, model)) return;
        generate(req, in, Api::gemini, Op::generate, model, true);
    } else if (op == "streamGenerateContent") {
        auto alt = query_param(in.query, "alt");
        generate(req, in, Api::gemini, Op::stream, model, alt && *alt == "sse");
    } else if (op == "countTokens") {
        generate(req, in, Api::gemini, Op::count, model, true);
    } else if (op == "embedContent" || op == "batchEmbedContents") {
        auto [status, body] = embed_answer(op == "embedContent" ? EmbedApi::gemini_one : EmbedApi::gemini_batch,
                                           in.body, model);
        reply_json(req, in, status, body);
    } else {
        not_found(req, in);
    }
}

// POST /v1/responses/compact: the compacted history is one opaque
// compaction item naming how many input items it stands for.
void compact(evhtp_request_t* req, const RecordedRequest& in) {
    rapidjson::Document doc;
    doc.Parse(in.body.c_str(), in.body.size());
    const JValue* input = doc.IsObject() ? member(doc, "input") : nullptr;
    if (!input || !input->IsArray() || str_of(doc, "model").empty()) {
        reply_error(req, in, Api::responses, 400, "compact needs a model and an input array");
        return;
    }
    uint64_t seq = ++g_seq;
    JsonOut j;
    j.obj().key("output").arr().obj()
        .ks("type", "compaction")
        .ks("id", fmt::format("cmp_mock{}", seq))
        .ks("encrypted_content", fmt::format("mock-compaction:{}", input->Size()))
        .end().end()
        .key("usage").obj().ki("input_tokens", 10).ki("output_tokens", 2).ki("total_tokens", 12).end()
        .end();
    Headers h;
    add_request_id(h, Api::chat, seq);
    reply_json(req, in, 200, j.text(), std::move(h));
}

// GET /v1/models[/{id}]: OpenAI format, or Anthropic's when anthropic-version is sent.
void models(evhtp_request_t* req, const RecordedRequest& in) {
    bool anthropic = find_header(in, "anthropic-version") != nullptr;
    std::string_view rest = std::string_view(in.path).substr(std::string_view("/v1/models").size());
    if (rest.empty()) {
        reply_json(req, in, 200, anthropic ? anthropic_model_list() : openai_model_list());
        return;
    }
    std::string id = percent_decode(rest.substr(1), false);
    if (id.empty()) {
        not_found(req, in);
        return;
    }
    reply_json(req, in, 200, anthropic ? anthropic_model(id) : openai_model(id));
}

void introspection(evhtp_request_t* req, const RecordedRequest& in) {
    const bool get = req->method == htp_method_GET;
    const bool del = req->method == htp_method_DELETE;
    if (in.path == "/__mock/requests" && (get || del)) {
        if (del) {
            clear_requests();
            reply_json(req, in, 200, R"({"status":"ok"})");
        } else {
            reply_json(req, in, 200, requests_json());
        }
    } else if (in.path == "/__mock/stats" && (get || del)) {
        if (del) reset_stats();
        reply_json(req, in, 200, stats_json());
    } else if (in.path == "/__mock/state" && del) {
        fail_times_clear();
        oauth_reset();
        reply_json(req, in, 200, R"({"status":"ok"})");
    } else if (in.path == "/__mock/oauth" && get) {
        reply_json(req, in, 200, oauth_state_json());
    } else if (in.path == "/__mock/oauth" && req->method == htp_method_POST) {
        auto [status, body] = oauth_configure(in.body);
        reply_json(req, in, status, body);
    } else if (in.path == "/__mock/oauth/revoke" && req->method == htp_method_POST) {
        reply_json(req, in, 200, oauth_revoke_access());
    } else {
        not_found(req, in);
    }
}

}  // namespace

void handle_request(evhtp_request_t* req, void*) {
    count_request(req->conn);
    RecordedRequest in = read_incoming(req);
    const std::string& path = in.path;
    if (starts_with(path, "/__mock/")) {
        introspection(req, in);
        return;
    }
    stats().requests.fetch_add(1);
    record_request(in);

    // HEAD is answered like GET (send_full leaves the body out).
    const htp_method m = req->method == htp_method_HEAD ? htp_method_GET : req->method;
    if (path == "/health" && m == htp_method_GET) {
        reply_json(req, in, 200, R"({"status":"ok"})");
    } else if (path == "/v1/chat/completions" && m == htp_method_POST) {
        generate(req, in, Api::chat, Op::generate, {}, true);
    } else if (path == "/v1/responses" && m == htp_method_POST) {
        generate(req, in, Api::responses, Op::generate, {}, true);
    } else if (path == "/v1/responses/compact" && m == htp_method_POST) {
        compact(req, in);
    } else if (path == "/v1/embeddings" && m == htp_method_POST) {
        auto [status, body] = embed_answer(EmbedApi::openai, in.body, {});
        Headers h;
        add_request_id(h, Api::chat, ++g_seq);
        reply_json(req, in, status, body, std::move(h));
    } else if (path == "/v1/images/generations" && m == htp_method_POST) {
        media(req, in, MediaApi::image_generation);
    } else if (path == "/v1/images/edits" && m == htp_method_POST) {
        media(req, in, MediaApi::image_edit);
    } else if (path == "/v1/audio/transcriptions" && m == htp_method_POST) {
        media(req, in, MediaApi::transcription);
    } else if (path == "/v1/audio/translations" && m == htp_method_POST) {
        media(req, in, MediaApi::translation);
    } else if (path == "/v1/audio/speech" && m == htp_method_POST) {
        media(req, in, MediaApi::speech);
    } else if (path == "/v1/messages" && m == htp_method_POST) {
        generate(req, in, Api::messages, Op::generate, {}, true);
    } else if (path == "/v1/messages/count_tokens" && m == htp_method_POST) {
        generate(req, in, Api::messages, Op::count, {}, true);
    } else if ((path == "/v1/models" || starts_with(path, "/v1/models/")) && m == htp_method_GET) {
        models(req, in);
    } else if (path == kGeminiPrefix || starts_with(path, "/v1beta/models/")) {
        gemini(req, in);
    } else if (path == "/oauth/token" && m == htp_method_POST) {
        Plan plan = oauth_token_plan(in);
        plan.headers = base_headers(in);
        serve(req, std::move(plan));
    } else {
        not_found(req, in);
    }
}

}  // namespace mock

#include "dispatch/exchange.h"

#include <event2/event.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "clients/limit_stage.h"
#include "common/log.h"
#include "common/redact.h"
#include "config/config.h"
#include "credentials/verdict.h"
#include "dispatch/dispatch_stage.h"
#include "dispatch/media_fetch.h"
#include "dispatch/payload_rules.h"
#include "dispatch/translation.h"
#include "dispatch/upstream_request.h"
#include "pipeline/errors.h"
#include "server/request_context.h"
#include "server/snapshot.h"
#include "server/upload_stream.h"
#include "server/worker.h"
#include "translate/json_util.h"
#include "translate/sse.h"
#include "translate/stream_limits.h"

namespace agd::dispatch {
namespace {

std::string mib(size_t n) { return std::to_string(n >> 20) + " MiB"; }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Response headers never relayed: hop-by-hop, framing we redo, cookies.
bool relayable(const std::string& name) {
    static const char* const blocked[] = {"connection",        "keep-alive",   "transfer-encoding", "content-length",
                                          "content-encoding",  "proxy-authenticate", "proxy-connection", "te",
                                          "trailer",           "upgrade",      "set-cookie",        "alt-svc",
                                          "strict-transport-security", "date", "server",  "x-mock-auth"};
    return std::none_of(std::begin(blocked), std::end(blocked), [&](const char* b) { return name == b; });
}

const std::string* find_header(const upstream::HeaderList& h, std::string_view name) {
    for (const auto& [k, v] : h)
        if (k == name) return &v;
    return nullptr;
}

bool retriable(long status) { return status == 429 || status == 401 || status == 403 || status == 408 || status >= 500; }

Outcome outcome_of(long status) {
    if (status == 429) return Outcome::RateLimited;
    if (status == 401 || status == 403) return Outcome::AuthFailed;
    if (status == 408 || status >= 500) return Outcome::UpstreamError;
    return Outcome::ClientError;
}

// Whether `d` has the key `key` (quoted) followed by `value`'s characters,
// JSON whitespace allowed around the colon and between them (`"choices": []`
// from servers that write JSON with spaces).
bool has_member(std::string_view d, std::string_view key, std::string_view value) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    for (size_t at = d.find(key); at != std::string_view::npos; at = d.find(key, at + 1)) {
        size_t i = at + key.size();
        while (i < d.size() && ws(d[i])) ++i;
        if (i >= d.size() || d[i] != ':') continue;
        size_t k = 0;
        for (++i; i < d.size() && k < value.size(); ++i) {
            if (ws(d[i])) continue;
            if (d[i] != value[k]) break;
            ++k;
        }
        if (k == value.size()) return true;
    }
    return false;
}

// The usage chunk a Chat stream sends when asked (`"choices":[]` and the usage).
bool is_usage_chunk(const sse::Event& ev) {
    std::string_view d = ev.data;
    return has_member(d, "\"choices\"", "[]") && has_member(d, "\"usage\"", "{");
}

// The last event of an images or audio stream (OpenAI's own names), or an error.
bool is_media_terminal(const sse::Event& ev) {
    static constexpr std::string_view kLast[] = {"image_generation.completed", "image_edit.completed",
                                                 "transcript.text.done", "speech.audio.done", "error"};
    for (std::string_view t : kLast) {
        if (ev.name == t) return true;
        if (ev.name.empty() && has_member(ev.data, "\"type\"", "\"" + std::string(t) + "\"")) return true;
    }
    return ev.data == "[DONE]" || starts_with(ev.data, "{\"error\"");
}

bool is_terminal(Protocol p, const sse::Event& ev) {
    switch (p) {
        case Protocol::OpenAIChat: return ev.data == "[DONE]" || starts_with(ev.data, "{\"error\"");
        case Protocol::OpenAIResponses:
            return ev.name == "response.completed" || ev.name == "response.incomplete" || ev.name == "response.failed" ||
                   ev.name == "error";
        case Protocol::Anthropic: return ev.name == "message_stop" || ev.name == "error";
        case Protocol::Gemini: return ev.data.find("\"finishReason\"") != std::string::npos || starts_with(ev.data, "{\"error\"");
    }
    return false;
}

}  // namespace

namespace {

// Whether `d` has the member `key` (quoted) with a non-empty string value,
// JSON whitespace allowed around the colon ("text": "Hi" as Google writes it).
bool has_text(std::string_view d, std::string_view key) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    for (size_t at = d.find(key); at != std::string_view::npos; at = d.find(key, at + 1)) {
        size_t i = at + key.size();
        while (i < d.size() && ws(d[i])) ++i;
        if (i >= d.size() || d[i] != ':') continue;
        for (++i; i < d.size() && ws(d[i]);) ++i;
        if (i + 1 < d.size() && d[i] == '"' && d[i + 1] != '"') return true;
    }
    return false;
}

// An event that carries the first of the answer's content (text, a tool
// call, reasoning): the time to first token, and the end of a first-token hold.
}  // namespace

bool carries_content(Protocol p, const sse::Event& ev) {
    std::string_view d = ev.data;
    switch (p) {
        case Protocol::OpenAIChat:
            return d.find("\"tool_calls\"") != std::string_view::npos || has_text(d, "\"content\"") ||
                   has_text(d, "\"reasoning_content\"") || has_text(d, "\"reasoning\"");
        case Protocol::OpenAIResponses:
            return ev.name.size() > 6 && ev.name.substr(ev.name.size() - 6) == ".delta";
        case Protocol::Anthropic: return ev.name == "content_block_delta";
        case Protocol::Gemini:
            return d.find("\"functionCall\"") != std::string_view::npos || has_text(d, "\"text\"");
    }
    return false;
}

namespace {
}  // namespace

// The attempt's outcome: to the pool (cooldowns, health) and to the request's record.
void Exchange::report(Outcome o, int status, int64_t now) {
    // What the answer says about the credential, and how far it goes.
    credentials::Hints hints;
    credentials::Verdict verdict;
    int64_t wall = credentials::wall_ms();
    if (mode_ == Mode::BufferError && status >= 400) {
        credentials::read_headers(headers_, wall, hints);
        credentials::read_error_body(error_body_, hints);
        verdict = credentials::classify(status, hints, wall);
    } else if (o == Outcome::Ok || o == Outcome::ClientError) {
        // A success's remaining-quota figures are kept too.
        if (status != 0) credentials::read_headers(headers_, wall, hints);
        verdict = credentials::classify(status, hints, wall);
    } else if (limit_hit_) {
        // Stopped for one of this daemon's bounds (an answer too large, too
        // deep): the upstream is well, the request's answer was not.
        verdict.scope = credentials::Scope::Request;
    } else {
        verdict = credentials::transport_failure(!last_failure_.empty() ? last_failure_
                                                 : status != 0 ? "the answer failed after HTTP " + std::to_string(status)
                                                               : std::string("connection failed"));
    }
    // An upstream may quote the key it refused: evidence is shown to people.
    if (!verdict.why.empty()) {
        redact_secret(verdict.why, cred_->key, verdict.why.size() >= credentials::kMaxHintText);
        redact_secret(verdict.why, token_sent_, verdict.why.size() >= credentials::kMaxHintText);
        verdict.why = redact_urls(verdict.why);
    }
    ctx_.snap->router->report(*cred_, ctx_.access.model_sent, verdict, hints, status, now);
    record::Attempt a;
    a.provider = ctx_.access.provider_index;
    a.credential = cred_->fingerprint;
    a.status = status;
    switch (o) {
        case Outcome::Ok: a.outcome = record::AttemptOutcome::Ok; break;
        case Outcome::RateLimited: a.outcome = record::AttemptOutcome::RateLimited; break;
        case Outcome::AuthFailed: a.outcome = record::AttemptOutcome::AuthFailed; break;
        case Outcome::UpstreamError: a.outcome = record::AttemptOutcome::UpstreamError; break;
        case Outcome::Timeout: a.outcome = record::AttemptOutcome::Timeout; break;
        case Outcome::ClientError: a.outcome = record::AttemptOutcome::ClientError; break;
    }
    if (ctx_.access.attempt_log.size() < kMaxLoggedAttempts) ctx_.access.attempt_log.push_back(std::move(a));
}

Exchange::Exchange(RequestContext& ctx, std::vector<Match> matches, uint64_t session)
    : ctx_(ctx), matches_(std::move(matches)), session_(session) {}

Exchange::~Exchange() {
    *alive_ = nullptr;  // a token callback still queued finds nobody
    cancel();
    if (first_token_timer_) event_free(first_token_timer_);
    if (token_timer_) event_free(token_timer_);
}

void Exchange::start() { attempt(); }

void Exchange::cancel() {
    disarm_first_token_deadline();
    waiting_token_ = false;  // a token arriving later starts nothing
    if (token_timer_) evtimer_del(token_timer_);
    if (fetch_) fetch_->cancel();
    if (transfer_ && mode_ == Mode::Relay) settle_usage(false);
    if (transfer_) {
        transfer_->cancel();
        transfer_ = nullptr;
    }
}

void Exchange::attempt() {
    const config::Config& cfg = *ctx_.snap->config;
    const Router& router = *ctx_.snap->router;
    while (true) {
        // A streamed upload whose first bytes were dropped cannot be sent
        // again: the last attempt's answer is the client's.
        if (ctx_.upload && !tried_.empty() && !ctx_.upload->can_restart()) return fail_final();
        if (model_attempts_ >= static_cast<int>(cfg.routing.max_attempts)) {
            if (next_model()) continue;
            return fail_final();
        }
        int64_t now = credentials::steady_ms();
        Router::Pick pick = router.pick(matches_, tried_, now, session_);
        if (pick.status != Router::PickStatus::Ok && next_model()) continue;
        if (pick.status == Router::PickStatus::AllCooling) {
            if (have_error_ || !last_failure_.empty()) return fail_final();
            long long secs = (pick.retry_after_ms + 999) / 1000;
            ctx_.fail(ErrorKind::RateLimited,
                      "every credential serving model '" + ctx_.body.model + ctx_.route.model +
                          "' is resting (rate limits or failing upstreams); retry in " + std::to_string(secs) + " s",
                      static_cast<int>(secs));
            return;
        }
        if (pick.status == Router::PickStatus::Exhausted) return fail_final();

        tried_.push_back(pick.cred);
        provider_ = pick.provider;
        cred_ = pick.cred;
        ctx_.access.attempts += 1;
        model_attempts_ += 1;
        ctx_.access.provider = provider_->cfg->name;
        ctx_.access.provider_index = static_cast<int>(provider_->cfg - cfg.providers.data());
        ctx_.access.credential = cred_->fingerprint;
        ctx_.access.model_sent = pick.upstream_model;
        ctx_.access.upstream_status = 0;
        mode_ = Mode::Idle;
        oauth_retried_ = false;
        disarm_first_token_deadline();
        held_.clear();
        have_error_ = false;
        last_failure_.clear();
        last_failure_timeout_ = false;
        error_body_.clear();
        headers_.clear();
        relay_framer_.clear();
        sse_ = saw_terminal_ = backpressured_ = limit_hit_ = usage_asked_ = false;
        // OpenAI's embeddings answer has Chat's usage on either OpenAI wire;
        // its images and audio answers have Responses' names (input_tokens).
        Protocol usage_wire = provider_->wire;
        if (is_embedding_operation(ctx_.route.op) && usage_wire == Protocol::OpenAIResponses)
            usage_wire = Protocol::OpenAIChat;
        else if (is_media_operation(ctx_.route.op) && surface_of(usage_wire) == Surface::OpenAI)
            usage_wire = Protocol::OpenAIResponses;
        usage_ = record::UsageScanner(usage_wire);
        watch_array_ = false;
        array_end_.clear();
        array_tail_.clear();

        owned_body_.clear();
        whole_.clear();
        framer_.clear();
        translating_ = Translation::needed(ctx_, provider_->wire);
        // A passthrough keeps no DOM for the rest of its life (a later
        // attempt that translates parses the text instead).
        if (!translating_ && !tr_) ctx_.body_dom.reset();
        if (translating_) {
            if (!prepare_translation()) return;
            if (!serving_.empty()) tr_->serve_as(serving_);
            if (tr_->local_count(provider_->wire)) {
                ctx_.access.attempts -= 1;
                note_served_model();
                ctx_.reply(200, tr_->local_count_body());
                return;
            }
            if (!media_fetched_ && fetch_media(pick.upstream_model)) return;
        }
        if (launch(pick.upstream_model)) return;
    }
}

bool Exchange::next_model() {
    if (ctx_.answer_started()) return false;
    const config::Config& cfg = *ctx_.snap->config;
    const Router& router = *ctx_.snap->router;
    const std::string& asked = ctx_.route.protocol == Protocol::Gemini ? ctx_.route.model : ctx_.body.model;
    const config::ModelConfig* mc = config::model_config(cfg, asked);
    while (mc != nullptr && fallback_next_ < mc->fallback.size()) {
        const std::string& model = mc->fallback[fallback_next_++];
        if (model == asked || model == serving_) continue;
        if (ctx_.client_index >= 0 &&
            !clients::model_allowed(cfg.clients[static_cast<size_t>(ctx_.client_index)], model))
            continue;
        std::vector<Match> matches = router.match(model);
        mark_translated(ctx_, router, matches);
        if (matches.empty()) continue;
        log::info("request {:016x}: model '{}' could not be served ({}); falling back to '{}'", ctx_.id,
                  serving_.empty() ? asked : serving_,
                  !last_failure_.empty() ? last_failure_
                  : have_error_          ? "upstream answered " + std::to_string(status_)
                                         : std::string("no usable credential"),
                  model);
        matches_ = std::move(matches);
        tried_.clear();
        model_attempts_ = 0;
        serving_ = model;
        session_ = router.sticky() ? session_of(ctx_, model) : 0;
        if (tr_) tr_->serve_as(model);
        return true;
    }
    return false;
}

void Exchange::arm_first_token_deadline() {
    const config::Config& cfg = *ctx_.snap->config;
    const std::string& asked = ctx_.route.protocol == Protocol::Gemini ? ctx_.route.model : ctx_.body.model;
    int64_t ms = cfg.routing.first_token_timeout.count();
    if (const config::ModelConfig* mc = config::model_config(cfg, serving_.empty() ? asked : serving_);
        mc && mc->first_token_timeout.count() >= 0)
        ms = mc->first_token_timeout.count();
    bool stream = translating_ ? tr_->client_stream()
                               : ctx_.body.stream || ctx_.route.op == Operation::StreamGenerateContent;
    // Images and audio streams have no text to wait for: never held.
    if (ms <= 0 || !stream || ctx_.answer_started() || is_media_operation(ctx_.route.op)) return;
    if (first_token_timer_ == nullptr) first_token_timer_ = evtimer_new(ctx_.worker.base(), &on_first_token_deadline, this);
    if (first_token_timer_ == nullptr) return;  // out of memory: no deadline, the stream goes as it comes
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    if (evtimer_add(first_token_timer_, &tv) == 0) holding_ = true;
}

void Exchange::disarm_first_token_deadline() {
    if (first_token_timer_) evtimer_del(first_token_timer_);
    holding_ = false;
}

void Exchange::release_held() {
    if (!holding_) return;
    disarm_first_token_deadline();
    if (held_.empty()) return;  // nothing yet: the answer starts when it has bytes (or fails whole)
    start_client_response();
    ctx_.write_body(held_.data(), held_.size());
    held_.clear();
    held_.shrink_to_fit();
}

void Exchange::emit(const char* data, size_t len) {
    if (holding_) {
        held_.append(data, len);
        if (held_.size() > kMaxHeld) release_held();
        return;
    }
    start_client_response();
    ctx_.write_body(data, len);
}

// The stream said nothing worth showing in time: dropped, before the client
// got a byte, and tried elsewhere (the credential's breaker counts it).
void Exchange::on_first_token_deadline(int, short, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if (!self->holding_ || self->transfer_ == nullptr || self->ctx_.answer_started()) return;
    self->holding_ = false;
    self->transfer_->cancel();
    self->transfer_ = nullptr;
    self->held_.clear();
    self->last_failure_ = "no first token within the first_token_timeout";
    self->last_failure_timeout_ = true;
    self->report(Outcome::Timeout, 0, credentials::steady_ms());
    self->attempt();
}

void Exchange::wait_for_token(const std::string& upstream_model, uint64_t stale) {
    token_model_ = upstream_model;
    waiting_token_ = true;
    uint64_t wait = ++wait_id_;
    if (token_timer_ == nullptr) token_timer_ = evtimer_new(ctx_.worker.base(), &on_token_wait_timeout, this);
    if (token_timer_ != nullptr) {
        timeval tv{kTokenWaitSeconds, 0};
        evtimer_add(token_timer_, &tv);
    }
    std::shared_ptr<Exchange*> alive = alive_;
    cred_->oauth->want(
        ctx_.worker.mailbox(),
        [alive, wait] {
            if (*alive) (*alive)->token_ready(wait);
        },
        stale);
}

void Exchange::on_token_wait_timeout(int, short, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    self->token_ready(self->wait_id_);
}

// A refresh ended (or the wait did): the attempt goes on with the new
// token, or, without one, on another credential.
void Exchange::token_ready(uint64_t wait) {
    if (!waiting_token_ || wait != wait_id_ || ctx_.client_gone) return;
    waiting_token_ = false;
    if (token_timer_) evtimer_del(token_timer_);
    if (!cred_->oauth->access(credentials::wall_ms()).empty()) {
        mode_ = Mode::Idle;
        have_error_ = false;
        error_body_.clear();
        headers_.clear();
        if (launch(token_model_)) return;
        return attempt();
    }
    std::string why = cred_->oauth->last_error();
    last_failure_ = "no OAuth2 access token" + (why.empty() ? std::string(" (the refresh took too long)") : ": " + why);
    have_error_ = false;
    attempt();
}

void Exchange::note_served_model() {
    if (!serving_.empty()) ctx_.add_response_header("x-antigravityd-model", serving_);
}

// Starts the current attempt's transfer. False when it could not start (the
// caller picks again); true when it runs or the client was answered.
bool Exchange::launch(const std::string& upstream_model) {
    // A streamed upload sent again (an OAuth2 retry on the same credential)
    // needs its first bytes: gone, the last answer is the client's.
    if (ctx_.upload && !ctx_.upload->can_restart()) {
        fail_final();
        return true;
    }
    if (cred_->oauth) {
        if (cred_->oauth->access(credentials::wall_ms()).empty()) {
            wait_for_token(upstream_model, 0);
            return true;
        }
        token_generation_ = cred_->oauth->generation();
    }
    upstream::Request req;
    if (translating_) {
        Status st = tr_->begin_attempt(ctx_, *provider_, *cred_, upstream_model, req);
        if (!st && !serving_.empty()) {
            // A fallback that cannot take this request (its API cannot say
            // it): not the client's fault; the next fallback, or a 502.
            std::string model = serving_;
            if (next_model()) return false;
            const std::string& asked = ctx_.route.protocol == Protocol::Gemini ? ctx_.route.model : ctx_.body.model;
            ctx_.fail(ErrorKind::BadGateway, "model '" + asked + "' could not be served, and its fallback '" + model +
                                                 "' cannot take this request: " + st.error().message);
            return true;
        }
        if (!st) {
            ctx_.fail(st.error().code == 501 ? ErrorKind::NotImplemented : ErrorKind::BadRequest, st.error().message);
            return true;
        }
    } else {
        usage_asked_ = build_passthrough(ctx_, *provider_, *cred_, upstream_model, req, owned_body_);
    }
    if (!ctx_.snap->config->rules.empty() && !counting_call()) {
        const auto& cfg = *ctx_.snap->config;
        std::string_view client =
            ctx_.client_index >= 0 ? std::string_view(cfg.clients[static_cast<size_t>(ctx_.client_index)].name) : "";
        Result<int> ruled = apply_rules(cfg, upstream_model, provider_->wire, client, req, ruled_body_,
                                        !translating_ && ctx_.body.multipart);
        if (!ruled) {
            ctx_.fail(ErrorKind::BadRequest, ruled.error().message);
            return true;
        }
    }
    token_sent_.clear();
    if (cred_->oauth) {
        // The token the request carries (read once, by the builder): kept to
        // redact an answer that quotes it; gone meanwhile (another worker's
        // 401 dropped it): wait for the next.
        for (const auto& h : req.headers)
            for (std::string_view prefix : {"Authorization: Bearer ", "x-api-key: ", "x-goog-api-key: "})
                if (token_sent_.empty() && std::string_view(h).starts_with(prefix)) token_sent_ = h.substr(prefix.size());
        if (token_sent_.empty()) {
            wait_for_token(upstream_model, 0);
            return true;
        }
    }
    transfer_ = ctx_.worker.upstream().start(req, this);
    if (transfer_) {
        arm_first_token_deadline();
        return true;
    }
    last_failure_ = "could not start the upstream transfer";
    report(Outcome::UpstreamError, 0, credentials::steady_ms());
    return false;
}

// Images given by URL are downloaded before a request goes to a wire that
// takes them inline only. True when downloads were started (the attempt
// goes on when they end).
bool Exchange::fetch_media(const std::string& upstream_model) {
    std::vector<ir::Media*> todo = tr_->media_to_inline(provider_->wire);
    if (todo.empty()) return false;
    const config::Config& cfg = *ctx_.snap->config;
    upstream::Request proto;
    proto.proxy = provider_->cfg->proxy;
    proto.connect_timeout = cfg.server.connect_timeout;
    proto.idle_timeout = cfg.server.upstream_timeout;
    fetch_ = std::make_unique<MediaFetch>(ctx_.worker.upstream(), std::move(todo), std::move(proto));
    pending_model_ = upstream_model;
    fetch_->start([this](Status st) {
        if (ctx_.client_gone) return;
        if (!st) {
            ctx_.access.error = "image download failed";
            ctx_.fail(ErrorKind::BadRequest, st.error().message);
            return;
        }
        media_fetched_ = true;
        if (!launch(pending_model_)) attempt();
    });
    return true;
}

// Decodes the client's request on the first attempt that needs it; a
// request the codecs cannot read is answered 400 at once.
bool Exchange::prepare_translation() {
    if (tr_) return true;
    Result<std::unique_ptr<Translation>> t = Translation::create(ctx_);
    ctx_.body_dom.reset();  // decoded: the IR holds what it said
    if (!t) {
        ctx_.fail(ErrorKind::BadRequest, t.error().message);
        return false;
    }
    tr_ = std::move(t).value();
    return true;
}

void Exchange::fail_final() {
    if (have_error_) return relay_error();
    std::string who = provider_ ? "upstream '" + provider_->cfg->name + "'" : std::string("upstream");
    std::string tries = ctx_.access.attempts > 1 ? " (after " + std::to_string(ctx_.access.attempts) + " attempts)" : "";
    if (!last_failure_.empty()) {
        ctx_.fail(last_failure_timeout_ ? ErrorKind::Timeout : ErrorKind::BadGateway, who + " failed: " + last_failure_ + tries);
        return;
    }
    ctx_.fail(ErrorKind::BadGateway, "no usable upstream credential" + tries);
}

void Exchange::relay_error() {
    note_served_model();
    for (const auto& [k, v] : headers_) {
        if (k == "retry-after" || k == "x-request-id" || k == "request-id") ctx_.add_response_header(k, v);
    }
    if (translating_) {
        // The upstream's error in the client's own protocol, its message kept.
        std::string msg = Translation::error_message(error_body_);
        if (msg.empty()) msg = "HTTP " + std::to_string(status_);
        ctx_.access.error = "upstream answered " + std::to_string(status_);
        ctx_.fail(error_kind_for_status(static_cast<int>(status_)), "upstream '" + provider_->cfg->name + "': " + msg);
        return;
    }
    size_t first = error_body_.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && error_body_[first] == '{') {
        ctx_.access.error = "upstream answered " + std::to_string(status_);
        ctx_.reply(static_cast<int>(status_), std::move(error_body_));
        return;
    }
    std::string snippet = error_body_.substr(0, 200);
    std::replace_if(snippet.begin(), snippet.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    ctx_.fail(error_kind_for_status(static_cast<int>(status_)), "upstream '" + provider_->cfg->name + "' answered HTTP " + std::to_string(status_) +
                                    (snippet.empty() ? std::string() : ": " + snippet));
}

void Exchange::on_headers(long status, upstream::HeaderList&& headers) {
    status_ = status;
    ctx_.access.upstream_status = static_cast<int>(status);
    headers_ = std::move(headers);  // a 2xx answer's are relayed at its first byte
    if (status >= 200 && status < 300) {
        mode_ = Mode::Relay;
        const std::string* ct = find_header(headers_, "content-type");
        sse_ = ct && starts_with(*ct, "text/event-stream");
        watch_array_ = !sse_ && !translating_ && ctx_.route.op == Operation::StreamGenerateContent &&
                       !ctx_.route.gemini_sse;
    } else {
        mode_ = Mode::BufferError;
    }
}

void Exchange::start_client_response() {
    if (ctx_.response_started()) return;
    note_served_model();
    int64_t length = -1;
    if (translating_) {
        ctx_.add_response_header("content-type", tr_->content_type());
        if (tr_->client_stream()) ctx_.add_response_header("cache-control", "no-cache");
        ctx_.start_response(200, -1);
        return;
    }
    for (const auto& [k, v] : headers_) {
        if (!relayable(k)) continue;
        ctx_.add_response_header(k, v);
    }
    // A Content-Length beside Transfer-Encoding does not frame the body (RFC 9112 6.3).
    // A watched JSON-array stream is always chunked: cutting it must show.
    if (!sse_ && !watch_array_ && !find_header(headers_, "transfer-encoding")) {
        if (const std::string* cl = find_header(headers_, "content-length")) {
            char* end = nullptr;
            long long n = std::strtoll(cl->c_str(), &end, 10);
            if (end && *end == '\0' && n >= 0) length = n;
        }
    }
    ctx_.start_response(static_cast<int>(status_), length);
}

size_t Exchange::on_body(const char* data, size_t len) {
    if (mode_ == Mode::BufferError) {
        if (error_body_.size() < kMaxErrorBody) error_body_.append(data, std::min(len, kMaxErrorBody - error_body_.size()));
        return len;
    }
    if (mode_ != Mode::Relay) return len;
    if (ctx_.upload && !ctx_.body_complete) {
        // Answered before the whole upload came: the upstream needs no more
        // of it (the rest is read and dropped, so the client is never left
        // unread), and the answer waits until the client has sent it all.
        upload_hold_ = true;
        ctx_.upload->discard();
        return kPause;
    }
    if (ctx_.output_pending() > kHighWatermark) {
        backpressured_ = true;
        ctx_.watch_drain(kLowWatermark);
        return kPause;
    }
    if (translating_) {
        if (sse_) return translate_sse(data, len);
        if (whole_.size() + len > kMaxTranslatedBody)
            return abort_for_limit("the upstream's answer exceeds " + mib(kMaxTranslatedBody));
        usage_.feed_body(std::string_view(data, len));
        whole_.append(data, len);
    } else if (sse_) {
        return relay_sse(data, len);
    } else if (watch_array_) {
        usage_.feed_body(std::string_view(data, len));
        relay_array(data, len);
    } else {
        // Audio bytes are not read for usage (they hold none).
        if (ctx_.route.op != Operation::AudioSpeech) usage_.feed_body(std::string_view(data, len));
        release_held();
        start_client_response();
        ctx_.write_body(data, len);
    }
    return len;
}

// Stops the attempt's transfer (on_body's kAbort) because the answer went
// past a limit; on_done ends the client's answer with `message`.
size_t Exchange::abort_for_limit(std::string message) {
    limit_hit_ = true;
    last_failure_ = std::move(message);
    return kAbort;
}

// Only complete events go out; the start of an unfinished one waits in the
// framer (at most kMaxEvent bytes, or the stream fails).
size_t Exchange::relay_sse(const char* data, size_t len) {
    bool ok = relay_framer_.split(std::string_view(data, len), [&](std::string_view complete) {
        relay_events(complete);
    });
    if (!ok) return abort_for_limit("an event of the upstream's stream exceeds " + mib(stream_limits::kMaxEvent));
    return len;
}

bool ArrayEndWatch::scan(std::string_view d) {
    if (seen_) return true;
    static constexpr std::string_view kNeedles[] = {"\"finishReason\"", "{\"error\""};
    // The seam: the end of the previous read followed by the start of this one.
    char seam[2 * kTail];
    size_t head = std::min(d.size(), kTail);
    std::memcpy(seam, tail_, tail_len_);
    std::memcpy(seam + tail_len_, d.data(), head);
    std::string_view joined(seam, tail_len_ + head);
    for (std::string_view n : kNeedles)
        if (joined.find(n) != std::string_view::npos || d.find(n) != std::string_view::npos) return seen_ = true;
    std::string_view keep = d.size() >= kTail ? d.substr(d.size() - kTail) : joined.substr(joined.size() - std::min(joined.size(), kTail));
    std::memmove(tail_, keep.data(), keep.size());
    tail_len_ = keep.size();
    return false;
}

// A Gemini JSON-array stream relayed as it comes, except its closing
// bracket: held back until the body ends, and dropped (the connection cut)
// when the answer never said it was finished.
void Exchange::relay_array(const char* data, size_t len) {
    std::string_view d(data, len);
    array_end_.scan(d);
    release_held();  // its elements are the content
    start_client_response();
    size_t last = d.find_last_not_of(" \t\r\n");
    if (last == std::string_view::npos) {  // whitespace: after a held ']' it is dropped
        if (array_tail_.empty()) ctx_.write_body(data, len);
        return;
    }
    if (!array_tail_.empty()) {
        ctx_.write_body(array_tail_.data(), array_tail_.size());
        array_tail_.clear();
    }
    size_t cut = d[last] == ']' ? last : len;
    if (cut) ctx_.write_body(data, cut);
    if (cut < len) array_tail_.assign(d.substr(cut, 64));  // the ']' and a little whitespace after it
}

// Complete upstream events go through the decoder; what the client's
// encoder produced goes out. An unfinished event waits in the framer (at
// most kMaxEvent bytes). Once the client's stream failed (the upstream's
// error, or a limit of the codecs) nothing more is read.
size_t Exchange::translate_sse(const char* data, size_t len) {
    bool ok = framer_.feed(std::string_view(data, len), [&](const sse::Event& ev) {
        on_upstream_event(ev);
        tr_->on_event(ev);
    });
    flush_translated();
    if (!ok) return abort_for_limit("an event of the upstream's stream exceeds " + mib(stream_limits::kMaxEvent));
    if (tr_->failed()) return abort_for_limit(tr_->error().empty() ? "upstream stream failed" : tr_->error());
    return len;
}

void Exchange::flush_translated() {
    std::string& out = tr_->output();
    if (out.empty()) return;
    emit(out.data(), out.size());
    out.clear();
}

void Exchange::finish_translated(int64_t now) {
    release_held();
    if (!sse_) {
        Result<std::string> body = tr_->translate_body(whole_);
        settle_usage(true);  // after the translation, which may have estimated it
        whole_.clear();
        if (!body) {
            report(Outcome::UpstreamError, static_cast<int>(status_), now);
            ctx_.fail(ErrorKind::BadGateway, "upstream '" + provider_->cfg->name + "': " + body.error().message);
            return;
        }
        report(Outcome::Ok, static_cast<int>(status_), now);
        if (!tr_->client_stream()) {
            note_served_model();
            ctx_.reply(200, std::move(body).value(), tr_->content_type());
            return;
        }
        flush_translated();
        ctx_.end_response();
        return;
    }
    framer_.finish([&](const sse::Event& ev) {
        on_upstream_event(ev);
        tr_->on_event(ev);
    });
    tr_->on_close();
    settle_usage(!tr_->failed());
    report(tr_->failed() ? Outcome::UpstreamError : Outcome::Ok, static_cast<int>(status_), now);
    if (tr_->failed()) ctx_.access.error = "upstream stream failed";
    flush_translated();
    end_translated();
}

// A Gemini JSON-array stream has no in-band error: a failed one is cut.
void Exchange::end_translated() {
    // Failed before its first byte (a Gemini JSON-array stream writes nothing
    // for an error): the client can still get the error as a whole answer.
    if (tr_->failed() && !ctx_.response_started())
        return ctx_.fail(error_kind_for_status(tr_->error_status()), tr_->error_text());
    if (tr_->failed() && tr_->cuts_on_error()) return ctx_.abort_connection();
    ctx_.end_response();
}

// Complete events of a relayed stream go out as they came, except the
// usage chunk asked for on the client's behalf.
void Exchange::relay_events(std::string_view complete) {
    std::string_view rest = complete, block;
    const char* from = complete.data();  // the next byte not yet written
    while (sse::next_block(rest, block)) {
        sse::Event ev = sse::parse_event(block);
        if (ev.name.empty() && ev.data.empty()) continue;
        on_upstream_event(ev);
        if (usage_asked_ && is_usage_chunk(ev)) {
            emit(from, static_cast<size_t>(block.data() - from));
            from = rest.data();
        }
    }
    emit(from, static_cast<size_t>(complete.data() + complete.size() - from));
}

void Exchange::on_upstream_event(const sse::Event& ev) {
    usage_.feed_event(ev.name, ev.data);
    if (is_media_operation(ctx_.route.op) && !translating_) {
        // An images or audio stream: every event is content (a partial
        // image, text, audio); its last has the answer's `usage`, read as
        // a whole answer is.
        if (!ctx_.access.first_token_ns) ctx_.access.first_token_ns = mono_ns();
        bool last = is_media_terminal(ev);
        if (last && ev.data.find("\"usage\"") != std::string_view::npos) {
            usage_.reset();
            usage_.feed_body(ev.data);
        }
        if (last) saw_terminal_ = true;
        return;
    }
    if (carries_content(provider_->wire, ev)) {
        if (!ctx_.access.first_token_ns) ctx_.access.first_token_ns = mono_ns();
        release_held();
    }
    if (!saw_terminal_ && !translating_ && is_terminal(ctx_.route.protocol, ev)) saw_terminal_ = true;
}

// The answer's usage, into the request's record: what the upstream said,
// and whether the answer was whole. Count endpoints use no tokens.
bool Exchange::counting_call() const {
    Operation op = ctx_.route.op;
    return op == Operation::AnthropicCountTokens || op == Operation::GeminiCountTokens || (tr_ && tr_->counting());
}

void Exchange::settle_usage(bool complete) {
    if (counting_call()) return;
    // A stream cut short keeps the figures it had sent (Anthropic's input
    // comes first): they were spent.
    ctx_.access.usage = usage_.seen() ? usage_.usage() : record::Usage{};
    if (!complete) {
        ctx_.access.usage_state = record::UsageState::Cut;
    } else if (usage_.seen()) {
        ctx_.access.usage_state = record::UsageState::Reported;
    } else if (is_embedding_operation(ctx_.route.op)) {
        // Gemini says nothing of an embedding's tokens: the estimate of its
        // input (what a translated answer told the client; the body's bytes
        // / 4 when passed through), not the vectors' bytes, which limits
        // would otherwise count.
        int64_t est = tr_ ? tr_->estimated_input() : -1;
        if (est < 0) est = static_cast<int64_t>((ctx_.body_len + 3) / 4);
        ctx_.access.usage.input = est;
        ctx_.access.usage.output = 0;
        ctx_.access.usage_state = record::UsageState::Estimated;
    } else {
        ctx_.access.usage_state = record::UsageState::Missing;
    }
}

void Exchange::end_stream_with_error(std::string_view message) {
    relay_framer_.clear();
    start_client_response();
    std::string ev = stream_error_event(ctx_.route.protocol, ErrorKind::BadGateway, message);
    ctx_.access.error = std::string(message);
    ctx_.write_body(ev.data(), ev.size());
    ctx_.end_response();
}

void Exchange::on_upload_progress() {
    if (transfer_) transfer_->body_more();
    if (!ctx_.body_complete) return;
    if (upload_hold_ && transfer_) {
        upload_hold_ = false;
        transfer_->resume();
    } else if (upload_finish_) {
        upload_finish_ = false;
        finish_relay(credentials::steady_ms());
    }
}

void Exchange::on_client_drained() {
    if (backpressured_ && transfer_) {
        backpressured_ = false;
        transfer_->resume();
    }
}

// A complete 2xx answer: whatever is held back goes out, and a stream that
// never sent its terminal event ends with the protocol's error event.
void Exchange::finish_relay(int64_t now) {
    release_held();  // the whole answer came, content or not
    if (watch_array_ && !array_end_.seen()) {
        settle_usage(false);
        // No finishReason: the answer stopped short. Never a clean end: the
        // array is left unclosed and the connection cut.
        report(Outcome::UpstreamError, static_cast<int>(status_), now);
        if (!ctx_.response_started())
            return ctx_.fail(ErrorKind::BadGateway, "upstream '" + provider_->cfg->name + "' sent an empty stream");
        ctx_.access.error = "upstream stream ended without a finishReason";
        return ctx_.abort_connection();
    }
    start_client_response();
    if (!array_tail_.empty()) {
        ctx_.write_body(array_tail_.data(), array_tail_.size());
        array_tail_.clear();
    }
    if (sse_) {
        if (!relay_framer_.empty()) {
            std::string pending(relay_framer_.pending());
            pending += "\n\n";  // the body ended: a last event without its blank line still counts
            relay_framer_.clear();
            std::string_view rest = pending, block;
            while (sse::next_block(rest, block)) {
                sse::Event ev = sse::parse_event(block);
                if (!ev.name.empty() || !ev.data.empty()) on_upstream_event(ev);
            }
            ctx_.write_body(pending.data(), pending.size() - 2);
        }
        settle_usage(saw_terminal_);
        if (!saw_terminal_) {
            report(Outcome::UpstreamError, static_cast<int>(status_), now);
            return end_stream_with_error("upstream stream ended without its terminal event");
        }
    }
    if (!sse_) settle_usage(true);
    report(Outcome::Ok, static_cast<int>(status_), now);
    ctx_.end_response();
}

void Exchange::on_done(upstream::Outcome outcome, std::string_view message) {
    transfer_ = nullptr;
    if (ctx_.client_gone) return;
    if (mode_ != Mode::Relay || outcome != upstream::Outcome::Ok) {
        // Failed while held back: nothing reached the client, it is tried elsewhere.
        disarm_first_token_deadline();
        held_.clear();
    }
    int64_t now = credentials::steady_ms();

    if (mode_ == Mode::BufferError) {
        have_error_ = true;
        if (status_ == 401 && cred_->oauth && !oauth_retried_) {
            // The access token was refused: a new one, and one more try on
            // the same credential (no failure recorded yet).
            oauth_retried_ = true;
            return wait_for_token(ctx_.access.model_sent, token_generation_);
        }
        report(outcome_of(status_), static_cast<int>(status_), now);
        if (retriable(status_)) return attempt();
        return relay_error();
    }

    if (mode_ == Mode::Relay && outcome == upstream::Outcome::Ok) {
        if (ctx_.upload && !ctx_.body_complete) {
            // A whole answer before the whole upload: relayed once the
            // client is done sending (what it sends now is dropped).
            upload_finish_ = true;
            ctx_.upload->discard();
            return;
        }
        return translating_ ? finish_translated(now) : finish_relay(now);
    }

    if (mode_ == Mode::Relay && ctx_.response_started()) {
        settle_usage(false);
        report(outcome == upstream::Outcome::Timeout ? Outcome::Timeout : Outcome::UpstreamError,
                       static_cast<int>(status_), now);
        std::string why = limit_hit_ ? "upstream '" + provider_->cfg->name + "': " + last_failure_
                                     : "upstream '" + provider_->cfg->name + "' failed mid-stream: " + std::string(message);
        if (translating_ && tr_->client_stream()) {
            tr_->fail(why, outcome == upstream::Outcome::Timeout ? 504 : 502);
            flush_translated();
            ctx_.access.error = why;
            return end_translated();
        }
        if (sse_ && !translating_) return end_stream_with_error(why);
        ctx_.access.error = why;
        return ctx_.abort_connection();
    }

    // An answer past a limit (a translated answer too large to decode, an
    // event too large): another credential would send the same.
    // A translated stream the upstream failed in-band before anything
    // reached the client (a Gemini JSON-array client) is answered the same way.
    if (outcome == upstream::Outcome::Aborted && limit_hit_) {
        bool upstream_failed = translating_ && tr_->failed();
        report(upstream_failed ? Outcome::UpstreamError : Outcome::Ok, static_cast<int>(status_), now);
        return fail_final();
    }
    // Nothing reached the client yet: a transport failure, retried on another credential.
    last_failure_ = message.empty() ? "connection failed" : std::string(message);
    last_failure_timeout_ = outcome == upstream::Outcome::Timeout;
    report(last_failure_timeout_ ? Outcome::Timeout : Outcome::UpstreamError, 0, now);
    attempt();
}

}  // namespace agd::dispatch

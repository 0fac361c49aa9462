#include "dispatch/translation.h"

#include <ctime>
#include <map>
#include <set>

#include "common/log.h"
#include "dispatch/router.h"
#include "server/request_context.h"
#include "server/snapshot.h"
#include "translate/compaction.h"
#include "translate/embeddings.h"
#include "translate/estimate.h"
#include "translate/images.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/stream_limits.h"

namespace agd::dispatch {

using translate::JsonValue;

// Forwards decoded events to the client's encoder and notes an error event.
// A stream may start at most kMaxItems tool calls (the codecs keep a little
// state per call). Tool-call arguments arrive as fragments of JSON text that
// no decoder parses: their nesting is counted here, and arguments deeper
// than server.max_json_depth end the stream with an error (as a whole answer
// carrying them is a 502) before a client encoder parses them (Gemini's).
class Translation::Sink : public translate::EventSink {
public:
    explicit Sink(Translation& t) : t_(t) {}
    void on(const ir::StreamEvent& ev) override {
        using T = ir::StreamEvent::Type;
        if (t_.encoder_->finished()) return;
        if (ev.type == T::ToolStart) {
            if (++tool_calls_ > stream_limits::kMaxItems) {
                ir::StreamEvent err;
                err.type = T::Error;
                err.status = 502;
                static const std::string msg =
                    "the upstream stream has more than " + std::to_string(stream_limits::kMaxItems) + " tool calls";
                err.text = msg;
                forward(err);
                return;
            }
            args_[ev.index] = {};
        }
        if (ev.type == T::ToolArgs) {
            JsonDepthCounter& c = args_[ev.index];
            c.feed(ev.text);
            if (c.max_depth() > t_.session_.max_json_depth) {
                // The event's text is a view: the message must outlive forward().
                const std::string msg = "upstream tool-call arguments: JSON nested deeper than " +
                                        std::to_string(t_.session_.max_json_depth) + " levels (server.max_json_depth)";
                ir::StreamEvent err;
                err.type = T::Error;
                err.status = 502;
                err.text = msg;
                forward(err);
                return;
            }
        }
        forward(ev);
    }
    void reset() {
        tool_calls_ = 0;
        args_.clear();
    }

private:
    void forward(const ir::StreamEvent& ev) {
        if (ev.type == ir::StreamEvent::Type::Error) {
            t_.failed_ = true;
            t_.error_status_ = ev.status ? ev.status : 502;
            t_.error_text_ = ev.text;
        }
        t_.encoder_->on(ev);
    }

    Translation& t_;
    size_t tool_calls_ = 0;
    std::map<int, JsonDepthCounter> args_;
};

namespace {

// Replays a whole answer as stream events (an upstream that answered a
// stream request with one JSON body).
void replay(const ir::Response& r, translate::EventSink& sink) {
    using T = ir::StreamEvent::Type;
    ir::StreamEvent ev;
    ev.type = T::Start;
    ev.id = r.id;
    ev.name = r.model;
    ev.usage = r.usage;
    sink.on(ev);
    int tool = 0;
    for (const ir::Part& p : r.content) {
        ir::StreamEvent e;
        switch (p.kind) {
            case ir::PartKind::Text:
                e.type = T::Text;
                e.text = p.text;
                sink.on(e);
                break;
            case ir::PartKind::Thinking:
                e.type = T::Thinking;
                e.text = p.text;
                sink.on(e);
                if (!p.signature.empty()) {
                    e.type = T::ThinkingSignature;
                    e.text = p.signature;
                    sink.on(e);
                }
                break;
            case ir::PartKind::RedactedThinking:
                e.type = T::RedactedThinking;
                e.text = p.signature;
                sink.on(e);
                break;
            case ir::PartKind::ToolCall:
                e.type = T::ToolStart;
                e.index = tool;
                e.id = p.call_id;
                e.name = p.name;
                e.text = p.signature;
                sink.on(e);
                e = {};
                e.type = T::ToolArgs;
                e.index = tool;
                e.text = p.args_json;
                sink.on(e);
                e = {};
                e.type = T::ToolEnd;
                e.index = tool++;
                sink.on(e);
                break;
            default: break;
        }
    }
    ir::StreamEvent u;
    u.type = T::Usage;
    u.usage = r.usage;
    if (r.usage.present()) sink.on(u);
    ir::StreamEvent f;
    f.type = T::Finish;
    f.finish = r.finish == ir::Finish::Unset ? ir::Finish::Stop : r.finish;
    f.text = r.stop_sequence;
    sink.on(f);
    ir::StreamEvent d;
    d.type = T::Done;
    sink.on(d);
}

// count_tokens bodies toward each wire: Anthropic takes only some of the
// Messages fields; Gemini wants the request wrapped in generateContentRequest.
std::string count_body(Protocol wire, const std::string& encoded, const std::string& upstream_model) {
    // Our own encoding: a few levels of envelope around what was parsed
    // within the limit; a scope of its own so it is not taken for the client's.
    translate::JsonDepthScope scope(translate::json_depth_limit() + 32);
    translate::JsonDoc doc;
    if (!translate::parse_json(encoded, doc) || !doc.IsObject()) return encoded;
    std::string buf;
    translate::JsonWriter w(buf);
    w.StartObject();
    if (wire == Protocol::Gemini) {
        translate::write_key(w, "generateContentRequest");
        w.StartObject();
        translate::write_key(w, "model");
        translate::write_string(w, "models/" + upstream_model);
    }
    static const char* const anthropic_keys[] = {"model", "messages", "system", "tools", "tool_choice", "thinking"};
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        if (wire == Protocol::Anthropic) {
            bool keep = false;
            for (const char* k : anthropic_keys) keep = keep || key == k;
            if (!keep) continue;
        }
        translate::write_key(w, key);
        it->value.Accept(w);
    }
    if (wire == Protocol::Gemini) w.EndObject();
    w.EndObject();
    return buf;
}

// A JSON text inside a string of the request (tool-call arguments, a tool
// result) was refused for its depth; the body itself was checked by the scan.
std::string too_deep_in_request(const translate::JsonDepthScope& depth) {
    return "a JSON text inside the request (tool-call arguments or a tool result): " + depth.what();
}

// The client's request decoded: from the DOM the body scan built, else from
// its text. A Gemini countTokens body may wrap the request in
// generateContentRequest.
Result<ir::Request> decode_body(const RequestContext& ctx, std::string_view body, translate::Session& s) {
    if (ctx.route.op != Operation::GeminiCountTokens)
        return ctx.body_dom ? translate::decode_request(s.client, *ctx.body_dom, s)
                            : translate::decode_request(s.client, body, s);
    translate::JsonDoc doc;
    const JsonValue* root = ctx.body_dom.get();
    if (!root && translate::parse_json(body, doc, nullptr, {.in_place = true, .utf8_checked = s.body_utf8_checked}))
        root = &doc;
    if (!root) return translate::decode_request(s.client, body, s);  // its parse error
    const JsonValue* inner = translate::member(*root, "generateContentRequest", "generate_content_request");
    return translate::decode_request(s.client, translate::is_object(inner) ? *inner : *root, s);
}

// Hosted tools the client declared (web_search, ...) that the provider's
// wire has no form for are left out of the request: each worker says so
// once per provider and tool type (Codex declares web_search with every
// request), at most for 256 pairs.
void warn_dropped(const Provider& provider, const std::vector<std::string>& types) {
    thread_local std::set<std::string> warned;
    for (const auto& t : types) {
        if (warned.size() >= 256) return;
        if (!warned.insert(provider.cfg->name + '\0' + t).second) continue;
        log::warning("provider {}: a client's {} tool has no form on the {} wire{}; its requests go without it",
                     provider.cfg->name, t, protocol_name(provider.wire),
                     t == "web_search" && provider.wire == Protocol::Gemini ? " beside function tools" : "");
    }
}

std::string count_answer(Protocol client, int64_t tokens) {
    if (client == Protocol::Gemini) return "{\"totalTokens\":" + std::to_string(tokens) + "}";
    return "{\"input_tokens\":" + std::to_string(tokens) + "}";
}

}  // namespace

namespace {

// The user's own messages kept in a compacted history: the latest ones,
// at most this many bytes of text.
constexpr size_t kKeptUserText = 80 * 1024;

void write_user_item(translate::JsonWriter& w, std::string_view text) {
    w.StartObject();
    translate::write_key(w, "type");
    translate::write_string(w, "message");
    translate::write_key(w, "role");
    translate::write_string(w, "user");
    translate::write_key(w, "content");
    w.StartArray();
    w.StartObject();
    translate::write_key(w, "type");
    translate::write_string(w, "input_text");
    translate::write_key(w, "text");
    translate::write_string(w, text);
    w.EndObject();
    w.EndArray();
    w.EndObject();
}

}  // namespace

// A compaction served by another wire: the user's latest plain messages
// are kept (as Responses input items, oldest first, written to `kept`),
// and the conversation goes to the model with the request for a summary
// last, no tool to call, no stream.
void Translation::ask_for_summary(ir::Request& r, std::string& kept) {
    std::vector<const std::string*> texts;
    size_t bytes = 0;
    for (auto m = r.messages.rbegin(); m != r.messages.rend() && bytes < kKeptUserText; ++m) {
        if (m->role != ir::Role::User || m->parts.size() != 1 || m->parts[0].kind != ir::PartKind::Text) continue;
        const std::string& t = m->parts[0].text;
        if (bytes + t.size() > kKeptUserText) break;
        bytes += t.size();
        texts.push_back(&t);
    }
    translate::JsonWriter w(kept);
    for (auto it = texts.rbegin(); it != texts.rend(); ++it) write_user_item(w, **it);
    translate::ask_for_summary(r);
    r.stream = false;
}

Translation::Translation() = default;
Translation::~Translation() = default;

bool Translation::needed(const RequestContext& ctx, Protocol wire) {
    // Embeddings: OpenAI's endpoint is the same on both OpenAI wires; a
    // Gemini batch names the model in each entry, rewritten by the codec.
    if (is_embedding_operation(ctx.route.op))
        return surface_of(wire) != surface_of(ctx.route.protocol) || ctx.route.op == Operation::GeminiBatchEmbed;
    // Images and audio: the same endpoints on both OpenAI wires.
    if (is_media_operation(ctx.route.op)) return surface_of(wire) != Surface::OpenAI;
    return ctx.route.op == Operation::Completions || wire != ctx.route.protocol;
}

Result<std::unique_ptr<Translation>> Translation::create(const RequestContext& ctx) {
    auto t = std::make_unique<Translation>();
    translate::Session& s = t->session_;
    s.max_json_depth = ctx.snap->config->server.max_json_depth;
    translate::JsonDepthScope depth(s.max_json_depth);
    s.client = ctx.route.protocol;
    s.legacy_completion = ctx.route.op == Operation::Completions;
    s.gemini_sse = ctx.route.gemini_sse;
    s.signatures = &translate::SignatureCache::global();
    bool counting = ctx.route.op == Operation::AnthropicCountTokens || ctx.route.op == Operation::GeminiCountTokens;
    if (s.client == Protocol::Gemini) {
        s.client_model = ctx.route.model;
        s.stream = ctx.route.op == Operation::StreamGenerateContent;
    } else {
        s.client_model = ctx.body.model;
        s.stream = ctx.body.stream && !counting;
    }

    std::string_view body(ctx.body_data ? ctx.body_data : "", ctx.body_len);
    s.body_bytes = t->request_bytes_ = body.size();
    // Embeddings and image generation: their own request types, read from
    // the body scan's DOM (or the text when there is none).
    if (is_embedding_operation(ctx.route.op) || ctx.route.op == Operation::ImagesGenerations) {
        translate::JsonDoc doc;
        const JsonValue* root = ctx.body_dom.get();
        if (!root) {
            std::string err;
            if (!translate::parse_json(body, doc, &err)) return Error{400, err};
            root = &doc;
        }
        if (is_embedding_operation(ctx.route.op)) {
            Result<translate::EmbedRequest> er = translate::decode_embed_request(ctx.route.op, *root);
            if (!er) return Error{400, er.error().message};
            t->embed_ = std::make_unique<translate::EmbedRequest>(std::move(er).value());
            t->embed_op_ = ctx.route.op;
            t->call_ = UpstreamCall::Embed;
        } else {
            Result<translate::ImageRequest> ir = translate::decode_image_request(*root);
            if (!ir) return Error{400, ir.error().message};
            t->image_ = std::make_unique<translate::ImageRequest>(std::move(ir).value());
            t->call_ = UpstreamCall::Generate;
        }
        s.stream = false;
        t->sink_ = std::make_unique<Sink>(*t);
        return t;
    }
    // BodyStage's scan_body refused any body with a string that is not
    // valid UTF-8; is_object is set only by a scan that passed.
    s.body_utf8_checked = ctx.body.is_object;
    Result<ir::Request> req = decode_body(ctx, body, s);
    if (!req) return Error{400, req.error().message};
    if (depth.exceeded()) return Error{400, too_deep_in_request(depth)};
    t->request_ = std::move(req).value();
    t->decoded_drops_ = s.dropped_tools.size();
    if (ctx.route.op == Operation::ResponsesCompact) {
        s.stream = false;
        t->compact_ = true;
        ask_for_summary(t->request_, t->kept_items_);
    } else if (t->request_.compaction_trigger && s.client == Protocol::OpenAIResponses) {
        // Compaction v2: the answer is one compaction item holding the summary.
        translate::ask_for_summary(t->request_);
        s.compaction_item = true;
    }
    if (counting) t->request_.stream = false;
    s.stream = s.stream && !counting;
    t->request_.stream = s.stream;
    s.include_usage = t->request_.include_usage;
    s.prompt_estimate = translate::estimate_prompt_tokens(t->request_);
    t->call_ = counting ? UpstreamCall::CountTokens : s.stream ? UpstreamCall::Stream : UpstreamCall::Generate;
    t->sink_ = std::make_unique<Sink>(*t);
    return t;
}

Status Translation::begin_attempt(const RequestContext& ctx, const Provider& provider, const Credential& cred,
                                  const std::string& upstream_model, upstream::Request& req) {
    translate::Session& s = session_;
    s.upstream = provider.wire;
    s.upstream_model = upstream_model;
    s.provider = provider.cfg->name;
    s.body_bytes = request_bytes_;
    s.tool_names.clear();
    s.call_ids.clear();
    s.dropped_tools.resize(decoded_drops_);  // what an earlier attempt's encoder left out is its own
    failed_ = false;
    error_text_.clear();
    error_status_ = 502;
    sink_->reset();
    translate::JsonDepthScope depth(s.max_json_depth);
    if (embed_) {
        Result<std::string> eb = translate::encode_embed_request(provider.wire, *embed_, upstream_model);
        if (!eb) return Error{eb.error().code, eb.error().message};
        body_ = std::move(eb).value();
        decoder_.reset();
        encoder_.reset();
        build_translated(ctx, provider, cred, upstream_model, call_, body_, req);
        return {};
    }
    if (image_) {
        if (provider.wire != Protocol::Gemini)
            return Error{400, "image generation is translated toward Gemini only"};
        body_ = translate::encode_gemini_image_request(*image_);
        decoder_.reset();
        encoder_.reset();
        build_translated(ctx, provider, cred, upstream_model, call_, body_, req);
        return {};
    }
    Result<std::string> body = translate::encode_request(provider.wire, request_, s);
    if (!body) return Error{body.error().code ? body.error().code : 400, body.error().message};
    if (depth.exceeded()) return Error{400, too_deep_in_request(depth)};
    if (!s.dropped_tools.empty()) warn_dropped(provider, s.dropped_tools);
    body_ = counting() ? count_body(provider.wire, body.value(), upstream_model) : std::move(body).value();
    decoder_.reset();
    encoder_.reset();
    if (s.stream) {
        decoder_ = translate::make_stream_decoder(provider.wire, s);
        encoder_ = translate::make_stream_encoder(s.client, s);
        if (!decoder_ || !encoder_) return Error{501, "streamed translation is not available for this pair"};
    }
    build_translated(ctx, provider, cred, upstream_model, call_, body_, req);
    return {};
}

namespace {

bool web_url(const std::string& url) {
    if (url.compare(0, 7, "http://") != 0 && url.compare(0, 8, "https://") != 0) return false;
    // Files already on Gemini's side are referenced, not downloaded.
    return url.find("generativelanguage.googleapis.com/") == std::string::npos;
}

// A part, or a part of a tool result (which hold no tool results: ir.h).
void collect_media(std::vector<ir::Part>& parts, std::vector<ir::Media*>& out) {
    auto take = [&](ir::Part& p) {
        if (p.kind == ir::PartKind::Image && p.media.data.empty() && web_url(p.media.url)) out.push_back(&p.media);
    };
    for (ir::Part& p : parts) {
        take(p);
        if (p.kind == ir::PartKind::ToolResult)
            for (ir::Part& c : p.content) take(c);
    }
}

}  // namespace

std::vector<ir::Media*> Translation::media_to_inline(Protocol wire) {
    std::vector<ir::Media*> out;
    if (wire != Protocol::Gemini) return out;
    for (ir::Message& m : request_.messages) collect_media(m.parts, out);
    return out;
}

bool Translation::local_count(Protocol wire) const {
    return counting() && (wire == Protocol::OpenAIChat || wire == Protocol::OpenAIResponses);
}

std::string Translation::local_count_body() const {
    return count_answer(session_.client, translate::estimate_prompt_tokens(request_));
}

const char* Translation::content_type() const {
    if (!session_.stream) return "application/json";
    if (session_.client == Protocol::Gemini && !session_.gemini_sse) return "application/json";
    return "text/event-stream";
}

void Translation::on_event(const sse::Event& ev) {
    if (!decoder_ || encoder_->finished()) return;
    translate::JsonDepthScope depth(session_.max_json_depth);
    decoder_->on_event(ev, *sink_);
    if (depth.exceeded()) fail("upstream stream event: " + depth.what(), 502);
}

void Translation::on_close() {
    if (!decoder_ || encoder_->finished()) return;
    translate::JsonDepthScope depth(session_.max_json_depth);
    decoder_->on_close(*sink_);
    if (depth.exceeded()) fail("upstream stream event: " + depth.what(), 502);
}

void Translation::fail(std::string_view message, int status) {
    if (!encoder_ || encoder_->finished()) return;
    ir::StreamEvent ev;
    ev.type = ir::StreamEvent::Type::Error;
    ev.status = status;
    ev.text = message;
    sink_->on(ev);
}

Result<std::string> Translation::translate_body(std::string_view upstream_body) {
    translate::JsonDepthScope depth(session_.max_json_depth);
    if (embed_) {
        Result<translate::EmbedResponse> a =
            translate::decode_embed_response(session_.upstream, upstream_body, embed_->texts.size());
        if (!a) return Error{502, a.error().message};
        if (a.value().prompt_tokens < 0) estimated_input_ = translate::estimate_embed_tokens(*embed_);
        return translate::encode_embed_response(embed_op_, a.value(), *embed_, session_.client_model);
    }
    if (image_) {
        Result<translate::ImageAnswer> a = translate::decode_gemini_image_response(upstream_body);
        if (!a) return Error{502, a.error().message};
        return translate::encode_image_response(*image_, a.value(), static_cast<int64_t>(std::time(nullptr)));
    }
    if (counting()) {
        translate::JsonDoc doc;
        if (!translate::parse_json(upstream_body, doc)) return Error{502, "the upstream's token count is not JSON"};
        std::optional<int64_t> n = translate::get_int(translate::member(doc, "input_tokens"));
        if (!n) n = translate::get_int(translate::member(doc, "totalTokens", "total_tokens"));
        if (!n) return Error{502, "the upstream's answer holds no token count"};
        return count_answer(session_.client, *n);
    }
    session_.body_bytes = upstream_body.size();
    Result<ir::Response> r = translate::decode_response(session_.upstream, upstream_body, session_);
    if (!r) return Error{502, r.error().message};
    if (depth.exceeded())
        return Error{502, "upstream answer: tool-call arguments: " + depth.what()};
    if (compact_) {
        std::string summary;
        for (const auto& p : r.value().content)
            if (p.kind == ir::PartKind::Text) summary += p.text;
        if (summary.find_first_not_of(" \t\r\n") == std::string::npos)
            return Error{502, "the model wrote no summary to compact the conversation with"};
        std::string out = "{\"output\":[" + kept_items_;
        translate::JsonWriter w(out);
        if (!kept_items_.empty()) out += ',';
        write_user_item(w, std::string(translate::kSummaryHead) + summary);
        out += "]}";
        return out;
    }
    if (session_.stream) {
        replay(r.value(), *sink_);
        return std::string();
    }
    return translate::encode_response(session_.client, r.value(), session_);
}

std::string Translation::error_message(std::string_view body) {
    translate::JsonDoc doc;
    if (!translate::parse_json(body, doc)) return {};
    const JsonValue* root = &doc;
    if (doc.IsArray() && !doc.Empty()) root = &doc[0];  // a Gemini array stream's error element
    const JsonValue* err = translate::member(*root, "error");
    if (translate::is_object(err)) {
        std::string_view m = translate::get_string(translate::member(*err, "message"));
        if (!m.empty()) return std::string(m);
    }
    if (std::string_view m = translate::get_string(err); !m.empty()) return std::string(m);
    return std::string(translate::get_string(translate::member(*root, "message")));
}

}  // namespace agd::dispatch

// Anthropic Messages: upstream answer -> IR, and IR -> client answer
// (protocols.md §4.4, §6.9, §6.10).
#include <algorithm>

#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

void kv(JsonWriter& w, std::string_view key, std::string_view value) {
    write_key(w, key);
    write_string(w, value);
}

}  // namespace

Result<ir::Response> decode_anthropic_response(std::string_view body, Session& s) {
    using R = Result<ir::Response>;
    JsonDoc doc;
    std::string err;
    if (!parse_json(body, doc, &err, {.in_place = true})) return R::fail(502, "upstream answer: " + err);
    if (!doc.IsObject()) return R::fail(502, "upstream answer: not a JSON object");
    if (const JsonValue* e = member(doc, "error"); is_object(e)) {
        std::string msg(get_string(member(*e, "message")));
        return R::fail(502, msg.empty() ? "upstream error" : msg);
    }

    ir::Response r;
    r.id.assign(get_string(member(doc, "id")));
    r.model.assign(get_string(member(doc, "model")));
    const ir::Origin origin{Protocol::Anthropic, s.upstream_model};
    const ir::Part* thinking = nullptr;  // the message's first signed thinking block
    bool any_tool = false;
    if (const JsonValue* content = member(doc, "content"); is_array(content)) {
        r.content.reserve(content->Size());
        for (const auto& b : content->GetArray()) {
            std::string_view type = get_string(member(b, "type"));
            ir::Part p;
            if (type == "text") {
                p.text.assign(get_string(member(b, "text")));
                if (p.text.empty()) continue;
            } else if (type == "thinking") {
                p.kind = ir::PartKind::Thinking;
                p.text.assign(get_string(member(b, "thinking")));
                p.signature.assign(get_string(member(b, "signature")));
                p.origin = origin;
            } else if (type == "redacted_thinking") {
                p.kind = ir::PartKind::RedactedThinking;
                p.signature.assign(get_string(member(b, "data")));
                p.origin = origin;
            } else if (type == "tool_use") {
                p.kind = ir::PartKind::ToolCall;
                p.call_id = s.client_call_id(get_string(member(b, "id")));
                p.name = s.client_tool_name(get_string(member(b, "name")));
                const JsonValue* input = member(b, "input");
                p.args_json = is_object(input) ? to_json(*input) : "{}";
                any_tool = true;
            } else if (type == "server_tool_use" && get_string(member(b, "name")) == "web_search") {
                const JsonValue* input = member(b, "input");
                p = web_search_part(std::string(get_string(member(b, "id"))),
                                    std::string(is_object(input) ? get_string(member(*input, "query")) : ""));
            } else if (type == "web_search_tool_result") {
                std::string_view id = get_string(member(b, "tool_use_id"));
                for (auto it = r.content.rbegin(); it != r.content.rend(); ++it)
                    if (it->kind == ir::PartKind::WebSearch && it->call_id == id) {
                        read_anthropic_search_results(b, it->sources);
                        break;
                    }
                continue;
            } else {
                continue;  // other server tools' blocks and the like
            }
            r.content.push_back(std::move(p));
        }
    }
    for (const auto& p : r.content)
        if (p.kind == ir::PartKind::Thinking && !p.signature.empty()) {
            thinking = &p;
            break;
        }
    if (s.signatures && thinking)
        for (const auto& p : r.content)
            if (p.kind == ir::PartKind::ToolCall)
                s.signatures->put(p.call_id, CachedSignature{Protocol::Anthropic, s.upstream_model, thinking->signature,
                                                             thinking->text});

    r.finish = finish_from_anthropic(get_string(member(doc, "stop_reason")));
    r.stop_sequence.assign(get_string(member(doc, "stop_sequence")));
    if (any_tool && r.finish != ir::Finish::Length) r.finish = ir::Finish::ToolCalls;

    if (const JsonValue* u = member(doc, "usage"); is_object(u)) {
        auto in = get_int(member(*u, "input_tokens"));
        auto cw = get_int(member(*u, "cache_creation_input_tokens"));
        auto cr = get_int(member(*u, "cache_read_input_tokens"));
        auto out = get_int(member(*u, "output_tokens"));
        if (in || cw || cr) r.usage.prompt = in.value_or(0) + cw.value_or(0) + cr.value_or(0);
        if (cr) r.usage.cache_read = *cr;
        if (cw) r.usage.cache_write = *cw;
        if (out) r.usage.output = *out;
        if (const JsonValue* d = member(*u, "output_tokens_details"))
            if (auto th = get_int(member(*d, "thinking_tokens"))) r.usage.reasoning = *th;
    }
    return r;
}

namespace {

void write_usage_fields(JsonWriter& w, const ir::Usage& u, int64_t input) {
    w.Key("input_tokens");
    w.Int64(input);
    w.Key("cache_creation_input_tokens");
    w.Int64(std::max<int64_t>(0, u.cache_write));
    w.Key("cache_read_input_tokens");
    w.Int64(std::max<int64_t>(0, u.cache_read));
    w.Key("output_tokens");
    w.Int64(std::max<int64_t>(0, u.output));
}

}  // namespace

std::string encode_anthropic_response(const ir::Response& r, Session& s) {
    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    w.StartObject();
    kv(w, "id", r.id.empty() ? s.new_id("msg_") : r.id.rfind("msg_", 0) == 0 ? r.id : "msg_" + r.id);
    kv(w, "type", "message");
    kv(w, "role", "assistant");
    kv(w, "model", s.client_model);
    w.Key("content");
    w.StartArray();
    bool any_tool = false;
    for (const auto& p : r.content) {
        switch (p.kind) {
            case ir::PartKind::Text:
                if (p.text.empty()) break;
                w.StartObject();
                kv(w, "type", "text");
                kv(w, "text", p.text);
                w.EndObject();
                break;
            case ir::PartKind::Thinking:
                if (p.text.empty() && p.signature.empty()) break;
                w.StartObject();
                kv(w, "type", "thinking");
                kv(w, "thinking", p.text);
                kv(w, "signature", p.signature.empty() ? std::string() : signature_for_client(p.signature, s));
                w.EndObject();
                break;
            case ir::PartKind::RedactedThinking:
                if (p.signature.empty()) break;
                w.StartObject();
                kv(w, "type", "redacted_thinking");
                kv(w, "data", signature_for_client(p.signature, s));
                w.EndObject();
                break;
            case ir::PartKind::ToolCall:
                any_tool = true;
                w.StartObject();
                kv(w, "type", "tool_use");
                kv(w, "id", p.call_id.empty() ? s.new_id("toolu_") : p.call_id);
                kv(w, "name", p.name);
                w.Key("input");
                write_raw(w, repair_args_json(p.args_json));
                w.EndObject();
                break;
            case ir::PartKind::WebSearch: {
                ir::Part told = p;
                told.call_id = web_search_id(p, "srvtoolu_", s);
                w.StartObject();
                write_anthropic_server_tool_use(w, told, true);
                w.EndObject();
                w.StartObject();
                write_anthropic_search_result(w, told);
                w.EndObject();
                break;
            }
            default: break;  // media and tool results do not appear in an answer
        }
    }
    w.EndArray();
    ir::Finish f = r.finish;
    if (any_tool && f != ir::Finish::Length) f = ir::Finish::ToolCalls;
    if (!any_tool && f == ir::Finish::ToolCalls) f = ir::Finish::Stop;
    w.Key("stop_reason");
    w.String(anthropic_stop_reason(f));
    w.Key("stop_sequence");
    if (f == ir::Finish::StopSequence && !r.stop_sequence.empty()) write_string(w, r.stop_sequence);
    else w.Null();
    w.Key("usage");
    w.StartObject();
    const ir::Usage& u = r.usage;
    int64_t input = u.prompt >= 0
                        ? std::max<int64_t>(0, u.prompt - std::max<int64_t>(0, u.cache_read) - std::max<int64_t>(0, u.cache_write))
                        : std::max<int64_t>(0, s.prompt_estimate);
    write_usage_fields(w, u, input);
    w.EndObject();
    w.EndObject();
    return buf;
}

}  // namespace agd::translate

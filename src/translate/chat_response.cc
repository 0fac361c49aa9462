// OpenAI Chat Completions: upstream answer -> IR, and IR -> client answer
// (a chat.completion, or a legacy text_completion when the client used
// POST /v1/completions).
#include <string>

#include "translate/codecs.h"
#include "translate/custom_tool.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"

namespace agd::translate {
namespace {

using Fail = Result<ir::Response>;

int64_t nonneg(int64_t v) { return v < 0 ? 0 : v; }

void read_usage(const JsonValue& u, ir::Usage& out) {
    if (auto v = get_int(member(u, "prompt_tokens"))) out.prompt = *v;
    if (auto v = get_int(member(u, "completion_tokens"))) out.output = *v;
    if (const JsonValue* pd = member(u, "prompt_tokens_details")) {
        if (auto v = get_int(member(*pd, "cached_tokens"))) out.cache_read = *v;
        if (auto v = get_int(member(*pd, "cache_write_tokens"))) out.cache_write = *v;
    }
    if (const JsonValue* cd = member(u, "completion_tokens_details"))
        if (auto v = get_int(member(*cd, "reasoning_tokens"))) out.reasoning = *v;
}

void write_usage(JsonWriter& w, const ir::Usage& u, bool details) {
    w.StartObject();
    write_key(w, "prompt_tokens"), w.Int64(nonneg(u.prompt));
    write_key(w, "completion_tokens"), w.Int64(nonneg(u.output));
    write_key(w, "total_tokens"), w.Int64(nonneg(u.prompt) + nonneg(u.output));
    if (details && (u.cache_read >= 0 || u.cache_write >= 0)) {
        write_key(w, "prompt_tokens_details"), w.StartObject();
        write_key(w, "cached_tokens"), w.Int64(nonneg(u.cache_read));
        if (u.cache_write >= 0) write_key(w, "cache_write_tokens"), w.Int64(u.cache_write);
        w.EndObject();
    }
    if (details && u.reasoning >= 0) {
        write_key(w, "completion_tokens_details"), w.StartObject();
        write_key(w, "reasoning_tokens"), w.Int64(u.reasoning);
        w.EndObject();
    }
    w.EndObject();
}

// Text of a message's content: a string, or text/refusal parts.
std::string content_text(const JsonValue* c) {
    if (!c) return {};
    if (c->IsString()) return std::string(get_string(c));
    std::string out;
    if (c->IsArray())
        for (const JsonValue& p : c->GetArray()) {
            std::string_view t = get_string(member(p, "text"));
            if (t.empty()) t = get_string(member(p, "refusal"));
            out.append(t);
        }
    return out;
}

void add_text(ir::Response& r, ir::PartKind kind, std::string text) {
    if (text.empty()) return;
    ir::Part p;
    p.kind = kind;
    p.text = std::move(text);
    r.content.push_back(std::move(p));
}

void add_call(ir::Response& r, Session& s, const JsonValue& tc) {
    const JsonValue* custom = member(tc, "custom");  // a custom tool's call: {name, input}
    if (!is_object(custom) || get_string(member(tc, "type")) != "custom") custom = nullptr;
    const JsonValue* fn = custom ? custom : member(tc, "function");
    if (!is_object(fn)) fn = &tc;  // legacy function_call is the function object itself
    std::string_view name = get_string(member(*fn, "name"));
    if (name.empty()) return;
    ir::Part p;
    p.kind = ir::PartKind::ToolCall;
    std::string_view id = get_string(member(tc, "id"));
    p.call_id = id.empty() ? s.new_id(s.client == Protocol::Anthropic ? "toolu_" : "call_") : s.client_call_id(id);
    p.name = s.client_tool_name(name);
    const JsonValue* args = member(*fn, "arguments");
    if (custom) p.args_json = custom_args_json(get_string(member(*custom, "input")));
    else p.args_json = repair_args_json(is_object(args) ? to_json(*args) : std::string(get_string(args)));
    const JsonValue* google = member(tc, "extra_content");
    if (google) google = member(*google, "google");
    if (std::string_view sig = get_string(google ? member(*google, "thought_signature") : nullptr); !sig.empty()) {
        p.signature.assign(sig);
        p.origin = ir::Origin{s.upstream, s.upstream_model};
        if (s.signatures) s.signatures->put(p.call_id, CachedSignature{s.upstream, s.upstream_model, p.signature, {}});
    }
    r.content.push_back(std::move(p));
}

int error_status(const JsonValue& err) {
    if (auto c = get_int(member(err, "code")); c && *c >= 400 && *c <= 599) return static_cast<int>(*c);
    std::string_view t = get_string(member(err, "type"));
    std::string_view code = get_string(member(err, "code"));
    if (t.find("rate_limit") != std::string_view::npos || code.find("rate_limit") != std::string_view::npos ||
        t == "insufficient_quota")
        return 429;
    if (t.find("overloaded") != std::string_view::npos) return 503;
    if (t == "server_error") return 500;
    return 502;
}

}  // namespace

Result<ir::Response> decode_chat_response(std::string_view body, Session& s) {
    JsonDoc doc;
    std::string perr;
    if (!parse_json(body, doc, &perr, {.in_place = true})) return Fail::fail(502, "upstream answer: " + perr);
    if (!doc.IsObject()) return Fail::fail(502, "upstream answer is not a JSON object");
    if (const JsonValue* err = member(doc, "error"); err && !err->IsNull()) {
        std::string_view msg = err->IsString() ? get_string(err) : get_string(member(*err, "message"));
        return Fail::fail(err->IsObject() ? error_status(*err) : 502,
                          msg.empty() ? std::string("upstream error") : std::string(msg));
    }
    const JsonValue* choices = member(doc, "choices");
    if (!is_array(choices)) return Fail::fail(502, "upstream answer has no choices");
    ir::Response r;
    r.id.assign(get_string(member(doc, "id")));
    r.model.assign(get_string(member(doc, "model")));
    r.created = get_int(member(doc, "created")).value_or(0);
    if (const JsonValue* u = member(doc, "usage"); is_object(u)) read_usage(*u, r.usage);

    const JsonValue* choice = nullptr;
    for (const JsonValue& c : choices->GetArray())
        if (get_int(member(c, "index")).value_or(0) == 0 && c.IsObject()) {
            choice = &c;
            break;
        }
    if (!choice) return r;
    if (const JsonValue* msg = member(*choice, "message"); is_object(msg)) {
        std::string_view reasoning = get_string(member(*msg, "reasoning_content"));
        if (reasoning.empty()) reasoning = get_string(member(*msg, "reasoning"));
        add_text(r, ir::PartKind::Thinking, std::string(reasoning));
        add_text(r, ir::PartKind::Text, content_text(member(*msg, "content")));
        add_text(r, ir::PartKind::Text, std::string(get_string(member(*msg, "refusal"))));
        if (const JsonValue* tcs = member(*msg, "tool_calls"); is_array(tcs))
            for (const JsonValue& tc : tcs->GetArray()) add_call(r, s, tc);
        if (const JsonValue* fc = member(*msg, "function_call"); is_object(fc)) add_call(r, s, *fc);
    } else if (const JsonValue* text = member(*choice, "text"); text && text->IsString()) {
        add_text(r, ir::PartKind::Text, std::string(get_string(text)));  // a completions-style upstream
    }
    // Tool calls exactly when one was emitted (§6.9).
    r.finish = finish_from_chat(get_string(member(*choice, "finish_reason")));
    if (r.finish == ir::Finish::ToolCalls) r.finish = ir::Finish::Stop;
    for (const ir::Part& p : r.content)
        if (p.kind == ir::PartKind::ToolCall) r.finish = ir::Finish::ToolCalls;
    return r;
}

std::string encode_chat_response(const ir::Response& r, Session& s) {
    std::string text, thinking;
    bool calls = false;
    for (const ir::Part& p : r.content) {
        if (p.kind == ir::PartKind::Text) text += p.text;
        else if (p.kind == ir::PartKind::Thinking) thinking += p.text;
        else if (p.kind == ir::PartKind::ToolCall) calls = true;
    }
    ir::Finish finish = calls ? ir::Finish::ToolCalls : r.finish;

    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    w.StartObject();
    write_key(w, "id");
    if (!r.id.empty()) write_string(w, r.id);
    else write_string(w, s.new_id(s.legacy_completion ? "cmpl-" : "chatcmpl-"));
    write_key(w, "object"), write_string(w, s.legacy_completion ? "text_completion" : "chat.completion");
    write_key(w, "created"), w.Int64(r.created > 0 ? r.created : now_seconds(s));
    write_key(w, "model"), write_string(w, s.client_model.empty() ? r.model : s.client_model);
    write_key(w, "choices"), w.StartArray();
    w.StartObject();
    write_key(w, "index"), w.Int(0);
    if (s.legacy_completion) {
        write_key(w, "text"), write_string(w, text);
        write_key(w, "logprobs"), w.Null();
        write_key(w, "finish_reason"), write_string(w, finish == ir::Finish::ToolCalls ? "stop" : chat_finish_reason(finish));
    } else {
        write_key(w, "message"), w.StartObject();
        write_key(w, "role"), write_string(w, "assistant");
        write_key(w, "content");
        if (text.empty() && calls) w.Null();
        else write_string(w, text);
        if (!thinking.empty()) write_key(w, "reasoning_content"), write_string(w, thinking);
        write_key(w, "refusal"), w.Null();
        if (calls) {
            write_key(w, "tool_calls"), w.StartArray();
            for (const ir::Part& p : r.content) {
                if (p.kind != ir::PartKind::ToolCall) continue;
                w.StartObject();
                write_key(w, "id"), write_string(w, p.call_id.empty() ? s.new_id("call_") : p.call_id);
                if (const Session::ClientTool* ct = s.client_tool(p.name); ct && ct->custom) {
                    write_key(w, "type"), write_string(w, "custom");
                    write_key(w, "custom"), w.StartObject();
                    write_key(w, "name"), write_string(w, p.name);
                    write_key(w, "input"), write_string(w, custom_input(p.args_json));
                    w.EndObject();
                    w.EndObject();
                    continue;
                }
                write_key(w, "type"), write_string(w, "function");
                write_key(w, "function"), w.StartObject();
                write_key(w, "name"), write_string(w, p.name);
                write_key(w, "arguments"), write_string(w, repair_args_json(p.args_json));
                w.EndObject();
                if (!p.signature.empty()) {
                    write_key(w, "extra_content"), w.StartObject();
                    write_key(w, "google"), w.StartObject();
                    write_key(w, "thought_signature"), write_string(w, signature_for_client(p.signature, s));
                    w.EndObject();
                    w.EndObject();
                }
                w.EndObject();
            }
            w.EndArray();
        }
        w.EndObject();
        write_key(w, "logprobs"), w.Null();
        write_key(w, "finish_reason"), write_string(w, chat_finish_reason(finish));
    }
    w.EndObject();
    w.EndArray();
    write_key(w, "usage"), write_usage(w, r.usage, !s.legacy_completion);
    w.EndObject();
    return buf;
}

}  // namespace agd::translate

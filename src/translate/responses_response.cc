// OpenAI Responses: upstream answer -> IR, and IR -> client answer
// (protocols.md §2.3, §6.9, §6.10). The pieces shared with the stream codecs
// (responses_stream.cc, responses_request.cc) live in namespace
// responses_detail, declared in responses_wire.h.
#include "translate/codecs.h"
#include "translate/compaction.h"
#include "translate/json_util.h"
#include "translate/responses_wire.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace responses_detail {

// "resp_..." for the client: the upstream id keeps its trace behind the prefix.
std::string response_id(std::string_view upstream_id, Session& s) {
    if (upstream_id.empty()) return s.new_id("resp_");
    if (upstream_id.substr(0, 5) == "resp_") return std::string(upstream_id);
    return "resp_" + std::string(upstream_id);
}

// An OpenAI error code as an HTTP-like status.
int status_for_error_code(std::string_view code) {
    if (code == "rate_limit_exceeded" || code == "insufficient_quota" || code == "rate_limit_error") return 429;
    if (code == "server_is_overloaded" || code == "overloaded" || code == "service_unavailable") return 503;
    if (code == "invalid_prompt" || code == "invalid_request_error" || code == "context_length_exceeded" ||
        code.substr(0, 8) == "invalid_")
        return 400;
    if (code == "timeout") return 504;
    return 502;
}

ir::Usage decode_usage(const JsonValue* u) {
    ir::Usage out;
    if (!is_object(u)) return out;
    if (auto v = get_int(member(*u, "input_tokens"))) out.prompt = *v;
    if (auto v = get_int(member(*u, "output_tokens"))) out.output = *v;
    if (const JsonValue* d = member(*u, "input_tokens_details"); is_object(d)) {
        if (auto v = get_int(member(*d, "cached_tokens"))) out.cache_read = *v;
        if (auto v = get_int(member(*d, "cache_write_tokens"))) out.cache_write = *v;
    }
    if (const JsonValue* d = member(*u, "output_tokens_details"); is_object(d))
        if (auto v = get_int(member(*d, "reasoning_tokens"))) out.reasoning = *v;
    return out;
}

// incomplete_details.reason -> Finish.
ir::Finish finish_from_incomplete(const JsonValue* details) {
    std::string_view reason = get_string(details ? member(*details, "reason") : nullptr);
    return reason == "content_filter" ? ir::Finish::ContentFilter : ir::Finish::Length;
}

Outcome outcome_for(ir::Finish f, bool any_tool_call) {
    if (any_tool_call) return {};
    switch (f) {
        case ir::Finish::Length:
        case ir::Finish::ContextOverflow: return {"incomplete", "max_output_tokens", nullptr};
        case ir::Finish::ContentFilter: return {"incomplete", "content_filter", nullptr};
        case ir::Finish::PauseTurn: return {"incomplete", "pause_turn", nullptr};
        case ir::Finish::ToolError: return {"failed", nullptr, "the model produced a malformed tool call"};
        default: return {};
    }
}

void write_usage(JsonWriter& w, const ir::Usage& u) {
    auto n = [](int64_t v) { return v < 0 ? int64_t{0} : v; };
    w.StartObject();
    write_key(w, "input_tokens");
    w.Int64(n(u.prompt));
    write_key(w, "input_tokens_details");
    w.StartObject();
    write_key(w, "cached_tokens");
    w.Int64(n(u.cache_read));
    if (u.cache_write >= 0) {
        write_key(w, "cache_write_tokens");
        w.Int64(u.cache_write);
    }
    w.EndObject();
    write_key(w, "output_tokens");
    w.Int64(n(u.output));
    write_key(w, "output_tokens_details");
    w.StartObject();
    write_key(w, "reasoning_tokens");
    w.Int64(n(u.reasoning));
    w.EndObject();
    write_key(w, "total_tokens");
    w.Int64(n(u.prompt) + n(u.output));
    w.EndObject();
}

// Output items in their complete form (response output, output_item.done).
void write_reasoning_item(JsonWriter& w, std::string_view id, std::string_view text, std::string_view encrypted) {
    w.StartObject();
    if (!id.empty()) {
        write_key(w, "id");
        write_string(w, id);
    }
    write_key(w, "type");
    write_string(w, "reasoning");
    write_key(w, "summary");
    w.StartArray();
    if (!text.empty()) {
        w.StartObject();
        write_key(w, "type");
        write_string(w, "summary_text");
        write_key(w, "text");
        write_string(w, text);
        w.EndObject();
    }
    w.EndArray();
    if (!encrypted.empty()) {
        write_key(w, "encrypted_content");
        write_string(w, encrypted);
    }
    w.EndObject();
}

void write_output_text_part(JsonWriter& w, std::string_view text) {
    w.StartObject();
    write_key(w, "type");
    write_string(w, "output_text");
    write_key(w, "annotations");
    w.StartArray();
    w.EndArray();
    write_key(w, "logprobs");
    w.StartArray();
    w.EndArray();
    write_key(w, "text");
    write_string(w, text);
    w.EndObject();
}

void write_message_item(JsonWriter& w, std::string_view id, std::string_view text, std::string_view status) {
    w.StartObject();
    write_key(w, "id");
    write_string(w, id);
    write_key(w, "type");
    write_string(w, "message");
    write_key(w, "status");
    write_string(w, status);
    write_key(w, "role");
    write_string(w, "assistant");
    write_key(w, "content");
    w.StartArray();
    write_output_text_part(w, text);
    w.EndArray();
    w.EndObject();
}

void write_function_call_item(JsonWriter& w, std::string_view id, std::string_view call_id, std::string_view name,
                              std::string_view arguments, std::string_view status) {
    w.StartObject();
    write_key(w, "id");
    write_string(w, id);
    write_key(w, "type");
    write_string(w, "function_call");
    write_key(w, "status");
    write_string(w, status);
    write_key(w, "arguments");
    write_string(w, arguments);
    write_key(w, "call_id");
    write_string(w, call_id);
    write_key(w, "name");
    write_string(w, name);
    w.EndObject();
}

void write_call_item(JsonWriter& w, const Session::ClientTool* ct, std::string_view id, std::string_view call_id,
                     std::string_view flat_name, std::string_view args, std::string_view status) {
    if (!ct) return write_function_call_item(w, id, call_id, flat_name, args, status);
    if (ct->tool_search) {  // arguments as an object, run by the client
        w.StartObject();
        write_key(w, "id");
        write_string(w, id);
        write_key(w, "type");
        write_string(w, "tool_search_call");
        write_key(w, "status");
        write_string(w, status);
        write_key(w, "execution");
        write_string(w, "client");
        write_key(w, "call_id");
        write_string(w, call_id);
        write_key(w, "arguments");
        write_raw(w, args.empty() ? std::string_view() : std::string_view(repair_args_json(args)), "{}");
        w.EndObject();
        return;
    }
    w.StartObject();
    write_key(w, "id");
    write_string(w, id);
    write_key(w, "type");
    write_string(w, ct->custom ? "custom_tool_call" : "function_call");
    write_key(w, "status");
    write_string(w, status);
    write_key(w, ct->custom ? "input" : "arguments");
    write_string(w, args);
    write_key(w, "call_id");
    write_string(w, call_id);
    if (!ct->ns.empty()) {
        write_key(w, "namespace");
        write_string(w, ct->ns);
    }
    write_key(w, "name");
    write_string(w, ct->name);
    w.EndObject();
}

// The response object (§2.3). `output_json` is the JSON array text of the
// items; `usage` null writes "usage":null.
void write_response_object(JsonWriter& w, std::string_view id, int64_t created, const Outcome& o,
                           std::string_view model, std::string_view output_json, const ir::Usage* usage) {
    w.StartObject();
    write_key(w, "id");
    write_string(w, id);
    write_key(w, "object");
    write_string(w, "response");
    write_key(w, "created_at");
    w.Int64(created);
    write_key(w, "status");
    write_string(w, o.status);
    write_key(w, "background");
    w.Bool(false);
    write_key(w, "error");
    if (o.error) {
        w.StartObject();
        write_key(w, "code");
        write_string(w, "server_error");
        write_key(w, "message");
        write_string(w, o.error);
        w.EndObject();
    } else {
        w.Null();
    }
    write_key(w, "incomplete_details");
    if (o.incomplete_reason) {
        w.StartObject();
        write_key(w, "reason");
        write_string(w, o.incomplete_reason);
        w.EndObject();
    } else {
        w.Null();
    }
    write_key(w, "model");
    write_string(w, model);
    write_key(w, "output");
    write_raw(w, output_json, "[]");
    write_key(w, "parallel_tool_calls");
    w.Bool(true);
    write_key(w, "tool_choice");
    write_string(w, "auto");
    write_key(w, "tools");
    w.StartArray();
    w.EndArray();
    write_key(w, "usage");
    if (usage) write_usage(w, *usage);
    else w.Null();
    w.EndObject();
}

// Compaction v2 (compaction.h): the model's text, as one compaction item.
void write_compaction_item(JsonWriter& w, std::string_view id, std::string_view summary) {
    w.StartObject();
    write_key(w, "type");
    write_string(w, "compaction");
    write_key(w, "id");
    write_string(w, id);
    write_key(w, "encrypted_content");
    write_string(w, compaction_content(summary));
    w.EndObject();
}

}  // namespace responses_detail

namespace {

using namespace responses_detail;
using RespResult = Result<ir::Response>;

std::string joined_texts(const JsonValue* arr) {
    std::string out;
    if (!is_array(arr)) return out;
    for (const auto& s : arr->GetArray()) {
        std::string_view t = get_string(member(s, "text"));
        if (t.empty()) continue;
        if (!out.empty()) out += "\n\n";
        out.append(t);
    }
    return out;
}

}  // namespace

Result<ir::Response> decode_responses_response(std::string_view body, Session& s) {
    JsonDoc doc;
    std::string perr;
    if (!parse_json(body, doc, &perr, {.in_place = true})) return RespResult::fail(502, "upstream answer: " + perr);
    if (!doc.IsObject()) return RespResult::fail(502, "upstream answer is not a JSON object");

    std::string_view status = get_string(member(doc, "status"));
    const JsonValue* err = member(doc, "error");
    if (status == "failed" || status == "cancelled" || (is_object(err) && !is_array(member(doc, "output")))) {
        std::string_view code = get_string(is_object(err) ? member(*err, "code") : nullptr);
        std::string_view msg = get_string(is_object(err) ? member(*err, "message") : nullptr);
        std::string text = msg.empty() ? "upstream response " + std::string(status.empty() ? "failed" : status)
                                       : std::string(msg);
        return RespResult::fail(status_for_error_code(code), text);
    }
    if (status == "in_progress" || status == "queued")
        return RespResult::fail(502, "upstream response is still " + std::string(status));

    ir::Response r;
    r.id.assign(get_string(member(doc, "id")));
    r.model.assign(get_string(member(doc, "model")));
    if (auto v = get_int(member(doc, "created_at"))) r.created = *v;
    r.usage = decode_usage(member(doc, "usage"));

    bool any_call = false;
    std::string last_encrypted, last_summary;  // reasoning that precedes the next function call
    if (const JsonValue* output = member(doc, "output"); is_array(output)) {
        for (const auto& item : output->GetArray()) {
            std::string_view type = get_string(member(item, "type"));
            if (type == "reasoning") {
                ir::Part p;
                p.kind = ir::PartKind::Thinking;
                p.text = joined_texts(member(item, "summary"));
                if (p.text.empty()) p.text = joined_texts(member(item, "content"));
                p.signature.assign(get_string(member(item, "encrypted_content")));
                if (p.text.empty() && p.signature.empty()) continue;
                p.origin = ir::Origin{s.upstream, s.upstream_model};
                last_encrypted = p.signature;
                last_summary = p.text;
                r.content.push_back(std::move(p));
            } else if (type == "message") {
                const JsonValue* content = member(item, "content");
                if (!is_array(content)) continue;
                for (const auto& c : content->GetArray()) {
                    std::string_view ct = get_string(member(c, "type"));
                    std::string_view t = get_string(member(c, ct == "refusal" ? "refusal" : "text"));
                    if (t.empty() || (ct != "output_text" && ct != "refusal" && ct != "text")) continue;
                    ir::Part p;
                    p.kind = ir::PartKind::Text;
                    p.text.assign(t);
                    r.content.push_back(std::move(p));
                }
            } else if (type == "function_call") {
                ir::Part p;
                p.kind = ir::PartKind::ToolCall;
                p.call_id = s.client_call_id(get_string(member(item, "call_id")));
                p.name = s.client_tool_name(get_string(member(item, "name")));
                const JsonValue* a = member(item, "arguments");
                p.args_json = is_object(a) ? repair_args_json(to_json(*a)) : repair_args_json(get_string(a));
                if (s.signatures && !last_encrypted.empty())
                    s.signatures->put(p.call_id, {Protocol::OpenAIResponses, s.upstream_model, last_encrypted, last_summary});
                any_call = true;
                r.content.push_back(std::move(p));
            } else if (type == "custom_tool_call") {  // a Chat client's custom tool: its input as the IR holds it
                ir::Part p;
                p.kind = ir::PartKind::ToolCall;
                p.call_id = s.client_call_id(get_string(member(item, "call_id")));
                p.name = s.client_tool_name(get_string(member(item, "name")));
                p.args_json = custom_args_json(get_string(member(item, "input")));
                any_call = true;
                r.content.push_back(std::move(p));
            } else if (type == "web_search_call") {
                ir::Part p;
                read_responses_web_search_call(item, p);
                r.content.push_back(std::move(p));
            }
            // Other built-in tool items (file_search_call, ...) have no IR form.
        }
    }

    if (status == "incomplete") r.finish = finish_from_incomplete(member(doc, "incomplete_details"));
    else r.finish = ir::Finish::Stop;
    if (any_call && status != "incomplete") r.finish = ir::Finish::ToolCalls;
    return r;
}

std::string encode_responses_response(const ir::Response& r, Session& s) {
    if (s.compaction_item) {
        std::string summary;
        for (const auto& p : r.content)
            if (p.kind == ir::PartKind::Text) summary += p.text;
        std::string ob;
        JsonWriter ow(ob);
        ow.StartArray();
        write_compaction_item(ow, s.new_id("cmp_"), summary);
        ow.EndArray();
        std::string buf;
        JsonWriter w(buf);
        write_response_object(w, response_id(r.id, s), r.created > 0 ? r.created : now_seconds(s),
                              outcome_for(ir::Finish::Stop, false), s.client_model, ob, &r.usage);
        return buf;
    }
    bool any_call = false;
    for (const auto& p : r.content) any_call = any_call || p.kind == ir::PartKind::ToolCall;
    Outcome o = outcome_for(r.finish, any_call);

    std::string ob;
    JsonWriter ow(ob);
    ow.StartArray();
    std::string text;
    auto flush_text = [&] {
        if (text.empty()) return;
        write_message_item(ow, s.new_id("msg_"), text, std::string_view(o.status) == "incomplete" ? "incomplete" : "completed");
        text.clear();
    };
    for (const auto& p : r.content) {
        switch (p.kind) {
            case ir::PartKind::Text: text += p.text; break;
            case ir::PartKind::Thinking:
                flush_text();
                write_reasoning_item(ow, s.new_id("rs_"), p.text,
                                     p.signature.empty() ? std::string() : signature_for_client(p.signature, s));
                break;
            case ir::PartKind::ToolCall:
                flush_text();
                if (const Session::ClientTool* ct = s.client_tool(p.name); ct && ct->custom)
                    write_call_item(ow, ct, s.new_id("ctc_"), p.call_id, p.name, custom_input(p.args_json), "completed");
                else
                    write_call_item(ow, ct, s.new_id("fc_"), p.call_id, p.name,
                                    p.args_json.empty() ? std::string_view("{}") : std::string_view(p.args_json),
                                    "completed");
                break;
            case ir::PartKind::WebSearch: {
                flush_text();
                ir::Part told = p;
                told.call_id = web_search_id(p, "ws_", s);
                ow.StartObject();
                write_responses_web_search_call(ow, told, "completed");
                ow.EndObject();
                break;
            }
            default: break;  // redacted thinking has no Responses form
        }
    }
    flush_text();
    ow.EndArray();

    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    int64_t created = r.created > 0 ? r.created : now_seconds(s);
    write_response_object(w, response_id(r.id, s), created, o, s.client_model, std::string_view(ob.data(), ob.size()),
                          &r.usage);
    return buf;
}

}  // namespace agd::translate

// Gemini: upstream answer -> IR, and IR -> client answer (protocols.md §5.2, §6.9, §6.10).
#include <rapidjson/document.h>

#include <algorithm>
#include <string>

#include "translate/codecs.h"
#include "translate/gemini_schema.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {

namespace gemini_wire {

ir::Usage usage_from(const JsonValue& um) {
    ir::Usage u;
    auto prompt = get_int(member(um, "promptTokenCount", "prompt_token_count"));
    auto tool = get_int(member(um, "toolUsePromptTokenCount", "tool_use_prompt_token_count"));
    auto cached = get_int(member(um, "cachedContentTokenCount", "cached_content_token_count"));
    auto cand = get_int(member(um, "candidatesTokenCount", "candidates_token_count"));
    auto thoughts = get_int(member(um, "thoughtsTokenCount", "thoughts_token_count"));
    if (prompt || tool) u.prompt = prompt.value_or(0) + tool.value_or(0);
    if (u.prompt >= 0) u.cache_read = cached.value_or(0);
    if (cand || thoughts) {
        u.output = cand.value_or(0) + thoughts.value_or(0);
        u.reasoning = thoughts.value_or(0);
    }
    return u;
}

void write_usage(JsonWriter& w, const ir::Usage& u) {
    int64_t p = u.prompt > 0 ? u.prompt : 0;
    int64_t r = u.reasoning > 0 ? u.reasoning : 0;
    int64_t o = u.output > 0 ? u.output : 0;
    w.Key("usageMetadata");
    w.StartObject();
    w.Key("promptTokenCount");
    w.Int64(p);
    w.Key("candidatesTokenCount");
    w.Int64(o > r ? o - r : 0);
    if (r > 0) {
        w.Key("thoughtsTokenCount");
        w.Int64(r);
    }
    if (u.cache_read > 0) {
        w.Key("cachedContentTokenCount");
        w.Int64(u.cache_read);
    }
    w.Key("totalTokenCount");
    w.Int64(p + std::max(o, r));
    w.EndObject();
}

void write_function_call(JsonWriter& w, std::string_view name, std::string_view args_json, std::string_view id,
                         std::string_view signature) {
    w.StartObject();
    w.Key("functionCall");
    w.StartObject();
    w.Key("name");
    write_string(w, name);
    w.Key("args");
    write_raw(w, repair_args_json(args_json));
    if (!id.empty()) {
        w.Key("id");
        write_string(w, id);
    }
    w.EndObject();
    if (!signature.empty()) {
        w.Key("thoughtSignature");
        write_string(w, signature);
    }
    w.EndObject();
}

void write_text_part(JsonWriter& w, std::string_view text, bool thought, std::string_view signature) {
    w.StartObject();
    w.Key("text");
    write_string(w, text);
    if (thought) {
        w.Key("thought");
        w.Bool(true);
    }
    if (!signature.empty()) {
        w.Key("thoughtSignature");
        write_string(w, signature);
    }
    w.EndObject();
}

}  // namespace gemini_wire

namespace {

using rapidjson::Value;

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

}  // namespace

Result<ir::Response> decode_gemini_response(std::string_view body, Session& s) {
    JsonDoc doc;
    std::string err;
    if (!parse_json(body, doc, &err, {.in_place = true})) return Result<ir::Response>::fail(502, "upstream answer: " + err);
    if (!doc.IsObject()) return Result<ir::Response>::fail(502, "upstream answer is not a JSON object");
    if (const Value* e = member(doc, "error"); is_object(e)) {
        int code = static_cast<int>(get_int(member(*e, "code")).value_or(502));
        std::string_view msg = get_string(member(*e, "message"));
        return Result<ir::Response>::fail(code >= 400 && code < 600 ? code : 502,
                                          msg.empty() ? std::string("upstream error") : std::string(msg));
    }
    ir::Response r;
    r.id.assign(get_string(member(doc, "responseId", "response_id")));
    r.model.assign(get_string(member(doc, "modelVersion", "model_version")));
    if (r.model.empty()) r.model = s.upstream_model;

    const Value* cands = member(doc, "candidates");
    const Value* cand = is_array(cands) && !cands->Empty() ? &(*cands)[0] : nullptr;
    bool any_call = false;
    if (cand && cand->IsObject()) {
        const Value* content = member(*cand, "content");
        const Value* parts = content ? member(*content, "parts") : nullptr;
        if (is_array(parts)) {
            for (const auto& part : parts->GetArray()) {
                if (!part.IsObject()) continue;
                std::string_view sig = get_string(member(part, "thoughtSignature", "thought_signature"));
                ir::Part p;
                if (!sig.empty()) {
                    p.signature.assign(sig);
                    p.origin = ir::Origin{Protocol::Gemini, s.upstream_model};
                }
                if (const Value* fc = member(part, "functionCall", "function_call"); is_object(fc)) {
                    any_call = true;
                    p.kind = ir::PartKind::ToolCall;
                    p.call_id = s.new_id(s.client == Protocol::Anthropic ? "toolu_" : "call_");
                    p.name = s.client_tool_name(get_string(member(*fc, "name")));
                    const Value* args = member(*fc, "args");
                    p.args_json = is_object(args) ? to_json(*args) : "{}";
                    if (s.signatures && !p.signature.empty())
                        s.signatures->put(p.call_id, CachedSignature{Protocol::Gemini, s.upstream_model, p.signature, {}});
                    r.content.push_back(std::move(p));
                    continue;
                }
                const Value* text = member(part, "text");
                if (!text || !text->IsString()) continue;  // inlineData, executableCode, ...: not carried
                p.text.assign(sv(*text));
                bool thought = get_bool(member(part, "thought")).value_or(false);
                p.kind = thought ? ir::PartKind::Thinking : ir::PartKind::Text;
                if (p.text.empty() && (!thought || p.signature.empty())) continue;
                r.content.push_back(std::move(p));
            }
        }
        r.finish = finish_from_gemini(get_string(member(*cand, "finishReason", "finish_reason")));
        // Google Search grounding: the searches come first, as the other
        // wires tell them before the text they informed.
        ir::Part search;
        if (const Value* gm = member(*cand, "groundingMetadata", "grounding_metadata");
            gm && read_gemini_grounding(*gm, search, s))
            r.content.insert(r.content.begin(), std::move(search));
    } else if (const Value* pf = member(doc, "promptFeedback", "prompt_feedback");
               pf && !get_string(member(*pf, "blockReason", "block_reason")).empty()) {
        r.finish = ir::Finish::ContentFilter;
    }
    if (any_call) r.finish = ir::Finish::ToolCalls;
    if (r.finish == ir::Finish::Unset) r.finish = ir::Finish::Stop;
    if (const Value* um = member(doc, "usageMetadata", "usage_metadata"); is_object(um))
        r.usage = gemini_wire::usage_from(*um);
    return r;
}

std::string encode_gemini_response(const ir::Response& r, Session& s) {
    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    w.StartObject();
    w.Key("candidates");
    w.StartArray();
    w.StartObject();
    w.Key("content");
    w.StartObject();
    w.Key("role");
    w.String("model");
    w.Key("parts");
    w.StartArray();
    size_t written = 0;
    for (const auto& p : r.content) {
        // Only a signature Gemini made goes back as a thoughtSignature (§6.11).
        std::string sig = s.upstream == Protocol::Gemini ? p.signature : std::string();
        switch (p.kind) {
            case ir::PartKind::Text:
                if (p.text.empty()) continue;
                gemini_wire::write_text_part(w, p.text, false, sig);
                break;
            case ir::PartKind::Thinking:
                if (p.text.empty() && sig.empty()) continue;
                gemini_wire::write_text_part(w, p.text, true, sig);
                break;
            case ir::PartKind::ToolCall:
                gemini_wire::write_function_call(w, p.name, p.args_json, p.call_id, sig);
                break;
            default: continue;  // redacted thinking and media have no Gemini answer form
        }
        ++written;
    }
    if (written == 0) gemini_wire::write_text_part(w, "", false, "");
    w.EndArray();
    w.EndObject();
    w.Key("finishReason");
    w.String(gemini_finish_reason(r.finish));
    std::vector<const ir::Part*> searches;
    for (const auto& p : r.content)
        if (p.kind == ir::PartKind::WebSearch) searches.push_back(&p);
    if (!searches.empty()) write_gemini_grounding(w, searches);
    w.Key("index");
    w.Int(0);
    w.EndObject();
    w.EndArray();
    if (r.usage.present()) gemini_wire::write_usage(w, r.usage);
    w.Key("modelVersion");
    write_string(w, s.client_model);
    w.Key("responseId");
    write_string(w, r.id.empty() ? s.new_id("") : r.id);
    w.EndObject();
    return buf;
}

}  // namespace agd::translate

// Gemini: client request -> IR, and IR -> upstream request (protocols.md §5.1, §6).
#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/gemini_schema.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
}

// ---------------------------------------------------------------- decode

ir::PartKind kind_for_mime(std::string_view mime) {
    if (mime.substr(0, 6) == "image/") return ir::PartKind::Image;
    if (mime.substr(0, 6) == "audio/") return ir::PartKind::Audio;
    return ir::PartKind::File;
}

// OpenAPI's upper-case type names (STRING, OBJECT) lower-cased so that
// JSON Schema targets accept the schema. Data positions are left alone.
// Iterative (an explicit stack of schema positions), 64 levels at most.
void lower_types(Value& root, Alloc& a) {
    std::vector<std::pair<Value*, int>> todo{{&root, 0}};
    while (!todo.empty()) {
        auto [v, depth] = todo.back();
        todo.pop_back();
        if (depth > 64) continue;
        if (v->IsArray()) {
            for (auto& e : v->GetArray()) todo.emplace_back(&e, depth + 1);
            continue;
        }
        if (!v->IsObject()) continue;
        for (auto& m : v->GetObject()) {
            std::string_view k = sv(m.name);
            if (k == "type") {
                if (m.value.IsString()) {
                    std::string l = lower(sv(m.value));
                    m.value.SetString(l.data(), static_cast<rapidjson::SizeType>(l.size()), a);
                } else if (m.value.IsArray()) {
                    for (auto& t : m.value.GetArray()) {
                        if (!t.IsString()) continue;
                        std::string l = lower(sv(t));
                        t.SetString(l.data(), static_cast<rapidjson::SizeType>(l.size()), a);
                    }
                }
            } else if (k == "properties" || k == "$defs" || k == "definitions") {
                if (m.value.IsObject())
                    for (auto& pm : m.value.GetObject()) todo.emplace_back(&pm.value, depth + 1);
            } else if (k == "default" || k == "example" || k == "examples" || k == "enum" || k == "const") {
                continue;
            } else {
                todo.emplace_back(&m.value, depth + 1);
            }
        }
    }
}

std::string schema_text(const Value& schema) {
    JsonDoc d;
    d.CopyFrom(schema, d.GetAllocator());
    lower_types(d, d.GetAllocator());
    return to_json(d);
}

struct DecodeState {
    // Calls of the latest model turn not answered yet: {name, id}, in order.
    std::vector<std::pair<std::string, std::string>> pending;
};

void set_signature(const Value& part, ir::Part& p) {
    std::string_view sig = get_string(member(part, "thoughtSignature", "thought_signature"));
    if (!sig.empty()) untag_signature(sig, Protocol::Gemini, p);
}

bool decode_media(const Value& part, ir::Part& p) {
    if (const Value* d = member(part, "inlineData", "inline_data"); is_object(d)) {
        p.media.mime.assign(get_string(member(*d, "mimeType", "mime_type")));
        p.media.data.assign(get_string(member(*d, "data")));
        p.kind = kind_for_mime(p.media.mime);
        return true;
    }
    if (const Value* f = member(part, "fileData", "file_data"); is_object(f)) {
        p.media.mime.assign(get_string(member(*f, "mimeType", "mime_type")));
        p.media.url.assign(get_string(member(*f, "fileUri", "file_uri")));
        p.kind = kind_for_mime(p.media.mime);
        return true;
    }
    return false;
}

// functionResponse.response -> the tool result's text (and error flag).
void decode_result_content(const Value* response, ir::Part& p) {
    std::string text;
    if (response && response->IsObject() && response->MemberCount() == 1) {
        const auto& only = *response->MemberBegin();
        std::string_view k = sv(only.name);
        if ((k == "output" || k == "result" || k == "content") && only.value.IsString()) {
            text.assign(sv(only.value));
        } else if (k == "error") {
            p.is_error = true;
            text = only.value.IsString() ? std::string(sv(only.value)) : to_json(only.value);
        } else {
            text = to_json(*response);
        }
    } else if (response && response->IsString()) {
        text.assign(sv(*response));
    } else if (response && !response->IsNull()) {
        text = to_json(*response);
    }
    ir::Part t;
    t.kind = ir::PartKind::Text;
    t.text = std::move(text);
    p.content.push_back(std::move(t));
}

std::string decode_part(const Value& part, bool model, Session& s, DecodeState& st, ir::Message& msg) {
    if (!part.IsObject()) return "each part must be an object";
    ir::Part p;
    if (const Value* fc = member(part, "functionCall", "function_call"); is_object(fc)) {
        if (!model) return "functionCall parts belong in model contents";
        p.kind = ir::PartKind::ToolCall;
        p.name.assign(get_string(member(*fc, "name")));
        if (p.name.empty()) return "functionCall.name is required";
        const Value* args = member(*fc, "args");
        p.args_json = is_object(args) ? to_json(*args) : "{}";
        std::string_view id = get_string(member(*fc, "id"));
        p.call_id = id.empty() ? s.new_id("call_") : std::string(id);
        set_signature(part, p);
        st.pending.emplace_back(p.name, p.call_id);
        msg.parts.push_back(std::move(p));
        return {};
    }
    if (const Value* fr = member(part, "functionResponse", "function_response"); is_object(fr)) {
        if (model) return "functionResponse parts belong in user contents";
        p.kind = ir::PartKind::ToolResult;
        p.name.assign(get_string(member(*fr, "name")));
        std::string_view id = get_string(member(*fr, "id"));
        auto it = st.pending.end();
        if (!id.empty())
            it = std::find_if(st.pending.begin(), st.pending.end(), [&](const auto& c) { return c.second == id; });
        if (it == st.pending.end())
            it = std::find_if(st.pending.begin(), st.pending.end(), [&](const auto& c) { return c.first == p.name; });
        if (!id.empty()) p.call_id.assign(id);
        else if (it != st.pending.end()) p.call_id = it->second;
        else p.call_id = s.new_id("call_");
        if (it != st.pending.end()) st.pending.erase(it);
        decode_result_content(member(*fr, "response"), p);
        if (const Value* parts = member(*fr, "parts"); is_array(parts)) {
            for (const auto& rp : parts->GetArray()) {
                ir::Part m;
                if (decode_media(rp, m)) p.content.push_back(std::move(m));
            }
        }
        msg.parts.push_back(std::move(p));
        return {};
    }
    if (decode_media(part, p)) {
        msg.parts.push_back(std::move(p));
        return {};
    }
    if (const Value* text = member(part, "text"); text && text->IsString()) {
        bool thought = get_bool(member(part, "thought")).value_or(false);
        p.kind = thought && model ? ir::PartKind::Thinking : ir::PartKind::Text;
        p.text.assign(sv(*text));
        set_signature(part, p);
        if (p.text.empty() && p.signature.empty()) return {};
        msg.parts.push_back(std::move(p));
        return {};
    }
    // executableCode, codeExecutionResult, videoMetadata-only parts: nothing the IR carries.
    return {};
}

// Gemini's built-in tools other than search, in both spellings: run by
// Google, no other wire has a form for them.
bool gemini_builtin_tool(std::string_view key) {
    static constexpr std::string_view kBuiltin[] = {
        "codeExecution", "code_execution", "urlContext", "url_context", "computerUse", "computer_use",
        "fileSearch", "file_search", "googleMaps", "google_maps", "retrieval", "enterpriseWebSearch",
        "enterprise_web_search", "mcpServers", "mcp_servers"};
    return std::find(std::begin(kBuiltin), std::end(kBuiltin), key) != std::end(kBuiltin);
}

// Each entry of `tools` holds function declarations and/or built-in tools:
// functions become IR tools, Google Search the IR's web search offer, the
// other built-ins are left out (noted for the daemon's warning); a key of
// no tool kind is the client's error.
std::string decode_tools(const Value& root, ir::Request& r, Session& s) {
    const Value* tools = member(root, "tools");
    if (!tools || tools->IsNull()) return {};
    if (!tools->IsArray()) return "tools must be an array";
    size_t i = 0;
    for (const auto& tool : tools->GetArray()) {
        std::string at = "tools[" + std::to_string(i++) + "]";
        if (!tool.IsObject()) return at + " must be an object";
        for (const auto& m : tool.GetObject()) {
            std::string_view key(m.name.GetString(), m.name.GetStringLength());
            if (key == "functionDeclarations" || key == "function_declarations") continue;
            if (key == "googleSearch" || key == "google_search" || key == "googleSearchRetrieval" ||
                key == "google_search_retrieval") {
                read_gemini_web_search(r);
            } else if (gemini_builtin_tool(key)) {
                if (std::find(s.dropped_tools.begin(), s.dropped_tools.end(), key) == s.dropped_tools.end())
                    s.dropped_tools.emplace_back(key);
            } else {
                return at + " holds '" + std::string(key) +
                       "', a tool the gateway cannot carry to this model's provider (functionDeclarations and "
                       "googleSearch can be)";
            }
        }
        const Value* decls = member(tool, "functionDeclarations", "function_declarations");
        if (!is_array(decls)) continue;
        for (const auto& d : decls->GetArray()) {
            ir::Tool t;
            t.name.assign(get_string(member(d, "name")));
            if (t.name.empty()) continue;
            t.description.assign(get_string(member(d, "description")));
            const Value* params = member(d, "parametersJsonSchema", "parameters_json_schema");
            if (!is_object(params)) params = member(d, "parameters");
            if (is_object(params)) t.parameters_json = schema_text(*params);
            r.tools.push_back(std::move(t));
        }
    }
    return {};
}

void decode_tool_config(const Value& root, ir::Request& r) {
    const Value* tc = member(root, "toolConfig", "tool_config");
    const Value* fcc = tc ? member(*tc, "functionCallingConfig", "function_calling_config") : nullptr;
    if (!is_object(fcc)) return;
    std::string mode = upper(get_string(member(*fcc, "mode")));
    std::vector<std::string> allowed;
    if (const Value* names = member(*fcc, "allowedFunctionNames", "allowed_function_names"); is_array(names))
        for (const auto& n : names->GetArray())
            if (n.IsString()) allowed.emplace_back(sv(n));
    if (mode == "AUTO" || mode == "VALIDATED") r.tool_choice.mode = ir::ToolChoiceMode::Auto;
    else if (mode == "NONE") r.tool_choice.mode = ir::ToolChoiceMode::None;
    else if (mode == "ANY") r.tool_choice.mode = ir::ToolChoiceMode::Required;
    if (r.tool_choice.mode == ir::ToolChoiceMode::Required && allowed.size() == 1) {
        r.tool_choice.mode = ir::ToolChoiceMode::Named;
        r.tool_choice.name = allowed[0];
    } else {
        r.tool_choice.allowed = std::move(allowed);
    }
}

void decode_generation(const Value& root, ir::Request& r) {
    const Value* g = member(root, "generationConfig", "generation_config");
    if (!is_object(g)) return;
    r.temperature = get_double(member(*g, "temperature"));
    r.top_p = get_double(member(*g, "topP", "top_p"));
    r.top_k = get_int(member(*g, "topK", "top_k"));
    r.seed = get_int(member(*g, "seed"));
    r.presence_penalty = get_double(member(*g, "presencePenalty", "presence_penalty"));
    r.frequency_penalty = get_double(member(*g, "frequencyPenalty", "frequency_penalty"));
    r.max_tokens = get_int(member(*g, "maxOutputTokens", "max_output_tokens"));
    r.n = get_int(member(*g, "candidateCount", "candidate_count"));
    if (const Value* stops = member(*g, "stopSequences", "stop_sequences"); is_array(stops))
        for (const auto& x : stops->GetArray())
            if (x.IsString()) r.stop.emplace_back(sv(x));
    std::string_view mime = get_string(member(*g, "responseMimeType", "response_mime_type"));
    if (mime == "application/json") {
        const Value* schema = member(*g, "responseJsonSchema", "response_json_schema");
        if (!is_object(schema)) schema = member(*g, "responseSchema", "response_schema");
        if (is_object(schema)) {
            r.format.kind = ir::FormatKind::JsonSchema;
            r.format.name = "response";
            r.format.schema_json = schema_text(*schema);
        } else {
            r.format.kind = ir::FormatKind::JsonObject;
        }
    } else if (mime == "text/plain") {
        r.format.kind = ir::FormatKind::Text;
    }
    const Value* tc = member(*g, "thinkingConfig", "thinking_config");
    if (!is_object(tc)) return;
    r.reasoning.include_thoughts = get_bool(member(*tc, "includeThoughts", "include_thoughts"));
    if (auto budget = get_int(member(*tc, "thinkingBudget", "thinking_budget"))) {
        if (*budget == 0) {
            r.reasoning.mode = ir::ReasoningMode::Off;
        } else {
            r.reasoning.mode = ir::ReasoningMode::Budget;
            r.reasoning.budget = *budget < 0 ? -1 : *budget;
        }
    } else if (std::string_view level = get_string(member(*tc, "thinkingLevel", "thinking_level")); !level.empty()) {
        r.reasoning.mode = ir::ReasoningMode::Effort;
        r.reasoning.effort = lower(level);
    }
}

// ---------------------------------------------------------------- encode

bool name_char_ok(char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == ':' || ch == '-';
}

bool valid_gemini_name(std::string_view n) {
    if (n.empty() || n.size() > 128) return false;
    if (!std::isalpha(static_cast<unsigned char>(n[0])) && n[0] != '_') return false;
    return std::all_of(n.begin(), n.end(), name_char_ok);
}

std::string sanitize_name(std::string_view n) {
    std::string out;
    for (char ch : n) out.push_back(name_char_ok(ch) ? ch : '_');
    if (out.empty() || (!std::isalpha(static_cast<unsigned char>(out[0])) && out[0] != '_')) out.insert(0, "_");
    if (out.size() > 128) out.resize(128);
    return out;
}

// Gives every tool name of the request a Gemini-valid upstream name, unique,
// recorded in the session so answers map back.
void plan_tool_names(const ir::Request& r, Session& s) {
    std::vector<std::string> names;
    for (const auto& t : r.tools) names.push_back(t.name);
    for (const auto& m : r.messages)
        for (const auto& p : m.parts)
            if ((p.kind == ir::PartKind::ToolCall || p.kind == ir::PartKind::ToolResult) && !p.name.empty())
                names.push_back(p.name);
    if (!r.tool_choice.name.empty()) names.push_back(r.tool_choice.name);
    for (const auto& n : r.tool_choice.allowed) names.push_back(n);

    std::set<std::string> used;
    for (const auto& n : names)
        if (valid_gemini_name(n) && s.upstream_tool_name(n) == n) used.insert(n);
    for (const auto& [c, u] : s.tool_names) used.insert(u);
    for (const auto& n : names) {
        if (valid_gemini_name(s.upstream_tool_name(n))) continue;
        std::string base = sanitize_name(n), cand = base;
        for (int k = 2; used.count(cand); ++k) {
            std::string suffix = "_" + std::to_string(k);
            cand = base.substr(0, 128 - suffix.size()) + suffix;
        }
        used.insert(cand);
        s.map_tool_name(n, cand);
    }
}

bool gemini3(const Session& s) { return s.upstream_model.find("gemini-3") != std::string::npos; }

bool is_gemini_file_uri(std::string_view url) {
    return url.substr(0, 5) == "gs://" || url.substr(0, 40) == "https://generativelanguage.googleapis.com" ||
           url.substr(0, 24) == "https://www.youtube.com/" || url.substr(0, 17) == "https://youtu.be/";
}

std::string write_json(const std::function<void(JsonWriter&)>& f) {
    std::string buf;
    JsonWriter w(buf);
    f(w);
    return buf;
}

// A media part -> inlineData / fileData JSON; "" when there is nothing to send.
Result<std::string> media_part(const ir::Part& p) {
    std::string mime = p.media.mime, data = p.media.data;
    if (data.empty() && !p.media.url.empty()) parse_data_url(p.media.url, mime, data);
    if (mime.empty()) {
        mime = p.kind == ir::PartKind::Image ? "image/png"
               : p.kind == ir::PartKind::Audio ? "audio/wav"
                                               : "application/octet-stream";
    }
    if (!data.empty()) {
        return write_json([&](JsonWriter& w) {
            w.StartObject();
            w.Key("inlineData");
            w.StartObject();
            w.Key("mimeType");
            write_string(w, mime);
            w.Key("data");
            write_string(w, data);
            w.EndObject();
            w.EndObject();
        });
    }
    const std::string& url = p.media.url;
    if (!url.empty()) {
        if (is_gemini_file_uri(url)) {
            return write_json([&](JsonWriter& w) {
                w.StartObject();
                w.Key("fileData");
                w.StartObject();
                w.Key("mimeType");
                write_string(w, mime);
                w.Key("fileUri");
                write_string(w, url);
                w.EndObject();
                w.EndObject();
            });
        }
        if (p.kind == ir::PartKind::Image) return Result<std::string>::fail(400, "image URL must be inlined");
        return Result<std::string>::fail(400, "file URL must be inlined for a Gemini upstream");
    }
    if (!p.media.file_id.empty())
        return Result<std::string>::fail(400, "file ids cannot be sent to a Gemini upstream; send the file inline");
    return std::string();
}

// Renames "$"-prefixed keys ($ref, $defs, $schema...) everywhere in a tool's
// output object: Gemini rejects them inside functionResponse.response (§7.26).
void rename_dollar_keys(Value& root, Alloc& a) {
    std::vector<Value*> stack{&root};
    while (!stack.empty()) {
        Value* v = stack.back();
        stack.pop_back();
        if (v->IsArray()) {
            for (auto& e : v->GetArray()) stack.push_back(&e);
            continue;
        }
        if (!v->IsObject()) continue;
        for (auto& m : v->GetObject()) {
            if (m.name.GetStringLength() > 0 && m.name.GetString()[0] == '$') {
                std::string name(sv(m.name));
                while (!name.empty() && name[0] == '$') name.erase(0, 1);
                if (name.empty()) name = "dollar";
                while (v->HasMember(name.c_str())) name.insert(0, "_");
                m.name.SetString(name.data(), static_cast<rapidjson::SizeType>(name.size()), a);
            }
            if (m.value.IsObject() || m.value.IsArray()) stack.push_back(&m.value);
        }
    }
}

std::string function_response_json(const ir::Part& p, const std::string& name) {
    std::string text;
    for (const auto& c : p.content) {
        if (c.kind != ir::PartKind::Text) continue;
        if (!text.empty() && !c.text.empty()) text += '\n';
        text += c.text;
    }
    std::string response;
    JsonDoc d;
    if (!p.is_error && parse_json(text, d) && d.IsObject()) {
        rename_dollar_keys(d, d.GetAllocator());
        response = to_json(d);
    } else {
        response = write_json([&](JsonWriter& w) {
            w.StartObject();
            w.Key(p.is_error ? "error" : "output");
            write_string(w, text);
            w.EndObject();
        });
    }
    return write_json([&](JsonWriter& w) {
        w.StartObject();
        w.Key("functionResponse");
        w.StartObject();
        w.Key("name");
        write_string(w, name);
        w.Key("response");
        write_raw(w, response);
        w.EndObject();
        w.EndObject();
    });
}

struct OutPart {
    enum Kind { Raw, Call, Response } kind = Raw;
    std::string json;       // Raw, Response
    std::string call_id;    // Call, Response: the client's id
    std::string name;       // Call: upstream name
    std::string args;       // Call
    std::string signature;  // Call: valid signature ("" = none)
    std::string text;       // Response: the result's text (an orphan becomes a text part)
};

struct OutContent {
    bool model = false;
    std::vector<OutPart> parts;
};

std::string text_part(std::string_view text, bool thought, std::string_view signature) {
    return write_json([&](JsonWriter& w) { gemini_wire::write_text_part(w, text, thought, signature); });
}

std::string call_signature(const ir::Part& p, const Session& s) {
    if (!p.signature.empty() && signature_valid_for(p.origin, s)) return p.signature;
    if (s.signatures && !p.call_id.empty()) {
        auto cached = s.signatures->get(p.call_id);
        if (cached && cached->protocol == Protocol::Gemini && cached->model == s.upstream_model && !cached->signature.empty())
            return cached->signature;
    }
    return {};
}

bool is_blank(std::string_view t) {
    return std::all_of(t.begin(), t.end(), [](char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; });
}

OutPart text_out(std::string_view text) {
    OutPart o;
    o.json = text_part(text, false, {});
    return o;
}

// Gemini wants every functionCall of a model content answered in the next
// user content, one response per call (§7.9): a result whose call is not in
// the model content before it becomes plain text, and a call left without a
// result gets an error response. A conversation opening with a model turn of
// calls gets a user turn first (a call turn must follow a user turn).
void pair_calls(std::vector<OutContent>& out) {
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i].model) continue;
        std::vector<std::string> calls;
        if (i > 0)
            for (const auto& p : out[i - 1].parts)
                if (p.kind == OutPart::Call) calls.push_back(p.call_id);
        for (auto& p : out[i].parts) {
            if (p.kind != OutPart::Response || std::find(calls.begin(), calls.end(), p.call_id) != calls.end()) continue;
            p = text_out("Result of " + p.name + ": " + p.text);
        }
    }
    for (size_t i = 0; i + 1 < out.size(); ++i) {
        if (!out[i].model) continue;
        auto& next = out[i + 1].parts;
        for (const auto& c : out[i].parts) {
            if (c.kind != OutPart::Call) continue;
            bool answered = std::any_of(next.begin(), next.end(), [&](const OutPart& p) {
                return p.kind == OutPart::Response && p.call_id == c.call_id;
            });
            if (answered) continue;
            ir::Part missing;
            missing.is_error = true;
            ir::Part t;
            t.text = "no result was provided for this call";
            missing.content.push_back(std::move(t));
            OutPart o;
            o.kind = OutPart::Response;
            o.call_id = c.call_id;
            o.name = c.name;
            o.json = function_response_json(missing, c.name);
            next.push_back(std::move(o));
        }
    }
    if (!out.empty() && out.front().model &&
        std::any_of(out.front().parts.begin(), out.front().parts.end(),
                    [](const OutPart& p) { return p.kind == OutPart::Call; })) {
        OutContent first{false, {}};
        first.parts.push_back(text_out("Continue."));
        out.insert(out.begin(), std::move(first));
    }
}

Status build_contents(const ir::Request& r, Session& s, std::vector<OutContent>& out) {
    // client call id -> upstream tool name, from the calls in the history.
    std::vector<std::pair<std::string, std::string>> call_names;
    for (const auto& m : r.messages)
        for (const auto& p : m.parts)
            if (p.kind == ir::PartKind::ToolCall) call_names.emplace_back(p.call_id, s.upstream_tool_name(p.name));

    for (const auto& m : r.messages) {
        bool model = m.role == ir::Role::Assistant;
        std::vector<OutPart> parts;
        std::string carried;  // signature of an empty thinking part, for the next call
        for (const auto& p : m.parts) {
            OutPart o;
            switch (p.kind) {
                case ir::PartKind::Text: {
                    if (is_blank(p.text)) break;  // Gemini rejects empty text parts (§7.8)
                    bool keep = model && !p.signature.empty() && signature_valid_for(p.origin, s);
                    o.json = text_part(p.text, false, keep ? std::string_view(p.signature) : std::string_view());
                    parts.push_back(std::move(o));
                    break;
                }
                case ir::PartKind::Thinking:
                    if (!model || p.signature.empty() || !signature_valid_for(p.origin, s)) break;
                    if (is_blank(p.text)) {
                        // A signature without thought text (a client's empty thinking
                        // block) belongs to the call that follows it.
                        carried = p.signature;
                        break;
                    }
                    o.json = text_part(p.text, true, p.signature);
                    parts.push_back(std::move(o));
                    break;
                case ir::PartKind::RedactedThinking:
                case ir::PartKind::WebSearch: break;  // a past search is not replayed: its text answer is
                case ir::PartKind::Image:
                case ir::PartKind::File:
                case ir::PartKind::Audio: {
                    auto mp = media_part(p);
                    if (!mp) return Status(mp.error());
                    if (mp->empty()) break;
                    o.json = std::move(*mp);
                    parts.push_back(std::move(o));
                    break;
                }
                case ir::PartKind::ToolCall:
                    if (!model) break;
                    o.kind = OutPart::Call;
                    o.call_id = p.call_id;
                    o.name = s.upstream_tool_name(p.name);
                    o.args = repair_args_json(p.args_json);
                    o.signature = call_signature(p, s);
                    if (o.signature.empty()) o.signature = std::move(carried);
                    carried.clear();
                    parts.push_back(std::move(o));
                    break;
                case ir::PartKind::ToolResult: {
                    if (model) break;  // results belong to user turns
                    std::string name;
                    for (const auto& [id, n] : call_names)
                        if (id == p.call_id) name = n;
                    if (name.empty()) name = s.upstream_tool_name(p.name.empty() ? std::string_view("tool") : p.name);
                    o.kind = OutPart::Response;
                    o.call_id = p.call_id;
                    o.name = name;
                    o.json = function_response_json(p, name);
                    for (const auto& c : p.content)
                        if (c.kind == ir::PartKind::Text) o.text += c.text;
                    parts.push_back(std::move(o));
                    // Images returned by a tool follow the responses as ordinary parts.
                    for (const auto& c : p.content) {
                        if (c.kind == ir::PartKind::Text) continue;
                        auto mp = media_part(c);
                        if (!mp) return Status(mp.error());
                        if (mp->empty()) continue;
                        OutPart media;
                        media.json = std::move(*mp);
                        parts.push_back(std::move(media));
                    }
                    break;
                }
            }
        }
        if (parts.empty()) continue;
        if (out.empty() || out.back().model != model) out.push_back(OutContent{model, {}});
        for (auto& o : parts) out.back().parts.push_back(std::move(o));
    }

    pair_calls(out);
    // In each user content: the function responses first, in the order of the
    // calls of the model content before it (§6.3, §7.9); other parts after.
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i].model) continue;
        std::vector<std::string> order;
        if (i > 0)
            for (const auto& p : out[i - 1].parts)
                if (p.kind == OutPart::Call) order.push_back(p.call_id);
        auto rank = [&](const OutPart& p) -> size_t {
            if (p.kind != OutPart::Response) return order.size() + 1;
            auto it = std::find(order.begin(), order.end(), p.call_id);
            return it == order.end() ? order.size() : static_cast<size_t>(it - order.begin());
        };
        std::stable_sort(out[i].parts.begin(), out[i].parts.end(),
                         [&](const OutPart& a, const OutPart& b) { return rank(a) < rank(b); });
    }
    return {};
}

void write_contents(JsonWriter& w, const std::vector<OutContent>& contents, const Session& s) {
    w.Key("contents");
    w.StartArray();
    for (const auto& c : contents) {
        w.StartObject();
        w.Key("role");
        w.String(c.model ? "model" : "user");
        w.Key("parts");
        w.StartArray();
        bool first_call = true;
        for (const auto& p : c.parts) {
            if (p.kind != OutPart::Call) {
                write_raw(w, p.json);
                continue;
            }
            std::string sig = p.signature;
            // Gemini 3 wants a signature on the first call of a turn; history
            // from elsewhere has none: the documented bypass, first call only.
            if (sig.empty() && first_call && gemini3(s)) sig = "skip_thought_signature_validator";
            first_call = false;
            w.StartObject();
            w.Key("functionCall");
            w.StartObject();
            w.Key("name");
            write_string(w, p.name);
            w.Key("args");
            write_raw(w, p.args);
            w.EndObject();
            if (!sig.empty()) {
                w.Key("thoughtSignature");
                write_string(w, sig);
            }
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
}

// Function parameters must be an object schema: a root union of object
// branches is folded into one object offering every branch's properties
// (none of them required, as only one branch applies).
std::string object_root(std::string schema) {
    JsonDoc d;
    if (!parse_json(schema, d) || !d.IsObject() || member(d, "type")) return schema;
    const Value* any = member(d, "anyOf");
    if (!is_array(any) || any->Empty()) return schema;
    auto& a = d.GetAllocator();
    Value props(rapidjson::kObjectType);
    for (const auto& b : any->GetArray()) {
        const Value* t = member(b, "type");
        const Value* bp = member(b, "properties");
        if (!(t && t->IsString() && lower(sv(*t)) == "object") && !is_object(bp)) return schema;
        if (is_object(bp))
            for (const auto& m : bp->GetObject())
                if (!props.HasMember(m.name)) props.AddMember(Value(m.name, a), Value(m.value, a), a);
    }
    Value out(rapidjson::kObjectType);
    out.AddMember("type", "object", a);
    if (const Value* desc = member(d, "description"); desc && desc->IsString()) out.AddMember("description", Value(*desc, a), a);
    out.AddMember("properties", props, a);
    return to_json(out);
}

void write_tools(JsonWriter& w, const ir::Request& r, Session& s) {
    // Google Search is declared only to a request without functions: Gemini
    // models before 3 refuse the two together, and the functions are what a
    // coding agent cannot do without.
    bool search = r.web_search && r.tools.empty();
    if (r.web_search && !search &&
        std::find(s.dropped_tools.begin(), s.dropped_tools.end(), "web_search") == s.dropped_tools.end())
        s.dropped_tools.emplace_back("web_search");
    if (search) {
        w.Key("tools");
        w.StartArray();
        w.StartObject();
        w.Key("googleSearch");
        w.StartObject();
        w.EndObject();
        w.EndObject();
        w.EndArray();
    }
    if (r.tools.empty()) return;
    const auto& tc = r.tool_choice;
    // allowed_tools with auto: offer only the allowed tools (Gemini takes
    // allowedFunctionNames with ANY only).
    bool filter = !tc.allowed.empty() && tc.mode != ir::ToolChoiceMode::Required && tc.mode != ir::ToolChoiceMode::Named;
    w.Key("tools");
    w.StartArray();
    w.StartObject();
    w.Key("functionDeclarations");
    w.StartArray();
    for (const auto& t : r.tools) {
        if (filter && std::find(tc.allowed.begin(), tc.allowed.end(), t.name) == tc.allowed.end()) continue;
        w.StartObject();
        w.Key("name");
        write_string(w, s.upstream_tool_name(t.name));
        if (!t.description.empty()) {
            w.Key("description");
            write_string(w, t.description);
        }
        w.Key("parameters");
        if (t.parameters_json.empty()) write_raw(w, "{\"type\":\"object\",\"properties\":{}}");
        else write_raw(w, object_root(gemini_schema(t.parameters_json)));
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.EndArray();

    const char* mode = nullptr;
    std::vector<std::string> names;
    switch (tc.mode) {
        case ir::ToolChoiceMode::Unset: mode = filter ? "AUTO" : nullptr; break;
        case ir::ToolChoiceMode::Auto: mode = "AUTO"; break;
        case ir::ToolChoiceMode::None: mode = "NONE"; break;
        case ir::ToolChoiceMode::Required:
            mode = "ANY";
            for (const auto& n : tc.allowed) names.push_back(s.upstream_tool_name(n));
            break;
        case ir::ToolChoiceMode::Named:
            mode = "ANY";
            names.push_back(s.upstream_tool_name(tc.name));
            break;
    }
    if (!mode) return;
    w.Key("toolConfig");
    w.StartObject();
    w.Key("functionCallingConfig");
    w.StartObject();
    w.Key("mode");
    w.String(mode);
    if (!names.empty()) {
        w.Key("allowedFunctionNames");
        w.StartArray();
        for (const auto& n : names) write_string(w, n);
        w.EndArray();
    }
    w.EndObject();
    w.EndObject();
}

const char* thinking_level(std::string_view effort, const Session& s) {
    bool flash = s.upstream_model.find("flash") != std::string::npos;
    if (effort == "none" || effort == "minimal") return flash ? "MINIMAL" : "LOW";
    if (effort == "low") return "LOW";
    if (effort == "medium") return "MEDIUM";
    return "HIGH";  // high, xhigh, max
}

void write_thinking(JsonWriter& w, const ir::Reasoning& rs, const Session& s) {
    std::optional<int64_t> budget;
    const char* level = nullptr;
    bool on = true;
    bool g3 = gemini3(s);
    switch (rs.mode) {
        case ir::ReasoningMode::Unset:
            if (!rs.include_thoughts) return;
            break;
        case ir::ReasoningMode::Off:
            on = false;
            if (g3) level = thinking_level("none", s);
            else budget = 0;
            break;
        case ir::ReasoningMode::Effort:
            on = rs.effort != "none";
            if (g3) level = thinking_level(rs.effort, s);
            else budget = effort_to_budget(rs.effort, s.upstream_model.find("flash") != std::string::npos ? 24576 : 32768);
            break;
        case ir::ReasoningMode::Budget:
            on = rs.budget != 0;
            if (g3) {
                if (rs.budget == 0) level = thinking_level("none", s);
                else if (rs.budget > 0) level = thinking_level(budget_to_effort(rs.budget), s);
            } else {
                budget = rs.budget < 0 ? -1 : rs.budget;
            }
            break;
        case ir::ReasoningMode::Adaptive:
            if (g3) {
                if (!rs.effort.empty()) level = thinking_level(rs.effort, s);
            } else {
                budget = -1;
            }
            break;
    }
    if (budget && *budget >= 0) {
        // Budget ranges: 2.5 Pro 128..32768 (cannot turn thinking off), Flash 0..24576.
        bool pro25 = s.upstream_model.find("2.5-pro") != std::string::npos;
        int64_t cap = s.upstream_model.find("flash") != std::string::npos ? 24576 : 32768;
        budget = std::min(*budget, cap);
        if (pro25 && *budget < 128) budget = 128;
    }
    bool include = on && rs.include_thoughts.value_or(true);
    if (!budget && !level && !include) return;
    w.Key("thinkingConfig");
    w.StartObject();
    if (include) {
        w.Key("includeThoughts");
        w.Bool(true);
    }
    if (level) {
        w.Key("thinkingLevel");
        w.String(level);
    } else if (budget) {
        w.Key("thinkingBudget");
        w.Int64(*budget);
    }
    w.EndObject();
}

// The generationConfig object's text ("{}" when there is nothing to say).
std::string generation_json(const ir::Request& r, const Session& s) {
    std::string buf;
    JsonWriter w(buf);
    w.StartObject();
    if (r.max_tokens) {
        w.Key("maxOutputTokens");
        w.Int64(*r.max_tokens);
    }
    if (r.temperature) {
        w.Key("temperature");
        w.Double(*r.temperature);
    }
    if (r.top_p) {
        w.Key("topP");
        w.Double(*r.top_p);
    }
    if (r.top_k) {
        w.Key("topK");
        w.Int64(*r.top_k);
    }
    if (r.seed) {
        w.Key("seed");
        w.Int64(*r.seed);
    }
    if (r.presence_penalty) {
        w.Key("presencePenalty");
        w.Double(*r.presence_penalty);
    }
    if (r.frequency_penalty) {
        w.Key("frequencyPenalty");
        w.Double(*r.frequency_penalty);
    }
    if (!r.stop.empty()) {
        w.Key("stopSequences");
        w.StartArray();
        for (size_t i = 0; i < r.stop.size() && i < 5; ++i) write_string(w, r.stop[i]);
        w.EndArray();
    }
    if (r.n) {
        w.Key("candidateCount");
        w.Int64(*r.n);
    }
    if (r.format.kind == ir::FormatKind::JsonObject || r.format.kind == ir::FormatKind::JsonSchema) {
        w.Key("responseMimeType");
        w.String("application/json");
        if (r.format.kind == ir::FormatKind::JsonSchema && !r.format.schema_json.empty()) {
            w.Key("responseSchema");
            write_raw(w, gemini_schema(r.format.schema_json));
        }
    }
    write_thinking(w, r.reasoning, s);
    w.EndObject();
    return buf;
}

}  // namespace

Result<ir::Request> decode_gemini_request(const JsonValue& doc, Session& s) {
    ir::Request r;
    r.model = s.client_model;
    r.stream = s.stream;

    if (const Value* si = member(doc, "systemInstruction", "system_instruction")) {
        const Value* parts = si->IsObject() ? member(*si, "parts") : si;
        auto add = [&](std::string_view text) {
            if (text.empty()) return;
            ir::Part p;
            p.text.assign(text);
            r.system.push_back(std::move(p));
        };
        if (si->IsString()) add(sv(*si));
        else if (parts && parts->IsArray())
            for (const auto& p : parts->GetArray()) add(get_string(member(p, "text")));
        else if (parts && parts->IsObject()) add(get_string(member(*parts, "text")));
    }

    const Value* contents = member(doc, "contents");
    if (!contents) return Result<ir::Request>::fail(400, "contents is required");
    if (!contents->IsArray() && !contents->IsObject())
        return Result<ir::Request>::fail(400, "contents must be an array of Content objects");
    DecodeState st;
    bool prev_model = false;
    auto decode_content = [&](const Value& c) -> std::string {
        if (!c.IsObject()) return "each content must be an object";
        std::string_view role = get_string(member(c, "role"));
        bool model;
        if (role.empty() || role == "user" || role == "function" || role == "tool") model = false;
        else if (role == "model" || role == "assistant") model = true;
        else return "unknown content role \"" + std::string(role) + "\"";
        if (model && !prev_model) st.pending.clear();
        prev_model = model;
        ir::Message msg;
        msg.role = model ? ir::Role::Assistant : ir::Role::User;
        const Value* parts = member(c, "parts");
        if (parts && !parts->IsArray()) return "content parts must be an array";
        if (parts)
            for (const auto& p : parts->GetArray())
                if (std::string e = decode_part(p, model, s, st, msg); !e.empty()) return e;
        if (!msg.parts.empty()) r.messages.push_back(std::move(msg));
        return {};
    };
    if (contents->IsObject()) {
        if (std::string e = decode_content(*contents); !e.empty()) return Result<ir::Request>::fail(400, e);
    } else {
        for (const auto& c : contents->GetArray())
            if (std::string e = decode_content(c); !e.empty()) return Result<ir::Request>::fail(400, e);
    }

    if (std::string e = decode_tools(doc, r, s); !e.empty()) return Result<ir::Request>::fail(400, e);
    decode_tool_config(doc, r);
    decode_generation(doc, r);
    return r;
}

Result<std::string> encode_gemini_request(const ir::Request& r, Session& s) {
    plan_tool_names(r, s);
    std::vector<OutContent> contents;
    if (Status st = build_contents(r, s, contents); !st) return Result<std::string>(st.error());
    if (contents.empty()) return Result<std::string>::fail(400, "the request has no content to send");

    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    w.StartObject();
    write_contents(w, contents, s);
    bool any_system = std::any_of(r.system.begin(), r.system.end(), [](const ir::Part& p) { return !p.text.empty(); });
    if (any_system) {
        w.Key("systemInstruction");
        w.StartObject();
        w.Key("parts");
        w.StartArray();
        for (const auto& p : r.system) {
            if (p.text.empty()) continue;
            w.StartObject();
            w.Key("text");
            write_string(w, p.text);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    write_tools(w, r, s);
    if (std::string g = generation_json(r, s); g != "{}") {
        w.Key("generationConfig");
        write_raw(w, g);
    }
    w.EndObject();
    return buf;
}

}  // namespace agd::translate

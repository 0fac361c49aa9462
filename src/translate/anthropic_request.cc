// Anthropic Messages: client request -> IR, and IR -> upstream request
// (protocols.md §4.2-§4.3, §6.3-§6.8, §6.11).
#include <algorithm>
#include <cctype>
#include <list>
#include <set>

#include "common/base64.h"
#include "translate/codecs.h"
#include "translate/tool_schema.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

using ir::Part;
using ir::PartKind;

void kv(JsonWriter& w, std::string_view key, std::string_view value) {
    write_key(w, key);
    write_string(w, value);
}

// ---------------------------------------------------------------- decode

bool blank(std::string_view t) {
    return std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

bool has_cache_control(const JsonValue& block) { return is_object(member(block, "cache_control")); }

// image / document source -> Media. Returns false for an unusable source.
bool decode_source(const JsonValue& block, PartKind kind, Part& p) {
    const JsonValue* src = member(block, "source");
    if (!is_object(src)) return false;
    std::string_view type = get_string(member(*src, "type"));
    p.kind = kind;
    p.media.mime.assign(get_string(member(*src, "media_type")));
    if (type == "base64") {
        p.media.data.assign(get_string(member(*src, "data")));
    } else if (type == "url") {
        p.media.url.assign(get_string(member(*src, "url")));
    } else if (type == "file") {
        p.media.file_id.assign(get_string(member(*src, "file_id")));
    } else if (type == "text") {
        if (p.media.mime.empty()) p.media.mime = "text/plain";
        p.media.data = base64_encode(get_string(member(*src, "data")));
    } else if (type == "content") {
        // Content blocks as a document: their text, as a plain-text file.
        std::string text;
        const JsonValue* c = member(*src, "content");
        if (c && c->IsString()) text.assign(get_string(c));
        if (is_array(c))
            for (const auto& b : c->GetArray()) {
                if (!text.empty()) text += "\n";
                text.append(get_string(member(b, "text")));
            }
        p.media.mime = "text/plain";
        p.media.data = base64_encode(text);
    } else {
        return false;
    }
    p.media.filename.assign(get_string(member(block, "title")));
    p.cache_control = has_cache_control(block);
    return !p.media.data.empty() || !p.media.url.empty() || !p.media.file_id.empty();
}

struct Decoder {
    ir::Request& req;
    std::vector<std::pair<std::string, std::string>> call_names;  // tool_use id -> name
    // Tools a tool search loaded (tool_reference blocks in tool results):
    // the deferred tools (defer_loading) that may be declared.
    std::set<std::string, std::less<>> loaded;

    std::string name_of(std::string_view id) const {
        for (auto it = call_names.rbegin(); it != call_names.rend(); ++it)
            if (it->first == id) return it->second;
        return {};
    }

    // A text, image or document block (what a tool_result may hold as well
    // as a message); appended to `out`. False for any other type.
    bool content_block(const JsonValue& b, std::string_view type, std::vector<Part>& out) {
        Part p;
        if (type == "text") {
            p.text.assign(get_string(member(b, "text")));
            p.cache_control = has_cache_control(b);
            if (!p.text.empty()) out.push_back(std::move(p));
        } else if (type == "image") {
            if (decode_source(b, PartKind::Image, p)) out.push_back(std::move(p));
        } else if (type == "document") {
            if (decode_source(b, PartKind::File, p)) out.push_back(std::move(p));
        } else {
            return false;
        }
        return true;
    }

    // One content block; appended to `out`. Unknown block types are skipped.
    void block(const JsonValue& b, std::vector<Part>& out) {
        std::string_view type = get_string(member(b, "type"));
        if (content_block(b, type, out)) return;
        Part p;
        if (type == "tool_use") {
            p.kind = PartKind::ToolCall;
            p.call_id.assign(get_string(member(b, "id")));
            p.name.assign(get_string(member(b, "name")));
            const JsonValue* input = member(b, "input");
            p.args_json = is_object(input) ? to_json(*input) : "{}";
            p.cache_control = has_cache_control(b);
            call_names.emplace_back(p.call_id, p.name);
            out.push_back(std::move(p));
        } else if (type == "tool_result") {
            p.kind = PartKind::ToolResult;
            p.call_id.assign(get_string(member(b, "tool_use_id")));
            p.name = name_of(p.call_id);
            p.is_error = get_bool(member(b, "is_error")).value_or(false);
            p.cache_control = has_cache_control(b);
            const JsonValue* c = member(b, "content");
            if (c && c->IsString()) {
                Part t;
                t.text.assign(get_string(c));
                if (!t.text.empty()) p.content.push_back(std::move(t));
            } else if (is_array(c)) {
                // Text, images and documents only (ir.h): a tool_result or
                // tool_use inside one is skipped like an unknown block, so
                // the IR never nests deeper than this one level.
                for (const auto& cb : c->GetArray()) {
                    std::string_view t = get_string(member(cb, "type"));
                    if (t == "tool_reference") {  // a tool search's find: the tool is loaded from now on
                        std::string_view name = get_string(member(cb, "tool_name"));
                        if (name.empty() || loaded.size() >= 4096) continue;
                        loaded.emplace(name);
                        Part note;
                        note.text = "Tool loaded: " + std::string(name);
                        p.content.push_back(std::move(note));
                        continue;
                    }
                    content_block(cb, t, p.content);
                }
            }
            out.push_back(std::move(p));
        } else if (type == "thinking") {
            p.kind = PartKind::Thinking;
            p.text.assign(get_string(member(b, "thinking")));
            untag_signature(get_string(member(b, "signature")), Protocol::Anthropic, p);
            out.push_back(std::move(p));
        } else if (type == "redacted_thinking") {
            p.kind = PartKind::RedactedThinking;
            untag_signature(get_string(member(b, "data")), Protocol::Anthropic, p);
            out.push_back(std::move(p));
        }
    }

    // A message's content (string or blocks) -> parts.
    bool content(const JsonValue* c, std::vector<Part>& out) {
        if (!c || c->IsNull()) return true;
        if (c->IsString()) {
            Part p;
            p.text.assign(get_string(c));
            if (!p.text.empty()) out.push_back(std::move(p));
            return true;
        }
        if (!c->IsArray()) return false;
        for (const auto& b : c->GetArray()) {
            if (b.IsString()) {  // lenient: a bare string in the block list
                Part p;
                p.text.assign(b.GetString(), b.GetStringLength());
                if (!p.text.empty()) out.push_back(std::move(p));
            } else {
                block(b, out);
            }
        }
        return true;
    }
};

void decode_system(const JsonValue* sys, std::vector<Part>& out) {
    if (!sys) return;
    if (sys->IsString()) {
        Part p;
        p.text.assign(get_string(sys));
        if (!p.text.empty()) out.push_back(std::move(p));
        return;
    }
    if (!sys->IsArray()) return;
    for (const auto& b : sys->GetArray()) {
        Part p;
        if (b.IsString()) p.text.assign(b.GetString(), b.GetStringLength());
        else p.text.assign(get_string(member(b, "text")));
        p.cache_control = has_cache_control(b);
        if (!p.text.empty()) out.push_back(std::move(p));
    }
}

// Anthropic's own tool kinds, dated (bash_20250124, text_editor_20250728,
// ...): run by Anthropic, or by the client against a schema only Anthropic
// models are trained on. No other wire has a form for them.
bool anthropic_builtin_tool(std::string_view type) {
    static constexpr std::string_view kFamilies[] = {
        "bash_", "text_editor_", "computer_", "web_fetch_", "code_execution_", "memory_",
        "tool_search_tool_regex_", "tool_search_tool_bm25_"};
    for (std::string_view f : kFamilies) {
        if (type.size() <= f.size() || type.substr(0, f.size()) != f) continue;
        std::string_view date = type.substr(f.size());
        if (std::all_of(date.begin(), date.end(), [](char c) { return c >= '0' && c <= '9'; })) return true;
    }
    return type == "mcp_toolset";
}

// Functions (no type, or "custom") become IR tools; web search becomes the
// IR's offer of one; Anthropic's other built-in tools are left out (noted
// for the daemon's warning); any other type is the client's error.
std::string decode_tools(const JsonValue* tools, const Decoder& dec, ir::Request& r, Session& s) {
    if (!tools || tools->IsNull()) return {};
    if (!tools->IsArray()) return "tools: must be an array";
    size_t i = 0;
    for (const auto& t : tools->GetArray()) {
        std::string at = "tools[" + std::to_string(i++) + "]";
        if (!t.IsObject()) return at + ": must be an object";
        std::string_view type = get_string(member(t, "type"));
        if (anthropic_web_search_type(type)) {
            read_anthropic_web_search(t, r);
            continue;
        }
        if (anthropic_builtin_tool(type)) {
            if (std::find(s.dropped_tools.begin(), s.dropped_tools.end(), type) == s.dropped_tools.end())
                s.dropped_tools.emplace_back(type);
            continue;
        }
        if (!type.empty() && type != "custom")
            return at + ": the tool type '" + std::string(type) +
                   "' is not one the gateway can carry to this model's provider (custom tools and web_search can be)";
        ir::Tool tool;
        tool.name.assign(get_string(member(t, "name")));
        if (tool.name.empty()) return at + ": a tool needs a name";
        // A deferred tool is the model's only once a tool search loaded it;
        // other wires cannot defer: it is declared from that turn on.
        if (get_bool(member(t, "defer_loading")).value_or(false) && !dec.loaded.count(tool.name)) continue;
        tool.description.assign(get_string(member(t, "description")));
        const JsonValue* schema = member(t, "input_schema");
        if (is_object(schema)) tool.parameters_json = to_json(*schema);
        tool.strict = get_bool(member(t, "strict"));
        r.tools.push_back(std::move(tool));
    }
    return {};
}

void decode_tool_choice(const JsonValue* tc, ir::Request& r) {
    if (!is_object(tc)) return;
    std::string_view type = get_string(member(*tc, "type"));
    if (type == "auto") r.tool_choice.mode = ir::ToolChoiceMode::Auto;
    else if (type == "any") r.tool_choice.mode = ir::ToolChoiceMode::Required;
    else if (type == "none") r.tool_choice.mode = ir::ToolChoiceMode::None;
    else if (type == "tool") {
        r.tool_choice.mode = ir::ToolChoiceMode::Named;
        r.tool_choice.name.assign(get_string(member(*tc, "name")));
    }
    if (get_bool(member(*tc, "disable_parallel_tool_use")).value_or(false)) r.parallel_tool_calls = false;
}

void decode_thinking(const JsonValue& root, ir::Request& r) {
    const JsonValue* th = member(root, "thinking");
    const JsonValue* oc = member(root, "output_config");
    std::string_view type = is_object(th) ? get_string(member(*th, "type")) : std::string_view{};
    if (type == "enabled") {
        r.reasoning.mode = ir::ReasoningMode::Budget;
        r.reasoning.budget = get_int(member(*th, "budget_tokens")).value_or(8192);
    } else if (type == "disabled") {
        r.reasoning.mode = ir::ReasoningMode::Off;
    } else if (type == "adaptive") {
        r.reasoning.mode = ir::ReasoningMode::Adaptive;
        if (oc) r.reasoning.effort.assign(get_string(member(*oc, "effort")));
    }
    if (is_object(th) && type != "disabled") {
        // An Anthropic client with thinking on shows the thinking: ask other
        // wires for it (Responses sends no summary unless asked).
        std::string_view display = get_string(member(*th, "display"));
        r.reasoning.include_thoughts = display != "omitted";
    }
}

void decode_format(const JsonValue* oc, ir::Request& r) {
    if (!is_object(oc)) return;
    const JsonValue* f = member(*oc, "format");
    if (!is_object(f) || get_string(member(*f, "type")) != "json_schema") return;
    r.format.kind = ir::FormatKind::JsonSchema;
    const JsonValue* schema = member(*f, "schema");
    if (is_object(schema)) r.format.schema_json = to_json(*schema);
    r.format.name.assign(get_string(member(*f, "name")));
}

}  // namespace

Result<ir::Request> decode_anthropic_request(const JsonValue& doc, Session& s) {
    using R = Result<ir::Request>;

    ir::Request r;
    r.model.assign(get_string(member(doc, "model")));
    r.stream = get_bool(member(doc, "stream")).value_or(false);
    decode_system(member(doc, "system"), r.system);

    const JsonValue* msgs = member(doc, "messages");
    if (!is_array(msgs)) return R::fail(400, "messages: an array is required");
    Decoder dec{r, {}, {}};
    size_t i = 0;
    for (const auto& m : msgs->GetArray()) {
        std::string at = "messages[" + std::to_string(i++) + "]";
        if (!m.IsObject()) return R::fail(400, at + ": must be an object");
        std::string_view role = get_string(member(m, "role"));
        const JsonValue* c = member(m, "content");
        if (role == "system") {  // Claude Code: system turns inside messages (§4.2, §7.27)
            if (c && c->IsString()) {
                decode_system(c, r.system);
            } else if (is_array(c)) {
                std::vector<Part> parts;
                dec.content(c, parts);
                for (auto& p : parts)
                    if (p.kind == PartKind::Text) r.system.push_back(std::move(p));
            }
            continue;
        }
        ir::Message msg;
        if (role == "user") msg.role = ir::Role::User;
        else if (role == "assistant") msg.role = ir::Role::Assistant;
        else return R::fail(400, at + ".role: unknown role \"" + std::string(role) + "\"");
        if (!dec.content(c, msg.parts)) return R::fail(400, at + ".content: must be a string or an array of blocks");
        r.messages.push_back(std::move(msg));
    }

    if (std::string err = decode_tools(member(doc, "tools"), dec, r, s); !err.empty()) return R::fail(400, err);
    decode_tool_choice(member(doc, "tool_choice"), r);
    decode_thinking(doc, r);
    decode_format(member(doc, "output_config"), r);
    if (const JsonValue* st = member(doc, "stop_sequences"); is_array(st))
        for (const auto& v : st->GetArray())
            if (v.IsString()) r.stop.emplace_back(v.GetString(), v.GetStringLength());
    r.max_tokens = get_int(member(doc, "max_tokens"));
    r.temperature = get_double(member(doc, "temperature"));
    r.top_p = get_double(member(doc, "top_p"));
    r.top_k = get_int(member(doc, "top_k"));
    if (const JsonValue* md = member(doc, "metadata")) r.user.assign(get_string(member(*md, "user_id")));
    return r;
}

// ---------------------------------------------------------------- encode

namespace {

bool valid_name(std::string_view n) {
    if (n.empty() || n.size() > 128) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

bool valid_id(std::string_view n) {
    if (n.empty()) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

std::string sanitized(std::string_view n, size_t max_len) {
    std::string out;
    for (unsigned char c : n) out.push_back(std::isalnum(c) || c == '_' || c == '-' ? char(c) : '_');
    if (out.size() > max_len) out.resize(max_len);
    return out;
}

// `base` made unique among `used` (a numeric suffix, kept within max_len).
std::string unique(std::string base, std::set<std::string>& used, size_t max_len) {
    std::string cand = base;
    for (int k = 2; used.count(cand); ++k) {
        std::string suffix = "_" + std::to_string(k);
        cand = base.substr(0, std::min(base.size(), max_len - suffix.size())) + suffix;
    }
    used.insert(cand);
    return cand;
}

bool usable_signature(const Part& p, const Session& s) {
    return !p.signature.empty() && signature_valid_for(p.origin, s);
}

std::string guess_image_mime(std::string_view b64) {
    if (b64.substr(0, 4) == "/9j/") return "image/jpeg";
    if (b64.substr(0, 5) == "iVBOR") return "image/png";
    if (b64.substr(0, 4) == "R0lG") return "image/gif";
    if (b64.substr(0, 5) == "UklGR") return "image/webp";
    return {};
}

std::string lower(std::string_view s) {
    std::string o(s);
    for (auto& c : o) c = char(std::tolower(static_cast<unsigned char>(c)));
    return o;
}

struct Turn {
    ir::Role role = ir::Role::User;
    std::vector<const Part*> results;  // user: tool_result blocks, sent first
    std::vector<const Part*> parts;
};

enum class Think { None, Disabled, Enabled, Adaptive };

struct Encoder {
    const ir::Request& r;
    Session& s;
    std::string err;             // first fatal problem (-> 400)
    std::list<Part> store;       // parts made up here (stable addresses; nothing allocated while empty)

    Part& made(PartKind kind) {
        store.emplace_back();
        store.back().kind = kind;
        return store.back();
    }

    // ---- names and ids

    void map_names_and_ids() {
        std::vector<std::string_view> names, ids;
        for (const auto& t : r.tools) names.push_back(t.name);
        if (!r.tool_choice.name.empty()) names.push_back(r.tool_choice.name);
        for (const auto& m : r.messages)
            for (const auto& p : m.parts) {
                if (p.kind == PartKind::ToolCall || p.kind == PartKind::ToolResult) {
                    if (!p.name.empty()) names.push_back(p.name);
                    ids.push_back(p.call_id);
                }
            }
        std::set<std::string> used;
        for (auto n : names)
            if (valid_name(n)) used.emplace(n);
        for (auto n : names) {
            if (valid_name(n) || s.upstream_tool_name(n) != n) continue;
            std::string base = sanitized(n, 128);
            if (base.empty()) base = "tool";
            s.map_tool_name(std::string(n), unique(base, used, 128));
        }
        std::set<std::string> used_ids;
        for (auto id : ids)
            if (valid_id(id)) used_ids.emplace(id);
        for (auto id : ids) {
            if (valid_id(id) || s.upstream_call_id(id) != id) continue;
            std::string base = id.empty() ? s.new_id("toolu_") : sanitized(id, 256);
            s.map_call_id(std::string(id), unique(base, used_ids, 256));
        }
    }

    // ---- block writers

    static void cache(JsonWriter& w, const Part& p) {
        if (!p.cache_control) return;
        w.Key("cache_control");
        w.StartObject();
        kv(w, "type", "ephemeral");
        w.EndObject();
    }

    void text_block(JsonWriter& w, const Part& p) {
        w.StartObject();
        kv(w, "type", "text");
        kv(w, "text", p.text);
        cache(w, p);
        w.EndObject();
    }

    void image_block(JsonWriter& w, const Part& p) {
        std::string mime = lower(p.media.mime), data = p.media.data;
        if (data.empty() && !p.media.url.empty()) parse_data_url(p.media.url, mime, data), mime = lower(mime);
        w.StartObject();
        kv(w, "type", "image");
        w.Key("source");
        w.StartObject();
        if (!data.empty()) {
            if (mime == "image/jpg") mime = "image/jpeg";
            if (mime.empty() || mime == "application/octet-stream") mime = guess_image_mime(data);
            if (mime != "image/jpeg" && mime != "image/png" && mime != "image/gif" && mime != "image/webp" && err.empty())
                err = "image type \"" + p.media.mime + "\" is not supported by this model (jpeg, png, gif or webp only)";
            kv(w, "type", "base64");
            kv(w, "media_type", mime);
            kv(w, "data", data);
        } else if (!p.media.url.empty()) {
            kv(w, "type", "url");
            kv(w, "url", p.media.url);
        } else {
            kv(w, "type", "file");
            kv(w, "file_id", p.media.file_id);
        }
        w.EndObject();
        cache(w, p);
        w.EndObject();
    }

    void document_block(JsonWriter& w, const Part& p) {
        std::string mime = lower(p.media.mime), data = p.media.data;
        if (data.empty() && !p.media.url.empty()) parse_data_url(p.media.url, mime, data), mime = lower(mime);
        if (!data.empty() && mime.substr(0, 6) == "image/") return image_block(w, p);
        w.StartObject();
        kv(w, "type", "document");
        w.Key("source");
        w.StartObject();
        if (!data.empty()) {
            if (mime == "application/pdf") {
                kv(w, "type", "base64");
                kv(w, "media_type", "application/pdf");
                kv(w, "data", data);
            } else {
                std::string text;
                bool is_text = mime.empty() || mime.substr(0, 5) == "text/" || mime == "application/json" ||
                               mime == "application/xml";
                if ((!is_text || !base64_decode(data, text)) && err.empty())
                    err = "file type \"" + p.media.mime + "\" is not supported by this model (PDF or plain text only)";
                kv(w, "type", "text");
                kv(w, "media_type", "text/plain");
                kv(w, "data", text);
            }
        } else if (!p.media.url.empty()) {
            kv(w, "type", "url");
            kv(w, "url", p.media.url);
        } else {
            kv(w, "type", "file");
            kv(w, "file_id", p.media.file_id);
        }
        w.EndObject();
        if (!p.media.filename.empty()) {
            kv(w, "title", p.media.filename);
        }
        cache(w, p);
        w.EndObject();
    }

    void media_block(JsonWriter& w, const Part& p) {
        if (p.kind == PartKind::Image) image_block(w, p);
        else if (p.kind == PartKind::File) document_block(w, p);
        else if (err.empty()) err = "audio input is not supported by Anthropic models";
    }

    void tool_use_block(JsonWriter& w, const Part& p) {
        w.StartObject();
        kv(w, "type", "tool_use");
        kv(w, "id", s.upstream_call_id(p.call_id));
        kv(w, "name", s.upstream_tool_name(p.name));
        w.Key("input");
        write_raw(w, repair_args_json(p.args_json));
        cache(w, p);
        w.EndObject();
    }

    void tool_result_block(JsonWriter& w, const Part& p) {
        w.StartObject();
        kv(w, "type", "tool_result");
        kv(w, "tool_use_id", s.upstream_call_id(p.call_id));
        bool any = std::any_of(p.content.begin(), p.content.end(),
                               [](const Part& c) { return c.kind != PartKind::Text || !blank(c.text); });
        if (any) {
            w.Key("content");
            w.StartArray();
            for (const auto& c : p.content) {
                if (c.kind == PartKind::Text) {
                    if (!blank(c.text)) text_block(w, c);
                } else {
                    media_block(w, c);
                }
            }
            w.EndArray();
        }
        if (p.is_error) {
            w.Key("is_error");
            w.Bool(true);
        }
        cache(w, p);
        w.EndObject();
    }

    void block(JsonWriter& w, const Part& p) {
        switch (p.kind) {
            case PartKind::Text: text_block(w, p); break;
            case PartKind::Image:
            case PartKind::File:
            case PartKind::Audio: media_block(w, p); break;
            case PartKind::ToolCall: tool_use_block(w, p); break;
            case PartKind::ToolResult: tool_result_block(w, p); break;
            case PartKind::Thinking:
                w.StartObject();
                kv(w, "type", "thinking");
                kv(w, "thinking", p.text);
                kv(w, "signature", p.signature);
                w.EndObject();
                break;
            case PartKind::RedactedThinking:
                w.StartObject();
                kv(w, "type", "redacted_thinking");
                kv(w, "data", p.signature);
                w.EndObject();
                break;
            case PartKind::WebSearch: break;  // never collected (below)
        }
    }

    // ---- turns

    // IR messages -> filtered, merged turns (§6.3, §7.7, §7.17).
    std::vector<Turn> collect() {
        std::vector<Turn> turns;
        turns.reserve(r.messages.size());
        for (const auto& m : r.messages) {
            Turn t;
            t.role = m.role;
            bool user = m.role == ir::Role::User;
            for (const auto& p : m.parts) {
                switch (p.kind) {
                    case PartKind::Text:
                        if (!blank(p.text)) t.parts.push_back(&p);
                        break;
                    case PartKind::Audio:
                        if (err.empty()) err = "audio input is not supported by Anthropic models";
                        break;
                    case PartKind::Image:
                    case PartKind::File:
                        if (user) t.parts.push_back(&p);
                        break;
                    case PartKind::ToolCall:
                        if (!user) t.parts.push_back(&p);
                        break;
                    case PartKind::ToolResult:
                        if (user) t.results.push_back(&p);
                        break;
                    case PartKind::Thinking:  // only signatures this upstream made (§7.17)
                        if (!user && usable_signature(p, s)) t.parts.push_back(&p);
                        break;
                    case PartKind::RedactedThinking:
                        if (!user && usable_signature(p, s) && p.origin.protocol == Protocol::Anthropic)
                            t.parts.push_back(&p);
                        break;
                    case PartKind::WebSearch:  // a past search is not replayed: its text answer is
                        break;
                }
                for (const auto& c : p.content)
                    if (p.kind == PartKind::ToolResult && c.kind == PartKind::Audio && err.empty())
                        err = "audio input is not supported by Anthropic models";
            }
            if (t.parts.empty() && t.results.empty()) continue;
            if (!turns.empty() && turns.back().role == t.role) {
                auto& b = turns.back();
                b.results.insert(b.results.end(), t.results.begin(), t.results.end());
                b.parts.insert(b.parts.end(), t.parts.begin(), t.parts.end());
            } else {
                turns.push_back(std::move(t));
            }
        }
        return turns;
    }

    const Part* synthetic_result(const Part& call) {
        Part& res = made(PartKind::ToolResult);
        res.call_id = call.call_id;
        res.name = call.name;
        res.is_error = true;
        Part t;
        t.text = "no result was recorded for this call";
        res.content.push_back(std::move(t));
        return &res;
    }

    // A tool_result that answers no tool_use of the turn before: its content as user text.
    void orphan_result(const Part& res, std::vector<const Part*>& out) {
        Part& t = made(PartKind::Text);
        t.text = std::string(res.is_error ? "Error from" : "Result of") + " an earlier tool call (" +
                 (res.name.empty() ? res.call_id : res.name) + "):";
        bool any_text = false;
        for (const auto& c : res.content)
            if (c.kind == PartKind::Text && !blank(c.text)) t.text += (any_text ? "\n" : " ") + c.text, any_text = true;
        if (!any_text) t.text += " (no output)";
        out.push_back(&t);
        for (const auto& c : res.content)
            if (c.kind == PartKind::Image || c.kind == PartKind::File) out.push_back(&c);
    }

    // Every tool_use answered in the next user turn, results first; orphan
    // results turned into text; a leading user turn (§4.3, §6.3, §7.6).
    std::vector<Turn> pair(std::vector<Turn> turns) {
        std::vector<Turn> out;
        out.reserve(turns.size() + 1);
        std::vector<const Part*> pending;  // tool_use parts of the previous assistant turn
        for (size_t i = 0; i < turns.size(); ++i) {
            Turn& t = turns[i];
            if (t.role == ir::Role::Assistant) {
                pending.clear();
                for (const Part* p : t.parts)
                    if (p->kind == PartKind::ToolCall) pending.push_back(p);
                out.push_back(std::move(t));
                if (!pending.empty() && (i + 1 == turns.size() || turns[i + 1].role != ir::Role::User)) {
                    Turn u;
                    for (const Part* c : pending) u.results.push_back(synthetic_result(*c));
                    out.push_back(std::move(u));
                    pending.clear();
                }
                continue;
            }
            Turn u;
            std::vector<const Part*> orphans;
            std::set<std::string> answered;
            for (const Part* res : t.results) {
                bool expected = std::any_of(pending.begin(), pending.end(),
                                            [&](const Part* c) { return c->call_id == res->call_id; });
                if (expected && answered.insert(res->call_id).second) u.results.push_back(res);
                else orphan_result(*res, orphans);
            }
            for (const Part* c : pending)
                if (!answered.count(c->call_id)) u.results.push_back(synthetic_result(*c));
            if (orphans.empty()) {
                u.parts = std::move(t.parts);
            } else {
                u.parts = std::move(orphans);
                u.parts.insert(u.parts.end(), t.parts.begin(), t.parts.end());
            }
            pending.clear();
            out.push_back(std::move(u));
        }
        if (out.empty() || out.front().role == ir::Role::Assistant) {
            Turn u;
            Part& t = made(PartKind::Text);
            t.text = "(conversation continues)";
            u.parts.push_back(&t);
            out.insert(out.begin(), std::move(u));
        }
        return out;
    }

    // With thinking on, the last assistant turn with tool_use must start with
    // its signed thinking block: restore it from the cache or give up thinking (§7.18).
    bool thinking_possible(std::vector<Turn>& turns) {
        for (auto it = turns.rbegin(); it != turns.rend(); ++it) {
            if (it->role != ir::Role::Assistant) continue;
            const Part* first_call = nullptr;
            for (const Part* p : it->parts)
                if (p->kind == PartKind::ToolCall) {
                    first_call = p;
                    break;
                }
            if (!first_call) continue;
            PartKind k = it->parts.front()->kind;
            if (k == PartKind::Thinking || k == PartKind::RedactedThinking) return true;
            if (!s.signatures) return false;
            auto hit = s.signatures->get(first_call->call_id);
            if (!hit || hit->protocol != Protocol::Anthropic || hit->model != s.upstream_model || hit->signature.empty())
                return false;
            Part& th = made(PartKind::Thinking);
            th.text = hit->thinking;
            th.signature = hit->signature;
            th.origin = ir::Origin{Protocol::Anthropic, s.upstream_model};
            it->parts.insert(it->parts.begin(), &th);
            return true;
        }
        return true;
    }

    // A trailing assistant turn (a prefill): no thinking blocks when thinking
    // is off, and no trailing whitespace (the API rejects both).
    void fix_prefill(std::vector<Turn>& turns, bool thinking_on) {
        if (turns.empty() || turns.back().role != ir::Role::Assistant) return;
        auto& parts = turns.back().parts;
        if (!thinking_on)
            parts.erase(std::remove_if(parts.begin(), parts.end(),
                                       [](const Part* p) {
                                           return p->kind == PartKind::Thinking || p->kind == PartKind::RedactedThinking;
                                       }),
                        parts.end());
        if (!parts.empty() && parts.back()->kind == PartKind::Text) {
            Part& t = made(PartKind::Text);
            t = *parts.back();
            while (!t.text.empty() && std::isspace(static_cast<unsigned char>(t.text.back()))) t.text.pop_back();
            parts.back() = &t;
        }
        if (parts.empty()) turns.pop_back();
    }

    void write_turns(JsonWriter& w, const std::vector<Turn>& turns) {
        w.Key("messages");
        w.StartArray();
        for (const auto& t : turns) {
            w.StartObject();
            w.Key("role");
            w.String(t.role == ir::Role::User ? "user" : "assistant");
            w.Key("content");
            w.StartArray();
            for (const Part* p : t.results) block(w, *p);
            for (const Part* p : t.parts) block(w, *p);
            w.EndArray();
            w.EndObject();
        }
        w.EndArray();
    }
};

}  // namespace

Result<std::string> encode_anthropic_request(const ir::Request& r, Session& s) {
    using R = Result<std::string>;
    if (r.n && *r.n > 1) return R::fail(400, "n > 1 is not supported by Anthropic models");

    Encoder e{r, s, {}, {}};
    e.map_names_and_ids();
    std::vector<Turn> turns = e.pair(e.collect());
    if (!e.err.empty()) return R::fail(400, e.err);

    // Thinking (§6.11).
    Think think = Think::None;
    int64_t budget = 0;
    std::string effort = r.reasoning.effort;
    switch (r.reasoning.mode) {
        case ir::ReasoningMode::Unset: break;
        case ir::ReasoningMode::Off: think = Think::Disabled; break;
        case ir::ReasoningMode::Effort:
            if (effort == "none") think = Think::Disabled;
            else think = Think::Enabled, budget = std::max<int64_t>(1024, effort_to_budget(effort, 32000));
            break;
        case ir::ReasoningMode::Budget:
            budget = r.reasoning.budget < 0 ? 8192 : std::max<int64_t>(1024, r.reasoning.budget);
            think = r.reasoning.budget == 0 ? Think::Disabled : Think::Enabled;
            break;
        case ir::ReasoningMode::Adaptive:
            think = effort == "none" ? Think::Disabled : Think::Adaptive;
            if (effort == "minimal") effort = "low";
            break;
    }
    bool thinking_on = think == Think::Enabled || think == Think::Adaptive;
    if (thinking_on && !e.thinking_possible(turns)) think = Think::None, thinking_on = false;
    e.fix_prefill(turns, thinking_on);

    int64_t max_tokens = r.max_tokens && *r.max_tokens > 0 ? *r.max_tokens : s.default_max_tokens;
    if (think == Think::Enabled && max_tokens <= budget) {
        if (r.max_tokens) budget = std::max<int64_t>(1024, max_tokens / 2);
        if (max_tokens <= budget) max_tokens = budget + 4096;
    }

    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    w.StartObject();
    kv(w, "model", s.upstream_model);
    w.Key("max_tokens");
    w.Int64(max_tokens);

    // System: the client's text blocks, plus the JSON-object instruction.
    bool json_object = r.format.kind == ir::FormatKind::JsonObject ||
                       (r.format.kind == ir::FormatKind::JsonSchema && r.format.schema_json.empty());
    bool any_system = json_object || std::any_of(r.system.begin(), r.system.end(), [](const Part& p) { return !blank(p.text); });
    if (any_system) {
        w.Key("system");
        w.StartArray();
        for (const auto& p : r.system)
            if (!blank(p.text)) e.text_block(w, p);
        if (json_object) {
            Part p;
            p.text = "Respond with a single valid JSON object only, with no text before or after it.";
            e.text_block(w, p);
        }
        w.EndArray();
    }

    e.write_turns(w, turns);

    // Tools; a history with tool blocks but no tools still needs definitions.
    std::vector<const ir::Tool*> tools;
    for (const auto& t : r.tools) {
        const auto& allowed = r.tool_choice.allowed;
        if (allowed.empty() || std::find(allowed.begin(), allowed.end(), t.name) != allowed.end()) tools.push_back(&t);
    }
    std::vector<ir::Tool> stubs;
    if (tools.empty()) {
        for (const auto& t : turns)
            for (const Part* p : t.parts)
                if (p->kind == PartKind::ToolCall &&
                    std::none_of(stubs.begin(), stubs.end(), [&](const ir::Tool& x) { return x.name == p->name; }))
                    stubs.push_back(ir::Tool{p->name, "", "", std::nullopt});
        for (const auto& t : stubs) tools.push_back(&t);
    }
    if (!tools.empty() || r.web_search) {
        w.Key("tools");
        w.StartArray();
        for (const ir::Tool* t : tools) {
            w.StartObject();
            kv(w, "name", s.upstream_tool_name(t->name));
            if (!t->description.empty()) {
                kv(w, "description", t->description);
            }
            w.Key("input_schema");
            write_raw(w, object_root_schema(t->parameters_json));
            w.EndObject();
        }
        if (r.web_search) write_anthropic_web_search_tool(w, *r.web_search);
        w.EndArray();

        std::string_view type;
        switch (r.tool_choice.mode) {
            case ir::ToolChoiceMode::Unset: type = stubs.empty() ? "" : "none"; break;
            case ir::ToolChoiceMode::Auto: type = "auto"; break;
            case ir::ToolChoiceMode::None: type = "none"; break;
            case ir::ToolChoiceMode::Required: type = "any"; break;
            case ir::ToolChoiceMode::Named: type = r.tool_choice.name.empty() ? "any" : "tool"; break;
        }
        if (thinking_on && (type == "any" || type == "tool")) type = "auto";  // §7.15
        bool no_parallel = r.parallel_tool_calls == false && type != "none";
        if (no_parallel && type.empty()) type = "auto";
        if (!type.empty()) {
            w.Key("tool_choice");
            w.StartObject();
            kv(w, "type", type);
            if (type == "tool") {
                kv(w, "name", s.upstream_tool_name(r.tool_choice.name));
            }
            if (no_parallel) {
                w.Key("disable_parallel_tool_use");
                w.Bool(true);
            }
            w.EndObject();
        }
    }

    if (think != Think::None) {
        w.Key("thinking");
        w.StartObject();
        w.Key("type");
        w.String(think == Think::Disabled ? "disabled" : think == Think::Enabled ? "enabled" : "adaptive");
        if (think == Think::Enabled) {
            w.Key("budget_tokens");
            w.Int64(budget);
        }
        w.EndObject();
    }
    bool schema = r.format.kind == ir::FormatKind::JsonSchema && !r.format.schema_json.empty();
    bool adaptive_effort = think == Think::Adaptive && !effort.empty();
    if (schema || adaptive_effort) {
        w.Key("output_config");
        w.StartObject();
        if (adaptive_effort) {
            kv(w, "effort", effort);
        }
        if (schema) {
            w.Key("format");
            w.StartObject();
            kv(w, "type", "json_schema");
            w.Key("schema");
            write_raw(w, r.format.schema_json);
            w.EndObject();
        }
        w.EndObject();
    }

    // Sampling (§6.8, §7.16): with thinking on, no temperature or top_k, top_p only >= 0.95.
    // Current Claude models refuse temperature and top_p together: temperature wins.
    bool send_temperature = r.temperature && !thinking_on;
    if (send_temperature) {
        w.Key("temperature");
        w.Double(std::clamp(*r.temperature, 0.0, 1.0));
    }
    if (r.top_p && !send_temperature && (!thinking_on || *r.top_p >= 0.95)) {
        w.Key("top_p");
        w.Double(std::clamp(*r.top_p, 0.0, 1.0));
    }
    if (r.top_k && !thinking_on && *r.top_k > 0) {
        w.Key("top_k");
        w.Int64(*r.top_k);
    }
    std::vector<const std::string*> stops;
    for (const auto& st : r.stop)
        if (!blank(st)) stops.push_back(&st);
    if (!stops.empty()) {
        w.Key("stop_sequences");
        w.StartArray();
        for (const auto* st : stops) write_string(w, *st);
        w.EndArray();
    }
    if (!r.user.empty()) {
        w.Key("metadata");
        w.StartObject();
        kv(w, "user_id", r.user);
        w.EndObject();
    }
    if (r.stream) {
        w.Key("stream");
        w.Bool(true);
    }
    w.EndObject();
    if (!e.err.empty()) return R::fail(400, e.err);
    return buf;
}

}  // namespace agd::translate

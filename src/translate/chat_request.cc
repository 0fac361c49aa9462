// OpenAI Chat Completions: client request -> IR, and IR -> upstream request.
// The client side also serves legacy Completions (POST /v1/completions) when
// Session::legacy_completion is set: the prompt becomes one user message.
#include <algorithm>
#include <cctype>
#include <list>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "translate/codecs.h"
#include "translate/custom_tool.h"
#include "translate/tool_schema.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

using Fail = Result<ir::Request>;

// ---------------------------------------------------------------- decoding

// A first error wins; later checks are skipped once one is set.
struct Decoder {
    Session& s;
    ir::Request r;
    std::string error;
    // call id -> function name, from the assistant tool_calls seen so far.
    std::vector<std::pair<std::string, std::string>> call_names;

    bool bad(std::string msg) {
        if (error.empty()) error = std::move(msg);
        return false;
    }

    std::string name_of_call(std::string_view id) const {
        for (auto it = call_names.rbegin(); it != call_names.rend(); ++it)
            if (it->first == id) return it->second;
        return {};
    }
};

// A number field: absent or null leaves it unset; any other non-number is a 400.
template <class T>
bool read_number(Decoder& d, const JsonValue& body, const char* key, std::optional<T>& out) {
    const JsonValue* v = member(body, key);
    if (!v || v->IsNull()) return true;
    if constexpr (std::is_same_v<T, double>) {
        if (auto x = get_double(v)) {
            out = *x;
            return true;
        }
        return d.bad(std::string(key) + " must be a number");
    } else {
        if (auto x = get_int(v)) {
            out = *x;
            return true;
        }
        return d.bad(std::string(key) + " must be an integer");
    }
}

bool text_part(std::string_view text, const JsonValue* part, std::vector<ir::Part>& out) {
    if (text.empty()) return true;
    ir::Part p;
    p.text.assign(text);
    if (part && is_object(member(*part, "cache_control"))) p.cache_control = true;
    out.push_back(std::move(p));
    return true;
}

std::string audio_mime(std::string_view format) {
    if (format == "mp3" || format == "mpeg") return "audio/mpeg";
    if (format.empty() || format == "wav") return "audio/wav";
    return "audio/" + std::string(format);
}

// One user (or tool result) content part.
bool decode_media_part(Decoder& d, const JsonValue& part, std::string_view type, std::vector<ir::Part>& out) {
    ir::Part p;
    if (type == "image_url") {
        const JsonValue* iu = member(part, "image_url");
        std::string_view url = iu && iu->IsString() ? get_string(iu) : get_string(iu ? member(*iu, "url") : nullptr);
        if (url.empty()) return d.bad("image_url part needs image_url.url");
        p.kind = ir::PartKind::Image;
        if (url.substr(0, 5) == "data:") {
            if (!parse_data_url(url, p.media.mime, p.media.data)) return d.bad("image_url: malformed data URL");
        } else {
            p.media.url.assign(url);
        }
        if (iu) p.media.detail.assign(get_string(member(*iu, "detail")));
    } else if (type == "input_audio") {
        const JsonValue* ia = member(part, "input_audio");
        std::string_view data = get_string(ia ? member(*ia, "data") : nullptr);
        if (data.empty()) return d.bad("input_audio part needs input_audio.data");
        p.kind = ir::PartKind::Audio;
        p.media.data.assign(data);
        p.media.mime = audio_mime(get_string(member(*ia, "format")));
    } else if (type == "file") {
        const JsonValue* f = member(part, "file");
        if (!is_object(f)) return d.bad("file part needs a file object");
        p.kind = ir::PartKind::File;
        std::string_view fd = get_string(member(*f, "file_data"));
        p.media.filename.assign(get_string(member(*f, "filename")));
        p.media.file_id.assign(get_string(member(*f, "file_id")));
        if (fd.substr(0, 5) == "data:") {
            if (!parse_data_url(fd, p.media.mime, p.media.data)) return d.bad("file: malformed data URL in file_data");
        } else if (!fd.empty()) {  // bare base64: PDF unless the name says otherwise
            p.media.data.assign(fd);
            std::string_view fn = p.media.filename;
            p.media.mime = fn.size() > 4 && fn.substr(fn.size() - 4) == ".txt" ? "text/plain" : "application/pdf";
        }
        if (p.media.data.empty() && p.media.file_id.empty()) return d.bad("file part needs file_data or file_id");
    } else {
        return d.bad("unsupported content part type '" + std::string(type) + "'");
    }
    out.push_back(std::move(p));
    return true;
}

// Content that is a string or a list of parts. `allow` says which part
// types are accepted beyond text (user: media; assistant: refusal).
enum class Allow { TextOnly, Media, Refusal };

bool decode_content(Decoder& d, const JsonValue* content, Allow allow, std::vector<ir::Part>& out, const char* who) {
    if (!content || content->IsNull()) return true;
    if (content->IsString()) return text_part(get_string(content), nullptr, out);
    if (!content->IsArray()) return d.bad(std::string(who) + " content must be a string or an array of parts");
    for (const JsonValue& part : content->GetArray()) {
        if (!part.IsObject()) return d.bad(std::string(who) + " content parts must be objects");
        std::string_view type = get_string(member(part, "type"));
        if (type == "text" || type == "input_text" || type == "output_text") {
            text_part(get_string(member(part, "text")), &part, out);
        } else if (type == "refusal" && allow == Allow::Refusal) {
            text_part(get_string(member(part, "refusal")), &part, out);
        } else if (allow == Allow::Media) {
            if (!decode_media_part(d, part, type, out)) return false;
        } else if (allow == Allow::TextOnly) {
            continue;  // system/developer: only text means anything
        } else {
            return d.bad(std::string(who) + " content part type '" + std::string(type) + "' is not supported");
        }
    }
    return true;
}

ir::Message& user_turn(Decoder& d, bool for_tool_result) {
    if (!d.r.messages.empty()) {
        ir::Message& last = d.r.messages.back();
        if (last.role == ir::Role::User && for_tool_result && !last.parts.empty() &&
            last.parts.back().kind == ir::PartKind::ToolResult)
            return last;
    }
    d.r.messages.push_back(ir::Message{ir::Role::User, {}});
    return d.r.messages.back();
}

bool decode_tool_call(Decoder& d, const JsonValue& tc, ir::Message& m) {
    if (!tc.IsObject()) return d.bad("tool_calls entries must be objects");
    if (get_string(member(tc, "type")) == "custom") {  // a freeform call: its input is the one argument
        const JsonValue* cu = member(tc, "custom");
        if (!is_object(cu)) return d.bad("tool_calls entries of type custom need a custom object");
        ir::Part p;
        p.kind = ir::PartKind::ToolCall;
        p.call_id.assign(get_string(member(tc, "id")));
        p.name.assign(get_string(member(*cu, "name")));
        if (p.name.empty()) return d.bad("tool_calls entries need custom.name");
        p.args_json = custom_args_json(get_string(member(*cu, "input")));
        d.call_names.emplace_back(p.call_id, p.name);
        m.parts.push_back(std::move(p));
        return true;
    }
    const JsonValue* fn = member(tc, "function");
    if (!is_object(fn)) return d.bad("tool_calls entries need a function object");
    ir::Part p;
    p.kind = ir::PartKind::ToolCall;
    p.call_id.assign(get_string(member(tc, "id")));
    p.name.assign(get_string(member(*fn, "name")));
    if (p.name.empty()) return d.bad("tool_calls entries need function.name");
    const JsonValue* args = member(*fn, "arguments");
    p.args_json = repair_args_json(args && args->IsObject() ? to_json(*args) : std::string(get_string(args)));
    if (const JsonValue* ec = member(tc, "extra_content")) {
        std::string_view sig = get_string(member(member(*ec, "google") ? *member(*ec, "google") : *ec, "thought_signature"));
        if (!sig.empty()) untag_signature(sig, Protocol::OpenAIChat, p);
    }
    d.call_names.emplace_back(p.call_id, p.name);
    m.parts.push_back(std::move(p));
    return true;
}

bool decode_message(Decoder& d, const JsonValue& msg, size_t i) {
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.IsObject()) return d.bad(where + " must be an object");
    std::string_view role = get_string(member(msg, "role"));
    const JsonValue* content = member(msg, "content");
    if (role == "system" || role == "developer") {
        return decode_content(d, content, Allow::TextOnly, d.r.system, where.c_str());
    }
    if (role == "user") {
        if (!content || !(content->IsString() || content->IsArray()))
            return d.bad(where + ": user content must be a string or an array of parts");
        ir::Message m{ir::Role::User, {}};
        if (!decode_content(d, content, Allow::Media, m.parts, where.c_str())) return false;
        if (!m.parts.empty()) d.r.messages.push_back(std::move(m));
        return true;
    }
    if (role == "assistant") {
        ir::Message m{ir::Role::Assistant, {}};
        std::string_view reasoning = get_string(member(msg, "reasoning_content"));
        if (reasoning.empty()) reasoning = get_string(member(msg, "reasoning"));
        if (!reasoning.empty()) {
            ir::Part t;
            t.kind = ir::PartKind::Thinking;
            t.text.assign(reasoning);
            m.parts.push_back(std::move(t));
        }
        if (!decode_content(d, content, Allow::Refusal, m.parts, where.c_str())) return false;
        text_part(get_string(member(msg, "refusal")), nullptr, m.parts);
        if (const JsonValue* tcs = member(msg, "tool_calls"); tcs && !tcs->IsNull()) {
            if (!tcs->IsArray()) return d.bad(where + ": tool_calls must be an array");
            for (const JsonValue& tc : tcs->GetArray())
                if (!decode_tool_call(d, tc, m)) return false;
        }
        if (const JsonValue* fc = member(msg, "function_call"); is_object(fc)) {  // legacy functions
            JsonDoc tc;
            tc.SetObject();
            std::string id = d.s.new_id("call_");
            tc.AddMember("id", rapidjson::Value(id.c_str(), tc.GetAllocator()), tc.GetAllocator());
            tc.AddMember("function", rapidjson::Value(*fc, tc.GetAllocator()), tc.GetAllocator());
            if (!decode_tool_call(d, tc, m)) return false;
        }
        bool calls = std::any_of(m.parts.begin(), m.parts.end(), [](const ir::Part& p) { return p.kind == ir::PartKind::ToolCall; });
        if (calls)  // whitespace next to tool calls is no text (§7.7)
            std::erase_if(m.parts, [](const ir::Part& p) {
                return p.kind == ir::PartKind::Text && p.text.find_first_not_of(" \t\r\n") == std::string::npos;
            });
        if (!m.parts.empty()) d.r.messages.push_back(std::move(m));
        return true;
    }
    if (role == "tool" || role == "function") {
        ir::Part p;
        p.kind = ir::PartKind::ToolResult;
        if (role == "tool") {
            const JsonValue* id = member(msg, "tool_call_id");
            if (!id || !id->IsString()) return d.bad(where + ": tool messages need tool_call_id");
            p.call_id.assign(get_string(id));
            p.name = d.name_of_call(p.call_id);
        } else {  // legacy: the result of the latest call of that function
            p.name.assign(get_string(member(msg, "name")));
            for (auto it = d.call_names.rbegin(); it != d.call_names.rend(); ++it)
                if (it->second == p.name) {
                    p.call_id = it->first;
                    break;
                }
        }
        if (p.name.empty()) p.name.assign(get_string(member(msg, "name")));
        if (!decode_content(d, content, Allow::Media, p.content, where.c_str())) return false;
        user_turn(d, true).parts.push_back(std::move(p));
        return true;
    }
    if (role.empty()) return d.bad(where + ": role is required");
    return d.bad(where + ": unknown role '" + std::string(role) + "'");
}

bool decode_tool_def(Decoder& d, const JsonValue& fn) {
    if (!fn.IsObject()) return d.bad("tools: function must be an object");
    ir::Tool t;
    t.name.assign(get_string(member(fn, "name")));
    if (t.name.empty()) return d.bad("tools: every function needs a name");
    t.description.assign(get_string(member(fn, "description")));
    if (const JsonValue* p = member(fn, "parameters"); is_object(p)) t.parameters_json = to_json(*p);
    t.strict = get_bool(member(fn, "strict"));
    d.r.tools.push_back(std::move(t));
    return true;
}

// A custom (freeform) tool: declared to function-only upstreams as a
// function with one string parameter, its calls written back as custom
// calls (Session::client_tools).
bool decode_custom_tool(Decoder& d, const JsonValue* cu) {
    if (!is_object(cu)) return d.bad("tools: a custom tool needs a custom object");
    ir::Tool t;
    t.name.assign(get_string(member(*cu, "name")));
    if (t.name.empty()) return d.bad("tools: every custom tool needs a name");
    for (const ir::Tool& have : d.r.tools)
        if (have.name == t.name) return true;  // declared twice: once is enough
    t.description.assign(get_string(member(*cu, "description")));
    read_custom_format(member(*cu, "format"), t);
    t.parameters_json = custom_parameters(t);
    d.s.add_client_tool({t.name, {}, t.name, true});
    d.r.tools.push_back(std::move(t));
    return true;
}

bool decode_tools(Decoder& d, const JsonValue& body) {
    if (const JsonValue* tools = member(body, "tools"); tools && !tools->IsNull()) {
        if (!tools->IsArray()) return d.bad("tools must be an array");
        for (const JsonValue& t : tools->GetArray()) {
            std::string_view type = get_string(member(t, "type"));
            if (type == "custom") {
                if (!decode_custom_tool(d, member(t, "custom"))) return false;
                continue;
            }
            if (type != "function") return d.bad("tools: type '" + std::string(type) + "' is not supported");
            const JsonValue* fn = member(t, "function");
            if (!fn || !decode_tool_def(d, *fn)) return d.bad("tools: function must be an object");
        }
    }
    // A search model's web search (gpt-4o-search-preview and kin): the
    // search other wires declare as a tool.
    if (const JsonValue* ws = member(body, "web_search_options"); is_object(ws)) read_chat_web_search(*ws, d.r);
    if (const JsonValue* fns = member(body, "functions"); fns && fns->IsArray() && d.r.tools.empty()) {
        for (const JsonValue& fn : fns->GetArray())
            if (!decode_tool_def(d, fn)) return false;
    }
    ir::ToolChoice& tc = d.r.tool_choice;
    const JsonValue* choice = member(body, "tool_choice");
    if (!choice || choice->IsNull()) choice = member(body, "function_call");
    if (!choice || choice->IsNull()) return true;
    if (choice->IsString()) {
        std::string_view v = get_string(choice);
        if (v == "auto") tc.mode = ir::ToolChoiceMode::Auto;
        else if (v == "none") tc.mode = ir::ToolChoiceMode::None;
        else if (v == "required") tc.mode = ir::ToolChoiceMode::Required;
        else return d.bad("tool_choice: unknown value '" + std::string(v) + "'");
        return true;
    }
    if (!choice->IsObject()) return d.bad("tool_choice must be a string or an object");
    std::string_view type = get_string(member(*choice, "type"));
    if (type == "allowed_tools") {
        const JsonValue* at = member(*choice, "allowed_tools");
        if (!is_object(at)) at = choice;
        tc.mode = get_string(member(*at, "mode")) == "required" ? ir::ToolChoiceMode::Required : ir::ToolChoiceMode::Auto;
        if (const JsonValue* list = member(*at, "tools"); is_array(list)) {
            for (const JsonValue& t : list->GetArray()) {
                const JsonValue* fn = member(t, "function");
                if (!is_object(fn)) fn = member(t, "custom");
                std::string_view n = get_string(fn ? member(*fn, "name") : member(t, "name"));
                if (!n.empty()) tc.allowed.emplace_back(n);
            }
        }
        return true;
    }
    const JsonValue* fn = member(*choice, type == "custom" ? "custom" : "function");
    std::string_view name = get_string(is_object(fn) ? member(*fn, "name") : member(*choice, "name"));
    if (name.empty())
        return d.bad(type == "custom" ? "tool_choice: a named choice needs custom.name"
                                      : "tool_choice: a named choice needs function.name");
    tc.mode = ir::ToolChoiceMode::Named;
    tc.name.assign(name);
    return true;
}

bool decode_format(Decoder& d, const JsonValue& body) {
    const JsonValue* rf = member(body, "response_format");
    if (!rf || rf->IsNull()) return true;
    if (!rf->IsObject()) return d.bad("response_format must be an object");
    std::string_view type = get_string(member(*rf, "type"));
    ir::ResponseFormat& f = d.r.format;
    if (type == "text") {
        f.kind = ir::FormatKind::Text;
    } else if (type == "json_object") {
        f.kind = ir::FormatKind::JsonObject;
    } else if (type == "json_schema") {
        const JsonValue* js = member(*rf, "json_schema");
        if (!is_object(js)) return d.bad("response_format: json_schema object is required");
        f.kind = ir::FormatKind::JsonSchema;
        f.name.assign(get_string(member(*js, "name")));
        f.description.assign(get_string(member(*js, "description")));
        if (const JsonValue* sc = member(*js, "schema"); is_object(sc)) f.schema_json = to_json(*sc);
        f.strict = get_bool(member(*js, "strict"));
    } else {
        return d.bad("response_format: unknown type '" + std::string(type) + "'");
    }
    return true;
}

bool decode_stop(Decoder& d, const JsonValue& body) {
    const JsonValue* stop = member(body, "stop");
    if (!stop || stop->IsNull()) return true;
    if (stop->IsString()) {
        if (stop->GetStringLength()) d.r.stop.emplace_back(get_string(stop));
        return true;
    }
    if (!stop->IsArray()) return d.bad("stop must be a string or an array of strings");
    for (const JsonValue& x : stop->GetArray()) {
        if (!x.IsString()) return d.bad("stop must be a string or an array of strings");
        if (x.GetStringLength()) d.r.stop.emplace_back(get_string(&x));
    }
    return true;
}

// Sampling and the other scalar parameters both endpoints share.
bool decode_params(Decoder& d, const JsonValue& body) {
    ir::Request& r = d.r;
    std::optional<int64_t> mct;
    if (!read_number(d, body, "max_completion_tokens", mct) || !read_number(d, body, "max_tokens", r.max_tokens) ||
        !read_number(d, body, "temperature", r.temperature) || !read_number(d, body, "top_p", r.top_p) ||
        !read_number(d, body, "top_k", r.top_k) || !read_number(d, body, "seed", r.seed) ||
        !read_number(d, body, "n", r.n) || !read_number(d, body, "presence_penalty", r.presence_penalty) ||
        !read_number(d, body, "frequency_penalty", r.frequency_penalty))
        return false;
    if (mct) r.max_tokens = mct;
    if (!decode_stop(d, body)) return false;
    if (const JsonValue* ptc = member(body, "parallel_tool_calls"); ptc && !ptc->IsNull()) {
        if (!ptc->IsBool()) return d.bad("parallel_tool_calls must be a boolean");
        r.parallel_tool_calls = ptc->GetBool();
    }
    r.user.assign(get_string(member(body, "user")));
    if (r.user.empty()) r.user.assign(get_string(member(body, "safety_identifier")));
    if (const JsonValue* st = member(body, "stream"); st && !st->IsNull()) {
        if (!st->IsBool()) return d.bad("stream must be a boolean");
        r.stream = st->GetBool();
    }
    if (const JsonValue* so = member(body, "stream_options"); is_object(so))
        r.include_usage = r.stream && get_bool(member(*so, "include_usage")).value_or(false);
    return true;
}

bool decode_reasoning(Decoder& d, const JsonValue& body) {
    const JsonValue* re = member(body, "reasoning_effort");
    if (!re || re->IsNull()) return true;
    if (!re->IsString()) return d.bad("reasoning_effort must be a string");
    std::string_view e = get_string(re);
    d.r.reasoning.effort.assign(e);
    d.r.reasoning.mode = e == "none" ? ir::ReasoningMode::Off : ir::ReasoningMode::Effort;
    return true;
}

bool decode_legacy_prompt(Decoder& d, const JsonValue& body) {
    const JsonValue* prompt = member(body, "prompt");
    std::string_view text;
    if (prompt && prompt->IsString()) {
        text = get_string(prompt);
    } else if (prompt && prompt->IsArray()) {
        if (prompt->Size() != 1 || !(*prompt)[0].IsString())
            return d.bad("prompt: only a string or an array of exactly one string is supported");
        text = get_string(&(*prompt)[0]);
    } else {
        return d.bad("prompt must be a string");
    }
    if (get_bool(member(body, "echo")).value_or(false)) return d.bad("echo is not supported");
    if (!get_string(member(body, "suffix")).empty()) return d.bad("suffix is not supported");
    if (get_int(member(body, "best_of")).value_or(1) > 1) return d.bad("best_of > 1 is not supported");
    ir::Message m{ir::Role::User, {}};
    ir::Part p;
    p.text.assign(text);
    m.parts.push_back(std::move(p));
    d.r.messages.push_back(std::move(m));
    d.r.legacy_completion = true;
    if (!d.r.max_tokens) d.r.max_tokens = 16;  // the endpoint's documented default
    return true;
}

// ---------------------------------------------------------------- encoding

bool valid_tool_name(std::string_view n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
}

// Names valid for Chat ([a-zA-Z0-9_-]{1,64}), unique, recorded in the Session.
class ToolNames {
public:
    ToolNames(Session& s, const ir::Request& r) : s_(s) {
        for (const ir::Tool& t : r.tools)
            if (valid_tool_name(t.name) && used_.insert(t.name).second) done_.emplace_back(t.name, t.name);
    }
    std::string get(std::string_view client) {
        for (const auto& [c, u] : done_)
            if (c == client) return u;
        std::string base;
        for (char c : client) base.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_');
        if (base.empty()) base = "tool";
        if (base.size() > 64) base.resize(64);
        std::string name = base;
        for (int k = 2; used_.count(name); ++k) {
            std::string suffix = "_" + std::to_string(k);
            name = base.substr(0, 64 - suffix.size()) + suffix;
        }
        used_.insert(name);
        done_.emplace_back(std::string(client), name);
        s_.map_tool_name(std::string(client), name);
        return name;
    }

private:
    Session& s_;
    std::set<std::string> used_;
    std::vector<std::pair<std::string, std::string>> done_;
};

// Tool calls of the latest assistant turn and their answers. Chat wants
// every call answered by a tool message right after its assistant message,
// and no tool message that answers nothing (§6.3, §7.6). Call ids: OpenAI
// caps them at 40 characters; empty ones are minted and answered by the
// next id-less result of the same function.
class Calls {
public:
    explicit Calls(Session& s) : s_(s) {}

    std::string for_call(const ir::Part& p) {
        std::string id = p.call_id.empty() ? s_.new_id("call_") : upstream_id(p.call_id);
        open_.push_back(Open{p.call_id, id, p.name});
        return id;
    }
    // The upstream id of the open call this result answers; "" for none.
    std::string answer(const ir::Part& res) {
        for (Open& o : open_) {
            if (o.answered) continue;
            bool match = !res.call_id.empty() ? o.client_id == res.call_id
                                              : o.client_id.empty() && (res.name.empty() || res.name == o.name);
            if (match) {
                o.answered = true;
                return o.upstream_id;
            }
        }
        return {};
    }
    // Ids of the open calls nobody answered; forgets the turn.
    std::vector<std::string> close_turn() {
        std::vector<std::string> out;
        for (const Open& o : open_)
            if (!o.answered) out.push_back(o.upstream_id);
        open_.clear();
        return out;
    }

private:
    struct Open {
        std::string client_id, upstream_id, name;
        bool answered = false;
    };
    std::string upstream_id(const std::string& client) {
        if (client.size() <= 40) return client;
        std::string mapped = s_.upstream_call_id(client);
        if (mapped != client) return mapped;
        std::string id = s_.new_id("call_");
        s_.map_call_id(client, id);
        return id;
    }
    Session& s_;
    std::vector<Open> open_;
};

struct Encoder {
    Encoder(const ir::Request& req, Session& sess) : r(req), s(sess), names(sess, req), calls(sess), w(buf) {}
    const ir::Request& r;
    Session& s;
    ToolNames names;
    Calls calls;
    std::list<ir::Part> made;  // parts written that the IR does not hold (stable addresses; nothing allocated while empty)
    std::string buf;
    JsonWriter w;
    std::string error;
};

std::string audio_format(std::string_view mime) {
    if (mime == "audio/mpeg" || mime == "audio/mp3") return "mp3";
    if (mime == "audio/wav" || mime == "audio/x-wav" || mime == "audio/wave" || mime.empty()) return "wav";
    return std::string(mime.substr(0, 6) == "audio/" ? mime.substr(6) : mime);
}

bool write_media(Encoder& e, const ir::Part& p) {
    JsonWriter& w = e.w;
    const ir::Media& m = p.media;
    if (p.kind == ir::PartKind::Image) {
        std::string url = !m.data.empty() ? make_data_url(m.mime, m.data) : m.url;
        if (url.empty()) {
            e.error = "an image given only by file id cannot be sent to a Chat Completions upstream";
            return false;
        }
        w.StartObject();
        write_key(w, "type"), write_string(w, "image_url");
        write_key(w, "image_url"), w.StartObject();
        write_key(w, "url"), write_string(w, url);
        if (!m.detail.empty()) write_key(w, "detail"), write_string(w, m.detail);
        w.EndObject();
        w.EndObject();
    } else if (p.kind == ir::PartKind::Audio) {
        if (m.data.empty()) {
            e.error = "audio given by URL cannot be sent to a Chat Completions upstream";
            return false;
        }
        w.StartObject();
        write_key(w, "type"), write_string(w, "input_audio");
        write_key(w, "input_audio"), w.StartObject();
        write_key(w, "data"), write_string(w, m.data);
        write_key(w, "format"), write_string(w, audio_format(m.mime));
        w.EndObject();
        w.EndObject();
    } else {  // File
        if (m.data.empty() && m.file_id.empty()) {
            e.error = "a file given by URL cannot be sent to a Chat Completions upstream";
            return false;
        }
        w.StartObject();
        write_key(w, "type"), write_string(w, "file");
        write_key(w, "file"), w.StartObject();
        if (!m.data.empty()) {
            write_key(w, "file_data"), write_string(w, make_data_url(m.mime, m.data));
            std::string fn = m.filename;
            if (fn.empty()) fn = m.mime == "application/pdf" || m.mime.empty() ? "file.pdf" : "file";
            write_key(w, "filename"), write_string(w, fn);
        } else {
            write_key(w, "file_id"), write_string(w, m.file_id);
            if (!m.filename.empty()) write_key(w, "filename"), write_string(w, m.filename);
        }
        w.EndObject();
        w.EndObject();
    }
    return true;
}

bool is_media(const ir::Part& p) {
    return p.kind == ir::PartKind::Image || p.kind == ir::PartKind::Audio || p.kind == ir::PartKind::File;
}

// A user message of the given parts: a plain string when it is one text.
bool write_user(Encoder& e, const std::vector<const ir::Part*>& parts) {
    if (parts.empty()) return true;
    JsonWriter& w = e.w;
    w.StartObject();
    write_key(w, "role"), write_string(w, "user");
    write_key(w, "content");
    if (parts.size() == 1 && parts[0]->kind == ir::PartKind::Text) {
        write_string(w, parts[0]->text);
    } else {
        w.StartArray();
        for (const ir::Part* p : parts) {
            if (p->kind == ir::PartKind::Text) {
                w.StartObject();
                write_key(w, "type"), write_string(w, "text");
                write_key(w, "text"), write_string(w, p->text);
                w.EndObject();
            } else if (!write_media(e, *p)) {
                return false;
            }
        }
        w.EndArray();
    }
    w.EndObject();
    return true;
}

void write_tool_message(JsonWriter& w, std::string_view id, std::string_view text) {
    w.StartObject();
    write_key(w, "role"), write_string(w, "tool");
    write_key(w, "tool_call_id"), write_string(w, id);
    write_key(w, "content"), write_string(w, text);
    w.EndObject();
}

// Calls of the previous assistant turn that got no result: answered with an error.
void close_calls(Encoder& e) {
    for (const std::string& id : e.calls.close_turn())
        write_tool_message(e.w, id, "Error: no result was recorded for this call");
}

bool write_user_turn(Encoder& e, const ir::Message& m) {
    std::vector<const ir::Part*> rest;  // tool-result media and orphan results, then the user's own parts
    for (const ir::Part& p : m.parts) {
        if (p.kind != ir::PartKind::ToolResult) continue;
        std::string text;
        for (const ir::Part& c : p.content)
            if (c.kind == ir::PartKind::Text) text += (text.empty() ? "" : "\n") + c.text;
        std::string id = e.calls.answer(p);
        if (id.empty()) {  // answers no call of the turn before: keep it as user text
            ir::Part& t = e.made.emplace_back();
            t.text = std::string(p.is_error ? "Error from" : "Result of") + " an earlier tool call (" +
                     (p.name.empty() ? p.call_id : p.name) + "): " + (text.empty() ? "(no output)" : text);
            rest.push_back(&t);
        } else {
            if (p.is_error) text = text.empty() ? "Error" : "Error: " + text;
            write_tool_message(e.w, id, text);
        }
        for (const ir::Part& c : p.content)
            if (is_media(c)) rest.push_back(&c);  // Chat tool messages hold text only
    }
    close_calls(e);
    for (const ir::Part& p : m.parts)
        if ((p.kind == ir::PartKind::Text && !p.text.empty()) || is_media(p)) rest.push_back(&p);
    return write_user(e, rest);
}

// The signature that goes with a tool call toward Google's OpenAI layer.
std::string call_signature(const Encoder& e, const ir::Part& p) {
    if (!p.signature.empty() && signature_valid_for(p.origin, e.s)) return p.signature;
    if (p.signature.empty() && e.s.signatures && !p.call_id.empty()) {
        if (auto c = e.s.signatures->get(p.call_id); c && c->protocol == e.s.upstream && c->model == e.s.upstream_model)
            return c->signature;
    }
    return {};
}

void write_assistant_turn(Encoder& e, const ir::Message& m) {
    JsonWriter& w = e.w;
    std::string text;
    bool calls = false;
    for (const ir::Part& p : m.parts) {
        if (p.kind == ir::PartKind::Text) text += p.text;
        if (p.kind == ir::PartKind::ToolCall) calls = true;
    }
    if (text.empty() && !calls) return;  // thinking-only turns have no place in Chat
    if (calls && text.find_first_not_of(" \t\r\n") == std::string::npos) text.clear();  // §7.7
    w.StartObject();
    write_key(w, "role"), write_string(w, "assistant");
    write_key(w, "content");
    if (text.empty()) w.Null();
    else write_string(w, text);
    if (calls) {
        write_key(w, "tool_calls"), w.StartArray();
        for (const ir::Part& p : m.parts) {
            if (p.kind != ir::PartKind::ToolCall) continue;
            w.StartObject();
            write_key(w, "id"), write_string(w, e.calls.for_call(p));
            if (is_custom_tool(e.r, p.name)) {  // Chat has custom calls: the input as it is
                write_key(w, "type"), write_string(w, "custom");
                write_key(w, "custom"), w.StartObject();
                write_key(w, "name"), write_string(w, e.names.get(p.name));
                write_key(w, "input"), write_string(w, custom_input(p.args_json));
                w.EndObject();
                w.EndObject();
                continue;
            }
            write_key(w, "type"), write_string(w, "function");
            write_key(w, "function"), w.StartObject();
            write_key(w, "name"), write_string(w, e.names.get(p.name));
            write_key(w, "arguments"), write_string(w, repair_args_json(p.args_json));
            w.EndObject();
            if (std::string sig = call_signature(e, p); !sig.empty()) {
                write_key(w, "extra_content"), w.StartObject();
                write_key(w, "google"), w.StartObject();
                write_key(w, "thought_signature"), write_string(w, sig);
                w.EndObject();
                w.EndObject();
            }
            w.EndObject();
        }
        w.EndArray();
    }
    w.EndObject();
}

void write_tools(Encoder& e) {
    JsonWriter& w = e.w;
    const ir::Request& r = e.r;
    write_key(w, "tools"), w.StartArray();
    for (const ir::Tool& t : r.tools) {
        w.StartObject();
        if (t.custom) {  // Chat has custom tools: declared as they came
            write_key(w, "type"), write_string(w, "custom");
            write_key(w, "custom"), w.StartObject();
            write_key(w, "name"), write_string(w, e.names.get(t.name));
            if (!t.description.empty()) write_key(w, "description"), write_string(w, t.description);
            write_key(w, "format"), write_custom_format(w, t, true);
            w.EndObject();
            w.EndObject();
            continue;
        }
        write_key(w, "type"), write_string(w, "function");
        write_key(w, "function"), w.StartObject();
        write_key(w, "name"), write_string(w, e.names.get(t.name));
        if (!t.description.empty()) write_key(w, "description"), write_string(w, t.description);
        write_key(w, "parameters"), write_raw(w, object_root_schema(t.parameters_json));
        if (t.strict) write_key(w, "strict"), w.Bool(*t.strict);
        w.EndObject();
        w.EndObject();
    }
    w.EndArray();
    const ir::ToolChoice& tc = r.tool_choice;
    auto named = [&](std::string_view name) {
        bool custom = is_custom_tool(r, name);
        w.StartObject();
        write_key(w, "type"), write_string(w, custom ? "custom" : "function");
        write_key(w, custom ? "custom" : "function"), w.StartObject();
        write_key(w, "name"), write_string(w, e.names.get(name));
        w.EndObject();
        w.EndObject();
    };
    if (tc.mode == ir::ToolChoiceMode::Named) {
        write_key(w, "tool_choice"), named(tc.name);
    } else if (!tc.allowed.empty() && tc.mode != ir::ToolChoiceMode::None) {
        write_key(w, "tool_choice"), w.StartObject();
        write_key(w, "type"), write_string(w, "allowed_tools");
        write_key(w, "allowed_tools"), w.StartObject();
        write_key(w, "mode"), write_string(w, tc.mode == ir::ToolChoiceMode::Required ? "required" : "auto");
        write_key(w, "tools"), w.StartArray();
        for (const std::string& n : tc.allowed) named(n);
        w.EndArray();
        w.EndObject();
        w.EndObject();
    } else if (tc.mode != ir::ToolChoiceMode::Unset) {
        write_key(w, "tool_choice");
        write_string(w, tc.mode == ir::ToolChoiceMode::Auto ? "auto" : tc.mode == ir::ToolChoiceMode::None ? "none" : "required");
    }
    if (r.parallel_tool_calls) write_key(w, "parallel_tool_calls"), w.Bool(*r.parallel_tool_calls);
}

void write_format(JsonWriter& w, const ir::ResponseFormat& f) {
    if (f.kind == ir::FormatKind::Unset) return;
    write_key(w, "response_format"), w.StartObject();
    write_key(w, "type");
    if (f.kind == ir::FormatKind::Text) {
        write_string(w, "text");
    } else if (f.kind == ir::FormatKind::JsonObject) {
        write_string(w, "json_object");
    } else {
        write_string(w, "json_schema");
        write_key(w, "json_schema"), w.StartObject();
        write_key(w, "name"), write_string(w, f.name.empty() ? "response" : f.name);
        if (!f.description.empty()) write_key(w, "description"), write_string(w, f.description);
        if (!f.schema_json.empty()) write_key(w, "schema"), write_raw(w, f.schema_json);
        if (f.strict) write_key(w, "strict"), w.Bool(*f.strict);
        w.EndObject();
    }
    w.EndObject();
}

std::string effort_for(const ir::Reasoning& re) {
    switch (re.mode) {
        case ir::ReasoningMode::Off: return "none";
        case ir::ReasoningMode::Effort:
        case ir::ReasoningMode::Adaptive: return re.effort;
        case ir::ReasoningMode::Budget: return re.budget < 0 ? std::string() : budget_to_effort(re.budget);
        default: return {};
    }
}

}  // namespace

Result<ir::Request> decode_chat_request(const JsonValue& doc, Session& s) {
    Decoder d{s, {}, {}, {}};
    const JsonValue* model = member(doc, "model");
    if (!model || !model->IsString() || model->GetStringLength() == 0)
        return Fail::fail(400, "model is required and must be a string");
    d.r.model.assign(get_string(model));

    if (decode_params(d, doc) && decode_reasoning(d, doc)) {
        if (s.legacy_completion) {
            decode_legacy_prompt(d, doc);
        } else {
            const JsonValue* msgs = member(doc, "messages");
            if (!is_array(msgs) || msgs->Empty()) {
                d.bad("messages must be a non-empty array");
            } else {
                size_t i = 0;
                for (const JsonValue& m : msgs->GetArray())
                    if (!decode_message(d, m, i++)) break;
            }
            if (d.error.empty() && decode_tools(d, doc)) decode_format(d, doc);
        }
    }
    if (!d.error.empty()) return Fail::fail(400, d.error);

    s.stream = d.r.stream;
    s.include_usage = d.r.include_usage;
    if (s.client_model.empty()) s.client_model = d.r.model;
    return std::move(d.r);
}

Result<std::string> encode_chat_request(const ir::Request& r, Session& s) {
    Encoder e(r, s);
    reserve_output(e.buf, s.body_bytes);
    JsonWriter& w = e.w;
    w.StartObject();
    write_key(w, "model"), write_string(w, s.upstream_model.empty() ? r.model : s.upstream_model);
    write_key(w, "messages"), w.StartArray();
    std::string system;
    for (const ir::Part& p : r.system) {
        if (p.text.empty()) continue;
        if (!system.empty()) system += "\n\n";
        system += p.text;
    }
    if (!system.empty()) {
        w.StartObject();
        write_key(w, "role"), write_string(w, "system");
        write_key(w, "content"), write_string(w, system);
        w.EndObject();
    }
    for (const ir::Message& m : r.messages) {
        if (m.role == ir::Role::Assistant) {
            close_calls(e);
            write_assistant_turn(e, m);
        } else if (!write_user_turn(e, m)) {
            return Result<std::string>::fail(400, e.error);
        }
    }
    close_calls(e);
    w.EndArray();
    if (!r.tools.empty()) write_tools(e);
    // Chat's web_search_options is refused by every model but the search
    // ones: the search is left out (and the daemon warns).
    if (r.web_search && std::find(s.dropped_tools.begin(), s.dropped_tools.end(), "web_search") == s.dropped_tools.end())
        s.dropped_tools.emplace_back("web_search");
    if (r.max_tokens) write_key(w, "max_completion_tokens"), w.Int64(*r.max_tokens);
    if (r.temperature) write_key(w, "temperature"), w.Double(*r.temperature);
    if (r.top_p) write_key(w, "top_p"), w.Double(*r.top_p);
    if (r.n) write_key(w, "n"), w.Int64(*r.n);
    if (r.seed) write_key(w, "seed"), w.Int64(*r.seed);
    if (r.presence_penalty) write_key(w, "presence_penalty"), w.Double(*r.presence_penalty);
    if (r.frequency_penalty) write_key(w, "frequency_penalty"), w.Double(*r.frequency_penalty);
    if (!r.stop.empty()) {
        write_key(w, "stop"), w.StartArray();
        for (const std::string& x : r.stop) write_string(w, x);
        w.EndArray();
    }
    write_format(w, r.format);
    if (std::string eff = effort_for(r.reasoning); !eff.empty()) write_key(w, "reasoning_effort"), write_string(w, eff);
    if (!r.user.empty()) write_key(w, "user"), write_string(w, r.user);
    if (r.stream) {
        write_key(w, "stream"), w.Bool(true);
        write_key(w, "stream_options"), w.StartObject();
        write_key(w, "include_usage"), w.Bool(true);
        w.EndObject();
    }
    w.EndObject();
    return e.buf;
}

}  // namespace agd::translate

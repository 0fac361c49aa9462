// OpenAI Responses: client request -> IR, and IR -> upstream request
// (protocols.md §2.1, §2.2, §6).
//
// The decoder only runs when the upstream is not a Responses API (a
// same-protocol pair stays a byte passthrough), so anything that needs
// OpenAI's server-side state (previous_response_id, conversation,
// item_reference, prompt templates, background) or a built-in tool that a
// forced tool_choice names is refused with a 400 that says so.
#include <algorithm>
#include <map>
#include <set>

#include "translate/codecs.h"
#include "translate/compaction.h"
#include "translate/custom_tool.h"
#include "translate/tool_schema.h"
#include "translate/json_util.h"
#include "translate/responses_wire.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

using ReqResult = Result<ir::Request>;

constexpr std::string_view kNeedsResponses =
    " needs an OpenAI Responses upstream, and this model is served by another provider; "
    "send the whole conversation in `input` instead";

std::string where(size_t i) { return "input[" + std::to_string(i) + "]"; }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Mime type for an inline file sent as bare base64 (no data URL).
std::string mime_from_filename(std::string_view name) {
    size_t dot = name.rfind('.');
    std::string ext;
    if (dot != std::string_view::npos)
        for (char c : name.substr(dot + 1)) ext.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    if (ext == "txt") return "text/plain";
    if (ext == "md") return "text/markdown";
    if (ext == "csv") return "text/csv";
    if (ext == "json") return "application/json";
    if (ext == "png") return "image/png";
    if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
    if (ext == "gif") return "image/gif";
    if (ext == "webp") return "image/webp";
    return "application/pdf";
}

ir::Part text_part(std::string_view text) {
    ir::Part p;
    p.kind = ir::PartKind::Text;
    p.text.assign(text);
    return p;
}

// A tool_search_output's tools, told to the model as the result of its
// search: the names it may now call (a namespace's under their flat names)
// and what each does.
std::string loaded_tools_text(const JsonValue* tools) {
    std::string out;
    auto line = [&](std::string_view ns, const JsonValue& t) {
        std::string_view name = get_string(member(t, "name"));
        if (name.empty()) return;
        out += "\n- ";
        out += Session::flat_tool_name(ns, name);
        std::string_view desc = get_string(member(t, "description"));
        if (!desc.empty()) {
            out += ": ";
            out.append(desc.substr(0, 500));
        }
    };
    if (is_array(tools)) {
        for (const auto& t : tools->GetArray()) {
            if (get_string(member(t, "type")) != "namespace") {
                line({}, t);
                continue;
            }
            std::string_view ns = get_string(member(t, "name"));
            if (const JsonValue* inner = member(t, "tools"); is_array(inner))
                for (const auto& f : inner->GetArray()) line(ns, f);
        }
    }
    return out.empty() ? std::string("No tools matched the search.") : "These tools are now available:" + out;
}

// One content part of a message or of a function_call_output. Returns an
// error message ("" on success); empty texts are skipped.
std::string decode_content_part(const JsonValue& v, std::vector<ir::Part>& out) {
    if (!v.IsObject()) return "content parts must be objects";
    std::string_view type = get_string(member(v, "type"));
    if (type == "input_text" || type == "output_text" || type == "text") {
        std::string_view t = get_string(member(v, "text"));
        if (!t.empty()) out.push_back(text_part(t));
        return {};
    }
    if (type == "refusal") {
        std::string_view t = get_string(member(v, "refusal"));
        if (!t.empty()) out.push_back(text_part(t));
        return {};
    }
    if (type == "input_image") {
        ir::Part p;
        p.kind = ir::PartKind::Image;
        const JsonValue* iu = member(v, "image_url");
        std::string_view url = get_string(iu);
        if (url.empty() && is_object(iu)) url = get_string(member(*iu, "url"));  // Chat-style nesting, tolerated
        if (!url.empty()) {
            if (starts_with(url, "data:")) {
                if (!parse_data_url(url, p.media.mime, p.media.data)) return "input_image.image_url is not a base64 data URL";
            } else {
                p.media.url.assign(url);
            }
        }
        p.media.file_id.assign(get_string(member(v, "file_id")));
        p.media.detail.assign(get_string(member(v, "detail")));
        if (p.media.data.empty() && p.media.url.empty() && p.media.file_id.empty())
            return "input_image needs image_url or file_id";
        out.push_back(std::move(p));
        return {};
    }
    if (type == "input_file") {
        ir::Part p;
        p.kind = ir::PartKind::File;
        p.media.filename.assign(get_string(member(v, "filename")));
        std::string_view fd = get_string(member(v, "file_data"));
        if (!fd.empty()) {
            if (starts_with(fd, "data:")) {
                if (!parse_data_url(fd, p.media.mime, p.media.data)) return "input_file.file_data is not a base64 data URL";
            } else {
                p.media.mime = mime_from_filename(p.media.filename);
                p.media.data.assign(fd);
            }
        }
        p.media.url.assign(get_string(member(v, "file_url")));
        p.media.file_id.assign(get_string(member(v, "file_id")));
        if (p.media.data.empty() && p.media.url.empty() && p.media.file_id.empty())
            return "input_file needs file_data, file_url or file_id";
        if (starts_with(p.media.mime, "image/")) p.kind = ir::PartKind::Image;
        out.push_back(std::move(p));
        return {};
    }
    if (type == "input_audio") {
        const JsonValue* a = member(v, "input_audio");
        std::string_view data = get_string(a ? member(*a, "data") : nullptr);
        std::string_view fmt = get_string(a ? member(*a, "format") : nullptr);
        if (data.empty()) return "input_audio needs input_audio.data";
        ir::Part p;
        p.kind = ir::PartKind::Audio;
        p.media.mime = "audio/" + std::string(fmt.empty() ? "wav" : fmt);
        p.media.data.assign(data);
        out.push_back(std::move(p));
        return {};
    }
    return "unsupported content part type '" + std::string(type) + "'";
}

// A message's or an output's content: a string or an array of parts.
std::string decode_content(const JsonValue* content, std::vector<ir::Part>& out) {
    if (!content || content->IsNull()) return {};
    if (content->IsString()) {
        if (content->GetStringLength() > 0) out.push_back(text_part(get_string(content)));
        return {};
    }
    if (!content->IsArray()) return "content must be a string or an array of parts";
    for (const auto& p : content->GetArray()) {
        std::string err = decode_content_part(p, out);
        if (!err.empty()) return err;
    }
    return {};
}

// The assistant turn that the next assistant item belongs to.
ir::Message& assistant_turn(ir::Request& r) {
    if (r.messages.empty() || r.messages.back().role != ir::Role::Assistant) {
        r.messages.emplace_back();
        r.messages.back().role = ir::Role::Assistant;
    }
    return r.messages.back();
}

// A call item's arguments (a JSON text, or an object) as IR args_json.
std::string call_arguments(const JsonValue& item) {
    const JsonValue* a = member(item, "arguments");
    return a && a->IsObject() ? repair_args_json(to_json(*a)) : repair_args_json(get_string(a));
}

// A tool result, into the user turn of its batch: results of one batch of
// calls share one user turn.
void add_result(ir::Request& r, ir::Part p) {
    bool join = !r.messages.empty() && r.messages.back().role == ir::Role::User && !r.messages.back().parts.empty() &&
                r.messages.back().parts.back().kind == ir::PartKind::ToolResult;
    if (!join) {
        r.messages.emplace_back();
        r.messages.back().role = ir::Role::User;
    }
    r.messages.back().parts.push_back(std::move(p));
}

std::string decode_items(const JsonValue& input, ir::Request& r) {
    std::map<std::string, std::string, std::less<>> call_names;  // call_id -> function name
    size_t i = 0;
    for (const auto& item : input.GetArray()) {
        const size_t idx = i++;
        if (!item.IsObject()) return where(idx) + " must be an object";
        std::string_view type = get_string(member(item, "type"));
        if (type.empty() && member(item, "role")) type = "message";
        if (type == "message") {
            std::string_view role = get_string(member(item, "role"));
            std::vector<ir::Part> parts;
            std::string err = decode_content(member(item, "content"), parts);
            if (!err.empty()) return where(idx) + ": " + err;
            if (role == "system" || role == "developer") {
                for (auto& p : parts)
                    if (p.kind == ir::PartKind::Text) r.system.push_back(std::move(p));
            } else if (role == "user") {
                if (parts.empty()) continue;
                r.messages.emplace_back();
                r.messages.back().role = ir::Role::User;
                r.messages.back().parts = std::move(parts);
            } else if (role == "assistant") {
                auto& turn = assistant_turn(r);
                for (auto& p : parts)
                    if (p.kind == ir::PartKind::Text) turn.parts.push_back(std::move(p));
            } else {
                return where(idx) + ": unknown role '" + std::string(role) + "'";
            }
        } else if (type == "function_call") {
            ir::Part p;
            p.kind = ir::PartKind::ToolCall;
            p.call_id.assign(get_string(member(item, "call_id")));
            if (p.call_id.empty()) return where(idx) + ": function_call needs a call_id";
            std::string_view name = get_string(member(item, "name"));
            if (name.empty()) return where(idx) + ": function_call needs a name";
            p.name = Session::flat_tool_name(get_string(member(item, "namespace")), name);
            p.args_json = call_arguments(item);
            call_names[p.call_id] = p.name;
            assistant_turn(r).parts.push_back(std::move(p));
        } else if (type == "custom_tool_call") {
            // A freeform call goes to other wires as a call of the function
            // the tool was declared as: its input is the one argument.
            ir::Part p;
            p.kind = ir::PartKind::ToolCall;
            p.call_id.assign(get_string(member(item, "call_id")));
            if (p.call_id.empty()) return where(idx) + ": custom_tool_call needs a call_id";
            std::string_view name = get_string(member(item, "name"));
            if (name.empty()) return where(idx) + ": custom_tool_call needs a name";
            p.name = Session::flat_tool_name(get_string(member(item, "namespace")), name);
            p.args_json = custom_args_json(get_string(member(item, "input")));
            call_names[p.call_id] = p.name;
            assistant_turn(r).parts.push_back(std::move(p));
        } else if (type == "tool_search_call" && get_string(member(item, "execution")) == "client") {
            // The model's search for tools, run by the client: a call of the
            // function tool_search was declared as.
            ir::Part p;
            p.kind = ir::PartKind::ToolCall;
            p.call_id.assign(get_string(member(item, "call_id")));
            if (p.call_id.empty()) return where(idx) + ": tool_search_call needs a call_id";
            p.name = "tool_search";
            p.args_json = call_arguments(item);
            call_names[p.call_id] = p.name;
            assistant_turn(r).parts.push_back(std::move(p));
        } else if (type == "tool_search_output" && get_string(member(item, "execution")) == "client") {
            // What the search found: the tools are declared (decode_request),
            // the result tells the model their names.
            ir::Part p;
            p.kind = ir::PartKind::ToolResult;
            p.call_id.assign(get_string(member(item, "call_id")));
            if (p.call_id.empty()) return where(idx) + ": tool_search_output needs a call_id";
            p.name = "tool_search";
            p.content.push_back(text_part(loaded_tools_text(member(item, "tools"))));
            add_result(r, std::move(p));
        } else if (type == "function_call_output" || type == "custom_tool_call_output") {
            ir::Part p;
            p.kind = ir::PartKind::ToolResult;
            p.call_id.assign(get_string(member(item, "call_id")));
            if (p.call_id.empty()) return where(idx) + ": " + std::string(type) + " needs a call_id";
            if (auto it = call_names.find(p.call_id); it != call_names.end()) p.name = it->second;
            const JsonValue* out = member(item, "output");
            if (out && out->IsObject()) {
                p.content.push_back(text_part(to_json(*out)));
            } else {
                std::string err = decode_content(out, p.content);
                if (!err.empty()) return where(idx) + ".output: " + err;
            }
            add_result(r, std::move(p));
        } else if (type == "reasoning") {
            ir::Part p;
            p.kind = ir::PartKind::Thinking;
            auto join_texts = [&](const JsonValue* arr) {
                if (!is_array(arr)) return;
                for (const auto& s : arr->GetArray()) {
                    std::string_view t = get_string(member(s, "text"));
                    if (t.empty()) continue;
                    if (!p.text.empty()) p.text += "\n\n";
                    p.text.append(t);
                }
            };
            join_texts(member(item, "summary"));
            if (p.text.empty()) join_texts(member(item, "content"));
            std::string_view enc = get_string(member(item, "encrypted_content"));
            if (!enc.empty()) untag_signature(enc, Protocol::OpenAIResponses, p);
            if (p.text.empty() && p.signature.empty()) continue;
            assistant_turn(r).parts.push_back(std::move(p));
        } else if (type == "additional_tools") {
            continue;  // its tools are declared with the top-level ones
        } else if (type == "compaction_trigger") {
            // Codex's compaction v2: the trigger comes last; what is before it
            // is summarised (compaction.h).
            r.compaction_trigger = true;
        } else if (type == "compaction" || type == "compaction_summary") {
            // A compaction item the gateway made carries its summary; an
            // upstream's own is opaque to every other wire.
            if (auto summary = summary_of_compaction(get_string(member(item, "encrypted_content")))) {
                r.messages.emplace_back();
                r.messages.back().role = ir::Role::User;
                r.messages.back().parts.push_back(text_part(std::string(kSummaryHead) + *summary));
            }
        } else if (type == "item_reference") {
            return where(idx) + ": item_reference" + std::string(kNeedsResponses);
        } else if (type.empty()) {
            return where(idx) + " has no type";
        }
        // Built-in tool items (web_search_call, computer_call, mcp_call, ...)
        // cannot be replayed to another provider: skipped like their tools.
    }
    return {};
}

// Tools the Responses API runs itself: another wire has no form for them.
bool hosted_tool(std::string_view type) {
    static constexpr std::string_view kHosted[] = {"file_search",  "code_interpreter", "computer_use_preview",
                                                   "computer_use", "image_generation", "mcp",
                                                   "local_shell",  "tool_search"};
    return std::find(std::begin(kHosted), std::end(kHosted), type) != std::end(kHosted);
}

// Codex's tool_search run by the client: a function the model calls with
// its search; Codex answers with the tools found (a tool_search_output
// item, whose tools are then declared like the others).
std::string decode_tool_search(const JsonValue& t, std::string_view ns, ir::Request& r, Session& s) {
    ir::Tool tool;
    tool.name = Session::flat_tool_name(ns, "tool_search");
    for (const auto& have : r.tools)
        if (have.name == tool.name) return {};
    tool.description.assign(get_string(member(t, "description")));
    if (tool.description.empty()) tool.description = "Searches for more tools to use; the tools found become callable.";
    if (const JsonValue* p = member(t, "parameters"); is_object(p)) tool.parameters_json = to_json(*p);
    Session::ClientTool ct{tool.name, std::string(ns == "functions" ? std::string_view() : ns), "tool_search", false};
    ct.tool_search = true;
    s.add_client_tool(std::move(ct));
    r.tools.push_back(std::move(tool));
    return {};
}

// One tool that is not a namespace, in namespace `ns` ("" = none), `at`
// naming it for errors. Functions and custom tools become IR functions
// under their flat names; hosted tools are left out (noted for the
// warning); any other type is the client's error.
std::string decode_leaf_tool(const JsonValue& t, std::string_view ns, const std::string& at, ir::Request& r,
                             Session& s) {
    if (!t.IsObject()) return at + " must be an object";
    std::string_view type = get_string(member(t, "type"));
    if (type == "namespace") return at + ": a namespace cannot hold another namespace";
    if (responses_web_search_type(type)) {  // the search each wire has, or a warning (web_search.h)
        read_responses_web_search(t, r);
        return {};
    }
    if (type == "tool_search" && get_string(member(t, "execution")) == "client")
        return decode_tool_search(t, ns, r, s);
    if (type != "function" && type != "custom") {
        if (type.empty()) return at + " has no type";
        if (!hosted_tool(type))
            return at + " has the type '" + std::string(type) +
                   "', which the gateway cannot carry to this model's provider (function, custom and namespace "
                   "tools can be)";
        if (std::find(s.dropped_tools.begin(), s.dropped_tools.end(), type) == s.dropped_tools.end())
            s.dropped_tools.emplace_back(type);
        return {};
    }
    const JsonValue* src = &t;
    if (!member(t, "name") && is_object(member(t, "function"))) src = member(t, "function");  // Chat shape, tolerated
    std::string_view name = get_string(member(*src, "name"));
    if (name.empty()) return at + ": " + std::string(type) + " tools need a name";
    ir::Tool tool;
    tool.name = Session::flat_tool_name(ns, name);
    for (const auto& have : r.tools)
        if (have.name == tool.name) return {};  // declared twice: once is enough
    tool.description.assign(get_string(member(*src, "description")));
    if (type == "custom") {
        read_custom_format(member(*src, "format"), tool);
        tool.parameters_json = custom_parameters(tool);
        s.add_client_tool({tool.name, std::string(ns == "functions" ? std::string_view() : ns), std::string(name), true});
    } else {
        if (const JsonValue* p = member(*src, "parameters"); is_object(p)) tool.parameters_json = to_json(*p);
        tool.strict = get_bool(member(*src, "strict"));
        if (tool.name != name) s.add_client_tool({tool.name, std::string(ns), std::string(name), false});
    }
    r.tools.push_back(std::move(tool));
    return {};
}

// One entry of `tools` (or of an additional_tools item's): a namespace's
// tools are taken one by one.
std::string decode_tool(const JsonValue& t, const std::string& at, ir::Request& r, Session& s) {
    if (!t.IsObject() || get_string(member(t, "type")) != "namespace") return decode_leaf_tool(t, {}, at, r, s);
    std::string_view name = get_string(member(t, "name"));
    if (name.empty()) return at + ": a namespace needs a name";
    const JsonValue* inner = member(t, "tools");
    if (!is_array(inner)) return at + ": a namespace needs a tools array";
    size_t i = 0;
    for (const auto& e : inner->GetArray()) {
        std::string err = decode_leaf_tool(e, name, at + ".tools[" + std::to_string(i++) + "]", r, s);
        if (!err.empty()) return err;
    }
    return {};
}

std::string decode_tools(const JsonValue& tools, const std::string& at, ir::Request& r, Session& s) {
    if (!tools.IsArray()) return at + " must be an array";
    size_t i = 0;
    for (const auto& t : tools.GetArray()) {
        std::string err = decode_tool(t, at + "[" + std::to_string(i++) + "]", r, s);
        if (!err.empty()) return err;
    }
    return {};
}

std::string decode_tool_choice(const JsonValue& tc, ir::Request& r) {
    if (tc.IsNull()) return {};
    if (tc.IsString()) {
        std::string_view m = get_string(&tc);
        if (m == "auto") r.tool_choice.mode = ir::ToolChoiceMode::Auto;
        else if (m == "none") r.tool_choice.mode = ir::ToolChoiceMode::None;
        else if (m == "required") r.tool_choice.mode = ir::ToolChoiceMode::Required;
        else return "unknown tool_choice '" + std::string(m) + "'";
        return {};
    }
    if (!tc.IsObject()) return "tool_choice must be a string or an object";
    std::string_view type = get_string(member(tc, "type"));
    if (type == "function" || type == "custom") {
        std::string_view name = get_string(member(tc, "name"));
        if (name.empty()) return "tool_choice of type " + std::string(type) + " needs a name";
        r.tool_choice.mode = ir::ToolChoiceMode::Named;
        r.tool_choice.name = Session::flat_tool_name(get_string(member(tc, "namespace")), name);
        return {};
    }
    if (type == "allowed_tools") {
        std::string_view mode = get_string(member(tc, "mode"));
        r.tool_choice.mode = mode == "required" ? ir::ToolChoiceMode::Required : ir::ToolChoiceMode::Auto;
        if (const JsonValue* list = member(tc, "tools"); is_array(list)) {
            for (const auto& t : list->GetArray()) {
                std::string_view kind = get_string(member(t, "type"));
                if (kind != "function" && kind != "custom") continue;
                std::string_view name = get_string(member(t, "name"));
                if (!name.empty())
                    r.tool_choice.allowed.push_back(Session::flat_tool_name(get_string(member(t, "namespace")), name));
            }
        }
        return {};
    }
    return "tool_choice forces the built-in tool '" + std::string(type) +
           "', which only an OpenAI Responses upstream can run; this model is served by another provider";
}

void decode_format(const JsonValue& text, ir::Request& r) {
    const JsonValue* f = member(text, "format");
    if (!is_object(f)) return;
    std::string_view type = get_string(member(*f, "type"));
    if (type == "text") {
        r.format.kind = ir::FormatKind::Text;
    } else if (type == "json_object") {
        r.format.kind = ir::FormatKind::JsonObject;
    } else if (type == "json_schema") {
        r.format.kind = ir::FormatKind::JsonSchema;
        r.format.name.assign(get_string(member(*f, "name")));
        r.format.description.assign(get_string(member(*f, "description")));
        if (const JsonValue* sc = member(*f, "schema"); is_object(sc)) r.format.schema_json = to_json(*sc);
        r.format.strict = get_bool(member(*f, "strict"));
    }
}

bool present(const JsonValue* v) { return v && !v->IsNull() && !(v->IsString() && v->GetStringLength() == 0); }

}  // namespace

Result<ir::Request> decode_responses_request(const JsonValue& doc, Session& s) {

    if (present(member(doc, "previous_response_id")))
        return ReqResult::fail(400, "previous_response_id" + std::string(kNeedsResponses));
    if (present(member(doc, "conversation")))
        return ReqResult::fail(400, "conversation" + std::string(kNeedsResponses));
    if (present(member(doc, "prompt")))
        return ReqResult::fail(400, "prompt templates need an OpenAI Responses upstream, and this model is served by "
                                    "another provider");
    if (get_bool(member(doc, "background")).value_or(false))
        return ReqResult::fail(400, "background responses need an OpenAI Responses upstream, and this model is served "
                                    "by another provider");

    ir::Request r;
    const JsonValue* model = member(doc, "model");
    if (model && !model->IsString()) return ReqResult::fail(400, "model must be a string");
    r.model.assign(get_string(model));
    if (r.model.empty()) return ReqResult::fail(400, "model is required");

    if (const JsonValue* n = member(doc, "n"); n && !n->IsNull()) {
        auto v = get_int(n);
        if (!v) return ReqResult::fail(400, "n must be an integer");
        if (*v > 1) return ReqResult::fail(400, "the Responses API returns one answer per request: n must be 1");
        r.n = *v;
    }

    const JsonValue* instr = member(doc, "instructions");
    if (instr && instr->IsString() && instr->GetStringLength() > 0) r.system.push_back(text_part(get_string(instr)));

    const JsonValue* input = member(doc, "input");
    if (!input || input->IsNull()) return ReqResult::fail(400, "input is required");
    if (input->IsString()) {
        r.messages.emplace_back();
        r.messages.back().role = ir::Role::User;
        r.messages.back().parts.push_back(text_part(get_string(input)));
    } else if (input->IsArray()) {
        std::string err = decode_items(*input, r);
        if (!err.empty()) return ReqResult::fail(400, err);
    } else {
        return ReqResult::fail(400, "input must be a string or an array of items");
    }

    if (const JsonValue* tools = member(doc, "tools"); tools && !tools->IsNull()) {
        std::string err = decode_tools(*tools, "tools", r, s);
        if (!err.empty()) return ReqResult::fail(400, err);
    }
    // Codex's "Responses lite" declares its tools in an input item instead,
    // and the tools a tool search loaded arrive in its output item.
    if (is_array(input)) {
        size_t i = 0;
        for (const auto& item : input->GetArray()) {
            const size_t idx = i++;
            std::string_view type = get_string(member(item, "type"));
            if (type != "additional_tools" && type != "tool_search_output") continue;
            const JsonValue* tools = member(item, "tools");
            if (!tools) continue;
            std::string err = decode_tools(*tools, where(idx) + ".tools", r, s);
            if (!err.empty()) return ReqResult::fail(400, err);
        }
    }
    if (const JsonValue* tc = member(doc, "tool_choice")) {
        std::string err = decode_tool_choice(*tc, r);
        if (!err.empty()) return ReqResult::fail(400, err);
    }
    r.parallel_tool_calls = get_bool(member(doc, "parallel_tool_calls"));
    if (auto v = get_int(member(doc, "max_output_tokens"))) r.max_tokens = *v;
    r.temperature = get_double(member(doc, "temperature"));
    r.top_p = get_double(member(doc, "top_p"));

    if (const JsonValue* re = member(doc, "reasoning"); is_object(re)) {
        std::string_view effort = get_string(member(*re, "effort"));
        if (!effort.empty()) {
            r.reasoning.mode = effort == "none" ? ir::ReasoningMode::Off : ir::ReasoningMode::Effort;
            r.reasoning.effort.assign(effort);
        }
        r.reasoning.summary.assign(get_string(member(*re, "summary")));
        if (!r.reasoning.summary.empty()) r.reasoning.include_thoughts = true;
    }
    if (const JsonValue* text = member(doc, "text"); is_object(text)) decode_format(*text, r);

    r.user.assign(get_string(member(doc, "user")));
    if (r.user.empty()) r.user.assign(get_string(member(doc, "safety_identifier")));
    r.stream = get_bool(member(doc, "stream")).value_or(false);
    return r;
}

// ---------------------------------------------------------------------------
// IR -> Responses upstream request.

namespace {

bool valid_openai_name(std::string_view n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

// The upstream spellings of the client's tool names and call ids:
// [A-Za-z0-9_-]{1,64}, unique within the request, recorded in the Session.
// Names that are valid as they are stay as they are and are reserved, so a
// sanitized name never collides with one of them.
struct Names {
    Session& s;
    const ir::Request& req;
    std::set<std::string, std::less<>> tools, ids;  // valid client names in this request

    explicit Names(Session& session, const ir::Request& r) : s(session), req(r) {
        auto tool = [&](const std::string& n) { if (valid_openai_name(n)) tools.insert(n); };
        for (const auto& t : r.tools) tool(t.name);
        tool(r.tool_choice.name);
        for (const auto& n : r.tool_choice.allowed) tool(n);
        for (const auto& m : r.messages)
            for (const auto& p : m.parts) {
                if (p.kind == ir::PartKind::ToolCall) tool(p.name);
                if ((p.kind == ir::PartKind::ToolCall || p.kind == ir::PartKind::ToolResult) && valid_openai_name(p.call_id))
                    ids.insert(p.call_id);
            }
    }
    std::string tool(std::string_view client) { return map(client, false); }
    std::string call(std::string_view client) { return map(client, true); }

private:
    std::string map(std::string_view client, bool call_id) {
        std::string mapped = call_id ? s.upstream_call_id(client) : s.upstream_tool_name(client);
        if (mapped != client || valid_openai_name(client)) return mapped;
        std::string base;
        for (char c : client) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            base.push_back(ok ? c : '_');
        }
        if (base.empty()) base = call_id ? "call" : "tool";
        if (base.size() > 64) base.resize(64);
        auto& reserved = call_id ? ids : tools;
        auto taken = [&](const std::string& cand) {
            return reserved.count(cand) > 0 || (call_id ? s.client_call_id(cand) : s.client_tool_name(cand)) != cand;
        };
        std::string cand = base;
        for (int k = 2; taken(cand) && k < 100000; ++k) {
            std::string suffix = "_" + std::to_string(k);
            cand = base.substr(0, 64 - suffix.size()) + suffix;
        }
        if (call_id) s.map_call_id(std::string(client), cand);
        else s.map_tool_name(std::string(client), cand);
        return cand;
    }
};

void write_media_part(JsonWriter& w, const ir::Part& p) {
    const ir::Media& m = p.media;
    w.StartObject();
    if (p.kind == ir::PartKind::Image) {
        write_key(w, "type");
        write_string(w, "input_image");
        if (!m.data.empty()) {
            write_key(w, "image_url");
            write_string(w, make_data_url(m.mime, m.data));
        } else if (!m.url.empty()) {
            write_key(w, "image_url");
            write_string(w, m.url);
        } else if (!m.file_id.empty()) {
            write_key(w, "file_id");
            write_string(w, m.file_id);
        }
        write_key(w, "detail");
        write_string(w, m.detail.empty() ? "auto" : m.detail);
    } else {
        write_key(w, "type");
        write_string(w, "input_file");
        if (!m.data.empty()) {
            write_key(w, "file_data");
            write_string(w, make_data_url(m.mime, m.data));
            write_key(w, "filename");
            write_string(w, m.filename.empty() ? "file" : m.filename);
        } else if (!m.url.empty()) {
            write_key(w, "file_url");
            write_string(w, m.url);
        } else if (!m.file_id.empty()) {
            write_key(w, "file_id");
            write_string(w, m.file_id);
        }
        if (m.data.empty() && !m.filename.empty()) {
            write_key(w, "filename");
            write_string(w, m.filename);
        }
    }
    w.EndObject();
}

bool is_media(const ir::Part& p) {
    return p.kind == ir::PartKind::Image || p.kind == ir::PartKind::File || p.kind == ir::PartKind::Audio;
}

// Writes parts (Text/Image/File) as input content parts; audio is refused by the caller.
void write_input_parts(JsonWriter& w, const std::vector<const ir::Part*>& parts) {
    w.StartArray();
    for (const ir::Part* p : parts) {
        if (p->kind == ir::PartKind::Text) {
            w.StartObject();
            write_key(w, "type");
            write_string(w, "input_text");
            write_key(w, "text");
            write_string(w, p->text);
            w.EndObject();
        } else {
            write_media_part(w, *p);
        }
    }
    w.EndArray();
}

void write_user_message(JsonWriter& w, const std::vector<const ir::Part*>& parts) {
    if (parts.empty()) return;
    w.StartObject();
    write_key(w, "type");
    write_string(w, "message");
    write_key(w, "role");
    write_string(w, "user");
    write_key(w, "content");
    write_input_parts(w, parts);
    w.EndObject();
}

void write_tool_output(JsonWriter& w, const ir::Part& p, Names& names) {
    w.StartObject();
    write_key(w, "type");
    write_string(w, is_custom_tool(names.req, p.name) ? "custom_tool_call_output" : "function_call_output");
    write_key(w, "call_id");
    write_string(w, names.call(p.call_id));
    write_key(w, "output");
    bool media = std::any_of(p.content.begin(), p.content.end(), [](const ir::Part& c) {
        return c.kind == ir::PartKind::Image || c.kind == ir::PartKind::File;
    });
    if (media) {
        std::vector<const ir::Part*> parts;
        for (const auto& c : p.content)
            if (c.kind == ir::PartKind::Text ? !c.text.empty() : c.kind != ir::PartKind::Audio) parts.push_back(&c);
        write_input_parts(w, parts);
    } else {
        std::string text;
        for (const auto& c : p.content) {
            if (c.kind != ir::PartKind::Text) continue;
            if (!text.empty() && !c.text.empty()) text += "\n";
            text += c.text;
        }
        write_string(w, text);
    }
    w.EndObject();
}

void write_assistant_text(JsonWriter& w, const std::string& text) {
    if (text.empty()) return;
    w.StartObject();
    write_key(w, "type");
    write_string(w, "message");
    write_key(w, "role");
    write_string(w, "assistant");
    write_key(w, "content");
    w.StartArray();
    w.StartObject();
    write_key(w, "type");
    write_string(w, "output_text");
    write_key(w, "text");
    write_string(w, text);
    write_key(w, "annotations");
    w.StartArray();
    w.EndArray();
    w.EndObject();
    w.EndArray();
    w.EndObject();
}

void write_assistant_turn(JsonWriter& w, const ir::Message& m, Names& names) {
    Session& s = names.s;
    std::string text;
    bool reasoning_sent = false;
    std::set<std::string> replayed;  // cached signatures already sent in this turn
    for (const auto& p : m.parts) {
        switch (p.kind) {
            case ir::PartKind::Text: text += p.text; break;
            case ir::PartKind::Thinking:
                if (p.signature.empty() || !signature_valid_for(p.origin, s)) break;  // foreign or unsigned: dropped
                write_assistant_text(w, text);
                text.clear();
                // No id: with store:false the encrypted content is self-contained, and an
                // rs_ id makes OpenAI look the item up server-side (and fail).
                responses_detail::write_reasoning_item(w, "", p.text, p.signature);
                reasoning_sent = true;
                break;
            case ir::PartKind::ToolCall: {
                write_assistant_text(w, text);
                text.clear();
                if (!reasoning_sent && s.signatures) {
                    auto c = s.signatures->get(p.call_id);
                    if (c && c->protocol == Protocol::OpenAIResponses && c->model == s.upstream_model &&
                        replayed.insert(c->signature).second)
                        responses_detail::write_reasoning_item(w, "", c->thinking, c->signature);
                }
                bool custom = is_custom_tool(names.req, p.name);
                w.StartObject();
                write_key(w, "type");
                write_string(w, custom ? "custom_tool_call" : "function_call");
                write_key(w, "call_id");
                write_string(w, names.call(p.call_id));
                write_key(w, "name");
                write_string(w, names.tool(p.name));
                if (custom) {
                    write_key(w, "input");
                    write_string(w, custom_input(p.args_json));
                } else {
                    write_key(w, "arguments");
                    write_string(w, p.args_json.empty() ? std::string_view("{}") : std::string_view(p.args_json));
                }
                w.EndObject();
                break;
            }
            default: break;  // media, redacted thinking: not expressible in assistant history
        }
    }
    write_assistant_text(w, text);
}

void write_user_turn(JsonWriter& w, const ir::Message& m, Names& names) {
    // Tool outputs first, right after the calls they answer (§6.3), then the rest.
    for (const auto& p : m.parts)
        if (p.kind == ir::PartKind::ToolResult) write_tool_output(w, p, names);
    std::vector<const ir::Part*> rest;
    for (const auto& p : m.parts) {
        if (p.kind == ir::PartKind::Text ? !p.text.empty() : is_media(p)) rest.push_back(&p);
    }
    write_user_message(w, rest);
}

std::string effort_for(const ir::Reasoning& re) {
    switch (re.mode) {
        case ir::ReasoningMode::Effort:
        case ir::ReasoningMode::Adaptive:
            if (re.effort == "max") return "xhigh";
            return re.effort;
        case ir::ReasoningMode::Budget: return re.budget < 0 ? std::string() : budget_to_effort(re.budget);
        case ir::ReasoningMode::Off: return re.effort == "none" ? re.effort : std::string();
        case ir::ReasoningMode::Unset: break;
    }
    return {};
}

}  // namespace

Result<std::string> encode_responses_request(const ir::Request& r, Session& s) {
    if (r.n && *r.n > 1)
        return Result<std::string>::fail(400, "this model is served through the OpenAI Responses API, which returns "
                                              "one answer per request: n must be 1");
    for (const auto& m : r.messages)
        for (const auto& p : m.parts) {
            if (p.kind == ir::PartKind::Audio)
                return Result<std::string>::fail(400, "audio input cannot be sent to this model (OpenAI Responses API)");
            if (p.kind == ir::PartKind::ToolResult)
                for (const auto& c : p.content)
                    if (c.kind == ir::PartKind::Audio)
                        return Result<std::string>::fail(400, "audio in tool results cannot be sent to this model");
        }

    Names names(s, r);
    std::string buf;
    reserve_output(buf, s.body_bytes);
    JsonWriter w(buf);
    w.StartObject();
    write_key(w, "model");
    write_string(w, s.upstream_model.empty() ? r.model : s.upstream_model);

    std::string instructions;
    for (const auto& p : r.system) {
        if (p.kind != ir::PartKind::Text || p.text.empty()) continue;
        if (!instructions.empty()) instructions += "\n\n";
        instructions += p.text;
    }
    if (!instructions.empty()) {
        write_key(w, "instructions");
        write_string(w, instructions);
    }

    // Tools first, so that their names are mapped before the history uses them.
    std::string tools_json;
    if (!r.tools.empty() || r.web_search) {
        std::string tb;
        JsonWriter tw(tb);
        tw.StartArray();
        for (const auto& t : r.tools) {
            tw.StartObject();
            if (t.custom) {  // the Responses API has them: as they came
                write_key(tw, "type");
                write_string(tw, "custom");
                write_key(tw, "name");
                write_string(tw, names.tool(t.name));
                if (!t.description.empty()) {
                    write_key(tw, "description");
                    write_string(tw, t.description);
                }
                write_key(tw, "format");
                write_custom_format(tw, t, false);
                tw.EndObject();
                continue;
            }
            write_key(tw, "type");
            write_string(tw, "function");
            write_key(tw, "name");
            write_string(tw, names.tool(t.name));
            if (!t.description.empty()) {
                write_key(tw, "description");
                write_string(tw, t.description);
            }
            write_key(tw, "parameters");
            write_raw(tw, object_root_schema(t.parameters_json));
            // Responses defaults strict to true, which rejects most schemas
            // written for other APIs (§6.7): strict only when asked for.
            write_key(tw, "strict");
            tw.Bool(t.strict.value_or(false));
            tw.EndObject();
        }
        if (r.web_search) write_responses_web_search_tool(tw, *r.web_search);
        tw.EndArray();
        tools_json.assign(tb.data(), tb.size());
    }

    write_key(w, "input");
    w.StartArray();
    for (const auto& m : r.messages) {
        if (m.role == ir::Role::Assistant) write_assistant_turn(w, m, names);
        else write_user_turn(w, m, names);
    }
    w.EndArray();

    if (!tools_json.empty()) {
        write_key(w, "tools");
        write_raw(w, tools_json, "[]");
    }
    const ir::ToolChoice& tc = r.tool_choice;
    if (tc.mode == ir::ToolChoiceMode::Named) {
        write_key(w, "tool_choice");
        w.StartObject();
        write_key(w, "type");
        write_string(w, is_custom_tool(r, tc.name) ? "custom" : "function");
        write_key(w, "name");
        write_string(w, names.tool(tc.name));
        w.EndObject();
    } else if (!tc.allowed.empty() && tc.mode != ir::ToolChoiceMode::None) {
        write_key(w, "tool_choice");
        w.StartObject();
        write_key(w, "type");
        write_string(w, "allowed_tools");
        write_key(w, "mode");
        write_string(w, tc.mode == ir::ToolChoiceMode::Required ? "required" : "auto");
        write_key(w, "tools");
        w.StartArray();
        for (const auto& n : tc.allowed) {
            w.StartObject();
            write_key(w, "type");
            write_string(w, is_custom_tool(r, n) ? "custom" : "function");
            write_key(w, "name");
            write_string(w, names.tool(n));
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    } else if (tc.mode != ir::ToolChoiceMode::Unset) {
        write_key(w, "tool_choice");
        write_string(w, tc.mode == ir::ToolChoiceMode::None       ? "none"
                        : tc.mode == ir::ToolChoiceMode::Required ? "required"
                                                                  : "auto");
    }
    if (r.parallel_tool_calls) {
        write_key(w, "parallel_tool_calls");
        w.Bool(*r.parallel_tool_calls);
    }
    if (r.max_tokens) {
        write_key(w, "max_output_tokens");
        w.Int64(std::max<int64_t>(16, *r.max_tokens));  // the API's minimum
    }
    // Reasoning models refuse sampling parameters: sent only without reasoning.
    std::string effort = effort_for(r.reasoning);
    bool reasoning_on = !effort.empty() && effort != "none";
    if (r.temperature && !reasoning_on) {
        write_key(w, "temperature");
        w.Double(*r.temperature);
    }
    if (r.top_p && !reasoning_on) {
        write_key(w, "top_p");
        w.Double(*r.top_p);
    }

    // Without a summary the API sends no reasoning text: asked for whenever
    // reasoning is, unless the client said not to show thoughts.
    bool summary = !r.reasoning.summary.empty() || r.reasoning.include_thoughts.value_or(reasoning_on);
    if (!effort.empty() || summary) {
        write_key(w, "reasoning");
        w.StartObject();
        if (!effort.empty()) {
            write_key(w, "effort");
            write_string(w, effort);
        }
        if (summary) {
            write_key(w, "summary");
            write_string(w, r.reasoning.summary.empty() ? std::string_view("auto") : std::string_view(r.reasoning.summary));
        }
        w.EndObject();
    }
    // Stateless reasoning replay (store:false) needs the encrypted content
    // back; asked for only when reasoning was requested, since models
    // without reasoning refuse the include.
    if (reasoning_on) {
        write_key(w, "include");
        w.StartArray();
        write_string(w, "reasoning.encrypted_content");
        w.EndArray();
    }

    const ir::ResponseFormat& f = r.format;
    if (f.kind != ir::FormatKind::Unset) {
        write_key(w, "text");
        w.StartObject();
        write_key(w, "format");
        w.StartObject();
        write_key(w, "type");
        if (f.kind == ir::FormatKind::Text) {
            write_string(w, "text");
        } else if (f.kind == ir::FormatKind::JsonObject) {
            write_string(w, "json_object");
        } else {
            write_string(w, "json_schema");
            write_key(w, "name");
            write_string(w, f.name.empty() ? std::string_view("response") : std::string_view(f.name));
            if (!f.description.empty()) {
                write_key(w, "description");
                write_string(w, f.description);
            }
            write_key(w, "schema");
            write_raw(w, f.schema_json, R"({"type":"object"})");
            if (f.strict) {
                write_key(w, "strict");
                w.Bool(*f.strict);
            }
        }
        w.EndObject();
        w.EndObject();
    }
    if (!r.user.empty()) {
        write_key(w, "user");
        write_string(w, r.user);
    }
    write_key(w, "stream");
    w.Bool(r.stream);
    write_key(w, "store");
    w.Bool(false);
    w.EndObject();
    return buf;
}

}  // namespace agd::translate

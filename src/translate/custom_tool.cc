#include "translate/custom_tool.h"

namespace agd::translate {
void read_custom_format(const JsonValue* format, ir::Tool& t) {
    t.custom = true;
    if (!is_object(format) || get_string(member(*format, "type")) != "grammar") return;
    const JsonValue* g = member(*format, "grammar");
    if (!is_object(g)) g = format;
    t.grammar_syntax.assign(get_string(member(*g, "syntax")));
    t.grammar_definition.assign(get_string(member(*g, "definition")));
}

std::string custom_parameters(const ir::Tool& t) {
    std::string desc = "The tool's whole input, as free text.";
    if (!t.grammar_definition.empty()) {
        desc += " It must follow this ";
        desc += t.grammar_syntax.empty() ? std::string_view("grammar") : std::string_view(t.grammar_syntax);
        desc += t.grammar_syntax.empty() ? ":\n" : " grammar:\n";
        desc += t.grammar_definition;
    }
    std::string out;
    JsonWriter w(out);
    w.StartObject();
    write_key(w, "type");
    write_string(w, "object");
    write_key(w, "properties");
    w.StartObject();
    write_key(w, "input");
    w.StartObject();
    write_key(w, "type");
    write_string(w, "string");
    write_key(w, "description");
    write_string(w, desc);
    w.EndObject();
    w.EndObject();
    write_key(w, "required");
    w.StartArray();
    write_string(w, "input");
    w.EndArray();
    write_key(w, "additionalProperties");
    w.Bool(false);
    w.EndObject();
    return out;
}

void write_custom_format(JsonWriter& w, const ir::Tool& t, bool chat) {
    w.StartObject();
    write_key(w, "type");
    if (t.grammar_definition.empty()) {
        write_string(w, "text");
    } else {
        write_string(w, "grammar");
        if (chat) {
            write_key(w, "grammar");
            w.StartObject();
        }
        write_key(w, "syntax");
        write_string(w, t.grammar_syntax.empty() ? std::string_view("lark") : std::string_view(t.grammar_syntax));
        write_key(w, "definition");
        write_string(w, t.grammar_definition);
        if (chat) w.EndObject();
    }
    w.EndObject();
}

bool is_custom_tool(const ir::Request& r, std::string_view name) {
    for (const ir::Tool& t : r.tools)
        if (t.custom && t.name == name) return true;
    return false;
}

std::string custom_args_json(std::string_view input) {
    std::string out;
    out.reserve(input.size() + 16);
    JsonWriter w(out);
    w.StartObject();
    write_key(w, "input");
    write_string(w, input);
    w.EndObject();
    return out;
}

std::string custom_input(std::string_view args_json) {
    JsonDoc d;
    if (parse_json(args_json, d)) {
        if (d.IsString()) return std::string(d.GetString(), d.GetStringLength());
        if (d.IsObject() && d.MemberCount() == 0) return {};
        if (const JsonValue* in = member(d, "input"); in && in->IsString())
            return std::string(in->GetString(), in->GetStringLength());
    }
    return std::string(args_json);
}

void append_json_escaped(std::string& out, std::string_view text) {
    std::string quoted;
    JsonWriter w(quoted);
    write_string(w, text);
    out.append(quoted, 1, quoted.size() - 2);
}

}  // namespace agd::translate

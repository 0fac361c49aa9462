#include "translate/custom_tool.h"

namespace agd::translate {
namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool hex4(std::string_view s, unsigned& cp) {
    cp = 0;
    for (char c : s.substr(0, 4)) {
        cp <<= 4;
        if (c >= '0' && c <= '9') cp |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') cp |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') cp |= static_cast<unsigned>(c - 'A' + 10);
        else return false;
    }
    return s.size() >= 4;
}

// The text of escaped string content (what stands between the quotes);
// the text as it came when it is no valid JSON string.
void append_unescaped(std::string& out, std::string_view escaped) {
    if (escaped.empty()) return;
    if (escaped.find('\\') == std::string_view::npos) {
        bool plain = true;
        for (char c : escaped)
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x80) plain = false;
        if (plain) {
            out.append(escaped);
            return;
        }
    }
    std::string quoted;
    quoted.reserve(escaped.size() + 2);
    quoted.push_back('"');
    quoted.append(escaped);
    quoted.push_back('"');
    JsonDoc d;
    if (parse_json(quoted, d) && d.IsString()) out.append(d.GetString(), d.GetStringLength());
    else out.append(escaped);
}

}  // namespace

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

bool CustomInputStream::feed(std::string_view frag, std::string& out) {
    size_t i = 0;
    while (i < frag.size() && state_ != State::Body && state_ != State::Done && state_ != State::Whole) {
        char c = frag[i++];
        seen_.push_back(c);
        if (state_ != State::Key && space(c)) continue;
        State next = State::Whole;
        switch (state_) {
            case State::Open: next = c == '{' ? State::KeyStart : State::Whole; break;
            case State::KeyStart: next = c == '"' ? State::Key : State::Whole; break;
            case State::Key:
                if (c == '"') {
                    next = key_ == "input" ? State::Colon : State::Whole;
                } else if (c != '\\' && key_.size() < 8) {
                    key_.push_back(c);
                    next = State::Key;
                }
                break;
            case State::Colon: next = c == ':' ? State::Value : State::Whole; break;
            case State::Value:
                next = c == '"' ? State::Body : State::Whole;
                if (next == State::Body) seen_.clear();
                break;
            default: break;
        }
        state_ = next;
    }
    std::string_view rest = frag.substr(i);
    if (state_ == State::Done) return true;
    if (state_ == State::Body) {
        pending_.append(rest);
        body(out);
        return pending_.size() <= limit_;
    }
    if (seen_.size() + rest.size() > limit_) return false;
    seen_.append(rest);
    return true;
}

// Decodes the escaped input held up to the last whole character or escape;
// the closing quote ends it.
void CustomInputStream::body(std::string& out) {
    const std::string& p = pending_;
    const size_t n = p.size();
    size_t i = 0, safe = 0;
    bool closed = false;
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        if (c == '"') {
            closed = true;
            break;
        }
        if (c == '\\') {
            if (i + 1 >= n) break;
            if (p[i + 1] != 'u') {
                i += 2;
                safe = i;
                continue;
            }
            if (i + 6 > n) break;
            unsigned cp = 0;
            if (hex4(std::string_view(p).substr(i + 2, 4), cp) && cp >= 0xD800 && cp <= 0xDBFF) {
                // A high surrogate: decoded with the low one that follows.
                if (i + 7 > n) break;
                if (p[i + 6] == '\\') {
                    if (i + 8 > n) break;
                    if (p[i + 7] == 'u') {
                        if (i + 12 > n) break;
                        i += 12;
                        safe = i;
                        continue;
                    }
                }
            }
            i += 6;
            safe = i;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (i + len > n) break;
        i += len;
        safe = i;
    }
    append_unescaped(out, std::string_view(p).substr(0, safe));
    if (closed) {
        pending_.clear();
        state_ = State::Done;
    } else {
        pending_.erase(0, safe);
    }
}

void CustomInputStream::finish(std::string& out) {
    if (state_ == State::Body) {
        append_unescaped(out, pending_);
        pending_.clear();
        state_ = State::Done;
        return;
    }
    if (state_ == State::Done) return;
    out += custom_input(seen_);
    seen_.clear();
    state_ = State::Done;
}

}  // namespace agd::translate

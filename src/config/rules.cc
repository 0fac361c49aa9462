#include "config/rules.h"

#include <algorithm>
#include <cctype>

#include "common/json.h"
#include "translate/json_util.h"

namespace agd::config {

namespace {

constexpr size_t kMaxPathDepth = 16;
constexpr unsigned kMaxValueDepth = 32;

bool ieq(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string parse_path(std::string_view text, std::vector<std::string>& out) {
    out.clear();
    if (text.empty()) return "a JSON path is needed before '=' (such as max_tokens or generationConfig.topK)";
    size_t start = 0;
    while (true) {
        size_t dot = text.find('.', start);
        std::string_view name = text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (name.empty()) return "the path '" + std::string(text) + "' has an empty member name";
        for (char c : name)
            if (static_cast<unsigned char>(c) < 0x20 || c == ' ' || c == '"' || c == '\\')
                return "the path '" + std::string(text) + "' holds a space, quote or control character";
        out.emplace_back(name);
        if (out.size() > kMaxPathDepth) return "a path has at most " + std::to_string(kMaxPathDepth) + " members";
        if (dot == std::string_view::npos) return {};
        start = dot + 1;
    }
}

// The nesting depth of JSON text (brackets outside strings).
unsigned depth_of(std::string_view text) {
    JsonDepthCounter c;
    c.feed(text);
    return c.max_depth();
}

}  // namespace

std::string parse_rule_edit(RuleEdit::Kind kind, std::string_view value, RuleEdit& out) {
    out.kind = kind;
    out.text.assign(value);
    out.value.clear();
    if (kind == RuleEdit::Kind::Remove) {
        if (value.find('=') != std::string_view::npos) return "remove takes a path alone, without '=VALUE'";
        return parse_path(trim(value), out.path);
    }
    size_t eq = value.find('=');
    if (eq == std::string_view::npos) return "expected PATH=VALUE (such as max_tokens=32000)";
    if (std::string err = parse_path(trim(value.substr(0, eq)), out.path); !err.empty()) return err;
    std::string_view v = trim(value.substr(eq + 1));
    if (v.empty()) return "the value after '=' is empty (write \"\" for an empty string)";
    if (depth_of(v) > kMaxValueDepth) return "the value nests deeper than " + std::to_string(kMaxValueDepth) + " levels";
    translate::JsonDoc d;
    if (translate::parse_json(v, d)) {
        translate::JsonWriter w(out.value);
        d.Accept(w);
    } else if (v.front() == '{' || v.front() == '[' || v.front() == '"') {
        return "the value '" + std::string(v) + "' is not valid JSON";
    } else {
        out.value = json_string(v);  // a bare word: a string
    }
    return {};
}

std::string parse_rule_header(std::string_view value, std::string& out) {
    size_t colon = value.find(':');
    if (colon == std::string_view::npos || colon == 0) return "expected 'Name: value'";
    std::string_view name = trim(value.substr(0, colon));
    std::string_view v = trim(value.substr(colon + 1));
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
            return "the header name '" + std::string(name) + "' holds a character a header name cannot";
    for (char c : v)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return "the header value holds a control character";
    if (v.empty()) return "the header '" + std::string(name) + "' has no value";
    for (std::string_view own : {"authorization", "x-api-key", "x-goog-api-key", "host", "content-length",
                                 "content-type", "transfer-encoding", "connection", "accept", "expect", "te",
                                 "upgrade", "keep-alive", "proxy-authorization", "anthropic-version"})
        if (ieq(name, own))
            return "the daemon sets '" + std::string(name) + "' itself; a rule cannot";
    out.assign(name);
    out += ": ";
    out.append(v);
    return {};
}

bool parse_rule_wire(std::string_view value, RuleWire& out) {
    static constexpr std::pair<std::string_view, RuleWire> kWords[] = {
        {"openai", RuleWire::OpenAI},       {"chat", RuleWire::Chat},     {"responses", RuleWire::Responses},
        {"anthropic", RuleWire::Anthropic}, {"gemini", RuleWire::Gemini}};
    for (const auto& [word, w] : kWords)
        if (value == word) {
            out = w;
            return true;
        }
    return false;
}

}  // namespace agd::config

#include "dispatch/payload_rules.h"

#include <algorithm>
#include <cctype>

#include "common/glob.h"
#include "translate/json_util.h"
#include "upstream/client.h"

namespace agd::dispatch {

namespace {

using translate::JsonDoc;
using translate::JsonValue;

bool wire_matches(config::RuleWire want, Protocol wire) {
    switch (want) {
        case config::RuleWire::Any: return true;
        case config::RuleWire::OpenAI: return wire == Protocol::OpenAIChat || wire == Protocol::OpenAIResponses;
        case config::RuleWire::Chat: return wire == Protocol::OpenAIChat;
        case config::RuleWire::Responses: return wire == Protocol::OpenAIResponses;
        case config::RuleWire::Anthropic: return wire == Protocol::Anthropic;
        case config::RuleWire::Gemini: return wire == Protocol::Gemini;
    }
    return false;
}

JsonValue* find(JsonValue& obj, const std::string& name) {
    auto it = obj.FindMember(rapidjson::StringRef(name.data(), name.size()));
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

// One edit on the body's root object. Objects missing on the way are made
// for default and set; a member on the way that is not an object leaves
// the body as it is (the rule cannot mean it).
void apply_edit(const config::RuleEdit& e, JsonDoc& doc) {
    auto& a = doc.GetAllocator();
    JsonValue* obj = &doc;
    const bool remove = e.kind == config::RuleEdit::Kind::Remove;
    for (size_t i = 0; i + 1 < e.path.size(); ++i) {
        JsonValue* next = find(*obj, e.path[i]);
        if (!next) {
            if (remove) return;
            obj->AddMember(JsonValue(e.path[i].data(), static_cast<rapidjson::SizeType>(e.path[i].size()), a),
                           JsonValue(rapidjson::kObjectType), a);
            next = &(obj->MemberEnd() - 1)->value;
        }
        if (!next->IsObject()) return;
        obj = next;
    }
    const std::string& last = e.path.back();
    auto it = obj->FindMember(rapidjson::StringRef(last.data(), last.size()));
    if (remove) {
        if (it != obj->MemberEnd()) obj->EraseMember(it);
        return;
    }
    if (e.kind == config::RuleEdit::Kind::Default && it != obj->MemberEnd()) return;
    JsonDoc parsed;
    if (!translate::parse_json(e.value, parsed)) return;  // checked when the config was read
    JsonValue v(parsed, a);
    if (it != obj->MemberEnd()) it->value = std::move(v);
    else obj->AddMember(JsonValue(last.data(), static_cast<rapidjson::SizeType>(last.size()), a), v, a);
}

bool same_name(std::string_view line, std::string_view header) {
    size_t colon = header.find(':');
    std::string_view name = header.substr(0, colon);
    return line.size() > name.size() && line[name.size()] == ':' &&
           std::equal(name.begin(), name.end(), line.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// A header the request already has (anthropic-beta forwarded from the
// client, a provider's extra header) gets the rule's value added to its
// list; otherwise the line is added.
void add_header(std::vector<std::string>& headers, const std::string& h) {
    for (auto& line : headers) {
        if (!same_name(line, h)) continue;
        std::string_view value = std::string_view(h).substr(h.find(':') + 2);
        if (line.find(value) != std::string::npos) return;
        line += ", ";
        line.append(value);
        return;
    }
    headers.push_back(h);
}

}  // namespace

bool rule_matches(const config::RuleConfig& rule, std::string_view model, Protocol wire, std::string_view client) {
    if (!wire_matches(rule.wire, wire)) return false;
    if (!rule.client.empty() && rule.client != client) return false;
    if (rule.models.empty()) return true;
    return std::any_of(rule.models.begin(), rule.models.end(),
                       [&](const std::string& g) { return glob_match(g, model); });
}

Result<int> apply_rules(const config::Config& cfg, std::string_view model, Protocol wire, std::string_view client,
                        upstream::Request& req, std::string& owned, bool form) {
    int applied = 0;
    bool edits = false;
    for (const auto& r : cfg.rules) {
        if (!rule_matches(r, model, wire, client)) continue;
        ++applied;
        edits = edits || !r.edits.empty();
        for (const auto& h : r.headers) add_header(req.headers, h);
    }
    if (!edits || form) return applied;
    JsonDoc doc;
    if (!translate::parse_json(std::string_view(req.body ? req.body : "", req.body_len), doc) || !doc.IsObject())
        return Result<int>::fail(400, "a payload rule applies to this request, but its body is not a JSON object");
    for (const auto& r : cfg.rules) {
        if (r.edits.empty() || !rule_matches(r, model, wire, client)) continue;
        for (const auto& e : r.edits) apply_edit(e, doc);
    }
    std::string out;
    translate::reserve_output(out, req.body_len);
    translate::JsonWriter w(out);
    doc.Accept(w);
    owned.swap(out);
    req.body = owned.data();
    req.body_len = owned.size();
    return applied;
}

}  // namespace agd::dispatch

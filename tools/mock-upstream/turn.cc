#include "turn.h"

#include <algorithm>
#include <cctype>

#include "json.h"

namespace mock {
namespace {

struct Offer {
    std::string name;
    const JValue* schema = nullptr;
    bool custom = false;  // a custom (freeform) tool: called with kCustomInput
};

struct Choice {
    bool none = false;
    std::optional<std::string> forced;                // a named tool
    std::optional<std::vector<std::string>> allowed;  // allowed_tools / allowedFunctionNames
};

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

const JValue* array_member(const JValue& obj, std::string_view name) {
    const JValue* v = member(obj, name);
    return v != nullptr && v->IsArray() ? v : nullptr;
}

// The schema type as a lowercase name: a string, or the first non-null
// entry of a type array, or the first branch of anyOf / oneOf.
std::string type_of(const JValue& schema) {
    const JValue* type = member(schema, "type");
    if (type != nullptr && type->IsString()) {
        return lower(as_str(type));
    }
    if (type != nullptr && type->IsArray()) {
        for (const JValue& t : type->GetArray()) {
            if (t.IsString() && lower(as_str(&t)) != "null") {
                return lower(as_str(&t));
            }
        }
    }
    for (const char* alt : {"anyOf", "oneOf", "any_of"}) {
        const JValue* branches = array_member(schema, alt);
        if (branches != nullptr && !branches->Empty()) {
            return type_of((*branches)[0]);
        }
    }
    return {};
}

void sample_value(JsonOut& j, const JValue* schema) {
    if (schema == nullptr || !schema->IsObject()) {
        j.str("Paris");
        return;
    }
    const JValue* values = array_member(*schema, "enum");
    if (values != nullptr && !values->Empty()) {
        j.raw(compact((*values)[0]));
        return;
    }
    std::string type = type_of(*schema);
    if (type == "number" || type == "integer") {
        j.num(1);
    } else if (type == "boolean") {
        j.boolean(true);
    } else if (type == "object") {
        j.obj().end();
    } else if (type == "array") {
        j.arr().end();
    } else if (type == "null") {
        j.null();
    } else {
        j.str("Paris");
    }
}

std::vector<Offer> chat_offers(const JValue& doc) {
    std::vector<Offer> out;
    if (const JValue* tools = array_member(doc, "tools")) {
        for (const JValue& t : tools->GetArray()) {
            const JValue* fn = member(t, "function");
            std::string_view type = str_of(t, "type");
            if (fn != nullptr && (type.empty() || type == "function") && !str_of(*fn, "name").empty()) {
                out.push_back({std::string(str_of(*fn, "name")), member(*fn, "parameters")});
            }
            const JValue* custom = member(t, "custom");
            if (custom != nullptr && type == "custom" && !str_of(*custom, "name").empty()) {
                out.push_back({std::string(str_of(*custom, "name")), nullptr, true});
            }
        }
    }
    return out;
}

std::vector<Offer> responses_offers(const JValue& doc) {
    std::vector<Offer> out;
    if (const JValue* tools = array_member(doc, "tools")) {
        for (const JValue& t : tools->GetArray()) {
            if (str_of(t, "type") == "function" && !str_of(t, "name").empty()) {
                out.push_back({std::string(str_of(t, "name")), member(t, "parameters")});
            }
            if (str_of(t, "type") == "custom" && !str_of(t, "name").empty()) {
                out.push_back({std::string(str_of(t, "name")), nullptr, true});
            }
        }
    }
    return out;
}

std::vector<Offer> anthropic_offers(const JValue& doc) {
    std::vector<Offer> out;
    if (const JValue* tools = array_member(doc, "tools")) {
        for (const JValue& t : tools->GetArray()) {
            std::string_view type = str_of(t, "type");
            if ((type.empty() || type == "custom") && !str_of(t, "name").empty()) {
                out.push_back({std::string(str_of(t, "name")), member(t, "input_schema")});
            }
        }
    }
    return out;
}

std::vector<Offer> gemini_offers(const JValue& doc) {
    std::vector<Offer> out;
    const JValue* tools = member(doc, "tools");
    if (tools == nullptr || !tools->IsArray()) {
        return out;
    }
    for (const JValue& t : tools->GetArray()) {
        const JValue* decls = member2(t, "functionDeclarations", "function_declarations");
        if (decls == nullptr || !decls->IsArray()) {
            continue;
        }
        for (const JValue& d : decls->GetArray()) {
            if (str_of(d, "name").empty()) {
                continue;
            }
            const JValue* schema = member(d, "parameters");
            if (schema == nullptr) {
                schema = member2(d, "parametersJsonSchema", "parameters_json_schema");
            }
            out.push_back({std::string(str_of(d, "name")), schema});
        }
    }
    return out;
}

// Names listed as [{type:"function", function:{name}}] or [{type:"function", name}]
// (or the same of type custom, Chat's under "custom").
std::vector<std::string> listed_names(const JValue* tools) {
    std::vector<std::string> out;
    if (tools != nullptr && tools->IsArray()) {
        for (const JValue& t : tools->GetArray()) {
            std::string_view name = str_of(t, "name");
            if (const JValue* fn = member(t, "function")) {
                name = str_of(*fn, "name");
            } else if (const JValue* cu = member(t, "custom")) {
                name = str_of(*cu, "name");
            }
            out.emplace_back(name);
        }
    }
    return out;
}

// Chat and Responses: "none" | "auto" | "required" | {type:"function",...} | allowed_tools.
Choice openai_choice(const JValue& doc, bool chat) {
    Choice c;
    const JValue* tc = member(doc, "tool_choice");
    if (tc == nullptr) {
        return c;
    }
    if (tc->IsString()) {
        c.none = as_str(tc) == "none";
        return c;
    }
    std::string_view type = str_of(*tc, "type");
    if (type == "function" || type == "custom") {
        const JValue* fn = chat ? member(*tc, type == "custom" ? "custom" : "function") : tc;
        if (fn != nullptr) {
            c.forced = std::string(str_of(*fn, "name"));
        }
    } else if (type == "allowed_tools") {
        const JValue* at = chat ? member(*tc, "allowed_tools") : tc;
        if (at != nullptr) {
            c.allowed = listed_names(member(*at, "tools"));
        }
    }
    return c;
}

Choice anthropic_choice(const JValue& doc) {
    Choice c;
    if (const JValue* tc = member(doc, "tool_choice")) {
        std::string_view type = str_of(*tc, "type");
        c.none = type == "none";
        if (type == "tool") {
            c.forced = std::string(str_of(*tc, "name"));
        }
    }
    return c;
}

Choice gemini_choice(const JValue& doc) {
    Choice c;
    const JValue* config = member2(doc, "toolConfig", "tool_config");
    const JValue* fcc =
        config != nullptr ? member2(*config, "functionCallingConfig", "function_calling_config") : nullptr;
    if (fcc == nullptr) {
        return c;
    }
    c.none = str_of(*fcc, "mode") == "NONE";
    const JValue* names = member2(*fcc, "allowedFunctionNames", "allowed_function_names");
    if (names != nullptr && names->IsArray()) {
        c.allowed.emplace();
        for (const JValue& n : names->GetArray()) {
            c.allowed->emplace_back(as_str(&n));
        }
    }
    return c;
}

std::string join_lines(const std::vector<std::string>& texts) {
    std::string out;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        out += (i == 0 ? "" : "\n") + texts[i];
    }
    return out;
}

using ResultFn = std::optional<std::string> (*)(const JValue&);

// Texts of the trailing run of items that are tool results (Chat, Responses).
std::optional<std::string> trailing_results(const JValue* items, ResultFn result) {
    if (items == nullptr || !items->IsArray()) {
        return std::nullopt;
    }
    std::vector<std::string> texts;
    for (rapidjson::SizeType i = items->Size(); i-- > 0;) {
        std::optional<std::string> text = result((*items)[i]);
        if (!text) {
            break;
        }
        texts.insert(texts.begin(), std::move(*text));
    }
    return texts.empty() ? std::nullopt : std::optional(join_lines(texts));
}

// Texts of the tool-result parts of the last message (Anthropic, Gemini).
std::optional<std::string> last_results(const JValue* messages, std::string_view parts_key,
                                        std::string_view role, ResultFn result) {
    if (messages == nullptr || !messages->IsArray() || messages->Empty()) {
        return std::nullopt;
    }
    const JValue& last = (*messages)[messages->Size() - 1];
    if (!role.empty() && str_of(last, "role") != role) {
        return std::nullopt;
    }
    const JValue* parts = member(last, parts_key);
    if (parts == nullptr || !parts->IsArray()) {
        return std::nullopt;
    }
    std::vector<std::string> texts;
    for (const JValue& p : parts->GetArray()) {
        if (auto t = result(p)) texts.push_back(std::move(*t));
    }
    return texts.empty() ? std::nullopt : std::optional(join_lines(texts));
}

std::optional<std::string> chat_result(const JValue& m) {
    if (str_of(m, "role") != "tool") return std::nullopt;
    const JValue* content = member(m, "content");
    return content != nullptr ? text_of(*content) : std::string();
}

std::optional<std::string> responses_result(const JValue& item) {
    std::string_view type = str_of(item, "type");
    if (type != "function_call_output" && type != "custom_tool_call_output") return std::nullopt;
    const JValue* output = member(item, "output");
    return output != nullptr ? text_of(*output) : std::string();
}

std::optional<std::string> anthropic_result(const JValue& block) {
    if (str_of(block, "type") != "tool_result") return std::nullopt;
    const JValue* content = member(block, "content");
    return content != nullptr ? text_of(*content) : std::string();
}

std::optional<std::string> gemini_result(const JValue& part) {
    const JValue* fr = member2(part, "functionResponse", "function_response");
    if (fr == nullptr) return std::nullopt;
    const JValue* response = member(*fr, "response");
    return response != nullptr ? compact(*response) : std::string("null");
}

// The tool results the conversation ends with, if any.
std::optional<std::string> tool_result(Api api, const JValue& doc) {
    switch (api) {
        case Api::chat: return trailing_results(member(doc, "messages"), chat_result);
        case Api::responses: return trailing_results(member(doc, "input"), responses_result);
        case Api::messages:
            return last_results(member(doc, "messages"), "content", "user", anthropic_result);
        case Api::gemini: return last_results(member(doc, "contents"), "parts", {}, gemini_result);
    }
    return std::nullopt;
}

}  // namespace

std::string schema_args(const JValue* schema) {
    JsonOut j;
    j.obj();
    const JValue* props = schema != nullptr ? member(*schema, "properties") : nullptr;
    if (props != nullptr && !props->IsObject()) {
        props = nullptr;
    }
    std::vector<std::string_view> names;
    if (const JValue* required = schema != nullptr ? array_member(*schema, "required") : nullptr) {
        for (const JValue& n : required->GetArray()) {
            if (n.IsString()) names.push_back(as_str(&n));
        }
    }
    if (names.empty() && props != nullptr) {
        for (const auto& m : props->GetObject()) {
            names.push_back(as_str(&m.name));
        }
    }
    for (std::string_view name : names) {
        j.key(name);
        sample_value(j, props != nullptr ? member(*props, name) : nullptr);
    }
    j.end();
    return j.take();
}

Turn read_turn(Api api, const JValue& doc, int calls) {
    Turn turn;
    turn.tool_result = tool_result(api, doc);
    if (turn.tool_result) {
        return turn;
    }
    std::vector<Offer> offers;
    Choice choice;
    switch (api) {
        case Api::chat: offers = chat_offers(doc); choice = openai_choice(doc, true); break;
        case Api::responses: offers = responses_offers(doc); choice = openai_choice(doc, false); break;
        case Api::messages: offers = anthropic_offers(doc); choice = anthropic_choice(doc); break;
        case Api::gemini: offers = gemini_offers(doc); choice = gemini_choice(doc); break;
    }
    if (choice.allowed) {
        std::erase_if(offers, [&](const Offer& o) {
            return std::find(choice.allowed->begin(), choice.allowed->end(), o.name) ==
                   choice.allowed->end();
        });
    }
    if (choice.forced) {
        auto it = std::find_if(offers.begin(), offers.end(),
                               [&](const Offer& o) { return o.name == *choice.forced; });
        if (it != offers.end()) {
            offers = {*it};
        }
    }
    if (offers.empty() || choice.none) {
        return turn;
    }
    for (int k = 0; k < calls; ++k) {
        const Offer& o = offers[static_cast<std::size_t>(k) % offers.size()];
        turn.calls.push_back({o.name, o.custom ? std::string(kCustomInput) : schema_args(o.schema), 1, o.custom});
    }
    return turn;
}

}  // namespace mock

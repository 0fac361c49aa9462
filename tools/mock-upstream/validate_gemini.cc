// Gemini generateContent request checks (protocols.md §5.1, §7).
#include <fmt/format.h>

#include "validate.h"

namespace mock {
namespace {

// Schema keywords of the OpenAPI subset that `parameters` takes (both
// spellings: requests are proto3 JSON).
constexpr std::string_view kSchemaKeys[] = {
    "type", "format", "title", "description", "nullable", "enum", "items", "properties",
    "required", "propertyOrdering", "property_ordering", "minItems", "min_items", "maxItems",
    "max_items", "minLength", "min_length", "maxLength", "max_length", "minimum", "maximum",
    "minProperties", "min_properties", "maxProperties", "max_properties", "pattern", "anyOf",
    "any_of", "default", "example",
};

constexpr std::string_view kTypes[] = {
    "TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
};

bool known_key(std::string_view key) {
    for (std::string_view k : kSchemaKeys) {
        if (k == key) return true;
    }
    return false;
}

bool known_type(std::string_view type) {
    for (std::string_view t : kTypes) {
        if (t.size() != type.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < t.size() && same; ++i) {
            char c = type[i];
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            same = c == t[i];
        }
        if (same) return true;
    }
    return false;
}

std::string invalid(std::string_view what) {
    return fmt::format("Invalid JSON payload received. {}", what);
}

Verdict check_schema(const JValue& schema, const std::string& path, int depth) {
    if (depth > 64) {
        return fmt::format("{}: schema nesting is too deep", path);
    }
    if (!schema.IsObject()) {
        return invalid(fmt::format("Invalid value at '{}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Schema)", path));
    }
    for (const auto& m : schema.GetObject()) {
        std::string_view key = as_str(&m.name);
        if (!known_key(key)) {
            return invalid(fmt::format("Unknown name \"{}\" at '{}': Cannot find field.", key, path));
        }
    }
    if (const JValue* type = member(schema, "type")) {
        if (type->IsArray()) {
            return invalid(fmt::format("Proto field is not repeating, cannot start list at '{}.type'.", path));
        }
        if (!type->IsString() || !known_type(as_str(type))) {
            return invalid(fmt::format("Invalid value at '{}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), {}",
                                       path, compact(*type)));
        }
    }
    if (const JValue* values = member(schema, "enum")) {
        if (!values->IsArray()) {
            return invalid(fmt::format("Invalid value at '{}.enum': expected a list of strings.", path));
        }
        for (rapidjson::SizeType i = 0; i < values->Size(); ++i) {
            if (!(*values)[i].IsString()) {
                return invalid(fmt::format("Invalid value at '{}.enum[{}]' (TYPE_STRING), {}", path, i,
                                           compact((*values)[i])));
            }
        }
    }
    if (const JValue* props = member(schema, "properties")) {
        if (!props->IsObject()) {
            return invalid(fmt::format("Invalid value at '{}.properties': expected an object.", path));
        }
        // The keys here are property names, not keywords.
        for (const auto& m : props->GetObject()) {
            std::string sub = fmt::format("{}.properties[{}].value", path, as_str(&m.name));
            if (Verdict v = check_schema(m.value, sub, depth + 1)) return v;
        }
    }
    if (const JValue* items = member(schema, "items")) {
        if (Verdict v = check_schema(*items, path + ".items", depth + 1)) return v;
    }
    if (const JValue* any = member2(schema, "anyOf", "any_of")) {
        if (!any->IsArray()) {
            return invalid(fmt::format("Invalid value at '{}.any_of': expected a list.", path));
        }
        for (rapidjson::SizeType i = 0; i < any->Size(); ++i) {
            if (Verdict v = check_schema((*any)[i], fmt::format("{}.any_of[{}]", path, i), depth + 1)) return v;
        }
    }
    return std::nullopt;
}

Verdict check_tools(const JValue& doc) {
    const JValue* tools = member(doc, "tools");
    if (tools == nullptr || !tools->IsArray()) {
        return std::nullopt;
    }
    for (rapidjson::SizeType t = 0; t < tools->Size(); ++t) {
        const JValue* decls = member2((*tools)[t], "functionDeclarations", "function_declarations");
        if (decls == nullptr || !decls->IsArray()) {
            continue;
        }
        for (rapidjson::SizeType d = 0; d < decls->Size(); ++d) {
            const JValue& decl = (*decls)[d];
            std::string path = fmt::format("tools[{}].function_declarations[{}]", t, d);
            const JValue* params = member(decl, "parameters");
            if (params != nullptr && member2(decl, "parametersJsonSchema", "parameters_json_schema") != nullptr) {
                return fmt::format("{}: parameters and parameters_json_schema cannot both be set.", path);
            }
            if (params != nullptr) {
                if (Verdict v = check_schema(*params, path + ".parameters", 0)) return v;
            }
        }
    }
    return std::nullopt;
}

Verdict check_thinking_config(const JValue& doc) {
    const JValue* gen = member2(doc, "generationConfig", "generation_config");
    const JValue* tc = gen != nullptr ? member2(*gen, "thinkingConfig", "thinking_config") : nullptr;
    if (tc != nullptr && member2(*tc, "thinkingBudget", "thinking_budget") != nullptr &&
        member2(*tc, "thinkingLevel", "thinking_level") != nullptr) {
        return std::string("You can only set only one of thinking budget and thinking level.");
    }
    return std::nullopt;
}

// Counts of one content's parts, after checking each part.
struct PartCounts {
    int calls = 0;
    int responses = 0;
    bool first_call_signed = false;
};

Verdict check_parts(const JValue& content, const std::string& path, PartCounts& counts) {
    const JValue* parts = member(content, "parts");
    if (parts == nullptr || !parts->IsArray() || parts->Empty()) {
        return fmt::format("* GenerateContentRequest.{}.parts: contents.parts must not be empty.", path);
    }
    for (rapidjson::SizeType j = 0; j < parts->Size(); ++j) {
        const JValue& part = (*parts)[j];
        const JValue* text = member(part, "text");
        if (text != nullptr && text->IsString() && text->GetStringLength() == 0) {
            return fmt::format(
                "Unable to submit request because it has an empty text parameter at {}.parts[{}]. "
                "Add a value to the parameter and try again.",
                path, j);
        }
        if (member2(part, "functionCall", "function_call") != nullptr) {
            if (counts.calls++ == 0) {
                counts.first_call_signed = !str_of(part, "thoughtSignature").empty() ||
                                           !str_of(part, "thought_signature").empty();
            }
        }
        if (const JValue* fr = member2(part, "functionResponse", "function_response")) {
            ++counts.responses;
            const JValue* response = member(*fr, "response");
            if (response == nullptr || !response->IsObject()) {
                return invalid(fmt::format(
                    "Invalid value at '{}.parts[{}].function_response.response' "
                    "(type.googleapis.com/google.protobuf.Struct), {}",
                    path, j, response != nullptr ? compact(*response) : std::string("missing")));
            }
        }
    }
    return std::nullopt;
}

constexpr std::string_view kCountMismatch =
    "Please ensure that the number of function response parts is equal to the number of function "
    "call parts of the function call turn.";

Verdict check_contents(const JValue& contents, bool gemini3) {
    if (!contents.IsArray()) {
        return invalid("Invalid value at 'contents': expected a list.");
    }
    PartCounts prev;
    std::string_view prev_role;
    for (rapidjson::SizeType i = 0; i < contents.Size(); ++i) {
        const JValue& c = contents[i];
        std::string path = fmt::format("contents[{}]", i);
        std::string_view role = str_of(c, "role");
        if (!role.empty() && role != "user" && role != "model") {
            return fmt::format("Please use a valid role: user, model. ({}.role is \"{}\")", path, role);
        }
        bool model = role == "model";
        PartCounts counts;
        if (Verdict v = check_parts(c, path, counts)) return v;
        if (model && counts.calls > 0 && gemini3 && !counts.first_call_signed) {
            return fmt::format(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead to "
                "degraded model performance. Additional data, position {}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                i);
        }
        if (prev.calls > 0 && (model || counts.responses != prev.calls)) {
            return fmt::format("{} ({} has {} function calls, {} has {} function responses)",
                               kCountMismatch, fmt::format("contents[{}]", i - 1), prev.calls, path,
                               model ? 0 : counts.responses);
        }
        if (counts.responses > 0 && (prev_role != "model" || prev.calls != counts.responses)) {
            return fmt::format(
                "Please ensure that function response turn comes immediately after a function call "
                "turn, with as many parts. ({} has {} function responses)",
                path, counts.responses);
        }
        prev = model ? counts : PartCounts{};
        prev_role = model ? "model" : "user";
    }
    if (prev.calls > 0) {
        return fmt::format("{} (contents[{}] has {} function calls and no response turn follows)",
                           kCountMismatch, contents.Size() - 1, prev.calls);
    }
    return std::nullopt;
}

}  // namespace

Verdict validate_gemini(const JValue& doc, std::string_view model) {
    // countTokens may wrap the request.
    const JValue* wrapped = member2(doc, "generateContentRequest", "generate_content_request");
    const JValue& req = wrapped != nullptr && wrapped->IsObject() ? *wrapped : doc;
    if (Verdict v = check_thinking_config(req)) return v;
    if (Verdict v = check_tools(req)) return v;
    if (const JValue* system = member2(req, "systemInstruction", "system_instruction")) {
        PartCounts ignored;
        if (Verdict v = check_parts(*system, "system_instruction", ignored)) return v;
    }
    if (const JValue* contents = member(req, "contents")) {
        return check_contents(*contents, model.find("gemini-3") != std::string_view::npos);
    }
    return std::nullopt;
}

}  // namespace mock

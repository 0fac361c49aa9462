// OpenAI Chat Completions and Responses request checks (protocols.md §1, §2).
#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "validate.h"

namespace mock {
namespace {

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

std::string bad_name(std::string_view path) {
    return fmt::format(
        "Invalid '{}': string does not match pattern. Expected a string that matches the pattern "
        "'^[a-zA-Z0-9_-]{{1,64}}$'.",
        path);
}

const char* json_type(const JValue& v) {
    if (v.IsObject()) return "an object";
    if (v.IsArray()) return "an array";
    if (v.IsNumber()) return "a number";
    if (v.IsBool()) return "a boolean";
    if (v.IsNull()) return "null";
    return "a string";
}

std::string unanswered(std::string_view id) {
    return fmt::format(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to "
        "each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
        id);
}

// Ids of the assistant message's tool_calls, after checking their arguments.
Verdict assistant_calls(const JValue& m, rapidjson::SizeType i, std::vector<std::string>& ids) {
    const JValue* calls = member(m, "tool_calls");
    if (calls == nullptr || !calls->IsArray()) {
        return std::nullopt;
    }
    for (rapidjson::SizeType k = 0; k < calls->Size(); ++k) {
        const JValue* fn = member((*calls)[k], "function");
        const JValue* args = fn != nullptr ? member(*fn, "arguments") : nullptr;
        if (args != nullptr && !args->IsString()) {
            return fmt::format(
                "Invalid type for 'messages[{}].tool_calls[{}].function.arguments': expected a "
                "string, but got {} instead.",
                i, k, json_type(*args));
        }
        ids.emplace_back(str_of((*calls)[k], "id"));
    }
    return std::nullopt;
}

Verdict chat_messages(const JValue& messages) {
    if (!messages.IsArray()) {
        return std::nullopt;
    }
    std::vector<std::string> open;      // tool_call ids awaiting their tool message
    std::vector<std::string> answered;  // of those, the ones answered so far
    bool after_calls = false;           // only tool messages since an assistant with tool_calls
    for (rapidjson::SizeType i = 0; i < messages.Size(); ++i) {
        const JValue& m = messages[i];
        std::string_view role = str_of(m, "role");
        if (role == "tool") {
            std::string_view id = str_of(m, "tool_call_id");
            if (!after_calls) {
                return fmt::format(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'. (messages[{}])",
                    i);
            }
            if (!contains(open, id)) {
                return fmt::format(
                    "Invalid parameter: 'tool_call_id' of '{}' not found in 'tool_calls' of "
                    "previous message. (messages[{}])",
                    id, i);
            }
            answered.emplace_back(id);
            continue;
        }
        for (const std::string& id : open) {
            if (!contains(answered, id)) return unanswered(id);
        }
        open.clear();
        answered.clear();
        after_calls = false;
        if (role == "assistant") {
            if (Verdict v = assistant_calls(m, i, open)) return v;
            after_calls = !open.empty();
        }
    }
    for (const std::string& id : open) {
        if (!contains(answered, id)) return unanswered(id);
    }
    return std::nullopt;
}

}  // namespace

Verdict validate_chat(const JValue& doc) {
    if (present(doc, "stream_options")) {
        const JValue* stream = member(doc, "stream");
        if (stream == nullptr || !stream->IsBool() || !stream->GetBool()) {
            return std::string(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
        }
    }
    if (const JValue* tools = member(doc, "tools"); tools != nullptr && tools->IsArray()) {
        for (rapidjson::SizeType i = 0; i < tools->Size(); ++i) {
            const JValue* fn = member((*tools)[i], "function");
            if (str_of((*tools)[i], "type") == "function" && fn != nullptr &&
                !is_tool_name(str_of(*fn, "name"), 64)) {
                return bad_name(fmt::format("tools[{}].function.name", i));
            }
            const JValue* custom = member((*tools)[i], "custom");
            if (str_of((*tools)[i], "type") == "custom" && custom != nullptr &&
                !is_tool_name(str_of(*custom, "name"), 64)) {
                return bad_name(fmt::format("tools[{}].custom.name", i));
            }
        }
    }
    if (const JValue* messages = member(doc, "messages")) {
        return chat_messages(*messages);
    }
    return std::nullopt;
}

Verdict validate_responses(const JValue& doc) {
    if (member(doc, "n") != nullptr) {
        return std::string("Unknown parameter: 'n'.");
    }
    if (const JValue* tools = member(doc, "tools"); tools != nullptr && tools->IsArray()) {
        for (rapidjson::SizeType i = 0; i < tools->Size(); ++i) {
            if (str_of((*tools)[i], "type") == "function" &&
                !is_tool_name(str_of((*tools)[i], "name"), 64)) {
                return bad_name(fmt::format("tools[{}].name", i));
            }
        }
    }
    const JValue* input = member(doc, "input");
    if (input == nullptr || !input->IsArray()) {
        return std::nullopt;
    }
    // With previous_response_id the calls may live in the stored response.
    const bool stored = present(doc, "previous_response_id");
    std::vector<std::string> calls, custom_calls;
    for (rapidjson::SizeType i = 0; i < input->Size(); ++i) {
        const JValue& item = (*input)[i];
        std::string_view type = str_of(item, "type");
        const JValue* id = member(item, "id");
        auto bad_id = [&](std::string_view prefix) -> Verdict {
            if (id == nullptr || id->IsNull()) return std::nullopt;
            std::string_view text = as_str(id);
            if (id->IsString() && text.substr(0, prefix.size()) == prefix) return std::nullopt;
            return fmt::format("Invalid 'input[{}].id': '{}'. Expected an ID that begins with '{}'.",
                               i, id->IsString() ? std::string(text) : compact(*id), prefix);
        };
        if (type == "function_call") {
            if (Verdict v = bad_id("fc")) return v;
            calls.emplace_back(str_of(item, "call_id"));
        } else if (type == "custom_tool_call") {
            if (Verdict v = bad_id("ctc")) return v;
            custom_calls.emplace_back(str_of(item, "call_id"));
        } else if (type == "custom_tool_call_output" && !stored) {
            std::string_view call_id = str_of(item, "call_id");
            if (!contains(custom_calls, call_id)) {
                return fmt::format("No tool call found for custom tool call output with call_id {}.",
                                   call_id);
            }
        } else if (type == "reasoning") {
            if (Verdict v = bad_id("rs")) return v;
        } else if (type == "function_call_output" && !stored) {
            std::string_view call_id = str_of(item, "call_id");
            if (!contains(calls, call_id)) {
                return fmt::format("No tool call found for function call output with call_id {}.",
                                   call_id);
            }
        }
    }
    return std::nullopt;
}

}  // namespace mock

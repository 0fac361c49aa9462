// Anthropic Messages request checks (protocols.md §4.2, §4.3, §6.11).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "validate.h"

namespace mock {
namespace {

constexpr std::string_view kThinkingDocs =
    " Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking";

bool is_id(std::string_view id) { return is_tool_name(id, std::numeric_limits<std::size_t>::max()); }

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// A text block must hold something other than whitespace.
Verdict check_text_block(const JValue& block, const std::string& path) {
    if (str_of(block, "type") != "text") {
        return std::nullopt;
    }
    std::string_view text = str_of(block, "text");
    if (text.empty()) {
        return fmt::format("{}.text: text content blocks must be non-empty", path);
    }
    if (!has_non_space(text)) {
        return fmt::format("{}.text: text content blocks must contain non-whitespace text", path);
    }
    return std::nullopt;
}

Verdict check_text_blocks(const JValue* blocks, std::string_view path) {
    if (blocks == nullptr || !blocks->IsArray()) {
        return std::nullopt;
    }
    for (rapidjson::SizeType k = 0; k < blocks->Size(); ++k) {
        if (Verdict v = check_text_block((*blocks)[k], fmt::format("{}.{}", path, k))) return v;
    }
    return std::nullopt;
}

// thinking, and the sampling / tool_choice limits that come with it.
Verdict check_thinking(const JValue& doc, bool count) {
    const JValue* thinking = member(doc, "thinking");
    std::string_view type = thinking != nullptr ? str_of(*thinking, "type") : std::string_view();
    if (type == "enabled") {
        const JValue* budget = member(*thinking, "budget_tokens");
        if (budget == nullptr || !budget->IsInt64()) {
            return std::string("thinking.enabled.budget_tokens: Field required");
        }
        if (budget->GetInt64() < 1024) {
            return std::string(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024");
        }
        const JValue* max_tokens = member(doc, "max_tokens");
        if (!count && max_tokens != nullptr && max_tokens->IsInt64() &&
            budget->GetInt64() >= max_tokens->GetInt64()) {
            return fmt::format("`max_tokens` must be greater than `thinking.budget_tokens`.{}",
                               kThinkingDocs);
        }
    } else if (type != "adaptive") {
        return std::nullopt;
    }
    const JValue* temperature = member(doc, "temperature");
    if (temperature != nullptr && !temperature->IsNull() &&
        (!temperature->IsNumber() || temperature->GetDouble() != 1.0)) {
        return fmt::format(
            "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.{}",
            kThinkingDocs);
    }
    if (present(doc, "top_k")) {
        return fmt::format("`top_k` must be unset when thinking is enabled or in adaptive mode.{}",
                           kThinkingDocs);
    }
    const JValue* top_p = member(doc, "top_p");
    if (top_p != nullptr && top_p->IsNumber() && top_p->GetDouble() < 0.95) {
        return fmt::format(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.{}",
            kThinkingDocs);
    }
    if (const JValue* choice = member(doc, "tool_choice")) {
        std::string_view ct = str_of(*choice, "type");
        if (ct == "any" || ct == "tool") {
            return fmt::format("Thinking may not be enabled when tool_choice forces tool use.{}",
                               kThinkingDocs);
        }
    }
    return std::nullopt;
}

Verdict check_tools(const JValue& doc) {
    const JValue* tools = member(doc, "tools");
    if (tools == nullptr || !tools->IsArray()) {
        return std::nullopt;
    }
    for (rapidjson::SizeType i = 0; i < tools->Size(); ++i) {
        const JValue& t = (*tools)[i];
        const JValue* name = member(t, "name");
        if (name == nullptr || !name->IsString()) {
            return fmt::format("tools.{}.name: Field required", i);
        }
        if (!is_tool_name(as_str(name), 128)) {
            return fmt::format("tools.{}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'", i);
        }
        std::string_view type = str_of(t, "type");
        if (!type.empty() && type != "custom") {
            continue;  // a server tool: no input_schema
        }
        const JValue* schema = member(t, "input_schema");
        if (schema == nullptr || !schema->IsObject()) {
            return fmt::format("tools.{}.custom.input_schema: Field required", i);
        }
        if (str_of(*schema, "type") != "object") {
            return fmt::format("tools.{}.custom.input_schema.type: Input should be 'object'", i);
        }
    }
    return std::nullopt;
}

// One content block of message i; collects tool_use ids and tool_result ids.
Verdict check_block(const JValue& block, std::string_view role, const std::string& path,
                    bool& other_seen, std::vector<std::string>& uses,
                    std::vector<std::string>& results) {
    std::string_view type = str_of(block, "type");
    if (Verdict v = check_text_block(block, path)) return v;
    if (type == "tool_use") {
        if (role != "assistant") {
            return fmt::format("{}: `tool_use` blocks can only be in `assistant` messages", path);
        }
        std::string_view id = str_of(block, "id");
        if (!is_id(id)) {
            return fmt::format("{}.id: String should match pattern '^[a-zA-Z0-9_-]+$'", path);
        }
        uses.emplace_back(id);
    } else if (type == "tool_result") {
        if (role != "user") {
            return fmt::format("{}: `tool_result` blocks can only be in `user` messages", path);
        }
        if (other_seen) {
            return fmt::format(
                "{}: `tool_result` blocks must come first in a user message, before any other "
                "content",
                path);
        }
        std::string_view id = str_of(block, "tool_use_id");
        if (!is_id(id)) {
            return fmt::format("{}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'", path);
        }
        if (Verdict v = check_text_blocks(member(block, "content"), path + ".content")) return v;
        results.emplace_back(id);
    } else if (type == "thinking") {
        std::string_view sig = str_of(block, "signature");
        if (sig.substr(0, 8) != "sig_mock") {
            return fmt::format("{}: Invalid `signature` in `thinking` block", path);
        }
    }
    if (type != "tool_result") {
        other_seen = true;
    }
    return std::nullopt;
}

std::string missing_results(std::size_t i, std::string_view id) {
    return fmt::format(
        "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        i, id);
}

// With thinking enabled, the assistant turn whose tool calls the final user
// turn answers must start with its thinking block.
Verdict check_final_thinking(const JValue& messages) {
    rapidjson::SizeType n = messages.Size();
    if (n < 2) return std::nullopt;
    const JValue* last = member(messages[n - 1], "content");
    const JValue* prev = member(messages[n - 2], "content");
    if (last == nullptr || prev == nullptr || !last->IsArray() || !prev->IsArray() ||
        prev->Empty() || str_of(messages[n - 2], "role") != "assistant") {
        return std::nullopt;
    }
    auto has = [](const JValue& blocks, std::string_view type) {
        for (const JValue& b : blocks.GetArray()) {
            if (str_of(b, "type") == type) return true;
        }
        return false;
    };
    std::string_view first = str_of((*prev)[0], "type");
    if (has(*last, "tool_result") && has(*prev, "tool_use") && first != "thinking" &&
        first != "redacted_thinking") {
        return fmt::format(
            "messages.{}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            "`{}`. When `thinking` is enabled, a final `assistant` message must start with a "
            "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
            "To avoid this requirement, disable `thinking`.",
            n - 2, first);
    }
    return std::nullopt;
}

Verdict check_messages(const JValue& messages, bool system_role_ok) {
    if (!messages.IsArray()) {
        return std::string("messages: Input should be a valid list");
    }
    std::vector<std::string> pending;  // tool_use ids of the previous assistant message
    bool first_seen = false;
    for (rapidjson::SizeType i = 0; i < messages.Size(); ++i) {
        const JValue& m = messages[i];
        if (!m.IsObject()) {
            return fmt::format("messages.{}: Input should be a valid dictionary", i);
        }
        std::string_view role = str_of(m, "role");
        if (role != "user" && role != "assistant" && !(role == "system" && system_role_ok)) {
            return fmt::format("messages.{}.role: Input should be 'user' or 'assistant'", i);
        }
        if (!first_seen && role != "system") {
            first_seen = true;
            if (role != "user") {
                return std::string("messages: first message must use the \"user\" role");
            }
        }
        const JValue* content = member(m, "content");
        if (content == nullptr) {
            return fmt::format("messages.{}.content: Field required", i);
        }
        std::vector<std::string> uses;
        std::vector<std::string> results;
        if (content->IsArray()) {
            bool other_seen = false;
            for (rapidjson::SizeType j = 0; j < content->Size(); ++j) {
                if (Verdict v = check_block((*content)[j], role, fmt::format("messages.{}.content.{}", i, j),
                                            other_seen, uses, results)) {
                    return v;
                }
            }
        } else if (!content->IsString()) {
            return fmt::format("messages.{}.content: Input should be a valid string or list", i);
        }
        for (const std::string& id : pending) {
            if (role != "user" || !contains(results, id)) {
                return missing_results(i, id);
            }
        }
        for (const std::string& id : results) {
            if (!contains(pending, id)) {
                return fmt::format(
                    "messages.{}: unexpected `tool_use_id` found in `tool_result` blocks: {}. Each "
                    "`tool_result` block must have a corresponding `tool_use` block in the previous "
                    "message.",
                    i, id);
            }
        }
        pending = std::move(uses);
    }
    if (!pending.empty()) {
        return missing_results(messages.Size() - 1, pending.front());
    }
    return std::nullopt;
}

}  // namespace

Verdict validate_anthropic(const JValue& doc, bool count, bool system_role_ok) {
    if (Verdict v = check_thinking(doc, count)) return v;
    if (Verdict v = check_tools(doc)) return v;
    if (Verdict v = check_text_blocks(member(doc, "system"), "system")) return v;
    const JValue* messages = member(doc, "messages");
    if (messages == nullptr) {
        return std::nullopt;
    }
    if (Verdict v = check_messages(*messages, system_role_ok)) return v;
    const JValue* thinking = member(doc, "thinking");
    if (thinking != nullptr && str_of(*thinking, "type") == "enabled") {
        return check_final_thinking(*messages);
    }
    return std::nullopt;
}

}  // namespace mock

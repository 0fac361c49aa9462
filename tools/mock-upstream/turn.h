// What a generation request asks the mock to answer with: tool calls built
// from the offered tools, or an echo of the tool results it carries.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats.h"
#include "json_read.h"

namespace mock {

struct Turn {
    // Tool calls to answer with (ToolCall::pieces not yet set). Empty when
    // no tool is offered, tool choice is none, or the last message is a
    // tool result.
    std::vector<ToolCall> calls;
    // When the last message of the conversation is a tool result: its text
    // (several trailing results joined with "\n").
    std::optional<std::string> tool_result;
};

// `calls`: the number of parallel calls wanted (directive calls=N).
Turn read_turn(Api api, const JValue& doc, int calls);

// Arguments for a call to a tool with this JSON schema (nullptr: none):
// every required property (all properties when none is required) with a
// value of its type: string "Paris" (or the first enum value), number and
// integer 1, boolean true, object {}, array [].
std::string schema_args(const JValue* schema);

}  // namespace mock

// Custom (freeform) tools: a tool whose call carries one free-text input
// instead of JSON arguments (OpenAI Responses and Chat `custom` tools).
// Wires that have them (Chat, Responses) get them as they are; the others
// get a function with one string parameter `input`. In the IR a custom
// tool is an ir::Tool with `custom` set, and its calls' args_json is
// always {"input": "<the input>"}, whichever wire they came from.
#pragma once

#include <string>
#include <string_view>

#include "translate/ir.h"
#include "translate/json_util.h"

namespace agd::translate {

// A custom tool's format (`format`: {"type":"text"}, or a grammar in the
// Responses shape {type, syntax, definition} or the Chat one {type,
// grammar: {syntax, definition}}) into `t`, and the parameters it is
// declared with toward a function-only upstream: its input as a string,
// the grammar it follows in the parameter's description.
void read_custom_format(const JsonValue* format, ir::Tool& t);
std::string custom_parameters(const ir::Tool& t);
// The format of custom tool `t` as Chat (`chat`) or Responses declares it.
void write_custom_format(JsonWriter& w, const ir::Tool& t, bool chat);
// Whether `name` is one of the request's custom tools.
bool is_custom_tool(const ir::Request& r, std::string_view name);

// {"input": "<input>"}: a custom call's arguments in the IR.
std::string custom_args_json(std::string_view input);

// The input of a custom tool's call, from the arguments of the function it
// went upstream as ({"input": "..."}; other text is taken as it came).
std::string custom_input(std::string_view args_json);

// `text` JSON-escaped, without the quotes: an input piece made a fragment
// of the arguments' JSON text.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace agd::translate
